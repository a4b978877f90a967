"""What the marketing-mix commands print and draw: the channel table with intervals and
the fit's diagnostics, and response curves as a standalone HTML chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from growthloop.report.charts import write_html
from growthloop.report.format import number
from growthloop.report.layout import Col, emit, paragraph

__all__ = ["print_budget", "print_loop", "print_mmm", "response_chart"]


def _interval(lo: float, hi: float) -> str:
    return f"{number(lo)}-{number(hi)}"


def print_mmm(out: Console, table: pd.DataFrame, diagnostics: Mapping[str, Any], *,
              target: str, currency: str | None, version: str | None = None) -> None:
    """The channel table of ``growthloop.decide.media.fit_mmm`` (or of a stored fit,
    ``version``) and one line of fit diagnostics."""
    level = table.attrs.get("level", 0.9)
    money = "roas" in table.columns
    per = "ROAS" if money else f"{target} per {currency or 'unit'}"
    cols = [Col("market", False), Col("channel", False), Col("spend"), Col("share"),
            Col("per spend"), Col(f"{level:.0%} interval"), Col("marginal"),
            Col("half-life d")]
    rows = [[r.market, r.channel, number(r.spend), f"{r.contribution_share:.1%}",
             number(r.per_spend), _interval(r.per_spend_low, r.per_spend_high),
             number(r.marginal_per_spend), number(r.half_life_days)]
            for r in table.itertuples(index=False)]
    title = f"Marketing-mix model: {target} caused by each channel's spend"
    emit(out, title + (f" (model {version})" if version else ""), cols, rows,
         keys=2, legend=[
             f"per spend: {per} (the channel's contribution / its spend), with its "
             f"{level:.0%} interval; marginal: the same for the next 1 % of spend",
             "share: the channel's share of the outcome; half-life d: days until a unit "
             "of spend keeps half its effect"])
    d = diagnostics
    parts = [f"fit: {d.get('method', '?')}", f"{d.get('seconds', 0):.1f} s",
             f"R2 {d.get('r2', float('nan')):.2f}", f"WAPE {d.get('wape', float('nan')):.1%}"]
    if "holdout_wape" in d:
        parts.append(f"holdout WAPE {d['holdout_wape']:.1%}")
    if "r_hat_max" in d:
        parts += [f"R-hat max {d['r_hat_max']:.3f}", f"divergences {d['divergences']}"]
    if d.get("method") == "map":
        parts.append("converged" if d.get("converged") else "NOT converged")
    paragraph(out, "; ".join(parts))


def print_budget(out: Console, plan: Any, *, target: str, currency: str | None,
                 start: Any = None) -> None:
    """A ``growthloop.decide.budget.BudgetPlan``: spend per pair now and planned, the
    expected outcome of both plans with intervals, and the constraints that bind."""
    t = plan.table
    cols = [Col("market", False), Col("channel", False), Col("current"), Col("planned"),
            Col("change"), Col("marginal"), Col("binds", False)]
    rows = [[r.market, r.channel, number(r.current), number(r.planned),
             f"{r.change_share:+.0%}" if r.current > 0 else "new", number(r.marginal),
             r.binds or "-"] for r in t.itertuples(index=False)]
    money = f" ({currency})" if currency else ""
    when = f" from {start}" if start is not None else ""
    emit(out, f"Budget for the period{when}{money}: spend per market and channel", cols,
         rows,
         keys=2, legend=[f"marginal: {target} from the next unit of spend at the plan",
                         "binds: the pair's own limits the plan reaches (step_up, "
                         "step_down, pair_max, roi_floor, ...)"])
    tot = plan.totals
    cols = [Col("plan", False), Col("spend"), Col(target), Col("interval")]
    rows = [[str(name), number(r.spend), number(r.outcome),
             _interval(r.outcome_low, r.outcome_high)] for name, r in tot.iterrows()]
    emit(out, f"Expected {target} per period, current plan against the new one", cols, rows,
         legend="interval: over the model's posterior draws (the change row: of the "
                "per-draw difference)")
    parts = [f"binding: {', '.join(plan.binding) or 'none'}",
             f"exploration reserve {number(plan.exploration)}",
             f"P(better) {plan.probability_better:.0%}"]
    if plan.unallocated > 0:
        parts.append(f"unallocated {number(plan.unallocated)}")
    paragraph(out, "; ".join(parts))


def print_loop(out: Console, steps: Sequence[Any], *, target: str,
               currency: str | None) -> None:
    """Steps of ``growthloop.decide.loop.run_loop``: one line per step, then the last
    step's channel checks and its plan with the reason of each change."""
    cols = [Col("as of", False), Col("model", False), Col("flagged", False),
            Col("spend now"), Col("planned"), Col(f"{target} change")]
    rows = []
    for s in steps:
        tot = s.plan.totals
        flagged = ", ".join(f"{m}/{c}" for m, c in s.flagged) or "-"
        rows.append([str(s.as_of), s.fit.version.rsplit("/", 1)[-1]
                     + (" (refitted)" if s.refitted else ""), flagged,
                     number(tot.spend["current"]), number(tot.spend["plan"]),
                     f"{number(tot.outcome['change'])}"])
    emit(out, f"Re-allocation loop ({steps[-1].cadence})", cols, rows, legend=(
        "flagged: pairs whose observed return left the model's expectation; "
        f"{target} change: expected per week, the plan against the current spend"))
    last = steps[-1]
    p = last.performance
    cols = [Col("market", False), Col("channel", False), Col("observed"), Col("expected"),
            Col("ratio"), Col("z")]
    rows = [[r.market, r.channel, number(r.observed), number(r.expected),
             f"{r.performance:.2f}", f"{r.z:+.1f}" + (" shifted" if r.shifted else "")]
            for r in p.itertuples(index=False)]
    emit(out, f"Channel checks at {last.as_of}: {target} credited to each channel against "
              "the model's expectation", cols, rows, keys=2)
    t = last.plan.table
    money = f" ({currency})" if currency else ""
    cols = [Col("market", False), Col("channel", False), Col("current"), Col("planned"),
            Col("reason", False)]
    rows = [[r.market, r.channel, number(r.current), number(r.planned),
             last.reasons.loc[(r.market, r.channel)]] for r in t.itertuples(index=False)]
    emit(out, f"Plan per week from {last.as_of}{money}", cols, rows, keys=2)


def response_chart(curves: pd.DataFrame, path: str | Path, *, target: str) -> Path:
    """Response curves (``growthloop.decide.media.response_curves``), one panel per
    market, a line per channel and a dot at its mean spend."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    markets = list(dict.fromkeys(curves.market))
    channels = list(dict.fromkeys(curves.channel))
    fig = make_subplots(rows=len(markets), cols=1, subplot_titles=markets,
                        vertical_spacing=min(0.08, 0.5 / max(len(markets), 1)))
    for i, m in enumerate(markets, start=1):
        for j, c in enumerate(channels):
            t = curves[(curves.market == m) & (curves.channel == c)]
            color = qualitative.Plotly[j % len(qualitative.Plotly)]
            fig.add_trace(go.Scatter(x=t.spend, y=t.outcome, mode="lines", name=c,
                                     legendgroup=c, showlegend=i == 1,
                                     line={"color": color}), row=i, col=1)
            mean = float(t.mean_spend.iloc[0])
            fig.add_trace(go.Scatter(x=[mean], y=[float(t.mean_outcome.iloc[0])],
                                     mode="markers",
                                     marker={"color": color, "size": 9}, legendgroup=c,
                                     showlegend=False, hovertemplate="mean spend %{x:,.0f}"),
                          row=i, col=1)
    fig.update_layout(title=f"Response curves: {target} per period at a constant spend",
                      template="plotly_white", height=max(320, 260 * len(markets)))
    return write_html(fig, path)
