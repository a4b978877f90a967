"""Metric commands: ``summary``, ``kpi``, ``funnel`` and ``cohorts``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from growthloop.cli.app import (
    ConfigOpt,
    Grain,
    JsonOpt,
    ShareOpt,
    command,
    err,
    open_warehouse,
    out,
    print_json,
)
from growthloop.core.config import load_config
from growthloop.metrics import catalog, retention, to_matrix
from growthloop.metrics import funnel as run_funnel
from growthloop.metrics.compile import kpi_frame
from growthloop.metrics.summary import market_summary
from growthloop.report.docs import glossary_markdown, metrics_markdown
from growthloop.report.format import csv_list, records, write_frame
from growthloop.report.privacy import (
    privacy_doc,
    share_cohorts,
    share_funnel,
    share_kpis,
    share_summary,
    shared,
)
from growthloop.report.tables import (
    print_cohorts,
    print_funnel,
    print_kpi_list,
    print_kpis,
    print_summary,
)

__all__ = ["cohorts", "funnel", "kpi", "summary"]


@command(epilog="Example: growthloop summary --json")
def summary(config: ConfigOpt = Path("growthloop.toml"), share: ShareOpt = None,
            as_json: JsonOpt = False) -> None:
    """Users, buyers, revenue, conversion, order value and repurchase rate per market."""
    with open_warehouse(config) as wh:
        df = market_summary(wh.backend, wh.cfg)
        currency = wh.cfg.reporting_currency
        share = shared(share, wh.cfg)
        if share:
            df = share_summary(df, wh.cfg.privacy.min_group_size)
    if as_json:
        print_json({"currency": currency, "privacy": privacy_doc(df, share),
                    "markets": records(df)})
    else:
        print_summary(out, df, currency)


@command(epilog="Example: growthloop kpi add_to_cart_rate revenue --grain week --by market "
                "--from 2025-01-01 --to 2025-04-01")
def kpi(
    names: Annotated[list[str] | None, typer.Argument(help="KPI names; none lists them.")] = None,
    grain: Annotated[Grain, typer.Option(help="Time grain (all: the whole window).")
                     ] = Grain.week,
    by: Annotated[str | None, typer.Option(help="Dimensions, comma-separated.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD.")
                   ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write .csv, .parquet or "
                                                  ".json instead of printing.")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the KPI reference.")
                        ] = False,
    glossary: Annotated[bool, typer.Option("--glossary", help="Print the glossary of "
                                           "business numbers (Markdown).")] = False,
    config: ConfigOpt = Path("growthloop.toml"),
    share: ShareOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """KPIs of the catalog by time grain and slice, from the project warehouse.

    With --share each row also has people (the distinct people behind it) and suppressed.
    """
    if markdown or glossary:
        sys.stdout.write(metrics_markdown() if markdown else glossary_markdown())
        return
    if not names:
        cat = catalog(load_config(config))
        if as_json:
            print_json({k.name: {"description": k.description, "unit": k.unit,
                                 "direction": k.direction} for k in cat.values()})
            return
        print_kpi_list(out, cat)
        return
    dims = csv_list(by)
    with open_warehouse(config) as wh:
        share = shared(share, wh.cfg)
        result = kpi_frame(wh.backend, wh.cfg, names, grain=grain.value, by=dims, start=start,
                           end=end, people=share)
        if share:
            result = share_kpis(result, wh.cfg.privacy.min_group_size)
    if out_file is not None:
        write_frame(result, out_file)
        err.print(f"wrote {len(result):,} rows to {out_file}"
                  + (f" ({int(result.suppressed.sum()):,} suppressed)" if share else ""))
    elif as_json:
        print_json({"grain": grain.value, "by": dims, "privacy": privacy_doc(result, share),
                    "rows": records(result)})
    else:
        print_kpis(out, result, grain.value, dims,
                   {k.name: k.unit for k in catalog(wh.cfg).values()})


@command(epilog="Example: growthloop funnel session_start product_view add_to_cart checkout "
                "purchase --by market")
def funnel(
    steps: Annotated[list[str], typer.Argument(help="Event types, in order.")],
    within: Annotated[str, typer.Option(help="session, or days (per user).")] = "session",
    days: Annotated[int, typer.Option(help="Window for --within days.")] = 7,
    by: Annotated[str | None, typer.Option(help="Dimensions, comma-separated.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Day after the last.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    share: ShareOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An ordered funnel: units reaching each step, conversion, drop-off, median time."""
    with open_warehouse(config) as wh:
        share = shared(share, wh.cfg)
        df = run_funnel(wh.backend, wh.cfg, steps, within=within, days=days,
                        by=csv_list(by), start=start, end=end, people=share).execute()
        if share:
            df = share_funnel(df, wh.cfg.privacy.min_group_size)
    if as_json:
        print_json({"steps": steps, "within": within, "privacy": privacy_doc(df, share),
                    "rows": records(df)})
        return
    print_funnel(out, df, f"Funnel within {within if within == 'session' else f'{days} days'}")


@command(epilog="Example: growthloop cohorts --cohort first_purchase --measure revenue")
def cohorts(
    cohort: Annotated[str, typer.Option(help="signup or first_purchase.")] = "signup",
    period: Annotated[str, typer.Option(help="day, week or month.")] = "month",
    measure: Annotated[str, typer.Option(help="users or revenue.")] = "users",
    periods: Annotated[int, typer.Option(min=1, help="Periods since the cohort.")] = 12,
    config: ConfigOpt = Path("growthloop.toml"),
    share: ShareOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The retention triangle: each cohort's share still active (or revenue) by period."""
    with open_warehouse(config) as wh:
        share = shared(share, wh.cfg)
        df = retention(wh.backend, wh.cfg, cohort=cohort, period=period, measure=measure,
                       periods=periods).execute()
        if share:
            df = share_cohorts(df, wh.cfg.privacy.min_group_size)
    if as_json:
        print_json({"cohort": cohort, "measure": measure, "privacy": privacy_doc(df, share),
                    "rows": records(df)})
        return
    print_cohorts(out, to_matrix(df),
                  f"{measure.capitalize()} retention by {cohort} cohort and {period}s since",
                  measure, suppressed=df if share else None)
