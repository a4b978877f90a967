"""Planted risks: what a growth plan's risk section names, happening on a date nobody sees.

``Risk(kind, market, date, size, channel=None)`` changes the market's world from ``date``
(inclusive, a UTC day) to the horizon end; the plan (spend, targets) is made without
knowing. Kinds and what ``size`` means:

- ``cac``: the acquisition cost of ``channel`` in the market rises ``size`` times (1.42:
  +42 %): a shock of the pair's effectiveness by ``1 / size`` (``shocks``), spend
  unchanged, so fewer paid sign-ups for the same money.
- ``fulfilment``: orders placed in the market from the date take ``size`` more days to
  deliver. The NPS answers see the longer delivery (slow: longer than 1.5 x the region's
  usual mean), so NPS falls with it.
- ``returns``: the return probability of those orders is ``size`` times (at most 0.95).
- ``order_value``: their values (reporting and local amount) are ``size`` times.
- ``churn``: a share ``size`` of the market's high-value buyers leave: among the buyers
  whose first purchase is before the date, the top ``HIGH_VALUE_SHARE`` by latent expected
  spend rate (BG/NBD rate lam x Gamma-Gamma mean value p / nu), a random ``size`` of them
  make no purchase from the date on. Their orders are drawn as before and then removed,
  with what hangs on them (sessions, surveys, experiment units); every other order keeps
  its draws.
- ``promotion``: a share ``size`` of the market's shopping-festival lift stops working: on
  the days after the date where the festival multiplier f is above 1 it becomes
  ``1 + (1 - size) (f - 1)`` for demand, i.e. organic and owned sign-ups and anonymous
  browsing are thinned by the ratio, and paid sign-ups are what the planned spend would
  bring had its festival increases been planned for the weaker lift (always-on spend
  follows f^0.8, flights f^0.5, festival pushes f - 1): the spend is as planned, its
  festival extra buys less. Fewer sign-ups mean fewer touches, first orders and browsing.
  Its ``effective_start`` is the first day on or after the date with a lift (f > 1); a
  promotion risk without one before the horizon end is refused.

Risks of one kind in one market compound (multipliers multiply, extra days add). The
effects thin or scale what the world without risks drew (Binomial thinning, uniform
draws of their own ``risks`` stream; scaled values and delivery times; return decisions
from the same uniforms at the higher probability), so a world without risks is the world
of before. ``parse_risk`` reads ``KIND:MARKET[:CHANNEL]:YYYY-MM-DD:SIZE`` and refuses what
cannot be simulated, naming the bad part.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from growthloop.core.config import Config
from growthloop.core.dates import parse_day
from growthloop.core.errors import InputError
from growthloop.simulate.calendar import festival_multiplier
from growthloop.simulate.params import OTHER, REGIONS
from growthloop.simulate.shocks import Shock, check_date, check_market, check_media_channel

__all__ = [
    "HIGH_VALUE_SHARE",
    "KINDS",
    "MAX_RETURN_PROBABILITY",
    "RISK_FORM",
    "RISK_KPIS",
    "SIZE_RANGES",
    "Churn",
    "OrderEffects",
    "Risk",
    "RiskOutcome",
    "check_risks",
    "churn",
    "effective_start",
    "festival_demand",
    "order_effects",
    "parse_risk",
    "risk_shocks",
    "thinned",
]

KINDS: tuple[str, ...] = ("cac", "fulfilment", "returns", "order_value", "churn", "promotion")
RISK_FORM = ("KIND:MARKET[:CHANNEL]:YYYY-MM-DD:SIZE, e.g. fulfilment:BR:2025-09-01:2.3 or "
             "cac:DE:social_ads:2025-06-02:1.42 (the channel only for cac)")
#: (low, high, low included, high included, what size is) per kind.
SIZE_RANGES: dict[str, tuple[float, float, bool, bool, str]] = {
    "cac": (1.0, 10.0, False, True, "the factor of the acquisition cost"),
    "fulfilment": (0.0, 60.0, False, True, "the extra delivery days"),
    "returns": (1.0, 10.0, False, True, "the factor of the return probability"),
    "order_value": (0.0, 1.0, False, False, "the factor of the order values"),
    "churn": (0.0, 1.0, False, True, "the share of high-value buyers who leave"),
    "promotion": (0.0, 1.0, False, True, "the share of the festival lift lost"),
}
#: The catalog KPIs each kind is expected to move in its market.
RISK_KPIS: dict[str, tuple[str, ...]] = {
    "cac": ("cac", "cost_per_signup"),
    "fulfilment": ("fulfilment_time", "nps"),
    "returns": ("return_rate",),
    "order_value": ("average_order_value", "revenue"),
    "churn": ("revenue", "repurchase_rate", "buyers"),
    "promotion": ("new_users", "organic_sessions", "active_users", "revenue", "buyers"),
}
MAX_RETURN_PROBABILITY = 0.95
HIGH_VALUE_SHARE = 0.2  # the top share of buyers by expected spend rate


@dataclass(frozen=True)
class Risk:
    """From ``date`` on, ``kind`` strikes ``market`` with ``size`` (``channel``: cac only)."""

    kind: str
    market: str
    date: dt.date
    size: float
    channel: str | None = None

    def __str__(self) -> str:
        channel = f"{self.channel}:" if self.channel is not None else ""
        return f"{self.kind}:{self.market}:{channel}{self.date}:{self.size}"

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "market": self.market, "channel": self.channel,
                "date": self.date.isoformat(), "size": self.size}


@dataclass(frozen=True)
class RiskOutcome:
    """A planted risk, the first day it changes anything and what it did (truth.json)."""

    risk: Risk
    effective_start: dt.date
    details: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {**self.risk.as_dict(), "effective_start": self.effective_start.isoformat(),
                "kpis": list(RISK_KPIS[self.risk.kind]), **self.details}


# ---- checks ----------------------------------------------------------------------------------

def _check_kind(kind: str) -> str | None:
    if kind not in KINDS:
        return f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}"
    return None


def _check_channel(kind: str, channel: str | None, config: Config) -> str | None:
    """What is wrong with ``channel`` for a risk of ``kind``, or None."""
    if kind != "cac":
        return None if channel is None else f"kind {kind!r} takes no channel (only cac does)"
    if channel is None:
        return "kind 'cac' needs a channel: cac:MARKET:CHANNEL:YYYY-MM-DD:SIZE"
    return check_media_channel(channel, config, "acquisition cost to raise")


def _check_size(kind: str, size: object, shown: str) -> str | None:
    lo, hi, lo_in, hi_in, meaning = SIZE_RANGES[kind]
    ok = (not isinstance(size, bool) and isinstance(size, int | float | np.floating)
          and math.isfinite(size) and (lo <= size if lo_in else lo < size)
          and (size <= hi if hi_in else size < hi))
    if ok:
        return None
    interval = f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"
    return f"size {shown} for {kind} ({meaning}) is not a finite number in {interval}"


def _festival_row(config: Config, market: str, start: dt.date, days: int) -> np.ndarray:
    """The market's festival multiplier on each day of the horizon."""
    region = next(m.region for m in config.markets if m.code == market)
    dates = np.datetime64(start, "D") + np.arange(days)
    return festival_multiplier(dates, region if region in REGIONS else OTHER, start, days)


def effective_start(risk: Risk, festival: np.ndarray, start: dt.date) -> dt.date | None:
    """The first day the risk changes anything (``festival``: its market's multipliers):
    its date, or for a promotion the first day from it with a festival lift (None: none)."""
    if risk.kind != "promotion":
        return risk.date
    lifted = np.flatnonzero(festival[(risk.date - start).days:] > 1.0)
    return risk.date + dt.timedelta(days=int(lifted[0])) if len(lifted) else None


def _check_festival(risk: Risk, config: Config, start: dt.date, days: int) -> str | None:
    if risk.kind != "promotion":
        return None
    if effective_start(risk, _festival_row(config, risk.market, start, days), start) is None:
        last = start + dt.timedelta(days=days - 1)
        return (f"no festival lifts demand in {risk.market} from {risk.date.isoformat()} to "
                f"the horizon end {last.isoformat()}, so there is no promotion to fail")
    return None


def _problem(risk: Risk, config: Config, start: dt.date, days: int, shown: str) -> str | None:
    """The first thing wrong with ``risk`` in the order ``parse_risk`` documents, or None."""
    return (_check_kind(risk.kind) or check_market(risk.market, config)
            or _check_channel(risk.kind, risk.channel, config)
            or check_date(risk.date, start, days) or _check_size(risk.kind, risk.size, shown)
            or _check_festival(risk, config, start, days))


def parse_risk(text: str, config: Config, start: dt.date, days: int) -> Risk:
    """The risk ``KIND:MARKET[:CHANNEL]:YYYY-MM-DD:SIZE`` names, checked against the world.

    Raises ``InputError`` naming the bad part, checked in this order: the form, an unknown
    kind, an unknown market, a channel missing (cac), given for another kind, unknown or
    without spend, a date that is not one or lies outside ``start`` .. ``start + days -
    1``, a size that is not a number in the kind's range (``SIZE_RANGES``), a promotion
    without a festival lift from its date to the horizon end.
    """
    def bad(problem: str) -> InputError:
        return InputError(f"risk {text!r}: {problem}")

    parts = [p.strip() for p in str(text).split(":")]
    if len(parts) not in (4, 5) or not all(parts):
        raise bad(f"expected {RISK_FORM}")
    kind, market = parts[0], parts[1]
    channel = parts[2] if len(parts) == 5 else None
    day, size_text = parts[-2], parts[-1]
    if problem := (_check_kind(kind) or check_market(market, config)
                   or _check_channel(kind, channel, config)):
        raise bad(problem)
    try:
        date = parse_day(day, "date")
    except InputError as e:
        raise bad(str(e)) from None
    try:
        size = float(size_text)
    except ValueError:
        raise bad(f"size {size_text!r} is not a number") from None
    risk = Risk(kind, market, date, size, channel)
    if problem := _problem(risk, config, start, days, repr(size_text)):
        raise bad(problem)
    return risk


def check_risks(risks: Iterable[Risk], config: Config, start: dt.date,
                days: int) -> tuple[Risk, ...]:
    """``risks`` as a tuple, each checked as ``parse_risk`` checks the text form."""
    out = []
    for r in risks:
        if not isinstance(r, Risk):
            raise InputError(f"risk {r!r}: expected a Risk(kind, market, date, size, channel)")
        if problem := _problem(r, config, start, days, repr(r.size)):
            raise InputError(f"risk {r}: {problem}")
        out.append(Risk(r.kind, r.market, r.date, float(r.size), r.channel))
    return tuple(out)


# ---- effects ---------------------------------------------------------------------------------

def risk_shocks(risks: Iterable[Risk]) -> tuple[Shock, ...]:
    """The media shocks of the cac risks: effectiveness ``1 / size`` from the date."""
    return tuple(Shock(str(r.channel), r.market, r.date, 1.0 / r.size)
                 for r in risks if r.kind == "cac")


def festival_demand(risks: tuple[Risk, ...], markets: tuple[str, ...], festival: np.ndarray,
                    start: dt.date) -> np.ndarray | None:
    """(markets, days) festival multipliers demand sees under the promotion risks; None
    without any. Where ``festival`` is above 1 from a risk's date on, its lift ``f - 1``
    is scaled by ``1 - size``; elsewhere the multiplier is unchanged."""
    mine = [r for r in risks if r.kind == "promotion"]
    if not mine:
        return None
    keep = np.ones_like(festival)
    for r in mine:
        keep[markets.index(r.market), (r.date - start).days:] *= 1.0 - r.size
    return np.where((festival > 1.0) & (keep < 1.0), 1.0 + keep * (festival - 1.0),
                    festival)


def thinned(rng: np.random.Generator, ratio: np.ndarray) -> np.ndarray:
    """Which items to keep, item ``i`` with probability ``ratio[i]``: all where the ratio
    is 1, else one uniform each, in item order, for the items whose ratio is below 1."""
    keep = np.ones(len(ratio), bool)
    down = np.flatnonzero(ratio < 1.0)
    keep[down] = rng.random(len(down)) < ratio[down]
    return keep


@dataclass(frozen=True)
class OrderEffects:
    """Per order: the factor of its value, extra delivery days, factor of its return
    probability."""

    value: np.ndarray
    delivery_days: np.ndarray
    returns: np.ndarray


def order_effects(risks: tuple[Risk, ...], markets: tuple[str, ...], order_t: np.ndarray,
                  order_market: np.ndarray, start: dt.date) -> OrderEffects | None:
    """The fulfilment, returns and order-value risks on orders placed at ``order_t``
    (days since ``start``) in ``order_market``; None when none of them is planted."""
    mine = [r for r in risks if r.kind in ("fulfilment", "returns", "order_value")]
    if not mine:
        return None
    n = len(order_t)
    value, extra, returns = np.ones(n), np.zeros(n), np.ones(n)
    for r in mine:
        hit = (order_market == markets.index(r.market)) & (order_t >= (r.date - start).days)
        if r.kind == "fulfilment":
            extra[hit] += r.size
        elif r.kind == "returns":
            returns[hit] *= r.size
        else:
            value[hit] *= r.size
    return OrderEffects(value=value, delivery_days=extra, returns=returns)


@dataclass(frozen=True)
class Churn:
    """Each user's time from which they purchase no more (inf: never churned), and per
    churn risk the high-value buyers and those of them who left (user indices)."""

    cutoff: np.ndarray
    high_value: tuple[np.ndarray, ...]
    churned: tuple[np.ndarray, ...]


def churn(rng: np.random.Generator, risks: tuple[Risk, ...], markets: tuple[str, ...],
          start: dt.date, n_users: int, user_market: np.ndarray, first_user: np.ndarray,
          first_t: np.ndarray, spend_rate: np.ndarray) -> Churn | None:
    """Who leaves under the churn risks; None without any.

    ``first_user``, ``first_t`` and ``spend_rate`` (lam x p / nu) are per first purchase.
    For each risk, in turn: the market's buyers with a first purchase before the date,
    the top ``HIGH_VALUE_SHARE`` (rounded) of them by spend rate, and a random ``size``
    (rounded) of those (one permutation of them from ``rng``).
    """
    mine = [r for r in risks if r.kind == "churn"]
    if not mine:
        return None
    cutoff = np.full(n_users, np.inf)
    high_value, churned = [], []
    for r in mine:
        day = float((r.date - start).days)
        cand = np.flatnonzero((user_market[first_user] == markets.index(r.market))
                              & (first_t < day))
        n_top = round(HIGH_VALUE_SHARE * len(cand))
        top = first_user[cand[np.argsort(-spend_rate[cand], kind="stable")[:n_top]]]
        gone = np.sort(top[rng.permutation(n_top)[:round(r.size * n_top)]])
        cutoff[gone] = np.minimum(cutoff[gone], day)
        high_value.append(np.sort(top))
        churned.append(gone)
    return Churn(cutoff=cutoff, high_value=tuple(high_value), churned=tuple(churned))
