"""A hierarchical Bayesian marketing-mix model: adstock, Hill saturation, markets together.

The outcome ``y`` of market ``m`` in period ``t`` (new customers, sign-ups, revenue; one
row per market and period, daily or weekly) is

    y_mt / s_m = intercept_m + trend_m t/T + sum_f fourier_mf(t) + sum_k gamma_mk z_mkt
                 + sum_c beta_mc hill(adstock(x_mct / x_mc, alpha_mc), K_mc, S_c) + e_mt

with ``e ~ Normal(0, sigma_m)``, ``s_m`` the market's mean outcome and ``x_mc`` the mean
spend of the channel in the market (so priors are scale free), the transforms of Jin et
al. (2017) (``growthloop.models.mmm.transforms``), yearly Fourier terms (Harvey 1989;
the seasonality of Prophet, Taylor and Letham 2018) and controls ``z`` (festival days,
prices, anything the user gives, standardised). Markets share each channel's typical
carry-over, half-saturation and effect through a non-centred hierarchy (Gelman et al.
2013, ch. 5; the geo-level model of Sun et al. 2017, "Geo-level Bayesian hierarchical
media mix modeling"): ``logit alpha_mc = mu_alpha_c + tau_alpha z``, ``log K_mc = mu_K_c +
tau_K z``, ``log beta_mc = mu_beta_c + tau_beta z``, so a small market borrows strength
from the large ones.

Inference (NumPyro on JAX, CPU by default; the same code runs on a GPU):

- ``method="map"`` (default): the posterior mode by L-BFGS on the log density in the
  unconstrained space (JAX gradients), and a Laplace approximation (the inverse Hessian
  there) for intervals: seconds, for everyday iteration;
- ``method="nuts"``: the full posterior by NUTS (Hoffman and Gelman 2014), with R-hat
  and effective sample sizes (Vehtari et al. 2021).

References
----------
.. [1] Jin, Y., Wang, Y., Sun, Y., Chan, D. and Koehler, J. (2017), "Bayesian methods for
   media mix modeling with carryover and shape effects", Google Inc.
.. [2] Sun, Y., Wang, Y., Jin, Y., Chan, D. and Koehler, J. (2017), "Geo-level Bayesian
   hierarchical media mix modeling", Google Inc.
.. [3] Hoffman, M. D. and Gelman, A. (2014), "The No-U-Turn sampler", JMLR 15.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from growthloop.core import glossary
from growthloop.core.errors import InputError
from growthloop.core.estimator import Estimator
from growthloop.models.mmm.transforms import half_life

__all__ = ["MMMData", "MediaMixModel", "mmm_data"]

#: Fourier pairs of the yearly season.
YEARLY_ORDER = 2
_YEAR_DAYS = 365.25


# --------------------------------------------------------------------------- data


class MMMData:
    """A checked panel: ``y`` (markets, periods), ``x`` (markets, channels, periods),
    ``z`` (markets, periods, controls), the names, and the period length in days."""

    def __init__(self, *, markets: list[str], channels: list[str], controls: list[str],
                 periods: pd.DatetimeIndex, period_days: int, y: np.ndarray, x: np.ndarray,
                 z: np.ndarray, target: str) -> None:
        self.markets, self.channels, self.controls = markets, channels, controls
        self.periods, self.period_days, self.target = periods, period_days, target
        self.y, self.x, self.z = y, x, z

    def head(self, n: int) -> MMMData:
        """The first ``n`` periods."""
        return MMMData(markets=self.markets, channels=self.channels, controls=self.controls,
                       periods=self.periods[:n], period_days=self.period_days,
                       y=self.y[:, :n], x=self.x[:, :, :n], z=self.z[:, :n],
                       target=self.target)


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _numeric(df: pd.DataFrame, col: str, source: str, *, minimum: float | None = None
             ) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if minimum is not None:
        bad |= values < minimum
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        want = "a finite number" + (f" >= {minimum:g}" if minimum is not None else "")
        raise InputError(f"{source}: row {i + 1}, field {col!r}: value "
                         f"{_plain(df[col].iloc[i])!r}; expected {want}")
    return values


def mmm_data(df: pd.DataFrame, *, date: str, target: str, spend: Sequence[str],
             market: str | None = None, controls: Sequence[str] = (),
             source: str = "data") -> MMMData:
    """Check a table of one row per (market,) period and shape it for ``MediaMixModel``.

    Periods must be regular (every day or every week) and the same in every market; a
    row number in an error counts data rows from 1, as ingest does.
    """
    spend, controls = list(spend), list(controls)
    if not spend:
        raise InputError(f"{source}: no spend columns given; expected at least one")
    cols = [date, target, *spend, *controls, *([market] if market else [])]
    seen = set()
    for c in cols:
        if c in seen:
            raise InputError(f"{source}: column {c!r} is given twice")
        seen.add(c)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{source}: no column {', '.join(map(repr, missing))}; it has "
                         f"{', '.join(map(str, df.columns))}")
    if df.empty:
        raise InputError(f"{source}: no rows")
    df = df.reset_index(drop=True)
    days = pd.to_datetime(df[date], errors="coerce")
    if days.isna().any():
        i = int(np.flatnonzero(days.isna())[0])
        raise InputError(f"{source}: row {i + 1}, field {date!r}: value "
                         f"{_plain(df[date].iloc[i])!r}; expected a date such as 2025-01-06")
    y = _numeric(df, target, source)
    x = np.stack([_numeric(df, c, source, minimum=0.0) for c in spend], axis=-1)
    z = (np.stack([_numeric(df, c, source) for c in controls], axis=-1) if controls
         else np.zeros((len(df), 0)))
    keys = df[market].astype(str) if market else pd.Series(["all"] * len(df))
    frame = pd.DataFrame({"market": keys, "period": days.dt.normalize()})
    dup = frame.duplicated(keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"{source}: row {i + 1}: period {frame.period.iloc[i].date()} of "
                         f"market {keys.iloc[i]!r} appears more than once; expected one row "
                         "per market and period")
    periods = pd.DatetimeIndex(sorted(frame.period.unique()))
    if len(periods) < 8:
        raise InputError(f"{source}: {len(periods)} periods; expected at least 8")
    steps = np.unique(np.diff(periods.values).astype("timedelta64[D]").astype(int))
    if len(steps) != 1 or steps[0] not in (1, 7):
        raise InputError(f"{source}: periods must be consecutive days or consecutive weeks; "
                         f"found gaps of {', '.join(map(str, steps))} days")
    markets = sorted(frame.market.unique())
    for m in markets:
        have = set(frame.period[frame.market == m])
        if len(have) != len(periods):
            gap = min(set(periods) - have)
            raise InputError(f"{source}: market {m!r} has no row for period {gap.date()}; "
                             "every market needs every period")
    mi = frame.market.map({m: i for i, m in enumerate(markets)}).to_numpy()
    ti = periods.get_indexer(frame.period)
    Y = np.zeros((len(markets), len(periods)))
    X = np.zeros((len(markets), len(spend), len(periods)))
    Z = np.zeros((len(markets), len(periods), len(controls)))
    Y[mi, ti] = y
    X[mi, :, ti] = x
    Z[mi, ti, :] = z
    for i, m in enumerate(markets):
        if Y[i].mean() <= 0:
            raise InputError(f"{source}: market {m!r}: the mean of {target!r} is "
                             f"{Y[i].mean():g}; expected a positive outcome")
    return MMMData(markets=markets, channels=spend, controls=controls, periods=periods,
                   period_days=int(steps[0]), y=Y, x=X, z=Z, target=target)


# --------------------------------------------------------------------------- model


def _design(data: MMMData, z_stats: tuple[np.ndarray, np.ndarray] | None = None
            ) -> dict[str, np.ndarray]:
    """Scaled arrays the NumPyro model reads (scales kept to undo them): the yearly
    Fourier terms, and for daily data the weekly ones (order 3: any weekday profile);
    controls standardised with ``z_stats`` (mean, sd) or their own."""
    T = len(data.periods)
    y_scale = data.y.mean(axis=1)
    x_scale = data.x.mean(axis=2)
    x_scale = np.where(x_scale > 0, x_scale, 1.0)
    day = (data.periods - data.periods[0]).days.to_numpy(np.float64)
    waves = [(k, _YEAR_DAYS) for k in range(1, YEARLY_ORDER + 1)]
    if data.period_days == 1:
        waves += [(k, 7.0) for k in range(1, 4)]
    f = [fn(2 * math.pi * k * day / period) for k, period in waves for fn in (np.sin, np.cos)]
    z = data.z
    z_mean, z_sd = z_stats or (z.mean(axis=1, keepdims=True), z.std(axis=1, keepdims=True))
    z = np.where(z_sd > 0, (z - z_mean) / np.where(z_sd > 0, z_sd, 1.0), 0.0)
    return {"y": data.y / y_scale[:, None], "x": data.x / x_scale[..., None],
            "fourier": np.stack(f, axis=-1), "trend": np.arange(T) / max(T - 1, 1),
            "z": z, "y_scale": y_scale, "x_scale": x_scale, "z_mean": z_mean, "z_sd": z_sd}


def _numpyro_model(x: Any, fourier: Any, trend: Any, z: Any, lift: Any = None,
                   y: Any = None) -> None:
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from growthloop.models.mmm.transforms import geometric_adstock, hill

    M, C = x.shape[:2]
    with numpyro.plate("channel", C):
        # logit-normal carry-over with median 0.27 per period, near the Beta(1, 3) prior
        # of Jin et al. (2017) and PyMC-Marketing
        mu_alpha = numpyro.sample("mu_alpha", dist.Normal(-1.0, 1.0))
        mu_k = numpyro.sample("mu_log_k", dist.Normal(0.0, 1.0))
        mu_b = numpyro.sample("mu_log_beta", dist.Normal(-2.0, 1.5))
        shape = numpyro.sample("hill_shape", dist.LogNormal(math.log(1.5), 0.4))
    tau_alpha = numpyro.sample("tau_alpha", dist.HalfNormal(0.5))
    tau_k = numpyro.sample("tau_log_k", dist.HalfNormal(0.5))
    tau_b = numpyro.sample("tau_log_beta", dist.HalfNormal(0.5))
    with numpyro.plate("market", M, dim=-2), numpyro.plate("channel_m", C, dim=-1):
        z_alpha = numpyro.sample("z_alpha", dist.Normal(0.0, 1.0))
        z_k = numpyro.sample("z_log_k", dist.Normal(0.0, 1.0))
        z_b = numpyro.sample("z_log_beta", dist.Normal(0.0, 1.0))
    alpha = numpyro.deterministic("alpha", jnp.clip(
        1.0 / (1.0 + jnp.exp(-(mu_alpha + tau_alpha * z_alpha))), 0.0, 0.999))
    k = numpyro.deterministic("half_saturation", jnp.exp(mu_k + tau_k * z_k))
    beta = numpyro.deterministic("beta", jnp.exp(mu_b + tau_b * z_b))
    media = beta[..., None] * hill(geometric_adstock(x, alpha), k[..., None],
                                   shape[None, :, None])
    with numpyro.plate("market_b", M):
        intercept = numpyro.sample("intercept", dist.Normal(1.0, 1.0))
        slope = numpyro.sample("trend", dist.Normal(0.0, 0.5))
        sigma = numpyro.sample("sigma", dist.HalfNormal(0.5))
    season = numpyro.sample("season", dist.Normal(0.0, 0.3).expand(
        (M, fourier.shape[-1])).to_event(2))
    gamma = numpyro.sample("control", dist.Normal(0.0, 0.5).expand(
        (M, z.shape[-1])).to_event(2))
    mu = (intercept[:, None] + slope[:, None] * trend[None, :] + season @ fourier.T
          + jnp.einsum("mtk,mk->mt", z, gamma) + media.sum(axis=1))
    if lift is not None:  # lift tests on the steady-state curve (PyMC-Marketing's form)
        m, c = lift["market"], lift["channel"]
        curve = beta[m, c] * (hill(lift["spend"] + lift["delta"], k[m, c], shape[c])
                              - hill(lift["spend"], k[m, c], shape[c]))
        numpyro.sample("lift_test", dist.Normal(curve, lift["se"]).to_event(1),
                       obs=lift["lift"])
    numpyro.sample("y", dist.Normal(mu, sigma[:, None]).to_event(2), obs=y)


LIFT_COLUMNS = ("channel", "spend", "delta_spend", "lift", "lift_se")


def _lift_tests(table: pd.DataFrame | None, data: MMMData, d: dict[str, np.ndarray]
                ) -> dict[str, np.ndarray] | None:
    """The lift tests of ``table`` checked against the data's names and scaled as the
    model sees them (spend by ``x_scale``, lift by ``y_scale``), or None."""
    if table is None or len(table) == 0:
        return None
    if not isinstance(table, pd.DataFrame):
        raise InputError("calibration must be a table of lift tests (a DataFrame)")
    src = table.attrs.get("source", "calibration")
    need = [*LIFT_COLUMNS, *(["market"] if len(data.markets) > 1 else [])]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(f"{src}: no column {', '.join(map(repr, missing))}; it has "
                         f"{', '.join(map(str, table.columns))}")
    t = table.reset_index(drop=True)
    markets = (t["market"].astype(str) if "market" in t
               else pd.Series([data.markets[0]] * len(t)))
    for col, names in (("market", data.markets), ("channel", data.channels)):
        values = markets if col == "market" else t["channel"].astype(str)
        bad = ~values.isin(names)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{src}: row {i + 1}, field {col!r}: value "
                             f"{values.iloc[i]!r}; expected one of {', '.join(names)}")
    spend = _numeric(t, "spend", src, minimum=0.0)
    delta = _numeric(t, "delta_spend", src)
    lift = _numeric(t, "lift", src)
    se = _numeric(t, "lift_se", src)
    for i in range(len(t)):
        if delta[i] == 0 or spend[i] + delta[i] < 0:
            raise InputError(f"{src}: row {i + 1}, field 'delta_spend': value "
                             f"{float(delta[i])!r}; expected a change that is not 0 and leaves "
                             "spend >= 0")
        if not se[i] > 0:
            raise InputError(f"{src}: row {i + 1}, field 'lift_se': value "
                             f"{float(se[i])!r}; expected a standard error > 0")
    m = np.array([data.markets.index(v) for v in markets])
    c = np.array([data.channels.index(v) for v in t["channel"].astype(str)])
    xs, ys = d["x_scale"][m, c], d["y_scale"][m]
    return {"market": m, "channel": c, "spend": spend / xs, "delta": delta / xs,
            "lift": lift / ys, "se": se / ys}


def _mode(fg: Any, x0: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, Any]:
    """The posterior mode: L-BFGS from ``x0``, then Newton steps with the
    finite-difference Hessian to polish it (L-BFGS stops early on flat ridges)."""
    from scipy.optimize import minimize

    res = minimize(fg, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": 5000, "maxfun": 20000})
    x, fx, gx = res.x, float(res.fun), fg(res.x)[1]
    for _ in range(4):
        w, v = np.linalg.eigh(_fd_hessian(fg, x))
        if not np.all(w > 0):
            break
        step = (v / w) @ (v.T @ gx)
        f_new, g_new = fg(x - step)
        if not f_new <= fx:
            break
        x, fx, gx = x - step, f_new, g_new
        if np.max(np.abs(step)) < 1e-9:
            break
    return x, fx, gx, res


def _fd_hessian(fg: Any, x: np.ndarray) -> np.ndarray:
    """Symmetric Hessian by central differences of the exact gradient ``fg(x)[1]`` (2 n
    gradients, no second compilation)."""
    n = len(x)
    hess = np.empty((n, n))
    for j in range(n):
        h = 1e-5 * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        hess[:, j] = (fg(up)[1] - fg(down)[1]) / (2 * h)
    return (hess + hess.T) / 2


def _start(M: int, C: int, F: int, K: int) -> dict[str, Any]:
    """Unconstrained starting values of every sample site of ``_numpyro_model`` (zeros:
    the prior medians of the hierarchy, shape 1, scales 1)."""
    import jax.numpy as jnp

    shapes = {"mu_alpha": (C,), "mu_log_k": (C,), "mu_log_beta": (C,), "hill_shape": (C,),
              "tau_alpha": (), "tau_log_k": (), "tau_log_beta": (), "z_alpha": (M, C),
              "z_log_k": (M, C), "z_log_beta": (M, C), "intercept": (M,), "trend": (M,),
              "sigma": (M,), "season": (M, F), "control": (M, K)}
    return {k: jnp.zeros(v) for k, v in shapes.items()}


_JITTED: tuple[Any, Any] | None = None


def _jitted() -> tuple[Any, Any]:
    """``(value_grad(flat, kw, dims), constrain(flats, kw, dims))`` on the flat vector of
    unconstrained sites, compiled once per process and input shapes (the data are
    arguments, not constants of the trace; ``dims = (M, C, F, K)`` is static)."""
    global _JITTED
    if _JITTED is None:
        from functools import partial

        import jax
        from jax.flatten_util import ravel_pytree
        from numpyro.infer.util import constrain_fn, potential_energy

        def potential(params: dict[str, Any], kw: dict[str, Any]) -> Any:
            return potential_energy(_numpyro_model, (), kw, params)

        @partial(jax.jit, static_argnums=2)
        def value_grad(flat: Any, kw: dict[str, Any], dims: tuple[int, ...]) -> Any:
            unravel = ravel_pytree(_start(*dims))[1]
            val, g = jax.value_and_grad(potential)(unravel(flat), kw)
            return val, ravel_pytree(g)[0]

        @partial(jax.jit, static_argnums=2)
        def constrain(flats: Any, kw: dict[str, Any], dims: tuple[int, ...]) -> Any:
            unravel = ravel_pytree(_start(*dims))[1]
            return jax.vmap(lambda f: constrain_fn(_numpyro_model, (), kw, unravel(f),
                                                   return_deterministic=True))(flats)

        _JITTED = (value_grad, constrain)
    return _JITTED


def _media(params: dict[str, Any], x: Any) -> Any:
    """Media contribution (markets, channels, periods), scaled, for one parameter set."""
    from growthloop.models.mmm.transforms import geometric_adstock, hill

    return params["beta"][..., None] * hill(
        geometric_adstock(x, params["alpha"]), params["half_saturation"][..., None],
        params["hill_shape"][None, :, None])


class MediaMixModel(Estimator):
    """Bayesian MMM over markets (module notes).

    Parameters
    ----------
    method : {"map", "nuts"}
        Posterior mode with a Laplace approximation (default, seconds) or NUTS.
    draws : int
        Posterior draws behind every interval (Laplace draws, or NUTS samples per chain).
    warmup, chains : int
        NUTS only.
    holdout : int
        Last periods kept out of the fit; their error (WAPE: sum of absolute errors over
        the sum of outcomes) is reported in ``diagnostics_``.
    seed : int
        Seed of the draws and of NUTS.
    calibration : DataFrame, optional
        Lift tests (a geo or audience holdout of a channel's spend), one row each:
        ``market`` (optional with one market), ``channel``, ``spend`` (spend per period
        before the test), ``delta_spend`` (the change the test made), ``lift`` (the
        change of the outcome per period it measured) and ``lift_se`` (its standard
        error). Each adds ``lift ~ Normal(f(spend + delta) - f(spend), lift_se)`` on the
        pair's steady-state curve ``f`` to the likelihood (the calibration of
        PyMC-Marketing's ``add_lift_test_measurements``; Jin et al. 2017, sec. 6, on
        priors from experiments), so the channel's curve is pulled toward what the test
        measured.
    """

    fitted_attribute = "params_"
    fit_signature = "fit(data)"

    def __init__(self, *, method: Literal["map", "nuts"] = "map", draws: int = 500,
                 warmup: int = 500, chains: int = 2, holdout: int = 0, seed: int = 0,
                 calibration: pd.DataFrame | None = None) -> None:
        self.method = method
        self.draws = draws
        self.warmup = warmup
        self.chains = chains
        self.holdout = holdout
        self.seed = seed
        self.calibration = calibration

    def _check_settings(self, n_periods: int) -> None:
        if self.method not in ("map", "nuts"):
            raise InputError(f"method must be 'map' or 'nuts'; got {self.method!r}")
        for name in ("draws", "warmup", "chains"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise InputError(f"{name} must be a whole number >= 1; got {v!r}")
        if not (isinstance(self.holdout, int) and 0 <= self.holdout <= n_periods - 8):
            raise InputError(f"holdout must be a whole number of periods in [0, "
                             f"{n_periods - 8}] (8 periods stay for the fit); got "
                             f"{self.holdout!r}")

    def fit(self, data: MMMData) -> MediaMixModel:
        """Fit on ``data`` (``mmm_data``); returns ``self``."""
        import jax

        jax.config.update("jax_enable_x64", True)
        if not isinstance(data, MMMData):
            raise InputError("fit takes the table checked by mmm_data(...)")
        self._check_settings(len(data.periods))
        train = data.head(len(data.periods) - self.holdout)
        d = _design(train)
        args: dict[str, Any] = {k: d[k] for k in ("x", "fourier", "trend", "z")}
        args["lift"] = _lift_tests(self.calibration, train, d)
        started = time.perf_counter()
        if self.method == "map":
            samples, diagnostics = self._laplace(args, d["y"])
        else:
            samples, diagnostics = self._nuts(args, d["y"])
        diagnostics["seconds"] = time.perf_counter() - started
        self.data_ = train
        self.scale_ = {"y": d["y_scale"], "x": d["x_scale"], "z": (d["z_mean"], d["z_sd"])}
        # Laplace: row 0 is the mode, the rest draws; NUTS: the posterior median
        if self.method == "map":
            self.params_ = {k: v[0] for k, v in samples.items()}
            self.samples_ = {k: v[1:] for k, v in samples.items()}
        else:
            self.params_ = {k: np.median(v, axis=0) for k, v in samples.items()}
            self.samples_ = samples
        fitted = self._mean(self.params_, train)
        resid = train.y - fitted
        diagnostics["r2"] = float(1 - (resid ** 2).sum() / ((train.y - train.y.mean(
            axis=1, keepdims=True)) ** 2).sum())
        # weighted absolute percentage error: periods without any outcome stay finite
        diagnostics["wape"] = float(glossary.ratio(np.abs(resid).sum(), np.abs(train.y).sum()))
        if self.holdout:
            test = self._mean(self.params_, data)[:, -self.holdout:]
            actual = data.y[:, -self.holdout:]
            diagnostics["holdout_wape"] = float(glossary.ratio(np.abs(actual - test).sum(),
                                                               np.abs(actual).sum()))
        self.diagnostics_ = diagnostics
        return self

    # -- inference ---------------------------------------------------------------------

    def _laplace(self, args: dict[str, np.ndarray], y: np.ndarray
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        import jax
        import jax.numpy as jnp
        from jax.flatten_util import ravel_pytree
        from threadpoolctl import threadpool_limits

        kw = jax.tree_util.tree_map(jnp.asarray, {**args, "y": y})
        dims = (*args["x"].shape[:2], args["fourier"].shape[-1], args["z"].shape[-1])
        flat0 = ravel_pytree(_start(*dims))[0]
        value_grad, constrain = _jitted()

        def fg(v: np.ndarray) -> tuple[float, np.ndarray]:
            val, g = value_grad(jnp.asarray(v), kw, dims)
            return float(val), np.asarray(g, dtype=np.float64)

        # one BLAS thread: OpenBLAS threads spinning beside JAX's pool make each L-BFGS
        # step milliseconds instead of microseconds
        with threadpool_limits(1, user_api="blas"):
            x, fx, gx, res = _mode(fg, np.asarray(flat0))
            hess = _fd_hessian(fg, x)
            w, v = np.linalg.eigh(hess)
            ok = bool(np.all(w > 0))
            cov = (v / np.maximum(w, 1e-8)) @ v.T
            rng = np.random.default_rng(self.seed)
            eps = rng.multivariate_normal(np.zeros(len(x)), cov, size=self.draws,
                                          method="eigh")
        flat = jnp.asarray(np.vstack([x, x + eps]))
        out = constrain(flat, kw, dims)
        samples = {k: np.asarray(v) for k, v in out.items() if k not in ("y", "lift_test")}
        return samples, {"method": "map", "converged": bool(res.success), "n_iter": res.nit,
                         "hessian_positive_definite": ok, "log_density": -fx,
                         "max_gradient": float(np.max(np.abs(gx)))}

    def _nuts(self, args: dict[str, np.ndarray], y: np.ndarray
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        import jax
        from numpyro.diagnostics import summary
        from numpyro.infer import MCMC, NUTS

        mcmc = MCMC(NUTS(_numpyro_model, target_accept_prob=0.9), num_warmup=self.warmup,
                    num_samples=self.draws, num_chains=self.chains,
                    chain_method="sequential", progress_bar=False)
        mcmc.run(jax.random.PRNGKey(self.seed), **args, y=y)
        grouped = mcmc.get_samples(group_by_chain=True)
        stats = summary({k: np.asarray(v) for k, v in grouped.items() if np.size(v)},
                        group_by_chain=True)
        r_hat = max(float(np.nanmax(s["r_hat"])) for s in stats.values())
        ess = min(float(np.nanmin(s["n_eff"])) for s in stats.values())
        divergences = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
        samples = {k: np.asarray(v) for k, v in mcmc.get_samples().items()
                   if k != "lift_test"}
        return samples, {"method": "nuts", "converged": r_hat < 1.01, "r_hat_max": r_hat,
                         "ess_min": ess, "divergences": divergences}

    # -- results -----------------------------------------------------------------------

    def _mean(self, params: dict[str, np.ndarray], data: MMMData) -> np.ndarray:
        """Expected outcome (markets, periods) in the data's units, scaled as in the fit."""
        d = _design(data, self.scale_["z"])
        ys, xs = self.scale_["y"], self.scale_["x"]
        x = data.x / xs[..., None]
        trend = np.arange(len(data.periods)) / max(len(self.data_.periods) - 1, 1)
        z = d["z"]
        mu = (params["intercept"][:, None] + params["trend"][:, None] * trend[None, :]
              + params["season"] @ d["fourier"].T
              + np.einsum("mtk,mk->mt", z, params["control"])
              + np.asarray(_media(params, x)).sum(axis=1))
        return mu * ys[:, None]

    def curve_parameters(self, *, draws: bool = False) -> pd.DataFrame:
        """Each (market, channel)'s response curve in spend and outcome units, by name: the
        steady-state outcome per period at a constant spend ``s`` is ``ceiling * hill(s,
        half_spend, shape)`` with ``ceiling = beta_mc s_m`` and ``half_spend = K_mc
        x_mc`` (``hill(s / x, K, S) = hill(s, K x, S)``; adstock is normalised, so a
        constant spend is its own adstock), and ``alpha`` its carry-over. One row per
        pair at the point estimate (``params_``), or with ``draws`` one per draw of
        ``samples_`` and pair (column ``draw``)."""
        self.check_fitted()
        source = ({k: v[None] for k, v in self.params_.items()} if not draws
                  else self.samples_)
        beta, k = np.asarray(source["beta"]), np.asarray(source["half_saturation"])
        shape, alpha = np.asarray(source["hill_shape"]), np.asarray(source["alpha"])
        n, (M, C) = beta.shape[0], beta.shape[1:]
        ys, xs = self.scale_["y"], self.scale_["x"]
        out = pd.DataFrame({
            "draw": np.repeat(np.arange(n), M * C),
            "market": np.tile(np.repeat(self.data_.markets, C), n),
            "channel": np.tile(np.tile(self.data_.channels, M), n),
            "ceiling": (beta * ys[None, :, None]).ravel(),
            "half_spend": (k * xs[None]).ravel(),
            "shape": np.broadcast_to(shape[:, None, :], (n, M, C)).ravel(),
            "alpha": alpha.ravel(),
        })
        return out if draws else out.drop(columns="draw")

    def contributions_draws(self, spend_factor: float = 1.0, *, point: bool = False
                            ) -> np.ndarray:
        """Contribution of each channel over the fitted periods, per draw: (draws, markets,
        channels), in the outcome's units, with the spend scaled by ``spend_factor``;
        with ``point`` one row, of the point estimate (``params_``)."""
        import jax
        import jax.numpy as jnp

        self.check_fitted()
        x = jnp.asarray(self.data_.x / self.scale_["x"][..., None] * spend_factor)
        keys = ("beta", "alpha", "half_saturation", "hill_shape")
        source = ({k: self.params_[k][None] for k in keys} if point else self.samples_)
        per = jax.vmap(lambda p: _media(p, x).sum(axis=-1))(
            {k: jnp.asarray(source[k]) for k in keys})
        return np.asarray(per) * self.scale_["y"][None, :, None]

    def version(self) -> str:
        """``mmm-<method>/<growthloop version>/<hash>``: the hash of the markets, channels,
        controls, fitted periods and point estimate (``params_``), so the same fit on the
        same data gives the same version."""
        from growthloop import __version__

        self.check_fitted()
        d = self.data_
        doc = {"markets": d.markets, "channels": d.channels, "controls": d.controls,
               "periods": [str(d.periods[0].date()), str(d.periods[-1].date())],
               "days": d.period_days, "target": d.target,
               "params": {k: np.round(np.asarray(v, dtype=np.float64), 10).tolist()
                          for k, v in sorted(self.params_.items())}}
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]
        return f"mmm-{self.method}/{__version__}/{digest}"

    def contributions_over_time(self) -> pd.DataFrame:
        """Each channel's contribution per fitted period at the point estimate, in the
        outcome's units: ``market``, ``channel``, ``period`` (first day), ``spend``,
        ``contribution``."""
        self.check_fitted()
        d = self.data_
        per = np.asarray(_media(self.params_, d.x / self.scale_["x"][..., None]))
        per = per * self.scale_["y"][:, None, None]
        M, C, T = per.shape
        return pd.DataFrame({
            "market": np.repeat(d.markets, C * T),
            "channel": np.tile(np.repeat(d.channels, T), M),
            "period": np.tile(d.periods.values, M * C),
            "spend": d.x.ravel(), "contribution": per.ravel()})

    def channel_summary(self, level: float = 0.9) -> pd.DataFrame:
        """Per market and channel: spend, contribution and its share, outcome per unit of
        spend and the marginal outcome of the next 1 % of spend (both with ``level``
        intervals), the adstock decay and half-life (periods and days)."""
        self.check_fitted()
        if not 0 < level < 1:
            raise InputError(f"level must be in (0, 1); got {level!r}")
        q = [(1 - level) / 2, 0.5, (1 + level) / 2]
        contrib = self.contributions_draws()
        more = self.contributions_draws(1.01)
        point = self.contributions_draws(point=True)[0]
        point_more = self.contributions_draws(1.01, point=True)[0]
        spend = self.data_.x.sum(axis=2)
        total = self.data_.y.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            per = contrib / np.where(spend > 0, spend, np.nan)[None]
            marginal = (more - contrib) / (0.01 * np.where(spend > 0, spend, np.nan))[None]
            point_per = glossary.ratio(point, spend)
            point_marginal = glossary.ratio(point_more - point, 0.01 * spend)
        rows = []
        for i, m in enumerate(self.data_.markets):
            for j, c in enumerate(self.data_.channels):
                a = float(self.params_["alpha"][i, j])
                lo, _, hi = np.quantile(per[:, i, j], q)
                mlo, _, mhi = np.quantile(marginal[:, i, j], q)
                hl = half_life(a)
                rows.append({
                    "market": m, "channel": c, "spend": float(spend[i, j]),
                    "contribution": float(point[i, j]),
                    "contribution_share": float(point[i, j] / total[i]),
                    "per_spend": float(point_per[i, j]), "per_spend_low": lo,
                    "per_spend_high": hi, "marginal_per_spend": float(point_marginal[i, j]),
                    "marginal_low": mlo, "marginal_high": mhi, "alpha": a,
                    "half_life_periods": hl, "half_life_days": hl * self.data_.period_days,
                })
        out = pd.DataFrame(rows)
        out.attrs.update(level=level, target=self.data_.target,
                         period_days=self.data_.period_days)
        return out
