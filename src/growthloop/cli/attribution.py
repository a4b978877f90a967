"""Attribution commands: ``attribution`` (credits per channel) and ``roi`` (channel
economics under a named model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from growthloop.cli.app import (
    AttributionModel,
    ConfigOpt,
    Grain,
    JsonOpt,
    ShareOpt,
    command,
    err,
    open_warehouse,
    out,
    print_consent,
    print_json,
)
from growthloop.core.config import load_config
from growthloop.core.dates import parse_day
from growthloop.core.errors import InputError
from growthloop.decide.channels import attribute, channel_economics
from growthloop.decide.media import channel_table, stored_fit
from growthloop.ingest.paths import read_paths
from growthloop.metrics.journeys import (
    build_paths,
    channel_people,
    direct_channels,
    journeys_consent,
)
from growthloop.models.attribution import compare_models
from growthloop.report.format import records, write_frame
from growthloop.report.media import print_mmm
from growthloop.report.privacy import privacy_doc, share_credits, share_economics, shared
from growthloop.report.tables import (
    print_attribution,
    print_attribution_comparison,
    print_economics,
)

__all__ = ["attribution", "roi"]

_MODEL_HELP = ("first, last, last_non_direct, linear, time_decay, position, markov or "
               "shapley.")
LookbackOpt = Annotated[float, typer.Option(help="Lookback window in days.")]
OrderOpt = Annotated[int, typer.Option(min=1, max=8, help="Markov order.")]
HalfLifeOpt = Annotated[float, typer.Option(
    "--half-life", help="Time-decay half-life: days (touches for a path file without days).")]


@command(epilog="Example: growthloop attribution --paths paths.csv --model markov --order 1 --json")
def attribution(
    paths: Annotated[Path | None, typer.Option(
        "--paths", help="CSV or Parquet of aggregated journeys: path ('a > b'), conversions, "
                        "nulls, value. Without it, journeys come from the warehouse.")] = None,
    model: Annotated[AttributionModel, typer.Option("--model", "-m", help=_MODEL_HELP)
                     ] = AttributionModel.markov,
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
    share: ShareOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Credit conversions and value to channels: rule-based, Markov or Shapley attribution.

    Warehouse journeys use the sessions of users with analytics consent only; the people
    left out are counted on stderr (and in --json).
    """
    if by not in (None, "market"):
        raise InputError(f"--by {by!r}: expected 'market'")
    currency = consent = people = None
    if paths is not None:
        if by is not None:
            raise InputError("--by applies to warehouse journeys; a path file is split by "
                             "its own market column")
        if share is None and config.exists():
            share = shared(None, load_config(config))
        if share:
            raise InputError("a path file names no people, so its cells cannot be checked "
                             "against privacy.min_group_size; suppress small groups where "
                             "the file is built, and pass --no-share")
        table = read_paths(paths)
        names = tuple(direct or ("direct",))
        source = str(paths)
    else:
        with open_warehouse(config) as wh:
            kw: dict[str, Any] = {"conversion": conversion, "lookback_days": lookback,
                                  "by_market": by == "market"}
            table = build_paths(wh.backend, wh.cfg,
                                with_days=compare or model.value == "time_decay", **kw)
            names = tuple(direct or direct_channels(wh.cfg) or ("direct",))
            currency = wh.cfg.reporting_currency
            consent = journeys_consent(wh.backend)
            share = shared(share, wh.cfg)
            if share:
                people = channel_people(wh.backend, wh.cfg, **kw).to_pandas()
            k = wh.cfg.privacy.min_group_size
        print_consent(consent)
        source = "warehouse"
    settings: dict[str, Any] = {"order": order, "direct": names, "half_life": half_life}
    extra = {"privacy": privacy_doc(None, False)}
    if compare:
        df = compare_models(table, **settings)
        models = [c for c in df.columns if c not in ("market", "period", "channel",
                                                     "last_vs_markov")]
        if people is not None:
            df = share_credits(df, people, k)
            extra["privacy"] = privacy_doc(df, True)
        if consent is not None:
            extra["consent"] = consent.as_dict()
        if as_json:
            print_json({"source": source, "metric": "conversions", **extra,
                        "models": models, "comparison": records(df)})
        else:
            print_attribution_comparison(out, df)
        return
    fitted, credits = attribute(table, model.value, n_bootstrap=bootstrap, **settings)
    if people is not None:
        credits = share_credits(credits, people, k)
        extra["privacy"] = privacy_doc(credits, True)
    if consent is not None:
        extra["consent"] = consent.as_dict()
    if as_json:
        params = fitted.get_params()
        if hasattr(fitted, "clock_"):
            params["clock"] = fitted.clock_
        print_json({"model": model.value, "settings": params, "source": source,
                    "currency": currency, **extra,
                    "total_conversions": fitted.total_conversions_,
                    "total_value": fitted.total_value_,
                    "credits": records(credits.drop(columns="share"))})
        return
    name = f"markov (order {order})" if model.value == "markov" else model.value
    print_attribution(out, credits, name, f"value ({currency})" if currency else "value")


@command(epilog="Example: growthloop roi --model markov --period quarter --by market "
                "--from 2025-01-01 --to 2026-01-01 --json")
def roi(
    model: Annotated[AttributionModel, typer.Option("--model", "-m", help=_MODEL_HELP)
                     ] = AttributionModel.markov,
    period: Annotated[Grain, typer.Option(help="Time grain (all: the whole window).")
                      ] = Grain.month,
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
    share: ShareOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """ROI, ROAS and CAC per channel (x market) x period from attributed new customers and
    revenue against ad spend, under one named attribution model.

    Journeys use the sessions of users with analytics consent only (counted on stderr).
    """
    if by not in (None, "", "market", "none"):
        raise InputError(f"--by {by!r}: expected 'market' or 'none'")
    lo = parse_day(start, "--from") if start else None
    hi = parse_day(end, "--to") if end else None
    with open_warehouse(config) as wh:
        share = shared(share, wh.cfg)
        df = channel_economics(wh.backend, wh.cfg, model=model.value, period=period.value,
                               by_market=by == "market", order=order, lookback_days=lookback,
                               half_life=half_life, start=lo, end=hi, people=share)
        if share:
            df = share_economics(df, wh.cfg.privacy.min_group_size)
        currency = wh.cfg.reporting_currency
        consent = journeys_consent(wh.backend)
        fit = stored_fit(wh)
    incremental = None if fit is None else channel_table(fit)
    print_consent(consent)
    if out_file is not None:
        write_frame(df, out_file)
        err.print(f"wrote {len(df):,} rows to {out_file}"
                  + (f" ({int(df.suppressed.sum()):,} suppressed)" if share else ""))
    elif as_json:
        print_json({"model": model.value, "period": period.value, "currency": currency,
                    "privacy": privacy_doc(df, share), "consent": consent.as_dict(),
                    "rows": records(df), "incremental": None if fit is None else {
                        "model_version": fit.version, "target": fit.meta["target"],
                        "periods": [str(fit.meta["first_period"].date()),
                                    str(fit.last_period)],
                        "rows": records(incremental)}})
    else:
        print_economics(out, df, currency)
        if fit is not None:
            print_mmm(out, incremental, fit.meta["diagnostics"], target=fit.meta["target"],
                      currency=currency, version=fit.version)
