"""Shopping festivals: the dates cross-border e-commerce plans around.

9.9, Singles' Day (11.11) and 12.12 (strongest in South-East Asia and China), Black
Friday (the day after the US Thanksgiving, the fourth Thursday of November) and Cyber
Monday (three days later), and Christmas (25 December) with its run-up. Each festival
moves demand on the days around it: ``WINDOWS`` gives the days before and after the
date that a model treats as the festival's (the Christmas run-up is weeks long).
"""

from __future__ import annotations

import datetime as dt

__all__ = ["FESTIVALS", "WINDOWS", "festival_dates"]

FESTIVALS: tuple[str, ...] = ("9.9", "11.11", "black_friday", "cyber_monday", "12.12",
                              "christmas")
#: Days before and after each festival's date that belong to it.
WINDOWS: dict[str, tuple[int, int]] = {name: (3, 1) for name in FESTIVALS} | {
    "christmas": (24, 1)}


def _black_friday(year: int) -> dt.date:
    nov1 = dt.date(year, 11, 1)
    thanksgiving = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7 + 21)
    return thanksgiving + dt.timedelta(days=1)


def festival_dates(year: int) -> list[tuple[str, dt.date]]:
    """Each festival of ``year`` and its date, in ``FESTIVALS`` order."""
    bf = _black_friday(year)
    days = {"9.9": dt.date(year, 9, 9), "11.11": dt.date(year, 11, 11), "black_friday": bf,
            "cyber_monday": bf + dt.timedelta(days=3), "12.12": dt.date(year, 12, 12),
            "christmas": dt.date(year, 12, 25)}
    return [(name, days[name]) for name in FESTIVALS]
