"""KPI alerts on two simulated years: false alarms on clean history, planted risks found,
and the time of the whole catalog's alerts beside the plain KPI computation.

    python benchmarks/bench_alerts.py [--users 100000] [--seed 3] [--out /tmp/alerts]

1. A clean world (730 days from 2024-01-01): every watched KPI, daily and weekly, per
   market and overall, judged over the second year (the first is history). Prints the
   false-alarm rate per KPI-market-week (a week with any alert, daily or weekly) per
   KPI and overall.
2. The same world with one planted risk of each kind (``growthloop simulate --risk``)
   at different dates and markets: for each, the first alert on one of the KPIs it moves
   in its market (or overall, with the market ranked first among the causes) within 7
   days of its start, and the first cause's slice.
3. Time: the watched KPIs daily and weekly by market (the plain computation), then the
   whole alerts run with root causes, on the clean world: the second year judged with
   a year of history, and both years judged (the first with 28 days of history).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

from growthloop.core.config import default_toml, load_config
from growthloop.decide.alerts import run_alerts, watched_kpis
from growthloop.ingest.load import ingest_files
from growthloop.metrics.compile import compile_kpi
from growthloop.metrics.sources import cached_sources
from growthloop.simulate import simulate
from growthloop.simulate.world import TABLE_FILES
from growthloop.warehouse import Warehouse

START = dt.date(2024, 1, 1)
DAYS = 730
JUDGED_FROM = dt.date(2025, 1, 1)
# one of each kind; the cac risk on the market's largest paid channel (about a fifth of
# its sign-ups: a channel's cost moves its market's CAC by that share only)
RISKS = ("cac:ID:live_commerce:2025-03-10:2", "order_value:DE:2025-04-14:0.7",
         "returns:BR:2025-05-19:2.5", "fulfilment:MX:2025-06-16:2.3",
         "churn:US:2025-07-21:0.8", "promotion:TH:2025-10-01:1")


def build(folder: Path, users: int, seed: int, risks: tuple[str, ...] = ()) -> tuple[Path, dict]:
    """A project with a simulated shop in ``folder``; its config path and truth."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "growthloop.toml"
    config.write_text(default_toml(2025, (0.9 * users, users, 1.1 * users)), encoding="utf-8")
    cfg = load_config(config)
    kw = {}
    if risks:
        from growthloop.simulate.risks import parse_risk

        kw["risks"] = [parse_risk(r, cfg, START, DAYS) for r in risks]
    truth = simulate(folder / "data", config=cfg, n_users=users, days=DAYS, seed=seed,
                     start=START, **kw)
    where = cfg.warehouse_path(folder)
    where.unlink(missing_ok=True)
    with Warehouse.open(config) as wh:
        for name in TABLE_FILES:
            ingest_files(wh, name, [folder / "data" / f"{name}.parquet"])
    return config, truth


def false_alarms(run) -> None:
    weeks: dict[str, set] = {}
    for a in run.alerts:
        monday = a.period - dt.timedelta(days=a.period.weekday())
        weeks.setdefault(a.kpi, set()).add((a.market, monday))
    scopes = run.periods_checked["week"]  # KPI x scope weeks judged at the weekly grain
    total = sum(len(v) for v in weeks.values())
    print(f"\nclean history {JUDGED_FROM} to {run.as_of}: {len(run.alerts)} alerts, "
          f"{run.periods_checked['day']:,} KPI-scope days and {scopes:,} KPI-scope weeks "
          "judged")
    for k in run.kpis:
        print(f"  {k:<26} weeks with an alert {len(weeks.get(k, ())):>3}")
    print(f"false-alarm rate per KPI-market-week: {total} / {scopes:,} = "
          f"{total / max(scopes, 1):.2%}")


def planted(run, truth: dict) -> None:
    print("\nplanted risks (alerted within 7 days, market and channel first among causes):")
    found = 0
    for r in truth["risks"]:
        start = dt.date.fromisoformat(r["effective_start"])
        hits = [a for a in run.alerts if a.kpi in r["kpis"] and a.worse
                and start <= a.period <= start + dt.timedelta(days=7)]
        good = []
        for a in hits:
            top = a.drivers[0]["slice"] if a.drivers else {}
            market_ok = a.market == r["market"] or (a.market == "all"
                                                    and top.get("market") == r["market"])
            channel_ok = r.get("channel") is None or top.get("channel") == r["channel"]
            if market_ok and channel_ok:
                good.append(a)
        first = min(good, key=lambda a: a.period) if good else None
        found += first is not None
        where = f"{r['market']}" + (f"/{r['channel']}" if r.get("channel") else "")
        if first is None:
            print(f"  {r['kind']:<12} {where:<16} from {start}: NOT FOUND "
                  f"({len(hits)} alerts on its KPIs in the week)")
            continue
        top = " · ".join(f"{k}={v}" for k, v in first.drivers[0]["slice"].items()) \
            if first.drivers else "-"
        print(f"  {r['kind']:<12} {where:<16} from {start}: {first.kpi} {first.grain} "
              f"{first.market} on {first.period} (+{(first.period - start).days} d, "
              f"z {first.z:+.1f}); first cause {top}")
    print(f"found {found} of {len(truth['risks'])}")


def timing(config: Path) -> None:
    with Warehouse.open(config) as wh:
        kpis = watched_kpis(wh.cfg)
        t0 = time.perf_counter()
        with cached_sources(wh.backend, wh.cfg) as cache:
            for k in kpis:
                for grain in ("day", "week"):
                    compile_kpi(k, wh.backend, wh.cfg, grain=grain, by=["market"],
                                cache=cache).execute()
        plain = time.perf_counter() - t0
        print(f"\n{len(kpis)} KPIs x 8 markets x 2 years: plain KPI computation (daily and "
              f"weekly by market) {plain:.1f} s")
        for label, since, history in (
                ("the second year judged (a year of history)", JUDGED_FROM, 366),
                ("both years judged", START + dt.timedelta(days=28), 28)):
            t0 = time.perf_counter()
            run = run_alerts(wh.backend, wh.cfg, since=since, history_days=history)
            whole = time.perf_counter() - t0
            print(f"  alerts with root causes, {label}: {whole:.1f} s ({len(run.alerts)} "
                  f"alerts; KPIs {run.seconds['kpis']:.1f} s, bands "
                  f"{run.seconds['bands']:.1f} s, causes {run.seconds['root_causes']:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-alerts"))
    ap.add_argument("--skip", choices=("clean", "risks"), action="append", default=[])
    a = ap.parse_args()
    os.environ.setdefault("GROWTHLOOP_PSEUDONYM_KEY", "bench-alerts-key-0123456789")
    if "clean" not in a.skip:
        clean, _ = build(a.out / "clean", a.users, a.seed)
        with Warehouse.open(clean) as wh:
            false_alarms(run_alerts(wh.backend, wh.cfg, since=JUDGED_FROM, history_days=366))
        timing(clean)
    if "risks" not in a.skip:
        risky, truth = build(a.out / "risks", a.users, a.seed, RISKS)
        with Warehouse.open(risky) as wh:
            planted(run_alerts(wh.backend, wh.cfg, since=JUDGED_FROM, history_days=366),
                    truth)


if __name__ == "__main__":
    main()
