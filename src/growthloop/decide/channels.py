"""Channel economics from attributed results, and every model side by side.

``channel_economics`` puts attributed new customers and revenue against media spend per
channel, market and period, for one named model:

- ``new_customers``: first purchases credited to the channel (``conversion="first_purchase"``);
- ``revenue``: revenue of all purchases credited to the channel (``any_purchase`` paths,
  net of returns, reporting currency);
- ``spend``: the ``ad_spend`` table in the reporting currency (``growthloop.metrics.sources``'s
  ``spend``, converted with the day's FX rate by ``growthloop.core.money.convert``);
- ``roas``, ``roi`` and ``cac`` by the glossary's functions (``growthloop.core.glossary``:
  ``revenue / spend``, ``(revenue - spend) / spend``, ``spend / new_customers``; NaN where
  the denominator is 0), on the basis of the named model's credit;
- ``people`` (with ``people=True``): the distinct buyers behind the row's credit, those
  with a converting journey touching the channel (``growthloop.metrics.journeys``'s
  ``channel_people``), for small-cell suppression; spend is not about people.

``model_comparison`` lays every model's credit side by side on the warehouse's journeys
(``growthloop.models.attribution.compare_models``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from ibis.backends import BaseBackend

from growthloop.core import glossary
from growthloop.core.config import Config
from growthloop.core.dates import period_label
from growthloop.ingest.paths import GROUP_COLUMNS, PathsLike
from growthloop.metrics.journeys import (
    Conversion,
    build_paths,
    channel_people,
    direct_channels,
)
from growthloop.metrics.sources import spend as spend_source
from growthloop.models.attribution.compare import compare_models, make_model
from growthloop.models.attribution.paths import AttributionModel

__all__ = ["CREDIT_RESIDUE", "attribute", "channel_economics", "model_comparison"]

#: Attributed credit at most this share of the total is rounding residue of the models'
#: linear algebra (a channel with no conversions in a period gets 1e-17, not 0), so it
#: counts as 0: a CAC of spend / 1e-17 would be noise, not a number.
CREDIT_RESIDUE = 1e-9

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
                      end: dt.date | str | None = None, people: bool = False
                      ) -> pd.DataFrame:
    """ROI, ROAS and CAC per channel, market and period under attribution model ``model``.

    Returns columns ``model``, ``market`` (when ``by_market``), ``period``, ``channel``,
    ``spend``, ``new_customers``, ``revenue``, ``roas``, ``roi``, ``cac`` (and ``people``
    with ``people=True``); see the module docstring for the definitions. Periods follow
    ``build_paths``' ``by_period``.
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
    s = s.mutate(period=period_label(s.ts, period))
    if start is not None:
        s = s.filter(s.ts >= pd.Timestamp(start).to_pydatetime())
    if end is not None:
        s = s.filter(s.ts < pd.Timestamp(end).to_pydatetime())
    spend = s.group_by(keys).aggregate(spend=s.spend.sum()).to_pandas()
    out = (new[[*keys, "conversions"]].rename(columns={"conversions": "new_customers"})
           .merge(rev[[*keys, "value"]].rename(columns={"value": "revenue"}), on=keys,
                  how="outer")
           .merge(spend, on=keys, how="outer"))
    for col in ("spend", "new_customers", "revenue"):
        out[col] = out[col].astype("float64").fillna(0.0)
    for col in ("new_customers", "revenue"):  # credit below 1e-9 of the total: float residue
        tiny = out[col].abs() <= CREDIT_RESIDUE * max(float(out[col].abs().sum()), 1.0)
        out.loc[tiny, col] = 0.0
    out["roas"] = glossary.roas(out.revenue, out.spend)
    out["roi"] = glossary.roi(out.revenue, out.spend)
    out["cac"] = glossary.cac(out.spend, out.new_customers)
    if people:  # any-purchase journeys hold the first-purchase ones: their buyers are all
        who = channel_people(backend, cfg, conversion="any_purchase",
                             lookback_days=lookback_days, by_market=by_market,
                             by_period=period, start=start, end=end).to_pandas()
        out = out.merge(who, on=keys, how="left")
        out["people"] = out.people.fillna(0).astype("int64")
    out.insert(0, "model", model)
    return out.sort_values(keys, kind="stable", ignore_index=True)


def attribute(paths: PathsLike, model: str = "markov", *, order: int = 1,
              direct: Sequence[str] = ("direct",), half_life: float = 7.0,
              n_bootstrap: int = 0) -> tuple[AttributionModel, pd.DataFrame]:
    """Fit attribution model ``model`` on ``paths``: the fitted model and its credits with
    each channel's ``share`` of its market's and period's conversions."""
    fitted = make_model(model, order=order, direct=direct, half_life=half_life,
                        n_bootstrap=n_bootstrap).fit(paths)
    credits = fitted.credits_.copy()
    keys = [c for c in GROUP_COLUMNS if c in credits.columns]
    total = (credits.groupby(keys).conversions.transform("sum") if keys
             else credits.conversions.sum())
    credits["share"] = glossary.ratio(credits.conversions, total)
    return fitted, credits
