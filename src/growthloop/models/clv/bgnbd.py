"""BG/NBD: the beta-geometric / negative binomial model of repeat buying.

While alive, a customer makes repeat purchases as a Poisson process with rate ``lambda``;
after each repeat purchase the customer drops out for good with probability ``p``. Across
customers ``lambda ~ Gamma(r, alpha)`` (shape ``r``, rate ``alpha``) and
``p ~ Beta(a, b)``. A customer's history enters only through ``x`` (frequency: repeat
purchases), ``t_x`` (recency: time of the last one, counted from the first purchase) and
``T`` (age: time from the first purchase to the end of observation), so the model is
fitted on the distinct ``(x, t_x, T)`` triples with their counts.

Everything is computed in log space: the likelihood (eq. 6) with ``gammaln``/``betaln``
and a log-sum-exp of its two terms, P(alive) as a logistic function of a log ratio, and
the Gauss hypergeometric function of eqs. 7 and 10 by a positive series in log space or,
where the series would be slow or cancel, by quadrature of its integral form.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting your customers'
   the easy way: an alternative to the Pareto/NBD model", Marketing Science, 24(2),
   275-284. Likelihood eq. (6), E[X(t)] eq. (7), E[Y(t) | x, t_x, T] eq. (10).
.. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2008), "Computing P(alive) using
   the BG/NBD model", http://brucehardie.com/notes/021/, eq. (2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import betaincinv, betaln, digamma, expit, exprel, gammaln, logsumexp, polygamma

from growthloop.core.errors import InputError
from growthloop.core.estimator import ContractExample, register
from growthloop.models.clv._special import unit_interval_rule
from growthloop.models.mle import (
    RFT_HINT,
    MLEstimator,
    as_horizon,
    as_rft,
    broadcast_horizon,
    levels,
    repeat_rows,
    unique_rows,
)

__all__ = ["BGNBD", "expected_alive", "simulate_bgnbd"]


@dataclass(frozen=True)
class _Stats:
    """Sufficient statistics of the BG/NBD likelihood for weighted (x, t_x, T) rows."""

    n: float
    xs: np.ndarray  # distinct frequencies
    w_x: np.ndarray  # customers per distinct frequency
    Ts: np.ndarray  # distinct ages
    w_T: np.ndarray  # customers per distinct age
    xw_T: np.ndarray  # repeat purchases per distinct age
    x: np.ndarray  # rows with x > 0: frequency
    ix: np.ndarray  # index of the row's frequency in xs
    tx: np.ndarray  # recency
    gap: np.ndarray  # T - t_x
    w: np.ndarray  # customers in the row


def _stats(x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> _Stats:
    xs, ix = levels(x)
    Ts, iT = levels(T)
    rep = x > 0
    return _Stats(
        n=float(w.sum()),
        xs=xs,
        w_x=np.bincount(ix, weights=w, minlength=len(xs)),
        Ts=Ts,
        w_T=np.bincount(iT, weights=w, minlength=len(Ts)),
        xw_T=np.bincount(iT, weights=w * x, minlength=len(Ts)),
        x=x[rep],
        ix=ix[rep],
        tx=tx[rep],
        gap=(T - tx)[rep],
        w=w[rep],
    )


def _loglik(
    theta: np.ndarray, s: _Stats, hessian: bool = False
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Total log-likelihood (FHL 2005 eq. 6), its gradient and, optionally, its Hessian
    in (r, alpha, a, b).

    Per customer, ``log L = log[Gamma(r+x)/Gamma(r) alpha^r] + log B(a, b+x) - log B(a, b)
    - (r+x) log(alpha+T) + 1{x>0} softplus(d)`` with ``d = log(a/(b+x-1)) + (r+x)
    log((alpha+T)/(alpha+t_x))``: the second term of eq. 6 divided by the first. Terms
    that depend on x only are summed per distinct x, those on T only per distinct T.
    The derivatives are analytic: digamma and trigamma for the first terms and, for the
    softplus, ``sigma(d) grad d`` and ``sigma'(d) grad d grad d' + sigma(d) hess d``.
    """
    r, alpha, a, b = theta
    xs = s.xs
    log_alpha = np.log(alpha)
    per_x = gammaln(r + xs) - gammaln(r) + r * log_alpha + betaln(a, b + xs) - betaln(a, b)
    log_T = np.log(alpha + s.Ts)
    inv_T = 1.0 / (alpha + s.Ts)
    coef_T = r * s.w_T + s.xw_T
    ll = s.w_x @ per_x - coef_T @ log_T

    x, gap, w = s.x, s.gap, s.w
    at_x = alpha + s.tx  # alpha + t_x
    at_T = at_x + gap  # alpha + T
    lgap = np.log1p(gap / at_x)  # log((alpha + T) / (alpha + t_x)) >= 0
    rx = r + x
    b_x = b + np.maximum(xs, 1) - 1  # per distinct frequency, gathered to the rows
    inv_b = (1.0 / b_x)[s.ix]
    d = (np.log(a) - np.log(b_x))[s.ix] + rx * lgap
    ll += w @ np.logaddexp(0.0, d)
    sig = expit(d)  # P(dropped out after the last purchase | data)
    pw = w * sig
    delta = -gap / (at_x * at_T)  # 1/(alpha+T) - 1/(alpha+t_x) = d lgap / d alpha
    d_alpha = rx * delta  # d d / d alpha

    dig_ab = digamma(a + b) - digamma(a + b + xs)
    grad = np.array([
        s.w_x @ (digamma(r + xs) - digamma(r) + log_alpha) - s.w_T @ log_T + pw @ lgap,
        s.n * r / alpha - coef_T @ inv_T + pw @ d_alpha,
        s.w_x @ dig_ab + pw.sum() / a,
        s.w_x @ (digamma(b + xs) - digamma(b) + dig_ab) - pw @ inv_b,
    ])
    if not hessian:
        return float(ll), grad, None

    tri_ab = polygamma(1, a + b) - polygamma(1, a + b + xs)
    h = np.zeros((4, 4))
    h[0, 0] = s.w_x @ (polygamma(1, r + xs) - polygamma(1, r))
    h[0, 1] = s.n / alpha - s.w_T @ inv_T
    h[1, 1] = -s.n * r / alpha**2 + coef_T @ inv_T**2
    h[2, 2] = h[2, 3] = s.w_x @ tri_ab
    h[3, 3] = s.w_x @ (polygamma(1, b + xs) - polygamma(1, b) + tri_ab)
    # softplus(d): grad d = (lgap, d_alpha, 1/a, -inv_b); hess d has (r, alpha) = delta,
    # (alpha, alpha) = rx (1/(alpha+t_x)^2 - 1/(alpha+T)^2), (a, a) = -1/a^2,
    # (b, b) = inv_b^2.
    ws = pw * (1.0 - sig)
    wl, wd, wb = ws * lgap, ws * d_alpha, ws * inv_b
    h[0, 0] += wl @ lgap
    h[0, 1] += wl @ d_alpha + pw @ delta
    h[0, 2] += wl.sum() / a
    h[0, 3] -= wl @ inv_b
    h[1, 1] += wd @ d_alpha + pw @ (rx * gap * (at_x + at_T) / (at_x * at_T) ** 2)
    h[1, 2] += wd.sum() / a
    h[1, 3] -= wd @ inv_b
    h[2, 2] += (ws.sum() - pw.sum()) / a**2
    h[2, 3] -= wb.sum() / a
    h[3, 3] += wb @ inv_b + pw @ inv_b**2
    h = np.triu(h) + np.triu(h, 1).T
    return float(ll), grad, h


def _start(s: _Stats) -> np.ndarray:
    """Starting values: negative binomial method of moments for (r, alpha), ignoring
    drop-out, and a = 1, b = 3 (a drop-out probability of 1/4 per purchase)."""
    n_T = s.w_T @ s.Ts
    mean_rate = (s.w_x @ s.xs) / n_T  # E[x] = r T / alpha
    second = (s.w_x @ (s.xs * (s.xs - 1))) / (s.w_T @ s.Ts**2)  # E[x(x-1)] = r(r+1) T^2/alpha^2
    excess = second - mean_rate**2
    r = mean_rate**2 / excess if excess > 1e-3 * mean_rate**2 else 1.0
    r = float(np.clip(r, 0.05, 20.0))
    return np.array([r, r / mean_rate, 1.0, 3.0])


# --------------------------------------------------------------------------- E[X(t)]


def _alive_series(
    t: np.ndarray, r: np.ndarray, alpha: np.ndarray, a: np.ndarray, b: np.ndarray,
    max_terms: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 7 by a same-sign series in log space; returns (value, converged).

    With ``z = t/(alpha+t)``, ``c = a+b-1`` and Euler's transformation
    ``(1-z)^r 2F1(r, b; c; z) = (1-z)^(a-1) 2F1(c-r, a-1; c; z)``, eq. 7 becomes
    ``c [(1 - (1-z)^(a-1))/(a-1) - (1-z)^(a-1) S]`` with
    ``S = sum_{k>=1} (c-r)_k (a)_(k-1) z^k / ((c)_k k!)``: no division by ``a - 1`` and,
    for ``c - r > -1``, terms of one sign.
    """
    z = t / (alpha + t)
    log1mz = -np.log1p(t / alpha)
    c = a + b - 1
    dcr = c - r
    first = -log1mz * exprel((a - 1) * log1mz)  # (1 - (1-z)^(a-1)) / (a-1)
    sign = np.sign(dcr)
    with np.errstate(divide="ignore"):
        lt = np.log(np.abs(dcr)) + np.log(z) - np.log(c) + (a - 1) * log1mz
    top = lt.copy()  # running maximum of the log terms
    acc = np.ones_like(lt)  # sum of exp(log term - top)
    done = np.zeros(len(t), dtype=bool)
    done |= ~np.isfinite(lt)  # c == r: every term is zero
    active = np.flatnonzero(~done)
    log_tol = np.log(1e-17) + log1mz  # a remaining tail below 1e-17 of the sum
    k = 1
    while active.size and k < max_terms:
        i = active
        ratio = z[i] * (dcr[i] + k) * (a[i] + k - 1) / ((c[i] + k) * (k + 1))
        lt[i] += np.log(ratio)
        new_top = np.maximum(top[i], lt[i])
        acc[i] = acc[i] * np.exp(top[i] - new_top) + np.exp(lt[i] - new_top)
        top[i] = new_top
        finished = (ratio < 1) & (lt[i] - top[i] - np.log(acc[i]) < log_tol[i])
        done[i[finished]] = True
        active = i[~finished]
        k += 1
    with np.errstate(over="ignore"):
        tail = np.where(np.isfinite(lt), sign * np.exp(top + np.log(acc)), 0.0)
    return c * (first - tail), done


def _alive_quadrature(
    t: np.ndarray, r: np.ndarray, alpha: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Eq. 7 as ``E[(1 - (1 + p t/alpha)^-r) / p]`` over ``p ~ Beta(a, b)``, integrated in
    log space by tanh-sinh quadrature (exact for any a, b > 0, accurate to ~1e-7 even for
    t/alpha = 1e8)."""
    rule = unit_interval_rule(step=1 / 32, t_max=10.0)
    out = np.empty(len(t))
    log_kappa = np.log(t) - np.log(alpha)
    for lo in range(0, len(t), 2048):
        sl = slice(lo, lo + 2048)
        col = (a[sl, None], b[sl, None], r[sl, None], log_kappa[sl, None])
        aa, bb, rr, lk = col
        y = -rr * np.log1p(np.exp(lk + rule.log_u))
        with np.errstate(divide="ignore"):
            log_f = (aa - 2) * rule.log_u + (bb - 1) * rule.log_1mu + np.log(-np.expm1(y))
        out[sl] = np.exp(logsumexp(log_f + rule.log_w, axis=1) - betaln(a[sl], b[sl]))
    return out


WIDE_BETA = 200.0  # a + b above this (a, b >= 1): too narrow a peak for fixed nodes in p


def _alive_quantile(
    t: np.ndarray, r: np.ndarray, alpha: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Eq. 7 as ``E[(1 - (1 + p t/alpha)^-r) / p]`` over ``p ~ Beta(a, b)``, integrated
    over the Beta's quantiles (``p = I^-1_u(a, b)``, tanh-sinh in u): the nodes follow
    the distribution however concentrated it is (large a + b)."""
    rule = unit_interval_rule(step=1 / 16, t_max=4.0)
    u, w = np.exp(rule.log_u), np.exp(rule.log_w)
    p = betaincinv(a[:, None], b[:, None], u[None, :])
    rk = (r * t / alpha)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = -np.expm1(-r[:, None] * np.log1p(p * (t / alpha)[:, None])) / p
    f = np.where(p > 0, f, rk)  # the p -> 0 limit of the integrand
    return f @ w


def expected_alive(
    t: Any, r: Any, alpha: Any, a: Any, b: Any, *, method: str = "auto"
) -> np.ndarray:
    """Expected repeat purchases in (0, t] of a customer alive at 0 (FHL 2005 eq. 7).

    ``(a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``, finite for
    every a, b > 0 (including a = 1). With ``(r+x, alpha+T, a, b+x)`` it is the numerator
    of eq. 10. ``method`` is ``"auto"`` (series where it converges fast, quadrature
    elsewhere), ``"series"`` or ``"quadrature"`` (for tests).

    References
    ----------
    .. [1] Fader, Hardie and Lee (2005), eqs. (7) and (10).
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (t, r, alpha, a, b)))
    shape = arrays[0].shape
    t, r, alpha, a, b = (v.ravel() for v in arrays)
    if method not in ("auto", "series", "quadrature"):
        raise InputError(f"method must be 'auto', 'series' or 'quadrature'; got {method!r}")
    out = np.zeros(t.shape)
    pos = t > 0
    z = np.where(pos, t / (alpha + t), 0.0)
    c = a + b - 1
    if method == "quadrature":
        series = np.zeros_like(pos)
    else:
        series = pos & (c > 0) & (c - r > -1) & (z <= 0.9) & (a * z < 500 * (1 - z))
        if method == "series":
            series = pos
    if series.any():
        i = np.flatnonzero(series)
        value, ok = _alive_series(t[i], r[i], alpha[i], a[i], b[i], max_terms=4000)
        out[i] = value
        series[i[~ok]] = False
    rest = pos & ~series
    wide = rest & (a + b > WIDE_BETA) & (a >= 1) & (b >= 1)  # no endpoint singularity
    if wide.any():
        i = np.flatnonzero(wide)
        out[i] = _alive_quantile(t[i], r[i], alpha[i], a[i], b[i])
    rest &= ~wide
    if rest.any():
        i = np.flatnonzero(rest)
        out[i] = _alive_quadrature(t[i], r[i], alpha[i], a[i], b[i])
    return out.reshape(shape)


# --------------------------------------------------------------------------- model


@register
class BGNBD(MLEstimator):
    """The BG/NBD model of repeat buying (Fader, Hardie and Lee 2005).

    Settings (``tol``, ``max_iter``) and fitted attributes are those of every
    ``growthloop.models.mle.MLEstimator``; ``params_`` holds ``r`` and ``alpha``
    (purchase rate heterogeneity: Gamma shape and rate, in the time unit of the data)
    and ``a`` and ``b`` (drop-out probability heterogeneity: Beta shape parameters), and
    ``loglik_`` is the sum over customers of eq. 6.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting your
       customers' the easy way: an alternative to the Pareto/NBD model", Marketing
       Science, 24(2), 275-284.

    Examples
    --------
    >>> model = BGNBD().fit(frequency, recency, T)          # doctest: +SKIP
    >>> model.conditional_expected_purchases(39, frequency, recency, T)  # doctest: +SKIP
    """

    param_names = ("r", "alpha", "a", "b")
    model_name = "BG/NBD"
    fit_hint = RFT_HINT

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> BGNBD:
        """Fit by maximum likelihood on the distinct (frequency, recency, T) triples.

        Parameters
        ----------
        frequency, recency, T : array_like
            Per customer: repeat purchase periods, time from the first to the last
            purchase, time from the first purchase to the end of observation.
        weights : array_like, optional
            Customers per row, for data that are already compressed (see
            ``growthloop.models.clv.compress``).

        Returns
        -------
        BGNBD
            ``self``, fitted.

        References
        ----------
        .. [1] Fader, Hardie and Lee (2005), eq. (6).
        """
        self._check_settings()
        s = _stats(*repeat_rows(frequency, recency, T, weights, lifetime="drop-out"))
        return self._fit(lambda theta, hessian: _loglik(theta, s, hessian), _start(s), s.n)

    # -- predictions -------------------------------------------------------------------

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Log-likelihood of each customer's history under the fitted model.

        References
        ----------
        .. [1] Fader, Hardie and Lee (2005), eq. (6).
        """
        r, alpha, a, b = self._theta()
        x, tx, T_ = as_rft(frequency, recency, T, allow_scalar=True)
        base = (
            gammaln(r + x) - gammaln(r) + r * np.log(alpha)
            + betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T_)
        )
        return base + np.where(x > 0, np.logaddexp(0.0, self._log_odds_dead(x, tx, T_)), 0.0)

    def _log_odds_dead(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._theta()
        xx = np.maximum(x, 1)
        with np.errstate(divide="ignore"):
            d = np.log(a) - np.log(b + xx - 1) + (r + x) * np.log1p((T - tx) / (alpha + tx))
        return np.where(x > 0, d, -np.inf)

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(customer still alive at T | x, t_x, T).

        ``1 / (1 + 1{x>0} a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``, computed as a
        logistic function of the log of the second term; exactly 1 when x = 0.

        References
        ----------
        .. [1] Fader, Hardie and Lee (2008), "Computing P(alive) using the BG/NBD model",
           eq. (2); the denominator of Fader, Hardie and Lee (2005), eq. (10).
        """
        self.check_fitted()
        x, tx, T_ = as_rft(frequency, recency, T, allow_scalar=True)
        return expit(-self._log_odds_dead(x, tx, T_))

    def expected_purchases(self, t: Any) -> np.ndarray:
        """Expected repeat purchases in (0, t] of a new customer.

        ``(a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``,
        evaluated without the pole at a = 1 (see ``expected_alive``).

        References
        ----------
        .. [1] Fader, Hardie and Lee (2005), eq. (7).
        """
        r, alpha, a, b = self._theta()
        return expected_alive(as_horizon(t), r, alpha, a, b)

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """Expected repeat purchases in (T, T+t] given the history (FHL 2005 eq. 10).

        ``P(alive) * (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x)
        2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]``; the bracket is eq. 7 for a customer
        with parameters updated by the history, evaluated once per distinct (t, x, T).

        References
        ----------
        .. [1] Fader, Hardie and Lee (2005), eq. (10).
        """
        r, alpha, a, b = self._theta()
        x, tx, T_ = as_rft(frequency, recency, T, allow_scalar=True)
        t, x, tx, T_ = broadcast_horizon(t, x, tx, T_)
        p_alive = expit(-self._log_odds_dead(x, tx, T_))
        (ut, ux, uT), inverse, _ = unique_rows(t.ravel(), x.ravel(), T_.ravel())
        g = expected_alive(ut, r + ux, alpha + uT, a, b + ux)
        return p_alive * g[inverse].reshape(x.shape)

    def predict(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Alias of ``conditional_expected_purchases`` (the model's main prediction)."""
        return self.conditional_expected_purchases(t, frequency, recency, T)

    # -- contract ----------------------------------------------------------------------

    @classmethod
    def contract_example(cls, rng: np.random.Generator) -> ContractExample:
        x, tx, T = simulate_bgnbd(rng, 400, r=0.5, alpha=5.0, a=1.0, b=3.0, T=30.0)
        good = (x, tx, T)
        return ContractExample(
            fit_args=good,
            predict_args=(10.0, x[:20], tx[:20], T[:20]),
            bad_fit_args=(
                (x[:-1], tx, T),
                (np.where(np.arange(len(x)) == 3, np.nan, x), tx, T),
                (x, tx + 100.0, T),
                (-x, tx, T),
                (x[:0], tx[:0], T[:0]),
            ),
        )


def simulate_bgnbd(
    rng: np.random.Generator,
    n: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (frequency, recency, T) for ``n`` customers from the BG/NBD model.

    Each customer gets ``lambda ~ Gamma(r, rate alpha)`` and ``p ~ Beta(a, b)``; the
    number of repeat purchases before drop-out is geometric, the Poisson purchases in
    (0, T] are capped by it, and the last kept purchase time is an order statistic of
    uniforms. ``T`` is a scalar or one age per customer.

    References
    ----------
    .. [1] Fader, Hardie and Lee (2005), section 2 (model assumptions i-v).
    """
    ages = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    alive_for = rng.geometric(np.clip(p, 1e-12, 1.0))  # repeat purchases until drop-out
    in_window = rng.poisson(lam * ages)
    x = np.minimum(in_window, alive_for)
    has = x > 0
    u = np.zeros(n)
    u[has] = rng.beta(x[has], in_window[has] - x[has] + 1)
    return x.astype(np.float64), ages * u, ages
