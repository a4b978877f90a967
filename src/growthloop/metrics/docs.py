"""The KPI reference, ``docs/metrics.md``, generated from the catalog and the sources."""

from __future__ import annotations

from growthloop.metrics.compile import builtin_catalog, kpi_dimensions
from growthloop.metrics.definitions import KPI, Measure
from growthloop.metrics.sources import NEW_USER_DAYS, SOURCES

__all__ = ["metrics_markdown"]


def _measure(m: Measure) -> str:
    what = {"count": "rows", "count_distinct": f"distinct `{m.column}`",
            "sum": f"sum of `{m.column}`", "mean": f"mean of `{m.column}`"}[m.agg]
    text = f"{what} of `{m.source}`"
    if m.filter:
        text += " where " + " and ".join(f"`{k}` = `{v}`" for k, v in m.filter.items())
    if m.cumulative == "to_end":
        text += ", running total to the period's end (all history)"
    elif m.cumulative == "before_start":
        text += ", running total before the period's start (all history)"
    return text


def _kpi(k: KPI, cat: dict[str, KPI]) -> list[str]:
    out = [f"### `{k.name}`", "", k.description, ""]
    if k.formula:
        out.append(f"- formula: {k.formula}")
    out.append(f"- unit: {k.unit}; good direction: {k.direction}")
    if k.maturity_days:
        out.append(f"- final {k.maturity_days} days after the period ends")
    if k.kind == "ratio":
        scale = f"{k.scale:g} × " if k.scale != 1 else ""
        out += [f"- value = {scale}numerator / denominator",
                f"- numerator: {_measure(k.numerator)}",  # type: ignore[arg-type]
                f"- denominator: {_measure(k.denominator)}"]  # type: ignore[arg-type]
    elif k.kind == "value":
        out += [f"- value: {_measure(k.measure)}"]  # type: ignore[arg-type]
    else:
        out += [f"- value = `{k.of}`(period) / `{k.of}`(previous period) − 1"]
    dims = kpi_dimensions(k, cat)
    out += [f"- slice by: {', '.join(dims) if dims else '(none)'}", ""]
    return out


def metrics_markdown() -> str:
    """The whole reference as Markdown."""
    cat = builtin_catalog()
    out = [
        "# Metrics",
        "",
        "Generated from `src/growthloop/metrics/catalog.toml` and `sources.py`"
        " (`growthloop kpi --markdown`); a test keeps this file equal to them.",
        "",
        "Every KPI is declared once and compiled by `growthloop.metrics.compile_kpi` for any"
        " grain (day, ISO week starting Monday, month, quarter, year) and slice. A period is"
        " labelled by its first day; times are UTC. A ratio whose denominator is zero is"
        " empty, not zero. Money is in the reporting currency, converted with the day's FX"
        " rate. Projects add KPIs in `growthloop.toml` under `[[kpis]]` in the same form.",
        "",
        "## Sources",
        "",
        f"Dimension `customer_type` is `new` for activity within {NEW_USER_DAYS} days of the"
        " user's sign-up (for orders: the user's first order not cancelled) and `returning`"
        " otherwise; `cohort` is the sign-up month `YYYY-MM`.",
        "",
        "| source | rows | columns | dimensions |",
        "| --- | --- | --- | --- |",
    ]
    for s in SOURCES.values():
        out.append(f"| `{s.name}` | {s.description} | {', '.join(s.columns)} |"
                   f" {', '.join(s.dimensions)} |")
    out += ["", "## KPIs", ""]
    for k in cat.values():
        out += _kpi(k, cat)
    return "\n".join(out)
