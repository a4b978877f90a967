"""The KPI reference, ``docs/metrics.md``, generated from the catalog and the sources."""

from __future__ import annotations

from growthloop.core.kpis import KPI, Measure
from growthloop.metrics.compile import builtin_catalog, kpi_dimensions
from growthloop.metrics.sources import NEW_USER_DAYS, SOURCES

__all__ = ["glossary_markdown", "metrics_markdown"]


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


def glossary_markdown() -> str:
    """``docs/glossary.md``: every business number, its definition and where it is
    reported (``growthloop.core.glossary.TERMS``)."""
    from growthloop.core import glossary

    lines = [
        "# Glossary of business numbers",
        "",
        "Generated from `growthloop.core.glossary` (`growthloop kpi --glossary`); do not "
        "edit by hand.",
        "",
        "Each number is computed by one function of `growthloop.core.glossary` (or the one "
        "source named), and every route that reports it calls that function, so the KPI "
        "catalog, `summary`, `ltv` and `roi` agree. The *basis* says whose channel gets "
        "the credit: the buyer's acquisition channel (last touch before sign-up), or a "
        "named attribution model (`roi --model markov`).",
        "",
    ]
    for t in glossary.TERMS:
        fn = t.function if "." in t.function else f"growthloop.core.glossary.{t.function}"
        lines += [f"## {t.name}", "", t.meaning, "",
                  f"- formula: {t.formula}",
                  f"- computed by: `{fn}`",
                  f"- catalog KPI: `{t.kpi}`" if t.kpi else "- catalog KPI: none",
                  f"- basis: {t.basis}",
                  f"- reported by: {', '.join(f'`{r}`' for r in t.reported_by)}", ""]
    head = (glossary.__doc__ or "").split("Conventions", 1)[-1].strip().splitlines()[1:]
    lines += ["## Conventions", "", *[h.strip() if not h.startswith("  ") else h
                                      for h in head], ""]
    return "\n".join(lines)
