"""Fact sources of the semantic layer: Ibis expressions over the canonical tables.

Each source has a time column ``ts`` and the dimension columns it supports, so a
measure is just an aggregation over one source. Sources are functions of the
backend and the configuration; nothing here runs a query.

Dimensions:
- ``market``, ``country``, ``channel``, ``campaign``, ``device``;
- ``customer_type``: ``new`` for activity within 30 days of the user's sign-up or
  before it (anonymous), for orders the user's first order; otherwise ``returning``;
- ``cohort``: the user's sign-up month, ``YYYY-MM``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.core.money import convert

__all__ = ["NEW_USER_DAYS", "SOURCES", "USER_DIMENSIONS", "Source", "SourceCache",
           "cached_sources", "check_by", "identified_events", "source_table",
           "valued_orders"]

NEW_USER_DAYS = 30


USER_DIMENSIONS = ("country", "customer_type", "cohort")  # need a join with users


def check_by(by: Sequence[str], allowed: Sequence[str], what: str) -> None:
    """Raise ``InputError`` unless ``by`` names distinct dimensions among ``allowed``
    (``what`` is what is sliced, for the message: "retention", "a funnel")."""
    for d in by:
        if d not in allowed:
            raise InputError(f"{what} cannot be sliced by {d!r}; expected one of: "
                             f"{', '.join(allowed)}")
    if len(set(by)) != len(by):
        raise InputError(f"by = {list(by)!r} names a dimension twice")


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    dimensions: tuple[str, ...]
    columns: tuple[str, ...]  # columns measures and filters may use
    build: Callable[[BaseBackend, Config], ir.Table]
    # the same rows without the user dimensions, when they are cheaper that way
    build_plain: Callable[[BaseBackend, Config], ir.Table] | None = None
    plain_is_scan: bool = False  # the plain form only reads a table: never materialise it
    # the columns naming the person behind a row, the first non-empty one counting (a
    # device stands for an anonymous visitor); none: the rows are not about people
    person: tuple[str, ...] = ("user_id",)


def _cohort(ts: ir.TimestampValue) -> ir.StringValue:
    return ts.strftime("%Y-%m")


def _users(b: BaseBackend, cfg: Config) -> ir.Table:
    u = b.table("users")
    return u.select(
        u.user_id, u.signup_ts, u_market=u.market, u_country=u.country,
        u_channel=u.acquisition_channel, u_campaign=u.acquisition_campaign,
        cohort=_cohort(u.signup_ts),
    )


def identified_events(b: BaseBackend) -> ir.Table:
    """The ``events`` table with each anonymous event of a device later linked to a user
    (``identities``: an identify or alias call) credited to that user, so one person's
    browsing on every device is one journey. A device linked to several users counts for
    the first it was linked to. The one place events are read from."""
    e = b.table("events")
    i = b.table("identities")
    first = i.group_by(_anon=i.anonymous_id).aggregate(_linked=i.user_id.argmin(i.linked_ts))
    j = e.left_join(first, e.anonymous_id == first._anon)
    return j.select(*[j[c] if c != "user_id" else ibis.coalesce(j.user_id, j._linked)
                      .name("user_id") for c in e.columns])


def _with_user(t: ir.Table, users: ir.Table, ts: str) -> ir.Table:
    j = t.left_join(users, t.user_id == users.user_id)
    new = t.user_id.isnull() | (  # anonymous visitors are prospects: new
        j.signup_ts.notnull() & (j[ts] < j.signup_ts + ibis.interval(days=NEW_USER_DAYS)))
    return j.mutate(customer_type=ibis.ifelse(new, "new", "returning"))


def _channel_flags(t: ir.Table, cfg: Config, col: str = "channel") -> ir.Table:
    precise = [c.name for c in cfg.channels if c.precise]
    organic = [c.name for c in cfg.channels if c.kind == "organic"]
    return t.mutate(
        precise=t[col].isin(precise).fill_null(False),
        organic=t[col].isin(organic).fill_null(False),
    )


_SESSION_FLAGS = ("product_view", "add_to_cart", "checkout", "purchase", "content_view",
                  "share", "live_interaction")


def sessions_plain(b: BaseBackend, cfg: Config) -> ir.Table:
    """One row per session: its first event, the touch that started it, what happened."""
    e = identified_events(b)
    s = e.group_by(e.session_id).aggregate(
        ts=e.event_ts.min(), user_id=e.user_id.max(), anonymous_id=e.anonymous_id.max(),
        market=e.market.min(),
        channel=e.channel.min(), campaign=e.campaign.min(), device=e.device.min(),
        **{f"has_{k}": (e.event_type == k).any() for k in _SESSION_FLAGS},
    )
    return _channel_flags(s, cfg)


def sessions(b: BaseBackend, cfg: Config) -> ir.Table:
    """Sessions with the user's country, cohort and customer type."""
    s = _with_user(sessions_plain(b, cfg), _users(b, cfg), "ts")
    return s.select(
        "session_id", "ts", "user_id", "anonymous_id", "market", "channel", "campaign",
        "device",
        *[f"has_{k}" for k in _SESSION_FLAGS], "precise", "organic", "customer_type",
        "cohort", country=s.u_country,
    )


def events(b: BaseBackend, cfg: Config) -> ir.Table:
    """Events with the user's country, cohort and customer type."""
    e = identified_events(b)
    j = _with_user(e.rename(ts="event_ts"), _users(b, cfg), "ts")
    return j.select(
        "event_id", "ts", "user_id", "anonymous_id", "session_id", "event_type", "market",
        "channel", "campaign", "device", "customer_type", "cohort", country=j.u_country,
    )


def events_plain(b: BaseBackend, cfg: Config) -> ir.Table:
    """Events without the user's country, cohort and customer type (no join)."""
    e = identified_events(b)
    return e.select("event_id", "user_id", "anonymous_id", "session_id", "event_type",
                    "market", "channel", "campaign", "device", ts=e.event_ts)


def valued_orders(b: BaseBackend, cfg: Config) -> ir.Table:
    """Orders not cancelled, valued in the reporting currency: the one definition.

    The canonical ``orders`` columns plus ``amount_reporting`` (the order's amount with the
    day's FX rate, ``growthloop.core.money.convert``: a missing rate is an error unless
    the project sets ``missing_fx = "skip"``) and ``revenue``, the glossary's net revenue:
    ``amount_reporting`` for orders kept, 0 for returned ones.
    """
    o = b.table("orders")
    o = o.filter(o.status != "cancelled")
    o = convert(o, b.table("fx_rates"), cfg.reporting_currency, what="orders",
                missing=cfg.missing_fx)
    return o.mutate(revenue=ibis.ifelse(o.status != "returned", o.amount_reporting, 0.0))


def orders(b: BaseBackend, cfg: Config) -> ir.Table:
    """Orders not cancelled (``valued_orders``), credited to the buyer's acquisition
    channel (last touch before sign-up); attribution models credit them otherwise."""
    o = valued_orders(b, cfg)
    first = ibis.row_number().over(group_by=o.user_id, order_by=[o.order_ts, o.order_id])
    o = o.mutate(_nth=first)
    j = o.left_join(_users(b, cfg), o.user_id == _users(b, cfg).user_id)
    kept = j.status != "returned"
    delivered = j.delivered_ts.notnull()
    return j.select(
        "order_id", "user_id", "market", "status", "cohort",
        ts=j.order_ts,
        country=j.u_country, channel=j.u_channel, campaign=j.u_campaign,
        customer_type=ibis.ifelse(j._nth == 0, "new", "returning"),
        revenue=j.revenue,
        kept=kept,
        returned=j.status == "returned",
        delivered=delivered,
        delivery_days=ibis.ifelse(
            delivered,
            (j.delivered_ts.epoch_seconds().floor() - j.order_ts.epoch_seconds().floor())
            .cast("float64"),
            None,
        ) / ibis.literal(86400.0, type="float64"),  # whole seconds, the same on every engine
    )


def users(b: BaseBackend, cfg: Config) -> ir.Table:
    """Users by sign-up time, with their first purchase and early activity."""
    u = _users(b, cfg)
    o = b.table("orders")
    o = o.filter(o.status != "cancelled")
    first = o.group_by(o.user_id).aggregate(first_order_ts=o.order_ts.min())
    e = b.table("events")
    j0 = e.join(u.select("user_id", "signup_ts"), e.user_id == u.user_id)
    early = j0.filter(
        (j0.event_ts >= j0.signup_ts + ibis.interval(days=7))
        & (j0.event_ts < j0.signup_ts + ibis.interval(days=NEW_USER_DAYS))
    ).select("user_id").distinct().mutate(retained=ibis.literal(True))
    j = u.left_join(first, u.user_id == first.user_id).left_join(
        early, u.user_id == early.user_id)
    converted = j.first_order_ts.notnull() & (
        j.first_order_ts < j.signup_ts + ibis.interval(days=NEW_USER_DAYS))
    return j.select(
        "user_id", "cohort", ts=j.signup_ts, market=j.u_market, country=j.u_country,
        channel=j.u_channel, campaign=j.u_campaign,
        customer_type=ibis.literal("new"),
        converted_30d=converted, retained=j.retained.fill_null(False),
    )


def spend(b: BaseBackend, cfg: Config) -> ir.Table:
    """Media spend in the reporting currency."""
    s = b.table("ad_spend")
    s = s.mutate(ts=s.date.cast("timestamp"))
    s = convert(s, b.table("fx_rates"), cfg.reporting_currency, what="ad_spend",
                missing=cfg.missing_fx, amount="spend", at="ts", out="spend_reporting")
    return s.select("ts", "market", "channel", "campaign", "impressions", "clicks",
                    spend=s.spend_reporting)


def surveys(b: BaseBackend, cfg: Config) -> ir.Table:
    """NPS answers with the respondent's country and cohort."""
    s = b.table("surveys")
    s = s.filter(s.survey == "nps")
    j = _with_user(s.rename(ts="response_ts"), _users(b, cfg), "ts")
    return j.select("response_id", "ts", "user_id", "market", "score", "customer_type",
                    "cohort", country=j.u_country,
                    promoter=j.score >= 9, detractor=j.score <= 6,
                    nps_point=ibis.cases((j.score >= 9, 1), (j.score <= 6, -1), else_=0))


_DIMS_ALL = ("market", "country", "channel", "campaign", "device", "customer_type", "cohort")
SOURCES: dict[str, Source] = {
    s.name: s for s in (
        Source("sessions", "one row per session (events grouped by session_id)", _DIMS_ALL,
               ("session_id", "user_id", "precise", "organic", "has_product_view",
                "has_add_to_cart", "has_checkout", "has_purchase", "has_content_view",
                "has_share", "has_live_interaction"), sessions, sessions_plain,
               person=("user_id", "anonymous_id")),
        Source("events", "behaviour events", _DIMS_ALL,
               ("event_id", "user_id", "session_id", "event_type"), events, events_plain,
               plain_is_scan=True, person=("user_id", "anonymous_id")),
        Source("orders", "orders not cancelled, money in the reporting currency",
               ("market", "country", "channel", "campaign", "customer_type", "cohort"),
               ("order_id", "user_id", "status", "revenue", "kept", "returned", "delivered",
                "delivery_days"), orders),
        Source("users", "users by sign-up time",
               ("market", "country", "channel", "campaign", "customer_type", "cohort"),
               ("user_id", "converted_30d", "retained"), users),
        Source("spend", "media spend, reporting currency",
               ("market", "channel", "campaign"), ("spend", "impressions", "clicks"), spend,
               person=()),
        Source("surveys", "NPS answers",
               ("market", "country", "customer_type", "cohort"),
               ("response_id", "user_id", "score", "promoter", "detractor", "nps_point"),
               surveys),
    )
}


class SourceCache:
    """Sources materialised in the engine on first use, released by ``release``.

    Computing many KPIs from the same sources (the catalog, a review) would otherwise
    rebuild each source, e.g. group every event into sessions, once per KPI.
    """

    def __init__(self, backend: BaseBackend, cfg: Config) -> None:
        self.backend, self.cfg = backend, cfg
        self._tables: dict[tuple[str, bool], ir.Table] = {}

    def get(self, name: str, plain: bool) -> ir.Table:
        src = SOURCES[name]
        build = src.build_plain if plain and src.build_plain else src.build
        if plain and src.plain_is_scan:
            return build(self.backend, self.cfg)
        key = (name, plain)
        if key not in self._tables:
            self._tables[key] = build(self.backend, self.cfg).cache()
        return self._tables[key]

    def release(self) -> None:
        for t in self._tables.values():
            t.release()
        self._tables.clear()


def source_table(name: str, backend: BaseBackend, cfg: Config,
                 cache: SourceCache | None = None, *,
                 columns: set[str] | None = None) -> ir.Table:
    """The Ibis table of source ``name`` (through ``cache`` when given).

    ``columns``: the columns the caller will use; when none of them is a user dimension
    and the source has a plain form, that cheaper form is used.
    """
    src = SOURCES[name]
    plain = (src.build_plain is not None and columns is not None
             and not columns & set(USER_DIMENSIONS))
    if cache is not None:
        return cache.get(name, plain)
    return (src.build_plain if plain else src.build)(backend, cfg)  # type: ignore[misc]


@contextmanager
def cached_sources(backend: BaseBackend, cfg: Config) -> Iterator[SourceCache]:
    """A ``SourceCache`` for a block of work, released when the block ends."""
    cache = SourceCache(backend, cfg)
    try:
        yield cache
    finally:
        cache.release()
