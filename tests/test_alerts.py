"""Forecast bands, root causes and the alerts: hand-made series and a two-market move."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from growthloop.models.anomaly import Z_DAY, bands, festival_keys
from growthloop.models.rootcause import decompose_change, mix_rate, rank_slices

START = dt.date(2024, 1, 1)
WEEKDAY = np.array([0.93, 0.94, 0.96, 0.98, 1.03, 1.10, 1.06])


def _days(n: int) -> list[dt.date]:
    return [START + dt.timedelta(days=i) for i in range(n)]


def _counts(seed: int, n: int = 730, level: float = 400.0, peak: float = 2.8) -> tuple:
    """Poisson counts with a weekday pattern and Singles' Day (11.11) every year."""
    rng = np.random.default_rng(seed)
    days = _days(n)
    mu = np.array([level * WEEKDAY[d.weekday()] for d in days])
    shape = {8: 0.15, 9: 0.3, 10: 0.55, 11: 1.0, 12: 0.35}
    for i, d in enumerate(days):
        if d.month == 11 and d.day in shape:
            mu[i] *= 1 + (peak - 1) * shape[d.day]
    return days, mu, rng.poisson(mu).astype(float)


def test_step_change_is_detected_on_its_day():
    days, mu, y = _counts(1)
    step = days.index(dt.date(2025, 6, 2))
    y[step:] = np.random.default_rng(2).poisson(0.75 * mu[step:])  # -25 % from a Monday
    b = bands(y, None, days, "day")
    first = np.flatnonzero(b.alert)
    assert first.size and days[first[0]] == dt.date(2025, 6, 2)
    assert b.z[step] < -Z_DAY
    assert not b.alert[:step].any()  # nothing before the step


def test_singles_day_peak_is_not_alerted_but_a_missing_one_is():
    days, mu, y = _counts(3)
    b = bands(y, None, days, "day")
    peak = days.index(dt.date(2025, 11, 11))
    assert y[peak] > 2.5 * np.median(y)  # the peak is there
    assert b.festival[peak] and not b.alert.any()
    # last year's 11.11 sets this year's expectation: about 2.8 x an ordinary Tuesday
    assert b.expected[peak] / mu[peak] == pytest.approx(1.0, abs=0.12)
    # the same series whose 2025 festival lift vanished: alerted on the festival days
    flat = y.copy()
    fest = np.array([days.index(dt.date(2025, 11, d)) for d in (9, 10, 11, 12)])
    flat[fest] = np.random.default_rng(4).poisson(mu[fest - 7])  # an ordinary week's days
    nb = bands(flat, None, days, "day")
    assert nb.alert[days.index(dt.date(2025, 11, 11))]
    assert nb.z[days.index(dt.date(2025, 11, 11))] < -Z_DAY


def test_first_festival_without_history_has_no_upper_bound():
    days, _, y = _counts(5, n=400)
    b = bands(y, None, days, "day")
    peak = days.index(dt.date(2024, 11, 11))
    assert b.festival[peak] and np.isnan(b.high[peak]) and not b.alert[peak]


def test_clean_history_false_alarms_are_rare():
    weeks = alarms = 0
    for seed in range(10):
        days, _, y = _counts(100 + seed, level=[20, 200, 2000][seed % 3])
        b = bands(y, None, days, "day")
        judged = np.isfinite(b.low)
        week = np.array([(d - START).days // 7 for d in days])
        for w in np.unique(week[judged]):
            weeks += 1
            alarms += bool(b.alert[week == w].any())
    assert weeks > 900 and alarms / weeks < 0.01


def test_ratio_band_widens_on_thin_days():
    rng = np.random.default_rng(7)
    days = _days(200)
    den = np.where(np.arange(200) % 2 == 0, 200, 5000).astype(float)
    num = rng.binomial(den.astype(int), 0.1)
    b = bands(num / den, den, days, "day")
    width = b.high - b.low
    t = 150
    assert width[t] / width[t + 1] == pytest.approx(np.sqrt(5000 / 200), rel=0.05)


def test_festival_keys_match_across_years():
    keys = festival_keys([dt.date(2024, 11, 11), dt.date(2025, 11, 11),
                          dt.date(2025, 6, 1)], "day")
    assert keys[0] == keys[1] == (("11.11", 0),) and keys[2] is None
    weekly = festival_keys([dt.date(2025, 11, 10)], "week")  # the Monday of 11.11
    assert ("11.11", 0) in weekly[0]


def test_two_market_move_decomposes_exactly():
    # conversion: BR 100 / 1000 sessions -> 40 / 1000 (its rate falls); DE 50 / 1000 ->
    # 60 / 1500 (more traffic, 5 % -> 4 %). Overall 150 / 2000 = 7.5 % -> 100 / 2500 = 4 %.
    before = pd.DataFrame({"market": ["BR", "DE"], "numerator": [100, 50],
                           "denominator": [1000, 1000]})
    after = pd.DataFrame({"market": ["BR", "DE"], "numerator": [40, 60],
                          "denominator": [1000, 1500]})
    d = decompose_change(before, after, ["market"], ratio=True).set_index("market")
    # weights 0.5/0.5 -> 0.4/0.6; rates BR 0.10 -> 0.04, DE 0.05 -> 0.04; R0 = 0.075
    assert d.loc["BR", "rate"] == pytest.approx(0.4 * (0.04 - 0.10))
    assert d.loc["DE", "rate"] == pytest.approx(0.6 * (0.04 - 0.05))
    assert d.loc["BR", "mix"] == pytest.approx((0.4 - 0.5) * (0.10 - 0.075))
    assert d.loc["DE", "mix"] == pytest.approx((0.6 - 0.5) * (0.05 - 0.075))
    assert d.contribution.sum() == pytest.approx(0.04 - 0.075, abs=1e-15)
    m = mix_rate(before, after, "market")
    assert (m.mix + m.rate).sum() == pytest.approx(0.04 - 0.075, abs=1e-15)
    ranked = rank_slices([d.reset_index()], 0.04 - 0.075)
    assert ranked[0]["slice"] == {"market": "BR"}
    # BR put back as it was: (100 - 40 + 100) / 2500 = 6.4 %, so BR explains
    # (4 % - 6.4 %) / (4 % - 7.5 %) of the move
    assert ranked[0]["share"] == pytest.approx(-0.024 / -0.035)
    assert ranked[0]["contribution"] == pytest.approx(-0.024 - 0.0025)


def test_value_move_and_specific_slice_first():
    before = pd.DataFrame({"market": ["BR", "BR", "DE"], "device": ["mobile", "desktop", "mobile"],
                           "numerator": [100.0, 100.0, 100.0]})
    after = before.assign(numerator=[40.0, 95.0, 102.0])
    pair = decompose_change(before, after, ["market", "device"], ratio=False)
    market = decompose_change(before.groupby("market", as_index=False).numerator.sum(),
                              after.groupby("market", as_index=False).numerator.sum(),
                              ["market"], ratio=False)
    assert pair.contribution.sum() == market.contribution.sum() == pytest.approx(-63.0)
    ranked = rank_slices([pair, market], -63.0)
    assert ranked[0]["slice"] == {"market": "BR", "device": "mobile"}  # 60 of BR's 65
    assert ranked[1]["slice"] == {"market": "BR"}
    assert ranked[1]["share"] == pytest.approx(65 / 63)


@pytest.fixture(scope="module")
def shocked_shop(tmp_path_factory):
    """A shop of 60,000 users over 240 days whose ID social-ads sign-ups per unit of
    spend fall to 15 % on 2025-07-14 (its cost per sign-up rises 6.7 x), in a project."""
    from conftest import DEFAULT_TOML
    from growthloop.core.config import default_config
    from growthloop.ingest import ingest_file
    from growthloop.ingest.privacy import Pseudonymiser
    from growthloop.simulate import Shock, simulate
    from growthloop.simulate.world import TABLE_FILES
    from growthloop.warehouse import connect

    d = tmp_path_factory.mktemp("shocked")
    simulate(d / "shop", n_users=60_000, days=240, seed=5,
             shocks=[Shock("social_ads", "ID", dt.date(2025, 7, 14), 0.15)])
    (d / "growthloop.toml").write_text(DEFAULT_TOML)
    (d / ".growthloop").mkdir()
    con = connect(d / ".growthloop" / "warehouse.duckdb")
    from conftest import KEY

    for name in TABLE_FILES:
        ingest_file(con, default_config(), name, d / "shop" / f"{name}.parquet",
                    Pseudonymiser(KEY.encode()))
    con.close()
    return d


def test_planted_cost_rise_is_alerted_with_its_market_and_channel(shocked_shop):
    import json

    from test_cli import run

    r = run("alerts", "--since", "2025-07-07", "--kpi", "cost_per_signup", "--worse",
            "--json", cwd=shocked_shop)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    de = [a for a in doc["alerts"] if a["market"] == "ID"]
    assert de, doc["alerts"]
    first = min(de, key=lambda a: a["period"])
    assert "2025-07-14" <= first["period"] <= "2025-07-21"
    assert first["direction"] == "above" and first["worse"]
    assert first["drivers"][0]["slice"] == {"market": "ID", "channel": "social_ads"}
    assert first["drivers"][0]["share"] > 0.5
    # nothing in the week before the shock
    assert not [a for a in doc["alerts"] if a["period"] < "2025-07-14"]
    # the alerts table holds what was printed
    import duckdb

    with duckdb.connect(str(shocked_shop / ".growthloop" / "warehouse.duckdb"),
                        read_only=True) as con:
        n = con.execute("SELECT count(*) FROM alerts").fetchone()[0]
        stored = con.execute("SELECT drivers FROM alerts WHERE market = 'ID' ORDER BY period "
                             "LIMIT 1").fetchone()[0]
    all_alerts = json.loads(run("alerts", "--since", "2025-07-07", "--kpi", "cost_per_signup",
                                "--json", "--no-store", cwd=shocked_shop).stdout)["alerts"]
    assert n == len(all_alerts)
    assert json.loads(stored)[0]["slice"] == {"market": "ID", "channel": "social_ads"}


def test_slope_hc1_by_hand():
    from growthloop.decide.risks import slope_hc1

    # y = 2x + residuals (+1, -1, -1, +1): slope 2 exactly
    b, lo, hi = slope_hc1(np.array([0.0, 1, 2, 3]), np.array([1.0, 1, 3, 7]))
    assert b == pytest.approx(2.0)
    # HC1: n/(n-2) * sum(xc^2 e^2) / (sum xc^2)^2 = 2 * (2.25+0.25+0.25+2.25) / 25 = 0.4
    assert hi - b == pytest.approx(1.6448536 * np.sqrt(0.4))
    assert b - lo == pytest.approx(hi - b)


def test_risk_monitors_flag_the_planted_cost_rise(shocked_shop):
    import json

    from test_cli import run

    # the four weeks after the shock against the four before it
    r = run("risks", "--all", "--json", "--as-of", "2025-08-11", cwd=shocked_shop)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    by = {(f["kpi"], f["market"], f["channel"]): f for f in doc["findings"]}
    hit = by[("cost_per_signup", "ID", "social_ads")]
    assert hit["status"] == "alert" and hit["low"] > 0.03
    alerted = [f for k, f in by.items() if k[0] == "cost_per_signup"
               and f["status"] == "alert"]
    assert max(alerted, key=lambda f: f["value"]) is hit  # the steepest rise of all
    assert len(alerted) <= 3
    # the simulator's NPS falls after slow deliveries; repurchase does not depend on them
    nps = doc["delivery_effects"]["nps_per_day"]
    assert nps["high"] < 0
    rep = doc["delivery_effects"]["repurchase_per_day"]
    assert rep["low"] < 0 < rep["high"] or abs(rep["effect"]) < 0.01
