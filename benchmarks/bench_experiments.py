"""Experiment analysis at scale: growthloop against GrowthBook's gbstats on the same data.

Builds a warehouse with ``--experiments`` experiments of ``--units`` units each (10
million assignment rows by default) over a million users and their orders, registers
``--metrics`` catalog KPIs measured per unit (revenue, buyers, order value and orders per
market: 20 by default), then, in one run:

- aggregates every KPI to per-variant sufficient statistics with growthloop's Ibis
  layer (``growthloop.metrics.experiments.variant_sums_many``: one scan of each source
  and one aggregation over all experiments and KPIs): the step both tools need, as
  gbstats reads the same sums;
- growthloop's statistics on those sums (``growthloop.decide.experiments.analyze_sums``:
  Welch, CUPED where a pre-period varies, Bayesian chance to win and risk, the
  always-valid interval, Holm across the metrics, the sample-ratio check, the verdict);
- gbstats' ``process_experiment_results`` on the same sums, one call per experiment with
  every metric, with a frequentist (sequential) and a Bayesian analysis, the closest
  to what growthloop computes.

It prints the three times, growthloop end to end (aggregation + statistics) against the
aggregation + gbstats, and the statistics alone. gbstats is not a dependency:

    pip install --target /tmp/gbt --no-deps gbstats
    PYTHONPATH=/tmp/gbt .venv/bin/python benchmarks/bench_experiments.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import pandas as pd

from growthloop.core.config import DEFAULT_TOML, parse_config
from growthloop.decide.experiments import analyze_sums
from growthloop.warehouse import connect, ibis_backend

MARKETS = ("BR", "DE", "FR", "ID", "MX", "SG", "TH", "US")


def kpis_toml(n: int) -> tuple[str, list[str]]:
    """``n`` per-unit KPIs on orders: revenue, buyers, order value, then revenue and
    orders per market, then returns (20 in all)."""
    names = ["revenue", "buyers", "average_order_value"]
    extra = []
    for m in MARKETS:
        for what, measure in (("revenue", 'agg = "sum", column = "revenue"'),
                              ("orders", 'agg = "count"')):
            name = f"{what}_{m.lower()}"
            extra.append(f'[[kpis]]\nname = "{name}"\ndescription = "{what} in {m}"\n'
                         f'formula = "{what} of orders in {m}"\nkind = "value"\n'
                         f'unit = "{"currency" if what == "revenue" else "count"}"\n'
                         f'direction = "up"\nmeasure = {{ source = "orders", {measure}, '
                         f'filter = {{ market = "{m}" }} }}\n')
            names.append(name)
    extra.append('[[kpis]]\nname = "returns"\ndescription = "orders returned"\n'
                 'formula = "orders returned"\nkind = "value"\nunit = "count"\n'
                 'direction = "down"\nmeasure = { source = "orders", agg = "count", '
                 'filter = { returned = true } }\n')
    names.append("returns")
    k = max(0, n - 3)
    return "\n".join(extra[:k]), names[:n]


def build(path: Path, experiments: int, units: int, users: int) -> None:
    con = connect(path)
    m = ", ".join(f"'{x}'" for x in MARKETS)
    con.execute(f"""
        INSERT INTO users SELECT 'u' || i, TIMESTAMP '2024-01-01' + INTERVAL (i % 365) DAY,
            list_extract([{m}], (1 + i % 8)::BIGINT),
            list_extract([{m}], (1 + i % 8)::BIGINT), 'organic',
            NULL, NULL, true, true, true FROM range({users}) t(i)""")
    con.execute(f"""
        INSERT INTO orders SELECT 'o' || i, 'u' || (hash(i) % {users}),
            TIMESTAMP '2025-01-01' + INTERVAL (hash(i * 7) % 300) DAY,
            list_extract([{m}], (1 + (hash(i) % {users}) % 8)::BIGINT), 'USD',
            10 + (hash(i * 13) % 9000) / 100.0,
            CASE WHEN hash(i * 3) % 20 = 0 THEN 'returned' ELSE 'delivered' END,
            NULL FROM range({users * 3}) t(i)""")
    con.execute("INSERT INTO fx_rates VALUES (DATE '2024-01-01', 'USD', 1.0)")
    share = max(1, users // units)
    con.execute(f"""
        INSERT INTO experiment_assignments SELECT 'e' || e, 'u' || i,
            CASE WHEN hash(i, e, 1) % 2 = 0 THEN 'control' ELSE 'treatment' END,
            TIMESTAMP '2025-03-01' + INTERVAL (hash(i, e) % 60) DAY
        FROM range({experiments}) a(e), range({users}) b(i)
        WHERE hash(i, e) % {share} = 0""")
    con.close()


def gbstats_rows(sums: dict[str, pd.DataFrame], eid: str, metrics: list[str]) -> dict:
    """One experiment's sums in gbstats' input: a query with every metric's columns."""
    rows = []
    for v in ("control", "treatment"):
        row: dict = {"dimension": "All", "variation": v}
        for i, name in enumerate(metrics):
            df = sums[name]
            r = df[(df.experiment_id == eid) & (df.variant == v)].iloc[0]
            row["users"] = int(r.n)
            p = f"m{i}_"
            row |= {p + "users": int(r.n), p + "count": int(r.n),
                    p + "main_sum": r.x_sum, p + "main_sum_squares": r.x_sq}
            if r.kind == "ratio":
                row |= {p + "denominator_sum": r.d_sum, p + "denominator_sum_squares": r.d_sq,
                        p + "main_denominator_sum_product": r.xd}
        rows.append(row)
    settings = {name: {"id": name, "name": name, "main_metric_type": "count",
                       "statistic_type": "ratio" if sums[name].kind.iloc[0] == "ratio"
                       else "mean", **({"denominator_metric_type": "count"}
                                       if sums[name].kind.iloc[0] == "ratio" else {})}
                for name in metrics}
    analysis = {"var_names": ["control", "treatment"], "var_ids": ["control", "treatment"],
                "weights": [0.5, 0.5]}
    return {"metrics": settings,
            "analyses": [{**analysis, "stats_engine": "frequentist",
                          "sequential_testing_enabled": True},
                         {**analysis, "stats_engine": "bayesian"}],
            "query_results": [{"rows": rows, "metrics": metrics}]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=100)
    ap.add_argument("--units", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--metrics", type=int, default=20)
    a = ap.parse_args()
    extra, metrics = kpis_toml(a.metrics)
    cfg = parse_config(DEFAULT_TOML + "\n" + extra, "benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.duckdb"
        t0 = time.perf_counter()
        build(path, a.experiments, a.units, a.users)
        con = connect(path)
        n_rows = con.execute("SELECT count(*) FROM experiment_assignments").fetchone()[0]
        print(f"warehouse: {n_rows:,} assignment rows, {a.users:,} users, "
              f"{3 * a.users:,} orders, {len(metrics)} metrics ({time.perf_counter() - t0:.0f}"
              " s to build)")
        b = ibis_backend(con)
        ids = [f"e{e}" for e in range(a.experiments)]
        ends = pd.DataFrame({"experiment_id": ids, "end": [dt.date(2025, 9, 1)] * len(ids)})
        from growthloop.metrics.experiments import variant_sums_many

        t0 = time.perf_counter()
        sums = variant_sums_many(b, cfg, metrics, ends)
        t_agg = time.perf_counter() - t0
        con.close()
    roles = {m: "primary" if i == 0 else "secondary" for i, m in enumerate(metrics)}
    t0 = time.perf_counter()
    for eid in ids:
        analyze_sums({m: s[s.experiment_id == eid] for m, s in sums.items()},
                     experiment_id=eid, weights={"control": 0.5, "treatment": 0.5},
                     control="control", roles=roles, directions={m: "up" for m in metrics},
                     ended=True, planned_units=a.units)
    t_ours = time.perf_counter() - t0
    print(f"aggregation (Ibis on DuckDB, shared): {t_agg:.1f} s")
    print(f"growthloop statistics, {len(ids)} experiments x {len(metrics)} metrics: "
          f"{t_ours:.2f} s")
    try:
        from gbstats.gbstats import process_experiment_results
    except ImportError:
        print("gbstats is not importable: install it to compare (see the module notes)")
        return
    docs = [gbstats_rows(sums, eid, metrics) for eid in ids]
    t0 = time.perf_counter()
    for d in docs:
        process_experiment_results(d)
    t_gb = time.perf_counter() - t0
    print(f"gbstats process_experiment_results on the same sums: {t_gb:.2f} s")
    print(f"statistics: growthloop {t_gb / t_ours:.1f}x faster; end to end (aggregation "
          f"+ statistics): {(t_agg + t_gb) / (t_agg + t_ours):.2f}x")


if __name__ == "__main__":
    main()
