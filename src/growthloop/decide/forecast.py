"""Goal forecasts: where a goal's KPI ends its period, with an 80 % interval, the chance
of each tier, the growth each market and channel still needs, and budget scenarios.

Forecast. For a goal whose KPI is additive over days (a value KPI that counts or sums,
or a ratio of two such measures), the daily history of the goal's slice before ``as_of``
(``growthloop.decide.goals._daily``, up to ``HISTORY_DAYS``, from the first day with data)
is forecast over the rest of the goal's period (``growthloop.models.forecast``: ETS with
weekly seasonality, festival days cleaned). Each sample path gives the KPI at the
period's end, ``scale x (actual measure + the path's sum)``, or for a ratio
``evaluate(numerator done + path sum, denominator done + path sum)`` with the two
measures' paths drawn with the correlation of their residuals
(``models.forecast.joint_shocks``). The projection is the KPI at the forecast means; its
80 % interval the 10 % and 90 % quantiles over the paths; the chance of a tier the share
of paths that reach it in the goal's good direction (``tier_of``: at or above the tier
for an 'up' goal, at or below for a 'down' one).

Growth needed (the annual goal of ``[decomposition]``). For each market and each
channel, the cell's share of the target tier ``T_c = target x share`` is compared with
the actual of the finished quarters ``F_c`` and the current quarter's projection ``Q_c``
(actual to date plus the forecast mean of its remaining days). With ``r`` quarters left
after the current one, the quarter-on-quarter growth ``g`` they need solves
``Q_c sum_{i=1..r} (1 + g)^i = T_c - F_c - Q_c`` (``growth_needed``; the left side rises
with ``g``, so the root is unique). A cell whose ``F_c + Q_c`` already reaches ``T_c``
is 'reached'; one with no quarter left, or nothing to grow from, 'not reachable'; the
others need ``g``, 'on plan' when it is at most the plan's ``quarterly_growth`` and
'above plan' otherwise. The plan's own figure for the current quarter
(``goals.quarter_plan``) is shown beside it.

Scenarios (``budget+10%``, ``budget-20%``). From the latest marketing-mix fit stored in
the warehouse (``growthloop.warehouse.media_store.read_mmm``): every pair's spend per
period (its current spend, the mean of the fit's last periods) moves by the percentage
for the ``H`` periods that cover the rest of the goal's period, and the change in the
model's outcome is ``sum_p [sum_t f_p(a_t(s'_p)) - sum_t f_p(a_t(s_p))]`` with the
carry-over of past spend (``growthloop.decide.budget.carry_over_outcome``), prorated to
the remaining days (``days / (H x grain)``), and its 80 % interval over the posterior
draws. Only the pairs of the goal's market or channel count. The change is the goal's
KPI's only when the model's outcome is that KPI (a fit of new users for a new-user
goal); otherwise the scenario says so and gives no number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend
from scipy.optimize import brentq

from growthloop.core.config import Config, Goal
from growthloop.core.errors import InputError
from growthloop.core.kpis import KPI
from growthloop.decide.goals import (
    HISTORY_WEEKS,
    TIERS,
    _additive,
    _daily,
    _dt,
    data_end,
    goal_status,
    parse_period,
    quarter_plan,
    tier_of,
)
from growthloop.metrics.compile import catalog, compile_kpi, compile_measure
from growthloop.models.forecast import LEVEL, MIN_DAYS, N_PATHS, fit, joint_shocks

__all__ = [
    "HISTORY_DAYS",
    "GoalForecast",
    "Scenario",
    "annual_forecast",
    "find_goal",
    "goal_forecast",
    "growth_needed",
    "growth_needs",
    "parse_scenario",
    "scenario_effect",
]

#: Days of history before ``as_of`` that a forecast is fitted on (at most).
HISTORY_DAYS = 365
_SCENARIO = re.compile(r"^budget\s*([+-])\s*(\d+(?:\.\d+)?)\s*%$")


# --------------------------------------------------------------------------- inputs


def find_goal(cfg: Config, name: str | Goal) -> Goal:
    """The project's goal ``name`` (a ``Goal`` is returned as it is)."""
    if isinstance(name, Goal):
        return name
    for g in cfg.goals:
        if g.name == name:
            return g
    have = ", ".join(g.name for g in cfg.goals) or "none: add [[goals]] to growthloop.toml"
    raise InputError(f"goal {name!r} is not in the project file; expected one of: {have}")


def parse_scenario(text: str) -> float:
    """``budget+10%`` -> 0.10, ``budget-20%`` -> -0.20 (the change of every pair's spend)."""
    m = _SCENARIO.match(str(text).strip().lower())
    if not m:
        raise InputError(f"scenario {text!r}: expected budget+N% or budget-N% "
                         "(e.g. budget+10%)")
    change = float(m.group(2)) / 100 * (1 if m.group(1) == "+" else -1)
    if change <= -1:
        raise InputError(f"scenario {text!r}: a budget cut must be less than 100%")
    return change


def _check_kpi(cfg: Config, goal: Goal) -> KPI:
    cat = catalog(cfg)
    if goal.kpi not in cat:
        raise InputError(f"goal {goal.name!r}: unknown KPI {goal.kpi!r}; expected one of: "
                         f"{', '.join(sorted(cat))}")
    k = cat[goal.kpi]
    if not ((k.kind == "value" and _additive(k.measure))
            or (k.kind == "ratio" and _additive(k.numerator) and _additive(k.denominator))):
        raise InputError(
            f"goal {goal.name!r}: KPI {k.name!r} ({k.kind}) is not additive over days; "
            "expected a value KPI that counts or sums, or a ratio of two such measures")
    return k


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Scenario:
    """A budget scenario's effect on the goal's KPI over the rest of the period."""

    name: str  # budget+10%
    change: float  # +0.10
    model_version: str
    outcome: str  # the fitted model's outcome (a KPI name)
    applies: bool  # the outcome is the goal's KPI
    delta: float | None  # change in the KPI over the rest of the period
    delta_low: float | None
    delta_high: float | None
    spend_now: float  # spend per period now (the pairs counted)
    spend_new: float
    grain_days: int
    periods: int
    projection: float | None  # the goal's projection with the change
    probabilities: dict[str, float] | None  # each tier's chance with the change
    note: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class GoalForecast:
    """Where a goal's KPI ends its period (module notes)."""

    goal: str
    kpi: str
    unit: str
    period: str
    slice: str
    direction: str  # the goal's good direction
    as_of: date
    days_left: int
    method: str  # the forecast model (of the numerator, for a ratio)
    actual: float | None  # the KPI to date
    tier: str  # reached to date
    projection: float | None
    low: float | None
    high: float | None
    projected_tier: str
    probabilities: dict[str, float] | None  # tier -> chance of reaching it
    base: float
    target: float
    challenge: float
    level: float = LEVEL
    note: str = ""
    trajectory: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    needs: pd.DataFrame | None = field(default=None, repr=False)
    scenario: Scenario | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None), the trajectory and needs as lists of rows."""
        d = {k: v for k, v in self.__dict__.items()
             if k not in ("trajectory", "needs", "scenario")}
        d["as_of"] = self.as_of.isoformat()
        traj = self.trajectory.copy()
        if "day" in traj:
            traj["day"] = traj.day.map(lambda x: x.isoformat())
        d["trajectory"] = traj.to_dict(orient="records")
        d["needs"] = None if self.needs is None else self.needs.to_dict(orient="records")
        d["scenario"] = None if self.scenario is None else self.scenario.as_dict()
        return _plain(d)


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# --------------------------------------------------------------------------- forecast


def _history(backend: BaseBackend, cfg: Config, m: Any, goal: Goal, cut: date,
             history_days: int) -> pd.Series:
    """The daily measure of the goal's slice before ``cut``, from its first day with data."""
    s = _daily(backend, cfg, m, goal, cut - timedelta(days=history_days), cut)
    nonzero = np.flatnonzero(s.to_numpy() != 0)
    return s.iloc[nonzero[0]:] if len(nonzero) else s.iloc[0:0]


def _chances(values: np.ndarray, goal: Goal) -> dict[str, float]:
    up = goal.good_direction == "up"
    return {t: float(np.mean(values >= getattr(goal, t)) if up
                     else np.mean(values <= getattr(goal, t))) for t in TIERS}


@dataclass(frozen=True)
class _Paths:
    projection: float
    values: np.ndarray  # the KPI at the period's end, one per path
    trajectory: pd.DataFrame
    method: str
    daily_mean: np.ndarray  # the (first) measure's forecast per remaining day


def _forecast_kpi(backend: BaseBackend, cfg: Config, k: KPI, goal: Goal, start: date,
                  cut: date, end: date, method: str, paths: int, seed: int,
                  history_days: int, known: date) -> _Paths | None:
    """The KPI at ``end`` per path, or None when the history is too short. The history
    ends at ``known`` (the 'as of' day, never after ``cut``); the days from ``known`` to
    the period's start are forecast too, and left out of the period."""
    measures = [k.measure] if k.kind == "value" else [k.numerator, k.denominator]
    h = (end - cut).days
    lead = (cut - known).days  # days forecast before the period starts
    hist = [_history(backend, cfg, m, goal, known, history_days) for m in measures]
    if min(len(x) for x in hist) < MIN_DAYS:
        return None
    n = min(len(x) for x in hist)  # the measures' histories over the same days
    models = [fit(x.iloc[-n:], method) for x in hist]
    shocks = joint_shocks(models, lead + h, paths, seed) if len(models) > 1 else [None]
    fcs = [mod.forecast(lead + h, paths=paths, seed=seed, shocks=z)
           for mod, z in zip(models, shocks, strict=True)]
    fcs = [replace(f, days=f.days[lead:], mean=f.mean[lead:], low=f.low[lead:],
                   high=f.high[lead:], paths=f.paths[:, lead:]) for f in fcs]
    done = [_daily(backend, cfg, m, goal, start, cut) if cut > start
            else pd.Series(dtype=float) for m in measures]
    past_days = list(done[0].index)
    # cumulative sums: the period's days so far, then each path's
    cum_done = [d.to_numpy().cumsum() for d in done]
    base = [float(c[-1]) if len(c) else 0.0 for c in cum_done]
    cum_paths = [b + f.paths.cumsum(axis=1) for b, f in zip(base, fcs, strict=True)]
    cum_mean = [b + f.mean.cumsum() for b, f in zip(base, fcs, strict=True)]
    def value(c: list[np.ndarray]) -> Any:  # the KPI from its cumulative measures
        return k.scale * c[0] if k.kind == "value" else k.evaluate(c[0], c[1])

    with np.errstate(all="ignore"):
        path_values = np.asarray(value(cum_paths), dtype=float)  # (paths, h)
        if k.kind == "ratio":  # a path whose denominator runs out has no ratio
            path_values = np.where(cum_paths[1] > 0, path_values, np.nan)
        mean_values = np.asarray(value(cum_mean), dtype=float)
        past_values = np.asarray(value(cum_done), dtype=float) if past_days else np.zeros(0)
    a = (1 - LEVEL) / 2
    with np.errstate(all="ignore"):
        low, high = np.nanquantile(path_values, [a, 1 - a], axis=0)
    traj = pd.concat([
        pd.DataFrame({"day": past_days, "actual": past_values, "mean": np.nan,
                      "low": np.nan, "high": np.nan}),
        pd.DataFrame({"day": list(fcs[0].days), "actual": np.nan, "mean": mean_values,
                      "low": low, "high": high})], ignore_index=True)
    return _Paths(float(mean_values[-1]), path_values[:, -1], traj, models[0].method,
                  fcs[0].mean)


def goal_forecast(backend: BaseBackend, cfg: Config, goal: Goal | str,
                  as_of: date | None = None, scenario: str | None = None, *,
                  method: str = "ets", paths: int = N_PATHS, seed: int = 0,
                  history_days: int = HISTORY_DAYS, needs: bool = True) -> GoalForecast:
    """The goal's KPI at the end of its period: actual to date, projection with its 80 %
    interval, the chance of each tier, the growth the decomposition's cells need (unless
    not ``needs``), and with ``scenario`` (``budget+10%``) the effect of a budget change
    (module notes)."""
    goal = find_goal(cfg, goal)
    k = _check_kpi(cfg, goal)
    change = parse_scenario(scenario) if scenario is not None else None
    last = data_end(backend)
    if as_of is not None and as_of > last:
        raise InputError(f"--as-of {as_of.isoformat()} is after the end of the data "
                         f"({last.isoformat()}); expected a day up to {last.isoformat()}")
    as_of = as_of or last
    status = goal_status(backend, cfg, goal, as_of)  # actual, tier; checks the direction
    p = parse_period(goal.period)
    cut = min(max(as_of, p.start), p.end)  # the period's days done end here
    known = min(as_of, cut)  # and the history the forecast may use
    h = (p.end - cut).days
    note, method_used, daily_mean, values = "", "none", None, None
    projection = low = high = probabilities = None
    trajectory = pd.DataFrame(columns=["day", "actual", "mean", "low", "high"])
    if h == 0:  # the period is over: the actual is the outcome
        method_used = "none (the period is over)"
        projection = low = high = status.actual
        if status.actual is not None:
            probabilities = _chances(np.array([status.actual]), goal)
    else:
        fc = _forecast_kpi(backend, cfg, k, goal, p.start, cut, p.end, method, paths, seed,
                           history_days, known)
        if fc is None:
            note = (f"not enough history to forecast: fewer than {MIN_DAYS} days with data "
                    f"before {known.isoformat()}")
        elif not np.isfinite(fc.values).any():
            note = "no forecast: every sample path's denominator runs out before the end"
        else:
            a = (1 - LEVEL) / 2
            values = fc.values[np.isfinite(fc.values)]
            method_used, projection, daily_mean = fc.method, fc.projection, fc.daily_mean
            low, high = (float(x) for x in np.quantile(values, [a, 1 - a]))
            probabilities = _chances(values, goal)
            trajectory = fc.trajectory
    cells = None
    d = cfg.decomposition
    if (needs and d is not None and d.goal == goal.name and p.grain == "year"
            and k.kind == "value"):
        cells = growth_needs(backend, cfg, goal, as_of, method=method,
                             history_days=history_days, forecast_mean=daily_mean)
    sc = None
    if change is not None:
        sc = scenario_effect(backend, goal, k, scenario, change, cut, h, projection, values)
    return GoalForecast(
        goal=goal.name, kpi=k.name, unit=k.unit, period=p.label, slice=status.slice,
        direction=goal.good_direction, as_of=as_of, days_left=h, method=method_used,
        actual=status.actual, tier=status.tier, projection=projection, low=low, high=high,
        projected_tier=tier_of(projection, goal) if projection is not None else "n/a",
        probabilities=probabilities, base=goal.base, target=goal.target,
        challenge=goal.challenge, note=note, trajectory=trajectory, needs=cells,
        scenario=sc)


def annual_forecast(backend: BaseBackend, cfg: Config, **kw: Any
                    ) -> tuple[GoalForecast, float | None] | None:
    """The forecast of the annual goal of ``[decomposition]`` (None without one) as of the
    end of the data; where the data already cover the whole year, as of the start of its
    last quarter (what the forecast said then), with the year's actual outcome beside it
    (else None). ``kw`` goes to ``goal_forecast``."""
    d = cfg.decomposition
    if d is None:
        return None
    goal = find_goal(cfg, d.goal)
    p = parse_period(goal.period)
    end = data_end(backend)
    if end < p.end or p.grain != "year":
        return goal_forecast(backend, cfg, goal, min(end, p.end), **kw), None
    as_of = date(p.start.year, 10, 1)
    return (goal_forecast(backend, cfg, goal, as_of, **kw),
            goal_status(backend, cfg, goal, p.end).actual)


# --------------------------------------------------------------------------- needs


def growth_needed(last: float, remaining: int, gap: float) -> tuple[str, float | None]:
    """The quarter-on-quarter growth ``g`` with ``last sum_{i=1..remaining} (1 + g)^i =
    gap`` (module notes), as ``(status, g)``: ('reached', None) when ``gap <= 0``, ('not
    reachable', None) with no quarter left or ``last <= 0``, else ('growth', g)."""
    if gap <= 0:
        return "reached", None
    if remaining <= 0 or last <= 0:
        return "not reachable", None

    def f(g: float) -> float:
        return last * sum((1 + g) ** i for i in range(1, remaining + 1)) - gap

    hi = 1.0
    while f(hi) < 0:
        hi *= 2
    return "growth", float(brentq(f, -1.0, hi, xtol=1e-12, rtol=1e-12))


def _proportions(backend: BaseBackend, cfg: Config, m: Any, goal: Goal, dim: str,
                 start: date, end: date) -> pd.Series:
    """Each ``dim`` value's share of the measure in the goal's slice over [start, end)."""
    by = sorted({*goal.slice, dim})
    t = compile_measure(m, backend, cfg, grain="day", by=by, start=_dt(start), end=_dt(end),
                        name="x")
    for d_, value in goal.slice.items():
        t = t.filter(t[d_] == value)
    df = t.group_by(dim).aggregate(x=t.x.sum()).execute()
    s = df.set_index(dim).x.astype(float)
    return s / s.sum() if s.sum() > 0 else s * 0.0


def growth_needs(backend: BaseBackend, cfg: Config, goal: Goal | str,
                 as_of: date | None = None, tier: str = "target", *, method: str = "ets",
                 history_days: int = HISTORY_DAYS,
                 forecast_mean: np.ndarray | None = None) -> pd.DataFrame:
    """Per market and per channel of ``[decomposition]`` (and the total, ``dim`` 'all'):
    the actual of each finished quarter, the current quarter's projection, and the
    quarter-on-quarter growth the rest of the year needs to reach the cell's share of the
    ``tier`` (module notes). ``forecast_mean``: the goal's daily forecast from ``as_of``
    when already made (else it is fitted here)."""
    d = cfg.decomposition
    if d is None:
        raise InputError("growthloop.toml has no [decomposition]; see `growthloop init`")
    goal = find_goal(cfg, goal)
    k = _check_kpi(cfg, goal)
    p = parse_period(goal.period)
    if p.grain != "year" or k.kind != "value":
        raise InputError(f"goal {goal.name!r}: the growth needed per quarter is for an "
                         "annual goal of a value KPI (e.g. new users in 2026)")
    if tier not in TIERS:
        raise InputError(f"tier {tier!r}: expected one of {', '.join(TIERS)}")
    as_of = as_of or data_end(backend)
    cut = min(max(as_of, p.start), p.end)
    year = p.start.year
    starts = [date(year, 3 * i + 1, 1) for i in range(4)] + [p.end]
    labels = [f"{year}-Q{i + 1}" for i in range(4)]
    current = next((i for i in range(4) if starts[i] <= cut < starts[i + 1]), 4)
    rest = (starts[current + 1] - cut).days if current < 4 else 0
    rest_total = 0.0  # the goal's forecast over the current quarter's remaining days
    if rest > 0:
        if forecast_mean is None:
            known = min(as_of, cut)  # the history never reaches past as_of
            lead = (cut - known).days
            hist = _history(backend, cfg, k.measure, goal, known, history_days)
            if len(hist) >= MIN_DAYS:  # the mean only: no level offset to calibrate
                forecast_mean = fit(hist, method, calibrated=False).forecast(
                    lead + rest, paths=1).mean[lead:]
        rest_total = (k.scale * float(np.sum(forecast_mean[:rest]))
                      if forecast_mean is not None else math.nan)
    total = getattr(goal, tier)
    prop_start = cut - timedelta(weeks=HISTORY_WEEKS)  # top-down shares (FPP3 sec. 11.3)
    cells: list[tuple[str, str, float, list[float]]] = []
    for dim, shares in (("market", d.market_shares), ("channel", d.channel_shares)):
        by = sorted({*goal.slice, dim})
        t = compile_kpi(k, backend, cfg, grain="quarter", by=by, start=p.start,
                        end=max(cut, p.start)).execute()
        for d_, value in goal.slice.items():
            t = t[t[d_] == value]
        t["quarter"] = pd.to_datetime(t.period).dt.date
        props = (_proportions(backend, cfg, k.measure, goal, dim, prop_start, cut)
                 if rest > 0 else pd.Series(dtype=float))
        for seg, share in shares.items():
            cell = t[t[dim] == seg].groupby("quarter").value.sum()
            q = [float(cell.get(starts[i], 0.0)) if i <= current else math.nan
                 for i in range(4)]
            if rest > 0:
                q[current] += rest_total * float(props.get(seg, 0.0))
            cells.append((dim, seg, share, q))
    t = compile_kpi(k, backend, cfg, grain="quarter", by=sorted(goal.slice), start=p.start,
                    end=max(cut, p.start)).execute()
    for d_, value in goal.slice.items():
        t = t[t[d_] == value]
    cell = t.groupby(pd.to_datetime(t.period).dt.date).value.sum()
    q = [float(cell.get(starts[i], 0.0)) if i <= current else math.nan for i in range(4)]
    if rest > 0:
        q[current] += rest_total
    cells.insert(0, ("all", "all", 1.0, q))
    rows = []
    for dim, seg, share, q in cells:
        finished = float(sum(q[:current]))
        now = q[current] if current < 4 else 0.0
        target = total * share
        gap = target - finished - (0.0 if math.isnan(now) else now)
        status, g = (("no forecast", None) if math.isnan(now)
                     else growth_needed(now, 3 - current, gap))
        if status == "growth":
            status = "on plan" if g <= d.quarterly_growth + 1e-12 else "above plan"
        plan = quarter_plan(target, d.quarterly_growth)
        rows.append({"dim": dim, "segment": seg, "share": share, "target": target,
                     **dict(zip(labels, q, strict=True)), "finished": finished,
                     "current_quarter": labels[current] if current < 4 else None,
                     "current_plan": plan[current] if current < 4 else None,
                     "gap": max(gap, 0.0), "quarters_left": max(3 - current, 0),
                     "growth_needed": g, "plan_growth": d.quarterly_growth,
                     "status": status})
    out = pd.DataFrame(rows)
    out.attrs.update(tier=tier, as_of=as_of.isoformat(), quarters=labels)
    return out


# --------------------------------------------------------------------------- scenarios


def scenario_effect(backend: BaseBackend, goal: Goal, k: KPI, name: str, change: float,
                    start: date, days: int, projection: float | None = None,
                    values: np.ndarray | None = None) -> Scenario:
    """The change in the goal's KPI over ``days`` from ``start`` if every pair's spend
    moves by ``change`` (module notes), from the latest stored marketing-mix fit."""
    import duckdb

    from growthloop.decide.budget import _drawn, _horizon, _point, _response, make_curves
    from growthloop.warehouse.media_store import read_mmm

    con = getattr(backend, "con", None)
    hint = (f"scenario {name!r} needs a marketing-mix fit in the warehouse; run "
            "`growthloop mmm fit --by market` first")
    if con is None:
        raise InputError(hint)
    try:
        fit_ = read_mmm(con)
    except (InputError, duckdb.CatalogException):
        raise InputError(hint) from None
    outcome = str(fit_.meta["target"])
    grain = int(fit_.meta["grain_days"])
    curves = make_curves(fit_.point, fit_.draws, target=outcome)
    pairs = curves.table.index
    keep = np.ones(len(pairs), dtype=bool)
    other = sorted(set(goal.slice) - {"market", "channel"})
    for dim in ("market", "channel"):
        if dim in goal.slice:
            keep &= pairs.get_level_values(dim) == goal.slice[dim]
    now = curves.table.current.to_numpy()
    spend_now, spend_new = float(now[keep].sum()), float(now[keep].sum() * (1 + change))
    periods = max(1, math.ceil(days / grain)) if days > 0 else 0
    base = dict(name=name, change=change, model_version=fit_.version, outcome=outcome,
                spend_now=spend_now, spend_new=spend_new, grain_days=grain, periods=periods)
    why, applies = None, False
    if outcome != k.name:
        why = (f"the stored model's outcome is {outcome!r}, not the goal's KPI {k.name!r}: "
               f"a budget change moves {outcome}, and this goal only through it; fit the "
               f"model of {k.name} (`growthloop mmm fit --target {k.name}`) if it is a "
               "value KPI")
    elif other:
        why = f"the model has no {', '.join(other)}: the goal's slice cannot be matched"
    elif not keep.any():
        why = f"the model has no pair in the goal's slice ({goal.slice})"
    elif days == 0:
        why, applies = "the goal's period is over: nothing left to change", True
    if why is not None:
        return Scenario(**base, applies=applies, delta=None, delta_low=None,
                        delta_high=None, projection=None, probabilities=None, note=why)
    horizon = _horizon(periods)
    prorate = days / (periods * grain)
    point = _point(curves)
    diff = (_response(now * (1 + change), point, horizon)
            - _response(now, point, horizon))
    delta = float(diff[keep].sum()) * prorate * k.scale
    low = high = None
    drawn = _drawn(curves)
    if drawn is not None:
        diff = (_response(now * (1 + change), drawn, horizon)
                - _response(now, drawn, horizon))
        per_draw = diff[:, keep].sum(axis=1) * prorate * k.scale
        a = (1 - LEVEL) / 2
        low, high = (float(x) for x in np.quantile(per_draw, [a, 1 - a]))
    last = fit_.last_period + timedelta(days=grain)
    note = (f"every pair's spend per {grain}-day period {change:+.0%} for the "
            f"{periods} period(s) left, from the model's current spend and carry-over")
    if (start - last).days > 2 * grain:
        note += (f"; the fit ends {fit_.last_period.isoformat()}, "
                 f"{(start - last).days} days before the forecast starts: refit for "
                 "current carry-over")
    return Scenario(**base, applies=True, delta=delta, delta_low=low, delta_high=high,
                    projection=None if projection is None else projection + delta,
                    probabilities=None if values is None else _chances(values + delta, goal),
                    note=note)

