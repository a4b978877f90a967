"""Goals: three-tier acceptance, pacing with a seasonal projection, and decomposition.

A goal (``growthloop.core.config.Goal``) names a KPI, a period and the plan's tiers base,
target and challenge. Its status says where the KPI stands to date,
which tier it has reached, how far the next tier is, and where the period is heading.

Projection (additive KPIs and ratios of additive measures): each measure's remaining
days are forecast as ``level x weekday factor``, with the weekday factors and the level
taken from the last ``HISTORY_WEEKS`` complete weeks (a multiplicative seasonal naive
forecast, Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed.,
sec. 5.2). The 80 % interval combines the week-to-week noise of the remaining weeks
with the uncertainty of the level (the mean of the history weeks). Distinct counts,
means and growth KPIs are not additive over days and get no projection.

With ``people=True`` a goal's status and each decomposition cell carry ``people``, the
distinct people behind the KPI's cell (``growthloop.metrics.compile``), for small-cell
suppression in shared output (docs/privacy.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend
from scipy.special import ndtri

from growthloop.core.config import Config, Goal
from growthloop.core.errors import InputError
from growthloop.core.kpis import KPI, Measure
from growthloop.metrics.compile import catalog, compile_kpi, compile_measure

__all__ = [
    "HISTORY_WEEKS",
    "GoalStatus",
    "Period",
    "data_end",
    "decompose",
    "decomposition_by",
    "goal_report",
    "goal_status",
    "goals_frame",
    "parse_period",
    "quarter_plan",
    "tier_of",
]

HISTORY_WEEKS = 8
Z80 = float(ndtri(0.9))  # two-sided 80 % normal interval
TIERS = ("base", "target", "challenge")


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive
    grain: str
    label: str


def parse_period(text: str) -> Period:
    """``2026`` (year), ``2026-Q2`` (quarter) or ``2026-05`` (month)."""
    try:
        if len(text) == 4:
            y = int(text)
            return Period(date(y, 1, 1), date(y + 1, 1, 1), "year", text)
        y, rest = int(text[:4]), text[5:]
        if rest.startswith("Q"):
            q = int(rest[1:])
            if not 1 <= q <= 4:
                raise ValueError
            start = date(y, 3 * q - 2, 1)
            end = date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)
            return Period(start, end, "quarter", text)
        m = int(rest)
        end = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
        return Period(date(y, m, 1), end, "month", text)
    except (ValueError, IndexError):
        raise InputError(f"period {text!r}: expected a year (2026), a quarter (2026-Q2) or a "
                         "month (2026-05)") from None


def data_end(backend: BaseBackend) -> date:
    """The day after the last event or order in the warehouse (the 'as of' default)."""
    e, o = backend.table("events"), backend.table("orders")
    last = [e.event_ts.max().execute(), o.order_ts.max().execute()]
    last = [pd.Timestamp(x) for x in last if x is not None and not pd.isna(x)]
    if not last:
        raise InputError("the warehouse holds no events or orders yet; ingest data first")
    return (max(last) + pd.Timedelta(days=1)).date()


def tier_of(value: float | None, goal: Goal) -> str:
    """The highest tier ``value`` reaches: challenge, target, base or 'below base'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    up = goal.good_direction == "up"
    reached = "below base"
    for name in TIERS:
        bar = getattr(goal, name)
        if (value >= bar) if up else (value <= bar):
            reached = name
    return reached


@dataclass
class GoalStatus:
    """Where one goal stands on ``as_of`` (exclusive end of the data used)."""

    goal: str
    kpi: str
    period: str
    slice: str
    as_of: date
    elapsed: float  # share of the period's days before as_of
    actual: float | None
    tier: str
    next_tier: str | None
    gap: float | None  # how much the KPI must still move (in its good direction)
    projection: float | None
    low: float | None
    high: float | None
    projected_tier: str
    base: float
    target: float
    challenge: float
    people: int | None = None  # behind the actual (with people=True; None: not asked)

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat()
        return d


def _additive(m: Measure | None) -> bool:
    return m is not None and m.agg in ("count", "sum") and m.cumulative is None


def _kpi_row(backend: BaseBackend, cfg: Config, k: KPI, goal: Goal, grain: str,
             start: date, end: date, people: bool = False) -> pd.Series | None:
    by = sorted(goal.slice)
    df = compile_kpi(k, backend, cfg, grain=grain, by=by, start=start, end=end,
                     people=people).execute()
    for dim, value in goal.slice.items():
        df = df[df[dim] == value]
    if df.empty:
        return None
    if len(df) > 1:  # the period spans grains only for growth KPIs; take the last one
        df = df.tail(1)
    return df.iloc[0]


def _daily(backend: BaseBackend, cfg: Config, m: Measure, goal: Goal, start: date,
           end: date) -> pd.Series:
    by = sorted(goal.slice)
    t = compile_measure(m, backend, cfg, grain="day", by=by, start=_dt(start), end=_dt(end),
                        name="x")
    for dim, value in goal.slice.items():
        t = t.filter(t[dim] == value)
    df = t.group_by("period").aggregate(x=t.x.sum()).execute()
    s = pd.Series(df.x.astype(float).values, index=pd.to_datetime(df.period).dt.date)
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    return s.reindex(days, fill_value=0.0)


def _dt(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


@dataclass(frozen=True)
class _Forecast:
    total: float  # forecast sum over the remaining days
    sd: float
    weekly: np.ndarray  # history weekly totals


def _forecast(history: pd.Series, remaining_days: list[date]) -> _Forecast:
    """Seasonal-naive forecast of a daily series over ``remaining_days`` (module docstring)."""
    x = history.to_numpy()
    weekdays = np.array([d.weekday() for d in history.index])
    mean = x.mean() if len(x) else 0.0
    factors = np.ones(7)
    if mean > 0:
        for w in range(7):
            sel = weekdays == w
            if sel.any():
                factors[w] = x[sel].mean() / mean
    recent = x[-28:]
    rw = weekdays[-28:]
    level = recent.mean() / factors[rw].mean() if len(recent) and factors[rw].mean() > 0 else 0
    total = float(sum(level * factors[d.weekday()] for d in remaining_days))
    n_weeks = len(x) // 7
    weekly = x[len(x) - 7 * n_weeks:].reshape(n_weeks, 7).sum(axis=1) if n_weeks else np.zeros(0)
    w_rem = len(remaining_days) / 7
    if n_weeks >= 2 and w_rem > 0:
        sd_week = float(np.std(weekly, ddof=1))
        sd = math.sqrt(w_rem) * sd_week + w_rem * sd_week / math.sqrt(n_weeks)
    else:
        sd = float("nan")
    return _Forecast(total, sd, weekly)


def goal_status(backend: BaseBackend, cfg: Config, goal: Goal,
                as_of: date | None = None, people: bool = False) -> GoalStatus:
    """Actual to date, tier, gap to the next tier and projection to the period's end
    (and with ``people`` the distinct people behind the actual)."""
    cat = catalog(cfg)
    if goal.kpi not in cat:
        raise InputError(f"goal {goal.name!r}: unknown KPI {goal.kpi!r}; expected one of: "
                         f"{', '.join(sorted(cat))}")
    k = cat[goal.kpi]
    if goal.direction is None and goal.good_direction != k.direction and \
            goal.base != goal.challenge:
        raise InputError(f"goal {goal.name!r}: tiers run {goal.good_direction} but "
                         f"{k.name} is better {k.direction}; reorder the tiers or set direction")
    p = parse_period(goal.period)
    as_of = as_of or data_end(backend)
    cut = min(max(as_of, p.start), p.end)
    elapsed = (cut - p.start).days / (p.end - p.start).days
    row = (_kpi_row(backend, cfg, k, goal, p.grain, p.start, cut, people)
           if cut > p.start else None)
    actual = None if row is None or pd.isna(row["value"]) else float(row["value"])
    tier = tier_of(actual, goal)
    nxt = None if tier in ("challenge", "no data") else (
        "base" if tier == "below base" else TIERS[TIERS.index(tier) + 1])
    gap = None
    if nxt is not None and actual is not None:
        gap = getattr(goal, nxt) - actual
        gap = gap if goal.good_direction == "up" else -gap

    projection = low = high = None
    remaining = [cut + timedelta(days=i) for i in range((p.end - cut).days)]
    hist_start = max(p.start, cut - timedelta(weeks=HISTORY_WEEKS)) if cut > p.start else cut
    if not remaining:
        projection, low, high = actual, actual, actual
    elif actual is not None and (cut - hist_start).days >= 14 and (
        (k.kind == "value" and _additive(k.measure))
        or (k.kind == "ratio" and _additive(k.numerator) and _additive(k.denominator))
    ):
        if k.kind == "value":
            f = _forecast(_daily(backend, cfg, k.measure, goal, hist_start, cut), remaining)
            projection = actual + k.scale * f.total
            half = Z80 * k.scale * f.sd
        else:
            fn = _forecast(_daily(backend, cfg, k.numerator, goal, hist_start, cut), remaining)
            fd = _forecast(_daily(backend, cfg, k.denominator, goal, hist_start, cut),
                           remaining)
            n_done, d_done = float(row["numerator"]), float(row["denominator"])
            d_total = d_done + fd.total
            projection = k.scale * (n_done + fn.total) / d_total if d_total > 0 else None
            ok = (fd.weekly > 0)
            ratios = fn.weekly[ok] / fd.weekly[ok]
            w_rem = len(remaining) / 7
            if projection is not None and len(ratios) >= 2:
                sd_r = float(np.std(ratios, ddof=1)) * math.sqrt(1 / max(w_rem, 1)
                                                                 + 1 / len(ratios))
                half = Z80 * k.scale * (fd.total / d_total) * sd_r
            else:
                half = float("nan")
        if projection is not None and not math.isnan(half):
            low, high = projection - half, projection + half
    return GoalStatus(
        goal=goal.name, kpi=k.name, period=p.label,
        slice=", ".join(f"{d}={v}" for d, v in sorted(goal.slice.items())) or "all",
        as_of=as_of, elapsed=elapsed, actual=actual, tier=tier, next_tier=nxt, gap=gap,
        projection=projection, low=low, high=high,
        projected_tier=tier_of(projection, goal) if projection is not None else "n/a",
        base=goal.base, target=goal.target, challenge=goal.challenge,
        people=None if not people else 0 if row is None or pd.isna(row["people"])
        else int(row["people"]),
    )


def goals_frame(backend: BaseBackend, cfg: Config, as_of: date | None = None,
                people: bool = False) -> pd.DataFrame:
    """The status of every goal in the project file, one row each (``people``: with the
    column ``people``)."""
    if not cfg.goals:
        raise InputError("growthloop.toml has no [[goals]]; add one (see `growthloop init`)")
    as_of = as_of or data_end(backend)
    df = pd.DataFrame([goal_status(backend, cfg, g, as_of, people).as_dict()
                       for g in cfg.goals])
    return df if people else df.drop(columns="people")


def quarter_plan(total: float, growth: float) -> list[float]:
    """Split an annual total into four quarters, each ``1 + growth`` times the last.

    q1 (1 + g + g^2 + g^3) = total with g = 1 + growth (by default +8 % a quarter).
    """
    g = 1 + growth
    q1 = total / sum(g**i for i in range(4))
    return [q1 * g**i for i in range(4)]


def decompose(backend: BaseBackend, cfg: Config, tier: str = "target",
              as_of: date | None = None, people: bool = False) -> pd.DataFrame:
    """Plan vs actual per quarter x market x channel for the configured annual goal.

    The goal's ``tier`` value is split into quarters (``quarter_plan``), then into markets
    and channels by the configured shares; ``actual`` is the goal's KPI in each cell,
    counted up to ``as_of`` (default: the end of the data); ``people`` (with
    ``people=True``) the distinct people behind it.
    """
    d = cfg.decomposition
    if d is None:
        raise InputError("growthloop.toml has no [decomposition]; see `growthloop init`")
    goal = next(g for g in cfg.goals if g.name == d.goal)
    p = parse_period(goal.period)
    if p.grain != "year":
        raise InputError(f"decomposition.goal {goal.name!r} has period {goal.period!r}; "
                         "expected an annual goal (e.g. 2026)")
    quarters = quarter_plan(getattr(goal, tier), d.quarterly_growth)
    rows = []
    for qi, qplan in enumerate(quarters):
        qstart = date(p.start.year, 3 * qi + 1, 1)
        for m, ms in d.market_shares.items():
            for c, cs in d.channel_shares.items():
                rows.append({"quarter": f"{p.start.year}-Q{qi + 1}", "quarter_start": qstart,
                             "market": m, "channel": c, "plan": qplan * ms * cs})
    plan = pd.DataFrame(rows)
    end = min(p.end, as_of or data_end(backend))
    t = compile_kpi(goal.kpi, backend, cfg, grain="quarter", by=["market", "channel"],
                    start=p.start, end=max(end, p.start), people=people)
    actual = t.execute()
    actual["quarter_start"] = pd.to_datetime(actual.period).dt.date
    cols = ["quarter_start", "market", "channel", "value", *(["people"] if people else [])]
    out = plan.merge(actual[cols], on=["quarter_start", "market", "channel"], how="left")
    out = out.rename(columns={"value": "actual"}).drop(columns="quarter_start")
    out["actual"] = out.actual.fillna(0.0)
    if people:
        out["people"] = out.people.fillna(0).astype("int64")
    out["attainment"] = out.actual / out.plan.where(out.plan > 0)
    return out


def decomposition_by(dec: pd.DataFrame, dim: str) -> pd.DataFrame:
    """``decompose`` output summed to quarter x ``dim`` (market or channel): ``plan``,
    ``actual`` and ``attainment`` (actual / plan), and ``people`` when ``dec`` has it: the
    sum over the cells, the distinct people when each person is in one cell, as for the
    new-user goal (one sign-up market and acquisition channel per user)."""
    if dim not in ("market", "channel"):
        raise InputError(f"decomposition by {dim!r}: expected market or channel")
    sums = ["plan", "actual", *(["people"] if "people" in dec.columns else [])]
    piv = dec.groupby(["quarter", dim])[sums].sum().reset_index()
    piv["attainment"] = piv.actual / piv.plan.where(piv.plan > 0)
    return piv


def goal_report(backend: BaseBackend, cfg: Config, as_of: date | None = None,
                people: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Every goal's status and, when the project declares one, the decomposition (with
    ``people``: the people behind each number, for shared output)."""
    df = goals_frame(backend, cfg, as_of, people)
    return df, (decompose(backend, cfg, as_of=as_of, people=people) if cfg.decomposition
                else None)


