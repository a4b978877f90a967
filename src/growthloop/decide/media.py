"""Marketing-mix results: fit the MMM from a file or the warehouse, and what each channel
returns.

``mmm_table_file`` reads a user's table (one row per market and period); ``mmm_panel``
builds it from the warehouse (``growthloop.metrics.media``, with shopping-festival
controls); ``fit_mmm`` fits ``growthloop.models.mmm.MediaMixModel`` and returns the model
with its channel table (``MediaMixModel.channel_summary``). Where the outcome is money
(revenue), the outcome per unit of spend is the ROAS and ``roi = ROAS - 1``
(``growthloop.core.glossary``); where it is a count (new users, new customers), its
inverse is the cost per incremental outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core import glossary
from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.decide.budget import BudgetPlan, budget_from_model
from growthloop.ingest.summaries import read_frame
from growthloop.metrics.compile import catalog
from growthloop.metrics.media import festival_controls, media_panel
from growthloop.models.mmm import MediaMixModel, MMMData, mmm_data

__all__ = ["fit_mmm", "is_money_target", "mmm_panel", "mmm_table_file", "next_budget",
           "response_curves"]


def mmm_table_file(path: str | Path, *, date: str, target: str, spend: Sequence[str],
                   market: str | None = None, controls: Sequence[str] = ()) -> MMMData:
    """A user's CSV or Parquet table (one row per market and period), checked."""
    path = Path(path)
    return mmm_data(read_frame(path), date=date, target=target, spend=spend, market=market,
                    controls=controls, source=str(path))


def mmm_panel(backend: BaseBackend, cfg: Config, *, grain: str = "week",
              target: str = "new_users", festivals: bool = True) -> MMMData:
    """The warehouse's panel (complete periods) with festival controls, checked."""
    panel = media_panel(backend, cfg, grain=grain, target=target)
    channels = panel.attrs["channels"]
    controls: list[str] = []
    if festivals:
        f = festival_controls(panel.period, grain)
        f = f.loc[:, f.to_numpy().sum(axis=0) > 0]  # festivals the data never saw
        panel = pd.concat([panel, f], axis=1)
        controls = list(f.columns)
    return mmm_data(panel, date="period", target=target, spend=channels,
                    market="market", controls=controls, source="warehouse")


def fit_mmm(data: MMMData, *, method: str = "map", holdout: int = 0, draws: int = 500,
            level: float = 0.9, seed: int = 0, money_target: bool = False
            ) -> tuple[MediaMixModel, pd.DataFrame]:
    """Fit the MMM and return it with its channel table: ``channel_summary(level)`` plus,
    for a money outcome, ``roas`` / ``roi`` with their intervals, and for a count, the
    ``cost_per_outcome`` (spend per incremental outcome)."""
    model = MediaMixModel(method=method, holdout=holdout, draws=draws,  # type: ignore[arg-type]
                          seed=seed).fit(data)
    table = model.channel_summary(level=level)
    if money_target:
        for suffix in ("", "_low", "_high"):
            revenue = table[f"per_spend{suffix}"] * table.spend
            table[f"roas{suffix}"] = glossary.roas(revenue, table.spend)
            table[f"roi{suffix}"] = glossary.roi(revenue, table.spend)
    else:
        table["cost_per_outcome"] = glossary.ratio(table.spend, table.contribution)
    return model, table


def is_money_target(cfg: Config | None, target: str) -> bool:
    """Whether a warehouse target KPI is money (its unit is the currency)."""
    kpi = catalog(cfg).get(target)
    return kpi is not None and kpi.unit == "currency"


def response_curves(model: MediaMixModel, *, points: int = 41, up_to: float = 3.0
                    ) -> pd.DataFrame:
    """Steady-state response per market and channel: the outcome per period at a constant
    spend from 0 to ``up_to`` times the channel's mean spend (``points`` values; the mean
    and its outcome in ``mean_spend``, ``mean_outcome``); ``beta s_m hill(spend / x_mc,
    K, S)`` at the point estimate."""
    from growthloop.models.mmm.transforms import hill

    model.check_fitted()
    p, scale = model.params_, model.scale_
    rows = []
    for i, m in enumerate(model.data_.markets):
        for j, c in enumerate(model.data_.channels):
            mean = float(model.data_.x[i, j].mean())
            grid = np.linspace(0.0, up_to * max(mean, 1e-9), points)
            rel = grid / scale["x"][i, j]
            y = (float(p["beta"][i, j]) * scale["y"][i]
                 * np.asarray(hill(rel, p["half_saturation"][i, j], p["hill_shape"][j])))
            at_mean = (float(p["beta"][i, j]) * scale["y"][i] * float(np.asarray(hill(
                mean / scale["x"][i, j], p["half_saturation"][i, j], p["hill_shape"][j]))))
            rows += [{"market": m, "channel": c, "spend": float(g), "outcome": float(v),
                      "mean_spend": mean, "mean_outcome": at_mean}
                     for g, v in zip(grid, y, strict=True)]
    return pd.DataFrame(rows)


def next_budget(backend: BaseBackend, cfg: Config, *, grain: str = "week",
                target: str = "new_users", total: float | None = None,
                max_step: float | None = 0.2, exploration_share: float = 0.05,
                min_marginal_roi: float | None = None, method: str = "map",
                draws: int = 500, seed: int = 0
                ) -> tuple[MediaMixModel, pd.DataFrame, BudgetPlan, dt.date]:
    """The next period's plan: the MMM fitted on the warehouse panel (``mmm_panel``),
    then ``budget_from_model`` with ``total`` (default: the mean spend per period of the
    last 4 periods), each pair within ``max_step`` of its current spend (the plan's
    +-20 % a week), ``exploration_share`` kept out for tests of new channels (the plan's
    5-10 %) and an optional marginal-ROI floor (money outcomes only). Returns the model,
    its channel table (``fit_mmm``), the plan and the first day of the period planned
    (the one after the panel's last)."""
    money = is_money_target(cfg, target)
    if min_marginal_roi is not None and not money:
        raise InputError(f"a marginal-ROI floor needs a money outcome; {target!r} is a "
                         "count (choose --target revenue)")
    model, table = fit_mmm(mmm_panel(backend, cfg, grain=grain, target=target),
                           method=method, draws=draws, seed=seed, money_target=money)
    constraints = {"max_step": max_step, "exploration_share": exploration_share,
                   "min_marginal_roi": min_marginal_roi}
    start = (model.data_.periods[-1] + pd.Timedelta(days=model.data_.period_days)).date()
    return model, table, budget_from_model(model, total, constraints, seed=seed), start
