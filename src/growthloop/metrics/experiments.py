"""Per-variant sufficient statistics of catalog KPIs over an experiment's units, in Ibis.

A KPI of the catalog (``growthloop.metrics.compile``) is measured per unit: each of its
measures over the unit's own rows of the measure's source (``user_id`` = the unit),
from the unit's assignment to the experiment's end, and again over the ``pre_days``
before the assignment (the CUPED covariate, Deng et al. 2013):

- ``count``: the unit's rows; ``sum``: the sum of the column; ``count_distinct`` of the
  person column: 1 if the unit has a row (a conversion), of another column its distinct
  values; ``mean``: a ratio of the column's sum to the rows;
- a value KPI is a mean metric (its one measure per unit); a ratio KPI (and a ``mean``
  measure) a ratio metric, numerator and denominator per unit (the delta method, Deng et
  al. 2018); a unit without rows counts 0.

The ``users`` source holds one row per user, the unit itself: its rows are not cut by
the window (a user's sign-up attributes are the unit's), and it has no pre-period.
Units are grouped by experiment, variant and (``by_market``) the unit's market, and each
group is reduced to ``n`` and the sums, squares and cross products that
``growthloop.models.experiments.sums`` reads: the same expression runs on Spark as on
DuckDB. KPIs whose source is not about people (``spend``) or that are growth rates
cannot be measured per unit and are refused, naming the KPI.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.core.kpis import KPI, Measure
from growthloop.metrics.compile import catalog, filter_predicates
from growthloop.metrics.sources import SOURCES, source_table

__all__ = ["SUM_COLUMNS", "assignment_counts", "unit_metric_kind", "variant_sums",
           "variant_sums_many"]

#: Columns of ``variant_sums`` after the keys: x is the (numerator) measure, d the
#: denominator, px / pd their pre-period values.
SUM_COLUMNS = ("n", "x_sum", "x_sq", "d_sum", "d_sq", "xd", "px_sum", "px_sq", "pd_sum",
               "pd_sq", "ppd", "x_px", "x_pd", "d_px", "d_pd")


def unit_metric_kind(kpi: KPI) -> str:
    """``mean`` or ``ratio``: how a KPI is measured per unit; InputError if it cannot be."""
    if kpi.kind == "growth":
        raise InputError(f"KPI {kpi.name!r} is a growth rate of periods; an experiment "
                         "needs a KPI measured per unit (a value or a ratio)")
    for m in kpi.measures():
        if not SOURCES[m.source].person or "user_id" not in SOURCES[m.source].person:
            raise InputError(f"KPI {kpi.name!r}: source {m.source!r} is not about people, "
                             "so it cannot be measured per unit of an experiment")
        if m.cumulative:
            raise InputError(f"KPI {kpi.name!r} is cumulative over all history; an "
                             "experiment needs a KPI of the window")
    if kpi.kind == "ratio" or kpi.measures()[0].agg == "mean":
        return "ratio"
    return "mean"


def _per_unit(m: Measure, t: ir.Table, where: ir.BooleanValue) -> ir.Scalar:
    """The measure over one unit's rows of ``t`` (a group) that satisfy ``where``."""
    if m.agg == "count":
        return t.count(where=where).cast("float64")
    col = t[m.column]
    if m.agg == "count_distinct":
        if m.column == "user_id":
            return (t.count(where=where) > 0).cast("float64")
        return col.nunique(where=where).cast("float64")
    return col.sum(where=where).cast("float64").fill_null(0.0)  # sum; a mean's sum


def _predicate(t: ir.Table, flt: dict) -> ir.BooleanValue:
    """A measure's filter as one predicate (True without one)."""
    out = ibis.literal(True)
    for p in filter_predicates(t, flt):
        out = out & p
    return out


def _kpi_measures(kpi: KPI) -> tuple[str, list[Measure]]:
    """The kind and the per-unit measures (numerator, denominator) of a KPI."""
    kind = unit_metric_kind(kpi)
    measures = kpi.measures()
    if kind == "ratio" and len(measures) == 1:  # a mean: the sum over the rows
        m = measures[0]
        measures = [Measure(source=m.source, agg="sum", column=m.column, filter=m.filter),
                    Measure(source=m.source, agg="count", filter=m.filter)]
    return kind, measures


def _source_rows(source: str, measures: dict[str, Measure], backend: BaseBackend,
                 cfg: Config, units: ir.Table, pre_days: int) -> ir.Table:
    """Per (experiment, unit): every measure of one source in the window (``<name>``)
    and in the pre-period (``p<name>``), from one scan of the source."""
    used = {"user_id"}
    for m in measures.values():
        used |= {*m.filter, *([m.column] if m.column else [])}
    t = source_table(source, backend, cfg, columns=used)
    t = t.filter(t.user_id.notnull())
    j = t.join(units, t.user_id == units.unit_id)
    keys = ["experiment_id", "unit_id"]
    if source == "users":  # the unit's own row: no window, no pre-period
        return j.group_by(keys).aggregate(**{
            name: _per_unit(m, j, _predicate(j, m.filter)) for name, m in measures.items()})
    lo = j.assigned_ts - ibis.interval(days=max(pre_days, 0))
    j = j.filter((j.ts >= lo) & (j.ts < j.end_ts))
    now, before = j.ts >= j.assigned_ts, j.ts < j.assigned_ts
    aggs = {}
    for name, m in measures.items():
        cond = _predicate(j, m.filter)
        aggs[name] = _per_unit(m, j, cond & now)
        if pre_days > 0:
            aggs[f"p{name}"] = _per_unit(m, j, cond & before)
    return j.group_by(keys).aggregate(**aggs)


def variant_sums_many(backend: BaseBackend, cfg: Config, kpis: list[str | KPI],
                      experiments: pd.DataFrame, *, by_market: bool = False,
                      pre_days: int = 28) -> dict[str, pd.DataFrame]:
    """``variant_sums`` of several KPIs at once: one scan per source over every
    experiment, and one aggregation for all; a dict by KPI name."""
    cat = catalog(cfg)
    chosen: list[KPI] = []
    for k in kpis:
        if isinstance(k, str):
            if k not in cat:
                raise InputError(f"unknown KPI {k!r}; expected one of: "
                                 f"{', '.join(sorted(cat))}")
            k = cat[k]
        chosen.append(k)
    ends = ibis.memtable(pd.DataFrame({
        "e_id": experiments.experiment_id.astype(str),
        "end_ts": pd.to_datetime(experiments["end"]).astype("datetime64[us]")}))
    a = backend.table("experiment_assignments")
    a = a.join(ends, a.experiment_id == ends.e_id).select(
        "experiment_id", "unit_id", "variant", "assigned_ts", "end_ts")
    units = a.select("experiment_id", "unit_id", "assigned_ts", "end_ts")
    t = a.select("experiment_id", "unit_id", "variant")
    if by_market:
        u = backend.table("users").select(m_user="user_id", market="market")
        t = t.left_join(u, t.unit_id == u.m_user).select(
            "experiment_id", "unit_id", "variant",
            market=ibis.coalesce(u.market, ibis.literal("unknown")))
    # every measure, named m<i>, grouped by source
    plan, by_source, seen = [], {}, {}
    for k in chosen:
        kind, measures = _kpi_measures(k)
        names = []
        for m in measures:  # a measure two KPIs share is aggregated once
            same = (m.source, m.agg, m.column, repr(sorted(m.filter.items())))
            if same not in seen:
                seen[same] = f"m{len(seen)}"
                by_source.setdefault(m.source, {})[seen[same]] = m
            names.append(seen[same])
        plan.append((k.name, kind, names))
    pre_sources = set()
    for source, measures in by_source.items():
        part = _source_rows(source, measures, backend, cfg, units, pre_days)
        if source != "users" and pre_days > 0:
            pre_sources.add(source)
        p = part.rename(_e="experiment_id", _u="unit_id")
        t = t.left_join(p, (t.experiment_id == p._e) & (t.unit_id == p._u)).drop(
            "_e", "_u")
    have = {c for c in t.columns if c not in ("experiment_id", "unit_id", "variant",
                                                "market")}
    t = t.mutate(**{c: t[c].fill_null(0.0).cast("float64") for c in have})
    ONE, ZERO = "1", "0"  # noqa: N806 - the constant operands of a product

    def col(name: str | None) -> str:
        if name is None:
            return ONE
        return name if name in have else ZERO

    keys = ["experiment_id", "variant", *(["market"] if by_market else [])]
    # each distinct product of two per-unit columns is summed once; products with a
    # constant 1 or 0 are derived after the query (a mean's denominator is 1 per unit)
    sums: dict[tuple[str, str], str] = {}
    aggs, recipes, meta = {}, {}, {}
    for i, (name, kind, names) in enumerate(plan):
        x, d = names[0], (names[1] if kind == "ratio" else None)
        v = {"x": col(x), "d": col(d), "px": col(f"p{x}"),
             "pd": col(f"p{d}") if d else ZERO}
        pairs = {"x_sum": ("x", None), "x_sq": ("x", "x"), "d_sum": ("d", None),
                 "d_sq": ("d", "d"), "xd": ("x", "d"), "px_sum": ("px", None),
                 "px_sq": ("px", "px"), "pd_sum": ("pd", None), "pd_sq": ("pd", "pd"),
                 "ppd": ("px", "pd"), "x_px": ("x", "px"), "x_pd": ("x", "pd"),
                 "d_px": ("d", "px"), "d_pd": ("d", "pd")}
        for out, (a_, b_) in pairs.items():
            ops = sorted(o for o in (v[a_], v[b_] if b_ else ONE) if o != ONE)
            if ZERO in ops:
                recipes[(i, out)] = ZERO
            elif not ops:
                recipes[(i, out)] = "n"
            else:
                key = (ops[0], ops[-1] if len(ops) > 1 else ONE)
                if key not in sums:
                    sums[key] = f"s{len(sums)}"
                    e = t[key[0]] if key[1] == ONE else t[key[0]] * t[key[1]]
                    aggs[sums[key]] = e.sum()
                recipes[(i, out)] = sums[key]
        meta[i] = (name, kind, by_source[_source_of(by_source, x)][x].source in pre_sources)
    wide = t.group_by(keys).aggregate(n=t.count(), **aggs).order_by(keys).execute()
    out = {}
    for i, (name, kind, has_pre) in meta.items():
        cols = {}
        for c in SUM_COLUMNS[1:]:
            r = recipes[(i, c)]
            cols[c] = (0.0 if r == ZERO else wide[r].astype("float64"))
        frame = pd.DataFrame({**{k: wide[k] for k in keys}, "kind": kind,
                              "has_pre": has_pre, "n": wide.n.astype("int64"), **cols})
        out[name] = frame
    return out


def _source_of(by_source: dict[str, dict[str, Measure]], name: str) -> str:
    return next(s for s, ms in by_source.items() if name in ms)


def variant_sums(backend: BaseBackend, cfg: Config, kpi: str | KPI,
                 experiments: pd.DataFrame, *, by_market: bool = False,
                 pre_days: int = 28) -> pd.DataFrame:
    """Sufficient statistics of ``kpi`` per experiment, variant (and market).

    ``experiments`` has one row per experiment: ``experiment_id`` and ``end`` (the day
    after the last counted, a date). Returns ``experiment_id``, ``variant``, (``market``),
    ``kind`` (``mean`` or ``ratio``), ``has_pre`` and ``SUM_COLUMNS``.
    """
    name = kpi if isinstance(kpi, str) else kpi.name
    return variant_sums_many(backend, cfg, [kpi], experiments, by_market=by_market,
                             pre_days=pre_days)[name]


def assignment_counts(backend: BaseBackend, experiment_ids: Sequence[str]) -> pd.DataFrame:
    """Units per experiment and variant (for the sample-ratio check)."""
    a = backend.table("experiment_assignments")
    a = a.filter(a.experiment_id.isin(list(experiment_ids)))
    return (a.group_by(["experiment_id", "variant"]).aggregate(units=a.count())
            .order_by(["experiment_id", "variant"]).execute())
