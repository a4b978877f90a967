"""Printing of the watch: KPI alerts with the slices that explain them.

One place for the table ``growthloop alerts`` and the demo print, and the alerts' JSON
document; each print takes the console to print on.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from growthloop.decide.alerts import AlertRun
from growthloop.report.format import number
from growthloop.report.layout import Col, emit, paragraph

__all__ = ["alerts_doc", "driver_text", "print_alerts"]


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
