"""Bayesian decision summary from a Gaussian approximation of the effect.

With a flat (improper, non-informative) prior on the effect and the normal likelihood
``estimate ~ N(effect, se**2)``, the posterior of the effect is ``N(estimate, se**2)``
(e.g. Gelman et al., "Bayesian Data Analysis", 3rd ed., chapter 2). This is gbstats'
``EffectBayesianABTest`` with its default ``GaussianPrior(proper=False)``; the estimate
and its variance are the frequentist ones (``frequentist.py``, ``cuped.py``). For ``X ~
N(mu, sigma**2)``, ``z = mu / sigma``:

- chance to win ``P(X > 0) = Phi(z)``;
- expected loss of shipping the treatment ``E[max(-X, 0)] = sigma phi(z) - mu
  Phi(-z)`` (gbstats' ``risk[1]``, ``-P(X < 0) E[X | X < 0]``);
- expected loss of keeping the control ``E[max(X, 0)] = sigma phi(z) + mu Phi(z)``
  (``risk[0]``, ``P(X > 0) E[X | X > 0]``);

the means of the normal truncated at 0 (Johnson, Kotz & Balakrishnan 1994, "Continuous
Univariate Distributions" vol. 1, chapter 13). The credible interval is ``mu ± z_{1 -
alpha/2} sigma``. Higher values of the metric are taken to be better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from growthloop.core.errors import InputError
from growthloop.models.experiments.cuped import cuped_arms
from growthloop.models.experiments.frequentist import (
    Arm,
    arm,
    check_alpha,
    check_pair,
    effect_moments,
)
from growthloop.models.experiments.sums import Sums

__all__ = ["BayesianResult", "bayesian_test", "gaussian_decision"]


@dataclass(frozen=True)
class BayesianResult:
    """Posterior ``N(mean, sd**2)`` of the effect (relative or absolute), the chance that
    the treatment beats the control, the expected loss of shipping the treatment
    (``risk_treatment``) and of keeping the control (``risk_control``), and a ``1 -
    alpha`` credible interval."""

    mean: float
    sd: float
    chance_to_win: float
    risk_treatment: float
    risk_control: float
    ci_low: float
    ci_high: float
    relative: bool


def gaussian_decision(mean: float, sd: float, *, alpha: float = 0.05,
                      relative: bool = True) -> BayesianResult:
    """Chance to win, expected losses and credible interval of ``N(mean, sd**2)``."""
    check_alpha(alpha)
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise InputError(f"sd = {sd!r}, mean = {mean!r}: expected a finite mean and a "
                         "positive finite standard deviation")
    z = mean / sd
    density = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    win = float(special.ndtr(z))
    lose = float(special.ndtr(-z))
    q = float(special.ndtri(1 - alpha / 2))
    return BayesianResult(mean, sd, win, sd * density - mean * lose, sd * density + mean * win,
                          mean - q * sd, mean + q * sd, relative)


def bayesian_test(control: Sums, treatment: Sums, *, relative: bool = True,
                  alpha: float = 0.05, cuped: bool = False) -> BayesianResult:
    """The Bayesian summary of ``treatment`` against ``control``; ``cuped=True`` uses
    the regression-adjusted estimate with the pooled theta."""
    check_pair(control, treatment)
    c: Arm
    t: Arm
    if cuped:
        c, t, _ = cuped_arms(control, treatment)
    else:
        c, t = arm(control), arm(treatment)
    estimate, variance = effect_moments(c, t, relative, alpha)
    return gaussian_decision(estimate, math.sqrt(variance), alpha=alpha, relative=relative)
