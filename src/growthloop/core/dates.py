"""Dates and time grains: the one parser of user-given days and the one set of grains.

Every day a user gives (an option, a setting, an argument) goes through ``parse_day`` or
``parse_timestamp``, so a bad value gets the same message everywhere: the option or
setting, the value and the expected form. A *grain* is a calendar period (``GRAINS``);
``period_start`` truncates a timestamp to its period, ``period_label`` names it
(``2025-03-17`` for a day or the Monday of a week, ``2025-03``, ``2025-Q1``, ``2025``).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import ibis
import ibis.expr.types as ir

from growthloop.core.errors import InputError

__all__ = [
    "GRAINS",
    "STEP",
    "WINDOW_START",
    "Grain",
    "add_months",
    "check_grain",
    "parse_day",
    "parse_timestamp",
    "period_label",
    "period_start",
    "previous_period_start",
]

Grain = Literal["day", "week", "month", "quarter", "year", "all"]
#: Grain name -> Ibis truncation unit; ``all`` is the whole window as one period.
GRAINS: dict[str, str] = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y",
                          "all": ""}
#: The first day ``period_start`` gives every row at grain ``all``.
WINDOW_START = dt.date(1970, 1, 1)
#: One period of each grain, as an Ibis interval.
STEP = {"day": ibis.interval(days=1), "week": ibis.interval(days=7),
        "month": ibis.interval(months=1), "quarter": ibis.interval(months=3),
        "year": ibis.interval(years=1)}
_FORM = "expected a date YYYY-MM-DD"


def check_grain(grain: str, what: str = "grain", allowed: tuple[str, ...] = tuple(GRAINS)
                ) -> str:
    """``grain`` if it is one of ``allowed``; else InputError naming ``what``."""
    if grain not in allowed:
        raise InputError(f"{what} {grain!r} is not a grain; expected one of: "
                         f"{', '.join(allowed)}")
    return grain


def parse_day(value: dt.date | dt.datetime | str, what: str = "date") -> dt.date:
    """The day ``value`` names (a date, a datetime's day or ``YYYY-MM-DD``).

    Raises ``InputError``: ``--as-of '2025-13-01' is not a date; expected a date YYYY-MM-DD``.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"{what} {value!r} is not a date; {_FORM}") from None


def parse_timestamp(value: dt.date | dt.datetime | str | None, what: str = "date"
                    ) -> dt.datetime | None:
    """``value`` as a naive UTC datetime (a day is its midnight); None stays None.

    Accepts a date, a datetime or an ISO text (``2025-03-01`` or ``2025-03-01T12:00``).
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise InputError(f"{what} {value!r} is not a date; {_FORM}") from None
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None)


def period_start(ts: ir.TimestampValue, grain: str) -> ir.DateValue:
    """The first day of the ``grain`` period holding ``ts`` (weeks start on Monday;
    ``WINDOW_START`` for every row at grain ``all``)."""
    if check_grain(grain) == "all":
        return ibis.literal(WINDOW_START)
    return ts.truncate(GRAINS[grain]).cast("date")


def period_label(ts: ir.TimestampValue, grain: str) -> ir.StringValue:
    """The period's label: ``2025-03-17`` (day; week: its Monday), ``2025-03``,
    ``2025-Q1`` or ``2025``."""
    if check_grain(grain) == "all":
        return ibis.literal("all")
    if grain in ("day", "week"):
        return ts.truncate(GRAINS[grain]).strftime("%Y-%m-%d")
    if grain == "month":
        return ts.strftime("%Y-%m")
    if grain == "quarter":
        return ts.year().cast("string") + "-Q" + ts.quarter().cast("string")
    return ts.strftime("%Y")


def add_months(day: dt.date, months: int) -> dt.date:
    """The first of the month ``months`` after (or before, if negative) ``day``'s month."""
    m = day.month - 1 + months
    return dt.date(day.year + m // 12, m % 12 + 1, 1)


def previous_period_start(start: dt.datetime, grain: str) -> dt.datetime:
    """The start of the period before the one that holds ``start``."""
    if grain == "day":
        return start - dt.timedelta(days=1)
    if grain == "week":
        return start - dt.timedelta(days=7 + start.weekday())
    if check_grain(grain) == "all":
        raise InputError("grain 'all' has no previous period; choose a calendar grain")
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    d = add_months(start.date(), -months)
    return dt.datetime(d.year, d.month, 1)
