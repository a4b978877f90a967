"""Orders: first and repeat purchases, their values, fulfilment and NPS survey answers.

First purchases come from the journeys; repeat purchases follow the BG/NBD model from
the first purchase to the horizon end, as purchase occasions on distinct later days (the
customer summary's occasions), and order values the Gamma-Gamma model (both Fader,
Hardie & Lee 2005). Delivery takes Gamma(shape, scale) days by region; a share
of orders is cancelled, a market-specific share of the rest is returned Exp(7 days)
after delivery. NPS answers come from a sample of delivered orders and are worse
after a slow delivery (longer than 1.5 x the region's mean), a hygiene factor of
satisfaction. Planted risks (``risks``) add delivery days, raise return probabilities
and remove the orders of customers who left; the slow threshold stays the region's
usual mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from growthloop.core.schema import ORDER_STATUSES
from growthloop.simulate.customers import bgnbd_repeat_days, choice, sort_rank
from growthloop.simulate.params import (
    NPS_RESPONSE_RATE,
    NPS_SLOW_FACTOR,
    RETURN_DELAY_MEAN_DAYS,
    WorldParams,
)

__all__ = [
    "NPS_SCORE_GIVEN_CATEGORY",
    "Fulfilment",
    "Orders",
    "Purchases",
    "Surveys",
    "expected_nps",
    "fulfil",
    "keep_orders",
    "keep_surveys",
    "merge_orders",
    "merge_surveys",
    "nps_surveys",
    "order_values",
    "order_values_and_rates",
    "repeat_purchases",
]

_S = {s: i for i, s in enumerate(ORDER_STATUSES)}
# P(score | promoter, passive, detractor), scores 0..10
NPS_SCORE_GIVEN_CATEGORY = np.array([
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0.45, 0.55],
    [0, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0],
    [0.04, 0.03, 0.05, 0.08, 0.12, 0.25, 0.43, 0, 0, 0, 0],
])
PAID_ONLY_DAYS = 0.25  # orders younger than this at the horizon end are not shipped yet


@dataclass(frozen=True)
class Purchases:
    """Every order in time order: the buyer and when; first purchases come first in ties."""

    user: np.ndarray
    t: np.ndarray
    first: np.ndarray  # the user's first purchase
    first_rank: np.ndarray  # (first purchases,) position of the i-th given first purchase
    lam: np.ndarray | None = None  # (first purchases,) BG/NBD purchase rate per day
    drop: np.ndarray | None = None  # (first purchases,) BG/NBD drop-out probability


def repeat_purchases(rng: np.random.Generator, params: WorldParams, first_user: np.ndarray,
                     first_t: np.ndarray, user_market: np.ndarray, horizon: float) -> Purchases:
    """The first purchases and BG/NBD repeats of each buyer from the first to ``horizon``.

    Repeats are purchase occasions on whole days after the first purchase's day up to
    the last whole day before ``horizon`` (``bgnbd_repeat_days``), one order each, at a
    uniform time of its day.
    """
    cm = user_market[first_user]
    lam = rng.gamma(params.bgnbd[cm, 0], 1.0 / params.bgnbd[cm, 1])
    drop = rng.beta(params.bgnbd[cm, 2], params.bgnbd[cm, 3])
    first_day = np.floor(first_t)
    days = np.maximum(np.floor(horizon) - 1.0 - first_day, 0.0).astype(np.int64)
    owner, offset = bgnbd_repeat_days(rng, lam, drop, days)
    o_user_raw = np.concatenate([first_user, first_user[owner]])
    o_t_raw = np.concatenate([first_t, first_day[owner] + offset + rng.random(len(owner))])
    o_sort, o_rank = sort_rank(o_t_raw)
    return Purchases(user=o_user_raw[o_sort], t=o_t_raw[o_sort],
                     first=(np.arange(len(o_sort)) < len(first_user))[o_sort],
                     first_rank=o_rank[: len(first_user)], lam=lam, drop=drop)


def order_values(rng: np.random.Generator, params: WorldParams, user_market: np.ndarray,
                 order_user: np.ndarray, multiplier: np.ndarray) -> np.ndarray:
    """Gamma-Gamma values (reporting currency): a mean per user, orders around it."""
    return order_values_and_rates(rng, params, user_market, order_user, multiplier)[0]


def order_values_and_rates(rng: np.random.Generator, params: WorldParams,
                           user_market: np.ndarray, order_user: np.ndarray,
                           multiplier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``order_values`` and every user's Gamma-Gamma rate ``nu`` (mean value p / nu)."""
    nu = rng.gamma(params.gg[user_market, 1], 1.0 / params.gg[user_market, 2])
    om = user_market[order_user]
    return rng.gamma(params.gg[om, 0], 1.0 / nu[order_user]) * multiplier, nu


@dataclass(frozen=True)
class Fulfilment:
    status: np.ndarray  # index into schema.ORDER_STATUSES
    delivered_t: np.ndarray  # NaN unless delivered (or delivered and returned)
    return_t: np.ndarray  # NaN unless returned within the horizon
    delivery_days: np.ndarray  # drawn delivery time of every order
    # delivered_t had no risk added delivery days (None: delivered_t); answers are sampled
    # among these orders, so added days drop late answers without moving the others' draws
    base_delivered_t: np.ndarray | None = None

    @property
    def sampled_delivered_t(self) -> np.ndarray:
        """The delivery times NPS answers are sampled along (``base_delivered_t``)."""
        return self.delivered_t if self.base_delivered_t is None else self.base_delivered_t


def fulfil(rng: np.random.Generator, order_t: np.ndarray, market: np.ndarray,
           params: WorldParams, horizon: float, extra_days: np.ndarray | None = None,
           return_factor: np.ndarray | None = None,
           max_return_probability: float = 1.0) -> Fulfilment:
    """Status at the horizon end: cancelled, paid, shipped, delivered or returned.

    ``extra_days`` lengthen each order's drawn delivery; ``return_factor`` scales its
    return probability (at most ``max_return_probability`` where scaled); the draws are
    those without them.
    """
    n = len(order_t)
    cancel = rng.random(n) < params.cancel_probability[market]
    shape, scale = params.delivery_gamma[market, 0], params.delivery_gamma[market, 1]
    delivery = rng.gamma(shape, scale)
    base = None
    if extra_days is not None:
        base = np.where(cancel | (order_t + delivery > horizon)
                        | (horizon - order_t < PAID_ONLY_DAYS), np.nan, order_t + delivery)
        delivery = delivery + extra_days
    delivered = order_t + delivery
    p_return = params.return_probability[market]
    if return_factor is not None:
        p_return = np.where(return_factor != 1.0,
                            np.minimum(p_return * return_factor, max_return_probability),
                            p_return)
    wants_return = rng.random(n) < p_return
    returned_at = delivered + rng.exponential(RETURN_DELAY_MEAN_DAYS, size=n)
    status = np.full(n, _S["delivered"], dtype=np.int64)
    status[delivered > horizon] = _S["shipped"]
    status[horizon - order_t < PAID_ONLY_DAYS] = _S["paid"]
    returned = wants_return & (returned_at <= horizon) & (status == _S["delivered"])
    status[returned] = _S["returned"]
    status[cancel] = _S["cancelled"]
    has_delivery = (status == _S["delivered"]) | (status == _S["returned"])
    return Fulfilment(status=status, delivered_t=np.where(has_delivery, delivered, np.nan),
                      return_t=np.where(status == _S["returned"], returned_at, np.nan),
                      delivery_days=delivery, base_delivered_t=base)


@dataclass(frozen=True)
class Orders:
    """Every order in time order (the order index) with its value and fate."""

    user: np.ndarray
    t: np.ndarray
    first: np.ndarray  # the user's first purchase
    first_rank: np.ndarray  # (first purchases,) order index of each, in the given order
    market: np.ndarray  # the buyer's market
    value: np.ndarray  # reporting currency, as generated
    amount: np.ndarray  # in the market's currency at the day's rate
    product: np.ndarray  # the product bought
    fulfilment: Fulfilment

    def __len__(self) -> int:
        return len(self.t)


def merge_orders(base: Orders, extra: Orders) -> tuple[Orders, np.ndarray, np.ndarray]:
    """``base`` and ``extra`` orders in one time order (ties: ``base`` first), and the new
    index of each order of ``base`` and of ``extra``."""
    t = np.concatenate([base.t, extra.t])
    o, rank = sort_rank(t)
    n = len(base)

    def cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.concatenate([a, b])[o]

    f, g = base.fulfilment, extra.fulfilment
    sampled = (None if f.base_delivered_t is None and g.base_delivered_t is None
               else cat(f.sampled_delivered_t, g.sampled_delivered_t))
    fulfilment = Fulfilment(status=cat(f.status, g.status),
                            delivered_t=cat(f.delivered_t, g.delivered_t),
                            return_t=cat(f.return_t, g.return_t),
                            delivery_days=cat(f.delivery_days, g.delivery_days),
                            base_delivered_t=sampled)
    merged = Orders(user=cat(base.user, extra.user), t=t[o], first=cat(base.first, extra.first),
                    first_rank=rank[base.first_rank], market=cat(base.market, extra.market),
                    value=cat(base.value, extra.value), amount=cat(base.amount, extra.amount),
                    product=cat(base.product, extra.product), fulfilment=fulfilment)
    return merged, rank[:n], rank[n:]


def keep_orders(orders: Orders, keep: np.ndarray) -> tuple[Orders, np.ndarray]:
    """The orders where ``keep`` (every first purchase among them), in the same order,
    and each old order's new index (-1: removed)."""
    index = np.where(keep, np.cumsum(keep) - 1, -1)
    first_rank = index[orders.first_rank]
    if np.any(first_rank < 0):
        raise ValueError("a first purchase cannot be removed")
    f = orders.fulfilment
    fulfilment = Fulfilment(status=f.status[keep], delivered_t=f.delivered_t[keep],
                            return_t=f.return_t[keep], delivery_days=f.delivery_days[keep],
                            base_delivered_t=None if f.base_delivered_t is None
                            else f.base_delivered_t[keep])
    return Orders(user=orders.user[keep], t=orders.t[keep], first=orders.first[keep],
                  first_rank=first_rank, market=orders.market[keep], value=orders.value[keep],
                  amount=orders.amount[keep], product=orders.product[keep],
                  fulfilment=fulfilment), index


def keep_surveys(surveys: Surveys, index: np.ndarray) -> Surveys:
    """The answers about orders still there, renumbered by ``index`` (``keep_orders``)."""
    new = index[surveys.order]
    kept = new >= 0
    return Surveys(order=new[kept], t=surveys.t[kept], score=surveys.score[kept])


def merge_surveys(base: Surveys, base_index: np.ndarray, extra: Surveys,
                  extra_index: np.ndarray) -> Surveys:
    """Answers about two sets of orders, their orders renumbered by ``*_index``."""
    return Surveys(order=np.concatenate([base_index[base.order], extra_index[extra.order]]),
                   t=np.concatenate([base.t, extra.t]),
                   score=np.concatenate([base.score, extra.score]))


def expected_nps(params: WorldParams) -> np.ndarray:
    """Expected NPS (promoters % - detractors %) per market over delivered orders."""
    shape = params.delivery_gamma[:, 0]
    # P(delivery > 1.5 x mean) = Q(shape, 1.5 * shape), whatever the scale
    slow = special.gammaincc(shape, NPS_SLOW_FACTOR * shape)
    normal = params.nps_normal[:, 0] - params.nps_normal[:, 2]
    slow_nps = params.nps_slow[:, 0] - params.nps_slow[:, 2]
    return 100.0 * ((1.0 - slow) * normal + slow * slow_nps)


@dataclass(frozen=True)
class Surveys:
    """NPS answers: the order asked about, the response time and the score 0-10."""

    order: np.ndarray
    t: np.ndarray
    score: np.ndarray


def nps_surveys(rng: np.random.Generator, fulfilment: Fulfilment, market: np.ndarray,
                params: WorldParams, horizon: float) -> Surveys:
    """Answers for sampled delivered orders, in order-index order.

    Orders are sampled along ``fulfilment.sampled_delivered_t``; an answer is then kept
    when its order was delivered (``delivered_t``, later where risks added days) and
    answered before ``horizon``. "Slow" is longer than 1.5 x the region's usual mean.
    """
    n = len(market)
    sampled = fulfilment.sampled_delivered_t
    respond = ~np.isnan(sampled) & (rng.random(n) < NPS_RESPONSE_RATE)
    delay = rng.exponential(1.5, size=n)
    idx = np.flatnonzero(respond & (sampled + delay < horizon))
    m = market[idx]
    mean_days = params.delivery_gamma[m, 0] * params.delivery_gamma[m, 1]
    slow = fulfilment.delivery_days[idx] > NPS_SLOW_FACTOR * mean_days
    probs = np.vstack([params.nps_normal, params.nps_slow])
    category = choice(rng, probs, m + params.n_markets * slow)
    score = choice(rng, NPS_SCORE_GIVEN_CATEGORY, category)
    response_t = fulfilment.delivered_t[idx] + delay[idx]
    kept = response_t < horizon  # False where not delivered (NaN)
    return Surveys(order=idx[kept], t=response_t[kept], score=score[kept])
