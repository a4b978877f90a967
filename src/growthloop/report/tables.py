"""The terminal tables of every command, laid out to fit (``growthloop.report.layout``).

Each function takes what a library function returned and prints it; none computes a
number. Headers are short, with a legend where a word needs explaining. A frame of the
shared view (``growthloop.report.privacy.suppress``: a ``suppressed`` column) shows its
emptied cells as ``SUPPRESSED``, with a legend line saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from growthloop.report.format import MISSING, is_missing, number, signed_pct
from growthloop.report.layout import Col, Legend, emit, paragraph, tables_needed
from growthloop.report.privacy import SUPPRESSED, cell, share_legend

__all__ = [
    "print_attribution",
    "print_attribution_comparison",
    "print_cohorts",
    "print_decomposition",
    "print_economics",
    "print_fit_summary",
    "print_frame",
    "print_funnel",
    "print_goals",
    "print_kpi_list",
    "print_kpis",
    "print_loads",
    "print_ltv",
    "print_review",
    "print_segments",
    "print_side_by_side",
    "print_summary",
    "print_validation",
    "print_value_report",
]

_TIER_STYLE = {"challenge": "green", "target": "green", "base": "yellow", "below base": "red"}


def _styled(text: str, style: str | None) -> str:
    return f"[{style}]{text}[/]" if style else text


def _sup(r: Any) -> bool:
    """Whether a row (a Series or a named tuple) of a shared frame had cells suppressed."""
    v = r.get("suppressed", False) if isinstance(r, pd.Series) else getattr(
        r, "suppressed", False)
    return bool(v) if v is not None else False


def _groups(df: pd.DataFrame, columns: tuple[str, ...] = ("market", "period")) -> list:
    """(label, rows) per market and/or period present in ``df``; one unlabelled group if
    neither is."""
    keys = [c for c in columns if c in df.columns]
    if not keys:
        return [("", df)]
    return [(", ".join(map(str, k if isinstance(k, tuple) else (k,))), g)
            for k, g in df.groupby(keys, sort=True)]


def _crosstab(out: Console, title: str, row_name: str, col_name: str, row_labels: list[str],
              col_labels: list[str], cell: Any, legend: Legend = None) -> None:
    """A table of ``cell(row, col)`` with ``row_labels`` as rows, or transposed (``col_name``
    down the side) when that needs fewer tables at the console's width."""
    cols = [Col(row_name, False)] + [Col(c) for c in col_labels]
    rows = [[r, *[cell(r, c) for c in col_labels]] for r in row_labels]
    t_cols = [Col(col_name, False)] + [Col(r) for r in row_labels]
    t_rows = [[c, *[cell(r, c) for r in row_labels]] for c in col_labels]
    if tables_needed(out.width, t_cols, t_rows) < tables_needed(out.width, cols, rows):
        cols, rows = t_cols, t_rows
    emit(out, title, cols, rows, legend=legend)


# --------------------------------------------------------------------------- project


def print_loads(out: Console, results: list[dict[str, Any]]) -> None:
    """Rows read, loaded, duplicate and quarantined per file ingested."""
    cols = [Col("table", False), Col("file", False), Col("read"), Col("loaded"),
            Col("duplicate"), Col("quarantined")]
    rows = [[escape(str(r["table"])), escape(str(r["file"])), number(r["rows_read"]),
             number(r["rows_loaded"]), number(r["rows_duplicate"]),
             number(r["rows_quarantined"])] for r in results]
    again = [str(r["file"]) for r in results if r["already_loaded"]]
    emit(out, "Ingest: rows per file", cols, rows, keys=2,
         legend=[f"already loaded before (nothing added): {', '.join(again)}"] if again
         else None)
    for r in results:
        if r["quarantine_reasons"]:
            emit(out, f"Quarantined from {r['file']} (see table quarantine)",
                 [Col("rows"), Col("rule", False), Col("first row")],
                 [[number(q["rows"]), escape(str(q["rule"])), number(q["first_row"])]
                  for q in r["quarantine_reasons"]], keys=0)


def print_summary(out: Console, df: pd.DataFrame, currency: str) -> None:
    """``growthloop.metrics.summary.market_summary``."""
    spec = [("market", None, "market"), ("users", "int", "users"), ("buyers", "int", "buyers"),
            ("revenue", "money", "revenue"), ("conversion", "share", "conv."),
            ("order_value", "money2", "AOV"), ("repurchase_rate", "share", "repurch.")]
    cols = [Col(h, unit is not None) for _, unit, h in spec]
    rows = [[str(r[n]) if u is None else cell(r[n], _sup(r), u) for n, u, _ in spec]
            for _, r in df.iterrows()]
    emit(out, f"Headline numbers per market (money in {currency})", cols, rows,
         legend=["conv.: conversion, buyers / users",
                 "AOV: average order value, net revenue per order kept",
                 "repurch.: repurchase rate, buyers with 2+ orders / buyers",
                 *share_legend(df)])


def print_frame(out: Console, df: pd.DataFrame, title: str, *, units: Mapping[str, str] = {},
                keys: int = 1, headers: Mapping[str, str] = {}, legend: Legend = None
                ) -> None:
    """Any result frame: text columns left, numbers right, ``units`` by column."""
    shown = [c for c in df.columns if c != "suppressed"]
    # a column emptied in places (object dtype, None) still holds numbers
    cols = [Col(headers.get(c, str(c)), df[c].dtype != object
                or not df[c].map(lambda v: isinstance(v, str)).any()) for c in shown]
    sup = df["suppressed"] if "suppressed" in df.columns else pd.Series(False, index=df.index)
    rows = [[cell(v, bool(s), units.get(c)) if not isinstance(v, str) else v
             for c, v in zip(shown, r, strict=True)]
            for r, s in zip(df[shown].itertuples(index=False), sup, strict=True)]
    extra = share_legend(df)
    if extra:
        legend = [*([legend] if isinstance(legend, str) else legend or []), *extra]
    emit(out, title, cols, rows, keys=keys, legend=legend)


# --------------------------------------------------------------------------- metrics


def print_kpi_list(out: Console, kpis: Mapping[str, Any]) -> None:
    """The KPI catalog (``growthloop.metrics.catalog``): name, unit, direction, meaning."""
    rows = [[k.name, k.unit, k.direction, escape(k.description)] for k in kpis.values()]
    emit(out, "KPIs of the catalog (growthloop kpi NAME ... to compute them)",
         [Col("kpi", False), Col("unit", False), Col("better", False),
          Col("description", False)], rows,
         legend="better: the direction that is good (up: higher is better)")


def print_kpis(out: Console, df: pd.DataFrame, grain: str, dims: list[str],
               units: Mapping[str, str] = {}) -> None:
    """``growthloop.metrics.compile.kpi_frame`` rows; ``value`` by the KPI's unit."""
    title = f"KPIs by {grain}" + (f" and {', '.join(dims)}" if dims else "")
    keys = ["kpi", "period", *dims]
    rest = [c for c in df.columns if c not in (*keys, "suppressed")]
    headers = {"numerator": "num.", "denominator": "den."}
    cols = [Col(c, False) for c in keys] + [Col(headers.get(c, c)) for c in rest]
    rows = [[str(r[c]) for c in keys]
            + [cell(r[c], _sup(r), units.get(r["kpi"]) if c == "value" else
                    "int" if c == "people" else None) for c in rest]
            for _, r in df.iterrows()]
    emit(out, title, cols, rows, keys=len(keys),
         legend=["num., den.: the KPI's numerator and denominator (value = num. / den. for "
                 "a rate)",
                 *(["people: distinct people behind the cell"] if "people" in rest else []),
                 *share_legend(df)])


def print_funnel(out: Console, df: pd.DataFrame, title: str) -> None:
    """``growthloop.metrics.funnel`` rows."""
    units = {"conversion_from_previous": "share", "conversion_from_first": "share",
             "drop_off_rate": "share"}
    headers = {"step_name": "step name", "conversion_from_previous": "from prev.",
               "conversion_from_first": "from first", "drop_off": "drop",
               "drop_off_rate": "drop rate", "median_seconds_from_previous": "median secs"}
    values = ("units", "conversion_from_previous", "conversion_from_first", "drop_off",
              "drop_off_rate", "median_seconds_from_previous", "people", "suppressed")
    keys = [c for c in df.columns if c not in values]
    ordered = df[keys + [c for c in df.columns if c not in keys]]
    print_frame(out, ordered, title, units=units, keys=len(keys), headers=headers,
                legend=["from prev., from first: units at the step / units at the previous "
                        "step, at the first step",
                        "drop: units of the previous step that did not reach this one; "
                        "drop rate: 1 - from prev.",
                        "median secs: median seconds from the previous step"])


def print_cohorts(out: Console, matrix: pd.DataFrame, title: str, measure: str,
                  suppressed: Any = None) -> None:
    """A retention matrix (``growthloop.metrics.to_matrix``): cohorts by periods since.

    ``suppressed``: in the shared view, the frame whose rows are suppressed
    (``growthloop.report.privacy.share_cohorts``); those cohorts show ``SUPPRESSED``.
    """
    m = matrix.reset_index()
    first = m.columns[0]
    hidden = set() if suppressed is None else {
        str(c)[:10] for c in suppressed.loc[suppressed.suppressed, "cohort"]}
    cols = [Col("cohort", False)] + [Col(f"+{c}") for c in m.columns[1:]]
    rows = [[str(r[first])[:10]] + [cell(r[c], str(r[first])[:10] in hidden, "share")
                                     for c in m.columns[1:]]
            for _, r in m.iterrows()]
    emit(out, title, cols, rows,
         legend=["cohort: first day of the cohort's period; +k: k periods later",
                 "cells: share of the cohort active in the period" if measure == "users" else
                 "cells: the cohort's revenue in the period / its revenue in period +0",
                 f"{MISSING}: a period not reached yet" + (
                     "" if measure == "users" else ", or no revenue in period +0"),
                 *([] if suppressed is None else share_legend(suppressed))])


# --------------------------------------------------------------------------- goals


def print_goals(out: Console, df: pd.DataFrame, units: Mapping[str, str]) -> None:
    """``growthloop.decide.goals.goals_frame`` rows."""
    sliced = bool((df.slice != "all").any())
    cols = [Col("goal", False), *([Col("slice", False)] if sliced else []), Col("elapsed"),
            Col("actual"), Col("tier", False), Col("gap to next"), Col("projection"),
            Col("proj. tier", False), Col("base / target / challenge")]
    rows = []
    for r in df.itertuples(index=False):
        u = units.get(r.kpi)
        if _sup(r):
            rows.append([r.goal, *([r.slice] if sliced else []), f"{r.elapsed:.0%}",
                         *[SUPPRESSED] * 5,
                         " / ".join(number(x, u) for x in (r.base, r.target, r.challenge))])
            continue
        proj = number(r.projection, u)
        if not is_missing(r.low) and r.low != r.high:
            proj += f" [{number(r.low, u)}, {number(r.high, u)}]"
        gap = MISSING if r.next_tier is None or is_missing(r.gap) else (
            f"{100 * r.gap:.1f} pt to {r.next_tier}" if u == "share"
            else f"{number(r.gap, u)} to {r.next_tier}")
        rows.append([r.goal, *([r.slice] if sliced else []), f"{r.elapsed:.0%}",
                     number(r.actual, u), _styled(r.tier, _TIER_STYLE.get(r.tier)), gap,
                     proj.replace("[", r"\["),
                     _styled(r.projected_tier, _TIER_STYLE.get(r.projected_tier)),
                     " / ".join(number(x, u) for x in (r.base, r.target, r.challenge))])
    emit(out, f"Goals as of {df.as_of.iloc[0]} (projection: 80 % interval)", cols, rows,
         keys=1 + sliced,
         legend=["elapsed: share of the goal's period gone; pt: percentage points",
                 "projection: the KPI at the period's end [80 % interval]; proj. tier: the "
                 "tier it reaches", *share_legend(df)])


def print_decomposition(out: Console, parts: Mapping[str, pd.DataFrame]) -> None:
    """``growthloop.decide.goals.decomposition_by`` per dimension: actual and % of plan."""
    for n, (dim, piv) in enumerate(parts.items(), start=1):
        quarters = sorted(piv.quarter.unique())
        cols = [Col(dim, False)] + [Col(q) for q in quarters]
        rows = []
        for seg, g in piv.groupby(dim):
            cells = []
            for q in quarters:
                row = g[g.quarter == q].iloc[0]
                if _sup(row):
                    cells.append(SUPPRESSED)
                    continue
                share = row.attainment
                color = ("red" if is_missing(share) or share < 0.9
                         else "yellow" if share < 1 else "green")
                cells.append(f"{number(row.actual, 'int')} "
                             + _styled(MISSING if is_missing(share) else f"{share:.0%}", color))
            rows.append([str(seg), *cells])
        emit(out, f"New-user goal (target tier) by quarter and {dim}: new users, % of plan",
             cols, rows, legend=["% of plan: new users / the plan's target for the quarter "
                                 "(red under 90 %, yellow under 100 %)", *share_legend(piv)]
             if n == len(parts) else None)


def print_review(out: Console, r: Any, units: Mapping[str, str]) -> None:
    """A ``growthloop.decide.review.Review``."""
    movers = r.movers_frame()
    if len(r.goals):
        print_goals(out, r.goals, units)
    flagged = movers[movers.flagged] if len(movers) else movers
    if len(flagged):
        cols = [Col("kpi", False), Col("segment", False), Col("previous"), Col("current"),
                Col("change"), Col("z"), Col("verdict", False)]
        rows = [[m.kpi, m.segment, number(m.previous, m.unit), number(m.current, m.unit),
                 number(m.change, m.unit), f"{m.z:+.1f}",
                 _styled(m.direction, "green" if m.direction == "better" else "red")]
                for m in flagged.itertuples(index=False)]
        emit(out, "Moves beyond the noise band (|change| > 2 sd of the last 8 "
                  "period-on-period changes)", cols, rows, keys=2,
             legend="z: change / sd of the last 8 changes")
    else:
        out.print("No KPI moved beyond its normal variation.")
    for d in r.decomposition_summary().itertuples(index=False):
        line = Text(str(d.kpi), style="bold")
        line.append(f": change {d.change:+.4f} = mix {d.mix:+.4f} + rate {d.rate:+.4f}; "
                    f"largest rate effect: {d.dimension} {d.segment} {d.rate_effect:+.4f} "
                    f"({d.rate_0:.2%} -> {d.rate_1:.2%})")
        paragraph(out, line, indent=2)


# --------------------------------------------------------------------------- value


def print_fit_summary(out: Console, fitted: Any, source: str) -> None:
    """Parameters of a model fitted on a summary file."""
    frame = fitted.to_frame()
    cols = [Col("parameter", False), Col("estimate"), Col("std error"), Col("95% interval")]
    rows = [[str(k), number(r.estimate, digits=4), number(r.std_error, digits=4),
             f"{number(r.ci_low, digits=4)} – {number(r.ci_high, digits=4)}"]
            for k, r in frame.iterrows()]
    emit(out, f"{fitted.model_name} fitted on {int(fitted.n_customers_):,} customers of "
              f"{source} (times in the file's unit)", cols, rows)
    out.print(f"log-likelihood {fitted.loglik_:,.4f}"
              + ("" if fitted.converged_ else " (did not converge)"), highlight=False)


def print_side_by_side(out: Console, model: Any) -> None:
    """A fitted ``CustomerValueModel``'s parameters, one row per segment."""
    params = model.parameters()
    p_name, s_name = (next(iter(d.values())).model_name for d in (model.purchase_,
                                                                   model.spend_))
    p_cols = list(next(iter(model.purchase_.values())).param_names)
    s_cols = list(next(iter(model.spend_.values())).param_names)
    key = model.by or "segment"
    cols = [Col(key, False), Col("customers"), *map(Col, p_cols), Col("repeat buyers"),
            *[Col(f"gg {c}") for c in s_cols]]
    rows = []
    for seg, g in params.groupby("segment", sort=False):
        est = dict(zip(zip(g.model, g.parameter, strict=True), g.estimate, strict=True))
        n = dict(zip(g.model, g.customers, strict=True))
        rows.append([str(seg), number(int(n[p_name])),
                     *[number(est[(p_name, k)]) for k in p_cols], number(int(n[s_name])),
                     *[number(est[(s_name, k)]) for k in s_cols]])
    emit(out, f"{p_name} and {s_name} by {model.by or 'customer base'} (times in days; "
              "standard errors with --json)", cols, rows,
         legend="gg: Gamma-Gamma parameters of order value")
    if model.pooled_segments_:
        paragraph(out, "Scored with the pooled models ('all'; too few customers or a "
                       f"degenerate fit): {', '.join(model.pooled_segments_)}", indent=2)


def print_validation(out: Console, res: Any) -> None:
    """A ``growthloop.decide.holdout.Validation``."""
    cols = [Col("frequency", False), Col("customers"), Col("actual"), Col("predicted"),
            Col("actual total"), Col("predicted total")]
    rows = [[str(r.bucket), number(r.customers), f"{r.actual_mean:.3f}",
             f"{r.predicted_mean:.3f}", number(r.actual_total), f"{r.predicted_total:,.1f}"]
            for r in res.table[res.table.segment == "all"].itertuples(index=False)]
    emit(out, f"Holdout {res.holdout_from} to {res.holdout_to} ({res.holdout_days} days): "
              "repeat purchases per customer by calibration frequency", cols, rows)
    cols = [Col("segment", False), Col("customers"), Col("actual"), Col("predicted"),
            Col("rel. error"), Col("MAE"), Col("RMSE"), Col("bias"), Col("z")]
    rows = [[str(r.segment), number(r.customers), number(r.actual_total, "money"),
             f"{r.predicted_total:,.1f}", number(r.relative_error, "growth"),
             f"{r.mae:.3f}", f"{r.rmse:.3f}", f"{r.bias:+.3f}", number(r.z, digits=2)]
            for r in res.errors.itertuples(index=False)]
    emit(out, "Errors per customer and in total", cols, rows,
         legend=["actual, predicted: repeat purchases in the holdout; rel. error: predicted "
                 "/ actual - 1",
                 "MAE, RMSE, bias: per customer; z: (actual - predicted) / its sd"])


def print_segments(out: Console, report: pd.DataFrame, as_of: str, currency: str) -> None:
    """``growthloop.decide.tags.segment_report``: one table per tag, by segment and market
    (markets down the side when that needs fewer tables)."""
    markets = [str(m) for m in dict.fromkeys(report.market)]
    titles = {"value_tier": "Value tiers", "rfm_segment": "RFM segments",
              "lifecycle_stage": "Lifecycle stages"}
    for dim, title in titles.items():
        part = report[report.dimension == dim]
        tiers = dim == "value_tier"
        cells = {(str(r.segment), str(r.market)): SUPPRESSED if _sup(r) else
                 MISSING if r.customers == 0 else
                 f"{r.customers:,} ({r.share:.0%})" + (f" {number(r.clv_mean)}" if tiers else "")
                 for r in part.itertuples(index=False)}
        segments = [str(s) for s in dict.fromkeys(part.segment)]
        _crosstab(out, f"{title} as of {as_of}: customers (share of the market)"
                       + (f" and mean CLV ({currency})" if tiers else ""),
                  dim.replace("_", " "), "market", segments, markets,
                  lambda s, m, cells=cells: cells.get((s, m), MISSING),
                  legend=["e.g. 12 (5%) 31.2: 12 customers, 5 % of the market's customers, "
                          f"mean 1-year CLV 31.2 {currency}", *share_legend(report)] if tiers
                  else share_legend(report) or None)


def _ltv_row(r: Any) -> list[str]:
    s = _sup(r)
    return [cell(r.new_customers, s), number(r.spend, "money"), cell(r.cac, s, digits=4),
            cell(r.ltv, s, digits=4), cell(r.realised_share, s, "share"),
            cell(r.ltv_cac, s), cell(r.payback_months, s, "int")]


_LTV_COLS = [Col("new cust."), Col("spend"), Col("CAC"), Col("LTV"), Col("observed"),
             Col("LTV:CAC"), Col("payback")]
_LTV_LEGEND = ["new cust.: new customers; CAC: spend / new customers",
               "observed: share of the LTV already realised",
               "payback: months until the LTV reaches the CAC"]


def print_ltv(out: Console, table: pd.DataFrame, dims: list[str], *, months: int,
              currency: str, margin: float, drivers: pd.DataFrame | None = None,
              torn: pd.DataFrame | None = None) -> None:
    """``growthloop.decide.ltv.ltv_report``: LTV:CAC per group, and the five drivers."""
    rows = [[str(getattr(r, d)) for d in dims] + _ltv_row(r)
            for r in table.itertuples(index=False)]
    emit(out, f"LTV:CAC by {', '.join(dims)} ({months}-month LTV per new customer, "
              f"{currency}, margin {margin:g})", [Col(d, False) for d in dims] + _LTV_COLS,
         rows, keys=len(dims), legend=[*_LTV_LEGEND, *share_legend(table)])
    if drivers is None or torn is None:
        return
    top = torn[torn["rank"] == 1].set_index("market")
    cols = [Col("market", False), Col("cost per signup"), Col("conv."),
            Col("repeat per yr"), Col("order value"), Col("lifetime (yr)"),
            Col("LTV per signup"), Col("LTV:CAC"), Col("moves it most", False)]
    rows = [[r.market, *[SUPPRESSED] * 8] if _sup(r) else
            [r.market, number(r.cost_per_signup), f"{r.conversion:.1%}",
             number(r.repurchases_per_year), number(r.expected_order_value, digits=4),
             number(r.lifetime), number(r.ltv, digits=4), number(r.ltv_cac),
             str(top.driver.get(r.market, MISSING))] for r in drivers.itertuples(index=False)]
    emit(out, "Five drivers per market: LTV per sign-up = conversion x order value x "
              "(1 + repurchases per year x lifetime) x margin", cols, rows,
         legend=["cost per signup: spend per new user; conv.: new-user conversion",
                 "repeat per yr: repeat purchases per customer-year",
                 "moves it most: the driver with the widest swing in the tornado",
                 *share_legend(drivers)])
    cols = [Col("market", False), Col("rank"), Col("driver", False), Col("low"),
            Col("high"), Col("basis", False), Col("LTV:CAC low"), Col("base"),
            Col("LTV:CAC high"), Col("elast.")]
    rows = [[r.market, str(r.rank), r.driver, *[SUPPRESSED] * 7] if _sup(r) else
            [r.market, str(r.rank), r.driver, number(r.low_value, digits=4),
             number(r.high_value, digits=4), r.basis, number(r.ltv_cac_low),
             number(r.base_ltv_cac), number(r.ltv_cac_high), f"{r.elasticity:+.2f}"]
            for r in torn.itertuples(index=False)]
    emit(out, "Tornado: LTV:CAC with each driver at its low and high value", cols, rows,
         keys=3, legend=["low, high: the driver's range; basis: monthly P10-P90 is the "
                         "spread of its monthly values, 95 % interval the model's "
                         "confidence interval, +-X % given a uniform --swing",
                         "LTV:CAC low / high: with the driver at low / high; rank 1 moves "
                         "it most", "elast.: % change of LTV:CAC per 1 % change of the "
                         "driver", *share_legend(torn)])


def print_value_report(out: Console, report: Mapping[str, pd.DataFrame], currency: str
                       ) -> None:
    """Tier sizes per market and LTV:CAC per acquisition channel, as the demo prints them."""
    tiers = report["tiers"]
    markets = [str(m) for m in dict.fromkeys(tiers.market)]
    cells = {(str(r.segment), str(r.market)): f"{int(r.customers):,} ({r.clv_mean:,.0f})"
             if r.customers else MISSING for r in tiers.itertuples(index=False)}
    _crosstab(out, f"Value tiers by predicted 1-year CLV: customers per market (mean CLV, "
                   f"{currency})", "tier", "market",
              [str(s) for s in dict.fromkeys(tiers.segment)], markets,
              lambda s, m: cells.get((s, m), MISSING),
              legend=f"e.g. 12 (31): 12 customers with a mean 1-year CLV of 31 {currency}")
    ltv = report["ltv_cac"]
    months = ltv.attrs.get("months", 12)
    rows = [[str(r.channel), *_ltv_row(r)] for r in ltv.itertuples(index=False)]
    emit(out, f"LTV:CAC by acquisition channel ({months}-month LTV per new customer, "
              f"{currency})", [Col("channel", False), *_LTV_COLS], rows, legend=_LTV_LEGEND)


# --------------------------------------------------------------------------- attribution


def print_attribution(out: Console, df: pd.DataFrame, name: str, value_label: str) -> None:
    """One model's ``credits_`` (with ``share``), one table per market and period."""
    markov = "removal_effect" in df.columns
    ci = "conversions_lo" in df.columns
    cols = [Col("channel", False), Col("conversions"), Col("share"), Col(value_label)]
    if markov:
        cols.append(Col("removal effect"))
        if ci:
            cols.append(Col("95% interval"))
    groups = _groups(df)
    for n, (label, g) in enumerate(groups, start=1):
        rows = []
        for _, r in g.iterrows():
            if _sup(r):
                rows.append([str(r.channel), *[SUPPRESSED] * (len(cols) - 1)])
                continue
            row = [str(r.channel), f"{r.conversions:,.1f}", number(r.share, "share"),
                   number(r.value, "money")]
            if markov:
                row.append(number(r.removal_effect, "share"))
                if ci:
                    row.append(f"{r.conversions_lo:,.1f} – {r.conversions_hi:,.1f}")
            rows.append(row)
        emit(out, f"Attribution: {name}" + (f", {label}" if label else ""), cols, rows,
             legend=share_legend(df) if n == len(groups) else None)


_SHORT = {"last_non_direct": "last nd", "time_decay": "decay", "position": "U shape"}


def print_attribution_comparison(out: Console, df: pd.DataFrame, what: str = "conversions"
                                 ) -> None:
    """``compare_models`` / ``model_comparison`` output, one table per market and period."""
    models = [c for c in df.columns if c not in ("market", "period", "channel",
                                                  "last_vs_markov", "people", "suppressed")]
    lvm = "last_vs_markov" in df.columns
    cols = [Col("channel", False)] + [Col(_SHORT.get(m, m)) for m in models]
    if lvm:
        cols.append(Col("last vs markov"))
    legend = ["last nd: last non-direct touch; decay: time decay; U shape: position based",
              *(["last vs markov: last-touch credit / Markov credit - 1"] if lvm else []),
              *share_legend(df)]
    groups = _groups(df)
    for n, (label, g) in enumerate(groups, start=1):
        rows = []
        for _, r in g.iterrows():
            if _sup(r):
                rows.append([str(r.channel), *[SUPPRESSED] * (len(cols) - 1)])
                continue
            rows.append([str(r.channel)] + [f"{r[m]:,.0f}" for m in models]
                        + ([signed_pct(r.last_vs_markov)] if lvm else []))
        emit(out, f"Attributed {what} by model" + (f": {label}" if label else ""), cols, rows,
             legend=legend if n == len(groups) else None)


def print_economics(out: Console, df: pd.DataFrame, currency: str) -> None:
    """``growthloop.decide.channels.channel_economics`` rows, one table per market."""
    model = str(df.model.iloc[0]) if len(df) else ""
    cols = [Col("period", False), Col("channel", False), Col("spend"), Col("new cust."),
            Col("revenue"), Col("ROAS"), Col("ROI"), Col("CAC")]
    legend = ["ROAS: revenue / spend; ROI: (revenue - spend) / spend",
              "CAC: spend / new customers (attributed first purchases)", *share_legend(df)]
    groups = _groups(df, ("market",))
    for n, (market, g) in enumerate(groups, start=1):
        rows = [[str(r.period), str(r.channel), number(r.spend, "money"),
                 *([SUPPRESSED] * 5 if _sup(r) else [
                     f"{r.new_customers:,.1f}", number(r.revenue, "money"),
                     MISSING if is_missing(r.roas) else f"{r.roas:.2f}",
                     number(r.roi, "growth"), number(r.cac, "money2")])]
                for r in g.itertuples(index=False)]
        emit(out, f"Channel economics, {model} attribution" + (f": {market}" if market else "")
             + f" (money in {currency})", cols, rows, keys=2,
             legend=legend if n == len(groups) else None)
