"""The plan's risk monitors: declared rules over catalog KPIs, per market (and channel).

Each monitor reads catalog KPIs by complete week (festival weeks left out: their
pushes are the season, not a risk) and gives a status (``ok``, ``warn``,
``alert`` or ``no data``) with the figure behind it; thresholds are the project's
``[risks]`` (``growthloop.core.config.RiskRules``):

- **cac**: cost per new customer (``cac``) and per sign-up (``cost_per_signup``, which
  moves first) by market and channel: the weekly trend over the last ``trend_weeks``
  (Theil-Sen slope of the log, Sen 1968, with its 90 % interval) and the recent level
  against ``cac_ceiling``; alert when the trend's interval lies above ``cac_trend`` a
  week, when the last four weeks stand above the weeks before by more than four weeks
  of that trend (a step, Welch's interval on the logs), or when the level passes the
  ceiling.
- **order value**: ``average_order_value`` by market, the same trend against
  ``aov_trend`` (a fall).
- **high-value churn**: among each market's high-value customers (the CLV tags), the
  share whose lifecycle stage is churned.
- **promotions**: the festivals' lift over the last year (actual over the ordinary-day
  expectation of ``revenue``, ``growthloop.models.anomaly``) against the same festival
  days a year before; an alert needs the lift down by ``festival_lift_drop`` and a
  festival day below its band (a shop still growing fast overstates last year's lift).
- **returns**: ``return_rate`` of the last four mature weeks against its ceiling and
  against the twelve weeks before.
- **fulfilment**: ``fulfilment_time`` of the last four mature weeks against the twelve
  before (difference with its 90 % interval), and what a day more of delivery does, from
  the data: the change in NPS points per day (an NPS answer against the delivery time
  of the respondent's latest delivered order) and in the 60-day repurchase probability
  of first orders, each a least-squares slope with its heteroskedasticity-robust (HC1)
  90 % interval (White 1980).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend
from scipy import stats

from growthloop.core.config import Config
from growthloop.decide.alerts import _as_ratio
from growthloop.decide.goals import data_end
from growthloop.metrics.compile import catalog, compile_kpi
from growthloop.metrics.sources import SourceCache, cached_sources
from growthloop.models.anomaly import bands, festival_keys

__all__ = ["RiskFinding", "delivery_effects", "risk_report", "slope_hc1"]

Z90 = float(stats.norm.ppf(0.95))
RECENT_WEEKS, BEFORE_WEEKS = 4, 12
REPURCHASE_DAYS = 60


@dataclass
class RiskFinding:
    """One monitor's verdict on one market (and channel)."""

    monitor: str
    kpi: str
    market: str
    channel: str | None
    status: str  # ok, warn, alert or no data
    value: float | None  # the figure judged (a trend per week, a level, a share, a change)
    low: float | None
    high: float | None
    threshold: float | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def slope_hc1(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope of y on x with its HC1-robust 90 % interval (White 1980)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        return math.nan, math.nan, math.nan
    xc = x - x.mean()
    b = float((xc * (y - y.mean())).sum() / (xc**2).sum())
    resid = y - y.mean() - b * xc
    var = n / (n - 2) * float((xc**2 * resid**2).sum()) / float((xc**2).sum()) ** 2
    half = Z90 * math.sqrt(var)
    return b, b - half, b + half


def _weekly(k, backend: BaseBackend, cfg: Config, by: list[str], start: dt.date,
            end: dt.date, cache: SourceCache) -> pd.DataFrame:
    df = compile_kpi(_as_ratio(k), backend, cfg, grain="week", by=by, start=start, end=end,
                     cache=cache).execute()
    df["period"] = pd.to_datetime(df.period).dt.date
    df = df[df.period + dt.timedelta(days=7 + k.maturity_days) <= end]
    weeks = sorted(set(df.period))
    festive = {w for w, key in zip(weeks, festival_keys(weeks, "week"), strict=True) if key}
    return df[~df.period.isin(festive)]  # a festival's push is the season, not a risk


def _trend(values: np.ndarray) -> tuple[float, float, float]:
    """Theil-Sen slope of log(values) per week, as a relative change, with 90 %."""
    v = np.asarray(values, float)
    ok = np.isfinite(v) & (v > 0)
    if ok.sum() < 4:
        return math.nan, math.nan, math.nan
    s, _, lo, hi = stats.theilslopes(np.log(v[ok]), np.flatnonzero(ok), alpha=0.90)
    return math.expm1(s), math.expm1(lo), math.expm1(hi)


def _step(values: np.ndarray) -> tuple[float, float, float]:
    """The last RECENT_WEEKS against the weeks before, as a relative change of the
    geometric means with its 90 % interval (Welch on the logs)."""
    v = np.log(np.asarray(values, float)[np.asarray(values, float) > 0])
    a, b = v[-RECENT_WEEKS:], v[:-RECENT_WEEKS]
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan, math.nan
    d = a.mean() - b.mean()
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return math.expm1(d), math.expm1(d - Z90 * se), math.expm1(d + Z90 * se)


def _trend_findings(monitor: str, k, df: pd.DataFrame, keys: list[str], weeks: int,
                    limit: float, ceiling: float | None) -> list[RiskFinding]:
    out = []
    for key, g in df.groupby(keys):
        key = key if isinstance(key, tuple) else (key,)
        g = g.sort_values("period").tail(weeks)
        market, channel = key[0], (key[1] if len(key) > 1 else None)
        s, lo, hi = _trend(g.value.to_numpy())
        level = float(g.value.tail(RECENT_WEEKS).mean()) if len(g) else math.nan
        if math.isnan(s):
            out.append(RiskFinding(monitor, k.name, market, channel, "no data", None, None,
                                   None, limit, f"fewer than 4 weeks with {k.name}"))
            continue
        rising = limit > 0
        beyond = lo > limit if rising else hi < limit
        over = ceiling is not None and level > ceiling
        significant = lo > 0 if rising else hi < 0
        step, step_lo, step_hi = _step(g.value.to_numpy())
        stepped = (step_lo > RECENT_WEEKS * limit if rising
                   else step_hi < RECENT_WEEKS * limit)
        status = "alert" if beyond or over or stepped else "warn" if significant else "ok"
        detail = (f"{k.name} {s:+.1%} a week (90 %: {lo:+.1%} to {hi:+.1%}) over "
                  f"{len(g)} weeks; last {RECENT_WEEKS} weeks {level:,.4g}, "
                  f"{step:+.0%} on the weeks before (90 %: {step_lo:+.0%} to {step_hi:+.0%})")
        if ceiling is not None:
            detail += f" against a ceiling of {ceiling:,.4g}"
        out.append(RiskFinding(monitor, k.name, market, channel, status, s, lo, hi, limit,
                               detail))
    return out


def _shift_findings(monitor: str, k, df: pd.DataFrame, *, ceiling: float | None,
                    rise: float | None, add: float | None) -> list[RiskFinding]:
    """The last RECENT_WEEKS against the BEFORE_WEEKS before, per market."""
    out = []
    for market, g in df.groupby("market"):
        g = g.sort_values("period")
        recent, before = g.tail(RECENT_WEEKS), g.iloc[-RECENT_WEEKS - BEFORE_WEEKS:-RECENT_WEEKS]
        if len(recent) < 2 or len(before) < 4:
            out.append(RiskFinding(monitor, k.name, market, None, "no data", None, None,
                                   None, ceiling, "fewer than 6 mature weeks"))
            continue
        r = float(recent.numerator.sum() / recent.denominator.sum()) * k.scale
        b = float(before.numerator.sum() / before.denominator.sum()) * k.scale
        se = math.sqrt(recent.value.var(ddof=1) / len(recent)
                       + before.value.var(ddof=1) / len(before))
        lo, hi = r - b - Z90 * se, r - b + Z90 * se
        if add is not None:  # an absolute rise (days)
            status = "alert" if r - b >= add and lo > 0 else "warn" if lo > 0 else "ok"
            detail = (f"{k.name} {r:.2f} in the last {len(recent)} weeks against {b:.2f} "
                      f"before ({r - b:+.2f}, 90 %: {lo:+.2f} to {hi:+.2f}; alert at "
                      f"+{add:g})")
            out.append(RiskFinding(monitor, k.name, market, None, status, r - b, lo, hi,
                                   add, detail))
            continue
        ratio = r / b if b > 0 else math.inf
        over = ceiling is not None and r > ceiling
        status = ("alert" if over or (rise is not None and ratio >= rise and lo > 0)
                  else "warn" if lo > 0 else "ok")
        detail = (f"{k.name} {r:.1%} in the last {len(recent)} weeks against {b:.1%} before "
                  f"({ratio:.2f} x; alert at {rise:g} x")
        detail += f" or above {ceiling:.0%})" if ceiling is not None else ")"
        out.append(RiskFinding(monitor, k.name, market, None, status, r, b, ratio, ceiling,
                               detail))
    return out


def _churn_findings(backend: BaseBackend, cfg: Config) -> list[RiskFinding]:
    rules = cfg.risks
    if "user_tags" not in backend.list_tables():
        return [RiskFinding("high-value churn", "user_tags", "all", None, "no data", None, None,
                            None, rules.high_value_churn_alert,
                            "no CLV tags yet: run growthloop value (or score)")]
    t = backend.table("user_tags")
    t = t.filter(t.high_value)
    df = t.group_by("market").aggregate(
        customers=t.count(), churned=(t.lifecycle_stage == "churned").sum()).execute()
    out = []
    for r in df.sort_values("market").to_dict("records"):
        share = float(r["churned"]) / r["customers"] if r["customers"] else math.nan
        if math.isnan(share):
            continue
        status = ("alert" if share > rules.high_value_churn_alert
                  else "warn" if share > rules.high_value_churn_warn else "ok")
        out.append(RiskFinding(
            "high-value churn", "lifecycle_stage", str(r["market"]), None, status, share, None,
            None, rules.high_value_churn_alert,
            f"{int(r['churned'])} of {int(r['customers'])} high-value customers churned "
            f"({share:.1%}; warn above {rules.high_value_churn_warn:.0%}, alert above "
            f"{rules.high_value_churn_alert:.0%})"))
    return out


def _promotion_findings(backend: BaseBackend, cfg: Config, start: dt.date, end: dt.date,
                        cache: SourceCache) -> list[RiskFinding]:
    """Each market's festivals of the last year: lift now against a year before."""
    k = catalog(cfg)["revenue"]
    df = compile_kpi(k, backend, cfg, grain="day", by=["market"], start=start, end=end,
                     cache=cache).execute()
    df["period"] = pd.to_datetime(df.period).dt.date
    out = []
    drop = cfg.risks.festival_lift_drop
    for market, g in df.groupby("market"):
        days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
        y = g.set_index("period").numerator.astype(float).reindex(days).fillna(0.0).to_numpy()
        b = bands(y, None, days, "day")
        fest_days = np.flatnonzero(b.festival & np.isfinite(b.low)
                                   & (np.array(days) >= end - dt.timedelta(days=365)))
        if not len(fest_days):
            continue
        last_year = [t for t in fest_days if np.isfinite(b.lift[t])]
        if not last_year:
            continue
        expected = float(b.expected[last_year].sum())
        actual = float(y[last_year].sum())
        # the ordinary expectation: expected / last year's lift, summed
        ordinary = float(np.nansum([_ordinary(b, t) for t in last_year]))
        if ordinary <= 0:
            continue
        lift_then, lift_now = expected / ordinary - 1, actual / ordinary - 1
        kept = lift_now / lift_then if lift_then > 0 else math.nan
        below = int(sum(b.alert[t] and y[t] < b.expected[t] for t in last_year))
        weak = np.isfinite(kept) and kept < 1 - drop
        status = "alert" if weak and below else "warn" if weak else "ok"
        out.append(RiskFinding(
            "promotions", "revenue", str(market), None, status, kept, lift_now, lift_then,
            1 - drop, f"festival days' revenue {lift_now:+.0%} over an ordinary day against "
                      f"{lift_then:+.0%} a year before ({len(last_year)} festival days, "
                      f"{below} below their band)"))
    return out


def _ordinary(b, t: int) -> float:
    """The ordinary-day expectation behind a festival day's: expected over its lift."""
    return float(b.expected[t] / b.lift[t]) if b.lift[t] > 0 else math.nan


def delivery_effects(backend: BaseBackend, as_of: dt.date) -> dict[str, dict[str, float]]:
    """Per extra day of delivery: the change in NPS points and in the 60-day repurchase
    probability of a first order, each with its 90 % interval (module notes)."""
    o = backend.table("orders")
    o = o.filter(o.delivered_ts.notnull())
    orders = o.select("user_id", "order_ts", "delivered_ts").execute()
    s = backend.table("surveys")
    surveys = s.filter(s.survey == "nps").select("user_id", "response_ts", "score").execute()
    out: dict[str, dict[str, float]] = {}
    orders["days"] = (orders.delivered_ts - orders.order_ts).dt.total_seconds() / 86_400
    if len(surveys) and len(orders):
        a = surveys.sort_values("response_ts")
        b = orders.sort_values("delivered_ts")[["user_id", "delivered_ts", "days"]]
        j = pd.merge_asof(a, b, left_on="response_ts", right_on="delivered_ts", by="user_id",
                          direction="backward").dropna(subset=["days"])
        point = np.where(j.score >= 9, 100.0, np.where(j.score <= 6, -100.0, 0.0))
        slope, lo, hi = slope_hc1(j.days.to_numpy(), point)
        out["nps_per_day"] = {"effect": slope, "low": lo, "high": hi, "n": float(len(j))}
    allo = backend.table("orders")
    allo = allo.filter(allo.status != "cancelled").select("user_id", "order_ts").execute()
    if len(allo):
        first = allo.groupby("user_id").order_ts.min().rename("first_ts")
        second = allo.merge(first, on="user_id")
        second = second[second.order_ts > second.first_ts].groupby("user_id").order_ts.min()
        f = orders.merge(first, left_on=["user_id", "order_ts"], right_on=["user_id",
                                                                           "first_ts"])
        horizon = pd.Timestamp(as_of) - pd.Timedelta(days=REPURCHASE_DAYS)
        f = f[f.order_ts < horizon]
        nxt = f.user_id.map(second)
        again = ((nxt - f.order_ts) <= pd.Timedelta(days=REPURCHASE_DAYS)).fillna(False)
        slope, lo, hi = slope_hc1(f.days.to_numpy(), again.to_numpy(float))
        out["repurchase_per_day"] = {"effect": slope, "low": lo, "high": hi,
                                     "n": float(len(f))}
    return out


def risk_report(backend: BaseBackend, cfg: Config, as_of: dt.date | None = None
                ) -> tuple[list[RiskFinding], dict[str, dict[str, float]]]:
    """Every monitor's findings on the data before ``as_of`` (default: its end), and the
    estimated effects of a day more of delivery."""
    as_of = as_of or data_end(backend)
    rules = cfg.risks
    cat = catalog(cfg)
    start = as_of - dt.timedelta(weeks=max(rules.trend_weeks, RECENT_WEEKS + BEFORE_WEEKS) + 6)
    findings: list[RiskFinding] = []
    with cached_sources(backend, cfg) as cache:
        for name in ("cac", "cost_per_signup"):
            df = _weekly(cat[name], backend, cfg, ["market", "channel"], start, as_of, cache)
            spent = df.groupby(["market", "channel"]).numerator.transform("sum") > 0
            df = df[(df.denominator > 0) & spent]  # channels with spend only
            findings += _trend_findings("cac", cat[name], df, ["market", "channel"],
                                        rules.trend_weeks, rules.cac_trend,
                                        rules.cac_ceiling if name == "cac" else None)
        aov = _weekly(cat["average_order_value"], backend, cfg, ["market"], start, as_of, cache)
        findings += _trend_findings("order value", cat["average_order_value"],
                                    aov[aov.denominator > 0], ["market"], rules.trend_weeks,
                                    rules.aov_trend, None)
        findings += _churn_findings(backend, cfg)
        findings += _promotion_findings(backend, cfg, as_of - dt.timedelta(days=760), as_of,
                                        cache)
        ret = _weekly(cat["return_rate"], backend, cfg, ["market"], start, as_of, cache)
        findings += _shift_findings("returns", cat["return_rate"], ret[ret.denominator > 0],
                                    ceiling=rules.return_rate_ceiling,
                                    rise=rules.return_rate_rise, add=None)
        ful = _weekly(cat["fulfilment_time"], backend, cfg, ["market"], start, as_of, cache)
        findings += _shift_findings("fulfilment", cat["fulfilment_time"],
                                    ful[ful.denominator > 0], ceiling=None, rise=None,
                                    add=rules.fulfilment_days)
    return findings, delivery_effects(backend, as_of)
