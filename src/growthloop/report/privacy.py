"""Small-cell suppression of output meant to be shared: one rule, ``suppress``.

A *cell* of a result (a KPI's value, a segment's size, a channel's credit) is built from
some people; the result's frame carries that count in a *people* column. In the shared
view (``--share``, or ``[privacy] share_by_default = true``) a cell whose people column
is below ``privacy.min_group_size`` is empty (None: ``null`` in JSON, an empty field in a
CSV) and its row has ``suppressed`` true; tables show it as ``SUPPRESSED`` with a legend
line, never as a small number. The people count itself is suppressed with the cells it
protects. A people column that is empty (NaN) marks cells not about people (media spend):
they are always shown. The analyst's own view (no ``--share``) shows every cell as it is.

The ``share_*`` functions say, per command, which cells each people column protects; the
rule is ``suppress`` alone. What a people column counts is defined where it is computed
(``growthloop.metrics.compile`` for KPIs, ``metrics.funnels``, ``metrics.journeys``'s
``channel_people``, and the sizes of cohorts, segments and LTV groups); docs/privacy.md
explains the rule and its limits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.decide.goals import decomposition_by
from growthloop.report.format import is_missing, number

__all__ = ["SUPPRESSED", "cell", "chartable", "privacy_doc", "share_cohorts", "share_credits",
           "share_economics", "share_funnel", "share_goals", "share_kpis", "share_legend",
           "share_ltv", "share_segments", "share_summary", "shared", "suppress"]

#: How a suppressed cell reads in a table.
SUPPRESSED = "supp."


def shared(share: bool | None, cfg: Config) -> bool:
    """Whether a command gives the shared view: ``--share``/``--no-share`` when given,
    else the project's ``[privacy] share_by_default``."""
    return cfg.privacy.share_by_default if share is None else share


def suppress(df: pd.DataFrame, min_size: int,
             cells: Mapping[str, str | Sequence[str]]) -> pd.DataFrame:
    """``df`` with every cell built from fewer than ``min_size`` people emptied.

    ``cells`` maps each protected column to the people column(s) it is built from; a
    cell is suppressed when any of them is below ``min_size`` (an empty people count:
    not about people, never suppressed). The people columns are suppressed with their
    cells. Adds the bool column ``suppressed`` (any cell of the row emptied) and records
    ``min_size`` in ``attrs["min_group_size"]``.
    """
    if isinstance(min_size, bool) or not isinstance(min_size, int | np.integer) \
            or min_size < 1:
        raise InputError(f"min_group_size = {min_size!r}: expected a whole number >= 1")
    out = df.copy()
    small: dict[str, pd.Series] = {}
    for people in {p for ps in cells.values() for p in ([ps] if isinstance(ps, str) else ps)}:
        n = pd.to_numeric(out[people], errors="coerce")
        small[people] = n.notna() & (n < min_size)
    row = pd.Series(False, index=out.index)
    protected = {c: [ps] if isinstance(ps, str) else list(ps) for c, ps in cells.items()}
    for p in small:
        protected.setdefault(p, [p])
    masks = {c: np.logical_or.reduce([small[p] for p in ps]) for c, ps in protected.items()}
    for c, mask in masks.items():
        mask = pd.Series(mask, index=out.index)
        if mask.any():
            out[c] = out[c].astype(object).where(~mask, None)
        row |= mask
    out["suppressed"] = row.astype(bool)
    out.attrs["min_group_size"] = int(min_size)
    return out


def cell(v: Any, suppressed: bool, unit: str | None = None, digits: int = 3) -> str:
    """A table cell: ``SUPPRESSED`` for an emptied cell of a suppressed row, else
    ``growthloop.report.format.number``."""
    return SUPPRESSED if suppressed and is_missing(v) else number(v, unit, digits)


def chartable(df: pd.DataFrame) -> pd.DataFrame:
    """The rows a chart of the shared view may draw: those without suppressed cells
    (InputError when there are none)."""
    if "suppressed" not in df.columns:
        return df
    keep = df[~df.suppressed.astype(bool)]
    if keep.empty:
        raise InputError("every row is suppressed in the shared view (fewer than "
                         f"{df.attrs.get('min_group_size')} people each): nothing to chart")
    return keep


def share_legend(df: pd.DataFrame) -> list[str]:
    """The legend line of a shared table (none for the analyst's own view)."""
    if "suppressed" not in df.columns:
        return []
    k = df.attrs.get("min_group_size")
    fewer = f"fewer than {k} people" if k else "too few people"
    return [f"{SUPPRESSED}: suppressed, {fewer} behind the cell (shared view; "
            "privacy.min_group_size)"]


def privacy_doc(df: pd.DataFrame | None, share: bool) -> dict[str, Any]:
    """The ``privacy`` field of a JSON document: whether it is the shared view and, if so,
    the threshold and how many rows had cells suppressed."""
    if not share:
        return {"shared": False}
    k = None if df is None else df.attrs.get("min_group_size")
    n = 0 if df is None or "suppressed" not in df.columns else int(df.suppressed.sum())
    return {"shared": True, "min_group_size": k, "rows_suppressed": n}


# --------------------------------------------------------------------------- per command


def share_kpis(df: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """``kpi_frame(..., people=True)``: a KPI's numerator, denominator and value are built
    from the people behind numerator or denominator."""
    return suppress(df, min_size, dict.fromkeys(("numerator", "denominator", "value"),
                                                "people"))


def share_summary(df: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """``market_summary``: users (sign-ups) and buyers are the people of their cells;
    revenue, order value and repurchase rate are the buyers'; conversion needs both."""
    return suppress(df, min_size, {
        "revenue": "buyers", "order_value": "buyers", "repurchase_rate": "buyers",
        "conversion": ("users", "buyers")})


def share_funnel(df: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """``funnel(..., people=True)``: a step's row is built from the people reaching it."""
    cols = ("units", "conversion_from_previous", "conversion_from_first", "drop_off",
            "drop_off_rate", "median_seconds_from_previous")
    return suppress(df, min_size, dict.fromkeys([c for c in cols if c in df.columns],
                                                "people"))


def share_cohorts(df: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """``retention``: every cell of a cohort is built from its members (``cohort_size``)."""
    cols = ("active_users", "revenue", "retention")
    return suppress(df, min_size, dict.fromkeys([c for c in cols if c in df.columns],
                                                "cohort_size"))


def share_goals(goals: pd.DataFrame, dec: pd.DataFrame | None, min_size: int
                ) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, pd.DataFrame] | None]:
    """``goal_report(..., people=True)``: a goal's actual, tier, gap and projection are
    built from the people behind its KPI; a decomposition cell's actual and attainment
    from its own, and so are those of its sums by market and by channel
    (``decomposition_by``, returned as the third item)."""
    g = suppress(goals, min_size, dict.fromkeys(
        ("actual", "gap", "projection", "low", "high", "tier", "next_tier",
         "projected_tier"), "people"))
    if dec is None:
        return g, None, None
    cells = dict.fromkeys(("actual", "attainment"), "people")
    parts = {d: suppress(decomposition_by(dec, d), min_size, cells)
             for d in ("market", "channel")}
    return g, suppress(dec, min_size, cells), parts


def share_segments(report: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """``segment_report``: a segment's cells are built from its customers."""
    return suppress(report, min_size, dict.fromkeys(
        ("share", "clv", "clv_mean", "clv_share", "total_value"), "customers"))


def share_ltv(table: pd.DataFrame, drivers: pd.DataFrame | None, torn: pd.DataFrame | None,
              min_size: int) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """``ltv_report``: a group's LTV, CAC and payback are built from its new customers; a
    market's drivers and tornado from its new users (sign-ups)."""
    t = suppress(table, min_size, dict.fromkeys(
        ("cac", "ltv", "realised_share", "ltv_cac", "payback_months"), "new_customers"))
    if drivers is None:
        return t, None, torn
    people = dict(zip(drivers.market, drivers.new_users, strict=True))
    d = suppress(drivers, min_size, dict.fromkeys(
        [c for c in drivers.columns if c not in ("market", "new_users", "spend", "margin")],
        "new_users"))
    tt = None
    if torn is not None:
        tt = torn.assign(new_users=torn.market.map(people))
        tt = suppress(tt, min_size, dict.fromkeys(
            [c for c in torn.columns if c not in ("market", "driver", "rank")], "new_users"))
    return t, d, tt


def share_credits(credits: pd.DataFrame, people: pd.DataFrame, min_size: int
                  ) -> pd.DataFrame:
    """Attribution credits per channel (and market): built from the people of
    ``growthloop.metrics.journeys.channel_people`` (converting journeys touching it)."""
    keys = [k for k in ("market", "period", "channel") if k in people.columns]
    df = credits.merge(people, on=keys, how="left")
    df["people"] = df.people.fillna(0).astype("int64")
    values = [c for c in df.columns if c not in (*keys, "people")]
    return suppress(df, min_size, dict.fromkeys(values, "people"))


def share_economics(df: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """``channel_economics(..., people=True)``: attributed new customers and revenue (and
    the ratios on them) are built from the buyers behind the credit; spend is shown."""
    return suppress(df, min_size, dict.fromkeys(
        ("new_customers", "revenue", "roas", "roi", "cac"), "people"))
