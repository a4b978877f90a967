"""Charts as standalone HTML files (Plotly, plotly.js inlined so they open offline).

Each chart takes the result frame a library function returns (``growthloop.decide``) and
writes one file; ``check_chart_path`` checks a path before any slow work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from growthloop.core.errors import InputError
from growthloop.decide.holdout import Validation
from growthloop.decide.ltv import LTV_DIMENSIONS
from growthloop.models.clv.segmented import (
    DEFAULT_DISCOUNT_RATE,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_MARGIN,
    POOLED,
    CustomerValueModel,
    check_value_settings,
)

__all__ = ["check_chart_path", "fit_chart", "ltv_chart", "tornado_chart", "validation_chart",
           "write_html"]


def check_chart_path(path: str | Path) -> Path:
    """``path`` if a chart can be written there (an ``.html`` name in a folder that
    exists); else InputError."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"chart file {path}: expected a name ending in .html")
    if not path.parent.is_dir():
        raise InputError(f"chart file {path}: the folder {path.parent} does not exist")
    return path


def write_html(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (``.html``) with plotly.js inlined, so it opens offline."""
    path = check_chart_path(path)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


def fit_chart(model: CustomerValueModel, path: str | Path,
              horizon_days: int = DEFAULT_HORIZON_DAYS) -> Path:
    """Expected repeat purchases of a new customer over ``horizon_days`` per segment (FHL
    2005 eq. 7; Pareto/NBD eq. 27), one line per segment, as a standalone HTML file."""
    import plotly.graph_objects as go

    model.check_fitted()
    check_value_settings(horizon_days, DEFAULT_DISCOUNT_RATE, DEFAULT_MARGIN)
    t = np.linspace(0.0, float(horizon_days), 121)
    fig = go.Figure()
    for seg, p_model in model.purchase_.items():
        fig.add_trace(go.Scatter(x=t, y=p_model.expected_purchases(t), mode="lines",
                                 name=seg))
    fig.update_layout(
        title=f"Expected repeat purchases of a new customer ({model.model}, by "
              f"{model.by or 'all customers'})",
        xaxis_title="days since the first purchase", yaxis_title="repeat purchases",
        template="plotly_white")
    return write_html(fig, path)


def ltv_chart(table: pd.DataFrame, path: str | Path) -> Path:
    """Bars of LTV:CAC per group (``ltv_cac`` output), with the plan's 3:1 line."""
    import plotly.graph_objects as go

    dims = [c for c in table.columns if c in LTV_DIMENSIONS]
    t = table[table.ltv_cac.notna()]
    label = t[dims].astype(str).agg(" / ".join, axis=1)
    fig = go.Figure(go.Bar(x=label, y=t.ltv_cac, customdata=np.stack(
        [t.ltv, t.cac, t.payback_months], axis=1),
        hovertemplate="LTV:CAC %{y:.2f}<br>LTV %{customdata[0]:,.2f}<br>CAC "
                      "%{customdata[1]:,.2f}<br>payback %{customdata[2]} months"))
    fig.add_hline(y=3.0, line_dash="dot", annotation_text="3:1")
    fig.update_layout(title=f"LTV:CAC by {' x '.join(dims)} "
                            f"({table.attrs.get('months', '')}-month LTV)",
                      yaxis_title="LTV:CAC", template="plotly_white")
    return write_html(fig, path)


def tornado_chart(table: pd.DataFrame, path: str | Path) -> Path:
    """A tornado per market (``tornado`` output): LTV:CAC at each driver's low and high
    value around the base, widest bar on top."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    markets = list(dict.fromkeys(table.market))
    fig = make_subplots(rows=len(markets), cols=1, subplot_titles=markets,
                        vertical_spacing=min(0.08, 0.5 / max(len(markets), 1)))
    for i, m in enumerate(markets, start=1):
        t = table[table.market == m].iloc[::-1]
        base = float(t.base_ltv_cac.iloc[0])
        for col, end, name, color in (("ltv_cac_low", "low_value", "driver at low", "#d62728"),
                                      ("ltv_cac_high", "high_value", "driver at high",
                                       "#2ca02c")):
            fig.add_trace(go.Bar(y=t.driver, x=t[col] - base, base=base, orientation="h",
                                 name=name, marker_color=color, showlegend=i == 1,
                                 customdata=np.column_stack([t[end], t.basis, t[col]]),
                                 hovertemplate="driver %{customdata[0]:.4g} "
                                               "(%{customdata[1]})<br>LTV:CAC "
                                               "%{customdata[2]:.2f}"), row=i, col=1)
        fig.add_vline(x=base, line_dash="dot", row=i, col=1)
    fig.update_layout(barmode="overlay", template="plotly_white",
                      title="Five-driver tornado: LTV:CAC with each driver at its low and "
                            "high value",
                      height=max(300, 220 * len(markets)))
    return write_html(fig, path)


def validation_chart(result: Validation, path: str | Path) -> Path:
    """Grouped bars of mean actual vs predicted holdout purchases by calibration frequency
    bucket (all customers), written as a standalone HTML file."""
    import plotly.graph_objects as go

    t = result.table[result.table.segment == POOLED]
    fig = go.Figure([
        go.Bar(name="actual", x=t.bucket, y=t.actual_mean,
               customdata=t.customers, hovertemplate="%{y:.3f} (%{customdata} customers)"),
        go.Bar(name="predicted", x=t.bucket, y=t.predicted_mean),
    ])
    fig.update_layout(
        barmode="group",
        title=(f"Holdout {result.holdout_from} to {result.holdout_to}: repeat purchases per "
               f"customer, actual vs predicted"),
        xaxis_title="repeat purchases in the calibration period (to "
                    f"{result.calibration_end})",
        yaxis_title=f"mean purchases in the {result.holdout_days}-day holdout",
        template="plotly_white",
    )
    return write_html(fig, path)
