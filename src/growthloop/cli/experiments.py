"""Experiment commands: ``experiment analyze``, ``experiment plan``, ``experiment assign``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from growthloop.cli.app import (
    ConfigOpt,
    JsonOpt,
    app,
    command,
    err,
    open_warehouse,
    out,
    print_json,
    progress,
)
from growthloop.core.config import load_config
from growthloop.core.dates import parse_day
from growthloop.core.errors import InputError
from growthloop.decide.experiment_runs import analyze_file, analyze_registered, assign_units
from growthloop.decide.experiments import plan_experiment
from growthloop.report.experiments import print_plan, print_result
from growthloop.report.format import csv_list, records

__all__ = ["experiment_analyze", "experiment_app", "experiment_assign", "experiment_plan"]

experiment_app = typer.Typer(
    name="experiment",
    help="A/B experiments: verdicts with SRM, CUPED, Bayesian and always-valid results; "
         "sample sizes; assignment.",
    no_args_is_help=True,
    epilog="Example: growthloop experiment analyze checkout_redesign --json",
)
app.add_typer(experiment_app, name="experiment")


class Correction(StrEnum):
    holm = "holm"
    bh = "bh"


@command("analyze", group=experiment_app,
         epilog="Example: growthloop experiment analyze --data units.csv --variant-col v "
                "--metric-col revenue --pre-col revenue_before --json")
def experiment_analyze(
    ids: Annotated[list[str] | None, typer.Argument(
        help="Registered experiments ([[experiments]] in growthloop.toml; default: all).",
        show_default=False)] = None,
    data: Annotated[Path | None, typer.Option(
        "--data", help="CSV or Parquet, one row per unit, instead of the warehouse.")] = None,
    variant_col: Annotated[str, typer.Option("--variant-col", help="--data: the variant.")
                           ] = "variant",
    metric_col: Annotated[str | None, typer.Option(
        "--metric-col", help="--data: the metric (a ratio's numerator).")] = None,
    pre_col: Annotated[str | None, typer.Option(
        "--pre-col", help="--data: the metric before the experiment (for CUPED).")] = None,
    denominator_col: Annotated[str | None, typer.Option(
        "--denominator-col", help="--data: a ratio metric's denominator (sessions, "
                                  "orders).")] = None,
    control: Annotated[str, typer.Option("--control", help="--data: the control variant.")
                       ] = "control",
    weights: Annotated[str | None, typer.Option(
        "--weights", help="--data: planned shares, e.g. control=0.5,treatment=0.5 "
                          "(default: equal).")] = None,
    direction: Annotated[str, typer.Option(
        "--direction", help="--data: 'up' if higher is better, else 'down'.")] = "up",
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Count up to this day (a running experiment: the always-valid "
                        "test decides).")] = None,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    correction: Annotated[Correction, typer.Option(
        help="Across metrics and markets: holm (family-wise) or bh (false discovery "
             "rate).")] = Correction.holm,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Analyse experiments: every variant against control, per metric, overall and per
    market, with a verdict (ship, don't ship, keep running, invalid) and its reason.
    From the warehouse the analysis is stored (experiment_results), and a concluded
    experiment is added to the knowledge base."""
    day = parse_day(as_of, "--as-of") if as_of else None
    if data is not None:
        if ids:
            raise InputError("give registered experiment ids or --data, not both")
        if metric_col is None:
            raise InputError("--data needs --metric-col (the metric of each unit)")
        results = [analyze_file(data, variant=variant_col, metric=metric_col, pre=pre_col,
                                denominator=denominator_col, control=control,
                                weights=csv_list(weights), direction=direction,
                                alpha=alpha, correction=correction.value)]
        added: list[str] = []
    else:
        with open_warehouse(config, read_only=False) as wh, progress() as bar:
            bar.add_task("analysing", total=None)
            results, added = analyze_registered(wh, ids or None, as_of=day, alpha=alpha,
                                                correction=correction.value)
    for entry in added:
        err.print(f"added {entry} to the knowledge base")
    if as_json:
        print_json({"experiments": [{**r.as_dict(), "rows": records(r.rows)}
                                    for r in results], "knowledge_added": added})
        return
    for r in results:
        print_result(out, r)


@command("plan", group=experiment_app,
         epilog="Example: growthloop experiment plan --baseline 0.1 --mde 0.05 --looks 14")
def experiment_plan(
    baseline: Annotated[float, typer.Option(
        "--baseline", help="The control's conversion rate (or mean, with --sd).")],
    mde: Annotated[float | None, typer.Option(
        "--mde", help="Relative effect to detect, e.g. 0.05 for +5 %.")] = None,
    units: Annotated[int | None, typer.Option(
        "--units", min=4, help="Units available: the smallest detectable effect.")] = None,
    sd: Annotated[float | None, typer.Option(
        "--sd", help="Standard deviation of a mean metric (omit for a rate).")] = None,
    alpha: Annotated[float, typer.Option(help="Significance level (two-sided).")] = 0.05,
    power: Annotated[float, typer.Option(help="Power.")] = 0.8,
    share: Annotated[float, typer.Option("--share", help="Share of units treated.")] = 0.5,
    looks: Annotated[int | None, typer.Option(
        "--looks", min=1, help="Planned reads of the results (e.g. one a day).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sample size, minimum detectable effect and power for a two-variant experiment,
    read once at the end or at will (the always-valid test)."""
    plan = plan_experiment(baseline, sd=sd, relative_mde=mde, units=units, alpha=alpha,
                           power=power, treatment_share=share, looks=looks)
    if as_json:
        print_json(plan)
        return
    print_plan(out, plan)


@command("assign", group=experiment_app,
         epilog="Example: growthloop experiment assign checkout_redesign u123 u456")
def experiment_assign(
    experiment: Annotated[str, typer.Argument(help="A registered experiment.")],
    unit_ids: Annotated[list[str], typer.Argument(help="Unit ids (user ids).")],
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """The variant of each unit: a stable hash of the experiment's salt and the unit id
    (GrowthBook's hash version 2), the same on every call and every machine."""
    cfg = load_config(config)
    rows = assign_units(cfg, experiment, unit_ids)
    if as_json:
        print_json({"experiment": experiment, "assignments": rows})
        return
    for r in rows:
        out.print(f"{r['unit_id']}\t{r['variant']}", highlight=False)
