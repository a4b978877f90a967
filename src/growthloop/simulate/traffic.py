"""Every session of the simulated shop: who visits, when, through which channel and campaign.

Blocks of sessions, each drawn in turn from the sessions stream: journey touches (the
sign-up session and later touches; buying touches complete the funnel), the sessions of
repeat purchases, inviters' share sessions, browsing, anonymous visitors, and refunds.
The non-completing sessions number NegBin(purchases, q) per market (see ``sessions``):
touches and shares count towards them, the rest are browsing by signed-up users and, a
share ``anonymous_share`` of them, visits of anonymous visitors who never sign up.

Browsing comes in shopping episodes: people look around in the days before they decide.
Every order closes an episode, and so does the last touch of every user who never buys
(a consideration that ends without a purchase): most shoppers who browse do not buy, and
they browse like those who do. Each browsing session joins an episode drawn uniformly
among its market's episodes, so an episode's sessions are the same Poisson count whether
it ends in an order or not, and starts Exp(``BROWSE_LEAD_DAYS``) before the episode's
end. Browsing causes nothing (the first purchase is decided by the journey touches
alone, see ``journeys``), and a path's length does not reveal whether it converted. A
session that falls before the user's sign-up is a visit before the account existed:
anonymous, under the visitor id the user signs up with (one that would fall before the
horizon starts is moved to a uniform time between the horizon start and the sign-up).
Where a failed promotion (``risks``) weakened a market's festival lift, its anonymous
visits are thinned by the ratio of the multipliers, after every draw of the block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from growthloop.simulate.acquisition import Acquisition, Profiles, Signups
from growthloop.simulate.calendar import Calendar, draw_weighted, time_of_day
from growthloop.simulate.customers import choice
from growthloop.simulate.journeys import (
    Journeys,
    email_with_consent_only,
    touch_mix_without_email,
)
from growthloop.simulate.orders import Orders
from growthloop.simulate.params import (
    ANONYMOUS_SESSIONS_PER_VISITOR,
    BROWSE_LEAD_DAYS,
    N_PRODUCTS,
    WorldParams,
)
from growthloop.simulate.risks import thinned
from growthloop.simulate.sessions import (
    Sessions,
    concat_sessions,
    make_sessions,
    noncomplete_depth,
    product_draws,
)

__all__ = [
    "BrowsePool",
    "Touches",
    "all_sessions",
    "coupon_sessions",
    "merge_sessions",
    "renumber_orders",
    "session_campaigns",
    "touch_sessions",
]


def session_campaigns(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                      cal: Calendar, market: np.ndarray, channel: np.ndarray,
                      t: np.ndarray) -> np.ndarray:
    """Campaign of sessions from paid channels with a media plan (by that day's spend), else -1."""
    paid_kind = np.asarray([k == "paid" for k in params.kinds])
    out = np.full(len(market), -1, dtype=np.int64)
    sel = np.flatnonzero(paid_kind[np.maximum(channel, 0)] & (channel >= 0)
                         & (acq.pair_of[market, np.maximum(channel, 0)] >= 0))
    out[sel] = acq.plan.pick_campaign(acq.pair_of[market[sel], channel[sel]],
                                      cal.day_of(t[sel]), rng.random(len(sel)))
    return out


def _returning_channel(rng: np.random.Generator, params: WorldParams, user: np.ndarray,
                       user_market: np.ndarray, profiles: Profiles) -> np.ndarray:
    """Channels of users' later sessions: the touch mix, email only with marketing consent."""
    return email_with_consent_only(params, choice(rng, params.touch_mix, user_market[user]),
                                   profiles.marketing[user])


def _noncompleting(rng: np.random.Generator, params: WorldParams, market: np.ndarray,
                   channel: np.ndarray,
                   share: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Event counts and durations of sessions that do not purchase."""
    return make_sessions(rng, params, depth=noncomplete_depth(rng, params.funnel, market),
                         market=market, channel=channel, share=share)


def _browsing_block(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                    cal: Calendar, t: np.ndarray, market: np.ndarray, channel: np.ndarray,
                    **who: np.ndarray) -> Sessions:
    """Non-purchasing sessions starting at ``t``, with a campaign and a main product.

    ``who`` gives the ``user``, ``anon`` and ``device`` columns.
    """
    counts, duration = _noncompleting(rng, params, market, channel)
    campaign = session_campaigns(rng, params, acq, cal, market, channel, t)
    return Sessions.block(start=t, market=market, channel=channel, campaign=campaign,
                          counts=counts, duration=duration,
                          product=product_draws(rng, len(t), N_PRODUCTS), **who)


@dataclass(frozen=True)
class Touches:
    """The session of each journey touch (``Journeys`` order)."""

    market: np.ndarray
    buys: np.ndarray  # the first purchase happens in this session
    counts: np.ndarray
    duration: np.ndarray
    start: np.ndarray
    campaign: np.ndarray

    @property
    def purchase_t(self) -> np.ndarray:
        """When the first purchase of each buying touch happens: at its session's end."""
        buying = np.flatnonzero(self.buys)
        return self.start[buying] + self.duration[buying]


def touch_sessions(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                   cal: Calendar, signups: Signups, journeys: Journeys) -> Touches:
    """Depth, events, timing and campaign of the touch sessions.

    The sign-up session starts U(0, 0.5) of its duration before the sign-up and keeps
    the sign-up's campaign; later touches from paid channels draw one.
    """
    jr = journeys
    tm = signups.market[jr.user]
    buys = np.zeros(len(jr.t), bool)
    buys[jr.purchase_touch[jr.converted]] = True
    depth = noncomplete_depth(rng, params.funnel, tm)
    depth[buys] = 4
    counts, duration = make_sessions(rng, params, depth=depth, market=tm, channel=jr.channel)
    lead = rng.uniform(0.0, 0.5, len(jr.t)) * duration
    start = np.where(jr.first, np.clip(jr.t - lead, 0.0, cal.last_session_start), jr.t)
    campaign = np.where(jr.first, signups.campaign[jr.user],
                        session_campaigns(rng, params, acq, cal, tm, jr.channel, jr.t))
    return Touches(market=tm, buys=buys, counts=counts, duration=duration, start=start,
                   campaign=campaign)


def _touch_block(rng: np.random.Generator, journeys: Journeys, touches: Touches,
                 orders: Orders, device: np.ndarray) -> Sessions:
    """Touch sessions; a buying one carries its order and that order's product."""
    jr = journeys
    buying = np.flatnonzero(touches.buys)
    touch_order = np.full(len(jr.t), -1, dtype=np.int64)
    touch_order[buying] = orders.first_rank
    product = product_draws(rng, len(jr.t), N_PRODUCTS)
    product[buying] = orders.product[touch_order[buying]]
    return Sessions.block(
        start=touches.start, user=jr.user, anon=jr.user, market=touches.market,
        channel=jr.channel, campaign=touches.campaign, device=device[jr.user],
        counts=touches.counts, duration=touches.duration, order=touch_order,
        anon_until=np.where(jr.first, jr.t, -np.inf), product=product)


def _repeat_block(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                  cal: Calendar, signups: Signups, profiles: Profiles,
                  orders: Orders) -> Sessions:
    """The session of each repeat purchase, ending with the order."""
    rep = np.flatnonzero(~orders.first)
    user, market = orders.user[rep], orders.market[rep]
    channel = _returning_channel(rng, params, user, signups.market, profiles)
    counts, duration = make_sessions(rng, params, depth=np.full(len(rep), 4), market=market,
                                     channel=channel)
    start = np.maximum(orders.t[rep] - duration, 0.0)
    return Sessions.block(
        start=start, user=user, anon=user, market=market, channel=channel,
        campaign=session_campaigns(rng, params, acq, cal, market, channel, start),
        device=profiles.device[user], counts=counts, duration=orders.t[rep] - start,
        order=rep, product=orders.product[rep])


@dataclass(frozen=True)
class Shares:
    """The inviter's share session before each invitee's sign-up."""

    inviter: np.ndarray
    invitee: np.ndarray
    market: np.ndarray  # the inviter's
    channel: np.ndarray
    counts: np.ndarray
    duration: np.ndarray
    start: np.ndarray


def _share_sessions(rng: np.random.Generator, params: WorldParams, cal: Calendar,
                    signups: Signups) -> Shares:
    """Organic sessions with a share event, shortly before the invitee signs up."""
    inviter, invitee = signups.invitations()
    t = signups.t
    delay = t[invitee] - t[inviter]
    market = signups.market[inviter]
    channel = np.full(len(invitee), params.organic_channel, dtype=np.int64)
    counts, duration = _noncompleting(rng, params, market, channel,
                                      share=np.ones(len(invitee), np.int16))
    # the inviter shares shortly before the invitee signs up, never before their own sign-up
    start = t[invitee] - np.minimum(rng.exponential(1.0, len(invitee)), 0.9 * delay)
    start = np.maximum(np.minimum(start, cal.end - duration), t[inviter])
    return Shares(inviter=inviter, invitee=invitee, market=market, channel=channel,
                  counts=counts, duration=duration, start=start)


def _share_block(rng: np.random.Generator, shares: Shares, signups: Signups,
                 device: np.ndarray) -> Sessions:
    n = len(shares.invitee)
    return Sessions.block(
        start=shares.start, user=shares.inviter, anon=shares.inviter, market=shares.market,
        channel=shares.channel, device=device[shares.inviter], counts=shares.counts,
        duration=shares.duration, product=product_draws(rng, n, N_PRODUCTS),
        mechanism=signups.mechanism[shares.invitee])


@dataclass(frozen=True)
class BrowsePool:
    """Non-completing sessions per market: the target and who fills it."""

    purchases: np.ndarray  # (markets,) orders
    completion: np.ndarray  # (markets,) q, the probability a session completes the funnel
    target: np.ndarray  # (markets,) NegBin(purchases, q) non-completing sessions
    existing: np.ndarray  # (markets,) non-buying touches and share sessions
    anonymous: np.ndarray  # (markets,) sessions of anonymous visitors
    browsing: np.ndarray  # (markets,) signed-up users' browsing sessions
    anonymous_share: float


def _browse_pool(rng: np.random.Generator, params: WorldParams, orders: Orders,
                 touches: Touches, shares: Shares, anonymous_share: float) -> BrowsePool:
    nm = params.n_markets
    purchases_m = np.bincount(orders.market, minlength=nm)
    q = params.funnel.prod(axis=1)
    pool = np.where(purchases_m > 0,
                    rng.negative_binomial(np.maximum(purchases_m, 1), q), 0)
    existing = (np.bincount(touches.market[~touches.buys], minlength=nm)
                + np.bincount(shares.market, minlength=nm))
    extra = np.maximum(pool - existing, 0)
    anon_n = rng.binomial(extra, anonymous_share)
    return BrowsePool(purchases=purchases_m, completion=q, target=pool, existing=existing,
                      anonymous=anon_n, browsing=extra - anon_n, anonymous_share=anonymous_share)


def _per_market(params: WorldParams, draw: Callable[[int, int], np.ndarray],
                counts: np.ndarray) -> np.ndarray:
    """``draw(m, counts[m])`` for each market, concatenated as int64."""
    return np.concatenate([draw(m, counts[m]) for m in range(params.n_markets)]).astype(np.int64)


@dataclass(frozen=True)
class Episodes:
    """Shopping episodes: one ending in each order, one ending each non-buyer's last touch."""

    user: np.ndarray
    end: np.ndarray  # the order, or the end of the last touch session
    market: np.ndarray


def _episodes(signups: Signups, journeys: Journeys, touches: Touches,
              orders: Orders) -> Episodes:
    never = np.flatnonzero(~journeys.converted)
    last = journeys.purchase_touch[never]  # every user's last touch (buyers buy in it)
    return Episodes(user=np.concatenate([orders.user, never]),
                    end=np.concatenate([orders.t, touches.start[last] + touches.duration[last]]),
                    market=np.concatenate([orders.market, signups.market[never]]))


def _browse_block(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                  cal: Calendar, signups: Signups, profiles: Profiles, episodes: Episodes,
                  pool: BrowsePool) -> Sessions:
    """Browsing Exp(``BROWSE_LEAD_DAYS``) before the end of a random episode of the market.

    Sessions before the user's sign-up are anonymous (the visitor id the user signs up
    with); those before the horizon start move to U(0, sign-up).
    """
    counts = np.bincount(episodes.market, minlength=params.n_markets)
    pick = _per_market(params, lambda m, k: np.flatnonzero(episodes.market == m)[
        rng.integers(0, max(counts[m], 1), k)], pool.browsing)
    user = episodes.user[pick]
    t = episodes.end[pick] - rng.exponential(BROWSE_LEAD_DAYS, len(pick))
    su = signups.t[user]
    early = np.flatnonzero(t < 0.0)
    t[early] = rng.random(len(early)) * su[early]
    t = np.minimum(t, cal.last_session_start)
    anon_until = np.where(t < su, np.inf, -np.inf)
    market = episodes.market[pick]
    channel = _returning_channel(rng, params, user, signups.market, profiles)
    return _browsing_block(rng, params, acq, cal, t, market, channel, user=user, anon=user,
                           device=profiles.device[user], anon_until=anon_until)


def _anonymous_block(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                     cal: Calendar, n_users: int,
                     pool: BrowsePool) -> tuple[Sessions, int]:
    """Anonymous visitors (ids after the users') browsing along the season; and how many."""
    nm, anon_n = params.n_markets, pool.anonymous
    visitors_m = np.where(anon_n > 0, np.ceil(anon_n / ANONYMOUS_SESSIONS_PER_VISITOR),
                          0).astype(np.int64)
    visitor_first = n_users + np.concatenate([[0], np.cumsum(visitors_m)[:-1]])
    v_device = choice(rng, params.device_mix, np.repeat(np.arange(nm), visitors_m))
    browse_season = cal.season(1.0, 1.0)
    market = np.repeat(np.arange(nm), anon_n)
    visitor = _per_market(params, lambda m, k: visitor_first[m] + rng.integers(
        0, max(visitors_m[m], 1), k), anon_n)
    day = _per_market(params, lambda m, k: draw_weighted(rng, browse_season[m], k), anon_n)
    t = np.minimum(day + time_of_day(rng, params.utc_offset[market]), cal.last_session_start)
    channel = choice(rng, touch_mix_without_email(params), market)
    return _browsing_block(rng, params, acq, cal, t, market, channel, anon=visitor,
                           device=v_device[visitor - n_users]), int(visitors_m.sum())


def _refund_block(rng: np.random.Generator, params: WorldParams, orders: Orders) -> Sessions:
    """A one-event session for each returned order, when the refund is made."""
    returned = np.flatnonzero(~np.isnan(orders.fulfilment.return_t))
    market = orders.market[returned]
    counts, duration = make_sessions(rng, params, depth=np.zeros(len(returned), np.int64),
                                     market=market, channel=np.full(len(returned), -1),
                                     refund=True)
    return Sessions.block(
        start=orders.fulfilment.return_t[returned], user=orders.user[returned],
        market=market, counts=counts, duration=duration, order=returned,
        product=orders.product[returned])


def _weaker_festival(rng: np.random.Generator | None, acq: Acquisition, cal: Calendar,
                     sessions: Sessions) -> Sessions:
    """``sessions`` thinned where demand keeps less of the festival lift (``acq.demand``)."""
    if acq.demand is None:
        return sessions
    if rng is None:
        raise ValueError("a weakened festival lift needs a random stream")
    keep = thinned(rng, acq.demand[sessions.market, cal.day_of(sessions.start)])
    return sessions.take(np.flatnonzero(keep))


def all_sessions(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                 cal: Calendar, signups: Signups, profiles: Profiles, journeys: Journeys,
                 touches: Touches, orders: Orders, anonymous_share: float,
                 risk_rng: np.random.Generator | None = None) -> tuple[Sessions, BrowsePool, int]:
    """Every session sorted by start, the browsing pool, and the anonymous visitors.

    Anonymous visits are thinned from ``risk_rng`` where ``acq.demand`` says so.
    """
    device = profiles.device
    blocks = [_touch_block(rng, journeys, touches, orders, device),
              _repeat_block(rng, params, acq, cal, signups, profiles, orders)]
    shares = _share_sessions(rng, params, cal, signups)
    pool = _browse_pool(rng, params, orders, touches, shares, anonymous_share)
    episodes = _episodes(signups, journeys, touches, orders)
    blocks.append(_browse_block(rng, params, acq, cal, signups, profiles, episodes, pool))
    blocks.append(_share_block(rng, shares, signups, device))
    anonymous, n_visitors = _anonymous_block(rng, params, acq, cal, len(signups), pool)
    anonymous = _weaker_festival(risk_rng, acq, cal, anonymous)
    blocks += [anonymous, _refund_block(rng, params, orders)]
    sessions = concat_sessions(blocks)
    del blocks
    return sessions.take(np.argsort(sessions.start, kind="stable")), pool, n_visitors


def coupon_sessions(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                    cal: Calendar, profiles: Profiles, orders: Orders) -> Sessions:
    """The purchase session of each coupon order (from the e-mail: ``email_crm``) and the
    refund session of each returned one; ``order`` indexes ``orders``."""
    n = len(orders)
    email = params.email_channel if params.email_channel >= 0 else params.organic_channel
    channel = np.full(n, email, dtype=np.int64)
    counts, duration = make_sessions(rng, params, depth=np.full(n, 4), market=orders.market,
                                     channel=channel)
    start = np.maximum(orders.t - duration, 0.0)
    buy = Sessions.block(
        start=start, user=orders.user, anon=orders.user, market=orders.market,
        channel=channel, campaign=session_campaigns(rng, params, acq, cal, orders.market,
                                                    channel, start),
        device=profiles.device[orders.user], counts=counts, duration=orders.t - start,
        order=np.arange(n), product=orders.product)
    return concat_sessions([buy, _refund_block(rng, params, orders)])


def renumber_orders(sessions: Sessions, index: np.ndarray) -> Sessions:
    """``sessions`` with each order index ``i`` (not -1) replaced by ``index[i]``."""
    order = sessions.order.copy()
    has = order >= 0
    order[has] = index[order[has]]
    return replace(sessions, order=order)


def merge_sessions(a: Sessions, b: Sessions) -> Sessions:
    """Two session sets sorted by start in one (ties: ``a`` first; ``a`` keeps its order)."""
    s = concat_sessions([a, b])
    return s.take(np.argsort(s.start, kind="stable"))
