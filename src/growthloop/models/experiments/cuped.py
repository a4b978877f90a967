"""CUPED: regression adjustment on a pre-period covariate, with one pooled theta.

Deng, Xu, Kohavi & Walker 2013, "Improving the sensitivity of online controlled
experiments by utilizing pre-experiment data" (WSDM '13): with ``x`` the unit's
pre-period value, ``y_adj = y - theta (x - E x)``; the effect of ``y_adj`` has the same
expectation as that of ``y`` and variance ``Var(y) + theta**2 Var(x) - 2 theta Cov(y,
x)``, smallest at ``theta = Cov(y, x) / Var(x)``. Because ``E x`` is the same for every
variant it cancels from differences, so the adjusted mean is ``mean(y) - theta
mean(x)``, as in gbstats' ``RegressionAdjustedStatistic``.

One ``theta`` for all variants compared (gbstats' ``compute_theta``), so that the
adjustment cannot create an effect:

- mean metric: ``theta = Cov(y, x) / Var(x)`` computed on the pooled sums of the
  variants (their union as one sample);
- ratio metric (delta method, Deng, Knoblich & Lu 2018): ``theta = sum_v Cov_v(R, R_pre)
  / sum_v Var_v(R_pre)``, the per-unit delta-method covariance and variance of each
  variant's ratio and pre-period ratio (gbstats'
  ``compute_theta_regression_adjusted_ratio``).

A relative effect is scaled by the unadjusted control mean and its variance uses the
unadjusted means with the adjusted variances, as gbstats does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import add

from growthloop.core.errors import InputError
from growthloop.models.experiments.frequentist import (
    Arm,
    Effect,
    arm,
    check_pair,
    t_effect,
)
from growthloop.models.experiments.sums import MeanSums, RatioSums, Sums

__all__ = ["CupedResult", "adjusted_arm", "adjusted_variance", "cuped_arms", "cuped_test",
           "pooled_theta"]


@dataclass(frozen=True)
class CupedResult:
    """The regression-adjusted effect, the unadjusted one on the same data, the pooled
    ``theta`` and the variance reduction ``1 - Var(adjusted) / Var(unadjusted)`` of the
    effect estimate."""

    effect: Effect
    unadjusted: Effect
    theta: float
    variance_reduction: float


def adjusted_variance(variance: float, pre_variance: float, covariance: float,
                      theta: float) -> float:
    """``Var(y - theta x) = Var(y) + theta**2 Var(x) - 2 theta Cov(y, x)`` (Deng et al.
    2013)."""
    return variance + theta**2 * pre_variance - 2 * theta * covariance


def pooled_theta(*variants: Sums) -> float:
    """The one ``theta`` of a comparison, pooled over the variants given (see the module
    docstring); 0 when the covariate has no variance (no adjustment)."""
    if not variants:
        raise InputError("variants = (): expected the sums of at least one variant")
    kinds = {type(v) for v in variants}
    if len(kinds) > 1 or not kinds <= {MeanSums, RatioSums}:
        raise InputError(f"variants = {sorted(k.__name__ for k in kinds)}: expected "
                         "MeanSums only or RatioSums only")
    for i, v in enumerate(variants):
        if not v.has_pre:
            raise InputError(f"variant {i} has no pre-period sums: expected the covariate "
                             "for CUPED")
    if isinstance(variants[0], MeanSums):
        joint = reduce(add, variants)
        pre_var = joint.pre_variance
        return joint.pre_covariance / pre_var if pre_var > 0 else 0.0
    pre_var = sum(v.pre_variance for v in variants)
    return sum(v.pre_covariance for v in variants) / pre_var if pre_var > 0 else 0.0


def adjusted_arm(sums: Sums, theta: float) -> Arm:
    """The arm of ``mean - theta pre_mean``, its adjusted variance, and the unadjusted
    mean as the base of a relative effect."""
    return Arm(sums.n, sums.mean - theta * sums.pre_mean,
               adjusted_variance(sums.variance, sums.pre_variance, sums.pre_covariance,
                                 theta), sums.mean)


def cuped_arms(control: Sums, treatment: Sums,
               theta: float | None = None) -> tuple[Arm, Arm, float]:
    """Both adjusted arms and the ``theta`` used (pooled over the two when ``None``)."""
    check_pair(control, treatment)
    if theta is None:
        theta = pooled_theta(control, treatment)
    return adjusted_arm(control, theta), adjusted_arm(treatment, theta), float(theta)


def cuped_test(control: Sums, treatment: Sums, *, relative: bool = True,
               alpha: float = 0.05, theta: float | None = None) -> CupedResult:
    """Welch's t test on the CUPED-adjusted metric (``MeanSums`` or ``RatioSums`` with
    their pre-period sums). ``theta=None`` pools it over the two variants; pass
    ``pooled_theta(*all_variants)`` to share one over a multi-arm experiment."""
    c, t, theta = cuped_arms(control, treatment, theta)
    effect = t_effect(c, t, relative=relative, alpha=alpha)
    unadjusted = t_effect(arm(control), arm(treatment), relative=relative, alpha=alpha)
    return CupedResult(effect, unadjusted, theta, 1 - effect.se**2 / unadjusted.se**2)
