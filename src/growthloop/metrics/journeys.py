"""Journeys from the warehouse: each user's touch path before each conversion.

A *touch* is a session of a known user with a channel (``growthloop.metrics.sources``'s
``sessions``: the session's first event time and the channel of the touch that started it),
counted only when the user has analytics consent (``growthloop.ingest.consent``, use
``journeys``: a path is a person-level model of behaviour; ``journeys_consent`` counts the
people left out, whose conversions then have no path).
A *conversion* is an order that was not cancelled (``sources.orders``), worth its revenue in
the reporting currency (0 when returned). The path of a conversion is the user's touches
after their previous conversion (``any_purchase``), or all touches before the first
(``first_purchase``), at or before the conversion time and at most ``lookback_days`` before
it, in time order. Touches after a user's last conversion (or of a user who never converted)
form a non-converting path: those at most ``lookback_days`` before the user's last touch.
Conversions with no touch in the window have no path and are not credited to any channel.

Everything runs in the engine as one Ibis expression (a running count of conversions per
user assigns each touch to the conversion it precedes), so the same code runs on DuckDB and
on Spark (a test checks they agree); only the aggregated unique paths come back.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.dates import check_grain, parse_timestamp, period_label
from growthloop.core.errors import InputError
from growthloop.ingest.consent import ConsentReport, consent_report, keep_consenting
from growthloop.ingest.paths import SEPARATOR, validate_paths
from growthloop.metrics.sources import identified_events
from growthloop.metrics.sources import orders as order_source
from growthloop.metrics.sources import sessions as session_source

__all__ = ["CONVERSIONS", "build_paths", "channel_people", "direct_channels",
           "journey_touches", "journeys_consent"]

CONVERSIONS: tuple[str, ...] = ("first_purchase", "any_purchase")
Conversion = Literal["first_purchase", "any_purchase"]
MAX_LOOKBACK_DAYS = 36_500  # a hundred years: longer windows are a typo
_DAY_SECONDS = 86_400


def direct_channels(cfg: Config) -> tuple[str, ...]:
    """Channels that count as direct for last-non-direct attribution: kind ``organic``."""
    return tuple(c.name for c in cfg.channels if c.kind == "organic")


def journey_touches(backend: BaseBackend, cfg: Config, *,
                    conversion: Conversion = "first_purchase", lookback_days: float = 30,
                    start: dt.date | dt.datetime | str | None = None,
                    end: dt.date | dt.datetime | str | None = None) -> ir.Table:
    """One row per touch of each journey (an Ibis expression; nothing runs).

    Columns: ``user_id``, ``journey`` (0-based number of the user's conversion it leads to),
    ``ts``, ``tie`` (session id), ``channel``, ``market`` (the order's for a conversion,
    the last touch's otherwise), ``converted``, ``value``, ``end_ts`` (conversion time, or the
    last touch of a non-converting journey). Journeys are kept when ``start <= end_ts <
    end``.
    """
    if conversion not in CONVERSIONS:
        raise InputError(f"conversion = {conversion!r}: expected one of "
                         f"{', '.join(CONVERSIONS)}")
    if (isinstance(lookback_days, bool) or not isinstance(lookback_days, int | float)
            or not 0 < lookback_days <= MAX_LOOKBACK_DAYS):
        raise InputError(f"lookback_days = {lookback_days!r}: expected a number of days > 0 "
                         f"and <= {MAX_LOOKBACK_DAYS:,}")
    lo, hi = parse_timestamp(start, "start"), parse_timestamp(end, "end")
    s = session_source(backend, cfg)
    s = keep_consenting(s.filter(s.user_id.notnull() & s.channel.notnull()), backend,
                        "journeys")
    touches = s.select(
        user_id=s.user_id, ts=s.ts, tie=s.session_id, channel=s.channel, market=s.market,
        is_conv=ibis.literal(0, type="int64"), value=ibis.null("float64"))
    o = order_source(backend, cfg)
    convs = o.select(
        user_id=o.user_id, ts=o.ts, tie=o.order_id, channel=ibis.null("string"),
        market=o.market, is_conv=ibis.literal(1, type="int64"),
        value=o.revenue.cast("float64"))
    u = touches.union(convs)
    w = ibis.cumulative_window(group_by=u.user_id, order_by=[u.ts, u.is_conv, u.tie])
    u = u.mutate(journey=u.is_conv.sum().over(w) - u.is_conv)
    t = u.filter(u.is_conv == 0).drop("is_conv", "value")
    c = u.filter(u.is_conv == 1).select(
        c_user=u.user_id, c_journey=u.journey, end_c=u.ts, c_market=u.market, c_value=u.value)
    if conversion == "first_purchase":
        t = t.filter(t.journey == 0)
        c = c.filter(c.c_journey == 0)
    j = t.left_join(c, [t.user_id == c.c_user, t.journey == c.c_journey])
    last = j.ts.max().over(ibis.window(group_by=[j.user_id, j.journey]))
    j = j.mutate(converted=j.end_c.notnull(), end_ts=ibis.coalesce(j.end_c, last))
    j = j.filter(j.ts >= j.end_ts - ibis.interval(seconds=int(lookback_days * _DAY_SECONDS)))
    last_market = j.market.argmax(j.ts)
    j = j.mutate(market=ibis.ifelse(j.converted, j.c_market,
                                    last_market.over(ibis.window(group_by=[j.user_id,
                                                                           j.journey]))))
    if lo is not None:
        j = j.filter(j.end_ts >= lo)
    if hi is not None:
        j = j.filter(j.end_ts < hi)
    return j.select("user_id", "journey", "ts", "tie", "channel", "market", "converted",
                    "end_ts", value=ibis.ifelse(j.converted, j.c_value, 0.0))


def build_paths(backend: BaseBackend, cfg: Config, *,
                conversion: Conversion = "first_purchase", lookback_days: float = 30,
                by_market: bool = False, by_period: str | None = None,
                start: dt.date | dt.datetime | str | None = None,
                end: dt.date | dt.datetime | str | None = None,
                with_days: bool = False, allow_empty: bool = False) -> pa.Table:
    """Unique journey paths with their conversions, nulls and value, built in the engine.

    Parameters
    ----------
    backend, cfg
        An Ibis backend over the warehouse and the project configuration.
    conversion : {"first_purchase", "any_purchase"}
        What a conversion is (see the module docstring).
    lookback_days : float
        Touches more than this many days before the conversion are left out.
    by_market : bool
        Add a ``market`` column: the order's market, or the last touch's.
    by_period : {"day", "week", "month", "quarter", "year"}, optional
        Add a ``period`` column: when the journey ended.
    start, end : date, optional
        Keep journeys that ended in ``[start, end)``.
    with_days : bool
        Add a ``days`` column: whole days from each touch to the journey's end (for
        time decay). Paths then are unique per channels *and* days.
    allow_empty : bool
        Return a table with no rows when no journey matches, instead of raising.

    Returns
    -------
    pyarrow.Table
        ``path`` (channels joined by ``" > "``), ``conversions``, ``nulls``, ``value``
        (reporting currency) and the optional columns, sorted; the input of every model.
    """
    if by_period is not None:
        check_grain(by_period, "by_period")
    j = journey_touches(backend, cfg, conversion=conversion, lookback_days=lookback_days,
                        start=start, end=end)
    # touches in time order: a sorted array of (ts, session, ...) structs rather than an
    # ordered string_agg, which Spark's Ibis backend cannot compile
    fields: dict[str, ir.Value] = {"ts": j.ts, "tie": j.tie, "channel": j.channel}
    if with_days:
        age = ((j.end_ts.epoch_seconds() - j.ts.epoch_seconds()) / _DAY_SECONDS).floor()
        fields["days"] = age.cast("int64").cast("string")
    touches = ibis.struct(fields).collect().sort()
    per_journey = {
        "path": touches.map(lambda t: t.channel).join(SEPARATOR),
        "converted": j.converted.max(), "value": j.value.max(), "end_ts": j.end_ts.max(),
        "market": j.market.max(),
    }
    if with_days:
        per_journey["days"] = touches.map(lambda t: t.days).join(SEPARATOR)
    g = j.group_by([j.user_id, j.journey]).aggregate(**per_journey)
    keys = ["path"]
    if by_market:
        keys.append("market")
    if by_period:
        g = g.mutate(period=period_label(g.end_ts, by_period))
        keys.append("period")
    if with_days:
        keys.append("days")
    paths = g.group_by(keys).aggregate(
        conversions=g.converted.cast("int64").sum().cast("float64"),
        nulls=(~g.converted).cast("int64").sum().cast("float64"),
        value=g.value.sum().cast("float64"),
    )
    cols = ["path", "conversions", "nulls", "value"] + [k for k in keys if k != "path"]
    sort = [k for k in ("market", "period") if k in keys] + ["path"] + (
        ["days"] if with_days else [])
    table = paths.select(*cols).order_by(sort).to_pyarrow()
    if table.num_rows == 0:
        if allow_empty:
            return table
        raise InputError("no journeys in the warehouse for these settings (no sessions of "
                         "known users with a channel); load events and orders first")
    return validate_paths(table, "warehouse journeys")


def journeys_consent(backend: BaseBackend) -> ConsentReport:
    """The people whose behaviour the journeys leave out: users with logged-in events and
    no analytics consent (``growthloop.ingest.consent``)."""
    e = identified_events(backend)
    return consent_report(e.select("user_id"), backend, "journeys")


def channel_people(backend: BaseBackend, cfg: Config, *,
                   conversion: Conversion = "first_purchase", lookback_days: float = 30,
                   by_market: bool = False, by_period: str | None = None,
                   start: dt.date | dt.datetime | str | None = None,
                   end: dt.date | dt.datetime | str | None = None) -> pa.Table:
    """The people behind each channel's attributed credit: ``channel`` (with ``market``
    and ``period`` as in ``build_paths``) and ``people``, the distinct users with a
    converting journey that touches the channel. Every model credits a channel only from
    such journeys, so these are the people its conversions and value are built from."""
    if by_period is not None:
        check_grain(by_period, "by_period")
    j = journey_touches(backend, cfg, conversion=conversion, lookback_days=lookback_days,
                        start=start, end=end)
    j = j.filter(j.converted)
    keys = ["channel"]
    if by_market:
        keys.insert(0, "market")
    if by_period:
        j = j.mutate(period=period_label(j.end_ts, by_period))
        keys.insert(1 if by_market else 0, "period")
    return (j.group_by(keys).aggregate(people=j.user_id.nunique().cast("int64"))
            .order_by(keys).to_pyarrow())
