"""Experiments from the warehouse: per-unit sums of catalog KPIs by hand on a tiny shop,
the same sums on Spark, verdicts with their reasons, and the simulated experiments'
true lifts inside the intervals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import write_csv
from growthloop.core.config import ExperimentSpec
from growthloop.core.errors import InputError
from growthloop.decide.experiments import analyze_experiment, analyze_sums, sums_from_frame
from growthloop.ingest import ingest_file
from growthloop.metrics.experiments import variant_sums
from growthloop.warehouse import ibis_backend
from test_funnels_cohorts import load_shop

pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

# v1, v2 control; v3, v4, v5 treatment; the experiment counts up to 2025-03-01
ASSIGN = [("v1", "control", "2025-01-03T09:30:00"), ("v2", "control", "2025-02-01T00:00:00"),
          ("v3", "treatment", "2025-01-25T08:00:00"),
          ("v4", "treatment", "2025-02-10T09:00:00"),
          ("v5", "treatment", "2025-02-20T00:00:00")]
END = pd.DataFrame({"experiment_id": ["e1"], "end": [dt.date(2025, 3, 1)]})
# revenue per unit in [assignment, end) (USD; test_funnels_cohorts' orders): v1 o1 50;
# v2 o8 15 (o2 = 40 falls in its 28 days before); v3 o4 24 (o3 cancelled); v4 o7 37.5;
# v5 none
REVENUE = {"control": [50.0, 15.0], "treatment": [24.0, 37.5, 0.0]}
PRE = {"control": [0.0, 40.0], "treatment": [0.0, 0.0, 0.0]}


@pytest.fixture
def shop(tmp_path, con, cfg, pseudo):
    load_shop(tmp_path, con, cfg, pseudo)
    rows = [dict(experiment_id="e1", unit_id=u, variant=v, assigned_ts=ts)
            for u, v, ts in ASSIGN]
    res = ingest_file(con, cfg, "experiment_assignments",
                      write_csv(tmp_path / "assign.csv", rows), pseudo)
    assert res.rows_quarantined == 0, res.reasons
    return ibis_backend(con)


def _sums(df: pd.DataFrame, variant: str) -> pd.Series:
    return df[df.variant == variant].iloc[0]


def test_revenue_per_unit_by_hand(shop, cfg) -> None:
    s = variant_sums(shop, cfg, "revenue", END)
    assert list(s.variant) == ["control", "treatment"] and set(s.kind) == {"mean"}
    for v, x in REVENUE.items():
        r, px = _sums(s, v), np.array(PRE[v])
        x = np.array(x)
        assert r.n == len(x) and r.x_sum == pytest.approx(x.sum())
        assert r.x_sq == pytest.approx((x * x).sum())
        assert r.px_sum == pytest.approx(px.sum()) and r.x_px == pytest.approx((x * px).sum())
        assert r.d_sum == len(x)  # a mean metric: one per unit
    # per market: v5 (US) is the only treated unit in US
    m = variant_sums(shop, cfg, "revenue", END, by_market=True)
    us = m[(m.market == "US") & (m.variant == "treatment")].iloc[0]
    assert us.n == 1 and us.x_sum == 0.0
    de = m[(m.market == "DE") & (m.variant == "treatment")].iloc[0]
    assert de.n == 2 and de.x_sum == pytest.approx(61.5)


def test_conversion_and_a_ratio_metric_by_hand(shop, cfg) -> None:
    buyers = variant_sums(shop, cfg, "buyers", END)  # a kept order in the window: 0/1
    assert _sums(buyers, "control").x_sum == 2 and _sums(buyers, "treatment").x_sum == 2
    assert _sums(buyers, "treatment").x_sq == 2
    aov = variant_sums(shop, cfg, "average_order_value", END)  # revenue / kept orders
    t = _sums(aov, "treatment")
    assert t.kind == "ratio" and t.x_sum == pytest.approx(61.5) and t.d_sum == 2
    assert t.xd == pytest.approx(24.0 + 37.5)  # each unit has one order
    with pytest.raises(InputError, match="source 'spend' is not about people"):
        variant_sums(shop, cfg, "spend", END)
    with pytest.raises(InputError, match="growth rate"):
        variant_sums(shop, cfg, "aov_growth", END)


def test_welch_on_the_sums_equals_scipy_on_the_units(shop, cfg) -> None:
    sums = {"revenue": variant_sums(shop, cfg, "revenue", END)}
    r = analyze_sums(sums, experiment_id="e1", weights={"control": 0.5, "treatment": 0.5},
                     control="control", roles={"revenue": "primary"},
                     directions={"revenue": "up"}, ended=True, planned_units=None)
    row = r.rows.iloc[0]
    c, t = np.array(REVENUE["control"]), np.array(REVENUE["treatment"])
    assert row.lift == pytest.approx(t.mean() / c.mean() - 1, rel=1e-12)
    assert row.mean_control == pytest.approx(32.5) and row.mean_variant == pytest.approx(20.5)
    # the absolute Welch test of scipy on the raw units has the same degrees of freedom
    want = stats.ttest_ind(t, c, equal_var=False)
    assert want.pvalue > 0.05 and r.verdict == "don't ship"
    assert r.reason.startswith("no detectable effect on revenue: -36.9%")
    assert r.counts == {"control": 2, "treatment": 3}
    assert r.srm_p == pytest.approx(stats.chisquare([2, 3], [2.5, 2.5]).pvalue, rel=1e-12)


def test_a_sample_ratio_mismatch_blocks_the_verdict() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"v": ["control"] * 6000 + ["treatment"] * 4000,
                       "m": rng.normal(10, 2, 10_000)})
    df.loc[df.v == "treatment", "m"] += 1.0  # a large, real effect
    sums = {"m": sums_from_frame(df, variant="v", metric="m")}
    r = analyze_sums(sums, experiment_id="data", weights={"control": 0.5, "treatment": 0.5},
                     control="control", roles={"m": "primary"}, directions={"m": "up"},
                     ended=True, planned_units=None)
    assert r.verdict == "invalid" and r.variant is None
    assert r.reason.startswith("sample ratio mismatch (p = ") and "control 60.0% " \
        "(expected 50.0%)" in r.reason
    ok = analyze_sums(sums, experiment_id="data", weights={"control": 0.6, "treatment": 0.4},
                      control="control", roles={"m": "primary"}, directions={"m": "up"},
                      ended=True, planned_units=None)
    assert ok.verdict == "ship" and ok.variant == "treatment"
    assert ok.rows.iloc[0].lift == pytest.approx(
        df[df.v == "treatment"].m.mean() / df[df.v == "control"].m.mean() - 1)


def test_a_harmed_guardrail_stops_a_winner_and_cuped_narrows() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    pre = rng.gamma(2.0, 5.0, n)
    v = np.where(rng.random(n) < 0.5, "control", "treatment")
    t = v == "treatment"
    y = pre + rng.normal(0, 3, n) + 1.0 * t  # the primary moves up
    g = rng.normal(5, 1, n) - 0.3 * t  # a guardrail falls (direction up)
    df = pd.DataFrame({"v": v, "y": y, "pre": pre, "g": g})
    sums = {"y": sums_from_frame(df, variant="v", metric="y", pre="pre"),
            "g": sums_from_frame(df, variant="v", metric="g")}
    r = analyze_sums(sums, experiment_id="data", weights={"control": 0.5, "treatment": 0.5},
                     control="control", roles={"y": "primary", "g": "guardrail"},
                     directions={"y": "up", "g": "up"}, ended=True, planned_units=None)
    assert r.verdict == "don't ship" and r.reason.startswith("guardrail g moves the bad way")
    y_row = r.rows[r.rows.metric == "y"].iloc[0]
    # CUPED: pre explains most of y's variance, so the interval is far narrower
    assert y_row.variance_reduction > 0.7
    assert (y_row.cuped_high - y_row.cuped_low) < 0.55 * (y_row.lift_high - y_row.lift_low)
    running = analyze_sums(
        {"y": sums["y"]}, experiment_id="data", weights={"control": 0.5, "treatment": 0.5},
        control="control", roles={"y": "primary"}, directions={"y": "up"}, ended=False,
        planned_units=20_000)
    # read early, the always-valid interval is wider than the fixed one, and still decides
    row = running.rows.iloc[0]
    assert row.seq_high - row.seq_low > row.cuped_high - row.cuped_low
    assert running.verdict == "ship" and "already conclusive" in running.reason


def test_sums_on_spark_equal_duckdb(tmp_path: Path, con, cfg, pseudo, spark) -> None:
    load_shop(tmp_path, con, cfg, pseudo)
    rows = [dict(experiment_id="e1", unit_id=u, variant=v, assigned_ts=ts)
            for u, v, ts in ASSIGN]
    ingest_file(con, cfg, "experiment_assignments", write_csv(tmp_path / "a.csv", rows),
                pseudo)
    duck = ibis_backend(con)
    sb = ibis.pyspark.connect(spark)
    for name in ("users", "events", "orders", "fx_rates", "experiment_assignments",
                 "identities"):
        p = tmp_path / f"{name}.parquet"
        con.execute(f"COPY {name} TO '{p}' (FORMAT parquet)")
        sb.read_parquet(str(p), table_name=name)
    for kpi, by_market in (("revenue", True), ("average_order_value", False),
                           ("buyers", True)):
        a = variant_sums(duck, cfg, kpi, END, by_market=by_market)
        b = variant_sums(sb, cfg, kpi, END, by_market=by_market)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-12, obj=kpi)


@pytest.mark.slow
def test_simulated_experiments_cover_their_true_lifts(tmp_path: Path, con, cfg) -> None:
    """The simulator's two experiments (true lifts in truth.json) from the warehouse."""
    from growthloop.ingest.privacy import Pseudonymiser
    from growthloop.simulate import simulate

    truth = simulate(tmp_path / "shop", n_users=60_000, days=365, seed=2)
    for name in ("users", "orders", "fx_rates", "experiment_assignments"):
        ingest_file(con, cfg, name, tmp_path / "shop" / f"{name}.parquet", Pseudonymiser(None))
    b = ibis_backend(con)
    start = dt.date(2025, 1, 1)
    for exp_id, kpi in (("checkout_redesign", "buyers"), ("free_shipping_threshold",
                                                           "revenue")):
        t = truth["experiments"][exp_id]
        lo, hi = t["window_days"]
        spec = ExperimentSpec(id=exp_id, primary=kpi, start=start + dt.timedelta(days=lo),
                              end=start + dt.timedelta(days=hi + 1))
        r = analyze_experiment(b, cfg, spec)
        row = r.rows[(r.rows.metric == kpi) & (r.rows.segment == "all")].iloc[0]
        assert row.lift_low < t["true_relative_lift"] < row.lift_high, (exp_id, row)
        assert r.counts == {"control": t["units"] - t["treated"], "treatment": t["treated"]}
        assert r.verdict == "ship", r.reason


def test_cuped_is_unbiased_and_narrower_over_many_experiments() -> None:
    """400 seeded experiments with a true +5 % lift: CUPED's estimates average the truth
    (within two standard errors of the mean) with a smaller spread than Welch's."""
    from growthloop.models.experiments import MeanSums, cuped_test

    rng = np.random.default_rng(11)
    plain, adjusted, reductions = [], [], []
    for _ in range(400):
        n = 800
        pre = rng.gamma(2.0, 5.0, 2 * n)
        y = 0.8 * pre + rng.normal(0, 4, 2 * n) + 5.0
        y[n:] *= 1.05
        c = MeanSums.from_values(y[:n], pre=pre[:n])
        t = MeanSums.from_values(y[n:], pre=pre[n:])
        r = cuped_test(c, t)
        plain.append(r.unadjusted.estimate)
        adjusted.append(r.effect.estimate)
        reductions.append(r.variance_reduction)
    plain, adjusted = np.array(plain), np.array(adjusted)
    assert abs(adjusted.mean() - 0.05) < 2 * adjusted.std() / np.sqrt(len(adjusted))
    assert adjusted.std() < 0.6 * plain.std()
    assert min(reductions) > 0.5


def test_a_52_48_split_of_a_50_50_design_is_caught() -> None:
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"v": ["control"] * 5200 + ["treatment"] * 4800,
                       "m": rng.normal(10, 2, 10_000)})
    r = analyze_sums({"m": sums_from_frame(df, variant="v", metric="m")},
                     experiment_id="data", weights={"control": 0.5, "treatment": 0.5},
                     control="control", roles={"m": "primary"}, directions={"m": "up"},
                     ended=True, planned_units=None)
    assert r.srm_p == pytest.approx(stats.chisquare([5200, 4800]).pvalue, rel=1e-12)
    assert r.srm_p < 0.001 and r.verdict == "invalid"


def test_fixed_horizon_a_a_false_positive_rate() -> None:
    """2,000 seeded A/A experiments read once at the end: Welch rejects 4-6 % at 5 %."""
    from growthloop.models.experiments import MeanSums, welch_test

    rng = np.random.default_rng(21)
    hits = 0
    for _ in range(2000):
        x = rng.exponential(3.0, (2, 500))
        hits += welch_test(MeanSums.from_values(x[0]), MeanSums.from_values(x[1])).p_value < 0.05
    assert 0.04 <= hits / 2000 <= 0.06, hits / 2000
