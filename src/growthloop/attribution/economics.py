"""Channel economics from attributed results, and every model side by side.

``channel_economics`` puts attributed new customers and revenue against media spend per
channel, market and period, for one named model:

- ``new_customers``: first purchases credited to the channel (``conversion="first_purchase"``);
- ``revenue``: revenue of all purchases credited to the channel (``any_purchase`` paths,
  net of returns, reporting currency);
- ``spend``: the ``ad_spend`` table in the reporting currency (``growthloop.metrics.sources``'s
  ``spend``, converted with the day's FX rate by ``growthloop.money.to_reporting``);
- ``roas = revenue / spend``, ``roi = (revenue - spend) / spend``,
  ``cac = spend / new_customers`` (NaN where the denominator is 0).

``compare_models`` fits every model on the same paths and lays their credits side by side,
with ``last_vs_markov`` = last-touch credit / Markov credit - 1: where it is positive,
last click over-credits the channel relative to the removal effects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from ibis.backends import BaseBackend

from growthloop.attribution.journeys import (
    Conversion,
    build_paths,
    direct_channels,
    period_of,
)
from growthloop.attribution.markov import MarkovAttribution
from growthloop.attribution.paths import GROUP_COLUMNS, AttributionModel, PathsLike
from growthloop.attribution.rules import (
    FirstTouch,
    LastNonDirect,
    LastTouch,
    Linear,
    PositionBased,
    TimeDecay,
)
from growthloop.attribution.shapley import ShapleyAttribution
from growthloop.config import Config
from growthloop.errors import InputError
from growthloop.metrics.sources import spend as spend_source
from growthloop.money import no_rate_error

__all__ = [
    "MODELS",
    "channel_economics",
    "compare_models",
    "make_model",
    "model_comparison",
]

MODELS: dict[str, type[AttributionModel]] = {
    "first": FirstTouch,
    "last": LastTouch,
    "last_non_direct": LastNonDirect,
    "linear": Linear,
    "time_decay": TimeDecay,
    "position": PositionBased,
    "markov": MarkovAttribution,
    "shapley": ShapleyAttribution,
}


def make_model(name: str, *, order: int = 1, direct: Sequence[str] = ("direct",),
               half_life: float = 7.0, n_bootstrap: int = 0, random_state: int = 0,
               max_channels: int = 20) -> AttributionModel:
    """The model called ``name`` (a key of ``MODELS``) with the settings that apply to it."""
    if name not in MODELS:
        raise InputError(f"unknown attribution model {name!r}; expected one of: "
                         f"{', '.join(MODELS)}")
    if name == "markov":
        return MarkovAttribution(order=order, n_bootstrap=n_bootstrap,
                                 random_state=random_state)
    if name == "last_non_direct":
        return LastNonDirect(direct=tuple(direct))
    if name == "time_decay":
        return TimeDecay(half_life=half_life)
    if name == "shapley":
        return ShapleyAttribution(max_channels=max_channels)
    return MODELS[name]()


def compare_models(paths: PathsLike, *, models: Sequence[str] = tuple(MODELS),
                   metric: Literal["conversions", "value"] = "conversions",
                   **settings: Any) -> pd.DataFrame:
    """Credits of several models on the same paths, one column per model.

    Rows are channels (within market and period when the paths have them); ``settings``
    go to ``make_model``. With both ``last`` and ``markov``, ``last_vs_markov`` is the
    relative over- (positive) or under-credit (negative) of last touch.
    """
    if metric not in ("conversions", "value"):
        raise InputError(f"metric = {metric!r}: expected conversions or value")
    out: pd.DataFrame | None = None
    for name in models:
        credits = make_model(name, **settings).fit(paths).credits_
        keys = [c for c in GROUP_COLUMNS if c in credits.columns] + ["channel"]
        col = credits[[*keys, metric]].rename(columns={metric: name})
        out = col if out is None else out.merge(col, on=keys, how="outer")
    if out is None:
        raise InputError("no models to compare")
    if "last" in out.columns and "markov" in out.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["last_vs_markov"] = np.where(out["markov"] > 0,
                                             out["last"] / out["markov"] - 1.0, np.nan)
    return out.reset_index(drop=True)


def model_comparison(backend: BaseBackend, cfg: Config, *, by_market: bool = True,
                     conversion: Conversion = "first_purchase", lookback_days: float = 30,
                     order: int = 1, half_life: float = 7.0,
                     metric: Literal["conversions", "value"] = "conversions",
                     start: dt.date | str | None = None,
                     end: dt.date | str | None = None) -> pd.DataFrame:
    """Every model's credit per channel (and market) from the warehouse's journeys.

    Columns: ``market`` (when ``by_market``), ``channel``, then ``first``, ``last``,
    ``last_non_direct``, ``linear``, ``time_decay`` (days clock), ``position``, ``markov``,
    ``shapley`` and ``last_vs_markov``. Last non-direct treats the channels of kind
    ``organic`` as direct.
    """
    paths = build_paths(backend, cfg, conversion=conversion, lookback_days=lookback_days,
                        by_market=by_market, start=start, end=end, with_days=True)
    return compare_models(paths, metric=metric, order=order, half_life=half_life,
                          direct=direct_channels(cfg) or ("direct",))


def _credited(model: AttributionModel, keys: list[str], paths: pa.Table) -> pd.DataFrame:
    """``model``'s credits of ``paths``; no rows when there is nothing to credit (a window
    without journeys or conversions: its spend still counts)."""
    if paths.num_rows == 0 or pc.sum(paths.column("conversions")).as_py() <= 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in keys}
                            | {"conversions": pd.Series(dtype="float64"),
                               "value": pd.Series(dtype="float64")})
    return model.fit(paths).credits_


def channel_economics(backend: BaseBackend, cfg: Config, *, model: str = "markov",
                      period: str = "month", by_market: bool = True, order: int = 1,
                      lookback_days: float = 30, half_life: float = 7.0,
                      start: dt.date | str | None = None,
                      end: dt.date | str | None = None) -> pd.DataFrame:
    """ROI, ROAS and CAC per channel, market and period under attribution model ``model``.

    Returns columns ``model``, ``market`` (when ``by_market``), ``period``, ``channel``,
    ``spend``, ``new_customers``, ``revenue``, ``roas``, ``roi``, ``cac``; see the module
    docstring for the definitions. Periods follow ``build_paths``' ``by_period``.
    """
    settings = {"order": order, "half_life": half_life,
                "direct": direct_channels(cfg) or ("direct",)}
    common = {"lookback_days": lookback_days, "by_market": by_market, "by_period": period,
              "start": start, "end": end, "with_days": model == "time_decay"}
    keys = (["market"] if by_market else []) + ["period", "channel"]
    new, rev = (_credited(make_model(model, **settings), keys,
                          build_paths(backend, cfg, conversion=conversion, allow_empty=True,
                                      **common))
                for conversion in ("first_purchase", "any_purchase"))
    s = spend_source(backend, cfg)
    s = s.mutate(period=period_of(s.ts, period))
    if start is not None:
        s = s.filter(s.ts >= pd.Timestamp(start).to_pydatetime())
    if end is not None:
        s = s.filter(s.ts < pd.Timestamp(end).to_pydatetime())
    no_rate = int(s.spend.isnull().sum().to_pyarrow().as_py() or 0)
    if no_rate:
        raise no_rate_error(no_rate, "ad_spend rows")
    spend = s.group_by(keys).aggregate(spend=s.spend.sum()).to_pandas()
    out = (new[[*keys, "conversions"]].rename(columns={"conversions": "new_customers"})
           .merge(rev[[*keys, "value"]].rename(columns={"value": "revenue"}), on=keys,
                  how="outer")
           .merge(spend, on=keys, how="outer"))
    for col in ("spend", "new_customers", "revenue"):
        out[col] = out[col].astype("float64").fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["roas"] = np.where(out.spend > 0, out.revenue / out.spend, np.nan)
        out["roi"] = np.where(out.spend > 0, (out.revenue - out.spend) / out.spend, np.nan)
        out["cac"] = np.where(out.new_customers > 0, out.spend / out.new_customers, np.nan)
    out.insert(0, "model", model)
    return out.sort_values(keys, kind="stable", ignore_index=True)
