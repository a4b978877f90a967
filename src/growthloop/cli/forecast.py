"""Forecast command: ``forecast``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from growthloop.cli.app import ConfigOpt, JsonOpt, command, open_warehouse, out, print_json
from growthloop.cli.app import progress as progress_bar
from growthloop.core.dates import parse_day
from growthloop.decide.forecast import goal_forecast, parse_scenario
from growthloop.report.charts import check_chart_path, write_html
from growthloop.report.forecast import forecast_figure, print_forecast

__all__ = ["forecast"]


@command(epilog="Example: growthloop forecast --goal new_users_2026 --scenario budget+10%")
def forecast(
    goal: Annotated[str, typer.Option("--goal", help="The goal to forecast (a [[goals]] "
                                                     "name of growthloop.toml).")],
    scenario: Annotated[str | None, typer.Option(
        "--scenario", help="A budget change for the rest of the period, budget+N% or "
                           "budget-N%, from the stored marketing-mix fit.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Forecast from this day, "
                                              "YYYY-MM-DD (default: end of data).")] = None,
    chart: Annotated[Path | None, typer.Option(
        "--chart", help="Also write the chart (actual, forecast, 80 % band, tiers) to "
                        "this .html file.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """A goal's KPI at the end of its period: projection, 80 % interval, the chance of
    each tier, the growth each market and channel needs, and a budget scenario."""
    day = parse_day(as_of, "--as-of") if as_of else None
    if scenario is not None:
        parse_scenario(scenario)  # a malformed scenario fails before any slow work
    if chart is not None:
        check_chart_path(chart)
    with open_warehouse(config) as wh, progress_bar() as bar:
        bar.add_task("forecasting", total=None)
        fc = goal_forecast(wh.backend, wh.cfg, goal, day, scenario)
    if chart is not None:
        write_html(forecast_figure(fc), chart)
    if as_json:
        print_json(fc.as_dict())
        return
    print_forecast(out, fc)
