"""Sign-ups, the referral branching process and the customer-base models.

Repeat purchases follow the BG/NBD model and order values the Gamma-Gamma model of
Fader, Hardie & Lee (2005): "'Counting your customers' the easy way: an alternative to
the Pareto/NBD model" (Marketing Science 24(2)) and "RFM and CLV: using iso-value curves
for customer base analysis" (Journal of Marketing Research 42(4)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "Referrals",
    "bgnbd_expected_repeats",
    "bgnbd_prob_no_repeat",
    "bgnbd_repeat_days",
    "choice",
    "expand_daily_counts",
    "gamma_gamma_mean",
    "referral_multiplier",
    "segment_cumsum",
    "simulate_referrals",
    "sort_rank",
]


def choice(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per element: ``probs[rows[i]]`` is the distribution of draw i."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    k = (rng.random(len(rows))[:, None] >= cum[rows]).sum(axis=1)
    return np.minimum(k, probs.shape[1] - 1)


def segment_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each segment of ``counts`` consecutive elements."""
    c = np.cumsum(values)
    if c.size == 0:
        return c
    ends = np.cumsum(counts)
    before = np.concatenate([[0.0], c[ends[:-1] - 1]]) if len(counts) else np.zeros(0)
    before = np.where(np.concatenate([[0], ends[:-1]]) > 0, before, 0.0)
    return c - np.repeat(before, counts)


def sort_rank(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stable order sorting ``t`` and the rank (new position) of each element."""
    order = np.argsort(t, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return order, rank


def expand_daily_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(source, day) of every unit from a (sources, days) count matrix, row-major."""
    flat = counts.ravel()
    idx = np.repeat(np.arange(flat.size), flat)
    return idx // counts.shape[1], idx % counts.shape[1]


def referral_multiplier(k: float, delay_mean: float, remaining: np.ndarray) -> np.ndarray:
    """Expected users (the seed included) descending from a seed with ``remaining`` days.

    Generation g arrives after a sum of g exponential delays, Gamma(g, delay_mean), and
    has k^g members in expectation: sum_g k^g P(Gamma(g, delay_mean) < remaining).
    """
    out = np.ones_like(remaining, dtype=float)
    for g in range(1, 60):
        term = k ** g * special.gammainc(g, np.maximum(remaining, 0.0) / delay_mean)
        out += term
        if k ** g < 1e-12:
            break
    return out


@dataclass(frozen=True)
class Referrals:
    """Users created by invitations, in generation order, pointing at their inviters."""

    parent: np.ndarray  # index into the combined (seeds + invitees) arrays
    t: np.ndarray
    market: np.ndarray
    mechanism: np.ndarray
    generation: np.ndarray


def simulate_referrals(rng: np.random.Generator, t0: np.ndarray, market0: np.ndarray,
                       k: np.ndarray, delay_mean: float, horizon: float,
                       mechanism_mix: np.ndarray) -> Referrals:
    """Branching process: each user brings Poisson(k_m) invitees after Exp(delay_mean) days.

    Invitees signing up before ``horizon`` become users and invite in turn, generation by
    generation; k_m < 1 keeps the process finite.
    """
    t_all = [t0]
    m_all = [market0]
    parents, ts, ms, gens = [], [], [], []
    cur = np.arange(len(t0))
    cur_t, cur_m = t0, market0
    offset = len(t0)
    gen = 1
    while len(cur) and gen < 200:
        n = rng.poisson(k[cur_m])
        par = np.repeat(cur, n)
        t = np.repeat(cur_t, n) + rng.exponential(delay_mean, size=len(par))
        keep = t < horizon
        par, t = par[keep], t[keep]
        m = np.repeat(cur_m, n)[keep]
        parents.append(par)
        ts.append(t)
        ms.append(m)
        gens.append(np.full(len(par), gen, dtype=np.int64))
        t_all.append(t)
        m_all.append(m)
        cur = np.arange(offset, offset + len(par))
        offset += len(par)
        cur_t, cur_m = t, m
        gen += 1
    parent = np.concatenate(parents) if parents else np.zeros(0, np.int64)
    market = np.concatenate(ms) if ms else np.zeros(0, np.int64)
    return Referrals(parent=parent.astype(np.int64),
                     t=np.concatenate(ts) if ts else np.zeros(0),
                     market=market.astype(np.int64),
                     mechanism=choice(rng, mechanism_mix, market),
                     generation=np.concatenate(gens) if gens else np.zeros(0, np.int64))


def bgnbd_repeat_days(rng: np.random.Generator, lam: np.ndarray, p: np.ndarray,
                      days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BG/NBD repeat purchase occasions on the ``days`` whole days after the first one.

    A purchase occasion is a calendar day, as the customer summary counts them
    (``growthloop.metrics.customers``): the first purchase's day is the first occasion
    and repeats fall on later, distinct days, so the clock starts at the end of the first
    purchase day and ``days`` is the number of whole days from then to the horizon end.
    While alive, the customer has n ~ Poisson(lam * days) occasions in the window; after
    each repeat the customer drops out with probability ``p``, so with J ~ Geometric(p)
    occasions until drop-out, x = min(J, n) repeats are made on the first x of the n days.
    Those n days are the discrete form of FHL (2005)'s uniform order statistics: n
    distinct days of 1..days, every n-subset equally likely (selection sampling, Knuth's
    algorithm S: day j is taken with probability (days still to take) / (days left)).
    Arrivals of a Poisson process in continuous time from the first purchase fall now
    and then on the first purchase's day or on a day with another one (2.4 % of the
    simulated shop's repeats); the summary counts each day once, which thins exactly the
    heaviest buyers (alpha about 12 % high). n is capped at ``days`` (it needs lam near 1
    a day to matter).

    Returns (customer index, day of the repeat counted from the first purchase day,
    1..days), in day order.
    """
    days = np.asarray(days, dtype=np.int64)
    n = np.minimum(rng.poisson(lam * days), days)
    x = np.minimum(rng.geometric(p), n)
    who = np.flatnonzero(x > 0)
    left, todo, made = days[who], n[who], np.zeros(len(who), dtype=np.int64)
    owners, picked = [], []
    day = 0
    while len(who):
        day += 1
        take = rng.random(len(who)) * left < todo
        owners.append(who[take])
        picked.append(np.full(int(take.sum()), day, dtype=np.int64))
        left, todo, made = left - 1, todo - take, made + take
        keep = made < x[who]
        who, left, todo, made = who[keep], left[keep], todo[keep], made[keep]
    if not owners:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(owners), np.concatenate(picked)


def bgnbd_expected_repeats(t: np.ndarray | float, r: float, alpha: float, a: float,
                           b: float) -> np.ndarray:
    """E[X(t)], expected repeat purchases in (0, t] (FHL 2005, eq. 9); needs a > 1."""
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1.0) / (a - 1.0) * (
        1.0 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1.0, z))


def bgnbd_prob_no_repeat(t: np.ndarray | float, r: float, alpha: float) -> np.ndarray:
    """P(X(t) = 0) = (alpha / (alpha + t))^r: no arrival before t (death follows purchases)."""
    t = np.asarray(t, dtype=float)
    return (alpha / (alpha + t)) ** r


def gamma_gamma_mean(p: float, q: float, gamma: float) -> float:
    """Mean order value p * gamma / (q - 1) of the Gamma-Gamma model (FHL 2005 RFM/CLV)."""
    return p * gamma / (q - 1.0)
