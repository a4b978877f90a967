"""Marketing-mix results: fit the MMM from a file or the warehouse, and what each channel
returns.

``mmm_table_file`` reads a user's table (one row per market and period); ``mmm_panel``
builds it from the warehouse (``growthloop.metrics.media``, with shopping-festival
controls); ``fit_mmm`` fits ``growthloop.models.mmm.MediaMixModel`` and returns the model
with its channel table (``MediaMixModel.channel_summary``). Where the outcome is money
(revenue), the outcome per unit of spend is the ROAS and ``roi = ROAS - 1``
(``growthloop.core.glossary``); where it is a count (new users, new customers), its
inverse is the cost per incremental outcome.

``save_fit`` stores a fit in the warehouse under its model version
(``growthloop.warehouse.media_store``); ``next_budget`` plans from the latest stored fit
of the warehouse's panel, fitting (and storing) one first when none covers its last
period, so the budget, the demo and the channel figures read the same numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core import glossary
from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.decide.budget import BudgetPlan, curve_frames, make_curves, plan_budget
from growthloop.ingest.summaries import read_frame
from growthloop.metrics.compile import catalog
from growthloop.metrics.media import festival_controls, media_panel
from growthloop.models.mmm import MediaMixModel, MMMData, mmm_data
from growthloop.warehouse import Warehouse, transaction
from growthloop.warehouse.media_store import StoredMMM, read_mmm, write_mmm

__all__ = ["BudgetRun", "channel_table", "fit_mmm", "is_money_target", "latest_fit",
           "mmm_panel", "mmm_table_file", "next_budget", "read_lift_tests", "response_curves",
           "save_fit",
           "stored_fit"]


def mmm_table_file(path: str | Path, *, date: str, target: str, spend: Sequence[str],
                   market: str | None = None, controls: Sequence[str] = ()) -> MMMData:
    """A user's CSV or Parquet table (one row per market and period), checked."""
    path = Path(path)
    return mmm_data(read_frame(path), date=date, target=target, spend=spend, market=market,
                    controls=controls, source=str(path))


def read_lift_tests(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file of lift tests (``MediaMixModel``'s ``calibration``); the
    model checks its rows against the data it is fitted on, naming the file."""
    path = Path(path)
    df = read_frame(path)
    df.attrs["source"] = str(path)
    return df


def mmm_panel(backend: BaseBackend, cfg: Config, *, grain: str = "week",
              target: str = "new_users", festivals: bool = True,
              end: dt.date | None = None) -> MMMData:
    """The warehouse's panel (complete periods before ``end``) with festival controls,
    checked."""
    panel = media_panel(backend, cfg, grain=grain, target=target, end=end)
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
            level: float = 0.9, seed: int = 0, money_target: bool = False,
            calibration: pd.DataFrame | None = None) -> tuple[MediaMixModel, pd.DataFrame]:
    """Fit the MMM and return it with its channel table: ``channel_summary(level)`` plus,
    for a money outcome, ``roas`` / ``roi`` with their intervals, and for a count, the
    ``cost_per_outcome`` (spend per incremental outcome). ``calibration``: lift tests
    (``MediaMixModel``'s ``calibration``)."""
    model = MediaMixModel(method=method, holdout=holdout, draws=draws,  # type: ignore[arg-type]
                          seed=seed, calibration=calibration).fit(data)
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


def save_fit(wh: Warehouse, model: MediaMixModel, table: pd.DataFrame, *,
             money: bool, level: float = 0.9) -> str:
    """Store a fitted model and its channel table (``fit_mmm``) in the warehouse, in one
    transaction; returns its model version."""
    point, draws = curve_frames(model)
    version = model.version()
    d = model.data_
    meta = {"target": d.target, "money": money, "method": model.method,
            "grain_days": d.period_days, "first_period": d.periods[0].date(),
            "last_period": d.periods[-1].date(), "level": level,
            "currency": wh.cfg.reporting_currency, "diagnostics": model.diagnostics_}
    with transaction(wh.con):
        write_mmm(wh.con, version=version, meta=meta, channels=table, point=point,
                  draws=draws, contributions=model.contributions_over_time())
    return version


def latest_fit(wh: Warehouse, *, target: str, grain_days: int,
               last_period: dt.date | None = None, before: dt.date | None = None
               ) -> StoredMMM | None:
    """The newest stored fit of ``target`` at this grain (ending on ``last_period``, and
    seeing only days before ``before``, when given), or None."""
    con = wh.con
    rows = con.execute("SELECT model_version FROM mmm_models WHERE target = ? AND "
                       "grain_days = ? AND (? IS NULL OR last_period = ?) AND (? IS NULL "
                       "OR last_period + grain_days <= ?) ORDER BY fitted_at DESC LIMIT 1",
                       [target, grain_days, last_period, last_period, before,
                        before]).fetchall()
    return read_mmm(con, rows[0][0]) if rows else None


def stored_fit(wh: Warehouse) -> StoredMMM | None:
    """The latest stored fit, or None (none yet, or a warehouse older than the tables)."""
    import duckdb

    try:
        return read_mmm(wh.con)
    except (InputError, duckdb.CatalogException):
        return None


def channel_table(fit: StoredMMM) -> pd.DataFrame:
    """A stored fit's channel table in the shape ``fit_mmm`` returns: ROAS and ROI for a
    money outcome, the cost per outcome for a count."""
    t = fit.channels.copy()
    if fit.meta["money"]:
        for suffix in ("", "_low", "_high"):
            t[f"roas{suffix}"] = t[f"roi{suffix}"] + 1.0
        t = t.drop(columns="cost_per_outcome")
    else:
        t = t.drop(columns=["roi", "roi_low", "roi_high"])
    t.attrs.update(level=float(fit.meta["level"]), target=fit.meta["target"],
                   period_days=int(fit.meta["grain_days"]), model_version=fit.version)
    return t


@dataclass(frozen=True)
class BudgetRun:
    """What ``next_budget`` did: the stored fit it planned from (``refitted``: fitted
    now), the plan and the first day of the period planned."""

    fit: StoredMMM
    plan: BudgetPlan
    start: dt.date
    refitted: bool


def next_budget(wh: Warehouse, *, grain: str = "week", target: str = "new_users",
                total: float | None = None, max_step: float | None = 0.2,
                exploration_share: float = 0.05, min_marginal_roi: float | None = None,
                method: str = "map", draws: int = 500, seed: int = 0,
                refit: bool = False) -> BudgetRun:
    """The next period's plan from the latest stored fit covering the warehouse panel's
    last period (``mmm_panel``), fitting and storing one first when there is none (or
    with ``refit``). ``total`` defaults to the mean spend per period of the last 4
    periods; each pair stays within ``max_step`` of its current spend (the plan's +-20 %
    a week), ``exploration_share`` is kept out for tests of new channels (the plan's
    5-10 %), and the marginal-ROI floor needs a money outcome."""
    money = is_money_target(wh.cfg, target)
    if min_marginal_roi is not None and not money:
        raise InputError(f"a marginal-ROI floor needs a money outcome; {target!r} is a "
                         "count (choose --target revenue)")
    panel = mmm_panel(wh.backend, wh.cfg, grain=grain, target=target)
    last = panel.periods[-1].date()
    fit = None if refit else latest_fit(wh, target=target, grain_days=panel.period_days,
                                        last_period=last)
    fitted_now = fit is None
    if fit is None:
        model, table = fit_mmm(panel, method=method, draws=draws, seed=seed,
                               money_target=money)
        fit = read_mmm(wh.con, save_fit(wh, model, table, money=money))
    curves = make_curves(fit.point, fit.draws, target=target)
    if total is None:
        total = float(curves.table.current.sum())
    constraints = {"max_step": max_step, "exploration_share": exploration_share,
                   "min_marginal_roi": min_marginal_roi}
    plan = plan_budget(curves, total, constraints, seed=seed)
    start = last + dt.timedelta(days=panel.period_days)
    return BudgetRun(fit=fit, plan=plan, start=start, refitted=fitted_now)
