"""Compile a KPI x time grain x slice into one Ibis expression.

The result has one row per period (the period's first day) and slice, with the
columns ``period``, the slice dimensions, ``numerator``, ``denominator`` (NULL for
value KPIs) and ``value``; with ``people=True`` also ``people``, the number of distinct
people behind the cell. The expression runs unchanged on DuckDB, Spark or any other
Ibis backend.

People behind a cell (``people``, for small-cell suppression, docs/privacy.md): the
distinct persons with a row in the numerator's or the denominator's measure (its source
rows after its filter, in the period, slice and window; for a measure of a column, rows
where the column is not empty); a person is the source's
``person`` column (``user_id``; for events and sessions of anonymous visitors the device,
``anonymous_id``). A cumulative measure counts everyone with a row up to the period's
end (``to_end``) or before its start (``before_start``); a growth KPI the people of the
period and of the previous one. Sources not about people (``spend``) add none: a cell
with only such sources has ``people`` NULL and is never suppressed.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from functools import lru_cache
from importlib import resources

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.dates import (
    STEP,
    check_grain,
    parse_timestamp,
    period_start,
    previous_period_start,
)
from growthloop.core.errors import InputError
from growthloop.core.kpis import KPI, Measure
from growthloop.metrics.sources import SOURCES, SourceCache, source_table

__all__ = ["builtin_catalog", "catalog", "compile_kpi", "compile_measure", "filter_predicates",
           "filter_rows",
           "kpi_dimensions",
           "kpi_frame"]


#: KPIs renamed since earlier releases, old name -> new name.
RENAMED = {"channel_roi": "roas"}


@lru_cache(maxsize=1)
def builtin_catalog() -> dict[str, KPI]:
    """The KPIs shipped with growthloop (``metrics/catalog.toml``)."""
    text = resources.files("growthloop.metrics").joinpath("catalog.toml").read_text("utf-8")
    return {k["name"]: KPI.model_validate(k) for k in tomllib.loads(text)["kpis"]}


def catalog(cfg: Config | None = None) -> dict[str, KPI]:
    """Built-in KPIs plus the project's own ``[[kpis]]``, checked against the sources."""
    out = dict(builtin_catalog())
    for k in (cfg.kpis if cfg else []):
        if k.name in out:
            raise InputError(f"kpis: {k.name!r} is a built-in KPI; choose another name")
        out[k.name] = k
    for k in out.values():
        _check(k, out)
    return out


def _check(k: KPI, cat: dict[str, KPI]) -> None:
    if k.kind == "growth":
        if k.of not in cat:
            raise InputError(f"kpis.{k.name}.of = {k.of!r}: expected one of {', '.join(cat)}")
        return
    for m in k.measures():
        src = SOURCES.get(m.source)
        if src is None:
            raise InputError(f"kpis.{k.name}: source = {m.source!r}: expected one of "
                             f"{', '.join(SOURCES)}")
        allowed = set(src.columns) | set(src.dimensions)
        for col in ([m.column] if m.column else []) + list(m.filter):
            if col not in allowed:
                raise InputError(f"kpis.{k.name}: column {col!r} is not in source "
                                 f"{m.source!r}; expected one of {', '.join(sorted(allowed))}")
        for d in k.dimensions or []:
            if d not in src.dimensions:
                raise InputError(f"kpis.{k.name}: dimensions: {d!r} is not a dimension of "
                                 f"source {m.source!r}; expected one of "
                                 f"{', '.join(src.dimensions)}")


def kpi_dimensions(k: KPI, cat: dict[str, KPI]) -> list[str]:
    """Dimensions a KPI may be sliced by: declared, or those all its sources share."""
    if k.kind == "growth":
        return kpi_dimensions(cat[k.of], cat)  # type: ignore[index]
    if k.dimensions is not None:
        return list(k.dimensions)
    dims = None
    for m in k.measures():
        d = SOURCES[m.source].dimensions
        dims = [x for x in (dims if dims is not None else d) if x in d]
    return dims or []


def filter_rows(t: ir.Table, flt: dict) -> ir.Table:
    """The rows of ``t`` that meet a measure's ``filter``."""
    preds = filter_predicates(t, flt)
    return t.filter(*preds) if preds else t


def filter_predicates(t: ir.Table, flt: dict) -> list[ir.BooleanValue]:
    """A measure's ``filter`` as predicates on ``t``: a value, a list, or comparisons."""
    preds = []
    for col, cond in flt.items():
        c = t[col]
        if isinstance(cond, list):
            preds.append(c.isin(cond))
        elif isinstance(cond, dict):
            for op, v in cond.items():
                preds.append({"==": c == v, "!=": c != v, "<": c < v, "<=": c <= v,
                              ">": c > v, ">=": c >= v}[op])
        else:
            preds.append(c == cond)
    return preds


def _agg(t: ir.Table, m: Measure) -> ir.Scalar:
    if m.agg == "count":
        return t.count()
    col = t[m.column]
    if m.agg == "count_distinct":
        return col.nunique()
    if m.agg == "sum":
        return col.sum()
    return col.mean()


def compile_measure(
    m: Measure, backend: BaseBackend, cfg: Config, *, grain: str, by: list[str],
    start: datetime | None, end: datetime | None, name: str = "m",
    cache: SourceCache | None = None,
) -> ir.Table:
    """``period``, ``by`` dimensions and the measure ``name``, one row per period x slice."""
    used = {*by, *m.filter, *([m.column] if m.column else [])}
    t = filter_rows(source_table(m.source, backend, cfg, cache, columns=used), m.filter)
    t = t.mutate(period=period_start(t.ts, grain))
    keys = ["period", *by]
    if m.cumulative:
        # A running total over all history, then cut to the window.
        per = t.group_by(keys).aggregate(_x=_agg(t, m))
        w = ibis.window(group_by=by or None, order_by="period", preceding=None, following=0)
        run = per._x.sum().over(w)
        val = run if m.cumulative == "to_end" else run - per._x
        out = per.select(*keys, **{name: val})
        if start is not None:
            out = out.filter(out.period >= start.date())
        if end is not None:
            out = out.filter(out.period < end.date())
        return out
    if start is not None:
        t = t.filter(t.ts >= start)
    if end is not None:
        t = t.filter(t.ts < end)
    return t.group_by(keys).aggregate(**{name: _agg(t, m)})


def compile_kpi(
    kpi: str | KPI,
    backend: BaseBackend,
    cfg: Config,
    *,
    grain: str = "week",
    by: list[str] | tuple[str, ...] = (),
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    cache: SourceCache | None = None,
    people: bool = False,
) -> ir.Table:
    """One KPI by ``grain`` and the ``by`` dimensions over ``[start, end)``.

    ``cache`` materialises each source once across many KPIs (``cached_sources``);
    ``people`` adds the column ``people``, the distinct people behind each cell (module
    notes).
    """
    cat = catalog(cfg)
    if isinstance(kpi, str):
        if kpi not in cat:
            hint = (f" ({kpi!r} was renamed {RENAMED[kpi]!r}: the same revenue / spend)"
                    if kpi in RENAMED else "")
            raise InputError(f"unknown KPI {kpi!r}{hint}; expected one of: "
                             f"{', '.join(sorted(cat))}")
        kpi = cat[kpi]
    check_grain(grain)
    by = list(by)
    allowed = kpi_dimensions(kpi, cat)
    for d in by:
        if d not in allowed:
            raise InputError(f"KPI {kpi.name!r} cannot be sliced by {d!r}; "
                             f"expected one of: {', '.join(allowed) or '(none)'}")
    t0, t1 = parse_timestamp(start, "start"), parse_timestamp(end, "end")
    out = _compile(kpi, cat, backend, cfg, grain, by, t0, t1, cache)
    if people:
        out = _with_people(out, kpi, cat, backend, cfg, grain, by, t0, t1, cache)
    return out.order_by(["period", *by])


def _compile(
    kpi: KPI, cat: dict[str, KPI], backend: BaseBackend, cfg: Config, grain: str,
    by: list[str], t0: datetime | None, t1: datetime | None,
    cache: SourceCache | None = None,
) -> ir.Table:
    keys = ["period", *by]
    if kpi.kind == "growth":
        if grain == "all":
            raise InputError(f"KPI {kpi.name!r} is a growth against the previous period; "
                             "choose a calendar grain, not 'all'")
        base = _compile(cat[kpi.of], cat, backend, cfg, grain, by,  # type: ignore[index]
                        previous_period_start(t0, grain) if t0 else None, t1, cache)
        # the calendar-previous period, matched by key: a gap in the series is a gap,
        # not a comparison with an older period
        w = ibis.window(group_by=by or None, order_by="period")
        follows = (base.period.lag().over(w) + STEP[grain]) == base.period
        prev = ibis.ifelse(follows, base.value.lag().over(w), ibis.null().cast("float64"))
        out = base.select(*keys, numerator=base.value, denominator=prev,
                          value=base.value / prev.nullif(0) - 1)
        return out.filter(out.period >= t0.date()) if t0 else out
    kw = dict(grain=grain, by=by, start=t0, end=t1, cache=cache)
    if kpi.kind == "value":
        m = compile_measure(kpi.measure, backend, cfg, name="numerator", **kw)  # type: ignore
        return m.select(*keys, numerator=m.numerator,
                        denominator=ibis.null().cast("float64"),
                        value=m.numerator.cast("float64") * kpi.scale)
    num = compile_measure(kpi.numerator, backend, cfg, name="numerator", **kw)  # type: ignore
    den = compile_measure(kpi.denominator, backend, cfg, name="denominator", **kw)  # type: ignore
    # NULL-safe: a slice whose value is missing (no campaign) is still one slice
    j = num.outer_join(den, [num[k].identical_to(den[k]) for k in keys])
    keyed = {k: ibis.coalesce(j[k], j[f"{k}_right"]) for k in keys}
    n = j.numerator.cast("float64").fill_null(0)
    d = j.denominator.cast("float64")
    return j.select(**keyed, numerator=n, denominator=d.fill_null(0),
                    value=kpi.evaluate(n, d))


# --------------------------------------------------------------------------- people

# The people behind a KPI's cells come in two parts: *rows*, distinct (period, slice,
# person) of the non-cumulative measures, and *firsts*, (slice, person, period) where a
# cumulative measure starts counting the person, every period from then on.


def _person(t: ir.Table, cols: tuple[str, ...]) -> ir.StringValue:
    return t[cols[0]] if len(cols) == 1 else ibis.coalesce(*[t[c] for c in cols])


def _measure_people(
    m: Measure, backend: BaseBackend, cfg: Config, grain: str, by: list[str],
    t0: datetime | None, t1: datetime | None, cache: SourceCache | None,
) -> tuple[ir.Table | None, ir.Table | None]:
    """(rows, firsts) of the people behind measure ``m``; (None, None) when its source is
    not about people."""
    who = SOURCES[m.source].person
    if not who:
        return None, None
    used = {*by, *m.filter, *who, *([m.column] if m.column else [])}
    t = filter_rows(source_table(m.source, backend, cfg, cache, columns=used), m.filter)
    if m.agg != "count":  # a row whose column is empty adds nothing to the measure
        t = t.filter(t[m.column].notnull())
    t = t.mutate(period=period_start(t.ts, grain), _person=_person(t, who))
    t = t.filter(t._person.notnull())
    if m.cumulative:
        first = t.group_by([*by, "_person"]).aggregate(period=t.period.min())
        if m.cumulative == "before_start":
            if grain == "all":  # nothing comes before the one period
                return None, None
            first = first.mutate(period=(first.period + STEP[grain]).cast("date"))
        return None, first.select(*by, "_person", "period")
    if t0 is not None:
        t = t.filter(t.ts >= t0)
    if t1 is not None:
        t = t.filter(t.ts < t1)
    return t.select("period", *by, "_person").distinct(), None


def _union(parts: list[ir.Table]) -> ir.Table | None:
    out = None
    for p in parts:
        out = p if out is None else out.union(p)
    return out


def _people_parts(
    kpi: KPI, cat: dict[str, KPI], backend: BaseBackend, cfg: Config, grain: str,
    by: list[str], t0: datetime | None, t1: datetime | None, cache: SourceCache | None,
) -> tuple[ir.Table | None, ir.Table | None]:
    """(rows, firsts) of the people behind ``kpi`` (see the notes above)."""
    if kpi.kind == "growth":
        base = cat[kpi.of]  # type: ignore[index]
        rows, firsts = _people_parts(base, cat, backend, cfg, grain, by,
                                     previous_period_start(t0, grain) if t0 else None, t1,
                                     cache)
        if rows is not None:  # the previous period's people count in the period
            later = rows.mutate(period=(rows.period + STEP[grain]).cast("date"))
            rows = rows.union(later.select("period", *by, "_person"), distinct=True)
        return rows, firsts  # a cumulative count only grows: the period's people hold all
    parts = [_measure_people(m, backend, cfg, grain, by, t0, t1, cache)
             for m in kpi.measures()]
    rows = [r for r, _ in parts if r is not None]
    firsts = [f for _, f in parts if f is not None]
    return (_union(rows).distinct() if rows else None), _union(firsts)


def _people_table(cells: ir.Table, rows: ir.Table | None, firsts: ir.Table | None,
                  by: list[str]) -> ir.Table | None:
    """``period``, ``by`` and ``people`` for the keys of ``cells``."""
    keys = ["period", *by]
    if rows is None and firsts is None:
        return None
    if firsts is None:
        return rows.group_by(keys).aggregate(people=rows._person.nunique())  # type: ignore
    first = firsts.group_by([*by, "_person"]).aggregate(period=firsts.period.min())
    new = first.group_by(keys).aggregate(_n=first.count())
    grid = cells.select(*keys, _n=ibis.literal(0, type="int64"))
    u = new.select(*keys, _n=new._n.cast("int64")).union(grid)
    g = u.group_by(keys).aggregate(_n=u._n.sum())
    w = ibis.window(group_by=by or None, order_by="period", preceding=None, following=0)
    cum = g.select(*keys, people=g._n.sum().over(w))
    if rows is None:
        return cum
    f = first.select(*[first[d].name(f"_f_{d}") for d in by], _f_person=first._person,
                     _f_period=first.period)
    j = rows.left_join(f, [rows[d].identical_to(f[f"_f_{d}"]) for d in by]
                       + [rows._person == f._f_person])
    extra = j.filter(j._f_period.isnull() | (j._f_period > j.period))
    extra = extra.group_by(keys).aggregate(_x=extra.count())
    e = extra.select(*[extra[k].name(f"_e_{k}") for k in keys], _x=extra._x)
    j2 = cum.left_join(e, [cum[k].identical_to(e[f"_e_{k}"]) for k in keys])
    return j2.select(*keys, people=j2.people + j2._x.fill_null(0))


def _with_people(
    out: ir.Table, kpi: KPI, cat: dict[str, KPI], backend: BaseBackend, cfg: Config,
    grain: str, by: list[str], t0: datetime | None, t1: datetime | None,
    cache: SourceCache | None,
) -> ir.Table:
    """``out`` with the column ``people`` (NULL for cells not about people)."""
    rows, firsts = _people_parts(kpi, cat, backend, cfg, grain, by, t0, t1, cache)
    people = _people_table(out.view(), rows, firsts, by)
    cols = list(out.columns)
    if people is None:
        return out.view().mutate(people=ibis.null().cast("int64"))
    keys = ["period", *by]
    out = out.view()  # a relation of its own, not a link more in the chain of its joins
    p = people.select(*[people[k].name(f"_p_{k}") for k in keys], _people=people.people)
    j = out.left_join(p, [out[k].identical_to(p[f"_p_{k}"]) for k in keys])
    return j.select(*cols, people=j._people.fill_null(0).cast("int64"))


def kpi_frame(backend: BaseBackend, cfg: Config, names: list[str], *, grain: str = "week",
              by: list[str] | tuple[str, ...] = (), start: date | datetime | str | None = None,
              end: date | datetime | str | None = None, people: bool = False
              ) -> pd.DataFrame:
    """Several KPIs by ``grain`` and slice, one frame: ``kpi``, ``period`` (its first day,
    ``YYYY-MM-DD``), the ``by`` dimensions, ``numerator``, ``denominator`` and ``value``
    (and ``people`` with ``people=True``: the distinct people behind each cell).

    Each source is materialised once for all the KPIs (``cached_sources``).
    """
    from growthloop.metrics.sources import cached_sources

    start = parse_timestamp(start, "--from")
    end = parse_timestamp(end, "--to")
    frames = []
    with cached_sources(backend, cfg) as cache:
        for name in names:
            df = compile_kpi(name, backend, cfg, grain=grain, by=by, start=start, end=end,
                             cache=cache, people=people).execute()
            df.insert(0, "kpi", name)
            df["period"] = df["period"].astype(str).str[:10]
            frames.append(df)
    return pd.concat(frames, ignore_index=True)
