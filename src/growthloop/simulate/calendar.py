"""Days of the horizon, weekly seasonality, shopping festivals and the time of day.

Multipliers have mean about 1 over an ordinary week; festivals multiply on top:
Singles' Day (11.11) and 12.12 mostly in South-East Asia, Black Friday and Cyber
Monday mostly in North America, Europe and Latin America, and the Christmas run-up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from growthloop.core.festivals import festival_dates
from growthloop.simulate.params import EUROPE, LATAM, NORTH_AMERICA, OTHER, SEA, SESSION_CAP_DAYS

__all__ = [
    "DAY_US",
    "FESTIVAL_PEAKS",
    "LOCAL_HOUR_WEIGHTS",
    "WEEKDAY_MULTIPLIERS",
    "Calendar",
    "build_calendar",
    "draw_weighted",
    "festival_days",
    "festival_multiplier",
    "time_of_day",
    "to_micros",
    "weekday_multiplier",
]

DAY_US = 86_400_000_000  # microseconds in a day

# Monday .. Sunday; weekend peak, mean 1.
WEEKDAY_MULTIPLIERS: tuple[float, ...] = (0.93, 0.94, 0.96, 0.98, 1.03, 1.10, 1.06)

# Peak multiplier of each festival by region.
FESTIVAL_PEAKS: dict[str, dict[str, float]] = {
    "9.9": {SEA: 1.6, EUROPE: 1.0, LATAM: 1.0, NORTH_AMERICA: 1.0, OTHER: 1.1},
    "11.11": {SEA: 2.8, EUROPE: 1.15, LATAM: 1.3, NORTH_AMERICA: 1.1, OTHER: 1.5},
    "black_friday": {SEA: 1.3, EUROPE: 1.9, LATAM: 2.0, NORTH_AMERICA: 2.4, OTHER: 1.6},
    "cyber_monday": {SEA: 1.1, EUROPE: 1.4, LATAM: 1.4, NORTH_AMERICA: 1.8, OTHER: 1.3},
    "12.12": {SEA: 2.0, EUROPE: 1.05, LATAM: 1.1, NORTH_AMERICA: 1.0, OTHER: 1.3},
    "christmas": {SEA: 1.15, EUROPE: 1.45, LATAM: 1.35, NORTH_AMERICA: 1.5, OTHER: 1.3},
}
# Share of (peak - 1) applied on the days around a one-day festival, offsets -3 .. +1.
_ONE_DAY_SHAPE: tuple[tuple[int, float], ...] = ((-3, 0.15), (-2, 0.3), (-1, 0.55), (0, 1.0),
                                                 (1, 0.35))

# Relative activity by local hour 0..23 (evening peak).
LOCAL_HOUR_WEIGHTS: tuple[float, ...] = (
    0.6, 0.35, 0.2, 0.15, 0.15, 0.25, 0.5, 0.9, 1.2, 1.3, 1.35, 1.4,
    1.5, 1.4, 1.3, 1.3, 1.4, 1.5, 1.7, 2.0, 2.3, 2.4, 2.0, 1.2)


def festival_days(start: dt.date, days: int) -> list[tuple[str, dt.date]]:
    """Festival days (name, date) whose influence reaches the horizon, in date order."""
    end = start + dt.timedelta(days=days)
    out: list[tuple[str, dt.date]] = []
    for year in range(start.year - 1, end.year + 1):
        for name, day in festival_dates(year):
            lo = day - dt.timedelta(days=25 if name == "christmas" else 3)
            hi = day + dt.timedelta(days=2)
            if hi >= start and lo < end:
                out.append((name, day))
    return sorted(out, key=lambda x: (x[1], x[0]))


def weekday_multiplier(dates: np.ndarray) -> np.ndarray:
    """Weekly seasonality of ``dates`` (datetime64[D])."""
    weekday = (dates.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 = Thu
    return np.asarray(WEEKDAY_MULTIPLIERS)[weekday]


def festival_multiplier(dates: np.ndarray, region: str, start: dt.date, days: int) -> np.ndarray:
    """Product of the festival multipliers of ``region`` on each of ``dates``."""
    day_no = dates.astype("datetime64[D]").astype(np.int64)
    mult = np.ones(len(dates))
    for name, day in festival_days(start, days):
        peak = FESTIVAL_PEAKS[name].get(region, FESTIVAL_PEAKS[name][OTHER])
        d0 = (np.datetime64(day, "D") - np.datetime64("1970-01-01", "D")).astype(np.int64)
        if name == "christmas":
            # run-up from Dec 1 rising to the peak on Dec 20, a dip on Dec 25-26
            offsets = np.arange(-24, 2)
            shares = np.where(offsets <= -5, 0.2 + 0.8 * (offsets + 24) / 19.0,
                              np.interp(offsets, [-5, -1, 0, 1], [1.0, 0.5, -0.55, -0.25]))
            shape = tuple(zip(offsets.tolist(), shares.tolist(), strict=True))
        else:
            shape = _ONE_DAY_SHAPE
        for off, share in shape:
            mult = np.where(day_no == d0 + off, mult * (1.0 + (peak - 1.0) * share), mult)
    return mult


def to_micros(t: np.ndarray, start_us: int) -> np.ndarray:
    """Days since the horizon start (float) to epoch microseconds (int64)."""
    return start_us + np.rint(np.asarray(t) * DAY_US).astype(np.int64)


def draw_weighted(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices into ``weights`` drawn in proportion to them (inverse CDF)."""
    w = np.asarray(weights)
    return np.minimum(np.searchsorted(np.cumsum(w) / w.sum(), rng.random(n), side="right"),
                      len(w) - 1)


@dataclass(frozen=True)
class Calendar:
    """The horizon: ``dates[d]`` is day ``d``; seasonality per market and day.

    Times are float days since the start; the horizon ends at ``end``.
    """

    start: dt.date
    days: int
    dates: np.ndarray  # datetime64[D], (days,)
    weekday: np.ndarray  # (days,)
    festival: np.ndarray  # (markets, days)
    festivals: tuple[tuple[str, dt.date], ...]

    def season(self, weekday_power: float = 1.0, festival_power: float = 1.0) -> np.ndarray:
        """(markets, days) multiplier ``weekday**a * festival**b``."""
        return self.weekday[None, :] ** weekday_power * self.festival ** festival_power

    @property
    def end(self) -> float:
        """The horizon end, in days since the start."""
        return float(self.days)

    @property
    def last_session_start(self) -> float:
        """The latest start of a session that must end inside the horizon."""
        return self.end - SESSION_CAP_DAYS

    @property
    def start_us(self) -> int:
        """The start (midnight UTC) in epoch microseconds."""
        return int((dt.datetime(self.start.year, self.start.month, self.start.day)
                    - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1))

    def day_of(self, t: np.ndarray) -> np.ndarray:
        """Day index (0 .. days - 1) of times ``t``."""
        return np.clip(np.floor(t).astype(np.int64), 0, self.days - 1)


def build_calendar(start: dt.date, days: int, regions: Sequence[str]) -> Calendar:
    """Calendar of ``days`` days from ``start`` for markets in ``regions``."""
    dates = np.datetime64(start, "D") + np.arange(days)
    festival = np.vstack([festival_multiplier(dates, r, start, days) for r in regions])
    return Calendar(start=start, days=days, dates=dates, weekday=weekday_multiplier(dates),
                    festival=festival, festivals=tuple(festival_days(start, days)))


def time_of_day(rng: np.random.Generator, utc_offset_hours: np.ndarray) -> np.ndarray:
    """Fraction of a UTC day for events whose local hour follows ``LOCAL_HOUR_WEIGHTS``.

    Wrapped inside the same UTC day so a day's count stays on that day.
    """
    hour = draw_weighted(rng, np.asarray(LOCAL_HOUR_WEIGHTS), len(utc_offset_hours))
    local = hour + rng.random(len(utc_offset_hours))
    return np.mod(local - utc_offset_hours, 24.0) / 24.0
