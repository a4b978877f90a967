"""The growth cockpit's pages: what the dashboard serves and ``growthloop report`` writes.

Each page is a function ``(wh, filters) -> list[Block]``: a few library calls (the same
ones the CLI makes, never a second copy of a KPI or formula) and the result frames as
``Block``s (a table, a Plotly figure or a note), rendered by ``growthloop.report.html``.

Everything a page shows is the *shared* view: every cell built from fewer people than
``[privacy] min_group_size`` is suppressed by ``growthloop.report.privacy`` (tables show
``supp.``, charts leave the row out), whatever ``share_by_default`` says, since a page is
read by anyone holding a read token. A section whose data is not there yet (no goals, no
stored marketing-mix fit, no experiment analysed) is a note naming the command that
produces it; a library error inside a section becomes a note too, and the library's
warnings are shown under the section, as the CLI prints them on stderr.

``Filters`` are the query parameters ``from``, ``to`` (the day after the last, as the
CLI's ``--to``), ``market`` and ``channel``, checked against the project file before any
query runs (a bad value is an ``InputError`` naming the parameter); ``APPLIES`` says which
of them each page uses.
"""

from __future__ import annotations

import datetime as dt
import html
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from growthloop.core.config import Config
from growthloop.core.dates import parse_day
from growthloop.core.errors import GrowthloopError, InputError
from growthloop.decide.channels import channel_economics, model_comparison
from growthloop.decide.goals import data_end, goal_report
from growthloop.decide.knowledge import list_entries, recent
from growthloop.decide.ltv import value_summary
from growthloop.decide.media import channel_table, stored_fit
from growthloop.decide.tags import segment_report
from growthloop.metrics.cohorts import retention, to_matrix
from growthloop.metrics.compile import catalog, kpi_frame
from growthloop.metrics.funnels import funnel
from growthloop.metrics.journeys import channel_people, journeys_consent
from growthloop.metrics.summary import market_summary
from growthloop.report.format import MISSING, is_missing, number
from growthloop.report.privacy import (
    SUPPRESSED,
    cell,
    chartable,
    share_cohorts,
    share_credits,
    share_economics,
    share_funnel,
    share_goals,
    share_kpis,
    share_legend,
    share_ltv,
    share_segments,
    share_summary,
    suppress,
)
from growthloop.warehouse import Warehouse
from growthloop.warehouse.store import read_tags

__all__ = ["APPLIES", "FILTER_PARAMS", "FUNNEL_STEPS", "PAGES", "Block", "Filters",
           "channels", "cohorts", "experiments", "funnels", "overview", "value",
           "watch"]

#: The query parameters of a page, in the order of the filter form.
FILTER_PARAMS: tuple[str, ...] = ("from", "to", "market", "channel")
#: The funnel the funnels page shows, per session.
FUNNEL_STEPS: tuple[str, ...] = ("session_start", "product_view", "add_to_cart", "checkout",
                                 "purchase")
_LONGEST = 80  # characters of a bad filter value quoted back in an error


@dataclass(frozen=True)
class Filters:
    """What a page is narrowed to: ``start`` to ``end`` (exclusive), one market, one
    channel; None is everything."""

    start: dt.date | None = None
    end: dt.date | None = None
    market: str | None = None
    channel: str | None = None

    @classmethod
    def parse(cls, cfg: Config, params: Mapping[str, str | None]) -> Filters:
        """The filters of query parameters ``from``, ``to``, ``market`` and ``channel``
        (empty: not set), each checked against ``cfg``; InputError naming the parameter,
        the value and what is expected."""
        got = {k: (str(params.get(k) or "").strip() or None) for k in FILTER_PARAMS}
        start = _day(got["from"], "from")
        end = _day(got["to"], "to")
        if start is not None and end is not None and end <= start:
            raise InputError(f"filter to={end} is not after from={start}; expected to (the "
                             "day after the last) later than from")
        return cls(start, end, _choice(got["market"], "market", cfg.market_codes),
                   _choice(got["channel"], "channel", cfg.channel_names))

    def params(self) -> dict[str, str]:
        """The query parameters that give these filters (those set)."""
        values = {"from": self.start, "to": self.end, "market": self.market,
                  "channel": self.channel}
        return {k: str(v) for k, v in values.items() if v is not None}

    def describe(self) -> str:
        """One line: what the filters keep."""
        return ", ".join(f"{k} {v}" for k, v in self.params().items()) or "no filters"


def _quoted(value: str) -> str:
    return repr(value if len(value) <= _LONGEST else value[:_LONGEST] + "...")


def _day(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return parse_day(value, f"filter {name}")
    except InputError:
        raise InputError(f"filter {name}={_quoted(value)} is not a date; expected a date "
                         "YYYY-MM-DD") from None


def _choice(value: str | None, name: str, allowed: list[str]) -> str | None:
    if value is None or value in allowed:
        return value
    raise InputError(f"filter {name}={_quoted(value)} is not a configured {name}; expected "
                     f"one of: {', '.join(allowed)}")


@dataclass(frozen=True, eq=False)
class Block:
    """One section of a page: a title with a table, a Plotly figure or a note.

    ``table`` holds the result frame (numbers formatted by ``units`` per column through
    ``growthloop.report.privacy.cell``; a ``suppressed`` column marks the shared view's
    emptied cells); ``badges`` are columns shown as tier badges; ``warning`` marks a note
    that is a warning.
    """

    title: str
    table: pd.DataFrame | None = None
    units: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    badges: tuple[str, ...] = ()
    figure: Any = None
    note: str | None = None
    legend: tuple[str, ...] = ()
    warning: bool = False


# --------------------------------------------------------------------------- helpers


def _section(title: str, make: Callable[[], list[Block]]) -> list[Block]:
    """``make()``'s blocks and, as warning notes, the warnings it raised; a library error
    (data not there yet, a table an older warehouse lacks) becomes a note."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            blocks = make()
        except (GrowthloopError, duckdb.CatalogException) as e:
            blocks = [Block(title, note=str(e).splitlines()[0] if str(e) else type(e).__name__)]
    seen = dict.fromkeys(str(w.message) for w in caught)
    return blocks + [Block("", note=f"warning: {m}", warning=True) for m in seen]


def _no_data(wh: Warehouse) -> list[Block] | None:
    """A note when the warehouse holds no events or orders yet (every page needs them),
    else None."""
    try:
        data_end(wh.backend)
    except InputError as e:
        return [Block("No data yet", note=f"{e} (`growthloop ingest`, or events sent to "
                                          "`growthloop serve` and folded)")]
    return None


def _k(wh: Warehouse) -> int:
    return wh.cfg.privacy.min_group_size


def _unit(unit: str | None) -> str | None:
    """A catalog unit as ``growthloop.report.format.number`` knows it."""
    return "money" if unit == "currency" else unit


def _label(v: Any) -> str:
    """Text for a chart: escaped, since Plotly reads some HTML in labels."""
    return html.escape(str(v), quote=True)


def _keep(df: pd.DataFrame, f: Filters, *, market: bool = True,
          channel: bool = True) -> pd.DataFrame:
    """Rows of ``df`` in the filters' market and channel (where it has those columns)."""
    if market and f.market and "market" in df.columns:
        df = df[df.market.astype(str) == f.market]
    if channel and f.channel and "channel" in df.columns:
        df = df[df.channel.astype(str) == f.channel]
    return df.reset_index(drop=True)


def _chart_rows(df: pd.DataFrame) -> pd.DataFrame | None:
    """The rows a chart of the shared view may draw, or None when every one is suppressed."""
    try:
        return chartable(df)
    except InputError:
        return None


def _figure(title: str, fig: Any, rows: pd.DataFrame | None) -> Block:
    """A chart block, or a note when the shared view leaves nothing to draw."""
    if rows is None or rows.empty:
        return Block(title, note="nothing to chart: every cell has too few people behind "
                                 "it for the shared view (or there is no data)")
    fig.update_layout(template="plotly_white", margin={"t": 30, "l": 50, "r": 20, "b": 40},
                      height=360, legend={"orientation": "h"})
    return Block(title, figure=fig)


def _units(cfg: Config) -> dict[str, str | None]:
    return {k.name: _unit(k.unit) for k in catalog(cfg).values()}


def _table(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
           ) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


# --------------------------------------------------------------------------- overview


def _badge_cell(v: Any, suppressed: bool) -> str:
    return SUPPRESSED if suppressed and is_missing(v) else MISSING if is_missing(v) else str(v)


def _goal_rows(goals: pd.DataFrame, units: Mapping[str, str | None]) -> pd.DataFrame:
    """``goals_frame`` rows (shared view) as the cells of the goals table."""
    rows = []
    for r in goals.itertuples(index=False):
        u, s = units.get(r.kpi), bool(r.suppressed)
        proj = cell(r.projection, s, u)
        if not (s or is_missing(r.low) or r.low == r.high):
            proj += f" [{number(r.low, u)}, {number(r.high, u)}]"
        if s:
            gap = SUPPRESSED
        elif r.next_tier is None or is_missing(r.gap):
            gap = MISSING
        else:
            gap = (f"{100 * r.gap:.1f} pt" if u == "share" else number(r.gap, u)) \
                + f" to {r.next_tier}"
        rows.append({"goal": r.goal, "slice": r.slice, "period": r.period,
                     "elapsed": number(r.elapsed, "pct"), "actual": cell(r.actual, s, u),
                     "tier": _badge_cell(r.tier, s), "gap": gap, "projection": proj,
                     "projected_tier": _badge_cell(r.projected_tier, s),
                     "tiers": " / ".join(number(x, u) for x in (r.base, r.target, r.challenge))})
    return pd.DataFrame(rows)


def _in_market(slice_text: str, market: str | None) -> bool:
    parts = [p.strip() for p in str(slice_text).split(",")]
    return market is None or slice_text == "all" or f"market={market}" in parts


def _goals(wh: Warehouse, f: Filters) -> list[Block]:
    title = "Goals: tier reached and pacing"
    if not wh.cfg.goals:
        return [Block(title, note="the project has no goals yet: add [[goals]] to "
                                  "growthloop.toml (`growthloop init` writes examples)")]
    goals, dec = goal_report(wh.backend, wh.cfg, f.end, people=True)
    goals, _, parts = share_goals(goals, dec, _k(wh))
    goals = goals[goals.slice.map(lambda s: _in_market(s, f.market))]
    as_of = goals.as_of.iloc[0] if len(goals) else f.end
    blocks = [Block(f"{title} (as of {as_of}; projection with its 80 % interval)",
                    table=_goal_rows(goals, _units(wh.cfg)), badges=("tier", "projected_tier"),
                    headers={"elapsed": "elapsed", "gap": "gap to next tier",
                             "projected_tier": "projected tier",
                             "tiers": "base / target / challenge"},
                    legend=("elapsed: share of the goal's period gone; projection: the KPI "
                            "at the period's end and its tier (pacing)",
                            *share_legend(goals)))]
    for dim, part in (parts or {}).items():
        blocks.append(_decomposition(dim, _keep(part, f, market=dim == "market",
                                                channel=dim == "channel")))
    return blocks


def _decomposition(dim: str, piv: pd.DataFrame) -> Block:
    """``decomposition_by`` (shared view) as quarters across: actual and % of plan."""
    cells: dict[str, dict[str, str]] = {}
    for r in piv.itertuples(index=False):
        s = bool(r.suppressed)
        text = SUPPRESSED if s else (
            f"{number(r.actual, 'int')} ({number(r.attainment, 'pct')})")
        cells.setdefault(str(getattr(r, dim)), {})[str(r.quarter)] = text
    table = pd.DataFrame.from_dict(cells, orient="index").rename_axis(dim).reset_index()
    return Block(f"Annual goal's plan (target tier) by quarter and {dim}: actual (% of plan)",
                 table=table, legend=("% of plan: actual / the plan's target for the "
                                      "quarter", *share_legend(piv)))


_SUMMARY_UNITS = {"users": "int", "buyers": "int", "revenue": "money", "conversion": "share",
                  "order_value": "money2", "repurchase_rate": "share"}


def _headline(wh: Warehouse, f: Filters) -> list[Block]:
    df = share_summary(market_summary(wh.backend, wh.cfg), _k(wh))
    if f.market:
        df = df[df.market.isin([f.market, "all"])].reset_index(drop=True)
    return [Block(f"Headline numbers per market (all the data, money in "
                  f"{wh.cfg.reporting_currency})", table=df, units=_SUMMARY_UNITS,
                  headers={"order_value": "AOV", "repurchase_rate": "repurchase rate"},
                  legend=("conversion: buyers / users; AOV: net revenue per order kept; "
                          "repurchase rate: buyers with 2+ orders / buyers",
                          "over the whole window: the date filter does not apply here",
                          *share_legend(df)))]


def _trend(wh: Warehouse, f: Filters) -> list[Block]:
    import plotly.graph_objects as go

    by = ["market", *(["channel"] if f.channel else [])]
    df = kpi_frame(wh.backend, wh.cfg, ["new_users", "revenue"], grain="week", by=by,
                   start=f.start, end=f.end, people=True)
    df = _keep(share_kpis(df, _k(wh)), f)
    blocks = []
    for kpi, what in (("new_users", "New users"), ("revenue",
                                                   f"Revenue ({wh.cfg.reporting_currency})")):
        part = df[df.kpi == kpi]
        rows = _chart_rows(part)
        fig = go.Figure()  # a suppressed week is a gap in its market's line, not a point
        for market, g in ([] if rows is None else part.groupby("market", sort=True)):
            fig.add_trace(go.Scatter(x=g.period, y=g.value.astype(float),
                                     mode="lines+markers", name=_label(market),
                                     connectgaps=False))
        blocks.append(_figure(f"{what} per week by market", fig, rows))
    return blocks


def overview(wh: Warehouse, f: Filters) -> list[Block]:
    """Goals with tier badges and pacing (``goal_report``), the headline numbers per
    market (``market_summary``) and new users and revenue per week (``kpi_frame``)."""
    return _no_data(wh) or [*_section("Goals", lambda: _goals(wh, f)),
            *_section("Headline numbers", lambda: _headline(wh, f)),
            *_section("Trend", lambda: _trend(wh, f))]


# --------------------------------------------------------------------------- funnels


def _funnel(wh: Warehouse, f: Filters) -> list[Block]:
    import plotly.graph_objects as go

    by = ["market", *(["channel"] if f.channel else [])]
    df = funnel(wh.backend, wh.cfg, FUNNEL_STEPS, by=by, start=f.start, end=f.end,
                people=True).execute()
    df = _keep(share_funnel(df, _k(wh)), f)
    rows = _chart_rows(df)
    fig = go.Figure()
    for market, g in ([] if rows is None else rows.groupby("market", sort=True)):
        fig.add_trace(go.Bar(x=[_label(s) for s in g.step_name],
                             y=g.conversion_from_first.astype(float), name=_label(market)))
    fig.update_layout(barmode="group", yaxis_tickformat=".0%")
    shown = df.drop(columns=[c for c in ("step",) if c in df.columns])
    return [_figure("Share of sessions reaching each step, by market", fig, rows),
            Block("Funnel per session: " + " → ".join(FUNNEL_STEPS), table=shown,
                  units={"units": "int", "conversion_from_previous": "share",
                         "conversion_from_first": "share", "drop_off": "int",
                         "drop_off_rate": "share", "median_seconds_from_previous": "int",
                         "people": "int"},
                  headers={"step_name": "step", "units": "sessions",
                           "conversion_from_previous": "from previous",
                           "conversion_from_first": "from first", "drop_off": "drop",
                           "drop_off_rate": "drop rate",
                           "median_seconds_from_previous": "median seconds"},
                  legend=("from previous, from first: sessions at the step / at the "
                          "previous step, at the first step",
                          "people: distinct people behind the step", *share_legend(df)))]


def funnels(wh: Warehouse, f: Filters) -> list[Block]:
    """The session funnel ``FUNNEL_STEPS`` by market (``growthloop.metrics.funnels.funnel``)."""
    return _no_data(wh) or _section("Funnel", lambda: _funnel(wh, f))


# --------------------------------------------------------------------------- cohorts


def _cohorts(wh: Warehouse, f: Filters) -> list[Block]:
    import plotly.graph_objects as go

    by = [*(["market"] if f.market else []), *(["channel"] if f.channel else [])]
    df = retention(wh.backend, wh.cfg, cohort="signup", period="month", measure="users",
                   by=by, periods=12).execute()
    df = _keep(share_cohorts(df, _k(wh)), f).drop(columns=by)
    day = pd.to_datetime(df.cohort).dt.date
    df = df[(day >= (f.start or dt.date.min)) & (day < (f.end or dt.date.max))]
    df = df.reset_index(drop=True).assign(retention=lambda d: d.retention.astype(float))
    if df.empty:
        return [Block("Retention", note="no sign-up cohort in the window")]
    rows = _chart_rows(df)
    fig = go.Figure()
    if rows is not None:
        m = to_matrix(rows)
        fig.add_trace(go.Heatmap(z=m.to_numpy(dtype=float), x=[f"+{c}" for c in m.columns],
                                 y=[str(c)[:7] for c in m.index], colorscale="Blues",
                                 zmin=0, zmax=1, texttemplate="%{z:.0%}",
                                 hovertemplate="%{y} %{x}: %{z:.1%}<extra></extra>"))
        fig.update_yaxes(autorange="reversed", type="category")
    sizes = df[df.periods_since == 0].set_index("cohort")
    matrix = to_matrix(df)
    hidden = set(df.loc[df.suppressed, "cohort"])
    table = pd.DataFrame({
        "cohort": [str(c)[:7] for c in matrix.index],
        "members": [cell(sizes.cohort_size.get(c), c in hidden, "int") for c in matrix.index],
        **{f"+{k}": [cell(matrix.loc[c, k], c in hidden, "share") for c in matrix.index]
           for k in matrix.columns}})
    return [_figure("Sign-up cohorts: share active by month since sign-up", fig, rows),
            Block("Retention by sign-up month", table=table,
                  legend=("cohort: month of sign-up; +k: k months later; cells: share of "
                          "the cohort with a logged-in event in the month",
                          f"{MISSING}: a month not reached yet", *share_legend(df)))]


def cohorts(wh: Warehouse, f: Filters) -> list[Block]:
    """Monthly sign-up cohorts' retention as a heatmap and a table (``retention``,
    ``to_matrix``)."""
    return _no_data(wh) or _section("Cohorts", lambda: _cohorts(wh, f))


# --------------------------------------------------------------------------- value


_DIMENSIONS = {"value_tier": "Value tiers", "rfm_segment": "RFM segments",
               "lifecycle_stage": "Lifecycle stages"}


def _crosstab(report: pd.DataFrame, with_clv: bool) -> pd.DataFrame:
    """Segment rows x market columns of ``segment_report`` rows (shared view): customers
    (share of the market) and, ``with_clv``, the mean CLV."""
    cells: dict[str, dict[str, str]] = {}
    for r in report.itertuples(index=False):
        if bool(r.suppressed):
            text = SUPPRESSED
        elif not r.customers:
            text = MISSING
        else:
            text = f"{number(r.customers, 'int')} ({number(r.share, 'pct')})" + (
                f" · {number(r.clv_mean, 'money')}" if with_clv else "")
        cells.setdefault(str(r.segment), {})[str(r.market)] = text
    return pd.DataFrame.from_dict(cells, orient="index").rename_axis("segment").reset_index()


def _tier_chart(tiers: pd.DataFrame, currency: str) -> Block:
    import plotly.graph_objects as go

    rows = _chart_rows(tiers[tiers.market != "all"])
    fig = go.Figure()
    for seg, g in ([] if rows is None else rows.groupby("segment", sort=False)):
        fig.add_trace(go.Bar(x=[_label(m) for m in g.market], y=g.clv.astype(float),
                             name=_label(seg)))
    fig.update_layout(barmode="stack", xaxis={"categoryorder": "category ascending"})
    return _figure(f"Predicted 1-year value by market and tier ({currency})", fig, rows)


def _value(wh: Warehouse, f: Filters) -> list[Block]:
    currency = wh.cfg.reporting_currency
    try:
        tags = read_tags(wh.backend)
    except InputError:
        tags = None
    if tags is not None:  # the stored tags of the last `growthloop clv fit`
        tags = _keep(tags, f)
        if tags.empty:
            return [Block("Customer value", note="no tagged customer in this market and "
                                                 "channel")]
        report = share_segments(segment_report(tags), _k(wh))
        if f.market:
            report = report[report.market == f.market]
        head = (f"stored scores and tags: model {tags.model_version.iloc[0]}, as of "
                f"{str(tags.as_of.iloc[0])[:10]} (`growthloop clv fit` refreshes them)")
        blocks = [Block("Customer value", note=head),
                  _tier_chart(report[report.dimension == "value_tier"], currency)]
        for dim, title in _DIMENSIONS.items():
            part = report[report.dimension == dim]
            blocks.append(Block(f"{title}: customers (share of the market)"
                                + (f" · mean 1-year CLV ({currency})"
                                   if dim == "value_tier" else ""),
                                table=_crosstab(part, dim == "value_tier"),
                                legend=tuple(share_legend(part))))
        return blocks
    v = value_summary(wh.backend, wh.cfg)
    tiers = share_segments(v["tiers"], _k(wh))
    if f.market:
        tiers = tiers[tiers.market == f.market]
    ltv, _, _ = share_ltv(_keep(v["ltv_cac"], f), None, None, _k(wh))
    return [Block("Customer value", note="computed now from all the data with the default "
                                         "settings: no scores are stored yet (`growthloop "
                                         "clv fit` stores every customer's scores and tags, "
                                         "with RFM segments and lifecycle stages)"),
            _tier_chart(tiers, currency),
            Block(f"Value tiers by predicted 1-year CLV: customers (share of the market) · "
                  f"mean CLV ({currency})", table=_crosstab(tiers, True),
                  legend=tuple(share_legend(tiers))),
            Block(f"LTV:CAC by acquisition channel ({ltv.attrs.get('months', 12)}-month LTV "
                  f"per new customer, {currency})", table=ltv,
                  units={"new_customers": "int", "spend": "money", "cac": "money2",
                         "ltv": "money2", "realised_share": "share",
                         "payback_months": "int"},
                  headers={"new_customers": "new customers", "cac": "CAC", "ltv": "LTV",
                           "realised_share": "observed", "ltv_cac": "LTV:CAC",
                           "payback_months": "payback (months)"},
                  legend=("CAC: spend / new customers; observed: share of the LTV already "
                          "realised; payback: months until the LTV reaches the CAC",
                          *share_legend(ltv)))]


def value(wh: Warehouse, f: Filters) -> list[Block]:
    """Customer value: the stored tags' tiers, RFM segments and lifecycle stages
    (``read_tags``, ``segment_report``), or, before any ``clv fit``, the demo's view
    computed now (``value_summary``: tiers and LTV:CAC per channel)."""
    return _no_data(wh) or _section("Customer value", lambda: _value(wh, f))


# --------------------------------------------------------------------------- channels


_MODELS = {"first": "first", "last": "last", "last_non_direct": "last non-direct",
           "linear": "linear", "time_decay": "time decay", "position": "U shape",
           "markov": "Markov", "shapley": "Shapley", "last_vs_markov": "last vs Markov"}


def _attribution(wh: Warehouse, f: Filters) -> list[Block]:
    import plotly.graph_objects as go

    window = {"start": f.start, "end": f.end}
    credits = model_comparison(wh.backend, wh.cfg, by_market=True, **window)
    people = channel_people(wh.backend, wh.cfg, by_market=True, **window).to_pandas()
    df = _keep(share_credits(credits, people, _k(wh)), f)
    rows = _chart_rows(df)
    fig = go.Figure()
    for market, g in ([] if rows is None else rows.groupby("market", sort=True)):
        fig.add_trace(go.Bar(x=[_label(c) for c in g.channel], y=g.markov.astype(float),
                             name=_label(market)))
    fig.update_layout(barmode="stack")
    units = dict.fromkeys([m for m in _MODELS if m != "last_vs_markov"], "int")
    return [_figure("First purchases credited to each channel (Markov), by market", fig,
                    rows),
            Block("Attributed first purchases by model", table=df,
                  units={**units, "last_vs_markov": "growth", "people": "int"},
                  headers=_MODELS,
                  legend=("last non-direct treats organic channels as direct; last vs "
                          "Markov: last-touch credit / Markov credit - 1",
                          f"journeys use the sessions of people with analytics consent "
                          f"({journeys_consent(wh.backend).message()})",
                          *share_legend(df)))]


def _economics(wh: Warehouse, f: Filters) -> list[Block]:
    import plotly.graph_objects as go

    df = channel_economics(wh.backend, wh.cfg, model="markov", period="all", by_market=True,
                           start=f.start, end=f.end, people=True)
    df = _keep(share_economics(df, _k(wh)), f).drop(columns=["model", "period"])
    rows = _chart_rows(df[df.spend > 0])
    fig = go.Figure()
    for market, g in ([] if rows is None else rows.groupby("market", sort=True)):
        fig.add_trace(go.Bar(x=[_label(c) for c in g.channel], y=g.roas.astype(float),
                             name=_label(market)))
    fig.add_hline(y=3.0, line_dash="dot", annotation_text="3:1")
    fig.update_layout(barmode="group")
    currency = wh.cfg.reporting_currency
    return [_figure("ROAS per paid channel and market (Markov credit)", fig, rows),
            Block(f"Channel economics under Markov attribution ({currency})", table=df,
                  units={"spend": "money", "new_customers": "count", "revenue": "money",
                         "roi": "growth", "cac": "money2", "people": "int"},
                  headers={"new_customers": "new customers", "roas": "ROAS", "roi": "ROI",
                           "cac": "CAC"},
                  legend=("ROAS: revenue / spend; ROI: (revenue - spend) / spend; CAC: "
                          "spend / new customers (attributed first purchases)",
                          *share_legend(df)))]


def _campaigns(wh: Warehouse, f: Filters) -> list[Block]:
    df = kpi_frame(wh.backend, wh.cfg, ["spend", "new_users", "cac", "roas"], grain="all",
                   by=["market", "channel", "campaign"], start=f.start, end=f.end,
                   people=True)
    df = _keep(share_kpis(df, _k(wh)), f)
    df = df[df.campaign.notna()]
    units = _units(wh.cfg)
    df = df.assign(text=[cell(r.value, bool(r.suppressed), units.get(r.kpi))
                         for r in df.itertuples(index=False)])
    keys = ["market", "channel", "campaign"]
    table = df.pivot_table(index=keys, columns="kpi", values="text", aggfunc="first")
    spend = df[df.kpi == "spend"].set_index(keys).value.astype(float)
    table = table.reindex(columns=["spend", "new_users", "cac", "roas"]).fillna(MISSING)
    table = table.assign(_spend=spend.reindex(table.index).fillna(0.0))
    table = table.sort_values("_spend", ascending=False).drop(columns="_spend")
    return [Block(f"Campaigns by spend ({wh.cfg.reporting_currency}; sign-ups credited to "
                  "their acquisition campaign)", table=table.reset_index(),
                  headers={"new_users": "new users", "cac": "CAC", "roas": "ROAS"},
                  legend=tuple(share_legend(df)))]


def _mmm(wh: Warehouse, f: Filters) -> list[Block]:
    title = "Marketing-mix model"
    fit = stored_fit(wh)
    if fit is None:
        return [Block(title, note="no marketing-mix fit is stored yet: `growthloop mmm fit` "
                                  "(or `growthloop budget`) fits and stores one")]
    t = _keep(channel_table(fit), f)
    target = fit.meta["target"]
    keep = ["market", "channel", "spend", "contribution", "contribution_share", "per_spend",
            "per_spend_low", "per_spend_high", "marginal_per_spend",
            *[c for c in ("roas", "cost_per_outcome") if c in t.columns], "half_life_days"]
    return [Block(f"{title} {fit.version}: {target} caused by each channel's spend "
                  f"(periods {str(fit.meta['first_period'])[:10]} to {fit.last_period})",
                  table=t[keep], units={"spend": "money", "contribution": "count",
                                        "contribution_share": "share",
                                        "cost_per_outcome": "money2"},
                  headers={"contribution_share": "share", "per_spend": "per spend",
                           "per_spend_low": "low", "per_spend_high": "high",
                           "marginal_per_spend": "marginal", "roas": "ROAS",
                           "cost_per_outcome": "cost per outcome",
                           "half_life_days": "half-life (days)"},
                  legend=(f"per spend: {target} per unit of spend with its "
                          f"{t.attrs.get('level', 0.9):.0%} interval (low, high); marginal: "
                          "the same for the next 1 % of spend",
                          "spend and model outputs are not about people: not suppressed"))]


def _budget(wh: Warehouse, f: Filters) -> list[Block]:
    title = "Budget plan"
    latest = _table(wh.con, "SELECT as_of, cadence, target FROM budget_plans "
                            "ORDER BY created_at DESC LIMIT 1")
    if latest.empty:
        return [Block(title, note="no budget plan is stored yet: `growthloop budget --cadence "
                                  "weekly` runs the re-allocation loop and stores its plan")]
    as_of, cadence, target = latest.iloc[0]
    plan = _table(wh.con, "SELECT market, channel, current, planned, change_share, shifted, "
                          "reason FROM budget_plans WHERE as_of = ? AND cadence = ? AND "
                          "target = ? ORDER BY market, channel", [as_of, cadence, target])
    return [Block(f"{title} from {str(as_of)[:10]} ({cadence} loop, target {target}, "
                  f"{wh.cfg.reporting_currency} per week)", table=_keep(plan, f),
                  units={"current": "money", "planned": "money", "change_share": "growth"},
                  headers={"change_share": "change"})]


def channels(wh: Warehouse, f: Filters) -> list[Block]:
    """Attribution by every model (``model_comparison``), ROI per channel
    (``channel_economics``), campaigns (``kpi_frame``), the stored marketing-mix fit
    (``channel_table``) and the latest stored budget plan (``budget_plans``)."""
    return [*(_no_data(wh) or [*_section("Attribution", lambda: _attribution(wh, f)),
                               *_section("Channel economics", lambda: _economics(wh, f)),
                               *_section("Campaigns", lambda: _campaigns(wh, f))]),
            *_section("Marketing-mix model", lambda: _mmm(wh, f)),
            *_section("Budget plan", lambda: _budget(wh, f))]


# --------------------------------------------------------------------------- experiments


_LATEST_RESULTS = """
    SELECT * FROM experiment_results r
    WHERE analyzed_at = (SELECT max(analyzed_at) FROM experiment_results x
                         WHERE x.experiment_id = r.experiment_id)
    ORDER BY experiment_id, role, metric, segment, variant"""


def _results(wh: Warehouse, f: Filters) -> list[Block]:
    import plotly.graph_objects as go

    title = "Experiments"
    res = _table(wh.con, _LATEST_RESULTS)
    if res.empty:
        return [Block(title, note="no experiment is analysed yet: `growthloop experiment "
                                  "analyze` analyses the registry's experiments and stores "
                                  "the results")]
    overall = res[res.segment == "all"].assign(
        units=lambda d: d[["n_control", "n_variant"]].min(axis=1))
    verdicts = overall.groupby("experiment_id", sort=True).agg(
        as_of=("as_of", "first"), verdict=("verdict", "first"), reason=("reason", "first"),
        srm_p=("srm_p", "first"), units=("units", "min")).reset_index()
    # the reason quotes the effect: it is built from the smaller variant's units
    verdicts = suppress(verdicts, _k(wh), {"reason": "units", "srm_p": "units"}).drop(
        columns="units")
    rows = res[res.segment == (f.market or "all")]
    rows = suppress(rows, _k(wh), dict.fromkeys(
        ("mean_control", "mean_variant", "lift", "lift_low", "lift_high", "p_adjusted",
         "chance_to_win"), ("n_control", "n_variant")))
    shown = rows[["experiment_id", "metric", "role", "variant", "n_control", "n_variant",
                  "mean_control", "mean_variant", "lift", "lift_low", "lift_high",
                  "p_adjusted", "chance_to_win", "suppressed"]]
    drawn = _chart_rows(shown[shown.role == "primary"])
    fig = go.Figure()
    if drawn is not None:
        lift = drawn.lift.astype(float)
        fig.add_trace(go.Scatter(
            x=lift, y=[_label(f"{e} / {v}") for e, v in zip(drawn.experiment_id,
                                                            drawn.variant, strict=True)],
            mode="markers", error_x={"type": "data", "symmetric": False,
                                     "array": drawn.lift_high.astype(float) - lift,
                                     "arrayminus": lift - drawn.lift_low.astype(float)}))
        fig.add_vline(x=0.0, line_dash="dot")
        fig.update_layout(xaxis_tickformat="+.0%")
    where = f"market {f.market}" if f.market else "all units"
    return [Block(f"{title}: latest verdict of each", table=verdicts, badges=("verdict",),
                  headers={"experiment_id": "experiment", "as_of": "as of",
                           "srm_p": "sample-ratio p"}),
            _figure(f"Primary metric's lift with its interval ({where})", fig, drawn),
            Block(f"Effects over {where}", table=shown,
                  units={"n_control": "int", "n_variant": "int", "lift": "growth",
                         "lift_low": "growth", "lift_high": "growth",
                         "chance_to_win": "pct"},
                  headers={"experiment_id": "experiment", "n_control": "control units",
                           "n_variant": "variant units", "mean_control": "control mean",
                           "mean_variant": "variant mean", "lift_low": "low",
                           "lift_high": "high", "p_adjusted": "adj. p",
                           "chance_to_win": "P(win)"},
                  legend=("lift: variant / control - 1 with its interval (low, high); adj. "
                          "p: after the multiple-testing correction",
                          *share_legend(shown)))]


def _knowledge(wh: Warehouse, f: Filters) -> list[Block]:
    title = "Knowledge base"
    kb = list_entries(wh.con, market=f.market, limit=5) if f.market else recent(wh.con, 5)
    if kb.empty:
        return [Block(title, note="the knowledge base is empty: `growthloop experiment "
                                  "analyze` records concluded experiments, `growthloop kb "
                                  "add` a strategy note")]
    cols = [c for c in ("entry_id", "kind", "title", "decision", "metric", "effect",
                        "effect_low", "effect_high", "markets", "start_date", "end_date")
            if c in kb.columns]
    return [Block(f"{title}: newest entries", table=kb[cols],
                  units={"effect": "growth", "effect_low": "growth", "effect_high": "growth"},
                  headers={"entry_id": "entry", "effect_low": "low", "effect_high": "high",
                           "start_date": "from", "end_date": "to"},
                  legend=("`growthloop kb search TEXT` finds any entry",))]


def experiments(wh: Warehouse, f: Filters) -> list[Block]:
    """The latest stored analysis of each experiment (``experiment_results``) and the
    knowledge base's newest entries (``growthloop.decide.knowledge.recent``)."""
    return [*_section("Experiments", lambda: _results(wh, f)),
            *_section("Knowledge base", lambda: _knowledge(wh, f))]


def _stored_alerts(wh: Warehouse, f: Filters) -> pd.DataFrame:
    """The newest stored alert of each KPI, grain, market and period."""
    where, params = "", []
    if f.market:
        where, params = "WHERE market IN (?, 'all')", [f.market]
    return wh.con.execute(
        f"""SELECT * FROM alerts {where}
            QUALIFY row_number() OVER (PARTITION BY kpi, grain, market, period
                                       ORDER BY created_at DESC) = 1
            ORDER BY period DESC, abs(z) DESC LIMIT 200""", params).df()


def _alerts(wh: Warehouse, f: Filters) -> list[Block]:
    import json

    import plotly.graph_objects as go

    from growthloop.decide.alerts import alert_series
    from growthloop.report.watch import driver_text

    title = "KPI alerts"
    df = _stored_alerts(wh, f)
    if df.empty:
        return [Block(title, note="no alerts are stored: `growthloop alerts` watches every KPI "
                                  "with a goal or `watch = true` and stores what it finds")]
    df["explained by"] = [driver_text(json.loads(d)) for d in df.drivers]
    df["move"] = np.where(df.worse, "worse", "better")
    shown = df[["period", "kpi", "grain", "market", "actual", "expected", "low", "high", "z",
                "move", "explained by"]].head(30)
    blocks = [Block(f"{title}: the newest (as of {df.as_of.max():%Y-%m-%d})", table=shown,
                    legend=("band: expected with its low and high from the KPI's own "
                            "history; explained by: the slices with the largest share of "
                            "the move (mix: their weight moved; rate: their own value)",))]
    worse = df[df.worse].head(2)
    for a in worse.itertuples():
        band = alert_series(wh.backend, wh.cfg, a.kpi, a.market, a.grain,
                            as_of=min(pd.Timestamp(a.period_end).date()
                                      + dt.timedelta(days=28), data_end(wh.backend)))
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=band.period, y=band.high, line={"width": 0},
                                 showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=band.period, y=band.low, fill="tonexty", name="band",
                                 line={"width": 0}, fillcolor="rgba(99,110,250,0.2)"))
        fig.add_trace(go.Scatter(x=band.period, y=band.actual, name="actual",
                                 mode="lines+markers", line={"color": "#333"}))
        hit = band[band.alert]
        fig.add_trace(go.Scatter(x=hit.period, y=hit.actual, name="alert", mode="markers",
                                 marker={"color": "#d62728", "size": 10}))
        blocks.append(_figure(f"{a.kpi} ({a.grain}, {a.market}) with its band: "
                              f"{driver_text(json.loads(a.drivers), 1)}", fig, band))
    return blocks


def _risks(wh: Warehouse, f: Filters) -> list[Block]:
    from growthloop.decide.risks import risk_report

    findings, effects = risk_report(wh.backend, wh.cfg)
    rows = pd.DataFrame([x.as_dict() for x in findings
                         if x.status in ("alert", "warn") and (not f.market
                                                              or x.market == f.market)])
    blocks = []
    if rows.empty:
        blocks.append(Block("Risk monitors", note="every monitor is ok"))
    else:
        blocks.append(Block("Risk monitors: alerts and warnings",
                            table=rows[["monitor", "market", "channel", "status", "detail"]],
                            badges=("status",), headers={"detail": "finding"}))
    nps, rep = effects.get("nps_per_day"), effects.get("repurchase_per_day")
    if nps and rep:
        blocks.append(Block("A day more of delivery", note=(
            f"NPS {nps['effect']:+.1f} points (90 %: {nps['low']:+.1f} to {nps['high']:+.1f}); "
            f"60-day repurchase {rep['effect']:+.2%} (90 %: {rep['low']:+.2%} to "
            f"{rep['high']:+.2%}), estimated from the data")))
    return blocks


def _forecast(wh: Warehouse) -> list[Block]:
    from growthloop.decide.forecast import annual_forecast
    from growthloop.report.forecast import forecast_figure

    title = "Forecast of the annual goal"
    got = annual_forecast(wh.backend, wh.cfg, needs=False)
    if got is None:
        return [Block(title, note="the project has no annual goal to forecast: "
                                  "[decomposition] names it in growthloop.toml")]
    fc, outcome = got
    if fc.projection is None:
        return [Block(title, note=fc.note or "no forecast")]
    probs = fc.probabilities or {}
    ended = ("" if outcome is None else
             f"; the year ended at {number(outcome, _unit(fc.unit))}")
    fig = forecast_figure(fc)
    fig.update_layout(margin={"t": 50, "l": 60, "r": 20, "b": 40}, height=380,
                      legend={"orientation": "h"})
    return [Block(f"{title}: {fc.goal} as of {fc.as_of.isoformat()}", figure=fig,
                  legend=(f"projection {number(fc.projection, _unit(fc.unit))} ({fc.level:.0%}: "
                          f"{number(fc.low, _unit(fc.unit))} to "
                          f"{number(fc.high, _unit(fc.unit))}); chance of each tier: "
                          + ", ".join(f"{t} {probs.get(t, 0):.0%}"
                                      for t in ("base", "target", "challenge"))
                          + f" ({fc.method}){ended}",))]


def watch(wh: Warehouse, f: Filters) -> list[Block]:
    """The stored KPI alerts with their band and causes, the risk monitors and the
    forecast of the annual goal."""
    if (empty := _no_data(wh)) is not None:
        return empty
    return [*_section("KPI alerts", lambda: _alerts(wh, f)),
            *_section("Risk monitors", lambda: _risks(wh, f)),
            *_section("Forecast of the annual goal", lambda: _forecast(wh))]


#: Every page: its name (the URL's last part), title and function, in the nav's order.
PAGES: dict[str, tuple[str, Callable[[Warehouse, Filters], list[Block]]]] = {
    "overview": ("Overview", overview),
    "funnels": ("Funnels", funnels),
    "cohorts": ("Cohorts", cohorts),
    "value": ("Customer value", value),
    "channels": ("Channels", channels),
    "experiments": ("Experiments", experiments),
    "watch": ("Watch", watch),
}

#: The filters each page applies.
APPLIES: dict[str, tuple[str, ...]] = {
    "overview": ("from", "to", "market", "channel"),
    "funnels": ("from", "to", "market", "channel"),
    "cohorts": ("from", "to", "market", "channel"),
    "value": ("market", "channel"),
    "channels": ("from", "to", "market", "channel"),
    "experiments": ("market",),
    "watch": ("market",),
}
