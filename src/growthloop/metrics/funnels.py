"""Ordered conversion funnels over behaviour events.

A funnel is a list of event types, e.g. ``session_start, product_view, add_to_cart,
checkout, purchase``. A *unit* is a session (``within="session"``) or a logged-in user
(``within="days"``).

- A unit reaches step 1 at its first step-1 event in ``[start, end)``.
- It reaches step k at its first step-k event at or after the time it reached step
  k-1: an event before the previous step does not count, and a unit that never
  reached step k-1 cannot reach step k. Per session, the events must belong to the
  same session; per user, they must happen before the step-1 time + ``days`` (the
  conversion window). Later steps may fall after ``end``.
- Slices: per session, the session's dimensions from the ``sessions`` source (the
  touch that started it, its user's country, cohort and customer type); per user, the
  dimensions of the step-1 event from the ``events`` source.

Per user, only events with a ``user_id`` count (anonymous events are not stitched to
the user they later turn out to be). Times between steps are whole seconds (epoch
seconds truncated at both ends, the same on every engine); their median is exact
(``percentile_cont`` on DuckDB, ``percentile`` on Spark, both interpolating between
the two middle values). Everything is one Ibis expression that runs unchanged on
DuckDB, Spark or any other Ibis backend.

With ``people=True`` each row also has ``people``: the distinct people among the units
that reached the step (a session's person is its user, or the device of an anonymous
visitor), for small-cell suppression in shared output (docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.dates import parse_timestamp
from growthloop.core.errors import InputError
from growthloop.core.schema import EVENT_TYPES
from growthloop.metrics.sources import SOURCES, check_by, identified_events, source_table

__all__ = ["FUNNEL_COLUMNS", "FUNNEL_DIMENSIONS", "WITHIN", "funnel"]

WITHIN: tuple[str, ...] = ("session", "days")
FUNNEL_DIMENSIONS: tuple[str, ...] = SOURCES["sessions"].dimensions
FUNNEL_COLUMNS: tuple[str, ...] = (
    "step", "step_name", "units", "conversion_from_previous", "conversion_from_first",
    "drop_off", "drop_off_rate", "median_seconds_from_previous",
)


def _check(steps: Sequence[str], within: str, days: int, by: Sequence[str]) -> None:
    if isinstance(steps, str) or not steps:
        raise InputError("a funnel needs a list of at least one step (event type); expected "
                         f"event types among: {', '.join(EVENT_TYPES)}")
    bad = [s for s in steps if s not in EVENT_TYPES]
    if bad:
        raise InputError(f"unknown funnel step(s) {', '.join(map(repr, bad))}; expected event "
                         f"types among: {', '.join(EVENT_TYPES)}")
    dup = sorted({s for s in steps if list(steps).count(s) > 1})
    if dup:
        raise InputError(f"funnel step(s) {', '.join(map(repr, dup))} appear more than once; "
                         "each step must be a different event type")
    if within not in WITHIN:
        raise InputError(f"unknown within={within!r}; expected one of: {', '.join(WITHIN)}")
    if within == "days" and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise InputError(f"days = {days!r}: expected a whole number of days >= 1")
    check_by(by, FUNNEL_DIMENSIONS, "a funnel")


def _entries(
    backend: BaseBackend, cfg: Config, step: str, within: str, by: list[str],
    t0: datetime | None, t1: datetime | None,
) -> ir.Table:
    """Units reaching step 1: ``_unit``, ``t1`` (first step-1 time in the window), per-user
    also the ``by`` dimensions of that event."""
    if within == "session":
        e = identified_events(backend).rename(ts="event_ts")
        e = e.filter(e.event_type == step)
        e = e.mutate(_who=ibis.coalesce(e.user_id, e.anonymous_id))
    else:
        e = source_table("events", backend, cfg)
        e = e.filter(e.event_type == step, e.user_id.notnull())
    if t0 is not None:
        e = e.filter(e.ts >= t0)
    if t1 is not None:
        e = e.filter(e.ts < t1)
    if within == "session":
        return e.group_by(_unit=e.session_id).aggregate(t1=e.ts.min(), _person=e._who.max())
    e = e.mutate(_nth=ibis.row_number().over(group_by=e.user_id, order_by=[e.ts, e.event_id]))
    e = e.filter(e._nth == 0)
    return e.select(*by, _unit=e.user_id, t1=e.ts, _person=e.user_id)


def _reached(
    backend: BaseBackend, cfg: Config, steps: list[str], within: str, days: int,
    by: list[str], t0: datetime | None, t1: datetime | None,
) -> ir.Table:
    """One row per unit that reached step 1: its ``by`` dimensions and ``t1`` .. ``tK``, the
    time it reached each step (NULL when it did not)."""
    w = _entries(backend, cfg, steps[0], within, by, t0, t1)
    ev = identified_events(backend)
    unit = ev.session_id if within == "session" else ev.user_id
    for k, step in enumerate(steps[1:], start=2):
        ek = ev.filter(ev.event_type == step, unit.notnull()).select(_u=unit, _t=ev.event_ts)
        preds = [w._unit == ek._u, ek._t >= w[f"t{k - 1}"]]
        if within == "days":
            preds.append(ek._t < w.t1 + ibis.interval(days=days))
        j = w.left_join(ek, preds)
        w = j.group_by(list(w.columns)).aggregate(**{f"t{k}": j._t.min()})
    if within == "session" and by:
        s = source_table("sessions", backend, cfg)
        s = s.select(*by, _sid=s.session_id)
        j = w.join(s, w._unit == s._sid)
        w = j.select(*by, "_unit", "_person", *[f"t{k}" for k in range(1, len(steps) + 1)])
    return w


def funnel(
    backend: BaseBackend,
    cfg: Config,
    steps: Sequence[str],
    *,
    within: str = "session",
    days: int = 7,
    by: Sequence[str] = (),
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    people: bool = False,
) -> ir.Table:
    """An ordered funnel: one row per slice and step, in step order.

    Columns: the ``by`` dimensions, then

    - ``step`` (1-based) and ``step_name`` (its event type);
    - ``units``: sessions (or users) that reached the step (see the module docstring);
    - ``conversion_from_previous``: units at this step / units at the previous step
      (1 at step 1; NULL when the previous step has none);
    - ``conversion_from_first``: units at this step / units at step 1;
    - ``drop_off``: units at the previous step that did not reach this one (0 at step 1);
    - ``drop_off_rate``: ``1 - conversion_from_previous``;
    - ``median_seconds_from_previous``: median over units reaching the step of the time
      from reaching the previous step, in seconds (NULL at step 1 and when none reach it).

    ``within="session"`` counts sessions; ``within="days"`` counts logged-in users whose
    later steps fall within ``days`` days of their step 1. ``start``/``end`` bound the
    step-1 time, ``[start, end)``. ``people`` adds the column ``people`` (module notes).
    """
    steps = list(steps) if not isinstance(steps, str) else steps
    by = list(by)
    _check(steps, within, days, by)
    w = _reached(backend, cfg, steps, within, days, by, parse_timestamp(start, "start"),
                 parse_timestamp(end, "end"))
    n = len(steps)

    def secs(k: int) -> ir.IntegerValue:
        return w[f"t{k}"].epoch_seconds().floor()

    aggs: dict[str, ir.Scalar] = {f"_n{k}": w[f"t{k}"].count() for k in range(1, n + 1)}
    if people:
        aggs |= {f"_p{k}": w._person.nunique(where=w[f"t{k}"].notnull())
                 for k in range(1, n + 1)}
    for k in range(2, n + 1):
        aggs[f"_m{k}"] = (secs(k) - secs(k - 1)).cast("float64").median()
    per = w.group_by(by).aggregate(**aggs) if by else w.aggregate(**aggs)

    ks = ibis.memtable({"step": list(range(1, n + 1)), "step_name": steps},
                       schema={"step": "int64", "step_name": "string"})
    g = per.cross_join(ks)

    def count_at(lag: int) -> ir.IntegerValue:
        """Units at step ``step - lag`` (at step 1 when that is before the first)."""
        return ibis.cases(*[(g.step == k, g[f"_n{max(k - lag, 1)}"]) for k in range(1, n + 1)])

    units = count_at(0).cast("int64")
    prev = count_at(1).cast("int64")
    conv = units.cast("float64") / prev.cast("float64").nullif(0.0)
    none = ibis.null().cast("float64")
    median = none if n == 1 else ibis.cases(
        *[(g.step == k, g[f"_m{k}"]) for k in range(2, n + 1)], else_=none)
    out = g.select(
        *by, "step", "step_name",
        units=units,
        conversion_from_previous=conv,
        conversion_from_first=units.cast("float64") / g._n1.cast("float64").nullif(0.0),
        drop_off=prev - units,
        drop_off_rate=1.0 - conv,
        median_seconds_from_previous=median.cast("float64"),
        **({"people": ibis.cases(*[(g.step == k, g[f"_p{k}"]) for k in range(1, n + 1)])
            .cast("int64")} if people else {}),
    )
    return out.order_by([*by, "step"])
