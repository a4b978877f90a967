"""Planted shocks: a media pair's effectiveness changes on a date the advertiser does not see.

``Shock(channel, market, date, factor)`` multiplies the pair's effectiveness (beta, the
paid sign-ups its adstocked and saturated spend brings) by ``factor`` on every day from
``date`` (inclusive, a UTC day) to the horizon end. Spend is unchanged: the plan was
made without knowing, so the pair's realised sign-ups per unit of spend, and its
return, move by about ``factor`` after the date. Shocks on one pair compound (the
effectiveness of a day is the product of the factors of the pair's shocks dated on or
before it). ``parse_shock`` reads the command-line form ``channel:MARKET:YYYY-MM-DD:factor``
and refuses what cannot be simulated, naming the bad part.

The paid sign-ups are drawn exactly as without shocks and then thinned (Binomial(n, m)
of a day's count n when its effectiveness m <= 1) or topped up (Poisson((m - 1) x the
day's expected count) when m > 1) from their own random stream: Poisson(mu) thinned or
topped up so is Poisson(m x mu), and every other pair, and the shocked pair's days
before the date, keep the counts of the world without the shock.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from growthloop.core.config import Config
from growthloop.core.dates import parse_day
from growthloop.core.errors import InputError
from growthloop.simulate.params import is_media_channel

__all__ = [
    "MAX_FACTOR",
    "SHOCK_FORM",
    "Shock",
    "check_date",
    "check_market",
    "check_media_channel",
    "check_shocks",
    "effectiveness",
    "parse_shock",
]

MAX_FACTOR = 10.0
SHOCK_FORM = "channel:MARKET:YYYY-MM-DD:factor, e.g. live_commerce:DE:2025-07-01:0.5"


@dataclass(frozen=True)
class Shock:
    """From ``date`` on, the effectiveness of ``channel`` in ``market`` is ``factor`` x."""

    channel: str
    market: str
    date: dt.date
    factor: float

    def __str__(self) -> str:
        return f"{self.channel}:{self.market}:{self.date}:{self.factor}"

    def as_dict(self) -> dict[str, object]:
        return {"channel": self.channel, "market": self.market,
                "date": self.date.isoformat(), "factor": self.factor}


def check_media_channel(channel: str, config: Config, lacks: str) -> str | None:
    """What is wrong with ``channel`` as a channel with spend, or None; ``lacks`` says
    what a channel without spend has nothing of."""
    kinds = {c.name: c.kind for c in config.channels}
    media = [name for name, kind in kinds.items() if is_media_channel(name, kind)]
    if channel not in kinds:
        return f"unknown channel {channel!r}; expected one of: {', '.join(kinds)}"
    if channel not in media:
        return (f"channel {channel!r} ({kinds[channel]}) has no spend and no {lacks}; "
                "expected a channel with spend: "
                f"{', '.join(media) or '(none in this configuration)'}")
    return None


def check_market(market: str, config: Config) -> str | None:
    """What is wrong with ``market`` as one of the configuration's, or None."""
    markets = [m.code for m in config.markets]
    if market not in markets:
        return f"unknown market {market!r}; expected one of: {', '.join(markets)}"
    return None


def _check_pair(channel: str, market: str, config: Config) -> str | None:
    """What is wrong with shocking ``channel`` in ``market``, or None."""
    return (check_media_channel(channel, config, "media response to shock")
            or check_market(market, config))


def check_date(date: object, start: dt.date, days: int) -> str | None:
    """What is wrong with ``date`` as a day of the horizon, or None."""
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        return f"date {date!r} is not a date"
    last = start + dt.timedelta(days=days - 1)
    if not start <= date <= last:
        return (f"date {date.isoformat()} is outside the simulated horizon "
                f"{start.isoformat()} to {last.isoformat()}")
    return None


def _check_factor(factor: object, shown: str) -> str | None:
    """What is wrong with ``factor`` (``shown`` as given), or None."""
    if (isinstance(factor, bool) or not isinstance(factor, int | float | np.floating)
            or not math.isfinite(factor) or not 0.0 <= factor <= MAX_FACTOR):
        return f"factor {shown} is not a finite number in [0, {MAX_FACTOR:g}]"
    return None


def parse_shock(text: str, config: Config, start: dt.date, days: int) -> Shock:
    """The shock ``channel:MARKET:YYYY-MM-DD:factor`` names, checked against the world.

    Raises ``InputError`` naming the bad part, checked in this order: the form, an
    unknown channel, a channel without spend (only media channels have a response to
    shock), an unknown market, a date that is not one or lies outside ``start`` ..
    ``start + days - 1``, a factor that is not a finite number in [0, ``MAX_FACTOR``].
    """
    def bad(problem: str) -> InputError:
        return InputError(f"shock {text!r}: {problem}")

    parts = [p.strip() for p in str(text).split(":")]
    if len(parts) != 4 or not all(parts):
        raise bad(f"expected {SHOCK_FORM}")
    channel, market, day, factor_text = parts
    if problem := _check_pair(channel, market, config):
        raise bad(problem)
    try:
        date = parse_day(day, "date")
    except InputError as e:
        raise bad(str(e)) from None
    if problem := check_date(date, start, days):
        raise bad(problem)
    try:
        factor = float(factor_text)
    except ValueError:
        raise bad(f"factor {factor_text!r} is not a number; expected a finite number in "
                  f"[0, {MAX_FACTOR:g}]") from None
    if problem := _check_factor(factor, repr(factor_text)):
        raise bad(problem)
    return Shock(channel, market, date, factor)


def check_shocks(shocks: Iterable[Shock], config: Config, start: dt.date,
                 days: int) -> tuple[Shock, ...]:
    """``shocks`` as a tuple, each checked as ``parse_shock`` checks the text form."""
    out = []
    for s in shocks:
        if not isinstance(s, Shock):
            raise InputError(f"shock {s!r}: expected a Shock(channel, market, date, factor)")
        problem = (_check_pair(s.channel, s.market, config) or check_date(s.date, start, days)
                   or _check_factor(s.factor, repr(s.factor)))
        if problem:
            raise InputError(f"shock {s}: {problem}")
        out.append(Shock(s.channel, s.market, s.date, float(s.factor)))
    return tuple(out)


def effectiveness(shocks: tuple[Shock, ...], markets: tuple[str, ...],
                  channels: tuple[str, ...], pair_of: np.ndarray, start: dt.date,
                  days: int) -> np.ndarray | None:
    """(pairs, days) multiplier of each media pair's beta; None without shocks."""
    if not shocks:
        return None
    out = np.ones((int(pair_of.max()) + 1, days))
    for s in shocks:
        pair = pair_of[markets.index(s.market), channels.index(s.channel)]
        out[pair, (s.date - start).days:] *= s.factor
    return out
