"""Forecast bands from a KPI's own history, and the periods that leave them.

A robust seasonal baseline (a level times weekday factors, in the spirit of STL's
robust fit, Cleveland et al. 1990), computed for each period from the periods before it
only, so that a band is what was known that day. For period t of a daily series y (a
KPI's value, with its denominator d; d = 1 for a value KPI), over ordinary periods
(not festivals) before t:

    weekday factor   w_k(t) = M(y, last WEEKDAY_N days of weekday k) / M(y, last FACTOR_DAYS)
    level            L_t    = M(y_s / w_k(s)(s), last LEVEL_N days)
    expected         E_t    = L_t x w_k(t)(t) x f_t
    variance         V_t    = phi_t x v_t,   v_t = max(|E_t|, floor) / d_t
    z_t = (y_t - E_t) / sqrt(V_t);   the band is E_t +- Z x tail_t x sqrt(V_t)

``M`` is the mean weighted by d for a ratio KPI (the pooled rate, right on thin days)
and the 10 %-trimmed mean for a value KPI (a spike does not move it). ``v_t`` is the
variance of a Poisson count (a value KPI) or of a rate per unit of its denominator (a
ratio KPI), so the band widens on thin days; ``phi_t``, the dispersion, is the mean of
(y_s - E_s)^2 / v_s over the last PHI_N periods, each term capped at U_CAP so that one
outlier cannot blow the band open (a quasi-likelihood dispersion, McCullagh & Nelder,
*Generalized Linear Models*, 1989, sec. 4.5). ``tail_t`` widens the band of a series
whose tails have been heavier than normal (money, with a few large orders): the 99th
percentile of its past |z| over the normal's, at least 1. Weekly series use the same
rules on weekly totals without weekday factors (level over LEVEL_WEEKS weeks).

**Festivals.** A period inside a shopping festival's window (``core.festivals``) is
not ordinary: it enters no level, factor or dispersion, and its expectation is
multiplied by ``f_t``, the ratio actual / ordinary expectation of the same festival
period (same festivals at the same offsets) a year before, with the uncertainty of that
one ratio and a FESTIVAL_SPREAD of its lift added to ``V_t``. Without a year of history
the festival's size is unknown and the period is not judged.

False alarms on clean simulated history are measured by ``benchmarks/bench_alerts.py``
and given in docs/alerts.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from growthloop.core.festivals import WINDOWS, festival_dates

__all__ = ["Z_DAY", "Z_WEEK", "Bands", "bands", "festival_keys"]

Z_DAY = 4.5  # band half-width in standard deviations, daily series
Z_WEEK = 4.0  # weekly series
WEEKDAY_N = 16  # ordinary days of the same weekday behind a weekday factor
FACTOR_DAYS = 56  # ordinary days behind the weekday factors' common median
LEVEL_N = 28  # ordinary days behind the level
LEVEL_WEEKS = 8  # ordinary weeks behind a weekly level
PHI_N = {"day": 56, "week": 16}  # ordinary periods behind the dispersion
MIN_HISTORY = {"day": 28, "week": 8}  # ordinary periods needed before a band exists
U_CAP = 16.0  # a squared standardised residual counts at most this in the dispersion
NORMAL_Q99 = 2.5758  # the 99th percentile of |z| for a normal z
TAIL_PERIODS = {"day": 364, "week": 104}  # ordinary periods behind the tail factor
TAIL_MIN = {"day": 90, "week": 26}  # fewer, and the tails are taken as normal
TAIL_STEP = {"day": 28, "week": 4}  # periods between two updates of the tail factor
FESTIVAL_SPREAD = 0.1  # year-to-year spread of a festival's lift, relative to the lift


@dataclass(frozen=True)
class Bands:
    """Per period: ``expected``, ``low``, ``high`` (NaN: no bound), ``z`` (in band
    half-widths over Z: beyond +-Z the value left the band, ``alert``); ``festival``
    marks periods in a festival's window and ``lift`` is their factor ``f_t``."""

    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray
    z: np.ndarray
    alert: np.ndarray
    festival: np.ndarray
    lift: np.ndarray  # the festival factor f_t (1 on ordinary periods, NaN: unknown)


def festival_keys(starts: list[dt.date], grain: str) -> list[tuple | None]:
    """Each period's festivals as a key ((name, offset), ...), None for ordinary periods.

    ``offset`` is the period's distance from the festival date in days (daily) or in
    weeks between the Mondays (weekly), so the same festival period of another year has
    the same key.
    """
    return list(_festival_keys(tuple(starts), grain))


@lru_cache(maxsize=64)
def _festival_keys(starts: tuple[dt.date, ...], grain: str) -> tuple[tuple | None, ...]:
    if not starts:
        return ()
    years = range(min(starts).year - 1, max(starts).year + 2)
    fests = [(name, day) for y in years for name, day in festival_dates(y)]
    out: list[tuple | None] = []
    step = 1 if grain == "day" else 7
    for s in starts:
        last = s + dt.timedelta(days=step - 1)
        key = []
        for name, day in fests:
            before, after = WINDOWS[name]
            if day - dt.timedelta(days=before) <= last and s <= day + dt.timedelta(days=after):
                if grain == "day":
                    key.append((name, (s - day).days))
                else:
                    monday = day - dt.timedelta(days=day.weekday())
                    key.append((name, (s - monday).days // 7))
        out.append(tuple(sorted(key)) if key else None)
    return tuple(out)


def _trailing(x: np.ndarray, w: np.ndarray | None, ok: np.ndarray, n: int, min_n: int,
              trim: float = 0.1) -> np.ndarray:
    """For each t, a robust mean of x over the last ``n`` positions s < t with ``ok[s]``:
    the mean weighted by ``w`` (a ratio KPI's denominators), or without weights the
    mean of what is left after cutting ``trim`` at each end; NaN with fewer than ``min_n``."""
    out = np.full(len(x), np.nan)
    pos = np.flatnonzero(ok)
    if len(pos) < min_n:
        return out
    vals = x[pos]
    k = np.searchsorted(pos, np.arange(len(x)))  # ordinary positions before each t
    if w is not None:
        ww = w[pos]
        cx = np.concatenate([[0.0], np.cumsum(vals * ww)])
        cw = np.concatenate([[0.0], np.cumsum(ww)])
        lo = np.maximum(k - n, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = (cx[k] - cx[lo]) / (cw[k] - cw[lo])
        return np.where(k >= min_n, stat, np.nan)

    def trimmed(v: np.ndarray, axis: int = -1) -> np.ndarray:
        v = np.sort(v, axis=axis)
        cut = int(trim * v.shape[axis])
        return v[..., cut: v.shape[axis] - cut].mean(axis=axis)

    if len(vals) >= n:
        full = trimmed(np.lib.stride_tricks.sliding_window_view(vals, n))
        done = k >= n
        out[done] = full[k[done] - n]  # full[j]: the mean of vals[j : j + n]
    for t in np.flatnonzero((k >= min_n) & (k < n)):
        out[t] = trimmed(vals[: k[t]])
    return out


def _tail_factor(z: np.ndarray, ordinary: np.ndarray, grain: str) -> np.ndarray:
    """How much heavier than normal the series' tails have been: the 99th percentile of
    |z| over the last TAIL_PERIODS ordinary periods before t, over the normal's (2.576),
    at least 1; recomputed every TAIL_STEP periods."""
    n = len(z)
    out = np.ones(n)
    keep = ordinary & np.isfinite(z)
    span, step = TAIL_PERIODS[grain], TAIL_STEP[grain]
    for t0 in range(0, n, step):
        past = np.abs(z[max(t0 - span, 0):t0][keep[max(t0 - span, 0):t0]])
        if len(past) >= TAIL_MIN[grain]:
            out[t0:t0 + step] = max(1.0, float(np.quantile(past, 0.99)) / NORMAL_Q99)
    return out


def bands(y: np.ndarray, d: np.ndarray | None, starts: list[dt.date], grain: str,
          z: float | None = None) -> Bands:
    """Forecast bands of the series ``y`` (denominators ``d``, None for a value KPI) whose
    periods begin on ``starts`` (consecutive days or Mondays); module notes.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    ratio = d is not None
    d = np.ones(n) if d is None else np.asarray(d, dtype=float)
    w = d if ratio else None
    zcut = z if z is not None else (Z_DAY if grain == "day" else Z_WEEK)
    keys = festival_keys(starts, grain)
    fest = np.array([k is not None for k in keys], dtype=bool)
    valid = np.isfinite(y) & (d > 0)
    ordinary = valid & ~fest
    min_n = MIN_HISTORY[grain]
    yv = np.where(valid, y, 0.0)
    if grain == "day":
        weekday = np.array([s.weekday() for s in starts])
        common = _trailing(yv, w, ordinary, FACTOR_DAYS, min_n)
        factor = np.full(n, np.nan)
        for k in range(7):
            idx = np.flatnonzero(weekday == k)
            factor[idx] = _trailing(yv[idx], None if w is None else w[idx], ordinary[idx],
                                    WEEKDAY_N, 3)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(common > 0, factor / common, np.nan)
        factor = np.where(np.isfinite(factor) & (factor > 0), factor, 1.0)
        level = _trailing(yv / factor, w, ordinary, LEVEL_N, min_n)
        base = level * factor
    else:
        base = _trailing(yv, w, ordinary, LEVEL_WEEKS, min_n)
    scale = np.nanmedian(np.abs(y[ordinary])) if ordinary.any() else np.nan
    floor = max(0.05 * float(scale), 1e-12) if np.isfinite(scale) else 1e-12

    def unit_of(e: np.ndarray | float, t: slice | int = slice(None)) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.maximum(np.abs(e), floor) / np.where(d[t] > 0, d[t], np.nan)

    unit = unit_of(base)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.minimum((yv - base) ** 2 / unit, U_CAP)
    phi = _trailing(u, None, ordinary & np.isfinite(u), PHI_N[grain], min_n, trim=0.0)
    var = phi * unit
    expected = base.copy()
    low = base - zcut * np.sqrt(var)
    high = base + zcut * np.sqrt(var)
    # festival periods: last year's lift, or an open upper bound
    seen: dict[tuple, list[int]] = {}
    lift = np.where(fest, np.nan, 1.0)
    for t, key in enumerate(keys):
        if key is None:
            continue
        f = f_var = np.nan
        for s in reversed(seen.get(key, [])):
            gap = (starts[t] - starts[s]).days
            if 340 <= gap <= 390 and valid[s] and np.isfinite(base[s]) and base[s] != 0:
                f = y[s] / base[s]
                f_var = phi[s] * unit[s] / base[s] ** 2
                break
        seen.setdefault(key, []).append(t)
        if np.isfinite(f) and np.isfinite(f_var):
            lift[t] = f
            expected[t] = base[t] * f
            var[t] = phi[t] * unit_of(expected[t], t) + base[t] ** 2 * f_var \
                + (FESTIVAL_SPREAD * (f - 1) * base[t]) ** 2
            low[t] = expected[t] - zcut * np.sqrt(var[t])
            high[t] = expected[t] + zcut * np.sqrt(var[t])
        else:  # unknown lift: not judged (a festival moves numerators and denominators)
            low[t] = high[t] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        zz = (y - expected) / np.sqrt(var)
    zz = np.where(valid & np.isfinite(zz), zz, np.nan)
    tail = _tail_factor(zz, ordinary, grain)
    sd = np.sqrt(var)
    low = np.where(np.isfinite(low), expected - zcut * tail * sd, np.nan)
    high = np.where(np.isfinite(high), expected + zcut * tail * sd, np.nan)
    if ordinary.any() and np.nanmin(y[valid]) >= 0:  # a KPI that cannot be negative
        low = np.where(np.isfinite(low), np.maximum(low, 0.0), np.nan)
    above = np.isfinite(high) & (y > high)
    below = np.isfinite(low) & (y < low)
    alert = valid & (above | below)
    return Bands(expected=expected, low=low, high=high, z=zz / tail, alert=alert,
                 festival=fest, lift=lift)
