"""Per-customer features as they stood on a day, and outcomes over a window, in the engine.

``customer_features`` is what a model of a person's response (an uplift model) reads:
for every customer with an order (not cancelled) before ``as_of``,

- ``recency_days``: days from the last such order to the start of ``as_of``;
- ``frequency``: those orders; ``monetary``: their mean net revenue in the reporting
  currency (``growthloop.metrics.sources.orders``: returned orders count 0);
- ``tenure_days``: days from the sign-up to the start of ``as_of`` (missing without a
  ``users`` row);
- ``market`` (of the last order), ``channel`` (acquisition channel), ``device`` (the
  device of most of the person's events before ``as_of``, ties by name; missing without
  events), ``consent_marketing`` (whether a message can reach the person);
- the tags (``user_tags``: value tier, RFM segment, lifecycle stage) where they were
  computed as of ``as_of`` or earlier, else missing: tags computed later would carry
  what happened after ``as_of`` into the features.

``window_outcome`` is each person's outcome over ``[start, end)``: whether they bought
(an order kept: the ``buyers`` KPI's orders) and the net revenue of their orders there.
Everything is an Ibis expression, executed once at the end.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.metrics.sources import orders as source_orders

__all__ = ["CATEGORICAL", "NUMERIC", "TAG_FEATURES", "customer_features", "window_outcome"]

NUMERIC: tuple[str, ...] = ("recency_days", "frequency", "monetary", "tenure_days")
TAG_FEATURES: tuple[str, ...] = ("value_tier", "rfm_segment", "lifecycle_stage")
CATEGORICAL: tuple[str, ...] = ("market", "channel", "device", "consent_marketing",
                                *TAG_FEATURES)
_DAY = 86400.0


def _midnight(day: dt.date) -> ir.Value:
    return ibis.literal(dt.datetime.combine(day, dt.time()), type="timestamp")


def _days_before(ts: ir.TimestampValue, day: dt.date) -> ir.FloatingValue:
    """Days from ``ts`` to the start of ``day`` (whole seconds, the same on every engine)."""
    return ((_midnight(day).epoch_seconds() - ts.epoch_seconds().floor()).cast("float64")
            / ibis.literal(_DAY, type="float64"))


def _main_device(backend: BaseBackend, as_of: dt.date) -> ir.Table:
    e = backend.table("events")
    e = e.filter(e.user_id.notnull(), e.event_ts < _midnight(as_of), e.device.notnull())
    n = e.group_by(["user_id", "device"]).aggregate(_n=e.count())
    rank = ibis.row_number().over(group_by=n.user_id, order_by=[ibis.desc(n._n), n.device])
    n = n.mutate(_rank=rank)
    return n.filter(n._rank == 0).select(_d_user=n.user_id, device=n.device)


def _tags(backend: BaseBackend, as_of: dt.date) -> ir.Table:
    t = backend.table("user_tags")  # created by the warehouse's migrations
    t = t.filter(t.as_of.cast("date") <= ibis.literal(as_of, type="date"))
    return t.select(_t_user=t.user_id, **{c: t[c].cast("string") for c in TAG_FEATURES})


def customer_features(backend: BaseBackend, cfg: Config, as_of: dt.date) -> pd.DataFrame:
    """One row per customer (``user_id`` and the module docstring's columns) as of the
    start of ``as_of``, sorted by ``user_id``."""
    o = source_orders(backend, cfg)
    o = o.filter(o.ts < _midnight(as_of))
    last = ibis.row_number().over(group_by=o.user_id, order_by=[ibis.desc(o.ts),
                                                                 ibis.desc(o.order_id)])
    o = o.mutate(_last=last)
    per = o.group_by("user_id").aggregate(
        frequency=o.count().cast("float64"), monetary=o.revenue.mean(),
        _last_ts=o.ts.max(), market=o.market.arbitrary(where=o._last == 0))
    u = backend.table("users")
    u = u.select(_u_user=u.user_id, _signup=u.signup_ts, channel=u.acquisition_channel,
                 consent_marketing=u.consent_marketing.fill_null(False).cast("string"))
    j = per.left_join(u, per.user_id == u._u_user)
    dev = _main_device(backend, as_of)
    j = j.left_join(dev, j.user_id == dev._d_user)
    tags = _tags(backend, as_of)
    j = j.left_join(tags, j.user_id == tags._t_user)
    cols = {
        "user_id": j.user_id, "recency_days": _days_before(j._last_ts, as_of),
        "frequency": j.frequency, "monetary": j.monetary,
        "tenure_days": _days_before(j._signup, as_of), "market": j.market,
        "channel": j.channel, "device": j.device, "consent_marketing": j.consent_marketing,
    }
    for c in TAG_FEATURES:
        cols[c] = j[c]
    df = j.select(**cols).order_by("user_id").execute()
    for c in CATEGORICAL:
        df[c] = df[c].astype("object").where(df[c].notna(), None)
    return df.reset_index(drop=True)


def window_outcome(backend: BaseBackend, cfg: Config, start: dt.date,
                   end: dt.date) -> pd.DataFrame:
    """Per person with an order (not cancelled) in ``[start, end)``: ``bought`` (1 with an
    order kept, else 0) and ``revenue`` (net, reporting currency); sorted by ``user_id``.
    People absent bought nothing there."""
    o = source_orders(backend, cfg)
    o = o.filter(o.ts >= _midnight(start), o.ts < _midnight(end))
    per = o.group_by("user_id").aggregate(
        bought=o.kept.cast("int64").max().cast("float64"), revenue=o.revenue.sum())
    return per.order_by("user_id").execute().reset_index(drop=True)
