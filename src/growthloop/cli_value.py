"""The customer-value commands: ``clv fit``, ``clv validate``, ``segments`` and ``ltv``.

Thin wrappers over ``growthloop.value`` and ``growthloop.models`` with the conventions of
``growthloop.cli``: results on stdout (one JSON document with ``--json``), progress,
warnings and errors on stderr, errors exit 1 with a one-line reason. Importing this module
registers the commands on ``growthloop.cli.app``.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from growthloop.cli import (
    ConfigOpt,
    JsonOpt,
    _csv_list,
    _fail,
    _print_json,
    _progress,
    _project,
    _records,
    app,
    command,
    err,
    out,
)
from growthloop.errors import GrowthloopError, InputError

__all__ = ["clv_app", "print_value_report", "value_report", "value_report_json"]

F = TypeVar("F", bound=Callable[..., Any])

clv_app = typer.Typer(
    name="clv",
    help="Customer lifetime value: fit BG/NBD or Pareto/NBD and Gamma-Gamma, score, validate.",
    no_args_is_help=True,
    epilog="Example: growthloop clv fit --by market --horizon 365 --margin 0.3",
)
app.add_typer(clv_app, name="clv")

ChartOpt = Annotated[Path | None, typer.Option(
    "--chart", help="Also write a chart as a standalone HTML file.")]
ByOpt = Annotated[str | None, typer.Option(
    "--by", help="Fit one model per 'market' or 'channel' (acquisition channel); default "
                 "one model over all customers.")]
ModelOpt = Annotated[str, typer.Option(
    "--model", help="Purchase model: bgnbd or pareto (with --summary also gg).")]
OccasionsOpt = Annotated[str, typer.Option(
    "--occasions", help="What a purchase is: 'day' (orders of one day count once, "
                        "lifetimes' convention) or 'order'.")]


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Show the library's warnings as ``warning: ...`` lines on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            yield
        finally:
            seen = set()
            for w in caught:
                text = str(w.message)
                if text not in seen:
                    seen.add(text)
                    err.print(f"[yellow]warning:[/yellow] {escape(text)}", highlight=False)


def _clv_command(*names: str, **kw: Any) -> Callable[[F], F]:
    """``growthloop.cli.command`` for the ``clv`` sub-app."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                with _warnings_to_stderr():
                    return fn(*args, **kwargs)
            except GrowthloopError as e:
                first, *rest = str(e).splitlines() or ["failed"]
                extra = f" (+{len(rest)} more: {'; '.join(rest)})" if rest else ""
                raise _fail(first + extra) from None
            except KeyboardInterrupt:
                raise _fail("interrupted; nothing half-written was kept") from None

        clv_app.command(*names, **kw)(wrapper)
        return fn

    return deco


def _num(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _check_occasions(occasions: str) -> Any:
    if occasions not in ("day", "order"):
        raise InputError(f"--occasions {occasions!r}: expected 'day' or 'order'")
    return occasions


# --------------------------------------------------------------------------- clv fit


def _fit_summary_file(path: Path, model: str, as_json: bool) -> None:
    from growthloop.models import BGNBD, GammaGamma, ParetoNBD, read_summary

    models = {"bgnbd": BGNBD, "pareto": ParetoNBD, "gg": GammaGamma}
    if model not in models:
        raise InputError(f"unknown --model {model!r}; expected bgnbd, pareto or gg")
    df = read_summary(path)
    if model == "gg":
        if "monetary_value" not in df.columns:
            raise InputError(f"{path}: --model gg needs a 'monetary_value' column (the mean "
                             "value of each customer's repeat purchases)")
        fitted = GammaGamma().fit(df.frequency, df.monetary_value)
    else:
        fitted = models[model]().fit(df.frequency, df.recency, df["T"])
    frame = fitted.to_frame()
    doc = {
        "source": str(path), "model": model, "model_name": fitted.model_name,
        "customers": int(fitted.n_customers_),
        "params": {k: float(v) for k, v in fitted.params_.items()},
        "std_errors": {k: _finite(v) for k, v in fitted.se_.items()},
        "ci95": {k: [_finite(r.ci_low), _finite(r.ci_high)] for k, r in frame.iterrows()},
        "log_likelihood": float(fitted.loglik_),
        "converged": bool(fitted.converged_),
    }
    if as_json:
        _print_json(doc)
        return
    t = RichTable(title=f"{fitted.model_name} fitted on {doc['customers']:,} customers of "
                        f"{path.name} (times in the file's unit)")
    for c in ("parameter", "estimate", "std error", "95% interval"):
        t.add_column(c, justify="left" if c == "parameter" else "right")
    for k, r in frame.iterrows():
        t.add_row(str(k), _num(r.estimate), _num(r.std_error),
                  f"{_num(r.ci_low)} – {_num(r.ci_high)}")
    out.print(t)
    out.print(f"log-likelihood {fitted.loglik_:,.4f}"
              + ("" if fitted.converged_ else " (did not converge)"), highlight=False)


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


@_clv_command("fit", epilog="Example: growthloop clv fit --by market --horizon 365 "
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
    occasions: OccasionsOpt = "day",
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
        _fit_summary_file(summary, model, as_json)
        return
    from growthloop.value import update_scores
    from growthloop.value._charts import check_chart_path
    from growthloop.value.scoring import check_segment_dimension, check_value_settings
    from growthloop.warehouse import connect

    if chart is not None:
        check_chart_path(chart)
    if model not in ("bgnbd", "pareto"):
        raise InputError(f"--model {model!r}: with warehouse data --model picks the purchase "
                         "model, bgnbd or pareto; Gamma-Gamma is always fitted for order value")
    check_segment_dimension(by)
    check_value_settings(horizon, discount_rate, margin)
    cfg, wh = _project(config)
    con = connect(wh)
    try:
        with _progress() as bar:
            bar.add_task("fitting and scoring", total=None)
            run = update_scores(con, cfg, by=by, model=model, horizon_days=horizon,
                                discount_rate=discount_rate, margin=margin,
                                occasions=_check_occasions(occasions))
    finally:
        con.close()
    if chart is not None:
        from growthloop.value.scoring import fit_chart

        fit_chart(run.model, chart, horizon)
        err.print(f"wrote {chart}")
    params = run.model.parameters()
    if as_json:
        _print_json({
            "model": model, "by": by, "model_version": run.model_version,
            "fit_date": run.fit_date.isoformat(),
            "observation_end": run.observation_end.isoformat(),
            "currency": cfg.reporting_currency, "horizon_days": horizon,
            "discount_rate": discount_rate, "margin": margin, "occasions": occasions,
            "customers": len(run.scores),
            "pooled_segments": list(run.model.pooled_segments_),
            "segments": _segment_docs(params),
            "scores_written": len(run.scores), "tags_written": len(run.tags),
            "totals": {"clv": float(run.scores.clv.sum()),
                       "expected_purchases": float(run.scores.expected_purchases.sum())},
        })
        return
    _print_side_by_side(run.model)
    out.print(
        f"Scored {len(run.scores):,} customers: expected {run.scores.expected_purchases.sum():,.0f}"
        f" repeat purchases and {run.scores.clv.sum():,.0f} {cfg.reporting_currency} of CLV "
        f"over {horizon} days (margin {margin:g}, discount {discount_rate:g}/month).",
        highlight=False)
    out.print(f"Wrote customer_scores and user_tags: model {run.model_version}, fit "
              f"{run.fit_date}, data to {run.observation_end}.", highlight=False)


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


def _print_side_by_side(model: Any) -> None:
    params = model.parameters()
    p_name, s_name = (next(iter(d.values())).model_name for d in (model.purchase_,
                                                                   model.spend_))
    p_cols = list(next(iter(model.purchase_.values())).param_names)
    s_cols = list(next(iter(model.spend_.values())).param_names)
    t = RichTable(title=f"{p_name} and {s_name} by {model.by or 'customer base'} (times in "
                        "days; standard errors with --json)")
    for c in (model.by or "segment", "customers", *p_cols, "repeat buyers", *s_cols):
        t.add_column(c, justify="left" if c == (model.by or "segment") else "right")
    for seg, g in params.groupby("segment", sort=False):
        est = dict(zip(zip(g.model, g.parameter, strict=True), g.estimate, strict=True))
        n = dict(zip(g.model, g.customers, strict=True))
        t.add_row(str(seg), _num(int(n[p_name])),
                  *[_num(est[(p_name, k)], 3) for k in p_cols], _num(int(n[s_name])),
                  *[_num(est[(s_name, k)], 3) for k in s_cols])
    out.print(t)
    if model.pooled_segments_:
        out.print(f"Scored with the pooled models ('all'; too few customers or a degenerate "
                  f"fit): {', '.join(model.pooled_segments_)}", highlight=False)


# --------------------------------------------------------------------------- clv validate


@_clv_command("validate", epilog="Example: growthloop clv validate --holdout-from 2025-10-01 "
                                 "--chart holdout.html")
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
    occasions: OccasionsOpt = "day",
    chart: ChartOpt = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Predicted vs actual holdout purchases by calibration frequency, with error figures."""
    from growthloop.value import validate, validation_chart
    from growthloop.value._charts import check_chart_path
    from growthloop.warehouse import connect, ibis_backend

    if chart is not None:
        check_chart_path(chart)
    if model not in ("bgnbd", "pareto"):
        raise InputError(f"unknown --model {model!r}; expected bgnbd or pareto")
    cfg, wh = _project(config)
    con = connect(wh, read_only=True)
    try:
        with _progress() as bar:
            bar.add_task("calibrating", total=None)
            res = validate(ibis_backend(con), cfg, holdout_from=holdout_from,
                           holdout_to=holdout_to, by=by, model=model,
                           occasions=_check_occasions(occasions), max_bucket=buckets)
    finally:
        con.close()
    if chart is not None:
        validation_chart(res, chart)
        err.print(f"wrote {chart}")
    if as_json:
        _print_json({
            "model": model, "by": by, "calibration_end": res.calibration_end.isoformat(),
            "holdout_from": res.holdout_from.isoformat(),
            "holdout_to": res.holdout_to.isoformat(), "holdout_days": res.holdout_days,
            "table": _records(res.table), "errors": _records(res.errors),
            "parameters": _records(res.model.parameters()),
        })
        return
    t = RichTable(title=f"Holdout {res.holdout_from} to {res.holdout_to} ({res.holdout_days} "
                        f"days): repeat purchases per customer by calibration frequency")
    for c in ("frequency", "customers", "actual", "predicted", "actual total",
              "predicted total"):
        t.add_column(c, justify="right")
    for r in res.table[res.table.segment == "all"].itertuples(index=False):
        t.add_row(r.bucket, f"{r.customers:,}", f"{r.actual_mean:.3f}",
                  f"{r.predicted_mean:.3f}", f"{r.actual_total:,}",
                  f"{r.predicted_total:,.1f}")
    out.print(t)
    e = RichTable(title="Errors per customer and in total")
    for c in ("segment", "customers", "actual", "predicted", "relative error", "MAE", "RMSE",
              "bias", "z"):
        e.add_column(c, justify="left" if c == "segment" else "right")
    for r in res.errors.itertuples(index=False):
        e.add_row(str(r.segment), f"{r.customers:,}", f"{r.actual_total:,.0f}",
                  f"{r.predicted_total:,.1f}", _pct(r.relative_error), f"{r.mae:.3f}",
                  f"{r.rmse:.3f}", f"{r.bias:+.3f}", _num(r.z, 2))
    out.print(e)


def _pct(v: float) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:+.1%}"


# --------------------------------------------------------------------------- segments


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in _csv_list(text))
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
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Size and value of every value tier, RFM segment and lifecycle stage per market.

    Recomputes table user_tags from the latest customer_scores (`growthloop clv fit`).
    """
    from growthloop.value import TagSettings, segment_report, update_tags
    from growthloop.warehouse import connect

    with _warnings_to_stderr():
        settings = TagSettings(tier_cuts=_floats(tier_cuts, "--tier-cuts"),  # type: ignore[arg-type]
                               tier_kind=tier_kind,  # type: ignore[arg-type]
                               within="market" if within_market else None)
        cfg, wh = _project(config)
        con = connect(wh)
        try:
            tags = update_tags(con, cfg, settings)
        finally:
            con.close()
    report = segment_report(tags)
    as_of = str(tags.as_of.iloc[0])[:10]
    if as_json:
        _print_json({"as_of": as_of, "model_version": str(tags.model_version.iloc[0]),
                     "currency": cfg.reporting_currency, "customers": len(tags),
                     "segments": _records(report)})
        return
    markets = list(dict.fromkeys(report.market))
    titles = {"value_tier": "Value tiers", "rfm_segment": "RFM segments",
              "lifecycle_stage": "Lifecycle stages"}
    for dim, title in titles.items():
        part = report[report.dimension == dim]
        tiers = dim == "value_tier"
        t = RichTable(title=f"{title} as of {as_of}: customers (share of the market)"
                            + (f" and mean CLV ({cfg.reporting_currency})" if tiers else ""))
        t.add_column(dim.replace("_", " "))
        for m in markets:
            t.add_column(m, justify="right")
        for seg, g in part.groupby("segment", sort=False):
            cells = []
            for m in markets:
                r = g[g.market == m].iloc[0]
                cells.append("–" if r.customers == 0 else
                             f"{r.customers:,} ({r.share:.0%})"
                             + (f" {_num(r.clv_mean, 3)}" if tiers else ""))
            t.add_row(str(seg), *cells)
        out.print(t)


# --------------------------------------------------------------------------- ltv


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
    swing: Annotated[float, typer.Option("--swing", help="Tornado: relative move of each "
                                         "driver.")] = 0.2,
    chart: Annotated[Path | None, typer.Option(
        "--chart", help="Write LTV:CAC bars (with --tornado: the tornado) as a standalone "
                        "HTML file.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """LTV:CAC and payback months by acquisition channel, market or monthly cohort.

    Fits the models per market on all the data (nothing is written). CAC is spend per new
    customer, credited to the buyer's acquisition channel (last touch before sign-up).
    """
    from growthloop.value import (
        CustomerValueModel,
        customer_summary,
        five_drivers,
        ltv_cac,
        ltv_chart,
        tornado_chart,
    )
    from growthloop.value import tornado as tornado_table
    from growthloop.value._charts import check_chart_path
    from growthloop.value.economics import check_ltv_dimensions
    from growthloop.value.scoring import check_value_settings
    from growthloop.warehouse import connect, ibis_backend

    if chart is not None:
        check_chart_path(chart)
    dims = check_ltv_dimensions(_csv_list(by))
    check_value_settings(365, discount_rate, margin)
    if not 0 < swing < 1:
        raise InputError(f"--swing {swing!r}: expected a share in (0, 1), e.g. 0.2")
    cfg, wh = _project(config)
    con = connect(wh, read_only=True)
    try:
        b = ibis_backend(con)
        with _warnings_to_stderr(), _progress() as bar:
            bar.add_task("fitting per market", total=None)
            summary = customer_summary(b, cfg)
            model = CustomerValueModel(by="market").fit(summary)
            table = ltv_cac(b, cfg, by=dims, model=model, summary=summary, months=months,
                            margin=margin, discount_rate=discount_rate)
            drivers = torn = None
            if tornado:
                drivers = five_drivers(b, cfg, model=model, margin=margin)
                torn = tornado_table(drivers, swing)
    finally:
        con.close()
    if chart is not None:
        if torn is not None:
            tornado_chart(torn, chart)
        else:
            ltv_chart(table, chart)
        err.print(f"wrote {chart}")
    if as_json:
        _print_json({
            "by": dims, "months": months, "margin": margin, "discount_rate": discount_rate,
            "currency": cfg.reporting_currency, "rows": _records(table),
            "drivers": None if drivers is None else _records(drivers),
            "tornado": None if torn is None else _records(torn),
        })
        return
    t = RichTable(title=f"LTV:CAC by {', '.join(dims)} ({months}-month LTV per new customer, "
                        f"{cfg.reporting_currency}, margin {margin:g})")
    for c in (*dims, "new customers", "spend", "CAC", "LTV", "observed", "LTV:CAC",
              "payback (months)"):
        t.add_column(c, justify="left" if c in dims else "right")
    for r in table.itertuples(index=False):
        t.add_row(*[str(getattr(r, d)) for d in dims], f"{r.new_customers:,}",
                  f"{r.spend:,.0f}", _num(r.cac, 4), _num(r.ltv, 4),
                  _pct(r.realised_share).lstrip("+"), _num(r.ltv_cac, 3),
                  "–" if not math.isfinite(r.payback_months) else f"{r.payback_months:.0f}")
    out.print(t)
    if drivers is not None and torn is not None:
        d = RichTable(title="Five drivers per market: LTV per acquired user = conversion x "
                            "order value x (1 + repurchase rate x lifetime) x margin")
        for c in ("market", "CAC/user", "conversion", "repurchases/year", "order value",
                  "lifetime (years)", "LTV/user", "LTV:CAC", "moves it most"):
            d.add_column(c, justify="left" if c in ("market", "moves it most") else "right")
        top = torn[torn["rank"] == 1].set_index("market")
        for r in drivers.itertuples(index=False):
            d.add_row(r.market, _num(r.cac, 3), f"{r.conversion:.1%}",
                      _num(r.repurchase_rate, 3), _num(r.order_value, 4),
                      _num(r.lifetime, 3), _num(r.ltv, 4), _num(r.ltv_cac, 3),
                      str(top.driver.get(r.market, "–")))
        out.print(d)
        w = RichTable(title=f"Tornado: LTV:CAC with each driver at -{swing:.0%} / +{swing:.0%}")
        for c in ("market", "rank", "driver", "LTV:CAC low", "base", "LTV:CAC high"):
            w.add_column(c, justify="left" if c in ("market", "driver") else "right")
        for r in torn.itertuples(index=False):
            w.add_row(r.market, str(r.rank), r.driver, _num(r.ltv_cac_low, 3),
                      _num(r.base_ltv_cac, 3), _num(r.ltv_cac_high, 3))
        out.print(w)


# --------------------------------------------------------------------------- for the demo


def value_report(config_path: Path) -> dict[str, Any]:
    """``growthloop.value.value_summary`` of a project's warehouse (read-only), warnings
    shown on stderr; for ``growthloop demo``."""
    from growthloop.value import value_summary
    from growthloop.warehouse import connect, ibis_backend

    cfg, wh = _project(config_path)
    con = connect(wh, read_only=True)
    try:
        with _warnings_to_stderr():
            return value_summary(ibis_backend(con), cfg)
    finally:
        con.close()


def value_report_json(report: dict[str, Any]) -> dict[str, Any]:
    """The tiers and LTV:CAC of ``value_report`` as JSON-ready records."""
    return {"tiers": _records(report["tiers"]), "ltv_cac": _records(report["ltv_cac"])}


def print_value_report(report: dict[str, Any], currency: str) -> None:
    """Tier sizes per market and LTV:CAC per acquisition channel, as the demo prints them."""
    tiers = report["tiers"]
    markets = list(dict.fromkeys(tiers.market))
    t = RichTable(title=f"Value tiers by predicted 1-year CLV: customers per market (mean "
                        f"CLV, {currency})")
    t.add_column("tier")
    for m in markets:
        t.add_column(m, justify="right")
    for seg, g in tiers.groupby("segment", sort=False):
        g = g.set_index("market")
        t.add_row(str(seg), *[f"{int(g.customers[m]):,} ({g.clv_mean[m]:,.0f})"
                              if g.customers[m] else "–" for m in markets])
    out.print(t)
    ltv = report["ltv_cac"]
    months = ltv.attrs.get("months", 12)
    w = RichTable(title=f"LTV:CAC by acquisition channel ({months}-month LTV per new "
                        f"customer, {currency})")
    for c in ("channel", "new customers", "CAC", "LTV", "LTV:CAC", "payback (months)"):
        w.add_column(c, justify="left" if c == "channel" else "right")
    for r in ltv.itertuples(index=False):
        w.add_row(str(r.channel), f"{r.new_customers:,}", _num(r.cac, 4), _num(r.ltv, 4),
                  _num(r.ltv_cac, 3),
                  "–" if not math.isfinite(r.payback_months) else f"{r.payback_months:.0f}")
    out.print(w)
