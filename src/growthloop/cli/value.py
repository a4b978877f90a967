"""Customer-value commands: ``clv fit``, ``clv validate``, ``clv scores``, ``segments`` and
``ltv``."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from growthloop.cli.app import (
    ConfigOpt,
    JsonOpt,
    ShareOpt,
    app,
    command,
    err,
    open_warehouse,
    out,
    print_consent,
    print_json,
    progress,
)
from growthloop.core.errors import InputError
from growthloop.decide.holdout import validate
from growthloop.decide.ltv import check_ltv_dimensions, ltv_report
from growthloop.decide.scores import export_scores, fit_summary_file, update_scores
from growthloop.decide.tags import TagSettings, export_tags
from growthloop.decide.tags import segments as run_segments
from growthloop.models.clv.segmented import check_segment_dimension, check_value_settings
from growthloop.report.charts import (
    check_chart_path,
    fit_chart,
    ltv_chart,
    tornado_chart,
    validation_chart,
)
from growthloop.report.format import csv_list, records, write_frame
from growthloop.report.layout import paragraph
from growthloop.report.privacy import (
    chartable,
    privacy_doc,
    share_ltv,
    share_segments,
    shared,
)
from growthloop.report.tables import (
    print_fit_summary,
    print_ltv,
    print_segments,
    print_side_by_side,
    print_validation,
)

__all__ = ["clv_app", "clv_fit", "clv_scores", "clv_validate", "ltv", "segments"]

clv_app = typer.Typer(
    name="clv",
    help="Customer lifetime value: fit BG/NBD or Pareto/NBD and Gamma-Gamma, score, validate.",
    no_args_is_help=True,
    epilog="Example: growthloop clv fit --by market --horizon 365 --margin 0.3",
)
app.add_typer(clv_app, name="clv")


class Occasions(StrEnum):
    day = "day"
    order = "order"


ChartOpt = Annotated[Path | None, typer.Option(
    "--chart", help="Also write a chart as a standalone HTML file.")]
ByOpt = Annotated[str | None, typer.Option(
    "--by", help="Fit one model per 'market' or 'channel' (acquisition channel); default "
                 "one model over all customers.")]
ModelOpt = Annotated[str, typer.Option(
    "--model", help="Purchase model: bgnbd or pareto (with --summary also gg).")]
OccasionsOpt = Annotated[Occasions, typer.Option(
    "--occasions", help="What a purchase is: 'day' (orders of one day count once, "
                        "lifetimes' convention) or 'order'.")]


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _check_purchase_model(model: str) -> None:
    if model not in ("bgnbd", "pareto"):
        raise InputError(f"--model {model!r}: with warehouse data --model picks the purchase "
                         "model, bgnbd or pareto; Gamma-Gamma is always fitted for order value")


def _segment_docs(params: Any) -> list[dict[str, Any]]:
    docs = []
    for (seg, name), g in params.groupby(["segment", "model"], sort=False):
        docs.append({
            "segment": seg, "model": name, "customers": int(g.customers.iloc[0]),
            "params": dict(zip(g.parameter, map(float, g.estimate), strict=True)),
            "std_errors": dict(zip(g.parameter, map(_finite, g.std_error), strict=True)),
            "log_likelihood": float(g.log_likelihood.iloc[0]),
            "converged": bool(g.converged.iloc[0]),
        })
    return docs


def _fit_file(path: Path, model: str, as_json: bool) -> None:
    fitted = fit_summary_file(path, model)
    if not as_json:
        print_fit_summary(out, fitted, path.name)
        return
    frame = fitted.to_frame()
    print_json({
        "source": str(path), "model": model, "model_name": fitted.model_name,
        "customers": int(fitted.n_customers_),
        "params": {k: float(v) for k, v in fitted.params_.items()},
        "std_errors": {k: _finite(v) for k, v in fitted.se_.items()},
        "ci95": {k: [_finite(r.ci_low), _finite(r.ci_high)] for k, r in frame.iterrows()},
        "log_likelihood": float(fitted.loglik_),
        "converged": bool(fitted.converged_),
    })


@command("fit", group=clv_app, epilog="Example: growthloop clv fit --by market --horizon 365 "
                                      "--margin 0.3 --json (or: growthloop clv fit --summary "
                                      "customers.csv --json)")
def clv_fit(
    summary: Annotated[Path | None, typer.Option(
        "--summary", help="Fit on a per-customer summary file (CSV or Parquet with lifetimes' "
                          "columns frequency, recency, T, monetary_value; times in the "
                          "file's unit) instead of the warehouse; prints the parameters only."
    )] = None,
    model: ModelOpt = "bgnbd",
    by: ByOpt = None,
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="Prediction horizon in "
                                         "days (CLV: the nearest whole 30-day months).")
                       ] = 365,
    discount_rate: Annotated[float, typer.Option("--discount-rate", help="Monthly discount "
                                                 "rate of CLV.")] = 0.01,
    margin: Annotated[float, typer.Option("--margin", help="Share of order value that is "
                                          "profit (1: revenue CLV).")] = 1.0,
    occasions: OccasionsOpt = Occasions.day,
    chart: ChartOpt = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Fit the customer-value models and write every customer's scores and tags.

    From the warehouse: a purchase model (BG/NBD or Pareto/NBD) and a Gamma-Gamma model
    of order value per segment, then P(alive), expected purchases and CLV per customer in
    table customer_scores (with the model version and fit date) and tiers, RFM and
    lifecycle in table user_tags, both replaced in one transaction.
    """
    if summary is not None:
        if by is not None or chart is not None:
            raise InputError("--by and --chart apply to warehouse data; a --summary file is "
                             "fitted as one segment")
        _fit_file(summary, model, as_json)
        return
    if chart is not None:
        check_chart_path(chart)
    _check_purchase_model(model)
    check_segment_dimension(by)
    check_value_settings(horizon, discount_rate, margin)
    with open_warehouse(config, read_only=False) as wh, progress() as bar:
        bar.add_task("fitting and scoring", total=None)
        run = update_scores(wh.con, wh.cfg, by=by, model=model, horizon_days=horizon,
                            discount_rate=discount_rate, margin=margin,
                            occasions=occasions.value)
        currency = wh.cfg.reporting_currency
    if chart is not None:
        fit_chart(run.model, chart, horizon)
        err.print(f"wrote {chart}")
    if as_json:
        print_json({
            "model": model, "by": by, "model_version": run.model_version,
            "fit_date": run.fit_date.isoformat(),
            "observation_end": run.observation_end.isoformat(),
            "currency": currency, "horizon_days": horizon,
            "discount_rate": discount_rate, "margin": margin, "occasions": occasions.value,
            "customers": len(run.scores),
            "pooled_segments": list(run.model.pooled_segments_),
            "segments": _segment_docs(run.model.parameters()),
            "scores_written": len(run.scores), "tags_written": len(run.tags),
            "totals": {"clv": float(run.scores.clv.sum()),
                       "expected_purchases": float(run.scores.expected_purchases.sum())},
        })
        return
    print_side_by_side(out, run.model)
    paragraph(out, f"Scored {len(run.scores):,} customers: expected "
                   f"{run.scores.expected_purchases.sum():,.0f} repeat purchases and "
                   f"{run.scores.clv.sum():,.0f} {currency} of CLV over {horizon} days "
                   f"(margin {margin:g}, discount {discount_rate:g}/month).")
    paragraph(out, f"Wrote customer_scores and user_tags: model {run.model_version}, fit "
                   f"{run.fit_date}, data to {run.observation_end}.")


@command("validate", group=clv_app, epilog="Example: growthloop clv validate --holdout-from "
                                           "2025-10-01 --chart holdout.html")
def clv_validate(
    holdout_from: Annotated[str, typer.Option(
        "--holdout-from", help="First day of the holdout period, YYYY-MM-DD; the models are "
                               "fitted on the orders before it.")],
    holdout_to: Annotated[str | None, typer.Option(
        "--holdout-to", help="Last day of the holdout (default: the last order's day).")
    ] = None,
    model: ModelOpt = "bgnbd",
    by: ByOpt = None,
    buckets: Annotated[int, typer.Option("--buckets", min=1, max=50, help="Calibration "
                                         "frequencies from this up form one bucket.")] = 7,
    occasions: OccasionsOpt = Occasions.day,
    chart: ChartOpt = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Predicted vs actual holdout purchases by calibration frequency, with error figures."""
    if chart is not None:
        check_chart_path(chart)
    if model not in ("bgnbd", "pareto"):
        raise InputError(f"unknown --model {model!r}; expected bgnbd or pareto")
    with open_warehouse(config) as wh, progress() as bar:
        bar.add_task("calibrating", total=None)
        res = validate(wh.backend, wh.cfg, holdout_from=holdout_from, holdout_to=holdout_to,
                       by=by, model=model, occasions=occasions.value, max_bucket=buckets)
    if chart is not None:
        validation_chart(res, chart)
        err.print(f"wrote {chart}")
    if as_json:
        print_json({
            "model": model, "by": by, "calibration_end": res.calibration_end.isoformat(),
            "holdout_from": res.holdout_from.isoformat(),
            "holdout_to": res.holdout_to.isoformat(), "holdout_days": res.holdout_days,
            "table": records(res.table), "errors": records(res.errors),
            "parameters": records(res.model.parameters()),
        })
        return
    print_validation(out, res)


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in csv_list(text))
    except ValueError:
        raise InputError(f"{what} {text!r}: expected numbers separated by commas") from None


@command(epilog="Example: growthloop segments --tier-cuts 0.95,0.8,0.5 --json")
def segments(
    tier_cuts: Annotated[str, typer.Option(
        "--tier-cuts", help="Lower bounds of vip, high and medium: CLV quantiles (default "
                            "top 5 %, next 15 %, next 30 %) or, with --tier-kind value, "
                            "CLV amounts.")] = "0.95,0.8,0.5",
    tier_kind: Annotated[str, typer.Option(
        "--tier-kind", help="'quantile' or 'value' cut points.")] = "quantile",
    within_market: Annotated[bool, typer.Option(
        "--within-market", help="Tiers and RFM quintiles within each market.")] = False,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Also write every customer's tags, one row per person (an audience "
                      "file: .csv, .parquet or .json), for the people with marketing and "
                      "personalisation consent only.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    share: ShareOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Size and value of every value tier, RFM segment and lifecycle stage per market.

    Recomputes table user_tags from the latest customer_scores (`growthloop clv fit`).
    """
    settings = TagSettings(tier_cuts=_floats(tier_cuts, "--tier-cuts"),  # type: ignore[arg-type]
                           tier_kind=tier_kind,  # type: ignore[arg-type]
                           within="market" if within_market else None)
    with open_warehouse(config, read_only=False) as wh:
        tags, report = run_segments(wh.con, wh.cfg, settings)
        currency = wh.cfg.reporting_currency
        share = shared(share, wh.cfg)
        if share:
            report = share_segments(report, wh.cfg.privacy.min_group_size)
        exported = export_tags(wh.backend) if out_file is not None else None
    extra: dict[str, Any] = {}
    if exported is not None and out_file is not None:
        rows, consent = exported
        write_frame(rows, out_file)
        err.print(f"wrote {len(rows):,} customers' tags to {out_file}")
        print_consent(consent)
        extra = {"export": {"out": str(out_file), "rows": len(rows),
                            "consent": consent.as_dict()}}
    as_of = str(tags.as_of.iloc[0])[:10]
    if as_json:
        print_json({"as_of": as_of, "model_version": str(tags.model_version.iloc[0]),
                    "currency": currency, "customers": len(tags),
                    "privacy": privacy_doc(report, share), **extra,
                    "segments": records(report)})
        return
    print_segments(out, report, as_of, currency)


@command("scores", group=clv_app, epilog="Example: growthloop clv scores --out scores.csv")
def clv_scores(
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write .csv, .parquet or .json.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Export every customer's latest scores (P(alive), expected purchases, CLV), one row
    per person, for action: only people with marketing and personalisation consent.

    The people left out are counted on stderr (and in --json). Scores come from the last
    `growthloop clv fit`.
    """
    if out_file is None and not as_json:
        raise InputError("clv scores writes people's scores: pass --out FILE (.csv, .parquet "
                         "or .json) or --json")
    with open_warehouse(config) as wh:
        rows, consent = export_scores(wh.backend)
    print_consent(consent)
    if out_file is not None:
        write_frame(rows, out_file)
        err.print(f"wrote {len(rows):,} customers' scores to {out_file}")
    if as_json:
        print_json({"consent": consent.as_dict(), "customers": len(rows),
                    "rows": records(rows)})


@command(epilog="Example: growthloop ltv --by channel,market --tornado --chart tornado.html")
def ltv(
    by: Annotated[str, typer.Option(
        "--by", help="channel (acquisition), market and/or cohort (month of the first "
                     "purchase), comma-separated.")] = "channel",
    months: Annotated[int, typer.Option("--months", min=1, max=120, help="LTV horizon in "
                                        "30-day months from the first purchase.")] = 12,
    margin: Annotated[float, typer.Option("--margin", help="Share of order value that is "
                                          "profit (1: revenue LTV).")] = 1.0,
    discount_rate: Annotated[float, typer.Option("--discount-rate", help="Monthly discount "
                                                 "rate.")] = 0.01,
    tornado: Annotated[bool, typer.Option(
        "--tornado", help="Also the five-driver view per market and its sensitivity.")
    ] = False,
    swing: Annotated[float | None, typer.Option(
        "--swing", help="Tornado: move every driver by this share (0.2: -20 % and +20 %) "
                        "instead of its own observed range or interval.")] = None,
    chart: Annotated[Path | None, typer.Option(
        "--chart", help="Write LTV:CAC bars (with --tornado: the tornado) as a standalone "
                        "HTML file.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    share: ShareOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """LTV:CAC and payback months by acquisition channel, market or monthly cohort.

    Fits the models per market on all the data (nothing is written). CAC is spend per new
    customer, credited to the buyer's acquisition channel (last touch before sign-up).
    """
    if chart is not None:
        check_chart_path(chart)
    dims = check_ltv_dimensions(csv_list(by))
    if swing is not None and not 0 < swing < 1:
        raise InputError(f"--swing {swing!r}: expected a share in (0, 1), e.g. 0.2")
    with open_warehouse(config) as wh, progress() as bar:
        bar.add_task("fitting per market", total=None)
        table, drivers, torn = ltv_report(wh.backend, wh.cfg, by=dims, months=months,
                                          margin=margin, discount_rate=discount_rate,
                                          with_tornado=tornado,
                                          tornado_swing=swing if tornado else None)
        currency = wh.cfg.reporting_currency
        share = shared(share, wh.cfg)
        if share:
            table, drivers, torn = share_ltv(table, drivers, torn,
                                             wh.cfg.privacy.min_group_size)
    if chart is not None:
        if torn is not None:
            tornado_chart(chartable(torn), chart)
        else:
            ltv_chart(chartable(table), chart)
        err.print(f"wrote {chart}")
    if as_json:
        print_json({
            "by": dims, "months": months, "margin": margin, "discount_rate": discount_rate,
            "currency": currency, "privacy": privacy_doc(table, share),
            "rows": records(table),
            "drivers": None if drivers is None else records(drivers),
            "tornado": None if torn is None else records(torn),
        })
        return
    print_ltv(out, table, dims, months=months, currency=currency, margin=margin,
              drivers=drivers, torn=torn)
