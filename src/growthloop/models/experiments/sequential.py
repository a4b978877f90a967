"""Always-valid inference: asymptotic confidence sequences with a normal-mixture boundary.

A confidence sequence covers the effect at every sample size simultaneously with
probability ``1 - alpha``, so the results may be looked at (and the test stopped) as
often as wanted. The boundary is the two-sided normal mixture of Howard, Ramdas,
McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence
sequences" (Ann. Statist. 49(2)), applied to the asymptotic (CLT) setting of
Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit theory and
asymptotic confidence sequences" (arXiv:2103.06476, eq. 9 of v7, the equation gbstats
cites), as gbstats' ``SequentialTwoSidedTTest`` does. With ``N = n_c + n_t`` units so
far, ``V`` the variance of the effect estimate (``frequentist.effect_variance``) and
``s2 = N V`` its per-unit scale, the interval is ``estimate ± h`` with

    h = sqrt(s2) * sqrt( 2 (N rho**2 + 1) / (N**2 rho**2) * log( sqrt(N rho**2 + 1) / alpha ) )

and the always-valid p-value is ``min(1, 1 / E)`` for the mixture e-value ``E =
exp(rho**2 S / (2 (N rho**2 + 1))) / sqrt(N rho**2 + 1)``, ``S = estimate**2 N / V``
(arXiv:2103.06476v7, eq. 155); ``p < alpha`` exactly when the interval excludes 0.

The tuning parameter ``rho`` is the standard deviation of the mixing normal: it sets
the sample size at which the boundary is tightest. ``tuned_rho(m, alpha)`` is the
closed-form approximate minimiser of the width at ``N = m`` (Howard et al. 2021;
arXiv:2103.06476v7, eq. 161), ``rho**2 = (-2 log alpha + log(1 - 2 log alpha)) / m``;
the width it gives is within 1e-4 of the exact minimum. gbstats calls ``m`` the
``sequential_tuning_parameter`` and defaults it to 5,000 (``GBSTATS_PLANNED_N``).

At ``N = m`` the width relative to the fixed-horizon normal interval depends on
``alpha`` only: about 1.549 for ``alpha = 0.05``, which is the minimum over all ``rho``
(the price of peeking at will); away from ``m`` it grows slowly (1.639 at ``N = 8 m``).

**Horizon-tuned mode** (``looks=K``). An experiment planned for ``N`` units and ``K``
looks equally spaced in information, ``n_k = k N / K``, needs validity at those looks
only, not at every sample size for ever. It keeps the boundary's shape (``rho`` tuned
for ``N``) and replaces ``alpha`` by the level ``alpha'`` (``calibrated_alpha``; above
``alpha`` for up to ``MAX_LOOKS`` looks) at which the chance under the null that the
running z-statistic ``Z = estimate / sqrt(V)`` crosses the boundary at one of the ``K``
looks is ``SPEND * alpha``: the idea of spending ``alpha`` over the planned looks only
(Lan & DeMets 1983, "Discrete sequential boundaries for clinical trials", Biometrika
70(3)). Under the null, asymptotically, ``Z`` at the looks is a standardised Brownian
motion sampled at ``t_k = k / K`` (``Corr(Z_i, Z_j) = sqrt(t_i / t_j)``), and the
crossing probability is the recursive numerical integration of Armitage, McPherson &
Rowe 1969, "Repeated significance tests on accumulating data", J. R. Statist. Soc. A
132(2) (Jennison & Turnbull 2000, "Group Sequential Methods with Applications to
Clinical Trials", ch. 19), ``crossing_probability``. Since ``N rho**2`` is fixed by the
tuning, ``alpha'`` depends on ``K`` and ``alpha`` only (0.1047 for 14 looks and 0.0910
for 28 at ``alpha = 0.05``), and so does the width ratio at ``N``: 1.402 for 14 looks,
1.431 for 28.

**The margin** (``SPEND = 0.5``). Only half of ``alpha`` is spent under the Gaussian
model; the other half absorbs the error of the normal approximation, which the plain
sequence absorbs in its own slack (1.2 % at 28 looks) and a fully calibrated one would
not. The delta-method z-statistic of a relative effect of a skewed or rare metric has a
heavy lower tail (a low treatment mean comes with a low variance estimate), worst where
the units are few and the boundary deep in the tail -- the first looks: with 100 units
per arm per look of a 10 % conversion the null exceeds the first look's boundary (|z| >
4.2) 300 times as often as the normal model says, the second's 12 times, but the 28th's
still 1.2 times; spending all of ``alpha`` gives a false-positive rate of 7.5 % over 28
daily looks (normal data: 5.2 %). The direct corrections fall short: a Student-t
boundary changes nothing at 200 units and more (it corrects the chi-square error of the
variance, not the skew), and no rejection over the first 10 % (30 %) of the plan still
leaves 6.4 % (5.7 %) on those conversions, the excess being spread, thinner, over every
look. Spending ``SPEND * alpha`` covers every look, keeps the calibration's properties
(a boundary of the same shape, ``alpha'`` a function of ``K`` and ``alpha``, a p-value
consistent with the interval) and was chosen from seeded A/A simulations (60,000
experiments each, 28 daily looks, 100 units per arm per look, relative effect, the
variance estimated from the data): false-positive rates of 2.5 % on normal data, 4.7 %
on 10 % conversions and 4.2 % on zero-inflated revenue (70 % zeros, lognormal amounts
with ``sigma = 0.8``), with width ratios at ``N`` of 1.364, 1.402, 1.431 and 1.454 for
7, 14, 28 and 60 looks. ``SPEND = 0.6`` leaves 5.3 % on the conversions; 0.45 costs a
further 1.2 % of width. Heavier tails (lognormal amounts with ``sigma = 1``: 5.2 %) or
fewer units per look need a later first look or the plain sequence.

The p-value is the repeated p-value of Jennison & Turnbull (2000, ch. 9) on the
``alpha`` scale: the smallest ``alpha`` whose calibrated procedure (``rho`` held fixed)
rejects at this look, ``min(1, P(1 / E) / SPEND)`` with ``P(l)`` the chance under the
null that the planned procedure at the level ``l`` rejects at one of the looks. So
``p < alpha`` exactly when the interval excludes 0, and under the Gaussian model
``P(p < alpha at some planned look) = SPEND * alpha`` for every ``alpha`` at once.

Guarantees (asymptotic, as the CLT). Plain: at most ``alpha`` over any number of looks
at any sample sizes. Horizon-tuned: ``SPEND * alpha`` over the ``K`` planned looks up to
``N``, the rest of ``alpha`` left to the finite-sample error. Other looks up to ``N``
(more frequent, unequal, continuous) stay below ``alpha'`` only, by Ville's inequality
for the level-``alpha'`` sequence (14 looks planned, 28 made: 0.030; 200 made: 0.039,
both still below ``alpha`` under the Gaussian model). Past ``N`` the test falls back to
the plain sequence at level ``alpha`` -- the safe option: wider than the calibrated one
and valid by itself for any looks, so that going on past the plan adds at most
``alpha`` (28 planned looks then 28 more up to ``2 N``: 0.029, against 0.035 had
``alpha'`` been kept; 84 more up to ``4 N``: 0.034 against 0.044).
"""

from __future__ import annotations

import functools
import math
from numbers import Integral, Real

import numpy as np
from scipy import optimize, special, stats

from growthloop.core.errors import InputError
from growthloop.models.experiments.cuped import cuped_arms
from growthloop.models.experiments.frequentist import (
    Effect,
    arm,
    check_alpha,
    check_pair,
    effect_moments,
)
from growthloop.models.experiments.sums import Sums

__all__ = ["GBSTATS_PLANNED_N", "MAX_LOOKS", "SPEND", "always_valid_p_value",
           "calibrated_alpha", "crossing_probability", "halfwidth", "sequential_test",
           "tuned_rho", "width_ratio"]

#: gbstats' default ``sequential_tuning_parameter``: the boundary is tuned for 5,000 units.
GBSTATS_PLANNED_N = 5000

#: The share of ``alpha`` the horizon-tuned mode spends over its planned looks under the
#: Gaussian (Brownian) model; the rest is the margin for the normal approximation's error
#: at the first looks (the module docstring: the measurements it was chosen from).
SPEND = 0.5

#: The most planned looks ``calibrated_alpha`` takes (its cost grows as ``looks**2``);
#: beyond, the plain confidence sequence (``looks=None``) is the tool.
MAX_LOOKS = 200

# Simpson's rule of crossing_probability: points per standard deviation of a step (the
# error is below 1e-6 for up to MAX_LOOKS looks), the grid cut at 12 standard deviations
# of the score (what lies beyond has probability below 1e-32) and its largest size.
_POINTS_PER_SD = 6
_TAIL_SD = 12.0
_MAX_GRID = 4001


def tuned_rho(planned_n: float, alpha: float = 0.05) -> float:
    """``rho`` that makes the boundary tightest at ``planned_n`` units in total (both
    arms): ``sqrt((-2 log alpha + log(1 - 2 log alpha)) / planned_n)`` (Howard et al.
    2021; arXiv:2103.06476v7, eq. 161)."""
    check_alpha(alpha)
    _check_planned_n(planned_n)
    la = -2 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1)) / planned_n)


def _check_planned_n(planned_n: object) -> None:
    if isinstance(planned_n, bool) or not isinstance(planned_n, Real) or not (
            planned_n > 0 and math.isfinite(planned_n)):
        raise InputError(f"planned_n = {planned_n!r}: expected a positive number of units")


def _check_rho(rho: object) -> None:
    if isinstance(rho, bool) or not isinstance(rho, Real) or not (rho > 0
                                                                   and math.isfinite(rho)):
        raise InputError(f"rho = {rho!r}: expected a positive number")


def _check_looks(looks: object) -> int:
    if isinstance(looks, bool) or not isinstance(looks, Integral) or not (
            1 <= looks <= MAX_LOOKS):
        raise InputError(f"looks = {looks!r}: expected a whole number of planned looks "
                         f"from 1 to {MAX_LOOKS} (looks=None for the plain confidence "
                         "sequence, valid for any number of looks)")
    return int(looks)


def _boundary(n_total, rho, alpha):
    """``2 (N rho**2 + 1) / (N**2 rho**2) * log(sqrt(N rho**2 + 1) / alpha)``."""
    c = n_total * rho**2
    return 2 * (c + 1) / (n_total * c) * np.log(np.sqrt(c + 1) / alpha)


def halfwidth(variance, n_total, rho: float, alpha: float = 0.05):
    """Half-width of the confidence sequence for an estimate of variance ``variance``
    after ``n_total`` units (arrays welcome): ``sqrt(N V) sqrt(boundary)``. With
    ``variance = 1`` it is the boundary of the z-statistic."""
    return np.sqrt(variance * n_total) * np.sqrt(_boundary(n_total, rho, alpha))


def width_ratio(n_total, rho: float, alpha: float = 0.05):
    """Width of the confidence sequence over that of the fixed-horizon normal interval
    ``z_{1 - alpha/2} sqrt(V)`` at ``n_total`` units."""
    return np.sqrt(n_total * _boundary(n_total, rho, alpha)) / stats.norm.ppf(1 - alpha / 2)


def always_valid_p_value(estimate, variance, n_total, rho: float):
    """``min(1, 1 / E)`` for the normal-mixture e-value (arrays welcome)."""
    return np.minimum(1.0, np.exp(-_log_e_value(estimate, variance, n_total, rho)))


def _log_e_value(estimate, variance, n_total, rho):
    """``log E = rho**2 S / (2 (N rho**2 + 1)) - log(N rho**2 + 1) / 2``."""
    s = np.square(estimate) * n_total / variance
    c = n_total * rho**2 + 1
    return rho**2 * s / (2 * c) - 0.5 * np.log(c)


# ------------------------------------------------------------------ planned looks
def _simpson(half: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of Simpson's rule on ``[-half, half]``, spacing at most ``step``."""
    m = max(2, 2 * math.ceil(half / step))
    if m + 1 > _MAX_GRID:
        raise InputError(f"times: consecutive looks too close together for the "
                         f"integration grid ({m + 1} points needed, at most {_MAX_GRID})")
    x = np.linspace(-half, half, m + 1)
    w = np.ones(m + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return x, w * (x[1] - x[0]) / 3


def crossing_probability(critical, times=None) -> float:
    """The chance under the null that ``|Z_k| >= b_k`` at one of the looks ``k``.

    ``Z_k = S(t_k) / sqrt(t_k)`` for a standard Brownian motion ``S`` at the information
    times ``t_k`` (increasing; proportional to the sample sizes; default ``1, ..., K``),
    so ``Corr(Z_i, Z_j) = sqrt(t_i / t_j)`` -- the asymptotic null law of a z-statistic
    looked at as data accrue. ``critical`` holds the ``b_k >= 0`` (``inf``: no stop at
    that look). Armitage, McPherson & Rowe 1969's recursive numerical integration
    (Jennison & Turnbull 2000, ch. 19): the sub-density of ``S(t_k)`` on the paths not
    yet stopped, by Simpson's rule on a grid over the continuation region, is carried
    from look to look by the Gaussian transition kernel, and the chance to leave at each
    look is summed.
    """
    b = np.asarray(critical, dtype=float)
    if b.ndim != 1 or b.size == 0 or np.isnan(b).any() or (b < 0).any():
        raise InputError(f"critical = {critical!r}: expected a non-empty list of "
                         "thresholds >= 0 (inf for none)")
    if times is None:
        t = np.arange(1.0, b.size + 1.0)
    else:
        t = np.asarray(times, dtype=float)
        if t.shape != b.shape or not (np.isfinite(t).all() and t[0] > 0
                                      and (np.diff(t) > 0).all()):
            raise InputError(f"times = {times!r}: expected {b.size} finite, positive, "
                             "increasing information times, one per threshold")
    a = b * np.sqrt(t)  # the thresholds on the score scale S
    total = 2 * float(special.ndtr(-b[0]))
    # S(t_{k-1}) on the paths not stopped yet: grid nodes and sub-density times Simpson
    # weights, and the standard deviation of the step that led there (S(0) = 0)
    nodes, weighted, prev_sd = np.zeros(1), np.ones(1), math.sqrt(t[0])
    for k in range(1, b.size):
        sd = math.sqrt(t[k] - t[k - 1])
        half = min(a[k - 1], _TAIL_SD * math.sqrt(t[k - 1]))
        x, w = _simpson(half, min(prev_sd, sd) / _POINTS_PER_SD)
        z = (x[:, None] - nodes[None, :]) / prev_sd
        weighted = w * (np.exp(-0.5 * z * z) @ weighted) / (prev_sd * math.sqrt(2 * math.pi))
        total += float(weighted @ (special.ndtr((x - a[k]) / sd)
                                   + special.ndtr((-a[k] - x) / sd)))
        nodes, prev_sd = x, sd
    return min(1.0, total)


def _plan_critical(scale: float, looks: int, log_level: float) -> np.ndarray:
    """The z boundary ``sqrt(2 (c + 1) / c log(sqrt(c + 1) / level))`` (0 where the log is
    negative) at the looks ``c_k = scale k / looks``, ``scale = planned_n rho**2``."""
    c = scale * np.arange(1, looks + 1) / looks
    return np.sqrt(np.maximum(0.0, 2 * (c + 1) / c * (0.5 * np.log1p(c) - log_level)))


@functools.lru_cache(maxsize=1024)
def _plan_crossing(scale: float, looks: int, log_level: float) -> float:
    """Crossing probability of the level-``exp(log_level)`` boundary at the planned looks."""
    b = _plan_critical(scale, looks, log_level)
    return 1.0 if b[0] == 0 else crossing_probability(b)


@functools.lru_cache(maxsize=256)
def _calibrated_level(scale: float, looks: int, crossing: float) -> float:
    """The level whose boundary is crossed at the planned looks with chance ``crossing``."""
    # Ville's inequality: at level `crossing` the crossing chance is below it; at
    # sqrt(1 + c_1) the first boundary is 0 and the crossing certain.
    lo, hi = math.log(crossing), 0.5 * math.log1p(scale / looks)
    root = optimize.brentq(lambda x: _plan_crossing(scale, looks, x) - crossing, lo, hi,
                           xtol=1e-13, rtol=1e-13)
    return math.exp(root)


def calibrated_alpha(planned_n: float, looks: int, alpha: float = 0.05,
                     rho: float | None = None) -> float:
    """The level ``alpha'`` whose boundary the null z-statistic crosses, at one of
    ``looks`` looks equally spaced up to ``planned_n`` units, with probability
    ``SPEND * alpha`` under the Gaussian model (the rest of ``alpha`` is the margin for
    the normal approximation at the first looks: the module docstring).

    ``rho`` defaults to ``tuned_rho(planned_n, alpha)``; ``alpha'`` then depends on
    ``looks`` and ``alpha`` only. Solved by Brent's method on the Armitage, McPherson &
    Rowe 1969 crossing probability (``crossing_probability``; Jennison & Turnbull 2000,
    ch. 19), the alpha spent over the planned looks only (Lan & DeMets 1983).

    >>> round(calibrated_alpha(40_000, 28), 4)
    0.091
    >>> round(calibrated_alpha(40_000, 14), 4)
    0.1047
    """
    check_alpha(alpha)
    _check_planned_n(planned_n)
    looks = _check_looks(looks)
    if rho is None:
        rho = tuned_rho(planned_n, alpha)
    _check_rho(rho)
    return _calibrated_level(float(planned_n * rho**2), looks, SPEND * float(alpha))


def sequential_test(control: Sums, treatment: Sums, *, relative: bool = True,
                    alpha: float = 0.05, planned_n: float = GBSTATS_PLANNED_N,
                    rho: float | None = None, cuped: bool = False,
                    looks: int | None = None) -> Effect:
    """The sequential interval and p-value of the effect after ``n_c + n_t`` units.

    ``looks=None`` (gbstats' test): the plain confidence sequence at level ``alpha``,
    which misses the effect at some sample size with probability at most ``alpha``
    however often and whenever it is looked at (Howard et al. 2021).

    ``looks=K``: the horizon-tuned sequence for ``K`` looks equally spaced up to
    ``planned_n`` units, ``n_k = k planned_n / K``: the same boundary at the level
    ``calibrated_alpha(planned_n, K, alpha, rho)``, which it crosses under the null at
    one of those looks with probability ``SPEND * alpha`` (asymptotically), the rest of
    ``alpha`` a margin for the normal approximation at the first looks (in seeded A/A
    simulations of 28 daily looks of 100 units per arm the false-positive rate stays
    below ``alpha`` on normal data, 10 % conversions and zero-inflated revenue). The
    p-value is the repeated p-value (Jennison & Turnbull 2000, ch. 9) on the ``alpha``
    scale, the smallest ``alpha`` at which the calibrated test with this ``rho`` rejects,
    so that ``p < alpha`` exactly when the interval excludes 0. Other looks up to
    ``planned_n`` (more of them, unequally spaced) keep the Gaussian error below the
    calibrated level only, not below ``alpha``. Past ``planned_n`` units the result is
    the plain sequence's (level ``alpha``, wider), so continuing past the plan can add
    at most ``alpha`` to the error. Set ``planned_n`` to the planned total of both arms.

    ``rho`` defaults to ``tuned_rho(planned_n, alpha)``; ``cuped=True`` uses the
    regression-adjusted estimate with the pooled theta. ``df`` is ``inf`` (a normal
    reference).
    """
    check_pair(control, treatment)
    check_alpha(alpha)
    if rho is None:
        rho = tuned_rho(planned_n, alpha)
    _check_rho(rho)
    level = alpha if looks is None else calibrated_alpha(planned_n, looks, alpha, rho)
    c, t = cuped_arms(control, treatment)[:2] if cuped else (arm(control), arm(treatment))
    estimate, variance = effect_moments(c, t, relative, alpha)
    n_total = c.n + t.n
    if looks is None or n_total > planned_n:  # the plain sequence
        level = alpha
        p = float(always_valid_p_value(estimate, variance, n_total, rho))
    else:  # the repeated p-value: the plan's crossing chance at the level 1 / E, over
        # SPEND (the alpha whose calibrated level is 1 / E)
        log_e = float(_log_e_value(estimate, variance, n_total, rho))
        p = min(1.0, _plan_crossing(float(planned_n * rho**2), int(looks), -log_e) / SPEND)
    half = float(halfwidth(variance, n_total, rho, level))
    return Effect(estimate, math.sqrt(variance), estimate - half, estimate + half, p,
                  math.inf, relative, alpha)
