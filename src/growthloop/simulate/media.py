"""Media spend, carry-over (adstock) and diminishing returns (Hill saturation).

``geometric_adstock`` and ``hill`` are the response transforms of Jin et al. (2017),
"Bayesian methods for media mix modeling with carryover and shape effects"; the
media mix model imports them from here so the simulator and the model agree.
Paid sign-ups of a market and channel on day t are
``beta * hill(geometric_adstock(spend)_t, K, S)`` in expectation, times the day's
effectiveness where a planted shock (``shocks``) or a failed promotion (``risks``)
changed it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "CampaignShapes",
    "MediaPlan",
    "campaign_shapes",
    "geometric_adstock",
    "hill",
    "impressions_and_clicks",
    "lifted_response",
    "plan_media",
]

ALWAYS_ON_FESTIVAL_POWER = 0.8  # always-on spend follows festival^0.8
FLIGHT_FESTIVAL_POWER = 0.5  # flights follow festival^0.5; festival pushes festival - 1


def geometric_adstock(spend: np.ndarray, alpha: float | np.ndarray, *,
                      normalize: bool = True) -> np.ndarray:
    """Geometric adstock along the last axis (Jin et al. 2017, eq. 1 with w(l) = alpha^l).

    ``a_t = x_t + alpha * a_{t-1}`` with ``a_{-1} = 0`` (no lag cap). With ``normalize``
    the weights are divided by their sum ``1 / (1 - alpha)``, so a constant spend ``x``
    has adstock ``x`` in the steady state. ``alpha`` broadcasts against the leading axes.
    """
    x = np.asarray(spend, dtype=float)
    a = np.asarray(alpha, dtype=float)
    if np.any((a < 0) | (a >= 1)):
        raise ValueError("adstock decay alpha must be in [0, 1)")
    lead = np.broadcast_shapes(x.shape[:-1], a.shape)
    out = np.empty(lead + x.shape[-1:])
    carry = np.zeros(lead)
    for t in range(x.shape[-1]):
        carry = x[..., t] + a * carry
        out[..., t] = carry
    if normalize:
        out *= (1.0 - a)[..., None]
    return out


def hill(x: np.ndarray, half_saturation: float | np.ndarray,
         shape: float | np.ndarray) -> np.ndarray:
    """Hill saturation ``x^S / (x^S + K^S)`` (Jin et al. 2017, eq. 3); 0.5 at ``x = K``."""
    x = np.asarray(x, dtype=float)
    k = np.asarray(half_saturation, dtype=float)
    s = np.asarray(shape, dtype=float)
    ratio = np.divide(x, k, out=np.zeros(np.broadcast_shapes(x.shape, k.shape)), where=k > 0)
    powered = np.power(np.maximum(ratio, 0.0), s)
    return powered / (1.0 + powered)


@dataclass(frozen=True)
class CampaignShapes:
    """Relative daily spend of each campaign of each (market, channel) pair, mean-free scale."""

    pair: np.ndarray  # (n_campaigns,) pair index
    number: np.ndarray  # (n_campaigns,) 1-based campaign number within its pair
    kind: tuple[str, ...]  # always_on, flight or festival_push
    unit: np.ndarray  # (n_campaigns, days)

    def pair_total(self, n_pairs: int) -> np.ndarray:
        out = np.zeros((n_pairs, self.unit.shape[1]))
        np.add.at(out, self.pair, self.unit)
        return out


def campaign_shapes(rng: np.random.Generator, season_weekday: np.ndarray,
                    festival: np.ndarray) -> CampaignShapes:
    """1-3 campaigns per pair: always-on, a flight, a festival push; noisy daily spend.

    ``season_weekday`` is (days,), ``festival`` is (pairs, days) of the pair's market.
    """
    n_pairs, days = festival.shape
    n_camp = rng.integers(1, 4, size=n_pairs)
    level = rng.lognormal(0.0, 0.25, size=(n_pairs, 3)) * np.array([1.0, 0.6, 0.5])
    flight_start = rng.integers(0, days, size=(n_pairs, 2))
    flight_len = rng.uniform(max(7.0, days / 8), max(14.0, days / 2), size=(n_pairs, 2))
    noise = rng.lognormal(0.0, 0.18, size=(n_pairs, 3, days))
    t = np.arange(days)
    pair, number, kind, unit = [], [], [], []
    for i in range(n_pairs):
        has_festival = bool(np.any(festival[i] > 1.1))
        for k in range(n_camp[i]):
            if k == 0:
                row = season_weekday ** 0.6 * festival[i] ** ALWAYS_ON_FESTIVAL_POWER
                what = "always_on"
            elif k == 2 and has_festival:
                row = np.where(festival[i] > 1.1, festival[i] - 1.0, 0.0) * 2.0
                what = "festival_push"
            else:
                j = 0 if k == 1 else 1
                active = (t >= flight_start[i, j]) & (t < flight_start[i, j] + flight_len[i, j])
                if not active.any():
                    active = t == min(flight_start[i, j], days - 1)
                row = active * season_weekday ** 0.6 * festival[i] ** FLIGHT_FESTIVAL_POWER
                what = "flight"
            pair.append(i)
            number.append(k + 1)
            kind.append(what)
            unit.append(level[i, k] * row * noise[i, k])
    return CampaignShapes(pair=np.asarray(pair, dtype=np.int64),
                          number=np.asarray(number, dtype=np.int64), kind=tuple(kind),
                          unit=np.vstack(unit) if unit else np.zeros((0, days)))


def response_curve(total: np.ndarray, alpha: np.ndarray, shape: np.ndarray,
                   k_multiple: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adstock, half-saturation K (``k_multiple`` x mean adstock) and Hill value per pair/day.

    The Hill value does not change when spend and K are scaled together.
    """
    ad = geometric_adstock(total, alpha)
    k_half = k_multiple * ad.mean(axis=1)
    return ad, k_half, hill(ad, k_half[:, None], shape[:, None])


@dataclass(frozen=True)
class MediaPlan:
    """Spend and the true response of every (market, media channel) pair."""

    pairs: np.ndarray  # (n, 2) market index, channel index
    campaign_names: tuple[str, ...]
    campaigns: CampaignShapes
    campaign_spend: np.ndarray  # (n_campaigns, days), reporting currency
    spend: np.ndarray  # (n, days)
    adstock: np.ndarray  # (n, days)
    alpha: np.ndarray
    k_half: np.ndarray
    shape: np.ndarray
    beta: np.ndarray
    expected: np.ndarray  # (n, days) expected sign-ups as planned (beta x hill), no shocks
    campaign_cum: np.ndarray  # (n, days, 3) cumulative share of the day's spend
    campaign_first: np.ndarray  # (n,) index of the pair's first campaign
    effectiveness: np.ndarray | None = None  # (n, days) multiplier of beta, None: no shocks

    @property
    def true_expected(self) -> np.ndarray:
        """(n, days) expected sign-ups of the world: the plan's times the effectiveness."""
        return self.expected if self.effectiveness is None else self.expected * self.effectiveness

    def shocked(self, effectiveness: np.ndarray | None) -> MediaPlan:
        """The same plan (same spend, same beta) with the true response scaled per day."""
        return replace(self, effectiveness=effectiveness)

    def pick_campaign(self, pair: np.ndarray, day: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Global campaign index for draws ``u`` on ``day`` in proportion to that day's spend."""
        cum = self.campaign_cum[pair, day]
        k = (u[:, None] >= cum).sum(axis=1)
        n_of_pair = np.bincount(self.campaigns.pair, minlength=len(self.pairs))[pair]
        return self.campaign_first[pair] + np.minimum(k, n_of_pair - 1)


def _festival_scale(kind: str, festival: np.ndarray, lifted: np.ndarray) -> np.ndarray:
    """How a campaign of ``kind`` planned along ``festival`` would scale along ``lifted``."""
    if kind == "always_on":
        return (lifted / festival) ** ALWAYS_ON_FESTIVAL_POWER
    if kind == "flight":
        return (lifted / festival) ** FLIGHT_FESTIVAL_POWER
    return np.divide(lifted - 1.0, festival - 1.0, out=np.ones_like(festival),
                     where=festival > 1.1)


def lifted_response(plan: MediaPlan, festival: np.ndarray, lifted: np.ndarray) -> np.ndarray:
    """(pairs, days) multiplier of the planned response where the festival lift is weaker.

    ``festival`` and ``lifted`` are each pair's market multipliers, (pairs, days), as
    planned and as demand sees them. The response is that of the spend planned for
    ``lifted`` (each campaign along its festival shape), the true adstock and Hill
    curve unchanged, over the planned response; exactly 1 until the first day where
    ``lifted`` differs from ``festival``.
    """
    shapes = plan.campaigns
    spend = np.zeros_like(plan.spend)
    for c, kind in enumerate(shapes.kind):
        p = shapes.pair[c]
        spend[p] += plan.campaign_spend[c] * _festival_scale(kind, festival[p], lifted[p])
    h = hill(geometric_adstock(spend, plan.alpha), plan.k_half[:, None], plan.shape[:, None])
    changed = np.cumsum(lifted != festival, axis=1) > 0
    ratio = np.divide(plan.beta[:, None] * h, plan.expected, out=np.ones_like(h),
                      where=changed & (plan.expected > 0))
    return np.where(changed, ratio, 1.0)


def plan_media(pairs: np.ndarray, names: tuple[str, ...], shapes: CampaignShapes,
               spend_total: np.ndarray, signups_total: np.ndarray, alpha: np.ndarray,
               shape: np.ndarray, k_multiple: np.ndarray) -> MediaPlan:
    """Scale campaign shapes to ``spend_total`` per pair and solve beta for ``signups_total``.

    beta = signups_total / sum_t hill(adstock(spend)_t), so the expected number of paid
    sign-ups over the horizon equals the target exactly.
    """
    n = len(pairs)
    unit_total = shapes.pair_total(n)
    factor = spend_total / unit_total.sum(axis=1)
    campaign_spend = shapes.unit * factor[shapes.pair][:, None]
    spend = unit_total * factor[:, None]
    ad, k_half, h = response_curve(spend, alpha, shape, k_multiple)
    beta = signups_total / h.sum(axis=1)
    days = spend.shape[1]
    share = np.zeros((n, days, 3))
    for c in range(len(shapes.pair)):
        share[shapes.pair[c], :, shapes.number[c] - 1] = campaign_spend[c]
    share /= np.maximum(share.sum(axis=2, keepdims=True), 1e-300)
    cum = np.cumsum(share, axis=2)
    cum[:, :, -1] = 1.0 + 1e-12
    first = np.zeros(n, dtype=np.int64)
    counts = np.bincount(shapes.pair, minlength=n)
    first[1:] = np.cumsum(counts)[:-1]
    return MediaPlan(pairs=pairs, campaign_names=names, campaigns=shapes,
                     campaign_spend=campaign_spend, spend=spend, adstock=ad, alpha=alpha,
                     k_half=k_half, shape=shape, beta=beta, expected=beta[:, None] * h,
                     campaign_cum=cum, campaign_first=first)


def impressions_and_clicks(rng: np.random.Generator, spend: np.ndarray, cpm: np.ndarray,
                           ctr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Impressions ~ spend / CPM x 1000 (5 % noise) and clicks ~ Binomial(impressions, CTR)."""
    imp = np.rint(spend / cpm * 1000.0 * rng.lognormal(0.0, 0.05, size=spend.shape))
    imp = imp.astype(np.int64)
    rate = np.clip(ctr * rng.lognormal(0.0, 0.1, size=spend.shape), 0.0, 1.0)
    return imp, rng.binomial(imp, rate).astype(np.int64)
