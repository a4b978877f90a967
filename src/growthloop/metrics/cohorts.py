"""Retention cohorts: users grouped by the period they started in, followed over time.

A cohort is the users whose sign-up (``cohort="signup"``, the ``users`` source) or first
purchase (``cohort="first_purchase"``: their first order not cancelled, the ``orders``
source) falls in the same calendar period. ``periods_since`` counts calendar periods
from the cohort's own (0) onwards, in UTC.

- ``measure="users"``: a cohort member is *active* in a period when they have any event
  with their ``user_id`` in it (``active="event"``), or, with ``active="order"``, an
  order not cancelled (for first-purchase cohorts: repeat buyers after period 0).
  ``retention = active users / cohort size``; period 0 may be below 1 (members with
  no logged-in event in their first period, e.g. sign-ups whose session was anonymous).
- ``measure="revenue"``: revenue of the members' orders placed in the period, in the
  reporting currency, orders neither cancelled nor returned (the ``orders`` source's
  ``revenue``, converted by ``growthloop.core.money.to_reporting``);
  ``retention = revenue in period k / revenue in period 0`` (NULL when period 0 has none).

Slices are the cohort row's dimensions: for sign-up cohorts the user's sign-up market,
country, acquisition channel and campaign; for first-purchase cohorts the first order's
market and the user's country, acquisition channel and campaign. Every cohort gets a
row for each period from 0 up to ``periods - 1`` or the latest period holding data (any
member's start or activity), whichever comes first, with 0 where nothing happened; the
latest period may be incomplete. One Ibis expression, the same on DuckDB and Spark.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.dates import GRAINS
from growthloop.core.errors import InputError
from growthloop.metrics.sources import check_by, identified_events, source_table

__all__ = [
    "ACTIVE",
    "COHORTS",
    "COHORT_DIMENSIONS",
    "MEASURES",
    "PERIODS",
    "retention",
    "to_matrix",
]

COHORTS: tuple[str, ...] = ("signup", "first_purchase")
MEASURES: tuple[str, ...] = ("users", "revenue")
ACTIVE: tuple[str, ...] = ("event", "order")
PERIODS: tuple[str, ...] = ("day", "week", "month")
COHORT_DIMENSIONS: tuple[str, ...] = ("market", "country", "channel", "campaign")
_SECONDS = {"day": 86_400, "week": 7 * 86_400}
_RESULT = ("cohort", "periods_since", "cohort_size", "active_users", "revenue", "retention")


def _index(ts: ir.TimestampValue, period: str) -> ir.IntegerValue:
    """A running number of the calendar period holding ``ts`` (consecutive periods differ
    by one): months as year * 12 + month, days and weeks from their start's epoch seconds."""
    if period == "month":
        return (ts.year() * 12 + ts.month() - 1).cast("int64")
    start = ts.truncate(GRAINS[period]).epoch_seconds().floor()
    return (start / _SECONDS[period]).floor().cast("int64")


def _check(cohort: str, period: str, measure: str, active: str, by: Sequence[str],
           periods: int) -> None:
    for name, v, allowed in (("cohort", cohort, COHORTS), ("period", period, PERIODS),
                             ("measure", measure, MEASURES), ("active", active, ACTIVE)):
        if v not in allowed:
            raise InputError(f"unknown {name}={v!r}; expected one of: {', '.join(allowed)}")
    check_by(by, COHORT_DIMENSIONS, "retention")
    if isinstance(periods, bool) or not isinstance(periods, int) or periods < 1:
        raise InputError(f"periods = {periods!r}: expected a whole number >= 1")


def _members(backend: BaseBackend, cfg: Config, cohort: str, by: list[str]) -> ir.Table:
    """One row per cohort member: ``user_id``, ``start`` (sign-up or first order) and ``by``."""
    if cohort == "signup":
        u = source_table("users", backend, cfg)
        return u.select("user_id", *by, start=u.ts)
    o = source_table("orders", backend, cfg)
    o = o.filter(o.customer_type == "new")  # the user's first order not cancelled
    return o.select("user_id", *by, start=o.ts)


def _activity(backend: BaseBackend, cfg: Config, measure: str, active: str) -> ir.Table:
    """``user_id``, ``ts`` and ``value`` of what a period's measure adds up."""
    if measure == "users" and active == "event":
        e = identified_events(backend)
        e = e.filter(e.user_id.notnull())
        return e.select("user_id", ts=e.event_ts, value=ibis.literal(0.0))
    o = source_table("orders", backend, cfg)
    return o.select("user_id", "ts", value=o.revenue if measure == "revenue"
                    else ibis.literal(0.0))


def retention(
    backend: BaseBackend,
    cfg: Config,
    *,
    cohort: str = "signup",
    period: str = "month",
    measure: str = "users",
    active: str = "event",
    by: Sequence[str] = (),
    periods: int = 12,
) -> ir.Table:
    """Cohort retention, one row per cohort x slice x periods since (see the module docstring).

    Columns: ``cohort`` (first day of the cohort's period), the ``by`` dimensions,
    ``periods_since`` (0, 1, ...), ``cohort_size`` (members), then ``active_users``
    (``measure="users"``) or ``revenue`` (``measure="revenue"``), and ``retention``.
    ``active`` ("event" or "order") says what makes a user active; it applies to
    ``measure="users"`` only.
    """
    by = list(by)
    _check(cohort, period, measure, active, by, periods)
    m = _members(backend, cfg, cohort, by)
    m = m.mutate(cohort=m.start.truncate(GRAINS[period]).cast("date"),
                 _c=_index(m.start, period))
    a = _activity(backend, cfg, measure, active)
    a = a.mutate(_p=_index(a.ts, period))
    keys = ["cohort", *by]

    # the last period with data: any member's start or any activity
    last = m.aggregate(_l1=m._c.max()).cross_join(a.aggregate(_l2=a._p.max()))
    last = last.select(_last=ibis.greatest(last._l1, last._l2.fill_null(last._l1)))
    sizes = m.group_by([*keys, "_c"]).aggregate(_size=m.count())
    ks = ibis.memtable({"periods_since": list(range(periods))}, schema={"periods_since": "int64"})
    grid = sizes.cross_join(ks).cross_join(last)
    grid = grid.filter(grid._c + grid.periods_since <= grid._last)
    grid = grid.select(*keys, "periods_since", _size=grid._size,
                       _users=ibis.literal(None, type="int64"),
                       _value=ibis.literal(None, type="float64"))

    j = a.join(m.select("user_id", *keys, "_c"), "user_id")
    j = j.mutate(periods_since=(j._p - j._c).cast("int64"))
    j = j.filter(j.periods_since >= 0, j.periods_since < periods)
    act = j.group_by([*keys, "periods_since"]).aggregate(
        _users=j.user_id.nunique().cast("int64"), _value=j.value.sum())
    act = act.select(*keys, "periods_since", _size=ibis.literal(None, type="int64"),
                     _users=act._users, _value=act._value)

    # union and re-group rather than join: a NULL dimension value groups, it never joins
    u = grid.union(act)
    t = u.group_by([*keys, "periods_since"]).aggregate(
        cohort_size=u._size.max().cast("int64"),
        _users=u._users.max().fill_null(0).cast("int64"),
        _value=u._value.max().fill_null(0.0).cast("float64"),
    )
    if measure == "users":
        out = t.select(*keys, "periods_since", "cohort_size", active_users=t._users,
                       retention=t._users.cast("float64") / t.cohort_size.cast("float64"))
    else:
        base = ibis.cases((t.periods_since == 0, t._value), else_=0.0).sum().over(
            ibis.window(group_by=keys))
        out = t.select(*keys, "periods_since", "cohort_size", revenue=t._value,
                       retention=t._value / base.nullif(0.0))
    return out.order_by([*keys, "periods_since"])


def to_matrix(df: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """The familiar triangle: one row per cohort (and slice), one column per periods since.

    ``df`` is an executed ``retention`` result; ``value`` picks the column shown
    (``retention``, ``active_users``, ``revenue`` or ``cohort_size``). Cells after the
    latest period holding data are NaN.
    """
    if value not in df.columns:
        raise InputError(f"unknown value {value!r}; expected one of: "
                         f"{', '.join(c for c in _RESULT if c in df.columns)}")
    # the slices; not the shared view's flag (growthloop.report.privacy.suppress)
    index = ["cohort", *[c for c in df.columns if c not in (*_RESULT, "suppressed")]]
    return df.set_index([*index, "periods_since"])[value].unstack("periods_since")
