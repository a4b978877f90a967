"""Watch commands: growthloop alerts and growthloop risks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from growthloop.cli.app import (
    ConfigOpt,
    JsonOpt,
    command,
    open_warehouse,
    out,
    print_json,
    progress,
)
from growthloop.core.dates import parse_day
from growthloop.decide.alerts import run_alerts, write_alerts
from growthloop.decide.risks import risk_report
from growthloop.report.format import csv_list
from growthloop.report.watch import alerts_doc, print_alerts, print_risks, risks_doc

__all__ = ["alerts", "risks"]


@command("alerts", epilog="Example: growthloop alerts --since 2025-11-01 --kpi revenue,cac")
def alerts(
    since: Annotated[str | None, typer.Option(
        "--since", help="First day judged, YYYY-MM-DD (default: 28 days before the end of "
                        "the data).")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Use the data before this day, YYYY-MM-DD (default: all).")] = None,
    kpi: Annotated[str | None, typer.Option(
        "--kpi", help="Watch only these KPIs, comma-separated (default: every KPI with a "
                      "goal or marked watch = true).")] = None,
    worse: Annotated[bool, typer.Option(
        "--worse", help="Only moves in the KPI's bad direction.")] = False,
    store: Annotated[bool, typer.Option(
        "--store/--no-store", help="Write the alerts to the warehouse table alerts.")] = True,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Every watched KPI, daily and weekly, per market and overall, against a forecast band
    from its own history; each alert with the slices that explain the move."""
    start = parse_day(since, "--since") if since is not None else None
    end = parse_day(as_of, "--as-of") if as_of is not None else None
    with open_warehouse(config, read_only=not store) as wh, progress() as bar:
        task = bar.add_task("alerts", total=1.0)
        run = run_alerts(wh.backend, wh.cfg, since=start, as_of=end, kpis=csv_list(kpi),
                         progress=lambda s, f: bar.update(task, completed=f, description=s))
        if store:
            write_alerts(wh.con, run)
    if as_json:
        doc = alerts_doc(run)
        if worse:
            doc["alerts"] = [a for a in doc["alerts"] if a["worse"]]
        print_json(doc)
        return
    print_alerts(out, run, worse_only=worse)


@command("risks", epilog="Example: growthloop risks --all --json")
def risks(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Use the data before this day, YYYY-MM-DD (default: all).")] = None,
    all_rows: Annotated[bool, typer.Option(
        "--all", help="Every finding, the ok ones too.")] = False,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """The plan's risk monitors: CAC and order-value trends, high-value churn, promotions,
    returns and fulfilment with its effect on NPS and repurchase ([risks] thresholds)."""
    end = parse_day(as_of, "--as-of") if as_of is not None else None
    with open_warehouse(config) as wh:
        findings, effects = risk_report(wh.backend, wh.cfg, as_of=end)
    if as_json:
        print_json(risks_doc(findings, effects))
        return
    print_risks(out, findings, effects, all_rows=all_rows)
