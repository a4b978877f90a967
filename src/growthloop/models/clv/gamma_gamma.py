"""Gamma-Gamma: the spend per transaction of repeat buyers.

A customer's transaction values are ``Gamma(p, nu)`` (shape ``p``, rate ``nu``) around a
customer-specific mean ``p / nu``, and ``nu ~ Gamma(q, gamma)`` across customers. The mean
``m`` of a customer's ``x`` repeat transactions is then sufficient: ``x m | nu ~
Gamma(p x, nu)``. The model assumes that spend per transaction does not depend on how
often a customer buys; ``fit`` warns (``AssumptionWarning``) when frequency and spend are
visibly correlated.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: using
   iso-value curves for customer base analysis", Journal of Marketing Research, 42(4),
   415-430 (section "Adding monetary value"; CDNOW estimates p = 6.25, q = 3.74,
   gamma = 15.44).
.. [2] Colombo, R. and Jiang, W. (1999), "A stochastic RFM model", Journal of
   Interactive Marketing, 13(3), 2-12.
.. [3] Fader, P. S. and Hardie, B. G. S. (2013), "The Gamma-Gamma model of monetary
   value", http://brucehardie.com/notes/025/. Likelihood eq. (1a); conditional
   expectation eq. (5).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln, polygamma

from growthloop.core.errors import InputError
from growthloop.core.estimator import AssumptionWarning, ContractExample, register
from growthloop.models.mle import MLEstimator, as_vector, as_weights, levels

__all__ = ["GammaGamma", "simulate_gamma_gamma"]

_CORRELATION_LIMIT = 0.3


@dataclass(frozen=True)
class _Stats:
    """Sufficient statistics of the Gamma-Gamma likelihood."""

    n: float
    xs: np.ndarray  # distinct frequencies
    w_x: np.ndarray  # customers per distinct frequency
    sum_log_m: float  # sum of w log m
    sum_x_log_m: float  # sum of w x log m
    x: np.ndarray  # per customer: frequency
    spend: np.ndarray  # x * m, the total repeat spend
    w: np.ndarray


def _loglik(
    theta: np.ndarray, s: _Stats, hessian: bool = False
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Total log-likelihood, gradient and (optionally) Hessian in (p, q, gamma).

    Per customer ``log f(m | x) = log Gamma(px+q) - log Gamma(px) - log Gamma(q)
    + q log gamma + (px-1) log m + px log x - (px+q) log(gamma + m x)``; the terms in
    ``log m`` reduce to two sums computed once, those in x alone to sums per distinct x.

    References
    ----------
    .. [1] Fader and Hardie (2013), eq. (1a).
    """
    p, q, gam = theta
    xs = s.xs
    px = p * xs
    log_spend = np.log(gam + s.spend)
    inv_spend = 1.0 / (gam + s.spend)
    wx = s.w * s.x
    ll = (
        s.w_x @ (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gam) + px * np.log(xs))
        + p * s.sum_x_log_m - s.sum_log_m
        - p * (wx @ log_spend) - q * (s.w @ log_spend)
    )
    dig = digamma(px + q)
    sum_wx_u, sum_w_u = wx @ inv_spend, s.w @ inv_spend
    grad = np.array([
        s.w_x @ (xs * (dig - digamma(px) + np.log(xs))) + s.sum_x_log_m - wx @ log_spend,
        s.w_x @ (dig - digamma(q) + np.log(gam)) - s.w @ log_spend,
        s.n * q / gam - p * sum_wx_u - q * sum_w_u,
    ])
    if not hessian:
        return float(ll), grad, None
    tri = polygamma(1, px + q)
    inv2 = inv_spend**2
    h = np.empty((3, 3))
    h[0, 0] = s.w_x @ (xs**2 * (tri - polygamma(1, px)))
    h[0, 1] = s.w_x @ (xs * tri)
    h[0, 2] = -sum_wx_u
    h[1, 1] = s.w_x @ (tri - polygamma(1, q))
    h[1, 2] = s.n / gam - sum_w_u
    h[2, 2] = -s.n * q / gam**2 + p * (wx @ inv2) + q * (s.w @ inv2)
    h = np.triu(h) + np.triu(h, 1).T
    return float(ll), grad, h


def _start(x: np.ndarray, m: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Method of moments with q fixed at 3, where ``E[m] = p gamma / 2`` and
    ``Var[m] = E[m]^2 (1 + 2 E[1/x] / p)``, solved for p and gamma."""
    mean = np.average(m, weights=w)
    var = np.average((m - mean) ** 2, weights=w)
    inv_x = np.average(1.0 / x, weights=w)
    excess = var - mean**2
    p = 2 * inv_x * mean**2 / excess if excess > 0 else 10.0
    p = float(np.clip(p, 0.1, 100.0))
    return np.array([p, 3.0, 2 * mean / p])


@register
class GammaGamma(MLEstimator):
    """The Gamma-Gamma model of spend per transaction (Fader, Hardie and Lee 2005).

    Settings (``tol``, ``max_iter``) and fitted attributes are those of every
    ``growthloop.models.mle.MLEstimator``; ``params_`` holds ``p`` (shape of transaction
    values), ``q`` and ``gamma`` (shape and rate of the customers' value-rate ``nu``), and
    ``n_customers_`` counts the repeat buyers used. Also fitted:

    Attributes
    ----------
    correlation_ : float
        Weighted Pearson correlation of frequency and monetary value among them.

    References
    ----------
    .. [1] Fader, Hardie and Lee (2005), "RFM and CLV", JMR 42(4).
    .. [2] Colombo and Jiang (1999).
    """

    param_names = ("p", "q", "gamma")
    model_name = "Gamma-Gamma"
    fit_hint = (
        "that monetary_value is the mean value of the repeat transactions (not the total) "
        "in one currency, and look for extreme values; a larger max_iter may help"
    )

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None) -> GammaGamma:
        """Fit on the repeat buyers: customers with frequency 0 are left out.

        Parameters
        ----------
        frequency : array_like
            Repeat purchase periods per customer.
        monetary_value : array_like
            Mean value of those repeat purchases (0 or anything for frequency 0).
        weights : array_like, optional
            Customers per row.

        Returns
        -------
        GammaGamma
            ``self``, fitted.

        References
        ----------
        .. [1] Fader and Hardie (2013), eq. (1a).
        """
        self._check_settings()
        x, m = _as_xm(frequency, monetary_value)
        w = as_weights(weights, len(x))
        rep = (x > 0) & (w > 0)
        if not rep.any():
            raise InputError(
                "no customer has a repeat purchase (every frequency is 0); the Gamma-Gamma "
                "model is fitted on repeat buyers' mean spend: check the observation period"
            )
        x, m, w = x[rep], m[rep], w[rep]
        if (m <= 0).any():
            i = int(np.flatnonzero(m <= 0)[0])
            raise InputError(
                f"monetary_value must be > 0 for customers with repeat purchases; repeat "
                f"buyer {i} has {m[i]:g}: check for refunds or free orders counted as "
                "purchases"
            )
        self.correlation_ = _weighted_corr(x, m, w)
        if abs(self.correlation_) > _CORRELATION_LIMIT:
            warnings.warn(
                f"frequency and monetary_value are correlated (r = {self.correlation_:.2f}) "
                "among repeat buyers; the Gamma-Gamma model assumes they are independent, "
                "so its spend predictions will be biased: check for a segment with a "
                "different price level, or model spend per segment",
                AssumptionWarning,
                stacklevel=2,
            )
        xs, ix = levels(x)
        log_m = np.log(m)
        s = _Stats(
            n=float(w.sum()),
            xs=xs,
            w_x=np.bincount(ix, weights=w, minlength=len(xs)),
            sum_log_m=float(w @ log_m),
            sum_x_log_m=float((w * x) @ log_m),
            x=x,
            spend=x * m,
            w=w,
        )
        return self._fit(lambda theta, hessian: _loglik(theta, s, hessian), _start(x, m, w), s.n)

    def conditional_expected_average_profit(
        self, frequency: Any, monetary_value: Any
    ) -> np.ndarray:
        """Expected spend per future transaction given x repeat purchases of mean m.

        ``(gamma + m x) p / (p x + q - 1)``: a weighted average of the population mean
        ``p gamma / (q - 1)`` and the customer's own mean ``m``. For x = 0 it is the
        population mean, which is infinite when q <= 1.

        References
        ----------
        .. [1] Fader and Hardie (2013), eq. (5); Fader, Hardie and Lee (2005), JMR.
        """
        p, q, gam = self._theta()
        x = as_vector("frequency", frequency, allow_scalar=True)
        m = as_vector("monetary_value", monetary_value, allow_scalar=True)
        try:
            x, m = np.broadcast_arrays(x, m)
        except ValueError:
            raise InputError(
                f"frequency and monetary_value have shapes {x.shape} and {m.shape}; pass "
                "one value per customer in each"
            ) from None
        if (x < 0).any() or (m < 0).any():
            raise InputError("frequency and monetary_value must be >= 0")
        m = np.where(x > 0, m, 0.0)
        denom = p * x + q - 1
        with np.errstate(divide="ignore"):
            return np.where(denom > 0, (gam + m * x) * p / np.where(denom > 0, denom, 1.0),
                            np.inf)

    def predict(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """Alias of ``conditional_expected_average_profit``."""
        return self.conditional_expected_average_profit(frequency, monetary_value)

    @classmethod
    def contract_example(cls, rng: np.random.Generator) -> ContractExample:
        x = rng.integers(1, 8, 300).astype(np.float64)
        m = simulate_gamma_gamma(rng, x, p=6.0, q=4.0, gamma=15.0)
        return ContractExample(
            fit_args=(x, m),
            predict_args=(x[:20], m[:20]),
            bad_fit_args=(
                (x[:-1], m),
                (x, np.where(np.arange(len(x)) == 2, np.nan, m)),
                (x, -m),
                (x * 0, m),
                (x[:0], m[:0]),
            ),
        )


def _as_xm(frequency: Any, monetary_value: Any) -> tuple[np.ndarray, np.ndarray]:
    x = as_vector("frequency", frequency)
    m = as_vector("monetary_value", monetary_value)
    if len(x) != len(m):
        raise InputError(
            f"frequency and monetary_value have different lengths ({len(x)}, {len(m)}); "
            "pass one value per customer in each"
        )
    if len(x) == 0:
        raise InputError(
            "no customers: frequency and monetary_value are empty; check the filter that "
            "selected the customers"
        )
    if (x < 0).any() or (x != np.round(x)).any():
        i = int(np.flatnonzero((x < 0) | (x != np.round(x)))[0])
        raise InputError(
            f"frequency must be a whole number >= 0 of repeat purchases; position {i} has "
            f"{x[i]:g}"
        )
    if (m < 0).any():
        i = int(np.flatnonzero(m < 0)[0])
        raise InputError(
            f"monetary_value must be >= 0; position {i} has {m[i]:g}: check for refunds "
            "netted into the mean spend"
        )
    return x, m


def _weighted_corr(x: np.ndarray, m: np.ndarray, w: np.ndarray) -> float:
    dx = x - np.average(x, weights=w)
    dm = m - np.average(m, weights=w)
    sxx, smm = w @ dx**2, w @ dm**2
    if sxx == 0 or smm == 0:
        return 0.0
    return float((w @ (dx * dm)) / np.sqrt(sxx * smm))


def simulate_gamma_gamma(
    rng: np.random.Generator, frequency: Any, *, p: float, q: float, gamma: float
) -> np.ndarray:
    """Draw the mean repeat spend of customers with the given frequencies.

    ``nu ~ Gamma(q, rate gamma)``; the total of ``x`` transactions is
    ``Gamma(p x, rate nu)``, so the mean is that divided by ``x`` (0 when x = 0).

    References
    ----------
    .. [1] Fader, Hardie and Lee (2005), JMR, the Gamma-Gamma submodel.
    """
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / gamma, x.shape)
    has = x > 0
    out = np.zeros(x.shape)
    out[has] = rng.gamma(p * x[has], 1.0 / nu[has]) / x[has]
    return out
