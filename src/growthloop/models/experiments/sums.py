"""Per-variant sufficient statistics: the only thing the experiment statistics read.

A warehouse query aggregates each variant to a handful of sums (``COUNT(*)``,
``SUM(x)``, ``SUM(x * x)``, ``SUM(x * y)``...); every estimate, variance and covariance
below is a closed form of those sums, so no per-unit row ever reaches Python.

- ``MeanSums``: a per-unit mean metric (revenue per user, conversion as 0/1), optionally
  with the unit's pre-period value of the metric as the CUPED covariate;
- ``RatioSums``: a ratio of sums (revenue per session = sum of revenue over sum of
  sessions, the unit of randomisation being the user), optionally with the pre-period
  numerator and denominator and their cross products, as gbstats'
  ``RegressionAdjustedRatioStatistic`` holds them.

The variances are the unbiased sample (co)variances, ``(sum_xy - sum_x sum_y / n) /
(n - 1)``. The variance of a ratio is the delta method's (Deng, Knoblich & Lu 2018,
"Applying the Delta Method in Metric Analytics: A Practical Guide with Novel Ideas",
KDD '18): for ``R = mean(m) / mean(d)`` the gradient is ``g = (1 / mean(d),
-mean(m) / mean(d) ** 2)`` and the per-unit variance is ``g' Sigma g``, ``Sigma`` the
covariance matrix of ``(m, d)``; ``Var(R_hat) = g' Sigma g / n``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from numbers import Integral, Real

import numpy as np

from growthloop.core.errors import InputError

__all__ = ["MeanSums", "RatioSums", "Sums", "covariance"]

#: Relative slack allowed for a variance that rounding made slightly negative, and for
#: a correlation that rounding pushed slightly past 1.
ROUNDING = 1e-9


def covariance(n: int, cross: float, sum_a: float, sum_b: float) -> float:
    """Unbiased sample covariance from sums: ``(sum(a b) - sum(a) sum(b) / n) / (n - 1)``.

    With ``a = b`` (``cross`` the sum of squares) it is the unbiased sample variance.
    """
    return (cross - sum_a * sum_b / n) / (n - 1)


def _check_n(n: object) -> None:
    if isinstance(n, bool) or not isinstance(n, Integral):
        raise InputError(f"n = {n!r}: expected a whole number of units")
    if n < 2:
        raise InputError(f"n = {n!r}: expected at least 2 units per variant (a variance "
                         "needs two)")


def _check_finite(obj: object) -> None:
    for f in fields(obj):  # type: ignore[arg-type]
        if f.name == "n":
            continue
        value = getattr(obj, f.name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise InputError(f"{f.name} = {value!r}: expected a finite number")


def _variance(n: int, name: str, sum_sq: float, total: float, total_name: str) -> float:
    """The unbiased variance; a negative one beyond rounding is an error, within it 0."""
    centred = sum_sq - total * total / n
    scale = max(abs(sum_sq), total * total / n)
    if centred < -ROUNDING * scale or sum_sq < 0:
        raise InputError(
            f"{name} = {sum_sq!r}: below {total_name}**2 / n = {total * total / n!r}, so the "
            f"variance would be negative; expected {name} >= {total_name}**2 / n")
    return max(centred, 0.0) / (n - 1)


def _cross(n: int, name: str, cross: float, sum_a: float, sum_b: float, var_a: float,
           var_b: float) -> float:
    """The covariance of a cross product, checked against Cauchy–Schwarz."""
    cov = covariance(n, cross, sum_a, sum_b)
    bound = math.sqrt(var_a * var_b)
    slack = ROUNDING * (bound + max(abs(cross), abs(sum_a * sum_b) / n) / (n - 1))
    if abs(cov) > bound + slack:
        corr = cov / bound if bound > 0 else math.inf
        raise InputError(
            f"{name} = {cross!r}: implies a correlation of {corr:.6g}; expected sums whose "
            "correlation is between -1 and 1")
    return cov


@dataclass(frozen=True)
class MeanSums:
    """Sufficient statistics of a per-unit mean metric ``y`` in one variant.

    ``n`` units, ``sum`` = sum(y), ``sum_sq`` = sum(y**2). For CUPED (Deng et al. 2013)
    also the covariate ``x`` (the unit's pre-period value): ``pre_sum`` = sum(x),
    ``pre_sum_sq`` = sum(x**2), ``pre_cross`` = sum(y * x); all three or none.
    """

    n: int
    sum: float
    sum_sq: float
    pre_sum: float | None = None
    pre_sum_sq: float | None = None
    pre_cross: float | None = None

    def __post_init__(self) -> None:
        _check_n(self.n)
        _check_finite(self)
        pre = (self.pre_sum, self.pre_sum_sq, self.pre_cross)
        if any(v is None for v in pre) and any(v is not None for v in pre):
            missing = [f for f, v in zip(("pre_sum", "pre_sum_sq", "pre_cross"), pre,
                                         strict=True) if v is None]
            raise InputError(f"{', '.join(missing)} = None: expected all of pre_sum, "
                             "pre_sum_sq and pre_cross, or none of them")
        var = _variance(self.n, "sum_sq", self.sum_sq, self.sum, "sum")
        object.__setattr__(self, "_var", var)
        if self.has_pre:
            pre_var = _variance(self.n, "pre_sum_sq", self.pre_sum_sq, self.pre_sum,
                                "pre_sum")
            cov = _cross(self.n, "pre_cross", self.pre_cross, self.sum, self.pre_sum, var,
                         pre_var)
            object.__setattr__(self, "_pre_var", pre_var)
            object.__setattr__(self, "_pre_cov", cov)

    @classmethod
    def from_values(cls, values: Sequence[float] | np.ndarray,
                    pre: Sequence[float] | np.ndarray | None = None) -> MeanSums:
        """The sums of per-unit values (and their pre-period values), for tests and demos."""
        y = np.asarray(values, dtype=float)
        if pre is None:
            return cls(len(y), float(y.sum()), float(y @ y))
        x = np.asarray(pre, dtype=float)
        if x.shape != y.shape:
            raise InputError(f"pre has shape {x.shape}: expected the shape of values, "
                             f"{y.shape}")
        return cls(len(y), float(y.sum()), float(y @ y), float(x.sum()), float(x @ x),
                   float(y @ x))

    def __add__(self, other: MeanSums) -> MeanSums:
        """Pooled sums of two groups (sums are additive)."""
        if not isinstance(other, MeanSums):
            return NotImplemented
        if self.has_pre != other.has_pre:
            raise InputError("pre_sum = None in one of the sums only: expected both sums "
                             "with the pre-period covariate or neither")
        pre = ((self.pre_sum + other.pre_sum, self.pre_sum_sq + other.pre_sum_sq,
                self.pre_cross + other.pre_cross) if self.has_pre else (None, None, None))
        return MeanSums(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq,
                        *pre)

    @property
    def has_pre(self) -> bool:
        """Whether the pre-period covariate is given."""
        return self.pre_sum is not None

    @property
    def mean(self) -> float:
        """The sample mean, ``sum / n``."""
        return self.sum / self.n

    @property
    def variance(self) -> float:
        """The unbiased per-unit variance, ``(sum_sq - sum**2 / n) / (n - 1)``."""
        return self._var  # type: ignore[attr-defined]

    @property
    def pre_mean(self) -> float:
        """The mean of the covariate."""
        return self._need_pre().pre_sum / self.n

    @property
    def pre_variance(self) -> float:
        """The unbiased variance of the covariate."""
        return self._need_pre()._pre_var  # type: ignore[attr-defined]

    @property
    def pre_covariance(self) -> float:
        """The unbiased covariance of the metric and the covariate."""
        return self._need_pre()._pre_cov  # type: ignore[attr-defined]

    def _need_pre(self) -> MeanSums:
        if not self.has_pre:
            raise InputError("pre_sum = None: expected the pre-period sums (pre_sum, "
                             "pre_sum_sq, pre_cross) for a regression adjustment")
        return self


_PRE_RATIO = ("pre_num_sum", "pre_num_sum_sq", "pre_den_sum", "pre_den_sum_sq",
              "pre_num_den_sum", "num_pre_num_sum", "num_pre_den_sum", "den_pre_num_sum",
              "den_pre_den_sum")


def _delta(g_a: tuple[float, float], cov: tuple[float, float, float, float],
           g_b: tuple[float, float]) -> float:
    """``g_a' C g_b`` for the 2 x 2 covariance block ``C = [[c_mm, c_md], [c_dm, c_dd]]``
    given as ``(c_mm, c_md, c_dm, c_dd)``: the delta method's covariance of two ratios
    with gradients ``g_a`` and ``g_b`` (Deng, Knoblich & Lu 2018)."""
    c_mm, c_md, c_dm, c_dd = cov
    return (g_a[0] * (c_mm * g_b[0] + c_md * g_b[1])
            + g_a[1] * (c_dm * g_b[0] + c_dd * g_b[1]))


@dataclass(frozen=True)
class RatioSums:
    """Sufficient statistics of a ratio metric ``sum(m) / sum(d)`` in one variant.

    Each of the ``n`` units (the unit of randomisation) has a numerator ``m`` (revenue)
    and a denominator ``d`` (sessions): ``num_sum`` = sum(m), ``num_sum_sq`` =
    sum(m**2), ``den_sum`` = sum(d), ``den_sum_sq`` = sum(d**2), ``num_den_sum`` =
    sum(m d).

    For CUPED the same unit's pre-period numerator ``mp`` and denominator ``dp`` (all
    nine or none): ``pre_num_sum``, ``pre_num_sum_sq``, ``pre_den_sum``,
    ``pre_den_sum_sq``, ``pre_num_den_sum`` = sum(mp dp), and the cross products of the
    two periods ``num_pre_num_sum`` = sum(m mp), ``num_pre_den_sum`` = sum(m dp),
    ``den_pre_num_sum`` = sum(d mp), ``den_pre_den_sum`` = sum(d dp) — the sums of
    gbstats' ``RegressionAdjustedRatioStatistic``.
    """

    n: int
    num_sum: float
    num_sum_sq: float
    den_sum: float
    den_sum_sq: float
    num_den_sum: float
    pre_num_sum: float | None = None
    pre_num_sum_sq: float | None = None
    pre_den_sum: float | None = None
    pre_den_sum_sq: float | None = None
    pre_num_den_sum: float | None = None
    num_pre_num_sum: float | None = None
    num_pre_den_sum: float | None = None
    den_pre_num_sum: float | None = None
    den_pre_den_sum: float | None = None

    def __post_init__(self) -> None:
        _check_n(self.n)
        _check_finite(self)
        given = [getattr(self, f) is not None for f in _PRE_RATIO]
        if any(given) and not all(given):
            missing = [f for f, g in zip(_PRE_RATIO, given, strict=True) if not g]
            raise InputError(f"{', '.join(missing)} = None: expected all nine pre-period "
                             "sums or none of them")
        n = self.n
        if self.den_sum <= 0:
            raise InputError(f"den_sum = {self.den_sum!r}: expected a positive sum of "
                             "denominators")
        vm = _variance(n, "num_sum_sq", self.num_sum_sq, self.num_sum, "num_sum")
        vd = _variance(n, "den_sum_sq", self.den_sum_sq, self.den_sum, "den_sum")
        cmd = _cross(n, "num_den_sum", self.num_den_sum, self.num_sum, self.den_sum, vm, vd)
        post = (vm, cmd, cmd, vd)
        g = self._gradient(self.num_sum, self.den_sum)
        object.__setattr__(self, "_moments", (vm, vd, cmd))
        object.__setattr__(self, "_var", _delta(g, post, g))
        if not self.has_pre:
            return
        if self.pre_den_sum <= 0:
            raise InputError(f"pre_den_sum = {self.pre_den_sum!r}: expected a positive sum "
                             "of pre-period denominators")
        vmp = _variance(n, "pre_num_sum_sq", self.pre_num_sum_sq, self.pre_num_sum,
                        "pre_num_sum")
        vdp = _variance(n, "pre_den_sum_sq", self.pre_den_sum_sq, self.pre_den_sum,
                        "pre_den_sum")
        cmpdp = _cross(n, "pre_num_den_sum", self.pre_num_den_sum, self.pre_num_sum,
                       self.pre_den_sum, vmp, vdp)
        c_m_mp = _cross(n, "num_pre_num_sum", self.num_pre_num_sum, self.num_sum,
                        self.pre_num_sum, vm, vmp)
        c_m_dp = _cross(n, "num_pre_den_sum", self.num_pre_den_sum, self.num_sum,
                        self.pre_den_sum, vm, vdp)
        c_d_mp = _cross(n, "den_pre_num_sum", self.den_pre_num_sum, self.den_sum,
                        self.pre_num_sum, vd, vmp)
        c_d_dp = _cross(n, "den_pre_den_sum", self.den_pre_den_sum, self.den_sum,
                        self.pre_den_sum, vd, vdp)
        gp = self._gradient(self.pre_num_sum, self.pre_den_sum)
        object.__setattr__(self, "_pre_var", _delta(gp, (vmp, cmpdp, cmpdp, vdp), gp))
        object.__setattr__(self, "_pre_cov", _delta(g, (c_m_mp, c_m_dp, c_d_mp, c_d_dp), gp))

    def _gradient(self, num_sum: float, den_sum: float) -> tuple[float, float]:
        mean_m, mean_d = num_sum / self.n, den_sum / self.n
        return (1 / mean_d, -mean_m / mean_d**2)

    @classmethod
    def from_values(cls, num: Sequence[float] | np.ndarray, den: Sequence[float] | np.ndarray,
                    pre_num: Sequence[float] | np.ndarray | None = None,
                    pre_den: Sequence[float] | np.ndarray | None = None) -> RatioSums:
        """The sums of per-unit numerators and denominators (and pre-period ones)."""
        m, d = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
        arrays = [m, d] + ([] if pre_num is None and pre_den is None else
                           [np.asarray(pre_num, dtype=float), np.asarray(pre_den, dtype=float)])
        for name, a in zip(("num", "den", "pre_num", "pre_den"), arrays, strict=False):
            if a.shape != m.shape:
                raise InputError(f"{name} has shape {a.shape}: expected the shape of num, "
                                 f"{m.shape}")
        post = (len(m), float(m.sum()), float(m @ m), float(d.sum()), float(d @ d),
                float(m @ d))
        if len(arrays) == 2:
            return cls(*post)
        mp, dp = arrays[2], arrays[3]
        return cls(*post, float(mp.sum()), float(mp @ mp), float(dp.sum()), float(dp @ dp),
                   float(mp @ dp), float(m @ mp), float(m @ dp), float(d @ mp), float(d @ dp))

    def __add__(self, other: RatioSums) -> RatioSums:
        """Pooled sums of two groups (sums are additive)."""
        if not isinstance(other, RatioSums):
            return NotImplemented
        if self.has_pre != other.has_pre:
            raise InputError("pre_num_sum = None in one of the sums only: expected both "
                             "sums with the pre-period covariate or neither")
        names = [f.name for f in fields(self)]
        if not self.has_pre:
            names = [f for f in names if f not in _PRE_RATIO]
        return RatioSums(**{f: getattr(self, f) + getattr(other, f) for f in names})

    @property
    def has_pre(self) -> bool:
        """Whether the pre-period sums are given."""
        return self.pre_num_sum is not None

    @property
    def mean(self) -> float:
        """The ratio of sums, ``num_sum / den_sum``."""
        return self.num_sum / self.den_sum

    @property
    def num_mean(self) -> float:
        """The numerator's mean per unit."""
        return self.num_sum / self.n

    @property
    def den_mean(self) -> float:
        """The denominator's mean per unit."""
        return self.den_sum / self.n

    @property
    def num_variance(self) -> float:
        """The unbiased variance of the numerator."""
        return self._moments[0]  # type: ignore[attr-defined]

    @property
    def den_variance(self) -> float:
        """The unbiased variance of the denominator."""
        return self._moments[1]  # type: ignore[attr-defined]

    @property
    def num_den_covariance(self) -> float:
        """The unbiased covariance of numerator and denominator."""
        return self._moments[2]  # type: ignore[attr-defined]

    @property
    def variance(self) -> float:
        """The delta method's per-unit variance of the ratio, so that ``Var(mean) =
        variance / n``: ``var_m / mu_d**2 - 2 mu_m cov_md / mu_d**3 + mu_m**2 var_d /
        mu_d**4`` (Deng, Knoblich & Lu 2018)."""
        return self._var  # type: ignore[attr-defined]

    @property
    def pre_mean(self) -> float:
        """The pre-period ratio of sums."""
        return self._need_pre().pre_num_sum / self.pre_den_sum

    @property
    def pre_variance(self) -> float:
        """The delta method's per-unit variance of the pre-period ratio."""
        return self._need_pre()._pre_var  # type: ignore[attr-defined]

    @property
    def pre_covariance(self) -> float:
        """The delta method's per-unit covariance of the ratio and the pre-period ratio,
        ``g' C g_pre`` with ``C`` the cross-period covariances of (m, d) and (mp, dp)."""
        return self._need_pre()._pre_cov  # type: ignore[attr-defined]

    def _need_pre(self) -> RatioSums:
        if not self.has_pre:
            raise InputError("pre_num_sum = None: expected the nine pre-period sums for a "
                             "regression adjustment")
        return self


#: Either kind of per-variant sums.
Sums = MeanSums | RatioSums
