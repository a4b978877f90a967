"""What ``growthloop forecast`` prints and draws: a goal's projection with its 80 %
interval and tier chances, the quarter-on-quarter growth each market and channel still
needs, the budget scenario's effect, and the chart of the KPI's path to the period's end.

Each function takes a ``growthloop.decide.forecast.GoalForecast`` and computes no number.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape

from growthloop.report.format import MISSING, is_missing, number
from growthloop.report.layout import Col, emit, paragraph

__all__ = ["forecast_figure", "print_forecast"]

_STATUS_STYLE = {"reached": "green", "on plan": "green", "above plan": "yellow",
                 "not reachable": "red", "no forecast": "red"}


def _pct(v: Any) -> str:
    return MISSING if is_missing(v) else f"{v:.0%}"


def _growth(v: Any) -> str:
    return MISSING if is_missing(v) else f"{v:+.1%}"


def print_forecast(out: Console, fc: Any, outcome: float | None = None) -> None:
    """The forecast, the growth needed per market and channel and the scenario; with
    ``outcome`` (the period's actual, known later) beside the projection."""
    u = fc.unit
    interval = (MISSING if is_missing(fc.low) else
                f"{number(fc.low, u)} to {number(fc.high, u)}")
    probs = fc.probabilities or {}
    sliced = fc.slice != "all"
    cols = [Col("goal", False), *([Col("slice", False)] if sliced else []),
            Col("days left"), Col("actual"), Col("projection"),
            Col(f"{fc.level:.0%} interval", False), Col("proj. tier", False),
            Col("P(base)"), Col("P(target)"), Col("P(challenge)")]
    row = [escape(fc.goal), *([escape(fc.slice)] if sliced else []),
           number(fc.days_left, "int"), number(fc.actual, u), number(fc.projection, u),
           interval, fc.projected_tier,
           *[_pct(probs.get(t)) for t in ("base", "target", "challenge")]]
    better = "at or above" if fc.direction == "up" else "at or below"
    emit(out, f"Forecast of {fc.kpi} for {fc.period} as of {fc.as_of.isoformat()} "
              f"({fc.method})", cols, [row], keys=1 + sliced, legend=[
        f"projection: the KPI at the period's end, the actual to date plus the forecast "
        f"of the days left; interval: {fc.level:.0%} of the sample paths end inside it",
        f"P(tier): the share of paths that end {better} the tier (base "
        f"{number(fc.base, u)}, target {number(fc.target, u)}, challenge "
        f"{number(fc.challenge, u)})"])
    if fc.note:
        paragraph(out, fc.note)
    if outcome is not None:
        inside = (not is_missing(fc.low) and fc.low <= outcome <= fc.high)
        paragraph(out, f"{fc.period} ended at {number(outcome, u)}: "
                       f"{'inside' if inside else 'outside'} the {fc.level:.0%} interval "
                       f"forecast as of {fc.as_of.isoformat()}")
    if fc.needs is not None and len(fc.needs):
        _print_needs(out, fc.needs, u)
    if fc.scenario is not None:
        _print_scenario(out, fc.scenario, u)


def _print_needs(out: Console, needs: pd.DataFrame, unit: str) -> None:
    quarters = needs.attrs.get("quarters") or [c for c in needs.columns if "-Q" in str(c)]
    current = needs.current_quarter.dropna()
    now = current.iloc[0] if len(current) else None
    quarters = quarters if now is None else quarters[:quarters.index(now) + 1]  # not ahead
    cols = [Col("cell", False), Col("target"),
            *[Col(q + (" (proj.)" if q == now else "")) for q in quarters],
            Col("plan now"), Col("gap"), Col("growth q/q"), Col("status", False)]
    rows = []
    for r in needs.to_dict(orient="records"):
        cell = "all" if r["dim"] == "all" else f"{r['dim']} {r['segment']}"
        style = _STATUS_STYLE.get(r["status"])
        status = escape(r["status"]) if style is None else f"[{style}]{escape(r['status'])}[/]"
        rows.append([escape(cell), number(r["target"], unit),
                     *[number(r[q], unit) for q in quarters],
                     number(r["current_plan"], unit), number(r["gap"], unit),
                     _growth(r["growth_needed"]), status])
    tier = needs.attrs.get("tier", "target")
    growth = needs.plan_growth.iloc[0]
    emit(out, f"Growth each quarter left needs to reach the {tier} tier, per market and "
              "channel", cols, rows, legend=[
                  f"target: the cell's share of the {tier}; quarters: actual, the current "
                  "one projected (actual to date + forecast); plan now: the plan's figure "
                  f"for the current quarter (+{growth:.0%} a quarter)",
                  "growth q/q: what each quarter after the current one must grow over "
                  f"the last to close the gap; on plan: at most the plan's +{growth:.0%}"])


def _print_scenario(out: Console, sc: Any, unit: str) -> None:
    if not sc.applies or sc.delta is None:
        paragraph(out, f"Scenario {sc.name}: {sc.note}")
        return
    band = ("" if is_missing(sc.delta_low) else
            f" ({number(sc.delta_low, unit)} to {number(sc.delta_high, unit)})")
    cols = [Col("scenario", False), Col("spend / period now"), Col("with change"),
            Col("KPI change"), Col("interval", False), Col("projection"),
            Col("P(target)")]
    probs = sc.probabilities or {}
    rows = [[sc.name, number(sc.spend_now), number(sc.spend_new),
             f"{'+' if sc.delta >= 0 else ''}{number(sc.delta, unit)}",
             band.strip(" ()") or MISSING, number(sc.projection, unit),
             _pct(probs.get("target"))]]
    emit(out, f"Scenario {sc.name}: the rest of the period with every pair's spend "
              f"{sc.change:+.0%} (model {sc.model_version})", cols, rows,
         legend=[f"KPI change: {sc.outcome} from the fitted response curves over "
                 f"{sc.periods} period(s) of {sc.grain_days} days, with carry-over; "
                 "interval: over the model's posterior draws", escape(sc.note)])


def forecast_figure(fc: Any) -> Any:
    """A Plotly figure of the KPI over the goal's period: the actual to date, the
    forecast, its 80 % band and the tier lines (``report.charts.write_html`` writes it)."""
    import plotly.graph_objects as go

    t = fc.trajectory
    fig = go.Figure()
    past = t[t.actual.notna()]
    ahead = t[t["mean"].notna()]
    if len(ahead):
        fig.add_trace(go.Scatter(x=list(ahead.day) + list(ahead.day)[::-1],
                                 y=list(ahead.high) + list(ahead.low)[::-1], fill="toself",
                                 fillcolor="rgba(31,119,180,0.18)", line={"width": 0},
                                 name=f"{fc.level:.0%} interval", hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=ahead.day, y=ahead["mean"], mode="lines",
                                 line={"dash": "dash", "color": "#1f77b4"}, name="forecast"))
    if len(past):
        fig.add_trace(go.Scatter(x=past.day, y=past.actual, mode="lines",
                                 line={"color": "#333"}, name="actual"))
    # labels at different corners: close tiers would print over one another
    for tier, color, where in (("base", "#d62728", "bottom right"),
                               ("target", "#ff7f0e", "top left"),
                               ("challenge", "#2ca02c", "top right")):
        p = (fc.probabilities or {}).get(tier)
        label = tier + ("" if p is None else f" (P {p:.0%})")
        fig.add_hline(y=getattr(fc, tier), line_dash="dot", line_color=color,
                      annotation_text=label, annotation_position=where)
    fig.update_layout(
        title=f"{fc.kpi} for {fc.period} ({fc.slice}): to date and forecast as of "
              f"{fc.as_of.isoformat()}",
        xaxis_title="day", yaxis_title=f"{fc.kpi} to the day (period so far)",
        template="plotly_white")
    return fig
