"""Maximum-likelihood fitting shared by the customer-value models, and their base class.

``MLEstimator`` is the ``growthloop.core.estimator.Estimator`` of models fitted by maximum
likelihood on positive parameters: what was learned ends in ``_`` (``params_``, ``se_``,
``loglik_``, ``n_customers_``, ``converged_``); ``to_frame()`` gives the parameters with
standard errors and 95 % intervals. ``fit_mle`` maximises a log-likelihood in log space;
a stop before convergence keeps the last parameters with ``converged_ = False`` and a
``ConvergenceWarning``. The input checks (``as_rft``, ``as_vector``, ``as_weights``,
``as_horizon``, ``broadcast_horizon``, ``repeat_rows``) raise
``growthloop.core.errors.InputError``.

A model is a subclass of ``MLEstimator`` that keeps only what is its own: its parameter
names, its input checks, its log-likelihood and start values (handed to
``MLEstimator._fit``) and its predictions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import ndtri

from growthloop.core.errors import InputError
from growthloop.core.estimator import ConvergenceWarning, Estimator

__all__ = [
    "RFT_HINT",
    "MLEResult",
    "MLEstimator",
    "as_horizon",
    "as_rft",
    "as_vector",
    "as_weights",
    "broadcast_horizon",
    "distinct_rft",
    "fit_mle",
    "levels",
    "repeat_rows",
    "unique_rows",
]

_Z95 = float(ndtri(0.975))  # standard normal 97.5 % quantile
_LOG_BOUND = 40.0  # parameters are searched within exp(-40) .. exp(40)


# --------------------------------------------------------------------------- input checks


def as_vector(name: str, values: Any, *, allow_scalar: bool = False) -> np.ndarray:
    """``values`` as a finite float64 array (1-D, or 0-D when ``allow_scalar``).

    Raises ``InputError`` naming ``name`` for text, missing or infinite values.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be numbers; got {type(values).__name__} that cannot be read as "
            "numbers: check the column type"
        ) from None
    if arr.ndim > 1 or (arr.ndim == 0 and not allow_scalar):
        raise InputError(
            f"{name} must be a one-dimensional array with one value per customer; "
            f"got shape {arr.shape}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InputError(
            f"{name} has {int(bad.sum())} missing or infinite values (first at position "
            f"{i}: {arr.ravel()[i]}); drop or fill those customers before fitting"
        )
    return arr


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def as_rft(
    frequency: Any, recency: Any, T: Any, *, allow_scalar: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate per-customer (frequency, recency, T) and return them as float arrays.

    ``frequency`` is the number of repeat purchase periods, ``recency`` the time from the
    first to the last purchase and ``T`` the time from the first purchase to the end of
    observation, all in one time unit. With ``allow_scalar`` the three are broadcast
    together (for predictions); otherwise they must be 1-D of one length (for fitting).
    """
    x = as_vector("frequency", frequency, allow_scalar=allow_scalar)
    tx = as_vector("recency", recency, allow_scalar=allow_scalar)
    t_end = as_vector("T", T, allow_scalar=allow_scalar)
    if allow_scalar:
        try:
            x, tx, t_end = np.broadcast_arrays(x, tx, t_end)
        except ValueError:
            raise InputError(
                f"frequency, recency and T have shapes {x.shape}, {tx.shape} and "
                f"{t_end.shape} that do not match; pass one value per customer in each"
            ) from None
    elif not (len(x) == len(tx) == len(t_end)):
        raise InputError(
            f"frequency, recency and T have different lengths ({len(x)}, {len(tx)}, "
            f"{len(t_end)}); pass one value per customer in each"
        )
    if x.size == 0:
        raise InputError(
            "no customers: frequency, recency and T are empty; check the filter or the "
            "observation period that selected the customers"
        )
    flat = (x.ravel(), tx.ravel(), t_end.ravel())
    for name, arr in zip(("frequency", "recency", "T"), flat, strict=True):
        if (arr < 0).any():
            i = _first(arr < 0)
            raise InputError(
                f"{name} has negative values (first at position {i}: {arr[i]:g}); times "
                "count from each customer's first purchase: check order dates and the "
                "observation end"
            )
    fx, ftx, fT = flat
    frac = fx != np.round(fx)
    if frac.any():
        i = _first(frac)
        raise InputError(
            f"frequency must be a whole number of repeat purchases; position {i} has "
            f"{fx[i]:g}: check that the column is a count, not an average"
        )
    late = ftx > fT
    if late.any():
        i = _first(late)
        raise InputError(
            f"recency is greater than T for {int(late.sum())} customers (first at position "
            f"{i}: recency={ftx[i]:g}, T={fT[i]:g}); recency, the time from the first to "
            "the last purchase, cannot exceed T, the time from the first purchase to the "
            "end of observation: check the observation end and that both use one time unit"
        )
    odd = (fx == 0) & (ftx != 0)
    if odd.any():
        i = _first(odd)
        raise InputError(
            f"customers with frequency 0 must have recency 0; position {i} has recency "
            f"{ftx[i]:g}: recency runs from the first to the last purchase, which are the "
            "same purchase when there is no repeat"
        )
    return x, tx, t_end


def as_weights(weights: Any, n: int) -> np.ndarray:
    """Per-row counts for compressed data (ones when ``weights`` is None)."""
    if weights is None:
        return np.ones(n)
    w = as_vector("weights", weights)
    if len(w) != n:
        raise InputError(
            f"weights has length {len(w)} but there are {n} customers; pass one count per "
            "row, as returned by growthloop.models.clv.compress"
        )
    if (w < 0).any() or w.sum() <= 0:
        raise InputError(
            "weights must be non-negative counts with a positive total; check the counts "
            "column of the compressed data"
        )
    return w


def levels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and the index of each value among them (by hashing, so
    linear time: ``np.unique`` sorts all the values)."""
    codes, uniq = pd.factorize(values, sort=True)
    return np.asarray(uniq), codes.astype(np.intp)


def unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Distinct rows of equal-length columns, sorted, with the inverse index and counts.

    Returns ``(uniques, inverse, counts)``: ``uniques[j][inverse]`` rebuilds column ``j``.
    Each column is hashed to integer codes and the codes are combined into one int64
    key, so 10 million rows take about a second.
    """
    n = len(columns[0])
    codes, levels = [], []
    for col in columns:
        code, level = pd.factorize(col, sort=True)
        codes.append(code.astype(np.int64))
        levels.append(np.asarray(level))
    sizes = [max(len(level), 1) for level in levels]
    if math.prod(sizes) < 2**62:
        key = np.zeros(n, dtype=np.int64)
        for code, size in zip(codes, sizes, strict=True):
            key = key * size + code
        key_codes, key_levels = pd.factorize(key, sort=True)
        counts = np.bincount(key_codes, minlength=len(key_levels))
        rest = np.asarray(key_levels, dtype=np.int64)
        parts = []
        for size in reversed(sizes):
            rest, part = np.divmod(rest, size)
            parts.append(part)
        uniq_codes = parts[::-1]
        inverse = key_codes.astype(np.int64)
    else:  # pragma: no cover - needs more than 2**62 distinct combinations of values
        stacked = np.stack(codes, axis=1)
        uniq, inverse, counts = np.unique(
            stacked, axis=0, return_inverse=True, return_counts=True
        )
        uniq_codes = [uniq[:, j] for j in range(uniq.shape[1])]
        inverse = inverse.ravel()
    uniques = [level[c] for level, c in zip(levels, uniq_codes, strict=True)]
    return uniques, inverse, counts


def distinct_rft(
    frequency: Any, recency: Any, T: Any, weights: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated (frequency, recency, T) as their distinct triples, sorted, with the total
    weight of each (customers, when ``weights`` is None): see ``as_rft`` and
    ``as_weights``."""
    x, tx, t_end = as_rft(frequency, recency, T)
    w = as_weights(weights, len(x))
    (ux, utx, uT), inverse, counts = unique_rows(x, tx, t_end)
    return ux, utx, uT, np.bincount(inverse, weights=w, minlength=len(counts))


#: What to check when a purchase model fitted on (frequency, recency, T) does not converge.
RFT_HINT = (
    "that frequency counts repeat purchase periods (not all orders), that recency and T "
    "use the same time unit, and that the data hold customers with repeat purchases; a "
    "larger max_iter may help"
)


def repeat_rows(
    frequency: Any, recency: Any, T: Any, weights: Any, *, lifetime: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What a purchase model is fitted on: the ``distinct_rft`` triples of positive weight.

    Raises ``InputError`` when no customer has a repeat purchase, so that the purchase
    rate and the ``lifetime`` (what ends a customer's purchasing, in the model's words)
    cannot be estimated.
    """
    x, tx, t_end, w = distinct_rft(frequency, recency, T, weights)
    keep = w > 0
    x, tx, t_end, w = x[keep], tx[keep], t_end[keep], w[keep]
    if not (x > 0).any():
        raise InputError(
            "no customer has a repeat purchase (every frequency is 0), so the purchase "
            f"rate and the {lifetime} cannot be estimated; check the observation period "
            "and that frequency counts repeat purchases"
        )
    return x, tx, t_end, w


def as_horizon(t: Any) -> np.ndarray:
    """A prediction horizon ``t`` (a scalar or one per customer) as a float array >= 0."""
    t = as_vector("t", t, allow_scalar=True)
    if (t < 0).any():
        raise InputError(f"the horizon t must be >= 0; got {t.min():g}")
    return t


def broadcast_horizon(t: Any, *customers: np.ndarray) -> list[np.ndarray]:
    """``as_horizon(t)`` broadcast together with the customers' arrays (in that order)."""
    t = as_horizon(t)
    try:
        return np.broadcast_arrays(t, *customers)
    except ValueError:
        raise InputError(
            f"t has shape {t.shape}, which does not match the customers' "
            f"{customers[0].shape}; pass one horizon or one per customer"
        ) from None


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class MLEResult:
    """What ``fit_mle`` found: natural-scale estimates, their covariance and diagnostics."""

    params: np.ndarray
    cov: np.ndarray
    loglik: float
    converged: bool
    n_iter: int
    message: str

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))


LogLik = Callable[[np.ndarray, bool], tuple[float, np.ndarray, np.ndarray | None]]


def _numerical_hessian(loglik: LogLik, theta: np.ndarray) -> np.ndarray:
    """Central-difference Hessian from the analytic gradient."""
    k = len(theta)
    h = 1e-5 * theta
    hess = np.empty((k, k))
    for j in range(k):
        up, down = theta.copy(), theta.copy()
        up[j] += h[j]
        down[j] -= h[j]
        hess[:, j] = (loglik(up, False)[1] - loglik(down, False)[1]) / (2 * h[j])
    return (hess + hess.T) / 2


class _LogScaleObjective:
    """Mean negative log-likelihood of ``log(theta)`` with its gradient and Hessian,
    caching the last evaluation (SciPy asks for them one at a time)."""

    def __init__(self, loglik: LogLik, n: float) -> None:
        self.loglik = loglik
        self.n = n
        self._key: bytes | None = None
        self._value: tuple[float, np.ndarray, np.ndarray] = (math.inf, np.empty(0),
                                                             np.empty((0, 0)))

    def _eval(self, phi: np.ndarray, hessian: bool) -> tuple[float, np.ndarray, np.ndarray]:
        key = phi.tobytes() + bytes([hessian])
        if key != self._key:
            k = len(phi)
            bad = (math.inf, np.zeros(k), np.eye(k))
            if np.max(np.abs(phi)) > _LOG_BOUND:
                self._value = bad
            else:
                theta = np.exp(phi)
                with np.errstate(all="ignore"):
                    ll, g, h = self.loglik(theta, hessian)
                if not (np.isfinite(ll) and np.all(np.isfinite(g))):
                    self._value = bad
                else:
                    hh = np.eye(k) if h is None else -(np.outer(theta, theta) * h
                                                       + np.diag(theta * g)) / self.n
                    self._value = (-ll / self.n, -(g * theta) / self.n,
                                   hh if np.all(np.isfinite(hh)) else np.eye(k))
            self._key = key
        return self._value

    def fun_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad, _ = self._eval(phi, False)
        return value, grad

    def fun(self, phi: np.ndarray) -> float:
        return self._eval(phi, True)[0]

    def grad(self, phi: np.ndarray) -> np.ndarray:
        return self._eval(phi, True)[1]

    def hess(self, phi: np.ndarray) -> np.ndarray:
        return self._eval(phi, True)[2]


def fit_mle(
    loglik: LogLik,
    start: np.ndarray,
    *,
    n: float,
    names: Sequence[str],
    model: str,
    tol: float,
    max_iter: int,
    hint: str,
    stacklevel: int = 3,
) -> MLEResult:
    """Maximise a log-likelihood over positive parameters on the log scale.

    ``loglik(theta, hessian)`` returns the total log-likelihood, its analytic gradient
    in the natural parameters ``theta`` and, when ``hessian`` is true, the analytic
    Hessian or None. With a Hessian the search is SciPy's exact trust-region Newton
    method (``trust-exact``); without, L-BFGS-B. Either works on ``log(theta)`` and the
    mean log-likelihood (total / ``n``), so that ``tol`` (on the gradient) does not
    depend on the sample size. Standard errors come from the inverse of minus the
    Hessian of the total log-likelihood at the optimum (analytic, or by central
    differences of the analytic gradient). A search that stops early or runs off to
    ``exp(+-40)`` emits a ``ConvergenceWarning`` that names ``model`` and ends with
    ``hint`` (what to check); ``stacklevel`` is that of ``warnings.warn`` (the default
    points at the caller's caller).
    """
    start = np.clip(np.asarray(start, dtype=np.float64), math.exp(-30), math.exp(30))
    obj = _LogScaleObjective(loglik, n)
    phi0 = np.log(start)
    analytic = loglik(start, True)[2] is not None
    with np.errstate(all="ignore"):
        if analytic:
            res = optimize.minimize(
                obj.fun, phi0, jac=obj.grad, hess=obj.hess, method="trust-exact",
                options={"gtol": tol, "maxiter": max_iter},
            )
        else:
            res = optimize.minimize(
                obj.fun_and_grad, phi0, jac=True, method="L-BFGS-B",
                bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(start),
                options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15, "maxls": 50},
            )
    theta = np.exp(res.x)
    loglik_value, grad, hess = loglik(theta, True)
    problems = []
    # A search may stop short of ``tol`` because the log-likelihood cannot be resolved
    # any further in floating point; that is accepted when the gradient is small.
    slope = float(np.max(np.abs(grad * theta)) / n)
    if not np.isfinite(slope) or slope > max(1e3 * tol, 1e-6):
        problems.append(
            f"the optimiser stopped after {res.nit} iterations ({res.message}) with a "
            f"gradient of {slope:.1e}"
        )
    edge = np.abs(res.x) >= _LOG_BOUND - 5
    if edge.any():
        problems.append(
            "parameter " + ", ".join(f"{nm}={v:.3g}" for nm, v, e in
                                     zip(names, theta, edge, strict=True) if e)
            + " ran off towards 0 or infinity, so the data do not pin it down"
        )
    converged = not problems
    if not converged:
        warnings.warn(
            f"{model} fit did not converge: {'; '.join(problems)}. Check {hint}",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    if hess is None:
        hess = _numerical_hessian(loglik, theta)
    cov = np.full((len(theta), len(theta)), np.nan)
    if np.all(np.isfinite(hess)):
        try:
            inv = np.linalg.inv(np.linalg.cholesky(-hess))
            cov = inv.T @ inv
        except np.linalg.LinAlgError:
            pass
    if converged and not np.all(np.isfinite(cov)):
        warnings.warn(
            f"{model} fit: the log-likelihood is not strictly concave at the optimum, so "
            f"standard errors are not available (NaN). Check {hint}",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    return MLEResult(
        params=theta,
        cov=cov,
        loglik=float(loglik_value),
        converged=converged,
        n_iter=int(res.nit),
        message=str(res.message),
    )


# --------------------------------------------------------------------------- estimators


E = TypeVar("E", bound="MLEstimator")


class MLEstimator(Estimator):
    """Base of growthloop's fitted models (maximum likelihood on positive parameters).

    A model names its parameters (``param_names``), itself (``model_name``) and what to
    check when its fit does not converge (``fit_hint``). Its ``fit`` calls
    ``_check_settings``, validates the data and returns ``self._fit(loglik, start, n)``;
    everything else that is learned, given (``from_params``), shown (``to_frame``,
    ``repr``) or pickled is the same for every model and lives here.

    Parameters
    ----------
    tol : float
        Convergence tolerance on the gradient of the mean log-likelihood with respect to
        the log parameters.
    max_iter : int
        Most iterations of the optimiser before it gives up with a ``ConvergenceWarning``.

    Attributes
    ----------
    params_ : dict
        Maximum likelihood estimates, by name, in the order of ``param_names``.
    se_ : dict
        Standard errors from the inverse Hessian of the log-likelihood (NaN where it is
        not negative definite).
    loglik_ : float
        Maximised log-likelihood, summed over customers.
    n_customers_ : float
        Customers fitted (the sum of the weights).
    converged_ : bool
        Whether the optimiser converged.
    """

    #: Names of the model's parameters, in the order of ``params_``.
    param_names: ClassVar[tuple[str, ...]] = ()
    #: Name used in messages.
    model_name: ClassVar[str] = "model"
    #: What to check when the fit does not converge (ends the ``ConvergenceWarning``).
    fit_hint: ClassVar[str] = "the data; a larger max_iter may help"

    def __init__(self, *, tol: float = 1e-9, max_iter: int = 2000) -> None:
        self.tol = tol
        self.max_iter = max_iter

    # -- settings ----------------------------------------------------------------------

    def _check_settings(self) -> None:
        if not (isinstance(self.tol, int | float) and 0 < self.tol < 1):
            raise InputError(f"tol must be a number between 0 and 1; got {self.tol!r}")
        if not (isinstance(self.max_iter, int) and self.max_iter > 0):
            raise InputError(f"max_iter must be a positive integer; got {self.max_iter!r}")

    # -- fitting -----------------------------------------------------------------------

    def _fit(self: E, loglik: LogLik, start: np.ndarray, n: float) -> E:
        """Maximise ``loglik`` (see ``fit_mle``) from ``start`` on ``n`` customers, store
        the result and return ``self``: the end of every model's ``fit``."""
        result = fit_mle(
            loglik,
            start,
            n=n,
            names=self.param_names,
            model=self.model_name,
            tol=self.tol,
            max_iter=self.max_iter,
            hint=self.fit_hint,
            stacklevel=4,  # fit_mle < _fit < the model's fit < its caller
        )
        self._store(result, n)
        return self

    def _store(self, result: MLEResult, n_customers: float) -> None:
        names = self.param_names
        self.params_ = dict(zip(names, map(float, result.params), strict=True))
        self.se_ = dict(zip(names, map(float, result.se), strict=True))
        self.cov_ = result.cov
        self.loglik_ = result.loglik
        self.n_customers_ = float(n_customers)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter

    @classmethod
    def from_params(cls: type[E], **params: float) -> E:
        """A model with known parameters (published ones, or from another fit).

        It predicts like a fitted model; ``se_`` and ``loglik_`` are NaN and
        ``n_customers_`` is 0.
        """
        names = cls.param_names
        if set(params) != set(names):
            raise InputError(
                f"{cls.__name__} needs exactly the parameters {', '.join(names)}; got "
                f"{', '.join(params) or 'none'}"
            )
        values = np.array([params[k] for k in names], dtype=np.float64)
        if not np.all(np.isfinite(values) & (values > 0)):
            raise InputError(
                f"{cls.__name__} parameters must be finite and > 0; got {params}"
            )
        est = cls()
        k = len(names)
        est._store(
            MLEResult(params=values, cov=np.full((k, k), np.nan), loglik=math.nan,
                      converged=True, n_iter=0, message="parameters given"),
            0.0,
        )
        return est

    def _theta(self) -> np.ndarray:
        self.check_fitted()
        return np.array([self.params_[k] for k in self.param_names])

    def to_frame(self) -> pd.DataFrame:
        """Parameters with standard errors and 95 % confidence intervals.

        The interval is the Wald interval of the log parameter, ``estimate *
        exp(+-1.96 * std_error / estimate)``, which stays positive as the parameters
        must; a parameter the data barely bound (a fit at the boundary, such as BG/NBD's
        a and b growing together without limit) gets the interval (0, inf).
        """
        self.check_fitted()
        est = np.array([self.params_[k] for k in self.param_names])
        se = np.array([self.se_[k] for k in self.param_names])
        half = _Z95 * se / est
        with np.errstate(over="ignore"):
            low, high = est * np.exp(-half), est * np.exp(half)
        return pd.DataFrame(
            {
                "estimate": est,
                "std_error": se,
                "ci_low": low,
                "ci_high": high,
            },
            index=pd.Index(self.param_names, name="parameter"),
        )

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        text = f"{type(self).__name__}({settings})"
        if hasattr(self, "params_"):
            fitted = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            text += f" fitted on {self.n_customers_:g} customers: {fitted}"
        return text

    # -- contract hooks ----------------------------------------------------------------

    def fit(self: E, *args: Any, **kwargs: Any) -> E:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, *args: Any, **kwargs: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

