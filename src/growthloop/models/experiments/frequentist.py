"""Welch's t test of a treatment against a control, absolute or relative, from sums.

For a variant ``v`` with estimate ``mu_v`` (a mean, or a ratio of sums), per-unit
variance ``s2_v`` (for a ratio the delta method's, Deng, Knoblich & Lu 2018) and ``n_v``
units:

- absolute effect ``mu_t - mu_c`` with variance ``s2_t / n_t + s2_c / n_c``;
- relative effect (lift) ``mu_t / mu_c - 1`` with the delta method's variance
  ``s2_t / (mu_c**2 n_t) + s2_c mu_t**2 / (mu_c**4 n_c)`` — gbstats'
  ``frequentist_variance(..., relative=True)``;
- degrees of freedom by Welch–Satterthwaite (Welch 1947, "The generalization of
  'Student's' problem when several different population variances are involved",
  Biometrika 34; Satterthwaite 1946): ``(s2_t/n_t + s2_c/n_c)**2 / ((s2_t/n_t)**2 /
  (n_t - 1) + (s2_c/n_c)**2 / (n_c - 1))``, computed from the per-unit variances for the
  relative effect too, as gbstats does;
- two-sided p-value ``2 P(T_df > |estimate| / se)`` and interval ``estimate ± t_{df,
  1 - alpha/2} se`` — gbstats' ``TwoSidedTTest``.

The same formulas serve CUPED (``cuped.py``), the Bayesian summary (``bayesian.py``) and
the confidence sequences (``sequential.py``): an ``Arm`` carries what each needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from growthloop.core.errors import InputError
from growthloop.models.experiments.sums import MeanSums, RatioSums, Sums

__all__ = ["Arm", "Effect", "arm", "check_alpha", "check_pair", "effect_estimate",
           "effect_moments", "effect_variance", "t_effect", "welch_df", "welch_test"]


@dataclass(frozen=True)
class Effect:
    """A treatment effect: the estimate, its standard error, a two-sided ``1 - alpha``
    interval, the p-value of ``effect = 0``, the degrees of freedom (``inf`` for a normal
    reference) and whether the effect is relative (``mu_t / mu_c - 1``) or absolute."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    relative: bool
    alpha: float


@dataclass(frozen=True)
class Arm:
    """One variant as the tests see it: ``mean`` (possibly regression-adjusted), its
    per-unit ``variance``, ``n`` units and ``base``, the unadjusted mean that scales a
    relative effect."""

    n: int
    mean: float
    variance: float
    base: float


def arm(sums: Sums) -> Arm:
    """The unadjusted arm of a variant's sums."""
    return Arm(sums.n, sums.mean, sums.variance, sums.mean)


def check_alpha(alpha: float) -> None:
    """``alpha`` must be a probability strictly between 0 and 1."""
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise InputError(f"alpha = {alpha!r}: expected a number between 0 and 1 "
                         "(exclusive)")


def check_pair(control: Sums, treatment: Sums) -> None:
    """Both variants must be sums of the same kind."""
    for name, s in (("control", control), ("treatment", treatment)):
        if not isinstance(s, MeanSums | RatioSums):
            raise InputError(f"{name} = {type(s).__name__}: expected MeanSums or RatioSums")
    if type(control) is not type(treatment):
        raise InputError(f"treatment = {type(treatment).__name__}: expected the kind of "
                         f"control, {type(control).__name__}")


def effect_estimate(mean_c: float, mean_t: float, relative: bool,
                    base_c: float | None = None) -> float:
    """``mean_t - mean_c``, divided by ``base_c`` (default ``mean_c``) when relative
    (gbstats' ``frequentist_diff``)."""
    diff = mean_t - mean_c
    return diff / (mean_c if base_c is None else base_c) if relative else diff


def effect_variance(var_c, mean_c, n_c, var_t, mean_t, n_t, relative: bool):
    """Variance of the effect estimate from per-unit variances (arrays welcome).

    Absolute: ``var_t / n_t + var_c / n_c``. Relative, by the delta method: ``var_t /
    (mean_c**2 n_t) + var_c mean_t**2 / (mean_c**4 n_c)`` (gbstats'
    ``frequentist_variance``; Deng, Knoblich & Lu 2018).
    """
    if relative:
        return var_t / (mean_c**2 * n_t) + var_c * mean_t**2 / (mean_c**4 * n_c)
    return var_t / n_t + var_c / n_c


def welch_df(var_c, n_c, var_t, n_t):
    """Welch–Satterthwaite degrees of freedom (Welch 1947; Satterthwaite 1946)."""
    a, b = var_t / n_t, var_c / n_c
    return (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_c - 1))


def effect_moments(control: Arm, treatment: Arm, relative: bool,
                   alpha: float) -> tuple[float, float]:
    """Estimate and variance of the effect, with the checks every test shares."""
    check_alpha(alpha)
    if relative and control.base == 0:
        raise InputError("control mean = 0: a relative effect needs a non-zero control "
                         "mean; use relative=False")
    estimate = effect_estimate(control.mean, treatment.mean, relative, control.base)
    variance = effect_variance(control.variance, control.base, control.n,
                               treatment.variance, treatment.base, treatment.n, relative)
    if not variance > 0:
        raise InputError(f"variance of the effect = {variance!r} (control variance "
                         f"{control.variance!r}, treatment variance {treatment.variance!r}): "
                         "expected a positive variance; the effect has no standard error")
    return estimate, variance


def t_effect(control: Arm, treatment: Arm, *, relative: bool = True,
             alpha: float = 0.05) -> Effect:
    """Welch's two-sided t test and interval for two arms (see the module docstring)."""
    estimate, variance = effect_moments(control, treatment, relative, alpha)
    se = math.sqrt(variance)
    df = float(welch_df(control.variance, control.n, treatment.variance, treatment.n))
    # scipy.special's Student t directly: what scipy.stats.t calls, without its checks
    half = float(special.stdtrit(df, 1 - alpha / 2)) * se
    p = float(2 * special.stdtr(df, -abs(estimate) / se))
    return Effect(estimate, se, estimate - half, estimate + half, min(p, 1.0), df,
                  relative, alpha)


def welch_test(control: Sums, treatment: Sums, *, relative: bool = True,
               alpha: float = 0.05) -> Effect:
    """Welch's t test of ``treatment`` against ``control`` (``MeanSums`` or ``RatioSums``).

    ``relative=True`` (gbstats' default) tests the lift ``mu_t / mu_c - 1``; ``False``
    the difference ``mu_t - mu_c``.

    >>> c, t = MeanSums(100, 500.0, 3000.0), MeanSums(110, 600.0, 3800.0)
    >>> round(welch_test(c, t).estimate, 6)
    0.090909
    """
    check_pair(control, treatment)
    return t_effect(arm(control), arm(treatment), relative=relative, alpha=alpha)

