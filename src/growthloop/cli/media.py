"""Marketing-mix commands: ``mmm fit``."""

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
from growthloop.core.dates import parse_day
from growthloop.core.errors import InputError
from growthloop.decide.loop import day_after_spend, run_loop
from growthloop.decide.media import (
    fit_mmm,
    is_money_target,
    mmm_panel,
    mmm_table_file,
    next_budget,
    read_lift_tests,
    response_curves,
    save_fit,
)
from growthloop.report.charts import check_chart_path
from growthloop.report.format import csv_list, records
from growthloop.report.media import print_budget, print_loop, print_mmm, response_chart

__all__ = ["budget", "mmm_app", "mmm_fit"]

mmm_app = typer.Typer(
    name="mmm",
    help="Marketing-mix model: what each channel's spend causes, with carry-over and "
         "saturation.",
    no_args_is_help=True,
    epilog="Example: growthloop mmm fit --by market --json",
)
app.add_typer(mmm_app, name="mmm")


class Method(StrEnum):
    map = "map"
    nuts = "nuts"


class MediaGrain(StrEnum):
    day = "day"
    week = "week"


class Cadence(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


@command("fit", group=mmm_app,
         epilog="Example: growthloop mmm fit --data weekly.csv --date week --target "
                "new_customers --spend search,social,video --json")
def mmm_fit(
    data: Annotated[Path | None, typer.Option(
        "--data", help="CSV or Parquet, one row per (market and) period: the outcome and "
                       "the spend of each channel. Without it, the warehouse.")] = None,
    date: Annotated[str, typer.Option(
        "--date", help="--data: the column of each period's first day.")] = "week",
    target: Annotated[str | None, typer.Option(
        "--target", help="--data: the outcome column; warehouse: a value KPI "
                         "(default new_users).")] = None,
    spend: Annotated[str | None, typer.Option(
        "--spend", help="--data: spend columns, comma-separated.")] = None,
    controls: Annotated[str | None, typer.Option(
        "--controls", help="--data: control columns (prices, holidays), comma-separated.")
    ] = None,
    market: Annotated[str | None, typer.Option(
        "--market", help="--data: the market column (markets are fitted together).")
    ] = None,
    money: Annotated[bool, typer.Option(
        "--money", help="--data: the outcome is money in the spend's currency (revenue): "
                        "report ROAS and ROI.")] = False,
    by: Annotated[str, typer.Option(
        "--by", help="Warehouse: 'market' (markets fitted together, the only choice).")
    ] = "market",
    grain: Annotated[MediaGrain, typer.Option(help="Warehouse: period of the panel.")
                     ] = MediaGrain.week,
    method: Annotated[Method, typer.Option(
        help="map: posterior mode with a Laplace approximation (seconds); nuts: the full "
             "posterior.")] = Method.map,
    holdout: Annotated[int, typer.Option(
        min=0, help="Last periods kept out of the fit to report its error on them.")] = 0,
    draws: Annotated[int, typer.Option(min=50, max=20_000,
                                       help="Posterior draws behind the intervals.")] = 500,
    level: Annotated[float, typer.Option(help="Interval level.")] = 0.9,
    seed: Annotated[int, typer.Option(help="Seed of the draws.")] = 0,
    chart: Annotated[Path | None, typer.Option(
        "--chart", help="Write the response curves as a standalone HTML file.")] = None,
    lift_tests: Annotated[Path | None, typer.Option(
        "--lift-tests", help="CSV or Parquet of lift tests that calibrate their channels: "
                             "market, channel, spend, delta_spend, lift, lift_se (per "
                             "period).")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Fit the marketing-mix model: contribution, outcome per spend (ROAS for revenue)
    and marginal return per channel and market, with intervals and half-lives."""
    if chart is not None:
        check_chart_path(chart)
    if not 0 < level < 1:
        raise InputError(f"--level {level!r}: expected a share in (0, 1), e.g. 0.9")
    currency = version = None
    calibration = read_lift_tests(lift_tests) if lift_tests is not None else None
    if data is not None:
        if not target or not spend:
            raise InputError("--data needs --target (the outcome column) and --spend (the "
                             "spend columns)")
        panel = mmm_table_file(data, date=date, target=target, spend=csv_list(spend),
                               market=market, controls=csv_list(controls))
        source = str(data)
    else:
        if by != "market":
            raise InputError(f"--by {by!r}: expected 'market'")
        if spend or controls or market or money:
            raise InputError("--spend, --controls, --market and --money describe a --data "
                             "file; the warehouse panel has its own")
        target = target or "new_users"
        source = "warehouse"
    with progress() as bar:
        bar.add_task(f"fitting ({method.value})", total=None)
        if data is not None:
            model, table = fit_mmm(panel, method=method.value, holdout=holdout, draws=draws,
                                   level=level, seed=seed, money_target=money,
                                   calibration=calibration)
        else:
            with open_warehouse(config, read_only=False) as wh:
                panel = mmm_panel(wh.backend, wh.cfg, grain=grain.value, target=target)
                money = is_money_target(wh.cfg, target)
                currency = wh.cfg.reporting_currency
                model, table = fit_mmm(panel, method=method.value, holdout=holdout,
                                       draws=draws, level=level, seed=seed,
                                       money_target=money, calibration=calibration)
                version = save_fit(wh, model, table, money=money, level=level)
    if version is not None:
        err.print(f"stored the fit in the warehouse as {version}")
    if chart is not None:
        response_chart(response_curves(model), chart, target=target)
        err.print(f"wrote {chart}")
    if as_json:
        print_json({"source": source, "model_version": version, "target": target,
                    "currency": currency,
                    "grain_days": panel.period_days, "markets": panel.markets,
                    "channels": panel.channels, "controls": panel.controls,
                    "periods": [str(panel.periods[0].date()), str(panel.periods[-1].date())],
                    "level": level, "diagnostics": model.diagnostics_,
                    "rows": records(table)})
        return
    print_mmm(out, table, model.diagnostics_, target=target, currency=currency)


@command(epilog="Example: growthloop budget --max-step 0.2 --exploration 0.05 --json")
def budget(
    total: Annotated[float | None, typer.Option(
        "--total", help="Spend per period to allocate (default: the mean of the last 4 "
                        "periods).")] = None,
    max_step: Annotated[float, typer.Option(
        "--max-step", help="Largest change of a market x channel's spend from its current "
                           "level (0.2: +-20 %).")] = 0.2,
    exploration: Annotated[float, typer.Option(
        "--exploration", help="Share of the budget kept out for tests of new channels.")
    ] = 0.05,
    min_marginal_roi: Annotated[float | None, typer.Option(
        "--min-marginal-roi", help="No spend where the next unit returns less (revenue "
                                   "targets).")] = None,
    target: Annotated[str, typer.Option(help="The outcome KPI to maximise.")] = "new_users",
    grain: Annotated[MediaGrain, typer.Option(help="Period of the model and the plan.")
                     ] = MediaGrain.week,
    draws: Annotated[int, typer.Option(min=50, max=20_000,
                                       help="Posterior draws behind the intervals.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the draws.")] = 0,
    refit: Annotated[bool, typer.Option(
        "--refit", help="Fit the model again even when the warehouse has a fit of the "
                        "latest period.")] = False,
    cadence: Annotated[Cadence | None, typer.Option(
        "--cadence", help="Run the re-allocation loop: check each channel's observed return "
                          "against the model, flag shifts, and plan the next week "
                          "(daily: every day on the last 7; monthly: every 28 days).")
    ] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="--cadence: the first day the step does not see (default: the day "
                        "after the last spend).")] = None,
    steps: Annotated[int, typer.Option(
        "--steps", min=1, max=520, help="--cadence: steps to run, ending at --as-of (the "
                                        "earlier ones replayed on their own days' data).")
    ] = 1,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """The next period's budget per market and channel from the marketing-mix model: the
    allocation that maximises the outcome within the step limit, with the expected
    outcome against the current plan and the constraints that bind. With --cadence, the
    re-allocation loop, whose steps are stored in the warehouse's budget_plans."""
    if cadence is not None:
        _loop(config, cadence=cadence.value, as_of=as_of, steps=steps, target=target,
              total=total, max_step=max_step, exploration=exploration, draws=draws,
              seed=seed, as_json=as_json)
        return
    if as_of is not None or steps != 1:
        raise InputError("--as-of and --steps go with --cadence")
    with open_warehouse(config, read_only=False) as wh, progress() as bar:
        bar.add_task("planning", total=None)
        run = next_budget(wh, grain=grain.value, target=target, total=total,
                          max_step=max_step, exploration_share=exploration,
                          min_marginal_roi=min_marginal_roi, draws=draws, seed=seed,
                          refit=refit)
        currency = wh.cfg.reporting_currency
    plan, start = run.plan, run.start
    err.print(f"{'fitted and stored' if run.refitted else 'read'} the model "
              f"{run.fit.version} (periods to {run.fit.last_period})")
    if as_json:
        print_json({"target": target, "currency": currency, "grain": grain.value,
                    "model_version": run.fit.version, "refitted": run.refitted,
                    "period_starting": str(start),
                    "binding": list(plan.binding), "exploration": plan.exploration,
                    "unallocated": plan.unallocated,
                    "probability_better": plan.probability_better,
                    "totals": records(plan.totals.reset_index(names="plan")),
                    "pairs": records(plan.table)})
        return
    print_budget(out, plan, target=target, currency=currency, start=start)


def _loop(config: Path, *, cadence: str, as_of: str | None, steps: int, target: str,
          total: float | None, max_step: float, exploration: float, draws: int, seed: int,
          as_json: bool) -> None:
    """``budget --cadence``: the loop's steps, stored, then printed."""
    with open_warehouse(config, read_only=False) as wh:
        day = parse_day(as_of, "--as-of") if as_of else day_after_spend(wh)
        with progress() as bar:
            bar.add_task(f"{steps} step(s) of the {cadence} loop", total=None)
            done = run_loop(wh, day, steps=steps, cadence=cadence, target=target,
                            total=total, max_step=max_step, exploration_share=exploration,
                            draws=draws, seed=seed)
        currency = wh.cfg.reporting_currency
    if as_json:
        print_json({"cadence": cadence, "target": target, "currency": currency,
                    "steps": [{
                        "as_of": str(s.as_of), "model_version": s.fit.version,
                        "refitted": s.refitted,
                        "flagged": [{"market": m, "channel": c} for m, c in s.flagged],
                        "performance": records(s.performance),
                        "binding": list(s.plan.binding),
                        "totals": records(s.plan.totals.reset_index(names="plan")),
                        "pairs": records(s.plan.table.assign(
                            reason=s.reasons.to_numpy()))} for s in done]})
        return
    print_loop(out, done, target=target, currency=currency)
