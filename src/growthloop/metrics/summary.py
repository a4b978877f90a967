"""Headline numbers per market, the first thing the demo shows.

Every number is a catalog KPI over the whole window (grain ``all``), so it is the same
number ``growthloop kpi`` reports (``growthloop.core.glossary``):

- users: the ``new_users`` KPI (users who signed up);
- buyers: users with at least one order that was not cancelled (the denominator of
  ``repurchase_rate``);
- revenue: the ``revenue`` KPI (net revenue in the reporting currency);
- conversion: ``glossary.conversion_rate(buyers, users)``;
- order value: the ``average_order_value`` KPI;
- repurchase rate: the ``repurchase_rate`` KPI (over the whole window: buyers with two or
  more orders / buyers).
"""

from __future__ import annotations

import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core import glossary
from growthloop.core.config import Config
from growthloop.metrics.compile import compile_kpi
from growthloop.metrics.sources import cached_sources

__all__ = ["SUMMARY_COLUMNS", "market_summary"]

SUMMARY_COLUMNS = ("market", "users", "buyers", "revenue", "conversion", "order_value",
                   "repurchase_rate")


def market_summary(backend: BaseBackend, cfg: Config) -> pd.DataFrame:
    """One row per market (and a total row ``all``) with the headline numbers above."""
    frames = []
    with cached_sources(backend, cfg) as cache:
        for by in (["market"], []):
            got = {name: compile_kpi(name, backend, cfg, grain="all", by=by, cache=cache)
                   .execute().set_index(by or "period")
                   for name in ("new_users", "revenue", "average_order_value",
                                "repurchase_rate")}
            df = pd.DataFrame({
                "users": got["new_users"].numerator,
                "buyers": got["repurchase_rate"].denominator,
                "revenue": got["revenue"].value,
                "order_value": got["average_order_value"].value,
                "repurchase_rate": got["repurchase_rate"].value,
            })
            df.index = df.index.astype(str) if by else ["all"]
            frames.append(df)
    out = pd.concat(frames).rename_axis("market").reset_index()
    out[["users", "buyers"]] = out[["users", "buyers"]].fillna(0).astype("int64")
    out["revenue"] = out.revenue.fillna(0.0)
    out["conversion"] = glossary.conversion_rate(out.buyers, out.users)
    known = out.market.isin([*cfg.market_codes, "all"])
    out = pd.concat([out[known & (out.market != "all")].sort_values("market"),
                     out[~known], out[out.market == "all"]], ignore_index=True)
    return out[list(SUMMARY_COLUMNS)]
