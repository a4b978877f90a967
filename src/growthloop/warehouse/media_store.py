"""Marketing-mix fits in the warehouse: each fit is appended under its model version, and
the budget, the demo and the channel figures read the latest (or a named) version back.

Four tables (documented column by column in ``schema.data_model_markdown``):
``mmm_models`` (one row per fit), ``mmm_channels`` (per market and channel: ROI,
contribution, half-life), ``mmm_curves`` (the response curves: draw 0 is the point
estimate with each pair's current spend, draws 1..n the posterior) and
``mmm_contributions`` (per market, channel and period). The last ``KEEP_VERSIONS`` fits
are kept; writing a version that exists replaces it. Call ``write_mmm`` inside
``growthloop.warehouse.transaction``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from growthloop.core.errors import InputError
from growthloop.warehouse.store import insert_frame

__all__ = ["CHANNEL_COLUMNS", "KEEP_VERSIONS", "MMM_TABLES", "StoredMMM", "read_mmm", "write_mmm"]

#: Fits kept in the warehouse (older ones are removed by the next write).
KEEP_VERSIONS = 10

MODEL_COLUMNS = ("model_version", "fitted_at", "target", "money", "method", "grain_days",
                 "first_period", "last_period", "level", "currency", "diagnostics")
#: Columns of ``mmm_channels`` after ``model_version``.
CHANNEL_COLUMNS = ("market", "channel", "spend", "contribution", "contribution_share",
                   "per_spend", "per_spend_low", "per_spend_high", "marginal_per_spend",
                   "marginal_low", "marginal_high", "roi", "roi_low", "roi_high",
                   "cost_per_outcome", "alpha", "half_life_days")
CURVE_COLUMNS = ("draw", "market", "channel", "ceiling", "half_spend", "shape", "alpha",
                 "carry", "current")
CONTRIBUTION_COLUMNS = ("market", "channel", "period", "spend", "contribution")
MMM_TABLES = ("mmm_models", "mmm_channels", "mmm_curves", "mmm_contributions")


@dataclass(frozen=True)
class StoredMMM:
    """One stored fit: ``meta`` (the ``mmm_models`` row, ``diagnostics`` parsed), the
    channel table, the curves (``point``: draw 0; ``draws``: 1..n) and contributions."""

    meta: dict[str, Any]
    channels: pd.DataFrame
    point: pd.DataFrame
    draws: pd.DataFrame
    contributions: pd.DataFrame

    @property
    def version(self) -> str:
        return str(self.meta["model_version"])

    @property
    def last_period(self) -> dt.date:
        return pd.Timestamp(self.meta["last_period"]).date()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_mmm(con: duckdb.DuckDBPyConnection, *, version: str, meta: dict[str, Any],
              channels: pd.DataFrame, point: pd.DataFrame, draws: pd.DataFrame,
              contributions: pd.DataFrame) -> None:
    """Append (or replace) the fit ``version``; ``meta`` has the ``mmm_models`` columns
    but ``model_version`` and ``fitted_at``. Columns missing from ``channels`` (ROI for a
    count outcome, cost per outcome for money) are written as NULL."""
    missing = [c for c in MODEL_COLUMNS[2:] if c not in meta]
    if missing:
        raise InputError(f"mmm fit {version}: no {', '.join(missing)} to store")
    for table in MMM_TABLES:
        con.execute(f'DELETE FROM "{table}" WHERE model_version = ?', [version])
    row = {**{k: _plain(meta[k]) for k in MODEL_COLUMNS[2:]}, "model_version": version,
           "fitted_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
    row["diagnostics"] = json.dumps(_plain(meta["diagnostics"]), sort_keys=True)
    insert_frame(con, "mmm_models", pd.DataFrame([row]), MODEL_COLUMNS,
                 {"grain_days": "INTEGER", "first_period": "DATE", "last_period": "DATE",
                  "fitted_at": "TIMESTAMP"})
    ch = channels.reindex(columns=list(CHANNEL_COLUMNS)).astype(
        {c: "float64" for c in CHANNEL_COLUMNS[2:]})
    ch.insert(0, "model_version", version)
    insert_frame(con, "mmm_channels", ch, ("model_version", *CHANNEL_COLUMNS), {})
    curves = pd.concat([point.assign(draw=0),
                        draws.assign(draw=draws["draw"] + 1, current=np.nan)],
                       ignore_index=True)
    curves.insert(0, "model_version", version)
    insert_frame(con, "mmm_curves", curves, ("model_version", *CURVE_COLUMNS),
                 {"draw": "INTEGER"})
    contrib = contributions.assign(model_version=version)
    insert_frame(con, "mmm_contributions", contrib,
                 ("model_version", *CONTRIBUTION_COLUMNS), {"period": "DATE"})
    old = con.execute("SELECT model_version FROM mmm_models ORDER BY fitted_at DESC "
                      f"OFFSET {KEEP_VERSIONS}").fetchall()
    for (v,) in old:
        for table in MMM_TABLES:
            con.execute(f'DELETE FROM "{table}" WHERE model_version = ?', [v])


def read_mmm(con: duckdb.DuckDBPyConnection, version: str | None = None) -> StoredMMM:
    """The stored fit ``version`` (default: the latest); InputError naming what exists
    when there is none."""
    models = con.execute("SELECT * FROM mmm_models ORDER BY fitted_at DESC").df()
    if models.empty:
        raise InputError("there is no marketing-mix model in the warehouse yet; run "
                         "`growthloop mmm fit`")
    if version is None:
        meta = models.iloc[0].to_dict()
    elif version in set(models.model_version):
        meta = models[models.model_version == version].iloc[0].to_dict()
    else:
        raise InputError(f"model version {version!r} is not in the warehouse; it has "
                         f"{', '.join(models.model_version)}")
    meta["diagnostics"] = json.loads(meta["diagnostics"])
    v = meta["model_version"]

    def rows(table: str, order: str) -> pd.DataFrame:
        df = con.execute(f'SELECT * EXCLUDE (model_version) FROM "{table}" '
                         f"WHERE model_version = ? ORDER BY {order}", [v]).df()
        return df

    curves = rows("mmm_curves", "draw, market, channel")
    point = curves[curves.draw == 0].drop(columns="draw").reset_index(drop=True)
    draws = (curves[curves.draw > 0].drop(columns="current")
             .assign(draw=lambda d: d["draw"] - 1).reset_index(drop=True))
    return StoredMMM(meta=meta, channels=rows("mmm_channels", "market, channel"),
                     point=point, draws=draws,
                     contributions=rows("mmm_contributions", "market, channel, period"))
