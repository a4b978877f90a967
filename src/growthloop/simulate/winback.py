"""The win-back coupon: an experiment whose effect differs from customer to customer.

Units are the customers with an order before the window; they are assigned 50/50 at the
window start. The coupon is e-mailed, so it reaches only people with marketing consent.
A treated customer redeems it with probability ``a`` (``response``), which depends on
the customer as they stand at the window start: lapsed customers respond more (nothing
within ``IGNORE_DAYS`` of the last order: the just-served ignore it), frequent buyers
less, and the market, acquisition channel and device scale it. A redeeming customer
places one extra order on a day of the window without another order of theirs; the
orders the customer would have placed anyway (BG/NBD) are untouched. Every draw of this
module comes from its own random stream, after the other streams' draws, so a world
with the coupon holds every order of the world without it.

The true effect on the probability of buying in the window is
``a * (1 - p0)``, with ``p0`` the probability of buying there anyway given the
customer's BG/NBD rate ``lam`` and drop-out probability ``p`` and their history at the
window start: ``p0 = P(alive) * (1 - exp(-lam * L))`` over a window of ``L`` days, with
``P(alive) = 1 / (1 + [x > 0] p / (1 - p) exp(lam (T - t_x)))`` (Fader, Hardie & Lee
2005, the individual-level alive probability; ``T - t_x`` the days since the last
order). The effect on expected gross revenue is ``a`` times the customer's mean order
value ``p_gg / nu`` (Gamma-Gamma).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from growthloop.core.schema import DEVICES
from growthloop.simulate.experiments import Assignment, Experiment, winback_experiment
from growthloop.simulate.params import WorldParams

__all__ = ["DEFINITION", "IGNORE_DAYS", "Winback", "coupon_orders", "response",
           "winback_units"]

IGNORE_DAYS = 14.0  # customers who ordered this recently ignore the coupon
MAX_RESPONSE = 0.05  # the response of the most lapsed one-time customer, before the scales
LAPSE_DAYS = 75.0  # the response grows as 1 - exp(-(recency - IGNORE_DAYS) / LAPSE_DAYS)
FREQUENCY_DAMPING = 0.35  # the response is divided by 1 + damping * (orders - 1)
#: How much each market, acquisition channel and device scales the response (price
#: sensitivity, habit of coupons); 1 where not named.
MARKET_SCALE = {"ID": 1.3, "TH": 1.2, "SG": 0.8, "DE": 0.9, "FR": 0.9, "BR": 1.25,
                "MX": 1.2, "US": 0.85}
CHANNEL_SCALE = {"live_commerce": 1.2, "social_ads": 1.1, "search_ads": 0.75,
                 "short_video": 1.15, "referral": 1.0, "email_crm": 1.35, "organic": 0.9}
DEVICE_SCALE = {"app": 1.25, "mobile_web": 1.0, "desktop": 0.75, "tablet": 0.9, "other": 0.9}
DEFINITION = (
    "customers with an order before the window start, assigned 50/50 at the window start; "
    "treatment (an e-mailed coupon, reaching only people with marketing consent) brings "
    "one extra order in the window with probability response = consent * "
    f"{MAX_RESPONSE:g} * (1 - exp(-max(recency - {IGNORE_DAYS:g}, 0) / {LAPSE_DAYS:g})) / "
    f"(1 + {FREQUENCY_DAMPING:g} * (frequency - 1)) * market_scale * channel_scale * "
    "device_scale (recency: days from the last order to the window start; frequency: "
    "orders before it; at most 1); effect_probability = response * (1 - p0), p0 the "
    "probability of an order in the window without the coupon given the customer's BG/NBD "
    "rate and drop-out probability and history (P(alive) * (1 - exp(-lam * window "
    "days))); effect_revenue = response * mean order value (Gamma-Gamma p / nu, reporting "
    "currency, gross of cancellations and returns)")


@dataclass(frozen=True)
class Winback:
    """The units, their features at the window start, response and true effects."""

    experiment: Experiment
    assignment: Assignment
    recency: np.ndarray  # days from the last order to the window start
    frequency: np.ndarray  # orders before the window start
    response: np.ndarray  # probability the coupon brings an extra order, if treated
    p0: np.ndarray  # probability of an order in the window without the coupon
    effect_probability: np.ndarray
    effect_revenue: np.ndarray

    def truth(self) -> dict[str, object]:
        """The experiment's section of truth.json: the window, units and the effects."""
        e = self.effect_probability
        return {**self.experiment.truth(),
                "units": len(self.assignment.unit), "treated": int(self.assignment.treated.sum()),
                "uplift": {"file": "truth_uplift.parquet", "definition": DEFINITION,
                           "mean_effect_probability": float(e.mean()) if len(e) else 0.0,
                           "mean_effect_revenue": float(self.effect_revenue.mean())
                           if len(e) else 0.0,
                           "share_positive": float((e > 0).mean()) if len(e) else 0.0,
                           "mean_p0": float(self.p0.mean()) if len(e) else 0.0}}


def response(params: WorldParams, recency: np.ndarray, frequency: np.ndarray,
             market: np.ndarray, channel: np.ndarray, device: np.ndarray,
             consent_marketing: np.ndarray) -> np.ndarray:
    """The probability that a treated customer redeems the coupon (``DEFINITION``)."""
    lapse = 1.0 - np.exp(-np.maximum(recency - IGNORE_DAYS, 0.0) / LAPSE_DAYS)
    scale = (np.array([MARKET_SCALE.get(m, 1.0) for m in params.markets])[market]
             * np.array([CHANNEL_SCALE.get(c, 1.0) for c in params.channels])[channel]
             * np.array([DEVICE_SCALE.get(d, 1.0) for d in DEVICES])[device])
    a = MAX_RESPONSE * lapse / (1.0 + FREQUENCY_DAMPING * (frequency - 1.0)) * scale
    return np.clip(np.where(consent_marketing, a, 0.0), 0.0, 1.0)


def _p_alive(lam: np.ndarray, drop: np.ndarray, repeats: np.ndarray,
             since_last: np.ndarray) -> np.ndarray:
    """FHL (2005) individual P(alive | lam, p, x, T - t_x); 1 before any repeat."""
    odds = np.where(repeats > 0, drop / np.maximum(1.0 - drop, 1e-300)
                    * np.exp(np.minimum(lam * since_last, 700.0)), 0.0)
    return 1.0 / (1.0 + odds)


def winback_units(rng: np.random.Generator, params: WorldParams, days: int,
                  order_user: np.ndarray, order_t: np.ndarray, first_user: np.ndarray,
                  lam: np.ndarray, drop: np.ndarray, nu: np.ndarray, user_market: np.ndarray,
                  user_channel: np.ndarray, device: np.ndarray,
                  consent_marketing: np.ndarray) -> Winback:
    """Units (customers before the window), their assignment at the window start, the
    response and the true effects. ``lam`` and ``drop`` are per first purchase
    (``first_user``), ``nu`` per user; ``order_*`` the orders without the coupon."""
    exp0 = winback_experiment(days)
    start, end = float(exp0.start_day), float(exp0.end_day)
    n_users = len(user_market)
    before = order_t < start
    count = np.bincount(order_user[before], minlength=n_users)
    last = np.full(n_users, -np.inf)
    np.maximum.at(last, order_user[before], order_t[before])
    unit = np.flatnonzero(count > 0)
    treated = rng.random(len(unit)) < exp0.allocation
    user_lam = np.zeros(n_users)
    user_drop = np.zeros(n_users)
    user_lam[first_user], user_drop[first_user] = lam, drop
    recency = start - last[unit]
    frequency = count[unit].astype(float)
    # repeats happen on whole days after the first one (one order each): the days since
    # the last order are counted from the end of its day, like the BG/NBD clock
    since_last = start - (np.floor(last[unit]) + 1.0)
    alive = _p_alive(user_lam[unit], user_drop[unit], count[unit] - 1,
                     np.maximum(since_last, 0.0))
    p0 = alive * (1.0 - np.exp(-user_lam[unit] * (end - start)))
    a = response(params, recency, frequency, user_market[unit], user_channel[unit],
                 device[unit], consent_marketing[unit])
    effect = a * (1.0 - p0)
    lift = float(effect.sum() / p0.sum()) if p0.sum() > 0 else math.nan
    gg_p = params.gg[user_market[unit], 0]
    return Winback(experiment=winback_experiment(days, lift),
                   assignment=Assignment(unit=unit, treated=treated,
                                         assigned_t=np.full(len(unit), start)),
                   recency=recency, frequency=frequency, response=a, p0=p0,
                   effect_probability=effect, effect_revenue=a * gg_p / nu[unit])


def coupon_orders(rng: np.random.Generator, wb: Winback, order_user: np.ndarray,
                  order_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The extra orders of the treated customers who redeem: (user, time), in time order.

    Each falls at a uniform time of a uniform day among the window's days without another
    order of the customer (purchase occasions stay on distinct days); a customer with an
    order on every day of the window places none.
    """
    asg = wb.assignment
    u = rng.random(len(asg.unit))
    user = asg.unit[asg.treated & (u < wb.response)]
    start, end = int(wb.experiment.start_day), int(wb.experiment.end_day)
    day_of = np.floor(order_t).astype(np.int64)
    inside = (day_of >= start) & (day_of < end) & np.isin(order_user, user)
    busy: dict[int, set[int]] = {}
    for x, d in zip(order_user[inside].tolist(), day_of[inside].tolist(), strict=True):
        busy.setdefault(x, set()).add(d)
    pick, when = rng.random(len(user)), rng.random(len(user))
    keep = np.ones(len(user), bool)
    day = np.zeros(len(user))
    window = np.arange(start, max(end, start + 1))
    for i, x in enumerate(user.tolist()):
        free = window[~np.isin(window, list(busy.get(x, ())))]
        if len(free) == 0:
            keep[i] = False
            continue
        day[i] = free[min(int(pick[i] * len(free)), len(free) - 1)]
    user, t = user[keep], (day + when)[keep]
    o = np.argsort(t, kind="stable")
    return user[o], t[o]
