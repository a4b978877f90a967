"""Compile a KPI x time grain x slice into one Ibis expression.

The result has one row per period (the period's first day) and slice, with the
columns ``period``, the slice dimensions, ``numerator``, ``denominator`` (NULL for
value KPIs) and ``value``. The expression runs unchanged on DuckDB, Spark or any
other Ibis backend.
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

__all__ = ["builtin_catalog", "catalog", "compile_kpi", "compile_measure", "kpi_dimensions",
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


def compile_measure(
    m: Measure, backend: BaseBackend, cfg: Config, *, grain: str, by: list[str],
    start: datetime | None, end: datetime | None, name: str = "m",
    cache: SourceCache | None = None,
) -> ir.Table:
    """``period``, ``by`` dimensions and the measure ``name``, one row per period x slice."""
    used = {*by, *m.filter, *([m.column] if m.column else [])}
    t = _filter(source_table(m.source, backend, cfg, cache, columns=used), m.filter)
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
) -> ir.Table:
    """One KPI by ``grain`` and the ``by`` dimensions over ``[start, end)``.

    ``cache`` materialises each source once across many KPIs (``cached_sources``).
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
    return _compile(kpi, cat, backend, cfg, grain, by, parse_timestamp(start, "start"),
                    parse_timestamp(end, "end"), cache).order_by(["period", *by])


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


def kpi_frame(backend: BaseBackend, cfg: Config, names: list[str], *, grain: str = "week",
              by: list[str] | tuple[str, ...] = (), start: date | datetime | str | None = None,
              end: date | datetime | str | None = None) -> pd.DataFrame:
    """Several KPIs by ``grain`` and slice, one frame: ``kpi``, ``period`` (its first day,
    ``YYYY-MM-DD``), the ``by`` dimensions, ``numerator``, ``denominator`` and ``value``.

    Each source is materialised once for all the KPIs (``cached_sources``).
    """
    from growthloop.metrics.sources import cached_sources

    start = parse_timestamp(start, "--from")
    end = parse_timestamp(end, "--to")
    frames = []
    with cached_sources(backend, cfg) as cache:
        for name in names:
            df = compile_kpi(name, backend, cfg, grain=grain, by=by, start=start, end=end,
                             cache=cache).execute()
            df.insert(0, "kpi", name)
            df["period"] = df["period"].astype(str).str[:10]
            frames.append(df)
    return pd.concat(frames, ignore_index=True)
