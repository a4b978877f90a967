"""Forecasts of a daily series: exponential smoothing (ETS) with weekly seasonality, and
the seasonal naive baseline, each with sample paths for the interval of any sum.

ETS (Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., ch. 8;
Hyndman, Koehler, Ord & Snyder 2008): statsmodels' ``ETSModel`` fitted by maximum
likelihood in each form of ``ETS_FORMS`` (error, trend, season with period 7; the trend
always damped, FPP3 sec. 8.2), the form with the smallest AICc kept (FPP3 sec. 8.6).
Multiplicative forms are tried only on a strictly positive history. ETS needs
``MIN_ETS_DAYS``; a shorter history (at least ``MIN_DAYS``) gets the seasonal naive.

Seasonal naive (FPP3 sec. 5.2 and 5.5): each day is the same weekday of the last week
seen, ``y_{T+h} = y_{T+h-7(k+1)}`` with ``k = floor((h - 1) / 7)``; its residuals
``e_t = y_t - y_{t-7}`` give ``sigma`` and the h-step standard deviation
``sigma sqrt(k + 1)``.

Sample paths. Each model simulates ``paths`` futures from its state-space form with
Gaussian errors (FPP3 sec. 8.7): ETS through ``ETSResults.simulate`` with errors ``sigma
z``, the seasonal naive as the seasonal random walk ``y_{T+j} = y_{T+j-7} + sigma z_j``.
The 80 % interval of a day is the 10 % and 90 % quantiles of its paths, the interval of
a sum over days (a month, the rest of a goal's period) the quantiles of the paths' sums:
that keeps the days' dependence (a level that is too high is too high every day), which
adding the days' variances would not. The point forecast is the model's mean. A
non-negative history (counts, revenue) has its daily bounds cut at 0, not its paths: a
path cut at 0 on quiet days would sum to more than the mean. ``joint_shocks`` draws
the standard normal ``z`` of several models with the correlation of their standardised
one-step residuals, so a ratio of two forecasts (orders / sessions) gets the right
spread.

Shopping festivals (``growthloop.core.festivals``: 9.9, 11.11, Black Friday, Cyber
Monday, 12.12, the Christmas run-up, each with its ``WINDOWS`` of days) are treated as
outliers: before fitting, each festival day of the history is replaced by linear
interpolation between the nearest ordinary days of the same weekday (the nearest one at
the history's ends), so a spike neither lifts the level nor widens ``sigma``
(``clean_festivals``). A festival day ahead is then lifted by the ratio of actual to
cleaned value on the history's earlier days with the same festivals at the same offsets
(last year's 11.11 for this year's; ``festival_lifts``), mean and paths alike; a
festival the history has not seen is forecast as an ordinary day.

Level offset. ETS fitted to noisy daily counts keeps its level nearly fixed (a small
``alpha``), while a shop's level moves from month to month: measured on simulated data
its month totals missed by about 1.5 times the spread its paths gave. ``calibrate``
backtests the model on its own history (the chosen form refitted at ``CV_ORIGINS``
origins ``CV_WINDOW`` days apart, time-series cross-validation, FPP3 sec. 5.8) and gives
each path a constant level offset ``N(0, v)`` with ``v = max(0, mean(e^2) - var)``: the
squared errors ``e`` of the window's mean beyond the variance ``var`` the paths expect
(empirical prediction intervals, Williams & Goodman 1971). Daily intervals barely move;
the interval of a long sum widens by what the backtest showed.

References
----------
.. [1] Hyndman, R. J. and Athanasopoulos, G. (2021), *Forecasting: Principles and
   Practice*, 3rd ed., OTexts (FPP3).
.. [2] Hyndman, R. J., Koehler, A. B., Ord, J. K. and Snyder, R. D. (2008),
   *Forecasting with Exponential Smoothing: The State Space Approach*, Springer.
.. [3] Williams, W. H. and Goodman, M. L. (1971), "A simple method for the construction
   of empirical confidence limits for economic forecasts", JASA 66(336), 752-754.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from growthloop.core.errors import InputError
from growthloop.models.anomaly import festival_keys

__all__ = [
    "ETS_FORMS",
    "LEVEL",
    "METHODS",
    "MIN_DAYS",
    "MIN_ETS_DAYS",
    "N_PATHS",
    "SEASON",
    "FittedModel",
    "Forecast",
    "clean_festivals",
    "ets",
    "festival_mask",
    "fit",
    "joint_shocks",
    "seasonal_naive",
]

LEVEL = 0.8  # the interval's coverage
SEASON = 7  # weekly seasonality of a daily series
MIN_DAYS = 2 * SEASON  # one week to repeat, one for the residuals
MIN_ETS_DAYS = 4 * SEASON
N_PATHS = 2000
#: ETS forms (error, trend) tried, each with a seasonal component of the error's kind;
#: a trend is always damped.
ETS_FORMS: tuple[tuple[str, str | None], ...] = (
    ("add", None), ("add", "add"), ("mul", None), ("mul", "add"))
METHODS = ("ets", "seasonal_naive")
#: The backtest behind the level offset: origins, days apart (``calibrate``).
CV_ORIGINS = 6
CV_WINDOW = 28


# --------------------------------------------------------------------------- festivals


def _festival_keys(days: Sequence[date]) -> list[tuple[tuple[str, int], ...]]:
    """Each day's festivals, with the day's offset from each one's date (empty: an
    ordinary day): ``models.anomaly.festival_keys`` at the daily grain."""
    keys = festival_keys([pd.Timestamp(d).date() for d in days], "day")
    return [k or () for k in keys]


def festival_mask(days: Sequence[date]) -> np.ndarray:
    """Whether each day lies in a shopping festival's window (``core.festivals.WINDOWS``)."""
    return np.array([bool(k) for k in _festival_keys(days)], dtype=bool)


def clean_festivals(y: pd.Series) -> pd.Series:
    """``y`` (indexed by consecutive days) with festival days replaced by linear
    interpolation between the nearest ordinary days of the same weekday (module notes);
    a weekday with no ordinary day is left as it is."""
    mask = festival_mask(list(y.index))
    if not mask.any():
        return y.astype(float)
    x = y.to_numpy(dtype=float).copy()
    for w in range(SEASON):
        idx = np.arange(w, len(x), SEASON)
        sub = pd.Series(np.where(mask[idx], np.nan, x[idx]))
        if sub.notna().any():
            x[idx] = sub.interpolate(limit_direction="both").to_numpy()
    return pd.Series(x, index=y.index, name=y.name)


def festival_lifts(history: pd.Series, days: Sequence[date]) -> np.ndarray:
    """A multiplier per day of ``days``: for a festival day, the mean over the history's
    earlier days with the same festivals at the same offsets of ``actual / cleaned``
    (``clean_festivals``); 1 for an ordinary day or a festival the history has not seen."""
    lifts = np.ones(len(days))
    future = _festival_keys(days)
    if not any(future):
        return lifts
    clean = clean_festivals(history).to_numpy()
    raw = history.to_numpy(dtype=float)
    seen: dict[tuple[tuple[str, int], ...], list[float]] = {}
    for key, a, c in zip(_festival_keys(list(history.index)), raw, clean, strict=True):
        if key and c > 0:
            seen.setdefault(key, []).append(a / c)
    for i, key in enumerate(future):
        if key in seen:
            lifts[i] = float(np.mean(seen[key]))
    return lifts


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Forecast:
    """A forecast of ``len(days)`` days: the mean, the per-day interval at ``level`` and
    the sample paths ``(n_paths, days)`` behind it."""

    days: tuple[date, ...]
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    paths: np.ndarray
    method: str
    level: float = LEVEL

    @property
    def total(self) -> float:
        """The forecast sum over the days."""
        return float(self.mean.sum())

    def total_interval(self, level: float | None = None) -> tuple[float, float]:
        """The central ``level`` interval of the sum over the days, from the paths' sums."""
        a = (1 - (self.level if level is None else level)) / 2
        sums = self.paths.sum(axis=1)
        return float(np.quantile(sums, a)), float(np.quantile(sums, 1 - a))

    def frame(self) -> pd.DataFrame:
        """One row per day: ``day``, ``mean``, ``low``, ``high``."""
        return pd.DataFrame({"day": list(self.days), "mean": self.mean, "low": self.low,
                             "high": self.high})


@dataclass(frozen=True)
class FittedModel:
    """A model fitted to a daily history; ``forecast`` draws its futures.

    ``residuals``: the standardised one-step errors, one per history day (NaN where the
    model has none), for ``joint_shocks``; ``level_sd``: the standard deviation of the
    level offset each path gets (``calibrate``; 0 when the backtest saw no excess).
    """

    method: str  # "ets(A,Ad,A)", "seasonal_naive", ...
    history: pd.Series  # the history as given (festival days not cleaned)
    sigma: float
    residuals: np.ndarray
    aicc: float | None
    _mean: Callable[[int], np.ndarray] = field(repr=False)
    _paths: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    level_sd: float = 0.0
    festivals: bool = True  # festival days ahead get ``festival_lifts``
    form: tuple[str, str | None] | None = None  # the ETS form (error, trend) chosen

    def forecast(self, h: int, *, paths: int = N_PATHS, seed: int = 0,
                 shocks: np.ndarray | None = None, level: float = LEVEL) -> Forecast:
        """``h`` days ahead: the mean, the ``level`` interval per day and ``paths`` sample
        paths, from standard normal ``shocks`` of shape ``(h + 1, paths)`` when given (a
        row per day, the last for the level offset)."""
        if not (isinstance(h, int | np.integer) and h >= 1):
            raise InputError(f"forecast horizon {h!r}: expected a whole number of days >= 1")
        if not 0 < level < 1:
            raise InputError(f"interval level {level!r}: expected a share in (0, 1)")
        z = (np.random.default_rng(seed).standard_normal((h + 1, paths)) if shocks is None
             else np.asarray(shocks, dtype=float))
        if z.ndim != 2 or z.shape[0] != h + 1:
            raise InputError(f"shocks of shape {z.shape}: expected ({h + 1}, paths)")
        last = pd.Timestamp(self.history.index[-1]).date()
        days = tuple(last + timedelta(days=i) for i in range(1, h + 1))
        lift = festival_lifts(self.history, days) if self.festivals else np.ones(h)
        sim = np.asarray(self._paths(z[:h]), dtype=float).T  # (paths, h)
        sim = (sim + self.level_sd * z[h][:, None]) * lift
        a = (1 - level) / 2
        low, high = np.quantile(sim, [a, 1 - a], axis=0)
        if float(self.history.min()) >= 0:  # a count or an amount: no day below 0
            low, high = np.maximum(low, 0.0), np.maximum(high, 0.0)
        return Forecast(days=days, mean=np.asarray(self._mean(h), dtype=float) * lift,
                        low=low, high=high, paths=sim, method=self.method, level=level)


# --------------------------------------------------------------------------- models


def _history(y: pd.Series) -> pd.Series:
    y = pd.Series(y, dtype=float)
    if y.isna().any() or not np.isfinite(y.to_numpy()).all():
        raise InputError("forecast history: expected finite daily values (no gaps)")
    if len(y) < MIN_DAYS:
        raise InputError(f"forecast history of {len(y)} days: expected at least {MIN_DAYS}")
    return y


def _naive(raw: pd.Series, x: pd.Series, festivals: bool) -> FittedModel:
    v = x.to_numpy()
    e = v[SEASON:] - v[:-SEASON]
    sigma = float(np.sqrt(np.mean(e**2)))  # no parameter is estimated
    last = v[-SEASON:]

    def mean(h: int) -> np.ndarray:
        return last[np.arange(h) % SEASON]

    def paths(z: np.ndarray) -> np.ndarray:
        h, n = z.shape
        out = np.empty((h + SEASON, n))
        out[:SEASON] = last[:, None]
        for j in range(h):
            out[SEASON + j] = out[j] + sigma * z[j]
        return out[SEASON:]

    resid = np.concatenate([np.full(SEASON, np.nan), e / sigma if sigma > 0 else e * 0])
    return FittedModel("seasonal_naive", raw, sigma, resid, None, mean, paths,
                       festivals=festivals)


def _ets(raw: pd.Series, x: pd.Series, forms: Sequence[tuple[str, str | None]],
         festivals: bool) -> FittedModel:
    if len(x) < MIN_ETS_DAYS or float(x.std()) == 0.0:
        return _naive(raw, x, festivals)
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    v = x.to_numpy()
    positive = bool(v.min() > 0)
    best, best_form = None, None
    for error, trend in forms:
        if error == "mul" and not positive:
            continue
        model = ETSModel(v, error=error, trend=trend, damped_trend=trend is not None,
                         seasonal=error, seasonal_periods=SEASON)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # convergence notes of the optimiser
            res = model.fit(disp=False)
        if not math.isfinite(res.aicc):
            continue
        if best is None or res.aicc < best.aicc:
            best, best_form = res, (error, trend)
    if best is None:
        return _naive(raw, x, festivals)
    res = best
    sigma = float(np.sqrt(res.scale))

    def mean(h: int) -> np.ndarray:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return np.asarray(res.forecast(h))

    def paths(z: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            sim = res.simulate(z.shape[0], anchor="end", repetitions=z.shape[1],
                               random_errors=sigma * z)
        return np.asarray(sim).reshape(z.shape)

    e, t = best_form
    name = f"ets({'A' if e == 'add' else 'M'},{'Ad' if t else 'N'},{'A' if e == 'add' else 'M'})"
    resid = np.asarray(res.resid, dtype=float) / sigma if sigma > 0 else np.zeros(len(v))
    return FittedModel(name, raw, sigma, resid, float(res.aicc), mean, paths,
                       festivals=festivals, form=best_form)


def calibrate(model: FittedModel, refit: Callable[[pd.Series], FittedModel],
              origins: int = CV_ORIGINS, window: int = CV_WINDOW, seed: int = 0
              ) -> FittedModel:
    """``model`` with the level offset its own backtest asks for (module notes): refitted
    at ``origins`` points ``window`` days apart before the history's end, the squared
    errors of the ``window``-day mean beyond what the model's paths expect give the
    offset's variance ``max(0, mean(e^2) - var)``."""
    x = clean_festivals(model.history) if model.festivals else model.history
    errors = []
    for k in range(1, origins + 1):
        cut = len(x) - k * window
        if cut < MIN_ETS_DAYS:
            break
        m = refit(x.iloc[:cut])  # on the cleaned history: compared with ordinary days
        errors.append(float(x.iloc[cut:cut + window].mean() - m._mean(window).mean()))
    if len(errors) < 2:
        return model
    z = np.random.default_rng(seed).standard_normal((window, 500))
    expected = float(np.asarray(model._paths(z)).mean(axis=0).var())
    excess = float(np.mean(np.square(errors))) - expected
    if excess <= 0:
        return model
    return replace(model, level_sd=math.sqrt(excess))


def seasonal_naive(y: pd.Series, *, clean: bool = True, calibrated: bool = True
                   ) -> FittedModel:
    """The same weekday last week, with ``sigma`` from the residuals ``y_t - y_{t-7}``
    (FPP3 sec. 5.2, 5.5; module notes)."""
    raw = _history(y)
    x = clean_festivals(raw) if clean else raw
    model = _naive(raw, x, clean)
    if not calibrated:
        return model
    return calibrate(model, lambda h: _naive(h, h, clean))


def ets(y: pd.Series, *, clean: bool = True, calibrated: bool = True,
        forms: Sequence[tuple[str, str | None]] = ETS_FORMS) -> FittedModel:
    """ETS with weekly seasonality, the form of ``forms`` with the smallest AICc (FPP3
    ch. 8; module notes); the seasonal naive for a history under ``MIN_ETS_DAYS``.
    ``clean``: festival days treated as outliers (and lifted ahead); ``calibrated``: with
    the level offset of its backtest (``calibrate``, the form kept)."""
    raw = _history(y)
    x = clean_festivals(raw) if clean else raw
    model = _ets(raw, x, forms, clean)
    if not calibrated:
        return model
    form = model.form
    if form is None:  # fell back to the seasonal naive
        return calibrate(model, lambda h: _naive(h, h, clean))
    return calibrate(model, lambda h: _ets(h, h, [form], clean))


def fit(y: pd.Series, method: str = "ets", *, clean: bool = True, calibrated: bool = True
        ) -> FittedModel:
    """``ets`` or ``seasonal_naive`` of a daily history ``y`` (consecutive days)."""
    if method == "ets":
        return ets(y, clean=clean, calibrated=calibrated)
    if method == "seasonal_naive":
        return seasonal_naive(y, clean=clean, calibrated=calibrated)
    raise InputError(f"forecast method {method!r}: expected one of {', '.join(METHODS)}")


def joint_shocks(models: Sequence[FittedModel], h: int, paths: int = N_PATHS,
                 seed: int = 0) -> list[np.ndarray]:
    """Standard normal shocks ``(h + 1, paths)`` for each model (``FittedModel.forecast``),
    correlated as the models' standardised one-step residuals on the days they share."""
    k = len(models)
    r = np.column_stack([m.residuals[-min(len(m.residuals) for m in models):]
                         for m in models])
    r = r[np.isfinite(r).all(axis=1)]
    corr = np.eye(k)
    if len(r) > SEASON:
        with np.errstate(all="ignore"):
            c = np.corrcoef(r, rowvar=False)
        if np.isfinite(c).all():
            corr = c
    w, v = np.linalg.eigh(corr)  # the nearest valid correlation: clip negative eigenvalues
    root = v * np.sqrt(np.clip(w, 0, None))
    z = np.random.default_rng(seed).standard_normal((h + 1, paths, k)) @ root.T
    return [z[..., i] for i in range(k)]
