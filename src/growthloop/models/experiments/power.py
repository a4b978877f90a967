"""Power, sample size and minimum detectable effect of a two-variant test.

The normal approximation of the two-sided test of the absolute difference ``Delta =
mu_t - mu_c`` at level ``alpha`` (e.g. Chow, Shao & Wang 2008, "Sample Size
Calculations in Clinical Research", 2nd ed.; Kohavi, Tang & Xu 2020, "Trustworthy
Online Controlled Experiments"). With ``N`` units in total, a
share ``q`` of them in the treatment, per-unit variances ``s2_c`` and ``s2_t``:

    Var(Delta_hat) = K / N,   K = s2_c / (1 - q) + s2_t / q,
    power = Phi(|Delta| sqrt(N / K) - z_{1 - alpha/2}),
    N = (z_{1 - alpha/2} + z_{power})**2 K / Delta**2,

ignoring the negligible chance of rejecting in the wrong direction, so that the three
functions invert one another exactly. A mean metric has ``s2_c = s2_t = sd**2``; a
proportion (``sd=None``) has ``s2 = p (1 - p)`` in each arm at its own rate (the
unpooled textbook form: 10 % -> 11 % at ``alpha = 0.05``, power 0.8, 50/50 needs
14,748.0 units per arm). ``Delta = relative_mde * baseline``.

A sequential test (``sequential.py``) rejects when the estimate leaves the confidence
sequence, ``|Delta_hat| > r z_{1 - alpha/2} sqrt(K / N)`` with ``r`` its width ratio to
the fixed-horizon interval (about 1.549 at ``alpha = 0.05`` when ``rho`` is tuned for
``N``); the same power then needs ``N = (r z_{1 - alpha/2} + z_{power})**2 K /
Delta**2``. Planned for ``looks`` equally spaced looks (``sequential_test(...,
looks=...)``), the boundary is at the calibrated level ``alpha'``
(``sequential.calibrated_alpha``, which spends ``sequential.SPEND = 0.5`` of ``alpha``
under the Gaussian model and keeps the rest as a margin for the normal approximation)
and ``r`` is 1.402 for 14 looks, 1.431 for 28 (10 % -> 11 %: 1.64 and 1.69 times the
fixed-horizon size, against 1.91 for the plain sequence). Power is counted at the
planned size only; stopping at an earlier look only adds to it.
"""

from __future__ import annotations

import math
from numbers import Real

from scipy import stats

from growthloop.core.errors import InputError
from growthloop.models.experiments.sequential import (
    calibrated_alpha,
    halfwidth,
    tuned_rho,
)

__all__ = ["mde", "power", "sample_size", "sequential_sample_size"]


def _number(name: str, value: object, low: float, high: float, *, closed: bool = False
            ) -> float:
    ok = (not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
          and (low <= value <= high if closed else low < value < high))
    if not ok:
        bounds = f"[{low}, {high}]" if closed else f"({low}, {high})"
        raise InputError(f"{name} = {value!r}: expected a number in {bounds}")
    return float(value)


def _check(baseline: float, sd: float | None, alpha: float, share: float) -> None:
    _number("alpha", alpha, 0, 1)
    _number("treatment_share", share, 0, 1)
    if sd is None:
        _number("baseline", baseline, 0, 1)
    else:
        _number("sd", sd, 0, math.inf)
        if _number("baseline", baseline, -math.inf, math.inf) == 0:
            raise InputError("baseline = 0: expected a non-zero baseline mean (the MDE is "
                             "relative to it)")


def _k(baseline: float, relative_mde: float, sd: float | None, share: float) -> float:
    """``K = s2_c / (1 - q) + s2_t / q`` (see the module docstring)."""
    if sd is not None:
        return sd**2 / (1 - share) + sd**2 / share
    rate = baseline * (1 + relative_mde)
    if not 0 < rate < 1:
        raise InputError(f"relative_mde = {relative_mde!r}: the treatment rate would be "
                         f"{rate!r}; expected a rate between 0 and 1")
    return baseline * (1 - baseline) / (1 - share) + rate * (1 - rate) / share


def _delta(baseline: float, relative_mde: float) -> float:
    delta = _number("relative_mde", relative_mde, -math.inf, math.inf) * baseline
    if delta == 0:
        raise InputError("relative_mde = 0: expected a non-zero effect to detect")
    return delta


def sample_size(baseline: float, relative_mde: float, *, sd: float | None = None,
                alpha: float = 0.05, power: float = 0.8,
                treatment_share: float = 0.5) -> float:
    """Units in total (both arms, unrounded) to detect ``relative_mde`` with ``power``.

    ``sd=None``: ``baseline`` is a conversion rate; otherwise a mean with standard
    deviation ``sd``.

    >>> round(sample_size(0.10, 0.10) / 2, 1)
    14748.0
    """
    _check(baseline, sd, alpha, treatment_share)
    _number("power", power, 0, 1)
    delta = _delta(baseline, relative_mde)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z**2 * _k(baseline, relative_mde, sd, treatment_share) / delta**2)


def power(n_total: float, baseline: float, relative_mde: float, *, sd: float | None = None,
          alpha: float = 0.05, treatment_share: float = 0.5) -> float:
    """The power of the two-sided test with ``n_total`` units to detect ``relative_mde``."""
    _check(baseline, sd, alpha, treatment_share)
    n = _number("n_total", n_total, 0, math.inf)
    delta = _delta(baseline, relative_mde)
    k = _k(baseline, relative_mde, sd, treatment_share)
    return float(stats.norm.cdf(abs(delta) * math.sqrt(n / k)
                                - stats.norm.ppf(1 - alpha / 2)))


def mde(n_total: float, baseline: float, *, sd: float | None = None, alpha: float = 0.05,
        power: float = 0.8, treatment_share: float = 0.5) -> float:
    """The smallest relative increase detectable with ``power`` by ``n_total`` units.

    For a proportion the treatment's variance depends on the effect, so ``Delta`` is the
    positive root of ``Delta**2 N = z**2 (s2_c / (1 - q) + (p + Delta)(1 - p - Delta) /
    q)``.
    """
    _check(baseline, sd, alpha, treatment_share)
    _number("power", power, 0, 1)
    n = _number("n_total", n_total, 0, math.inf)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    q = treatment_share
    if sd is not None:
        return float(z * math.sqrt(_k(baseline, 0.0, sd, q) / n) / abs(baseline))
    p = baseline
    a_ = z**2 / n
    a, b = 1 + a_ / q, -a_ * (1 - 2 * p) / q
    c = -a_ * p * (1 - p) * (1 / (1 - q) + 1 / q)
    delta = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    if not p + delta < 1:
        raise InputError(f"n_total = {n_total!r}: too few units to detect any increase of a "
                         f"rate of {p!r} below 1")
    return float(delta / p)


def sequential_sample_size(baseline: float, relative_mde: float, *, sd: float | None = None,
                           alpha: float = 0.05, power: float = 0.8,
                           treatment_share: float = 0.5, looks: int | None = None) -> float:
    """Units in total for a sequential test, its ``rho`` tuned for that many units, to
    reach ``power`` at the planned size: the fixed-horizon formula with the critical
    value ``z_{1 - alpha/2}`` widened by the confidence sequence's width ratio -- that of
    the plain sequence, or with ``looks`` that of the sequence calibrated for that many
    equally spaced looks (``sequential.calibrated_alpha``, margin included).

    >>> round(sequential_sample_size(0.10, 0.10, looks=28) / sample_size(0.10, 0.10), 3)
    1.693
    """
    _check(baseline, sd, alpha, treatment_share)
    _number("power", power, 0, 1)
    delta = _delta(baseline, relative_mde)
    # with rho tuned for N, N rho**2 and hence the boundary at N and the calibrated
    # level do not depend on N: compute them at N = 1
    rho = tuned_rho(1.0, alpha)
    level = alpha if looks is None else calibrated_alpha(1.0, looks, alpha, rho)
    z = float(halfwidth(1.0, 1.0, rho, level)) + stats.norm.ppf(power)
    return float(z**2 * _k(baseline, relative_mde, sd, treatment_share) / delta**2)
