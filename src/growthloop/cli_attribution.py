"""The attribution commands: ``attribution`` (credits per channel) and ``roi`` (channel
economics under a named model).

Thin wrappers over ``growthloop.attribution`` with the conventions of ``growthloop.cli``:
results on stdout (one JSON document with ``--json``), messages on stderr, errors exit 1
with a one-line reason. Importing this module registers the commands on
``growthloop.cli.app``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from growthloop.cli import (
    ConfigOpt,
    JsonOpt,
    _day,
    _fmt,
    _print_json,
    _project,
    _records,
    _write_table,
    command,
    err,
    out,
)
from growthloop.errors import InputError

__all__ = ["attribution_report", "print_attribution_comparison"]

_MODEL_HELP = ("first, last, last_non_direct, linear, time_decay, position, markov or "
               "shapley.")
LookbackOpt = Annotated[float, typer.Option(help="Lookback window in days.")]
OrderOpt = Annotated[int, typer.Option(min=1, max=8, help="Markov order.")]
HalfLifeOpt = Annotated[float, typer.Option(
    "--half-life", help="Time-decay half-life: days (touches for a path file without days).")]


def _attribution_table(df: Any, title: str, value_label: str) -> RichTable:
    t = RichTable(title=title)
    markov = "removal_effect" in df.columns
    cols = ["channel", "conversions", "share", value_label]
    if markov:
        cols += ["removal effect"] + (["95% interval"] if "conversions_lo" in df.columns else [])
    for c in cols:
        t.add_column(c, justify="left" if c == "channel" else "right")
    total = float(df.conversions.sum())
    for _, r in df.iterrows():
        row = [str(r.channel), f"{r.conversions:,.1f}",
               _fmt(r.conversions / total if total else float("nan"), "pct"),
               _fmt(r.value, "money")]
        if markov:
            row.append(_fmt(r.removal_effect, "pct"))
            if "conversions_lo" in df.columns:
                row.append(f"{r.conversions_lo:,.1f} – {r.conversions_hi:,.1f}")
        t.add_row(*row)
    return t


def _groups(df: Any, columns: tuple[str, ...] = ("market", "period")) -> Any:
    """(label, rows) per market and/or period present in ``df``; one unlabelled group if
    neither is."""
    keys = [c for c in columns if c in df.columns]
    if not keys:
        return [("", df)]
    return [(", ".join(map(str, k if isinstance(k, tuple) else (k,))), g)
            for k, g in df.groupby(keys, sort=True)]


def print_attribution_comparison(df: Any, what: str = "conversions") -> None:
    """Print a ``growthloop.attribution.compare_models`` table, one per market and period
    present."""
    from rich import box

    models = [c for c in df.columns if c not in ("market", "period", "channel",
                                                  "last_vs_markov")]
    for label, g in _groups(df):
        t = RichTable(title=f"Attributed {what} by model" + (f": {label}" if label else ""),
                      box=box.SIMPLE_HEAD, show_edge=False, padding=0)
        t.add_column("channel", no_wrap=True, min_width=int(df.channel.str.len().max()))
        short = {"last_non_direct": "last-nd", "time_decay": "decay", "position": "U-shape"}
        for m in models:
            t.add_column(short.get(m, m), justify="right", no_wrap=True)
        if "last_vs_markov" in df.columns:
            t.add_column("last/mkv", justify="right", no_wrap=True)
        for _, r in g.iterrows():
            cells = [str(r.channel)] + [f"{r[m]:,.0f}" for m in models]
            if "last_vs_markov" in df.columns:
                lv = r.last_vs_markov
                cells.append("–" if lv is None or math.isnan(lv) else f"{lv:+.0%}")
            t.add_row(*cells)
        out.print(t)


@command(epilog="Example: growthloop attribution --paths paths.csv --model markov --order 1 --json")
def attribution(
    paths: Annotated[Path | None, typer.Option(
        "--paths", help="CSV or Parquet of aggregated journeys: path ('a > b'), conversions, "
                        "nulls, value. Without it, journeys come from the warehouse.")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help=_MODEL_HELP)] = "markov",
    order: OrderOpt = 1,
    compare: Annotated[bool, typer.Option("--compare", help="All models side by side.")] = False,
    by: Annotated[str | None, typer.Option(
        "--by", help="'market': one result per market (warehouse journeys).")] = None,
    conversion: Annotated[str, typer.Option(
        help="What converts: first_purchase or any_purchase (warehouse journeys).")
    ] = "first_purchase",
    lookback: LookbackOpt = 30.0,
    half_life: HalfLifeOpt = 7.0,
    bootstrap: Annotated[int, typer.Option(min=0, help="Markov bootstrap replicates for the "
                                           "95% intervals (0: none).")] = 200,
    direct: Annotated[list[str] | None, typer.Option(
        "--direct", help="Channel counted as direct by last_non_direct (repeatable; default: "
                         "channels of kind organic, or 'direct' for a path file).")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Credit conversions and value to channels: rule-based, Markov or Shapley attribution."""
    from growthloop.attribution import (
        build_paths,
        compare_models,
        direct_channels,
        make_model,
        read_paths,
    )
    from growthloop.warehouse import connect, ibis_backend

    if by not in (None, "market"):
        raise InputError(f"--by {by!r}: expected 'market'")
    currency = None
    if paths is not None:
        if by is not None:
            raise InputError("--by applies to warehouse journeys; a path file is split by "
                             "its own market column")
        table = read_paths(paths)
        names = tuple(direct or ("direct",))
        source = str(paths)
    else:
        cfg, wh = _project(config)
        con = connect(wh, read_only=True)
        try:
            table = build_paths(ibis_backend(con), cfg, conversion=conversion,  # type: ignore[arg-type]
                                lookback_days=lookback, by_market=by == "market",
                                with_days=compare or model == "time_decay")
        finally:
            con.close()
        names = tuple(direct or direct_channels(cfg) or ("direct",))
        source, currency = "warehouse", cfg.reporting_currency
    settings: dict[str, Any] = {"order": order, "direct": names, "half_life": half_life}
    if compare:
        df = compare_models(table, **settings)
        if as_json:
            _print_json({"source": source, "metric": "conversions",
                         "models": [c for c in df.columns if c not in (
                             "market", "period", "channel", "last_vs_markov")],
                         "comparison": _records(df)})
        else:
            print_attribution_comparison(df)
        return
    fitted = make_model(model, n_bootstrap=bootstrap, **settings).fit(table)
    df = fitted.credits_
    if as_json:
        params = fitted.get_params()
        if hasattr(fitted, "clock_"):
            params["clock"] = fitted.clock_
        _print_json({"model": model, "settings": params,
                     "source": source, "currency": currency,
                     "total_conversions": fitted.total_conversions_,
                     "total_value": fitted.total_value_, "credits": _records(df)})
        return
    value_label = f"value ({currency})" if currency else "value"
    name = f"{model} (order {order})" if model == "markov" else model
    for label, g in _groups(df):
        out.print(_attribution_table(g, f"Attribution: {name}" + (f", {label}" if label else ""),
                                     value_label))



def _print_economics(df: Any, currency: str) -> None:
    model = str(df.model.iloc[0]) if len(df) else ""
    for market, g in _groups(df, ("market",)):
        t = RichTable(title=f"Channel economics, {model} attribution"
                            + (f": {market}" if market else "") + f" (money in {currency})")
        for c in ("period", "channel", "spend", "new customers", "revenue", "ROAS", "ROI",
                  "CAC"):
            t.add_column(c, justify="left" if c in ("period", "channel") else "right")
        for r in g.itertuples(index=False):
            t.add_row(str(r.period), str(r.channel), _fmt(r.spend, "money"),
                      f"{r.new_customers:,.1f}", _fmt(r.revenue, "money"),
                      "–" if math.isnan(r.roas) else f"{r.roas:.2f}",
                      "–" if math.isnan(r.roi) else f"{r.roi:+.0%}",
                      _fmt(r.cac, "money2"))
        out.print(t)


@command(epilog="Example: growthloop roi --model markov --period quarter --by market "
                "--from 2025-01-01 --to 2026-01-01 --json")
def roi(
    model: Annotated[str, typer.Option("--model", "-m", help=_MODEL_HELP)] = "markov",
    period: Annotated[str, typer.Option(help="day, week, month, quarter or year.")] = "month",
    by: Annotated[str | None, typer.Option(
        "--by", help="'market': one row per market x channel x period.")] = "market",
    order: OrderOpt = 1,
    lookback: LookbackOpt = 30.0,
    half_life: HalfLifeOpt = 7.0,
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD.")
                   ] = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write .csv, .parquet or .json instead of printing.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """ROI, ROAS and CAC per channel (x market) x period from attributed new customers and
    revenue against ad spend, under one named attribution model."""
    from growthloop.attribution import MODELS, channel_economics
    from growthloop.warehouse import connect, ibis_backend

    if by not in (None, "", "market", "none"):
        raise InputError(f"--by {by!r}: expected 'market' or 'none'")
    if model not in MODELS:
        raise InputError(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    lo, hi = _day(start, "--from"), _day(end, "--to")
    cfg, wh = _project(config)
    con = connect(wh, read_only=True)
    try:
        df = channel_economics(ibis_backend(con), cfg, model=model, period=period,
                               by_market=by == "market", order=order,
                               lookback_days=lookback, half_life=half_life, start=lo, end=hi)
    finally:
        con.close()
    if out_file is not None:
        _write_table(df, out_file)
        err.print(f"wrote {len(df):,} rows to {out_file}")
    elif as_json:
        _print_json({"model": model, "period": period, "currency": cfg.reporting_currency,
                     "rows": _records(df)})
    else:
        _print_economics(df, cfg.reporting_currency)


# --------------------------------------------------------------------------- for the demo


def attribution_report(config_path: Path) -> Any:
    """Every model's first-purchase credit per market and channel from a project's
    warehouse (``growthloop.attribution.model_comparison``), for ``growthloop demo``."""
    from growthloop.attribution import model_comparison
    from growthloop.warehouse import connect, ibis_backend

    cfg, wh = _project(config_path)
    con = connect(wh, read_only=True)
    try:
        return model_comparison(ibis_backend(con), cfg, by_market=True)
    finally:
        con.close()
