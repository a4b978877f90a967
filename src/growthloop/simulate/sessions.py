"""Sessions and their funnel events.

A session's depth in the funnel session_start -> page_view -> product_view ->
add_to_cart -> checkout -> purchase follows the market's step rates. Every purchase
happens in a session that completed the funnel; all other sessions (journey touches
that did not buy, sharing inviters, users browsing in shopping episodes whether or not
they end in an order, anonymous visitors) draw their depth from the funnel conditional
on not completing, and there are NegBin(purchases, q) of them in all (q the completion
probability): the same counts as drawing i.i.d. funnel sessions until the purchases are
reached, so the realised step rates equal the configured ones in expectation. Rates are
per session: the share of sessions reaching a step among those that reached the
previous one.

Short-video sessions add content_view and content_complete, live-commerce sessions a
live content_view and live_interaction; share events mark inviters' sessions. Events
are built one chunk of sessions at a time as Arrow tables.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa

from growthloop.core.schema import EVENT_TYPES, arrow_schema
from growthloop.simulate.calendar import to_micros
from growthloop.simulate.customers import choice, segment_cumsum
from growthloop.simulate.output import string_ids, strings, take
from growthloop.simulate.params import (
    LIVE_EXTRA_INTERACTIONS_MEAN,
    LIVE_INTERACTION,
    PAGE_VIEWS_EXTRA_MEAN,
    PRODUCT_VIEWS_EXTRA_MEAN,
    SESSION_CAP_DAYS,
    SESSION_GAP_SECONDS,
    SHORT_VIDEO_COMPLETION,
    SHORT_VIDEO_EXTRA_VIEWS_MEAN,
    WorldParams,
)

__all__ = [
    "LAYOUT",
    "EventContext",
    "Sessions",
    "concat_sessions",
    "event_chunk",
    "make_sessions",
    "noncomplete_depth",
    "product_draws",
]

LAYOUT: tuple[str, ...] = ("session_start", "page_view", "content_view", "content_complete",
                           "live_interaction", "product_view", "add_to_cart", "checkout",
                           "share", "purchase", "refund")
_L = {name: i for i, name in enumerate(LAYOUT)}
_LAYOUT_CODES = np.asarray([EVENT_TYPES.index(x) for x in LAYOUT], dtype=np.int64)


def noncomplete_depth(rng: np.random.Generator, funnel: np.ndarray,
                      market: np.ndarray) -> np.ndarray:
    """Depth 0-3 (last step reached) of sessions that do not purchase.

    P(d | not complete) is proportional to (1 - r1), r1 (1 - r2), r1 r2 (1 - r3),
    r1 r2 r3 (1 - r4) for step rates r1..r4.
    """
    r1, r2, r3, r4 = funnel.T
    probs = np.column_stack([1 - r1, r1 * (1 - r2), r1 * r2 * (1 - r3), r1 * r2 * r3 * (1 - r4)])
    return choice(rng, probs, market)


@dataclass
class Sessions:
    """Columns of a block of sessions (one row per session)."""

    start: np.ndarray  # days since horizon start
    user: np.ndarray  # user index or -1
    anon: np.ndarray  # anonymous-id index or -1
    market: np.ndarray
    channel: np.ndarray  # -1 for none
    campaign: np.ndarray  # -1 for none
    device: np.ndarray  # -1 for none
    counts: np.ndarray  # (n, len(LAYOUT)) events of each type
    duration: np.ndarray  # days from the first to the last event
    order: np.ndarray  # order index of the purchase or refund, -1 for none
    anon_until: np.ndarray  # events before this time carry no user_id
    product: np.ndarray  # main product of the session
    mechanism: np.ndarray  # referral mechanism of the share event, -1 for none

    def __len__(self) -> int:
        return len(self.start)

    def event_counts(self) -> np.ndarray:
        """Events of each session (int64)."""
        return self.counts.sum(axis=1, dtype=np.int64)

    def slice(self, lo: int, hi: int) -> Sessions:
        return Sessions(**{f.name: getattr(self, f.name)[lo:hi] for f in fields(self)})

    def take(self, idx: np.ndarray) -> Sessions:
        return Sessions(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def block(cls, *, start: np.ndarray, market: np.ndarray, counts: np.ndarray,
              duration: np.ndarray, product: np.ndarray, **columns: np.ndarray) -> Sessions:
        """Sessions from the columns given; the others are -1 (none), ``anon_until`` -inf."""
        n = len(start)
        given = {"start": start, "market": market, "counts": counts, "duration": duration,
                 "product": product, **columns}
        return cls(**{f.name: given[f.name] if f.name in given
                      else np.full(n, -np.inf) if f.name == "anon_until"
                      else np.full(n, -1, np.int64) for f in fields(cls)})


def concat_sessions(blocks: list[Sessions]) -> Sessions:
    return Sessions(**{f.name: np.concatenate([getattr(b, f.name) for b in blocks])
                       for f in fields(Sessions)})


def make_sessions(rng: np.random.Generator, params: WorldParams, *, depth: np.ndarray,
                  market: np.ndarray, channel: np.ndarray, share: np.ndarray | None = None,
                  refund: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Event counts (n, len(LAYOUT)) and durations of sessions of the given depth (4 = buys).

    Durations are Gamma(events - 1, 45 s) days, capped at one hour.
    """
    n = len(depth)
    counts = np.zeros((n, len(LAYOUT)), dtype=np.int16)
    if refund:
        counts[:, _L["refund"]] = 1
        return counts, np.zeros(n)
    short = channel == params.channel_index("short_video")
    live = channel == params.channel_index("live_commerce")
    counts[:, _L["session_start"]] = 1
    counts[:, _L["page_view"]] = 1 + rng.poisson(PAGE_VIEWS_EXTRA_MEAN, n)
    views = np.where(short, 1 + rng.poisson(SHORT_VIDEO_EXTRA_VIEWS_MEAN, n),
                     live.astype(np.int64))
    counts[:, _L["content_view"]] = views
    counts[:, _L["content_complete"]] = np.where(
        short, rng.binomial(views, SHORT_VIDEO_COMPLETION), 0)
    counts[:, _L["live_interaction"]] = np.where(
        live & (rng.random(n) < LIVE_INTERACTION),
        1 + rng.poisson(LIVE_EXTRA_INTERACTIONS_MEAN, n), 0)
    counts[:, _L["product_view"]] = np.where(
        depth >= 1, 1 + rng.poisson(PRODUCT_VIEWS_EXTRA_MEAN, n), 0)
    counts[:, _L["add_to_cart"]] = depth >= 2
    counts[:, _L["checkout"]] = depth >= 3
    counts[:, _L["purchase"]] = depth >= 4
    if share is not None:
        counts[:, _L["share"]] = share
    k = counts.sum(axis=1)
    duration = rng.gamma(np.maximum(k - 1, 1), SESSION_GAP_SECONDS / 86_400.0)
    return counts, np.minimum(duration, SESSION_CAP_DAYS)


@dataclass(frozen=True)
class EventContext:
    """Lookup arrays that turn session and event indices into the events table."""

    user_ids: pa.Array
    anon_ids: pa.Array
    market_codes: pa.Array
    market_currency: pa.Array
    channel_names: pa.Array
    campaign_names: pa.Array
    devices: pa.Array
    products: pa.Array
    properties: pa.Array  # fixed JSON strings, then one per order
    n_fixed_properties: int
    order_t: np.ndarray
    order_amount: np.ndarray
    start_us: int
    session_width: int
    event_width: int
    short_video: int
    live_commerce: int
    n_products: int


# fixed property strings: content formats then referral mechanisms
FIXED_PROPERTIES: tuple[str, ...] = ('{"format":"short_video"}', '{"format":"live"}',
                                     '{"mechanism":"share"}', '{"mechanism":"group_buy"}',
                                     '{"mechanism":"points"}')


def product_draws(rng: np.random.Generator, n: int, n_products: int) -> np.ndarray:
    """Product indices with Zipf-like popularity, weight proportional to (rank + 10)^-1.1."""
    w = (np.arange(n_products) + 10.0) ** -1.1
    cum = np.cumsum(w)
    return np.minimum(np.searchsorted(cum / cum[-1], rng.random(n), side="right"),
                      n_products - 1)


def event_chunk(rng: np.random.Generator, s: Sessions, session_offset: int, event_offset: int,
                ctx: EventContext) -> pa.Table:
    """Events of the sessions ``s`` (global indices from ``session_offset``) as an Arrow table.

    Events before a session's ``anon_until`` carry no user_id.
    """
    n = len(s)
    counts = s.counts.astype(np.int64)
    per = counts.sum(axis=1)
    kind = np.repeat(np.tile(np.arange(len(LAYOUT)), n), counts.ravel())
    sess = np.repeat(np.arange(n), per)
    n_ev = len(kind)
    gaps = rng.exponential(1.0, n_ev)
    first = np.concatenate([[0], np.cumsum(per)[:-1]])
    gaps[first] = 0.0
    cs = segment_cumsum(gaps, per)
    total = cs[first + per - 1]
    frac = np.divide(cs, total[sess], out=np.zeros(n_ev), where=total[sess] > 0)
    t = s.start[sess] + frac * s.duration[sess]
    is_purchase = kind == _L["purchase"]
    t[is_purchase] = ctx.order_t[s.order[sess[is_purchase]]]
    ts_us = to_micros(t, ctx.start_us)
    ts = pa.array(ts_us).cast(pa.timestamp("us"))

    user = s.user[sess]
    user = np.where(t < s.anon_until[sess], -1, user)
    order = s.order[sess]
    money = (kind == _L["purchase"]) | (kind == _L["refund"])
    value = np.full(n_ev, np.nan)
    value[money] = ctx.order_amount[order[money]]

    product = np.full(n_ev, -1, dtype=np.int64)
    pv = kind == _L["product_view"]
    product[pv] = product_draws(rng, int(pv.sum()), ctx.n_products)
    prev_kind = np.concatenate([[-1], kind[:-1]])
    main = (pv & (prev_kind != _L["product_view"])) | (kind == _L["add_to_cart"]) | money
    product[main] = s.product[sess[main]]

    props = np.full(n_ev, -1, dtype=np.int64)
    cv = kind == _L["content_view"]
    props[cv] = np.where(s.channel[sess[cv]] == ctx.short_video, 0, 1)
    sh = kind == _L["share"]
    props[sh] = 2 + s.mechanism[sess[sh]]
    props[money] = ctx.n_fixed_properties + order[money]

    channel = s.channel[sess]
    campaign = s.campaign[sess]
    device = s.device[sess]
    arrays = [
        string_ids("e", np.arange(event_offset, event_offset + n_ev), ctx.event_width),
        take(ctx.user_ids, user),
        take(ctx.anon_ids, s.anon[sess]),
        string_ids("s", session_offset + sess, ctx.session_width),
        ts,
        strings(EVENT_TYPES).take(pa.array(_LAYOUT_CODES[kind])),
        ctx.market_codes.take(pa.array(s.market[sess])),
        take(ctx.channel_names, channel),
        take(ctx.campaign_names, campaign),
        take(ctx.devices, device),
        take(ctx.products, product),
        pa.array(value, mask=~money, type=pa.float64()),
        take(ctx.market_currency, np.where(money, s.market[sess], -1)),
        take(ctx.properties, props),
    ]
    return pa.Table.from_arrays(arrays, schema=arrow_schema("events"))
