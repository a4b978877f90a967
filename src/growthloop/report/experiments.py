"""What the experiment commands print: each analysis's verdict with its reason, the
sample-ratio check and the effect per metric (and per market for the primary), and the
sample-size plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from rich.console import Console

from growthloop.report.format import number
from growthloop.report.layout import Col, emit, paragraph

__all__ = ["print_knowledge", "print_plan", "print_result", "print_verdicts"]


def _pct(x: float) -> str:
    return f"{x:+.1%}" if np.isfinite(x) else "-"


def _band(lo: float, hi: float) -> str:
    return f"{_pct(lo)} to {_pct(hi)}" if np.isfinite(lo) and np.isfinite(hi) else "-"


def print_result(out: Console, result: Any) -> None:
    """A ``growthloop.decide.experiments.ExperimentResult``."""
    r = result
    paragraph(out, f"{r.experiment_id}: {r.verdict.upper()}", "bold")
    paragraph(out, r.reason)
    counts = ", ".join(f"{v} {number(n)}" for v, n in r.counts.items())
    paragraph(out, f"units: {counts}; sample-ratio check p = {r.srm_p:.3g}"
                   + (" (mismatch)" if r.verdict == "invalid" else ""))
    t = r.rows
    top = t[t.segment == "all"]
    cols = [Col("metric", False), Col("role", False), Col("variant", False),
            Col("control"), Col("variant mean"), Col("lift"), Col("interval", False),
            Col("CUPED lift"), Col("var. red."), Col("P(win)"), Col("always valid", False),
            Col("adj. p")]
    rows = [[x.metric, x.role, x.variant, number(x.mean_control), number(x.mean_variant),
             _pct(x.lift), _band(x.lift_low, x.lift_high), _pct(x.cuped_lift),
             f"{x.variance_reduction:.0%}" if np.isfinite(x.variance_reduction) else "-",
             f"{x.chance_to_win:.0%}", _band(x.seq_low, x.seq_high), f"{x.p_adjusted:.3g}"]
            for x in top.itertuples(index=False)]
    emit(out, f"Effects over all units of {r.experiment_id}", cols, rows, keys=3, legend=[
        "lift: variant / control - 1 with its Welch interval (delta method for ratios); "
        "CUPED: adjusted by the pre-period, var. red.: its variance reduction",
        "P(win): posterior chance the variant is better; always valid: the sequential "
        "interval, valid whenever read; adj. p: the decision p-value after the "
        f"{r.settings.get('correction', 'holm')} correction"])
    seg = t[(t.segment != "all") & (t.role == "primary")]
    if len(seg):
        cols = [Col("market", False), Col("variant", False), Col("units"), Col("lift"),
                Col("interval", False), Col("adj. p")]
        rows = [[x.segment, x.variant, number(x.n_control + x.n_variant), _pct(x.lift),
                 _band(x.lift_low, x.lift_high), f"{x.p_adjusted:.3g}"]
                for x in seg.itertuples(index=False)]
        emit(out, f"{top[top.role == 'primary'].metric.iloc[0]} per market", cols, rows,
             keys=2)


def print_plan(out: Console, plan: Mapping[str, Any]) -> None:
    """The dictionary of ``growthloop.decide.experiments.plan_experiment``."""
    what = ("a rate of " + f"{plan['baseline']:.2%}" if plan["sd"] is None else
            f"a mean of {number(plan['baseline'])} (sd {number(plan['sd'])})")
    lines = [f"baseline: {what}; alpha {plan['alpha']:g}, power {plan['power']:.0%}, "
             f"{plan['treatment_share']:.0%} of units treated"]
    if "units_fixed" in plan:
        lines.append(f"to detect {plan['relative_mde']:+.1%}: {number(plan['units_fixed'])} "
                     f"units ({number(plan['control_units_fixed'])} control, "
                     f"{number(plan['treatment_units_fixed'])} treatment) read once at the "
                     f"end; {number(plan['units_sequential'])} "
                     f"({plan['sequential_cost']:.2f}x) to read it at will"
                     + (f" over {plan['looks']} planned looks" if plan.get("looks") else ""))
    if "detectable_effect" in plan:
        lines.append(f"with {number(plan['units'])} units: the smallest detectable effect is "
                     f"{plan['detectable_effect']:+.1%}")
    if "power_at_mde" in plan:
        lines.append(f"power to detect {plan['relative_mde']:+.1%} with them: "
                     f"{plan['power_at_mde']:.0%}")
    for line in lines:
        paragraph(out, line)


def print_verdicts(out: Console, results: Any) -> None:
    """One line per experiment: its verdict and the reason."""
    cols = [Col("experiment", False), Col("verdict", False), Col("reason", False)]
    rows = [[r.experiment_id, r.verdict, r.reason] for r in results]
    emit(out, "Experiments: verdicts", cols, rows)


def print_knowledge(out: Console, entries: Any) -> None:
    """Knowledge-base entries (``growthloop.decide.knowledge.recent``)."""
    cols = [Col("entry", False), Col("title", False), Col("effect"), Col("interval", False),
            Col("dates", False)]
    rows = [[e.entry_id, e.title, _pct(e.effect if e.effect is not None else np.nan),
             _band(*(np.nan if v is None else v for v in (e.effect_low, e.effect_high))),
             f"{e.start_date or ''} to {e.end_date or ''}"]
            for e in entries.itertuples(index=False)]
    emit(out, "Knowledge base: newest entries", cols, rows,
         legend="growthloop kb search TEXT finds any entry; kb add records a strategy note")
