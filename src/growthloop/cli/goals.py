"""Goal commands: ``goals`` and ``review``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from growthloop.cli.app import (
    ConfigOpt,
    JsonOpt,
    ShareOpt,
    command,
    open_warehouse,
    out,
    print_json,
    progress,
)
from growthloop.core.dates import parse_day
from growthloop.decide.goals import decomposition_by, goal_report
from growthloop.decide.review import review as run_review
from growthloop.metrics import catalog
from growthloop.report.format import records
from growthloop.report.privacy import privacy_doc, share_goals, shared
from growthloop.report.tables import print_decomposition, print_goals, print_review

__all__ = ["goals", "review"]


class Cadence(StrEnum):
    weekly = "weekly"
    biweekly = "biweekly"
    monthly = "monthly"


@command(epilog="Example: growthloop goals --as-of 2025-09-01")
def goals(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day after the last day to "
                                              "count, YYYY-MM-DD (default: end of data).")
                     ] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    share: ShareOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every goal: actual to date, tier reached, gap to the next tier, projection."""
    day = parse_day(as_of, "--as-of") if as_of else None
    with open_warehouse(config) as wh:
        share = shared(share, wh.cfg)
        df, dec = goal_report(wh.backend, wh.cfg, day, people=share)
        units = {k.name: k.unit for k in catalog(wh.cfg).values()}
        parts = None
        if share:
            df, dec, parts = share_goals(df, dec, wh.cfg.privacy.min_group_size)
    if as_json:
        print_json({"privacy": privacy_doc(df, share), "goals": records(df),
                    "decomposition": None if dec is None else records(dec)})
        return
    print_goals(out, df, units)
    if dec is not None:
        print_decomposition(out, parts or {d: decomposition_by(dec, d)
                                           for d in ("market", "channel")})


@command(epilog="Example: growthloop review --cadence weekly")
def review(
    cadence: Annotated[Cadence, typer.Option(help="Review period.")] = Cadence.weekly,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Review the last complete "
                                              "period before this day (default: end of "
                                              "data).")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """The review of the last complete period: goals, movers beyond noise, mix vs rate."""
    day = parse_day(as_of, "--as-of") if as_of else None
    with open_warehouse(config) as wh, progress() as bar:
        bar.add_task("reviewing", total=None)
        r = run_review(wh.backend, wh.cfg, cadence.value, day)
        units = {k.name: k.unit for k in catalog(wh.cfg).values()}
    if as_json:
        print_json({"cadence": cadence.value, "start": r.start.isoformat(),
                    "end": r.end.isoformat(), "goals": records(r.goals),
                    "movers": records(r.movers_frame()),
                    "decompositions": {k: records(v) for k, v in r.decompositions.items()}})
        return
    out.print(f"[bold]{cadence.value.capitalize()} review: {r.start.isoformat()} to "
              f"{r.last_day.isoformat()}[/bold]")
    print_review(out, r, units)
