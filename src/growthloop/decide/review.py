"""The periodic review: goals, the biggest movers with a noise band, and mix vs rate.

For the last complete period of the cadence (weekly: Monday to Sunday; biweekly: the
two weeks before; monthly: the calendar month) the review lists every goal's status,
every KPI's change against the previous period, flagged only when it leaves the noise
band of the ``NOISE_PERIODS`` periods before (|change| > ``NOISE_Z`` x the standard
deviation of their period-on-period changes; ``NOISE_Z_SEGMENT`` for market slices, and
no verdict on a KPI whose ``maturity_days`` have not passed since the period ended),
and for ratio KPIs splits the change into a mix effect and a rate effect by market and
by channel:

    R = sum_i w_i r_i,   w_i = D_i / D,   r_i = N_i / D_i
    R1 - R0 = sum_i (w1_i - w0_i) r0_i   (mix)   +   sum_i w1_i (r1_i - r0_i)   (rate)

(a two-factor shift-share decomposition; the two parts add up to the change exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.dates import add_months
from growthloop.core.errors import InputError
from growthloop.core.kpis import KPI
from growthloop.decide.goals import data_end, goals_frame
from growthloop.metrics.compile import catalog, compile_kpi, kpi_dimensions
from growthloop.metrics.sources import SourceCache, cached_sources
from growthloop.models.rootcause import mix_rate

__all__ = ["NOISE_PERIODS", "NOISE_Z", "Review", "last_complete_period", "mix_rate", "review"]

Cadence = Literal["weekly", "biweekly", "monthly"]
NOISE_PERIODS = 8
NOISE_Z = 2.0
NOISE_Z_SEGMENT = 3.0  # stricter for the many market slices, so few flags are chance


def last_complete_period(cadence: Cadence, as_of: date) -> tuple[date, date]:
    """[start, end) of the last complete period before ``as_of`` (exclusive)."""
    if cadence == "monthly":
        end = date(as_of.year, as_of.month, 1)
        return add_months(end, -1), end
    weeks = {"weekly": 1, "biweekly": 2}.get(cadence)
    if weeks is None:
        raise InputError(f"unknown cadence {cadence!r}; expected weekly, biweekly or monthly")
    end = as_of - timedelta(days=as_of.weekday())  # the Monday of as_of's week
    return end - timedelta(weeks=weeks), end


def _periods(cadence: Cadence, start: date, n: int) -> list[tuple[date, date]]:
    """``n`` consecutive periods ending with the one starting at ``start`` (oldest first)."""
    out = []
    for i in range(n - 1, -1, -1):
        if cadence == "monthly":
            s = add_months(start, -i)
            out.append((s, add_months(s, 1)))
        else:
            w = 1 if cadence == "weekly" else 2
            s = start - timedelta(weeks=w * i)
            out.append((s, s + timedelta(weeks=w)))
    return out


def _grain(cadence: Cadence) -> str:
    return "month" if cadence == "monthly" else "week"


def _series(backend: BaseBackend, cfg: Config, kpi: str, cadence: Cadence,
            periods: list[tuple[date, date]], by: list[str],
            cache: SourceCache | None = None) -> pd.DataFrame:
    """The KPI per period (and slice), numerator and denominator summed over grains."""
    t = compile_kpi(kpi, backend, cfg, grain=_grain(cadence), by=by, start=periods[0][0],
                    end=periods[-1][1], cache=cache).execute()
    t["day"] = pd.to_datetime(t.period).dt.date
    starts = [s for s, _ in periods]
    t["p"] = np.searchsorted(np.array(starts, dtype="datetime64[D]"),
                             np.array(t.day.tolist(), dtype="datetime64[D]"), side="right") - 1
    return t


@dataclass
class Mover:
    kpi: str
    segment: str  # "all" or e.g. "market=ID"
    unit: str
    previous: float | None
    current: float | None
    change: float | None
    noise_sd: float | None
    z: float | None
    flagged: bool
    direction: str  # "better", "worse" or "flat" given the KPI's good direction


@dataclass
class Review:
    cadence: str
    start: date
    end: date
    goals: pd.DataFrame
    movers: list[Mover]
    decompositions: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def last_day(self) -> date:
        """The last day reviewed (``end`` is the day after)."""
        return self.end - timedelta(days=1)

    def movers_frame(self) -> pd.DataFrame:
        return pd.DataFrame([m.__dict__ for m in self.movers])

    def decomposition_summary(self) -> pd.DataFrame:
        """Per decomposed KPI: the change split into mix and rate, and the segment with the
        largest rate effect (``dimension``, ``segment``, ``rate_effect``, its rate before
        and after)."""
        rows = []
        for name, d in self.decompositions.items():
            mix, rate = d.groupby("dimension")[["mix", "rate"]].sum().iloc[0]
            top = d.loc[d.rate.abs().idxmax()]
            rows.append({"kpi": name, "change": mix + rate, "mix": mix, "rate": rate,
                         "dimension": top.dimension, "segment": top.segment,
                         "rate_effect": top.rate, "rate_0": top.rate_0,
                         "rate_1": top.rate_1})
        return pd.DataFrame(rows)


def review(backend: BaseBackend, cfg: Config, cadence: Cadence = "weekly",
           as_of: date | None = None, kpis: list[str] | None = None) -> Review:
    """The review of the last complete period before ``as_of`` (default: end of data)."""
    as_of = as_of or data_end(backend)
    start, end = last_complete_period(cadence, as_of)
    periods = _periods(cadence, start, NOISE_PERIODS + 2)
    cat = catalog(cfg)
    names = kpis or [k.name for k in cat.values() if k.kind != "growth"]
    goals = goals_frame(backend, cfg, as_of=end) if cfg.goals else pd.DataFrame()
    with cached_sources(backend, cfg) as cache:
        movers, decomp = _movers(backend, cfg, cat, names, cadence, periods, as_of, end, cache)
    order = sorted(movers, key=lambda m: (not m.flagged, m.segment != "all", -abs(m.z or 0)))
    return Review(cadence, start, end, goals, order, decomp)


def _movers(backend: BaseBackend, cfg: Config, cat: dict[str, KPI], names: list[str],
            cadence: Cadence, periods: list[tuple[date, date]], as_of: date, end: date,
            cache: SourceCache) -> tuple[list[Mover], dict[str, pd.DataFrame]]:
    movers: list[Mover] = []
    decomp: dict[str, pd.DataFrame] = {}
    for name in names:
        k = cat[name]
        slices: list[list[str]] = [[]]
        if "market" in kpi_dimensions(k, cat):
            slices.append(["market"])
        for by in slices:
            t = _series(backend, cfg, name, cadence, periods, by, cache)
            groups = t.groupby(by) if by else [((), t)]
            for key, g in groups:
                seg = "" if not by else f"{by[0]}={key[0] if isinstance(key, tuple) else key}"
                m = _mover(k, g, len(periods), cadence, seg,
                           mature=(as_of - end).days >= k.maturity_days)
                movers.append(m)
                if by or not (k.kind == "ratio" and m.flagged):
                    continue
                decomp[name] = _decompose(backend, cfg, name, cadence, periods[-2:], cat,
                                          cache)
    return movers, decomp


def _mover(k: KPI, t: pd.DataFrame, n: int, cadence: Cadence, segment: str,
           mature: bool = True) -> Mover:
    """The KPI's change in the last period against the noise of the periods before."""
    if k.kind == "ratio":
        agg = t.groupby("p")[["numerator", "denominator"]].sum()
        vals = k.scale * agg.numerator / agg.denominator.where(agg.denominator > 0)
    elif cadence == "biweekly" and k.kind == "value" and k.measure.agg in ("count", "sum"):
        vals = t.groupby("p").numerator.sum() * k.scale
    else:
        vals = t.groupby("p").value.mean()  # distinct counts and means: per-grain average
    vals = vals.reindex(range(n))
    cur, prev = vals.iloc[-1], vals.iloc[-2]
    history = vals.iloc[:-1].diff().dropna()
    sd = float(history.std(ddof=1)) if len(history) >= 3 else float("nan")
    change = cur - prev if not (pd.isna(cur) or pd.isna(prev)) else float("nan")
    z = change / sd if sd and not math.isnan(sd) and sd > 0 else float("nan")
    bar = NOISE_Z_SEGMENT if segment else NOISE_Z
    flagged = bool(mature and not math.isnan(z) and abs(z) > bar)
    better = (change > 0) == (k.direction == "up")
    verdict = "immature" if not mature else (
        "flat" if not flagged else ("better" if better else "worse"))
    return Mover(kpi=k.name, segment=segment or "all", unit=k.unit, previous=_f(prev),
                 current=_f(cur), change=_f(change), noise_sd=_f(sd), z=_f(z),
                 flagged=flagged, direction=verdict)


def _decompose(backend: BaseBackend, cfg: Config, name: str, cadence: Cadence,
               periods: list[tuple[date, date]], cat: dict[str, KPI],
               cache: SourceCache) -> pd.DataFrame:
    """Mix and rate effects of a ratio KPI's change, by market and by channel."""
    k = cat[name]
    parts = []
    for dim in ("market", "channel"):
        if dim not in kpi_dimensions(k, cat):
            continue
        s = _series(backend, cfg, name, cadence, periods, [dim], cache)
        g = s.groupby(["p", dim])[["numerator", "denominator"]].sum().reset_index()
        mr = mix_rate(g[g.p == 0].drop(columns="p"), g[g.p == 1].drop(columns="p"), dim)
        mr = mr.rename(columns={dim: "segment"})
        mr.insert(0, "dimension", dim)
        mr[["mix", "rate"]] *= k.scale
        parts.append(mr)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _f(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)
