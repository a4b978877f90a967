"""Goals: periods, tiers, pacing projection and the quarterly / market / channel split."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from growthloop.core.config import DEFAULT_TOML, default_toml, parse_config
from growthloop.core.errors import ConfigError, InputError
from growthloop.decide.goals import (
    Period,
    _forecast,
    decompose,
    goal_status,
    parse_period,
    quarter_plan,
    tier_of,
)
from growthloop.warehouse import ibis_backend
from metrics_fixture import load_fixture


def _cfg(goals: str):
    return parse_config(DEFAULT_TOML + goals)


def test_periods():
    assert parse_period("2026") == Period(date(2026, 1, 1), date(2027, 1, 1), "year", "2026")
    q = parse_period("2025-Q4")
    assert (q.start, q.end, q.grain) == (date(2025, 10, 1), date(2026, 1, 1), "quarter")
    m = parse_period("2025-12")
    assert (m.start, m.end, m.grain) == (date(2025, 12, 1), date(2026, 1, 1), "month")
    with pytest.raises(InputError, match="expected a year"):
        parse_period("2025-Q5")


def test_tiers_up_and_down():
    cfg = _cfg('[[goals]]\nname="a"\nkpi="nps"\nperiod="2025"\nbase=50\ntarget=65\n'
               'challenge=75\n[[goals]]\nname="b"\nkpi="return_rate"\nperiod="2025"\n'
               'base=0.2\ntarget=0.15\nchallenge=0.1\n')
    up, down = cfg.goals
    assert [tier_of(v, up) for v in (49.9, 50, 70, 75, 90)] == [
        "below base", "base", "target", "challenge", "challenge"]
    assert down.good_direction == "down"
    assert [tier_of(v, down) for v in (0.25, 0.2, 0.12, 0.1, None)] == [
        "below base", "base", "target", "challenge", "no data"]


@pytest.mark.parametrize(("goals", "message"), [
    ('[[goals]]\nname="a"\nkpi="nps"\nperiod="2025"\nbase=70\ntarget=65\nchallenge=75\n',
     "goals[0]: tiers must satisfy base <= target <= challenge"),
    ('[[goals]]\nname="a"\nkpi="nps"\nperiod="2025"\ndirection="down"\nbase=5\ntarget=6\n'
     "challenge=7\n", "base >= target >= challenge (direction down)"),
    ('[[goals]]\nname="a"\nkpi="nps"\nperiod="25"\nbase=1\ntarget=2\nchallenge=3\n',
     "goals[0].period = '25': expected a value matching"),
    ('[[goals]]\nname="a"\nkpi="nps"\nperiod="2025"\nslice={market="XX"}\nbase=1\n'
     "target=2\nchallenge=3\n", "goals[0].slice.market = 'XX': expected one of ID"),
    ('[[goals]]\nname="a"\nkpi="nps"\nperiod="2025"\nbase=1\ntarget=2\nchallenge=3\n'
     '[[goals]]\nname="a"\nkpi="nps"\nperiod="2026"\nbase=1\ntarget=2\nchallenge=3\n',
     "goals[1].name = 'a' is a duplicate"),
    ('[decomposition]\ngoal="nope"\nmarket_shares={ID=1}\nchannel_shares={organic=1}\n',
     "decomposition.goal = 'nope': expected one of the goals"),
    ('[[goals]]\nname="a"\nkpi="new_users"\nperiod="2025"\nbase=1\ntarget=2\nchallenge=3\n'
     '[decomposition]\ngoal="a"\nmarket_shares={ID=0.5}\nchannel_shares={organic=1}\n',
     "market_shares must be non-negative and sum to 1 (they sum to 0.5)"),
])
def test_goal_config_errors(goals, message):
    with pytest.raises(ConfigError) as e:
        _cfg(goals)
    assert message in str(e.value)


def test_default_files_parse():
    assert len(parse_config(default_toml(2026)).goals) == 8
    cfg = parse_config(default_toml(2025, (900, 1000, 1100)))
    assert cfg.decomposition is not None and cfg.goals[-1].target == 1000


def test_quarter_plan_grows_eight_percent():
    q = quarter_plan(4506.112, 0.08)  # 1 + 1.08 + 1.08^2 + 1.08^3 = 4.506112
    assert q == pytest.approx([1000, 1080, 1166.4, 1259.712])
    assert sum(q) == pytest.approx(4506.112)


def test_seasonal_forecast_by_hand():
    # 8 weeks of a pure weekly pattern: weekdays 10, weekend 20; level constant
    start = date(2025, 1, 6)  # a Monday
    days = [start + timedelta(days=i) for i in range(56)]
    x = pd.Series([20.0 if d.weekday() >= 5 else 10.0 for d in days], index=days)
    rest = [days[-1] + timedelta(days=i) for i in range(1, 15)]  # two more weeks
    f = _forecast(x, rest)
    assert f.total == pytest.approx(2 * (5 * 10 + 2 * 20))
    assert f.sd == pytest.approx(0.0)  # identical weekly totals: no noise
    noisy = x.copy()
    noisy.iloc[:7] *= 1.5  # one week 50 % higher: weekly totals 135, then 90 x 7
    g = _forecast(noisy, rest)
    sd_week = np.std([135] + [90] * 7, ddof=1)
    assert g.sd == pytest.approx(np.sqrt(2) * sd_week + 2 * sd_week / np.sqrt(8))


def test_goal_status_on_fixture(tmp_path, con, cfg, pseudo):
    load_fixture(tmp_path, con, cfg, pseudo)
    b = ibis_backend(con)
    goals = _cfg(
        '[[goals]]\nname="rev"\nkpi="revenue"\nperiod="2025-Q1"\nbase=100\ntarget=120\n'
        'challenge=150\n'
        '[[goals]]\nname="atc_us"\nkpi="add_to_cart_rate"\nperiod="2025-01"\n'
        'slice={market="US"}\nbase=0.5\ntarget=0.6\nchallenge=0.7\n'
        '[[goals]]\nname="ret"\nkpi="return_rate"\nperiod="2025-Q1"\nbase=0.5\ntarget=0.3\n'
        'challenge=0.2\n'
        '[[goals]]\nname="nu"\nkpi="new_users"\nperiod="2025"\nbase=4\ntarget=8\n'
        'challenge=12\n[decomposition]\ngoal="nu"\nquarterly_growth=0.0\n'
        'market_shares={US=0.5, DE=0.5}\nchannel_shares={social_ads=0.5, organic=0.5}\n')
    rev = goal_status(b, goals, goals.goals[0], as_of=date(2025, 3, 1))
    assert rev.actual == pytest.approx(50 + 30 + 40 * 1.2)  # Jan and Feb revenue
    assert (rev.tier, rev.next_tier) == ("target", "challenge")
    assert rev.gap == pytest.approx(150 - 128)
    assert rev.elapsed == pytest.approx(59 / 90)
    atc = goal_status(b, goals, goals.goals[1], as_of=date(2025, 3, 1))
    assert atc.actual == pytest.approx(2 / 3) and atc.tier == "target"  # US: s1 s3 of s1-s3
    assert atc.projection == atc.actual and atc.slice == "market=US"  # the month is over
    ret = goal_status(b, goals, goals.goals[2], as_of=date(2025, 3, 1))
    assert ret.actual == pytest.approx(1 / 4) and ret.tier == "target"  # 1 return of 4
    assert ret.gap == pytest.approx(0.25 - 0.2)
    dec = decompose(b, goals, as_of=date(2025, 3, 1))
    assert len(dec) == 4 * 2 * 2 and dec.plan.sum() == pytest.approx(8)
    q1 = dec[dec.quarter == "2025-Q1"].set_index(["market", "channel"])
    assert q1.loc[("US", "social_ads"), "plan"] == pytest.approx(8 / 4 * 0.25)
    assert q1.actual.to_dict() == {("US", "social_ads"): 1, ("US", "organic"): 1,
                                   ("DE", "social_ads"): 1, ("DE", "organic"): 0}
