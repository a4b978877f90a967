"""Acquisition: the media plan meeting the sign-up targets, the sign-ups and the users.

The expected users per seed sign-up (its referral descendants included) set how many
seed sign-ups each market needs for ``n_users``; the paid share of them sets each media
pair's sign-up target, and the expected value of a sign-up over its ROI target the
pair's spend. Seed sign-ups are paid (Poisson around the media response, each credited
to a campaign in proportion to its spend that day) or organic/owned (the seasonal
baseline); referred users follow from the branching process. Planted shocks change a
pair's true response from their date on, after the plan was sized (see ``shocks``); a
failed promotion (``risks``) weakens the festival lift of a market's demand: its paid
response is that of the spend planned for the weaker lift, its organic and owned
sign-ups are thinned by the ratio of the multipliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from growthloop.simulate.calendar import Calendar
from growthloop.simulate.calendar import time_of_day as _time_of_day
from growthloop.simulate.customers import (
    bgnbd_expected_repeats,
    choice,
    expand_daily_counts,
    gamma_gamma_mean,
    referral_multiplier,
    simulate_referrals,
    sort_rank,
)
from growthloop.simulate.journeys import expected_conversion
from growthloop.simulate.media import (
    MediaPlan,
    campaign_shapes,
    lifted_response,
    plan_media,
    response_curve,
)
from growthloop.simulate.params import REFERRAL_DELAY_MEAN_DAYS, VALUE_WINDOW_DAYS, WorldParams
from growthloop.simulate.risks import thinned
from growthloop.simulate.shocks import Shock, effectiveness

__all__ = [
    "Acquisition",
    "Profiles",
    "Seeds",
    "SignupValue",
    "Signups",
    "add_referrals",
    "draw_profiles",
    "plan_acquisition",
    "seed_signups",
    "signup_value",
]


@dataclass(frozen=True)
class SignupValue:
    """What a sign-up is expected to bring in its first ``VALUE_WINDOW_DAYS`` days."""

    conversion: np.ndarray  # (markets, channels) P(first purchase | sign-up channel)
    repeats: np.ndarray  # (markets,) expected repeat purchases in the window (BG/NBD)
    order_value: np.ndarray  # (markets,) mean order value (Gamma-Gamma)
    gross: np.ndarray  # (markets, channels) expected revenue
    net: np.ndarray  # (markets, channels) the same after cancellations and returns


def signup_value(params: WorldParams) -> SignupValue:
    """Expected value of a sign-up by market and sign-up channel (experiments ignored)."""
    conv_given_first = expected_conversion(params)
    r, al, a, b = params.bgnbd.T
    repeats_window = bgnbd_expected_repeats(VALUE_WINDOW_DAYS, r, al, a, b)
    aov = gamma_gamma_mean(params.gg[:, 0], params.gg[:, 1], params.gg[:, 2])
    net_factor = (1.0 - params.cancel_probability) * (1.0 - params.return_probability)
    value_gross = conv_given_first * (aov * (1.0 + repeats_window))[:, None]
    return SignupValue(conversion=conv_given_first, repeats=repeats_window, order_value=aov,
                       gross=value_gross, net=value_gross * net_factor[:, None])


@dataclass(frozen=True)
class Acquisition:
    """The media plan and the sign-up targets it was built for."""

    plan: MediaPlan
    pair_of: np.ndarray  # (markets, channels) media pair index, -1 where none
    baseline_shape: np.ndarray  # (markets, days) daily share of organic/owned sign-ups
    seeds_target: np.ndarray  # (markets,) expected seed (non-referred) sign-ups
    market_share: np.ndarray  # (markets,) share of the users requested
    value: SignupValue
    demand: np.ndarray | None = None  # (markets, days) festival lift kept, None: all of it

    @property
    def pair_market(self) -> np.ndarray:
        return self.plan.pairs[:, 0]

    @property
    def pair_channel(self) -> np.ndarray:
        return self.plan.pairs[:, 1]


def _media_pairs(params: WorldParams) -> tuple[np.ndarray, np.ndarray]:
    """(market, media channel) pairs, (n, 2), and the pair index of each market x channel."""
    nm = params.n_markets
    pairs = np.asarray([(m, c) for m in range(nm) for c in params.media_channels],
                       dtype=np.int64).reshape(-1, 2)
    pair_of = np.full((nm, params.n_channels), -1, dtype=np.int64)
    pair_of[pairs[:, 0], pairs[:, 1]] = np.arange(len(pairs))
    return pairs, pair_of


def _seed_targets(params: WorldParams, cal: Calendar, pairs: np.ndarray,
                  paid_shape: np.ndarray, baseline_shape: np.ndarray,
                  n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected seed sign-ups per market giving ``n_users`` users, and the market shares.

    A seed's descendants depend on the days left after it, so the daily shape of seed
    sign-ups (paid along ``paid_shape``, the rest along ``baseline_shape``) matters.
    """
    seed_shape = (1.0 - params.paid_share)[:, None] * baseline_shape
    for i, (m, c) in enumerate(pairs):
        seed_shape[m] += params.paid_share[m] * params.paid_mix[m, c] * paid_shape[i]
    remaining = cal.end - (np.arange(cal.days) + 0.5)
    multiplier = np.vstack([referral_multiplier(k, REFERRAL_DELAY_MEAN_DAYS, remaining)
                            for k in params.viral_k])
    users_per_seed = (seed_shape * multiplier).sum(axis=1)
    weight = params.market_weight / params.market_weight.sum()
    return n_users * weight / users_per_seed, weight


def plan_acquisition(rng: np.random.Generator, params: WorldParams, cal: Calendar,
                     n_users: int, shocks: tuple[Shock, ...] = (),
                     lifted_festival: np.ndarray | None = None) -> Acquisition:
    """Campaigns, their spend and response, sized so that about ``n_users`` users sign up.

    The plan is sized without ``shocks`` (checked ones) and along the calendar's festival
    multipliers; the shocks then scale the true response of their pairs from their dates
    on, and ``lifted_festival`` ((markets, days), the multipliers demand sees under
    failed promotions) the response of every pair of a market to what the spend planned
    for it would bring, leaving spend and beta as planned.
    """
    pairs, pair_of = _media_pairs(params)
    pm, pc_ = pairs[:, 0], pairs[:, 1]
    shapes = campaign_shapes(rng, cal.weekday, cal.festival[pm])
    alpha, shape, k_mult = (params.adstock_alpha[pc_], params.hill_shape[pc_],
                            params.hill_k_multiple[pc_])
    _, _, h_unit = response_curve(shapes.pair_total(len(pairs)), alpha, shape, k_mult)
    paid_shape = h_unit / h_unit.sum(axis=1, keepdims=True)
    signup_season = cal.season(1.0, 1.0)
    baseline_shape = signup_season / signup_season.sum(axis=1, keepdims=True)
    seeds_target, weight = _seed_targets(params, cal, pairs, paid_shape, baseline_shape,
                                         n_users)
    value = signup_value(params)
    signups_target = seeds_target[pm] * params.paid_share[pm] * params.paid_mix[pm, pc_]
    spend_target = signups_target * value.net[pm, pc_] / params.roi_target[pm, pc_]
    names = tuple(f"{params.markets[pm[p]]}-{params.channels[pc_[p]]}-c{k}"
                  for p, k in zip(shapes.pair, shapes.number, strict=True))
    plan = plan_media(pairs, names, shapes, spend_target, signups_target, alpha, shape, k_mult)
    eff = effectiveness(shocks, params.markets, params.channels, pair_of, cal.start, cal.days)
    demand = None
    if lifted_festival is not None:
        lifted = lifted_response(plan, cal.festival[pm], lifted_festival[pm])
        eff = lifted if eff is None else eff * lifted
        demand = lifted_festival / cal.festival
    return Acquisition(plan=plan.shocked(eff), pair_of=pair_of, baseline_shape=baseline_shape,
                       seeds_target=seeds_target, market_share=weight, value=value,
                       demand=demand)


@dataclass(frozen=True)
class Seeds:
    """Sign-ups not referred by a user: paid ones first, then organic and owned."""

    t: np.ndarray
    market: np.ndarray
    channel: np.ndarray
    campaign: np.ndarray  # -1 for none


def _shocked_seeds(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                   src: np.ndarray, day: np.ndarray, t: np.ndarray, campaign: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paid seeds (pair, day, time, campaign) drawn at the planned response, made those of
    the shocked one: each kept with probability ``min(1, effectiveness)``, and for days
    above 1 a Poisson top-up of ``(effectiveness - 1) x expected``, all from ``rng``."""
    eff = acq.plan.effectiveness
    assert eff is not None
    keep = thinned(rng, np.minimum(eff, 1.0)[src, day])
    extra = np.zeros_like(eff, dtype=np.int64)
    up = eff > 1.0
    extra[up] = rng.poisson((eff[up] - 1.0) * acq.plan.expected[up])
    xsrc, xday = expand_daily_counts(extra)
    xt = xday + _time_of_day(rng, params.utc_offset[acq.pair_market[xsrc]])
    xcampaign = acq.plan.pick_campaign(xsrc, xday, rng.random(len(xsrc)))
    return (np.concatenate([src[keep], xsrc]), np.concatenate([day[keep], xday]),
            np.concatenate([t[keep], xt]), np.concatenate([campaign[keep], xcampaign]))


def seed_signups(rng: np.random.Generator, params: WorldParams, acq: Acquisition,
                 days: int, shock_rng: np.random.Generator | None = None,
                 risk_rng: np.random.Generator | None = None) -> Seeds:
    """Paid sign-ups around the media response and organic/owned ones around the baseline.

    Every seed is first drawn as in a world without shocks or risks. Where shocks or
    risks changed the response, the paid seeds are then thinned or topped up from
    ``shock_rng`` (``_shocked_seeds``), and where a failed promotion weakened the
    festival lift (``acq.demand``) the organic and owned seeds are thinned from
    ``risk_rng``; so no draw of the other markets moves.
    """
    nm = params.n_markets
    paid_counts = rng.poisson(acq.plan.expected)
    src, day = expand_daily_counts(paid_counts)
    paid_t = day + _time_of_day(rng, params.utc_offset[acq.pair_market[src]])
    paid_campaign = acq.plan.pick_campaign(src, day, rng.random(len(src)))
    base_ch = np.asarray(params.baseline_channels, dtype=np.int64)
    nb = len(base_ch)
    base_expected = ((acq.seeds_target * (1.0 - params.paid_share))[:, None, None]
                     * params.baseline_mix[:, base_ch][:, :, None]
                     * acq.baseline_shape[:, None, :])
    base_counts = rng.poisson(base_expected.reshape(nm * nb, days))
    bsrc, bday = expand_daily_counts(base_counts)
    base_t = bday + _time_of_day(rng, params.utc_offset[bsrc // max(nb, 1)])
    # every draw above is that of a world without shocks or risks; changes come after
    if acq.plan.effectiveness is not None:
        if shock_rng is None:
            raise ValueError("a shocked media plan needs shock_rng")
        src, day, paid_t, paid_campaign = _shocked_seeds(
            shock_rng, params, acq, src, day, paid_t, paid_campaign)
    if acq.demand is not None:
        if risk_rng is None:
            raise ValueError("a weakened festival lift needs risk_rng")
        keep = thinned(risk_rng, np.repeat(acq.demand, nb, axis=0)[bsrc, bday])
        bsrc, base_t = bsrc[keep], base_t[keep]
    paid_market = acq.pair_market[src]
    base_market = bsrc // max(nb, 1)
    return Seeds(t=np.concatenate([paid_t, base_t]),
                 market=np.concatenate([paid_market, base_market]),
                 channel=np.concatenate([acq.pair_channel[src], base_ch[bsrc % max(nb, 1)]]),
                 campaign=np.concatenate([paid_campaign, np.full(len(base_t), -1, np.int64)]))


@dataclass(frozen=True)
class Signups:
    """Every user in sign-up order (the user index), with how they came."""

    t: np.ndarray
    market: np.ndarray
    channel: np.ndarray  # acquisition channel
    campaign: np.ndarray  # -1 unless a paid sign-up
    parent: np.ndarray  # the inviter's user index, -1 for seeds
    mechanism: np.ndarray  # referral mechanism, -1 for seeds
    generation: np.ndarray  # 0 for seeds
    referred: int  # users who came by invitation

    def __len__(self) -> int:
        return len(self.t)

    @property
    def paid(self) -> np.ndarray:
        return self.campaign >= 0

    def invitations(self) -> tuple[np.ndarray, np.ndarray]:
        """(inviter, invitee) user indices of every referred user, in sign-up order."""
        invitee = np.flatnonzero(self.parent >= 0)
        return self.parent[invitee], invitee


def add_referrals(rng: np.random.Generator, params: WorldParams, seeds: Seeds,
                  horizon: float) -> Signups:
    """The seeds and the users they (and their invitees) invite before ``horizon``."""
    ref = simulate_referrals(rng, seeds.t, seeds.market, params.viral_k,
                             REFERRAL_DELAY_MEAN_DAYS, horizon, params.mechanism_mix)
    n_ref, n_seeds = len(ref.t), len(seeds.t)
    order, rank = sort_rank(np.concatenate([seeds.t, ref.t]))
    parent_raw = np.concatenate([np.full(n_seeds, -1, np.int64), ref.parent])[order]
    return Signups(
        t=np.concatenate([seeds.t, ref.t])[order],
        market=np.concatenate([seeds.market, ref.market])[order],
        channel=np.concatenate([seeds.channel, np.full(n_ref, params.referral_channel)])[order],
        campaign=np.concatenate([seeds.campaign, np.full(n_ref, -1, np.int64)])[order],
        parent=np.where(parent_raw >= 0, rank[np.maximum(parent_raw, 0)], -1),
        mechanism=np.concatenate([np.full(n_seeds, -1, np.int64), ref.mechanism])[order],
        generation=np.concatenate([np.zeros(n_seeds, np.int64), ref.generation])[order],
        referred=n_ref)


@dataclass(frozen=True)
class Profiles:
    """Per user: the country shipped to, the three consents and the device."""

    countries: tuple[str, ...]  # the country codes ``country`` indexes
    country: np.ndarray
    consent: np.ndarray  # (users, 3) analytics, marketing, personalisation
    device: np.ndarray

    @property
    def marketing(self) -> np.ndarray:
        return self.consent[:, 1]


def draw_profiles(rng: np.random.Generator, params: WorldParams, market: np.ndarray) -> Profiles:
    """Country (a cross-border share ships abroad), consents and device of each user."""
    n = len(market)
    vocab = sorted({m for m in params.markets} | {c for cs in params.countries for c in cs})
    country = np.asarray([vocab.index(m) for m in params.markets])[market]
    cross = rng.random(n) < params.cross_border[market]
    for m in range(params.n_markets):
        if params.countries[m]:
            sel = np.flatnonzero(cross & (market == m))
            options = np.asarray([vocab.index(c) for c in params.countries[m]])
            country[sel] = options[rng.integers(0, len(options), len(sel))]
    consent = rng.random((n, 3)) < params.consent[market]
    return Profiles(countries=tuple(vocab), country=country, consent=consent,
                    device=choice(rng, params.device_mix, market))
