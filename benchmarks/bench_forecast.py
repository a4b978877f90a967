"""Daily forecasts: growthloop's ETS (statsmodels ``ETSModel``, AICc over four damped
forms) against Nixtla statsforecast's ``AutoETS`` and ``AutoARIMA`` and the seasonal
naive baseline, in one run, on a simulated shop.

Two years are simulated and ingested into a fresh warehouse; the daily new users and
revenue of each market and of all markets (``growthloop.decide.goals._daily``, the
history a goal forecast reads) are backtested from rolling origins: the first day of
each month of the second year whose month the data cover. Each method is fitted on
every day before the origin (shopping-festival days cleaned the same way for all,
``growthloop.models.forecast.clean_festivals``) and forecasts the month's days. Printed
per KPI and method: MAPE of the daily values and of the month total, the coverage of the
80 % interval of a day and of the month total (from each method's sample paths), and the
fit-and-forecast time per series.

    pip install -e ".[bench]"
    python benchmarks/bench_forecast.py --users 200000 --seed 11
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from growthloop.core.config import Goal, default_config
from growthloop.decide.goals import _daily, data_end
from growthloop.ingest import ingest_file
from growthloop.ingest.privacy import Pseudonymiser
from growthloop.metrics.compile import catalog
from growthloop.models.forecast import LEVEL, N_PATHS, clean_festivals, festival_lifts, fit
from growthloop.simulate import TABLE_FILES, simulate
from growthloop.warehouse import connect, ibis_backend

KPIS = ("new_users", "revenue")
START = date(2025, 1, 1)

# a method: (history, horizon, paths, seed) -> (mean, paths (n, h))
Method = Callable[[pd.Series, int, int, int], tuple[np.ndarray, np.ndarray]]


def series(users: int, seed: int, where: Path) -> pd.DataFrame:
    """Daily new users and revenue per market and overall of a simulated two-year shop."""
    simulate(where / "shop", n_users=users, days=730, seed=seed, start=START)
    con = connect(where / "warehouse.duckdb")
    cfg = default_config()
    for name in TABLE_FILES:
        ingest_file(con, cfg, name, where / "shop" / f"{name}.parquet",
                    Pseudonymiser(b"bench-forecast-key-0123456789"))
    backend, cat = ibis_backend(con), catalog(cfg)
    end = data_end(backend)
    cols = {}
    for kpi in KPIS:
        for market in ["all", *(m.code for m in cfg.markets)]:
            goal = Goal(name="bench", kpi=kpi, period=str(START.year),
                        slice={} if market == "all" else {"market": market},
                        base=0, target=0, challenge=0)
            cols[(kpi, market)] = _daily(backend, cfg, cat[kpi].measure, goal, START, end)
    con.close()
    df = pd.DataFrame(cols)
    df.index = pd.to_datetime(df.index)
    return df


def growthloop_method(name: str) -> Method:
    method, calibrated = name.removesuffix("_uncalibrated"), not name.endswith("_uncalibrated")

    def run(y: pd.Series, h: int, paths: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        f = fit(y, method, calibrated=calibrated).forecast(h, paths=paths, seed=seed)
        return f.mean, f.paths
    return run


def statsforecast_method(name: str) -> Method:
    from statsforecast.models import AutoARIMA, AutoETS

    def run(y: pd.Series, h: int, paths: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        model = (AutoETS(season_length=7) if name == "AutoETS"
                 else AutoARIMA(season_length=7))
        x = clean_festivals(y).to_numpy(dtype=float)  # festivals as growthloop treats them
        days = [y.index[-1] + pd.Timedelta(days=i) for i in range(1, h + 1)]
        lift = festival_lifts(y, days)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x)
            mean = np.asarray(model.predict(h)["mean"], dtype=float) * lift
            sim = np.asarray(model.simulate(h, paths, seed=seed), dtype=float)
        return mean, sim.reshape(paths, h) * lift
    return run


def backtest(df: pd.DataFrame, methods: dict[str, Method], paths: int) -> pd.DataFrame:
    """One row per KPI, series, origin and method: errors, coverage and seconds."""
    last = df.index[-1]
    origins = [d for d in pd.date_range(f"{START.year + 1}-01-01", periods=12, freq="MS")
               if d + pd.offsets.MonthEnd(0) <= last]
    rows = []
    for (kpi, market), y in df.items():
        y = y[y.cumsum() > 0]  # from the first day with data
        for origin in origins:
            hist = y[y.index < origin]
            month = y[(y.index >= origin) & (y.index <= origin + pd.offsets.MonthEnd(0))]
            actual, h = month.to_numpy(), len(month)
            for i, (name, method) in enumerate(methods.items()):
                t0 = time.perf_counter()
                mean, sim = method(hist, h, paths, 1000 + i)
                seconds = time.perf_counter() - t0
                a = (1 - LEVEL) / 2
                lo, hi = np.quantile(sim, [a, 1 - a], axis=0)
                sums = sim.sum(axis=1)
                t_lo, t_hi = np.quantile(sums, [a, 1 - a])
                ok = actual > 0
                rows.append({
                    "kpi": kpi, "series": market, "origin": origin.date(), "method": name,
                    "mape_day": float(np.mean(np.abs(mean[ok] - actual[ok]) / actual[ok])),
                    "mape_month": abs(mean.sum() - actual.sum()) / actual.sum(),
                    "cover_day": float(np.mean((actual >= lo) & (actual <= hi))),
                    "cover_month": float(t_lo <= actual.sum() <= t_hi),
                    "seconds": seconds})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--paths", type=int, default=N_PATHS)
    ap.add_argument("--methods", default="ets,ets_uncalibrated,AutoETS,AutoARIMA,"
                                         "seasonal_naive",
                    help="comma-separated: ets, seasonal_naive (growthloop; with "
                         "_uncalibrated: without the level offset), AutoETS, AutoARIMA "
                         "(statsforecast)")
    ap.add_argument("--kpis", default=",".join(KPIS), help="comma-separated")
    ap.add_argument("--cache", type=Path, help="a Parquet file of the daily series: read "
                                               "when it exists, written otherwise")
    args = ap.parse_args()
    if args.cache and args.cache.exists():
        df = pd.read_parquet(args.cache)
        df.columns = pd.MultiIndex.from_tuples([tuple(c.split("|")) for c in df.columns])
    else:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            df = series(args.users, args.seed, Path(d))
        print(f"simulated and ingested {args.users:,} users over 730 days in "
              f"{time.perf_counter() - t0:.0f} s")
        if args.cache:
            flat = df.copy()
            flat.columns = ["|".join(c) for c in df.columns]
            flat.to_parquet(args.cache)
    methods: dict[str, Method] = {}
    for name in args.methods.split(","):
        methods[name] = (statsforecast_method(name) if name in ("AutoETS", "AutoARIMA")
                         else growthloop_method(name))
    kpis = args.kpis.split(",")
    res = backtest(df.loc[:, [c for c in df.columns if c[0] in kpis]], methods, args.paths)
    n_origins = res.origin.nunique()
    print(f"rolling origins: {n_origins} months from {res.origin.min()}; series per KPI: "
          f"{res.series.nunique()} (8 markets and all); {args.paths} sample paths")
    for scope, sub in (("every series", res), ("all markets together",
                                                res[res.series == "all"])):
        t = (sub.groupby(["kpi", "method"], sort=False)
             [["mape_day", "mape_month", "cover_day", "cover_month", "seconds"]].mean())
        t = t.rename(columns={"mape_day": "MAPE day", "mape_month": "MAPE month",
                              "cover_day": "80% cover day", "cover_month": "80% cover month",
                              "seconds": "s/series"})
        print(f"\n{scope}:")
        print(t.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
