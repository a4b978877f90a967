"""Tags per customer: value tier, RFM scores and segments, lifecycle stage, high value.

Rules, each a small pure function:

- **Value tier** (``value_tiers``) by predicted CLV. With quantile cut points (the
  default ``(0.95, 0.80, 0.50)``) a customer is ``vip`` when at least 95 % of customers
  have a strictly lower CLV (the top 5 %), ``high`` from 80 % (the next 15 %), ``medium``
  from 50 % (the next 30 %) and ``low`` otherwise; ties share the lower tier. With
  ``kind="value"`` the cut points are CLV amounts in the reporting currency.
- **High value** (``high_value``): tier ``vip`` or ``high``. With quantile cut points the
  share of high-value customers is fixed by construction (20 %); a high-value-share KPI
  needs cut points frozen as amounts (``kind="value"``).
- **RFM scores** (``rfm_scores``), after Hughes (1994): recency (days since the last
  purchase, fewer is better), frequency (purchase days) and monetary value (total value)
  each scored 1-5 by quintile, 5 best: ``score = 1 + floor(5 * share of customers with a
  strictly worse value)``, so tied customers share a score (all one-time buyers get
  frequency 1 rather than being split at random).
- **RFM segment** (``rfm_segment``): the widely used recency x frequency grid
  (``RFM_GRID``): champions, loyal, potential loyalist, new, promising, need attention,
  about to sleep, at risk, can't lose, hibernating.
- **Lifecycle stage** (``lifecycle_stage``), rules in order with ``LifecycleRules``:
  ``new`` if the first purchase was at most ``new_days`` ago; else ``churned`` if the
  last purchase was more than ``churn_days`` ago; else ``at_risk`` if more than
  ``active_days`` ago; else ``reactivated`` if the gap before the last purchase was more
  than ``churn_days`` (the customer had lapsed and came back); else ``active``.

``export_tags`` is the per-person export, meant for action (an audience file): every
customer's tags, keeping only people with marketing and personalisation consent (the tier
comes from a prediction; ``growthloop.ingest.consent``, use ``tags``).

References
----------
.. [1] Hughes, A. M. (1994), Strategic Database Marketing, Probus (RFM quintile scores).
.. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: using
   iso-value curves for customer base analysis", Journal of Marketing Research, 42(4),
   415-430 (CLV from the RFM summary).
.. [3] The recency x frequency segment grid as popularised by RFM tooling, e.g. Putler,
   "RFM analysis for successful customer segmentation" (2019).
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.errors import GrowthloopWarning, InputError
from growthloop.ingest.consent import ConsentReport, consented_rows
from growthloop.metrics.customers import customer_summary
from growthloop.warehouse import ibis_backend, transaction
from growthloop.warehouse.store import TAG_COLUMNS, read_scores, read_tags, write_tags

__all__ = [
    "DEFAULT_TIER_CUTS",
    "LIFECYCLE_STAGES",
    "RFM_GRID",
    "RFM_SEGMENTS",
    "TIERS",
    "LifecycleRules",
    "TagSettings",
    "export_tags",
    "high_value",
    "lifecycle_stage",
    "quintile_scores",
    "rfm_scores",
    "rfm_segment",
    "segment_report",
    "segments",
    "tag_customers",
    "update_tags",
    "value_tiers",
]

TIERS: tuple[str, ...] = ("vip", "high", "medium", "low")
DEFAULT_TIER_CUTS: tuple[float, float, float] = (0.95, 0.80, 0.50)
LIFECYCLE_STAGES: tuple[str, ...] = ("new", "active", "reactivated", "at_risk", "churned")

#: (segment, recency scores, frequency scores): every (R, F) pair in exactly one row.
RFM_GRID: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("champions", (5,), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("potential_loyalist", (4, 5), (2, 3)),
    ("new", (5,), (1,)),
    ("promising", (4,), (1,)),
    ("need_attention", (3,), (3,)),
    ("about_to_sleep", (3,), (1, 2)),
    ("at_risk", (1, 2), (3, 4)),
    ("cant_lose", (1, 2), (5,)),
    ("hibernating", (1, 2), (1, 2)),
)
RFM_SEGMENTS: tuple[str, ...] = tuple(name for name, _, _ in RFM_GRID)

@dataclass(frozen=True)
class LifecycleRules:
    """Day thresholds of the lifecycle stages (see the module notes for the rule order)."""

    new_days: int = 30
    active_days: int = 90
    churn_days: int = 180

    def __post_init__(self) -> None:
        if not (self.new_days >= 0 and 0 < self.active_days < self.churn_days):
            raise InputError(
                f"lifecycle rules need 0 <= new_days and 0 < active_days < churn_days; got "
                f"{self.new_days}, {self.active_days}, {self.churn_days}")


@dataclass(frozen=True)
class TagSettings:
    """Settings of ``tag_customers``.

    Parameters
    ----------
    tier_cuts : three numbers
        Lower bounds of vip, high and medium, decreasing: CLV quantiles in (0, 1) for
        ``tier_kind="quantile"``, CLV amounts for ``"value"``.
    tier_kind : {"quantile", "value"}
    within : {"market"} or None
        Compute quantile tiers and RFM quintiles within each market rather than over all
        customers.
    lifecycle : LifecycleRules
    """

    tier_cuts: tuple[float, float, float] = DEFAULT_TIER_CUTS
    tier_kind: Literal["quantile", "value"] = "quantile"
    within: Literal["market"] | None = None
    lifecycle: LifecycleRules = field(default_factory=LifecycleRules)

    def __post_init__(self) -> None:
        _check_cuts(self.tier_cuts, self.tier_kind)
        if self.within not in (None, "market"):
            raise InputError(f"within must be 'market' or None; got {self.within!r}")


def _check_cuts(cuts: tuple[float, ...], kind: str) -> None:
    if kind not in ("quantile", "value"):
        raise InputError(f"tier kind must be 'quantile' or 'value'; got {kind!r}")
    c = np.asarray(cuts, dtype=np.float64)
    if c.shape != (3,) or not np.all(np.isfinite(c)) or not np.all(np.diff(c) < 0):
        raise InputError(
            f"tier cut points must be three decreasing numbers (lower bounds of vip, high "
            f"and medium); got {tuple(cuts)!r}")
    if kind == "quantile" and not (c[-1] > 0 and c[0] < 1):
        raise InputError(f"quantile cut points must lie strictly between 0 and 1; got "
                         f"{tuple(cuts)!r}")


def _lower_share(values: np.ndarray) -> np.ndarray:
    """Share of the values strictly below each value."""
    v = np.asarray(values, dtype=np.float64)
    return np.searchsorted(np.sort(v), v, side="left") / len(v) if len(v) else v


def value_tiers(clv: np.ndarray | pd.Series,
                cuts: tuple[float, float, float] = DEFAULT_TIER_CUTS,
                kind: Literal["quantile", "value"] = "quantile") -> np.ndarray:
    """``vip``, ``high``, ``medium`` or ``low`` per customer by CLV (see the module notes)."""
    _check_cuts(cuts, kind)
    v = np.asarray(clv, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise InputError("CLV has missing or infinite values; rescore the customers")
    level = _lower_share(v) if kind == "quantile" else v
    out = np.full(len(v), "low", dtype=object)
    for tier, cut in zip(TIERS[2::-1], cuts[::-1], strict=True):  # medium, high, vip
        out[level >= cut] = tier
    return out


def high_value(tiers: np.ndarray | pd.Series) -> np.ndarray:
    """The high-value flag: tier ``vip`` or ``high``."""
    return np.isin(np.asarray(tiers, dtype=object), ("vip", "high"))


def quintile_scores(values: np.ndarray | pd.Series) -> np.ndarray:
    """1-5 by quintile, 5 for the highest values; tied values share the lower score."""
    v = np.asarray(values, dtype=np.float64)
    return (1 + np.floor(5 * _lower_share(v))).astype(np.int64)


def rfm_scores(days_since_last: np.ndarray | pd.Series, orders: np.ndarray | pd.Series,
               total_value: np.ndarray | pd.Series) -> pd.DataFrame:
    """Recency, frequency and monetary quintile scores (Hughes 1994), 5 best.

    Recency is scored on minus the days since the last purchase, so the most recent
    customers get 5.
    """
    return pd.DataFrame({
        "rfm_recency": quintile_scores(-np.asarray(days_since_last, dtype=np.float64)),
        "rfm_frequency": quintile_scores(orders),
        "rfm_monetary": quintile_scores(total_value),
    })


def rfm_segment(recency: np.ndarray | pd.Series,
                frequency: np.ndarray | pd.Series) -> np.ndarray:
    """The named segment of each (recency score, frequency score) pair (``RFM_GRID``)."""
    r = np.asarray(recency)
    f = np.asarray(frequency)
    if len(r) and not (np.isin(r, range(1, 6)).all() and np.isin(f, range(1, 6)).all()):
        raise InputError("RFM scores must be whole numbers from 1 to 5")
    out = np.full(len(r), "", dtype=object)
    for name, rs, fs in RFM_GRID:
        out[np.isin(r, rs) & np.isin(f, fs)] = name
    return out


def lifecycle_stage(days_since_first: np.ndarray | pd.Series,
                    days_since_last: np.ndarray | pd.Series,
                    last_gap_days: np.ndarray | pd.Series,
                    rules: LifecycleRules | None = None) -> np.ndarray:
    """``new``, ``churned``, ``at_risk``, ``reactivated`` or ``active`` (rules in order).

    ``last_gap_days`` is the time between the last two purchases (NaN with only one).
    """
    rules = rules or LifecycleRules()
    first = np.asarray(days_since_first, dtype=np.float64)
    last = np.asarray(days_since_last, dtype=np.float64)
    gap = np.asarray(last_gap_days, dtype=np.float64)
    return np.select(
        [first <= rules.new_days, last > rules.churn_days, last > rules.active_days,
         np.nan_to_num(gap, nan=0.0) > rules.churn_days],
        ["new", "churned", "at_risk", "reactivated"],
        default="active",
    ).astype(object)


def tag_customers(summary: pd.DataFrame, scores: pd.DataFrame,
                  settings: TagSettings | None = None, *, as_of: dt.date,
                  model_version: str, tagged_on: dt.date) -> pd.DataFrame:
    """Every tag per customer, as the rows of ``user_tags``.

    ``summary`` is a ``customer_summary`` frame and ``scores`` its
    ``CustomerValueModel.score`` output, row for row.
    """
    settings = settings or TagSettings()
    if len(summary) != len(scores):
        raise InputError("summary and scores must have one row per customer each, in the "
                         "same order")
    s = summary.reset_index(drop=True)
    clv = scores["clv"].to_numpy(np.float64)
    groups = (list(s.groupby("market").indices.values()) if settings.within == "market"
              else [np.arange(len(s))])
    if settings.tier_kind == "value":
        tiers = value_tiers(clv, settings.tier_cuts, "value")
    else:
        tiers = np.empty(len(s), dtype=object)
        for idx in groups:
            tiers[idx] = value_tiers(clv[idx], settings.tier_cuts, "quantile")
    rfm_arr = np.zeros((len(s), 3), dtype=np.int64)
    for idx in groups:
        part = s.iloc[idx]
        rfm_arr[idx] = rfm_scores(part.days_since_last, part.orders,
                                 part.total_value).to_numpy()
    rfm = pd.DataFrame(rfm_arr, columns=["rfm_recency", "rfm_frequency", "rfm_monetary"])
    out = pd.DataFrame({
        "user_id": s.user_id.to_numpy(), "market": s.market.to_numpy(),
        "channel": s.channel.to_numpy(), "orders": s.orders.to_numpy(np.int64),
        "total_value": s.total_value.to_numpy(np.float64),
        "days_since_last": s.days_since_last.to_numpy(np.int64), "clv": clv,
        "value_tier": tiers, "high_value": high_value(tiers),
    })
    for c in rfm.columns:
        out[c] = rfm[c].to_numpy()
    out["rfm_score"] = (rfm.rfm_recency.astype(str) + rfm.rfm_frequency.astype(str)
                        + rfm.rfm_monetary.astype(str)).to_numpy()
    out["rfm_segment"] = rfm_segment(rfm.rfm_recency, rfm.rfm_frequency)
    out["lifecycle_stage"] = lifecycle_stage(s.days_since_first, s.days_since_last,
                                             s.last_gap_days, settings.lifecycle)
    out["as_of"] = as_of.isoformat()
    out["model_version"] = model_version
    out["tagged_on"] = tagged_on.isoformat()
    return out[list(TAG_COLUMNS)]


def update_tags(con: duckdb.DuckDBPyConnection, cfg: Config,
                settings: TagSettings | None = None, *,
                tagged_on: dt.date | None = None) -> pd.DataFrame:
    """Recompute ``user_tags`` from ``customer_scores`` with ``settings``; the new tags.

    The facts (orders, days since the last purchase, ...) are taken at the scores'
    ``observation_end``; customers without a score (loaded after the fit) are left out
    with a warning. The table is replaced in one transaction.
    """

    backend = ibis_backend(con)
    scores = read_scores(backend)
    end = pd.Timestamp(scores.observation_end.iloc[0]).date()
    summary = customer_summary(backend, cfg, observation_end=end)
    merged = summary.merge(scores[["user_id", "clv"]], on="user_id", how="inner")
    if len(merged) < len(summary):
        warnings.warn(
            f"{len(summary) - len(merged)} customers with orders up to {end} have no score "
            "(loaded after the last fit) and get no tags; run `growthloop clv fit` again",
            GrowthloopWarning,
            stacklevel=2,
        )
    tags = tag_customers(merged, merged, settings, as_of=end,
                         model_version=str(scores.model_version.iloc[0]),
                         tagged_on=tagged_on or dt.datetime.now(dt.UTC).date())
    with transaction(con):
        write_tags(con, tags)
    return tags


def segment_report(tags: pd.DataFrame) -> pd.DataFrame:
    """Size and value of every tag value per market, and over all markets.

    One row per market (``all`` included), dimension (``value_tier``, ``rfm_segment``,
    ``lifecycle_stage``) and segment: ``customers``, ``share`` of the market's customers,
    ``clv`` (sum of predicted value), ``clv_mean``, ``total_value`` (value to date) and
    ``clv_share`` of the market's predicted value.
    """
    order = {"value_tier": TIERS, "rfm_segment": RFM_SEGMENTS,
             "lifecycle_stage": LIFECYCLE_STAGES}
    frames = []
    both = pd.concat([tags, tags.assign(market="all")], ignore_index=True)
    markets = [*sorted(tags.market.unique()), "all"]
    for dim, names in order.items():
        g = both.groupby(["market", dim], observed=True).agg(
            customers=("user_id", "size"), clv=("clv", "sum"),
            total_value=("total_value", "sum"))
        full = pd.MultiIndex.from_product([markets, names], names=["market", "segment"])
        g.index = g.index.set_names(["market", "segment"])
        g = g.reindex(full, fill_value=0).reset_index()
        per_market = g.groupby("market")[["customers", "clv"]].transform("sum")
        g["share"] = g.customers / per_market.customers
        g["clv_share"] = (g.clv / per_market.clv).where(per_market.clv > 0)
        g["clv_mean"] = (g.clv / g.customers).where(g.customers > 0)
        g.insert(1, "dimension", dim)
        frames.append(g)
    out = pd.concat(frames, ignore_index=True)
    out["market"] = pd.Categorical(out.market, markets, ordered=True)
    out = out.sort_values(["market", "dimension"], kind="stable")
    out["market"] = out.market.astype(str)
    return out[["market", "dimension", "segment", "customers", "share", "clv", "clv_mean",
                "clv_share", "total_value"]].reset_index(drop=True)


def segments(con: duckdb.DuckDBPyConnection, cfg: Config, settings: TagSettings | None = None
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recompute ``user_tags`` (``update_tags``) and report every tag's size and value
    (``segment_report``)."""
    tags = update_tags(con, cfg, settings)
    return tags, segment_report(tags)


def export_tags(backend: BaseBackend) -> tuple[pd.DataFrame, ConsentReport]:
    """The rows of ``user_tags`` that may leave the warehouse, and who was left out: people
    with marketing and personalisation consent (``growthloop.ingest.consent``, use
    ``tags``). InputError when nothing is tagged yet."""
    return consented_rows(read_tags(backend), backend, "tags")
