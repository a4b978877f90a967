"""KPI alerts: every watched KPI, daily and weekly, per market and overall, against its
forecast band, and the slices that explain each move.

Watched KPIs are those a goal names and those marked ``watch = true`` in the catalog
(growth KPIs are watched through the KPI they are the growth of). A KPI that is a mean
(fulfilment time) is watched as the ratio of its sum and its count, so that its band
narrows on busy days. Bands and alerts: ``growthloop.models.anomaly``. A period younger
than its KPI's ``maturity_days`` (returns still arriving) is not judged.

**Root cause.** For each KPI, period and scope that alerted, the KPI is compared with
its reference (daily: the same weekday of the four weeks before; weekly: the four
weeks before) and the change is decomposed over the slices of every dimension the KPI
has among market, channel, device, campaign and acquisition cohort
(``growthloop.models.rootcause``): over all markets, by each dimension and by market
crossed with each of the others; in one market, by that market crossed with each of
the others. The slices ranked by the share of the move they explain are the alert's
``drivers``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.core.kpis import KPI, Measure
from growthloop.decide.goals import data_end
from growthloop.metrics.compile import catalog, compile_kpi, kpi_dimensions
from growthloop.metrics.sources import SourceCache, cached_sources
from growthloop.models.anomaly import bands
from growthloop.models.rootcause import decompose_arrays, rank_slices

__all__ = ["ROOT_DIMENSIONS", "Alert", "AlertRun", "alert_series", "run_alerts", "watched_kpis",
           "write_alerts"]

ROOT_DIMENSIONS = ("market", "channel", "device", "campaign", "cohort")
REFERENCE_PERIODS = 4
MIN_DENOMINATOR = 10  # counted rows behind a ratio's period before it is judged
MIN_COUNT = 5.0  # expected count of a count KPI before a period is judged
GRAINS = ("day", "week")
Progress = Callable[[str, float], None]


@dataclass
class Alert:
    """One KPI period outside its band, at one scope (a market, or ``all``)."""

    kpi: str
    grain: str
    market: str
    period: dt.date
    period_end: dt.date  # exclusive
    actual: float
    expected: float
    low: float | None
    high: float | None
    z: float
    direction: str  # above or below the band
    worse: bool  # in the KPI's bad direction
    festival: bool
    unit: str
    drivers: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["period"], d["period_end"] = self.period.isoformat(), self.period_end.isoformat()
        return d


@dataclass
class AlertRun:
    """Every alert from ``since`` to ``as_of``, and what was watched."""

    as_of: dt.date
    since: dt.date
    alerts: list[Alert]
    kpis: list[str]
    periods_checked: dict[str, int]  # grain -> KPI x scope periods judged since ``since``
    seconds: dict[str, float]

    def frame(self) -> pd.DataFrame:
        cols = ["kpi", "grain", "market", "period", "period_end", "actual", "expected",
                "low", "high", "z", "direction", "worse", "festival", "unit", "drivers"]
        return pd.DataFrame([a.as_dict() for a in self.alerts], columns=cols)


def _as_ratio(k: KPI) -> KPI:
    """A mean KPI as the ratio of its sum and its count (same value, known weights)."""
    m = k.measure
    if k.kind != "value" or m is None or m.agg != "mean":
        return k
    # a comparison keeps only rows where the column is present, as the mean does
    keep = {**m.filter, m.column: {">=": -1e300}}
    return k.model_copy(update={
        "kind": "ratio", "measure": None,
        "numerator": Measure(source=m.source, agg="sum", column=m.column, filter=keep),
        "denominator": Measure(source=m.source, agg="count", filter=keep)})


def watched_kpis(cfg: Config, names: list[str] | None = None) -> list[KPI]:
    """The KPIs the alerts watch: ``names``, or those with a goal or ``watch = true``."""
    cat = catalog(cfg)
    if names:
        bad = [n for n in names if n not in cat]
        if bad:
            raise InputError(f"unknown KPI {bad[0]!r}; expected one of: "
                             f"{', '.join(sorted(cat))}")
        chosen = list(names)
    else:
        goals = {g.kpi for g in cfg.goals}
        chosen = [k.name for k in cat.values() if k.watch or k.name in goals]
    out = []
    for n in chosen:
        k = cat[n]
        if k.kind == "growth":
            k = cat[k.of]  # type: ignore[index]
        if k.name not in [o.name for o in out]:
            out.append(_as_ratio(k))
    return out


def _starts(first: dt.date, end: dt.date, grain: str) -> list[dt.date]:
    """Consecutive complete periods from ``first`` to ``end`` (exclusive)."""
    if grain == "week":
        first = first + dt.timedelta(days=(7 - first.weekday()) % 7)
    step = 1 if grain == "day" else 7
    n = max(((end - first).days - step) // step + 1, 0)
    return [first + dt.timedelta(days=step * i) for i in range(n)]


def _series(df: pd.DataFrame, starts: list[dt.date], k: KPI
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, denominators) on ``starts``: a missing period of a value KPI is 0, of a
    ratio KPI empty (denominator 0)."""
    idx = pd.Index(starts)
    num = df.set_index("period").numerator.astype(float).reindex(idx).fillna(0.0)
    if k.kind != "ratio":
        return k.scale * num.to_numpy(), None
    den = df.set_index("period").denominator.astype(float).reindex(idx).fillna(0.0)
    return np.asarray(k.evaluate(num.to_numpy(), den.to_numpy()), float), den.to_numpy()


def _additive(k: KPI) -> bool:
    """Whether the KPI's measures add up over days and markets (no distinct counts)."""
    return all(m.agg in ("count", "sum") and m.cumulative is None for m in k.measures())


def _rollup(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    cols = [c for c in ("numerator", "denominator") if c in df.columns]
    return df.groupby(keys, dropna=False)[cols].sum().reset_index()


def _weeks(df: pd.DataFrame) -> pd.DataFrame:
    """Daily cells summed into their weeks (Monday to Sunday)."""
    out = df.copy()
    out["period"] = [p - dt.timedelta(days=p.weekday()) for p in out.period]
    return _rollup(out, [c for c in out.columns if c not in
                         ("numerator", "denominator", "value")])


def _detection_frames(k: KPI, cat: dict[str, KPI], backend: BaseBackend, cfg: Config,
                      start: dt.date, end: dt.date, cache: SourceCache
                      ) -> dict[str, list[tuple[str, pd.DataFrame]]]:
    """grain -> [(scope, cells by period)], scope ``all`` first, then each market. An
    additive KPI is read once, daily by market, and summed into weeks and the total."""
    by_market = "market" in kpi_dimensions(k, cat)
    out: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    if _additive(k) and by_market:
        day = _frame(k, backend, cfg, "day", ["market"], start, end, cache)
        for grain, per in (("day", day), ("week", _weeks(day))):
            out[grain] = [("all", _rollup(per, ["period"]))] + [
                (m, g) for m, g in per.groupby("market")]
        return out
    for grain in GRAINS:
        scopes = [("all", _frame(k, backend, cfg, grain, [], start, end, cache))]
        if by_market:
            per = _frame(k, backend, cfg, grain, ["market"], start, end, cache)
            scopes += [(m, g) for m, g in per.groupby("market")]
        out[grain] = scopes
    return out


def _frame(k: KPI, backend: BaseBackend, cfg: Config, grain: str, by: list[str],
           start: dt.date, end: dt.date, cache: SourceCache,
           periods: list[dt.date] | None = None) -> pd.DataFrame:
    """The KPI by ``grain`` and ``by`` over [start, end) (only ``periods`` if given); an
    empty slice value is the slice ``(none)``."""
    t = compile_kpi(k, backend, cfg, grain=grain, by=by, start=start, end=end, cache=cache)
    if periods is not None:
        t = t.filter(t.period.isin(periods))
    df = t.execute()
    df["period"] = pd.to_datetime(df.period).dt.date
    for d in by:
        df[d] = df[d].astype(object).where(df[d].notna(), "(none)").astype(str)
    return df


def run_alerts(backend: BaseBackend, cfg: Config, *, since: dt.date | None = None,
               as_of: dt.date | None = None, kpis: list[str] | None = None,
               history_days: int = 400, progress: Progress | None = None) -> AlertRun:
    """Alerts of the watched KPIs on the periods from ``since`` (default: 28 days before
    ``as_of``, the end of the data) with their drivers; the bands use up to
    ``history_days`` of history before ``since``."""
    as_of = as_of or data_end(backend)
    since = since or as_of - dt.timedelta(days=28)
    if since >= as_of:
        raise InputError(f"--since {since.isoformat()} is not before the end of the data "
                         f"{as_of.isoformat()}")
    start = since - dt.timedelta(days=history_days)
    cat = catalog(cfg)
    watched = watched_kpis(cfg, kpis)
    report = progress or (lambda _s, _f: None)
    alerts: list[Alert] = []
    checked = dict.fromkeys(GRAINS, 0)
    t0 = time.perf_counter()
    t_kpi = 0.0
    with cached_sources(backend, cfg) as cache:
        for i, k in enumerate(watched):
            report(k.name, i / len(watched))
            s0 = time.perf_counter()
            frames = _detection_frames(k, cat, backend, cfg, start, as_of, cache)
            t_kpi += time.perf_counter() - s0
            for grain, scopes in frames.items():
                if scopes[0][1].empty:
                    continue
                starts = _starts(min(scopes[0][1].period), as_of, grain)
                mature = [s for s in starts if s + dt.timedelta(
                    days=(1 if grain == "day" else 7) + k.maturity_days) <= as_of]
                for market, df in scopes:
                    y, d = _series(df, mature, k)
                    if not len(y):
                        continue
                    b = bands(y, d, mature, grain)
                    judged = (np.array([s >= since for s in mature]) & np.isfinite(b.low)
                              & _enough(k, b.expected, d))
                    checked[grain] += int(judged.sum())
                    for t in np.flatnonzero(b.alert & judged):
                        alerts.append(_alert(k, grain, market, mature[t], y[t], b, t))
        t_detect = time.perf_counter() - t0
        t1 = time.perf_counter()
        _explain(alerts, {k.name: k for k in watched}, cat, backend, cfg, cache)
    report("root causes", 1.0)
    alerts.sort(key=lambda a: (a.period, a.kpi, a.grain, a.market != "all", a.market))
    return AlertRun(as_of=as_of, since=since, alerts=alerts, kpis=[k.name for k in watched],
                    periods_checked=checked,
                    seconds={"kpis": t_kpi, "bands": t_detect - t_kpi,
                             "root_causes": time.perf_counter() - t1})


def _enough(k: KPI, expected: np.ndarray, d: np.ndarray | None) -> np.ndarray:
    """Periods with enough events to judge: a ratio over at least ``MIN_DENOMINATOR``
    counted rows, a count of at least ``MIN_COUNT`` expected."""
    if d is not None:
        counted = k.denominator is not None and k.denominator.agg != "sum"
        return d >= MIN_DENOMINATOR if counted else np.ones(len(d), bool)
    counted = k.measure is not None and k.measure.agg != "sum"
    return np.abs(expected) >= MIN_COUNT if counted else np.ones(len(expected), bool)


def _alert(k: KPI, grain: str, market: str, start: dt.date, y: float, b, t: int) -> Alert:
    above = y > b.expected[t]
    low, high = b.low[t], b.high[t]
    return Alert(kpi=k.name, grain=grain, market=str(market), period=start,
                 period_end=start + dt.timedelta(days=1 if grain == "day" else 7),
                 actual=float(y), expected=float(b.expected[t]),
                 low=float(low) if np.isfinite(low) else None,
                 high=float(high) if np.isfinite(high) else None, z=float(b.z[t]),
                 direction="above" if above else "below",
                 worse=bool(above != (k.direction == "up")), festival=bool(b.festival[t]),
                 unit=k.unit)


def _references(start: dt.date, grain: str) -> list[dt.date]:
    """The reference periods of ``start``: the same weekday, or the weeks, before it."""
    return [start - dt.timedelta(days=7 * i) for i in range(1, REFERENCE_PERIODS + 1)]


def _explain(alerts: list[Alert], kpis: dict[str, KPI], cat: dict[str, KPI],
             backend: BaseBackend, cfg: Config, cache: SourceCache) -> None:
    """Fill each alert's ``drivers`` (module notes), one decomposition per KPI x period."""
    groups: dict[tuple[str, str], list[Alert]] = {}
    for a in alerts:
        groups.setdefault((a.kpi, a.grain), []).append(a)
    for (name, grain), group in groups.items():
        k = kpis[name]
        dims = [d for d in ROOT_DIMENSIONS if d in kpi_dimensions(k, cat)]
        if not dims:
            continue
        periods = sorted({a.period for a in group})
        lo = min(periods) - dt.timedelta(days=7 * REFERENCE_PERIODS)
        hi = max(a.period_end for a in group)
        sets = ([["market", d] for d in dims if d != "market"] or [["market"]]
                if "market" in dims else [[d] for d in dims])
        needed = sorted({r for p in periods for r in [p, *_references(p, grain)]})
        if _additive(k):  # one query by every dimension, rolled up per set
            full = _frame(k, backend, cfg, grain, dims, lo, hi, cache, needed)
            got = {tuple(s): _rollup(full, ["period", *s]) for s in sets}
        else:
            got = {tuple(s): _frame(k, backend, cfg, grain, s, lo, hi, cache, needed)
                   for s in sets}
        ratio = k.kind == "ratio"
        panels = {key: _Panel.of(df, list(key), ratio) for key, df in got.items()}
        for p in periods:
            found: dict[str, list[dict]] = {}
            for a in group:
                if a.period != p:
                    continue
                scope = a.market if "market" in dims else "all"
                if scope not in found:
                    found[scope] = _drivers(panels, p, grain, k.scale, "market" in dims,
                                            scope)
                a.drivers = found[scope]


@dataclass(frozen=True)
class _Panel:
    """A KPI's cells by period and slice as arrays: ``num`` (and for a ratio ``den``)
    of shape (periods, slices), the slices' values in ``keys``."""

    keys: pd.DataFrame  # one row per slice, a column per dimension
    rows: dict[dt.date, int]  # period -> row
    num: np.ndarray
    den: np.ndarray | None
    _alone: dict[str, _Panel] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, df: pd.DataFrame, dims: list[str], ratio: bool) -> _Panel:
        slice_of = df.groupby(dims, dropna=False, sort=True).ngroup().to_numpy()
        keys = (df[dims].assign(_s=slice_of).drop_duplicates("_s").sort_values("_s")
                .drop(columns="_s").reset_index(drop=True))
        periods = sorted(set(df.period))
        rows = {p: i for i, p in enumerate(periods)}
        row_of = np.array([rows[p] for p in df.period], dtype=np.int64)
        shape = (len(periods), len(keys))

        def cells(col: str) -> np.ndarray:
            out = np.zeros(shape)
            np.add.at(out, (row_of, slice_of), df[col].astype(float).fillna(0.0).to_numpy())
            return out

        return cls(keys, rows, cells("numerator"), cells("denominator") if ratio else None)

    def by(self, dim: str) -> _Panel:
        """The panel of ``dim`` alone, summed over the other dimensions (a user is in
        one market, so a channel's cells add up over markets); computed once."""
        if dim in self._alone:
            return self._alone[dim]
        code, uniques = pd.factorize(self.keys[dim], sort=True)
        onehot = np.zeros((len(self.keys), len(uniques)))
        onehot[np.arange(len(self.keys)), code] = 1.0
        self._alone[dim] = _Panel(pd.DataFrame({dim: uniques}), self.rows, self.num @ onehot,
                                  None if self.den is None else self.den @ onehot)
        return self._alone[dim]

    def cells(self, days: list[dt.date], keep: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """Numerator (and denominator) per slice, per period of ``days`` (a missing
        period counts as 0), of the slices ``keep``."""
        idx = [self.rows[d] for d in days if d in self.rows]
        num = self.num[idx].sum(axis=0) / len(days)
        den = None if self.den is None else self.den[idx].sum(axis=0) / len(days)
        if keep is not None:
            num, den = num[keep], None if den is None else den[keep]
        return num, den


def _present(n0: np.ndarray, n1: np.ndarray, d0: np.ndarray | None,
             d1: np.ndarray | None) -> np.ndarray:
    """The slices with any cell in either period (revenue without spend counts too)."""
    out = (n0 != 0) | (n1 != 0)
    return out if d0 is None or d1 is None else out | (d0 != 0) | (d1 != 0)


def _drivers(panels: dict[tuple, _Panel], period: dt.date, grain: str, scale: float,
             has_market: bool, scope: str) -> list[dict]:
    """Ranked slices of the move of the KPI at ``scope`` (``all``, or one market: then
    its slices by each other dimension) from the reference periods to ``period``."""
    refs = _references(period, grain)
    parts, change, singles = [], None, set()
    for dims, panel in panels.items():
        keep = None if scope == "all" else (panel.keys.market == scope).to_numpy()
        n1, d1 = panel.cells([period], keep)
        n0, d0 = panel.cells(refs, keep)
        if not (_present(n1, n1, d1, d1).any() and _present(n0, n0, d0, d0).any()) or (
                d1 is not None and (d1.sum() <= 0 or d0.sum() <= 0)):
            continue  # nothing in the period or in its references
        keys = panel.keys if keep is None else panel.keys[keep]
        seen = _present(n0, n1, d0, d1)
        pair = decompose_arrays(keys[seen], n0[seen], n1[seen],
                                None if d0 is None else d0[seen],
                                None if d1 is None else d1[seen], scale=scale)
        parts.append(pair)
        for d in dims if has_market and len(dims) > 1 and scope == "all" else []:
            if d in singles:
                continue  # each dimension alone, summed over markets
            singles.add(d)
            one = panel.by(d)
            c1, e1 = one.cells([period])
            c0, e0 = one.cells(refs)
            ok = _present(c0, c1, e0, e1)
            parts.append(decompose_arrays(one.keys[ok], c0[ok], c1[ok],
                                          None if e0 is None else e0[ok],
                                          None if e1 is None else e1[ok], scale=scale))
        if change is None:
            change = float(pair.contribution.sum())
    return rank_slices(parts, change if change is not None else float("nan"))


def write_alerts(con, run: AlertRun) -> str:
    """Store ``run``'s alerts (table ``alerts``) under a new run id, replacing the
    alerts of an earlier run on the same periods; returns the run id."""
    run_id = uuid.uuid4().hex[:12]
    df = run.frame()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = pd.DataFrame({
        "run_id": run_id, "kpi": df.kpi, "grain": df.grain, "market": df.market,
        "period": pd.to_datetime(df.period), "period_end": pd.to_datetime(df.period_end),
        "actual": df.actual, "expected": df.expected, "low": df.low, "high": df.high,
        "z": df.z, "direction": df.direction, "worse": df.worse, "festival": df.festival,
        "drivers": [json.dumps(x) for x in df.drivers], "as_of": pd.Timestamp(run.as_of),
        "created_at": now})
    con.execute("BEGIN")
    try:
        con.execute("DELETE FROM alerts WHERE period >= ? AND period < ? AND kpi IN "
                    f"({', '.join('?' * len(run.kpis))})",
                    [run.since, run.as_of, *run.kpis])
        if len(rows):
            con.register("_alerts_new", rows)
            con.execute("INSERT INTO alerts SELECT * FROM _alerts_new")
            con.unregister("_alerts_new")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return run_id


def alert_series(backend: BaseBackend, cfg: Config, kpi: str, market: str, grain: str,
                 *, as_of: dt.date | None = None, days: int = 120,
                 history_days: int = 400) -> pd.DataFrame:
    """One watched KPI at one scope with its band: ``period``, ``actual``, ``expected``,
    ``low``, ``high``, ``alert``, over the last ``days`` before ``as_of`` (the chart of
    an alert)."""
    as_of = as_of or data_end(backend)
    start = as_of - dt.timedelta(days=history_days + days)
    k = watched_kpis(cfg, [kpi])[0]
    with cached_sources(backend, cfg) as cache:
        frames = _detection_frames(k, catalog(cfg), backend, cfg, start, as_of, cache)
    scopes = dict(frames[grain])
    if market not in scopes:
        raise InputError(f"KPI {kpi!r} has no data for market {market!r}; expected one "
                         f"of: {', '.join(scopes)}")
    starts = _starts(min(scopes["all"].period), as_of, grain)
    y, d = _series(scopes[market], starts, k)
    b = bands(y, d, starts, grain)
    out = pd.DataFrame({"period": starts, "actual": y, "expected": b.expected, "low": b.low,
                        "high": b.high, "alert": b.alert})
    return out[out.period >= as_of - dt.timedelta(days=days)].reset_index(drop=True)
