"""Goal forecasts: ETS and the seasonal naive on hand-made series, festival cleaning, the
growth each quarter needs, tier chances, budget scenarios and ``growthloop forecast``."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from growthloop.cli import main
from growthloop.core.config import DEFAULT_TOML, Goal, default_config, parse_config
from growthloop.core.errors import InputError
from growthloop.decide.forecast import (
    goal_forecast,
    growth_needed,
    growth_needs,
    parse_scenario,
)
from growthloop.ingest import ingest_file
from growthloop.ingest.privacy import Pseudonymiser
from growthloop.models.forecast import (
    clean_festivals,
    ets,
    festival_lifts,
    festival_mask,
    fit,
    joint_shocks,
    seasonal_naive,
)
from growthloop.report.forecast import forecast_figure, print_forecast
from growthloop.simulate import TABLE_FILES
from growthloop.warehouse import connect, ibis_backend, transaction

KEY = "test-key-0123456789abcdef"
PATTERN = np.array([0.93, 0.94, 0.96, 0.98, 1.03, 1.10, 1.06])  # Monday .. Sunday
AS_OF = date(2025, 7, 1)


def _weekly(start: date, days: int, level: float = 100.0, noise: float = 0.0,
            seed: int = 0) -> pd.Series:
    idx = [start + timedelta(days=i) for i in range(days)]
    rng = np.random.default_rng(seed)
    x = np.array([level * PATTERN[d.weekday()] for d in idx])
    return pd.Series(x + rng.normal(0, noise, days), index=idx)


# --------------------------------------------------------------------------- models


def test_ets_recovers_a_weekly_pattern_and_its_sum():
    # 16 weeks of a constant level times a weekday pattern plus small noise (no festival)
    y = _weekly(date(2025, 1, 6), 112, noise=2.0, seed=1)
    f = ets(y).forecast(28, paths=2000, seed=3)
    truth = 4 * 100 * PATTERN.sum()  # four weeks ahead
    assert f.days[0] == date(2025, 4, 28) and len(f.days) == 28
    assert f.total == pytest.approx(truth, rel=0.005)
    low, high = f.total_interval()
    assert low < truth < high and high - low < 0.03 * truth
    expected = np.array([100 * PATTERN[d.weekday()] for d in f.days])
    assert np.abs(f.mean - expected).max() < 3.0  # each day within 1.5 noise sd
    assert ((f.low < expected) & (expected < f.high)).mean() >= 0.9
    assert f.method.startswith("ets(")


def test_seasonal_naive_by_hand():
    y = _weekly(date(2025, 1, 6), 28)  # a pure pattern: no residual
    m = seasonal_naive(y, calibrated=False)
    f = m.forecast(10, paths=50)
    assert m.sigma == 0 and f.mean == pytest.approx(
        [100 * PATTERN[d.weekday()] for d in f.days])
    assert np.ptp(f.paths, axis=0).max() == pytest.approx(0)
    # residuals y_t - y_{t-7} of +-5: sigma 5, the h-step sd sigma sqrt(k + 1)
    x = y.copy()
    x.iloc[7::2] += 5.0
    x.iloc[8::2] -= 5.0
    m = seasonal_naive(x, calibrated=False)
    e = x.to_numpy()[7:] - x.to_numpy()[:-7]
    assert m.sigma == pytest.approx(np.sqrt(np.mean(e**2)))
    f = m.forecast(14, paths=20_000, seed=1)
    sd = f.paths.std(axis=0)
    assert sd[0] == pytest.approx(m.sigma, rel=0.03)
    assert sd[7] == pytest.approx(m.sigma * np.sqrt(2), rel=0.03)


def test_short_history_and_bad_input():
    y = _weekly(date(2025, 1, 6), 20)
    assert fit(y).method == "seasonal_naive"  # under four weeks: no ETS
    with pytest.raises(InputError, match="at least 14"):
        fit(y.iloc[:10])
    with pytest.raises(InputError, match="forecast method 'prophet'"):
        fit(y, "prophet")
    with pytest.raises(InputError, match="horizon"):
        fit(y).forecast(0)


def test_festival_days_are_cleaned_and_lifted():
    days = [date(2024, 9, 1) + timedelta(days=i) for i in range(426)]  # to 2025-10-31
    mask = festival_mask(days)
    assert mask[days.index(date(2024, 11, 11))] and not mask[days.index(date(2025, 6, 1))]
    assert mask[days.index(date(2024, 12, 1))]  # the Christmas run-up: 24 days before
    y = pd.Series(10.0, index=days)
    y[date(2024, 11, 11)] = 30.0  # a Singles' Day spike three times an ordinary day
    clean = clean_festivals(y)
    assert clean[date(2024, 11, 11)] == pytest.approx(10.0) and clean.sum() == 4260.0
    ahead = [date(2025, 11, 10), date(2025, 11, 11), date(2025, 6, 1)]
    assert festival_lifts(y, ahead).tolist() == pytest.approx([1.0, 3.0, 1.0])
    # the fit sees an ordinary day; the forecast lifts the festival ahead
    f = fit(y, calibrated=False).forecast(15, paths=100)
    i = f.days.index(date(2025, 11, 11))
    assert f.mean[i] == pytest.approx(30.0, rel=0.01)
    assert f.mean[i - 1] == pytest.approx(10.0, rel=0.01)


def test_joint_shocks_keep_the_residual_correlation():
    y = _weekly(date(2025, 1, 6), 84, noise=3.0, seed=2)
    a, b = seasonal_naive(y), seasonal_naive(0.5 * y)  # perfectly correlated residuals
    za, zb = joint_shocks([a, b], 5, paths=4000, seed=0)
    assert za.shape == (6, 4000)
    assert np.corrcoef(za.ravel(), zb.ravel())[0, 1] == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- needs


def test_growth_needed_by_hand():
    # q1 actual 100, the year's target 464.1 = 100 (1 + 1.1 + 1.21 + 1.331): 10 % a quarter
    status, g = growth_needed(100.0, 3, 464.1 - 100.0)
    assert status == "growth" and g == pytest.approx(0.10, abs=1e-9)
    # with q1 and q2 done (100, 110), the last two quarters need 10 % again
    assert growth_needed(110.0, 2, 464.1 - 210.0)[1] == pytest.approx(0.10, abs=1e-9)
    assert growth_needed(100.0, 3, 250.0)[1] < 0  # flat would overshoot: room to shrink
    assert growth_needed(100.0, 3, -5.0) == ("reached", None)
    assert growth_needed(100.0, 0, 5.0) == ("not reachable", None)
    assert growth_needed(0.0, 2, 5.0) == ("not reachable", None)


def test_scenarios_parse():
    assert parse_scenario("budget+10%") == pytest.approx(0.10)
    assert parse_scenario("budget-20%") == pytest.approx(-0.20)
    for bad in ("budget10", "budget+10", "spend+10%", "budget-100%"):
        with pytest.raises(InputError, match=re.escape(f"scenario {bad!r}")):
            parse_scenario(bad)


# --------------------------------------------------------------------------- warehouse

GOALS = """
[[goals]]
name = "nu"
kpi = "new_users"
period = "2025"
base = 4000
target = 4500
challenge = 5000

[[goals]]
name = "nu_id_q3"
kpi = "new_users"
period = "2025-Q3"
slice = { market = "ID" }
base = 100
target = 150
challenge = 200

[[goals]]
name = "returns"
kpi = "return_rate"
period = "2025-Q3"
base = 0.3
target = 0.2
challenge = 0.1

[[goals]]
name = "users"
kpi = "active_users"
period = "2025"
base = 1
target = 2
challenge = 3

[[goals]]
name = "nu_q1"
kpi = "new_users"
period = "2025-Q1"
base = 1000
target = 1100
challenge = 1200

[[goals]]
name = "nu_q4"
kpi = "new_users"
period = "2025-Q4"
base = 1000
target = 1100
challenge = 1200

[decomposition]
goal = "nu"
quarterly_growth = 0.08
[decomposition.market_shares]
ID = 0.22
TH = 0.13
SG = 0.05
DE = 0.13
FR = 0.1
BR = 0.15
MX = 0.1
US = 0.12

[decomposition.channel_shares]
live_commerce = 0.2
social_ads = 0.25
search_ads = 0.12
short_video = 0.13
referral = 0.1
email_crm = 0.05
organic = 0.15
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A small simulated shop (3,000 users over 240 days from 2025-01-01), every table."""
    from growthloop.simulate import simulate

    d = tmp_path_factory.mktemp("forecast")
    simulate(d / "shop", n_users=3000, days=240, seed=5)
    path = d / "warehouse.duckdb"
    con = connect(path)
    for name in TABLE_FILES:
        ingest_file(con, default_config(), name, d / "shop" / f"{name}.parquet",
                    Pseudonymiser(KEY.encode()))
    con.execute("CHECKPOINT")
    cfg = parse_config(DEFAULT_TOML + GOALS)
    yield ibis_backend(con), cfg, path
    con.close()


def _goal(cfg, name: str, **tiers) -> Goal:
    g = next(g for g in cfg.goals if g.name == name)
    return g.model_copy(update=tiers)


def test_goal_forecast_and_tier_chances(shop):
    b, cfg, _ = shop
    fc = goal_forecast(b, cfg, "nu", as_of=AS_OF)
    assert fc.days_left == 184 and fc.method.startswith("ets(")
    assert fc.actual > 0 and fc.low < fc.projection < fc.high
    assert fc.projection > fc.actual
    assert fc.trajectory["mean"].iloc[-1] == pytest.approx(fc.projection)
    assert fc.trajectory.actual.dropna().iloc[-1] == pytest.approx(fc.actual)
    p = fc.probabilities
    assert p["base"] >= p["target"] >= p["challenge"]
    # tiers placed around the projection: the chances follow (the same seeded paths)
    proj = fc.projection
    near = goal_forecast(b, cfg, _goal(cfg, "nu", base=0.9 * proj, target=0.99 * proj,
                                       challenge=1.2 * proj), as_of=AS_OF)
    assert near.projection == pytest.approx(proj)
    assert near.probabilities["base"] > 0.95 and 0.5 < near.probabilities["target"] < 0.9
    assert near.probabilities["challenge"] < 0.05
    assert near.projected_tier == "target"


def test_down_goal_chances(shop):
    b, cfg, _ = shop
    fc = goal_forecast(b, cfg, "returns", as_of=date(2025, 8, 1))
    assert fc.direction == "down" and fc.days_left == 61
    proj = fc.projection
    assert 0 < fc.low < proj < fc.high < 1
    g = _goal(cfg, "returns", base=1.5 * proj, target=1.05 * proj, challenge=0.5 * proj)
    p = goal_forecast(b, cfg, g, as_of=date(2025, 8, 1)).probabilities
    # a 'down' goal is reached at or below its bar: the high bar is nearly sure
    assert p["base"] > 0.95 and p["target"] > 0.5 and p["challenge"] < 0.05


def test_sliced_goal_and_growth_needs(shop):
    b, cfg, _ = shop
    fc = goal_forecast(b, cfg, "nu_id_q3", as_of=date(2025, 8, 1))
    assert fc.slice == "market=ID" and fc.days_left == 61 and fc.needs is None
    needs = goal_forecast(b, cfg, "nu", as_of=AS_OF).needs
    assert needs is not None and list(needs.dim.unique()) == ["all", "market", "channel"]
    assert len(needs) == 1 + 8 + 7
    total = needs[needs.dim == "all"].iloc[0]
    markets = needs[needs.dim == "market"]
    # top-down: the markets' quarters add up to the total's (actual and projected)
    for q in ("2025-Q1", "2025-Q2", "2025-Q3"):
        assert markets[q].sum() == pytest.approx(total[q], rel=1e-9)
    assert total.current_quarter == "2025-Q3" and total.quarters_left == 1
    assert np.isnan(total["2025-Q4"])
    # the growth solves Q3 (1 + g) = target - Q1 - Q2 - Q3 for each cell
    assert needs.status.isin(["on plan", "above plan"]).any()
    for r in needs.to_dict(orient="records"):
        if r["status"] in ("on plan", "above plan"):
            gap = r["target"] - r["2025-Q1"] - r["2025-Q2"] - r["2025-Q3"]
            assert r["2025-Q3"] * (1 + r["growth_needed"]) == pytest.approx(gap, rel=1e-9)
    assert total.target == 4500 and total.current_plan == pytest.approx(
        4500 * 1.08**2 / (1 + 1.08 + 1.08**2 + 1.08**3))
    with pytest.raises(InputError, match="annual goal of a value KPI"):
        growth_needs(b, cfg, "returns", AS_OF)


def test_bad_goals(shop):
    b, cfg, _ = shop
    with pytest.raises(InputError, match=r"goal 'nope' is not in the project file; "
                                         r"expected one of: nu, nu_id_q3, returns, users, "
                                         r"nu_q1, nu_q4"):
        goal_forecast(b, cfg, "nope")
    with pytest.raises(InputError, match=r"'active_users' .* is not additive over days"):
        goal_forecast(b, cfg, "users")
    with pytest.raises(InputError, match="scenario 'budget10': expected budget"):
        goal_forecast(b, cfg, "nu", AS_OF, scenario="budget10")
    with pytest.raises(InputError, match="after the end of the data"):
        goal_forecast(b, cfg, "nu", as_of=date(2026, 1, 1))


def _store_fit(con, target: str) -> None:
    """A hand-made stored fit: every market x two channels, a Hill curve of shape 1 at
    half saturation (current spend = half_spend) and no carry-over."""
    from growthloop.warehouse.media_store import write_mmm

    pairs = [(m.code, c) for m in default_config().markets for c in ("search_ads",
                                                                     "social_ads")]
    point = pd.DataFrame([{"market": m, "channel": c, "ceiling": 20.0, "half_spend": 100.0,
                           "shape": 1.0, "alpha": 0.0, "carry": 100.0, "current": 100.0}
                          for m, c in pairs])
    draws = pd.DataFrame([{"draw": d, "market": m, "channel": c, "ceiling": 18.0 + 2 * d,
                           "half_spend": 100.0, "shape": 1.0, "alpha": 0.0, "carry": 100.0}
                          for d in range(3) for m, c in pairs])
    channels = pd.DataFrame([{"market": m, "channel": c, "spend": 100.0, "contribution": 10.0,
                              "per_spend": 0.1} for m, c in pairs])
    contrib = pd.DataFrame([{"market": m, "channel": c, "period": dt.date(2025, 6, 23),
                             "spend": 100.0, "contribution": 10.0} for m, c in pairs])
    meta = {"target": target, "money": False, "method": "map", "grain_days": 7,
            "first_period": dt.date(2025, 1, 6), "last_period": dt.date(2025, 6, 23),
            "level": 0.9, "currency": "USD", "diagnostics": {}}
    with transaction(con):
        write_mmm(con, version=f"hand-{target}", meta=meta, channels=channels, point=point,
                  draws=draws, contributions=contrib)


def test_budget_scenario(shop, tmp_path):
    b, cfg, path = shop
    with pytest.raises(InputError, match="run `growthloop mmm fit --by market` first"):
        goal_forecast(b, cfg, "nu_id_q3", as_of=AS_OF, scenario="budget+10%")
    shutil.copy(path, tmp_path / "w.duckdb")
    con = connect(tmp_path / "w.duckdb")
    try:
        _store_fit(con, "new_users")
        b2 = ibis_backend(con)
        fc = goal_forecast(b2, cfg, "nu_id_q3", as_of=AS_OF, scenario="budget+10%")
        sc = fc.scenario
        # 92 days = 14 weeks prorated; ID's two pairs at half saturation: 20 x (1.1/2.1 - 1/2)
        per_week = 2 * 20.0 * (1.1 / 2.1 - 0.5)
        assert sc.applies and sc.periods == 14 and sc.spend_now == 200.0
        assert sc.delta == pytest.approx(per_week * 92 / 7)
        assert sc.delta_low < sc.delta < sc.delta_high
        assert sc.projection == pytest.approx(fc.projection + sc.delta)
        assert sc.probabilities["base"] >= fc.probabilities["base"]
        down = goal_forecast(b2, cfg, "nu_id_q3", as_of=AS_OF, scenario="budget-20%").scenario
        assert down.delta == pytest.approx(2 * 20.0 * (0.8 / 1.8 - 0.5) * 92 / 7)
        _store_fit(con, "new_customers")  # now the latest: another outcome
        other = goal_forecast(b2, cfg, "nu_id_q3", as_of=AS_OF, scenario="budget+10%")
        assert not other.scenario.applies and other.scenario.delta is None
        assert "outcome is 'new_customers'" in other.scenario.note
    finally:
        con.close()


def test_report_and_chart(shop):
    from rich.console import Console

    b, cfg, _ = shop
    fc = goal_forecast(b, cfg, "nu", as_of=AS_OF)
    console = Console(width=120, record=True)
    print_forecast(console, fc)
    text = console.export_text()
    assert "Forecast of new_users for 2025 as of 2025-07-01" in text
    assert "market ID" in text and "channel organic" in text
    fig = forecast_figure(fc)
    assert [t.name for t in fig.data] == ["80% interval", "forecast", "actual"]
    assert len(fig.layout.shapes) == 3  # the tier lines


def _main(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    got = capsys.readouterr()
    return int(e.value.code or 0), got.out, got.err


def test_cli_json_equals_the_library(shop, tmp_path, monkeypatch, capsys):
    b, cfg, path = shop
    (tmp_path / "growthloop.toml").write_text(DEFAULT_TOML + GOALS)
    (tmp_path / ".growthloop").mkdir()
    shutil.copy(path, tmp_path / ".growthloop" / "warehouse.duckdb")
    monkeypatch.chdir(tmp_path)
    code, out, err = _main(capsys, "forecast", "--goal", "nu", "--as-of", "2025-07-01",
                           "--json", "--chart", str(tmp_path / "f.html"))
    assert code == 0, err
    doc = json.loads(out)
    lib = goal_forecast(b, cfg, "nu", as_of=AS_OF).as_dict()
    assert doc == json.loads(json.dumps(lib, default=str))
    assert doc["probabilities"] == lib["probabilities"] and len(doc["needs"]) == 16
    assert (tmp_path / "f.html").stat().st_size > 0
    code, out, err = _main(capsys, "forecast", "--goal", "nu", "--as-of", "2025-07-01")
    assert code == 0 and "P(target)" in out
    code, out, err = _main(capsys, "forecast", "--goal", "nu", "--scenario", "budget+10")
    assert code == 1 and "scenario 'budget+10': expected budget+N% or budget-N%" in err
    code, out, err = _main(capsys, "forecast", "--goal", "nu", "--scenario", "budget+10%")
    assert code == 1 and "growthloop mmm fit --by market" in err


def test_a_period_already_over_is_its_actual(shop):
    b, cfg, _ = shop
    fc = goal_forecast(b, cfg, "nu_q1", as_of=AS_OF)
    assert fc.days_left == 0 and fc.method == "none (the period is over)"
    assert fc.projection == fc.low == fc.high == fc.actual > 0
    assert fc.probabilities == {t: float(fc.actual >= getattr(fc, t))
                                for t in ("base", "target", "challenge")}


def test_a_period_ahead_is_forecast_from_the_history_before_as_of(shop):
    """A quarter that starts after ``as_of``: the days between are forecast, not read as
    zeros, and left out of the quarter; no data after ``as_of`` is used."""
    b, cfg, _ = shop
    day = date(2025, 8, 1)
    q4 = goal_forecast(b, cfg, "nu_q4", as_of=day, needs=False)
    year = goal_forecast(b, cfg, "nu", as_of=day, needs=False).trajectory.set_index("day")
    assert q4.days_left == 92 and q4.actual is None and q4.method.startswith("ets(")
    # the same model on the same history: Q4 is the year's forecast from October 1 on
    assert q4.projection == pytest.approx(
        year["mean"][date(2025, 12, 31)] - year["mean"][date(2025, 9, 30)], rel=1e-9)
    assert q4.trajectory.day.iloc[0] == date(2025, 10, 1)
    assert q4.low < q4.projection < q4.high
