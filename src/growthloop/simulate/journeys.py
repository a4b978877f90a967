"""Touch journeys after sign-up and the first purchase (the attribution ground truth).

Each user has the sign-up touch (the acquisition channel) and Poisson(mu_m) later
touches, Exp-spaced, with channels from the market's touch mix (email only for users
with marketing consent, organic otherwise). The first purchase is a noisy-OR:
``p_i = 1 - (1 - base_m) * prod_touches (1 - effect_{c,m})``; one uniform ``U_i`` per user
decides, and the purchase happens in the last touch session. The counterfactual without
channel c uses the same ``U_i``, so conversions lost without c are exactly countable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from growthloop.simulate.customers import choice, segment_cumsum
from growthloop.simulate.params import TOUCH_GAP_MEAN_DAYS, WorldParams

__all__ = [
    "Journeys",
    "email_with_consent_only",
    "expected_conversion",
    "simulate_journeys",
    "touch_mix_without_email",
]


def touch_mix_without_email(params: WorldParams) -> np.ndarray:
    """The touch mix of people without marketing consent: email's share goes to organic."""
    mix = params.touch_mix.copy()
    if params.email_channel >= 0 and params.organic_channel >= 0:
        mix[:, params.organic_channel] += mix[:, params.email_channel]
        mix[:, params.email_channel] = 0.0
    return mix


def email_with_consent_only(params: WorldParams, channel: np.ndarray,
                            consent_marketing: np.ndarray) -> np.ndarray:
    """``channel`` with email touches of people without marketing consent made organic."""
    if params.email_channel >= 0 and params.organic_channel >= 0:
        channel[(channel == params.email_channel) & ~consent_marketing] = params.organic_channel
    return channel


def expected_conversion(params: WorldParams) -> np.ndarray:
    """(markets, channels) E[first purchase | sign-up touch c], untruncated journeys.

    With K ~ Poisson(mu) later touches drawn i.i.d. from mix pi,
    E[prod (1 - e)] = exp(mu (g - 1)) where g = sum_j pi_j (1 - e_j), mixed over consent.
    """
    cons = params.consent[:, 1]
    mu = params.later_touches_mean
    g_e = (params.touch_mix * (1.0 - params.effect)).sum(axis=1)
    g_n = (touch_mix_without_email(params) * (1.0 - params.effect)).sum(axis=1)
    later = cons * np.exp(mu * (g_e - 1.0)) + (1.0 - cons) * np.exp(mu * (g_n - 1.0))
    return 1.0 - (1.0 - params.base_conversion)[:, None] * (1.0 - params.effect) * later[:, None]


@dataclass(frozen=True)
class Journeys:
    """Touches sorted by user then time, and each user's first-purchase outcome."""

    user: np.ndarray
    t: np.ndarray
    channel: np.ndarray
    first: np.ndarray  # the sign-up touch
    start: np.ndarray  # (users,) index of the user's first touch
    count: np.ndarray  # (users,) touches per user
    p: np.ndarray  # (users,) conversion probability (experiment applied)
    u: np.ndarray  # (users,) the uniform draw deciding conversion
    converted: np.ndarray
    purchase_touch: np.ndarray  # (users,) index of the last touch
    lost: np.ndarray  # (markets, channels) conversions lost without the channel
    conversions: np.ndarray  # (markets,)


def simulate_journeys(rng: np.random.Generator, params: WorldParams, signup_t: np.ndarray,
                      market: np.ndarray, acquisition: np.ndarray, consent_marketing: np.ndarray,
                      last_start: float, lift: np.ndarray) -> Journeys:
    """Touches and first purchases; ``lift`` multiplies each user's conversion probability."""
    n = len(signup_t)
    nm, nc = params.n_markets, params.n_channels
    n_later = rng.poisson(params.later_touches_mean[market])
    owner = np.repeat(np.arange(n), n_later)
    t_later = signup_t[owner] + segment_cumsum(
        rng.exponential(TOUCH_GAP_MEAN_DAYS, size=len(owner)), n_later)
    ch_later = email_with_consent_only(params, choice(rng, params.touch_mix, market[owner]),
                                       consent_marketing[owner])
    keep = t_later < last_start
    user = np.concatenate([np.arange(n), owner[keep]])
    t = np.concatenate([signup_t, t_later[keep]])
    channel = np.concatenate([acquisition, ch_later[keep]])
    first = np.concatenate([np.ones(n, bool), np.zeros(int(keep.sum()), bool)])
    order = np.lexsort((~first, t, user))
    user, t, channel, first = user[order], t[order], channel[order], first[order]
    count = np.bincount(user, minlength=n)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)

    log1m = np.log1p(-params.effect[market[user], channel])
    s_total = np.bincount(user, log1m, minlength=n)
    s_by = np.bincount(user * nc + channel, log1m, minlength=n * nc).reshape(n, nc)
    keep_base = 1.0 - params.base_conversion[market]
    p = np.minimum(1.0, (1.0 - keep_base * np.exp(s_total)) * lift)
    u = rng.random(n)
    converted = u < p
    p_minus = np.minimum(
        1.0, (1.0 - keep_base[:, None] * np.exp(s_total[:, None] - s_by)) * lift[:, None])
    lost_mask = converted[:, None] & (u[:, None] >= p_minus)
    lost = np.column_stack([np.bincount(market[lost_mask[:, c]], minlength=nm)
                            for c in range(nc)])
    return Journeys(user=user, t=t, channel=channel, first=first, start=start, count=count,
                    p=p, u=u, converted=converted, purchase_touch=start + count - 1,
                    lost=lost.astype(np.int64),
                    conversions=np.bincount(market[converted], minlength=nm))
