"""Compile a KPI x time grain x slice into one Ibis expression.

The result has one row per period (the period's first day) and slice, with the
columns ``period``, the slice dimensions, ``numerator``, ``denominator`` (NULL for
value KPIs) and ``value``. The expression runs unchanged on DuckDB, Spark or any
other Ibis backend.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from growthloop.config import Config
from growthloop.errors import InputError
from growthloop.metrics.definitions import GRAINS, KPI, Measure
from growthloop.metrics.sources import SOURCES, SourceCache, source_table

__all__ = ["builtin_catalog", "catalog", "compile_kpi", "compile_measure", "kpi_dimensions"]


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


def _filter(t: ir.Table, flt: dict) -> ir.Table:
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
    return t.filter(*preds) if preds else t


def _agg(t: ir.Table, m: Measure) -> ir.Scalar:
    if m.agg == "count":
        return t.count()
    col = t[m.column]
    if m.agg == "count_distinct":
        return col.nunique()
    if m.agg == "sum":
        return col.sum()
    return col.mean()


_STEP = {"day": ibis.interval(days=1), "week": ibis.interval(days=7),
         "month": ibis.interval(months=1), "quarter": ibis.interval(months=3),
         "year": ibis.interval(years=1)}


def _period(ts: ir.TimestampValue, grain: str) -> ir.DateValue:
    return ts.truncate(GRAINS[grain]).cast("date")


def _to_ts(d: date | datetime | str | None) -> datetime | None:
    if d is None:
        return None
    if isinstance(d, str):
        d = date.fromisoformat(d)
    return d if isinstance(d, datetime) else datetime(d.year, d.month, d.day)


def compile_measure(
    m: Measure, backend: BaseBackend, cfg: Config, *, grain: str, by: list[str],
    start: datetime | None, end: datetime | None, name: str = "m",
    cache: SourceCache | None = None,
) -> ir.Table:
    """``period``, ``by`` dimensions and the measure ``name``, one row per period x slice."""
    used = {*by, *m.filter, *([m.column] if m.column else [])}
    t = _filter(source_table(m.source, backend, cfg, cache, columns=used), m.filter)
    t = t.mutate(period=_period(t.ts, grain))
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


def _shift_back(start: datetime, grain: str) -> datetime:
    """The start of the period before the one that holds ``start``."""
    if grain == "day":
        return start - timedelta(days=1)
    if grain == "week":
        return start - timedelta(days=7 + start.weekday())
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    y, mo = start.year, start.month - months
    while mo < 1:
        mo += 12
        y -= 1
    return datetime(y, mo, 1)


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
) -> ir.Table:
    """One KPI by ``grain`` and the ``by`` dimensions over ``[start, end)``.

    ``cache`` materialises each source once across many KPIs (``cached_sources``).
    """
    cat = catalog(cfg)
    if isinstance(kpi, str):
        if kpi not in cat:
            raise InputError(f"unknown KPI {kpi!r}; expected one of: {', '.join(sorted(cat))}")
        kpi = cat[kpi]
    if grain not in GRAINS:
        raise InputError(f"unknown grain {grain!r}; expected one of: {', '.join(GRAINS)}")
    by = list(by)
    allowed = kpi_dimensions(kpi, cat)
    for d in by:
        if d not in allowed:
            raise InputError(f"KPI {kpi.name!r} cannot be sliced by {d!r}; "
                             f"expected one of: {', '.join(allowed) or '(none)'}")
    return _compile(kpi, cat, backend, cfg, grain, by, _to_ts(start), _to_ts(end),
                    cache).order_by(["period", *by])


def _compile(
    kpi: KPI, cat: dict[str, KPI], backend: BaseBackend, cfg: Config, grain: str,
    by: list[str], t0: datetime | None, t1: datetime | None,
    cache: SourceCache | None = None,
) -> ir.Table:
    keys = ["period", *by]
    if kpi.kind == "growth":
        base = _compile(cat[kpi.of], cat, backend, cfg, grain, by,  # type: ignore[index]
                        _shift_back(t0, grain) if t0 else None, t1, cache)
        # the calendar-previous period, matched by key: a gap in the series is a gap,
        # not a comparison with an older period
        w = ibis.window(group_by=by or None, order_by="period")
        follows = (base.period.lag().over(w) + _STEP[grain]) == base.period
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
                    value=kpi.scale * n / d.nullif(0))
