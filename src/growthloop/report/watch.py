"""Printing of the watch: KPI alerts with the slices that explain them, risk monitors.

One place for the tables ``growthloop alerts`` and ``growthloop risks`` and the demo
print, and their JSON documents; each print takes the console to print on.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from growthloop.decide.alerts import AlertRun
from growthloop.report.format import number
from growthloop.report.layout import Col, emit, paragraph

__all__ = ["alerts_doc", "driver_text", "print_alerts", "print_risks", "risks_doc"]


def driver_text(drivers: list[dict], top: int = 2) -> str:
    """The first slices that explain a move: ``market=BR · device=mobile (82 %)``."""
    parts = []
    for d in drivers[:top]:
        where = " · ".join(f"{k}={v}" for k, v in d["slice"].items())
        kind = "mix" if abs(d["mix"]) > abs(d["rate"]) else "rate"
        parts.append(f"{where} ({d['share']:.0%}, {kind})")
    return "; ".join(parts) or "no slice stands out"


def alerts_doc(run: AlertRun) -> dict[str, Any]:
    """The run as one JSON document."""
    return {"as_of": run.as_of.isoformat(), "since": run.since.isoformat(),
            "kpis": run.kpis, "periods_checked": run.periods_checked,
            "seconds": {k: round(v, 3) for k, v in run.seconds.items()},
            "alerts": [a.as_dict() for a in run.alerts]}


def print_alerts(out: Console, run: AlertRun, *, limit: int | None = None,
                 worse_only: bool = False) -> None:
    """The alerts, newest first, each with its band and first drivers."""
    shown = [a for a in run.alerts if a.worse or not worse_only]
    shown = sorted(shown, key=lambda a: (a.period, abs(a.z)), reverse=True)
    if limit is not None:
        shown = shown[:limit]
    checked = sum(run.periods_checked.values())
    if not shown:
        paragraph(out, f"No alerts from {run.since} to {run.as_of}: {checked:,} KPI periods "
                       f"of {len(run.kpis)} KPIs stayed inside their bands.")
        return
    cols = [Col("period", False), Col("KPI", False), Col("grain", False),
            Col("market", False), Col("actual"), Col("band", False), Col("z"),
            Col("", False), Col("explained by", False)]
    rows = []
    for a in shown:
        low = number(a.low, a.unit) if a.low is not None else "-"
        high = number(a.high, a.unit) if a.high is not None else "open"
        rows.append([a.period.isoformat(), a.kpi, a.grain, a.market, number(a.actual, a.unit),
                     f"{low} to {high}", f"{a.z:+.1f}", "worse" if a.worse else "better",
                     driver_text(a.drivers)])
    total = len([a for a in run.alerts if a.worse or not worse_only])
    more = f", the {len(shown)} newest shown" if len(shown) < total else ""
    emit(out, f"KPI alerts {run.since} to {run.as_of}: {total} of {checked:,} KPI periods "
              f"left their band{more}", cols, rows, keys=4,
         legend=["band: the forecast from the KPI's own history (weekday, festivals, "
                 "level); explained by: the slices with the largest share of the move over "
                 "all markets, and whether their weight (mix) or their own rate moved"])


def risks_doc(findings: list, effects: dict) -> dict[str, Any]:
    """The risk monitors as one JSON document."""
    return {"findings": [f.as_dict() for f in findings], "delivery_effects": effects}


def print_risks(out: Console, findings: list, effects: dict, *, all_rows: bool = False
                ) -> None:
    """The monitors' findings (those not ok unless ``all_rows``) and the delivery effects."""
    order = {"alert": 0, "warn": 1, "no data": 2, "ok": 3}
    shown = sorted((f for f in findings if all_rows or f.status in ("alert", "warn")),
                   key=lambda f: (order[f.status], f.monitor, f.market, f.channel or ""))
    counts = {s: sum(f.status == s for f in findings) for s in order}
    title = (f"Risk monitors: {counts['alert']} alert, {counts['warn']} warn, "
             f"{counts['ok']} ok")
    if shown:
        emit(out, title, [Col("monitor", False), Col("market", False), Col("channel", False),
                          Col("status", False), Col("finding", False)],
             [[f.monitor, f.market, f.channel or "", f.status, f.detail] for f in shown],
             keys=3)
    else:
        paragraph(out, title + ": nothing to look at.")
    nps, rep = effects.get("nps_per_day"), effects.get("repurchase_per_day")
    if nps:
        paragraph(out, f"A day more of delivery: NPS {nps['effect']:+.1f} points (90 %: "
                       f"{nps['low']:+.1f} to {nps['high']:+.1f}, {int(nps['n']):,} answers)"
                  + (f"; 60-day repurchase {rep['effect']:+.2%} (90 %: {rep['low']:+.2%} to "
                     f"{rep['high']:+.2%}, {int(rep['n']):,} first orders)." if rep else "."))
