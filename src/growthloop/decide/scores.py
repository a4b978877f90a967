"""Scoring every customer and writing ``customer_scores`` and ``user_tags``.

``update_scores`` runs the customer-value pipeline on the warehouse: the per-customer
summary in the engine (``growthloop.metrics.customers.customer_summary``), a purchase and
a Gamma-Gamma model per segment (``growthloop.models.clv.CustomerValueModel``), each
customer's P(alive), expected purchases and CLV, and the tags
(``growthloop.decide.tags``), then replaces both tables in one transaction with the model
version and the fit date.

``export_scores`` is the per-person export, meant for action: every customer's latest
scores, keeping only people with marketing and personalisation consent
(``growthloop.ingest.consent``, use ``scores``), with the count of those left out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.decide.tags import TagSettings, tag_customers
from growthloop.ingest.consent import ConsentReport, consented_rows
from growthloop.ingest.summaries import read_summary
from growthloop.metrics.customers import Occasions, customer_summary
from growthloop.models.clv import BGNBD, GammaGamma, ParetoNBD
from growthloop.models.clv.segmented import (
    DEFAULT_DISCOUNT_RATE,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_MARGIN,
    POOLED,
    CustomerValueModel,
    check_segment_dimension,
    check_value_settings,
)
from growthloop.warehouse import ibis_backend, transaction
from growthloop.warehouse.store import SCORE_COLUMNS, read_scores, write_scores, write_tags

__all__ = [
    "ScoreRun",
    "export_scores",
    "fit_summary_file",
    "scores_frame",
    "update_scores",
]


@dataclass(frozen=True)
class ScoreRun:
    """What ``update_scores`` fitted and wrote."""

    summary: pd.DataFrame
    model: CustomerValueModel
    scores: pd.DataFrame  # the rows written to customer_scores
    tags: pd.DataFrame  # the rows written to user_tags
    model_version: str
    fit_date: dt.date
    observation_end: dt.date


def scores_frame(
    scores: pd.DataFrame, *, by: str | None, horizon_days: int, discount_rate: float,
    margin: float, currency: str, observation_end: dt.date, model_version: str,
    fit_date: dt.date,
) -> pd.DataFrame:
    """``CustomerValueModel.score`` output with the metadata columns of ``customer_scores``."""
    out = scores.copy()
    out["segment_by"] = by or POOLED
    out["horizon_days"] = int(horizon_days)
    out["discount_rate"] = float(discount_rate)
    out["margin"] = float(margin)
    out["currency"] = currency
    out["observation_end"] = observation_end.isoformat()
    out["model_version"] = model_version
    out["fit_date"] = fit_date.isoformat()
    return out[list(SCORE_COLUMNS)]


def update_scores(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    *,
    by: str | None = None,
    model: str = "bgnbd",
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    margin: float = DEFAULT_MARGIN,
    observation_end: dt.date | str | None = None,
    occasions: Occasions = "day",
    fit_date: dt.date | None = None,
    tag_settings: Any = None,
) -> ScoreRun:
    """Fit per segment, score every customer, tag them, and write both tables atomically.

    ``customer_scores`` and ``user_tags`` are replaced as a whole in one transaction: a
    failure leaves the previous scores and tags in place. ``fit_date`` defaults to today
    (UTC); ``tag_settings`` is a ``growthloop.decide.tags.TagSettings`` (default rules).
    """

    check_segment_dimension(by)
    check_value_settings(horizon_days, discount_rate, margin)
    backend = ibis_backend(con)
    summary = customer_summary(backend, cfg, observation_end=observation_end,
                               occasions=occasions)
    fitted = CustomerValueModel(by=by, model=model).fit(summary)
    version = fitted.version()
    day = fit_date or dt.datetime.now(dt.UTC).date()
    end = summary.attrs["observation_end"]
    scored = fitted.score(summary, horizon_days=horizon_days, discount_rate=discount_rate,
                          margin=margin)
    rows = scores_frame(scored, by=by, horizon_days=horizon_days,
                        discount_rate=discount_rate, margin=margin,
                        currency=cfg.reporting_currency, observation_end=end,
                        model_version=version, fit_date=day)
    tags = tag_customers(summary, scored, tag_settings or TagSettings(), as_of=end,
                         model_version=version, tagged_on=day)
    with transaction(con):
        write_scores(con, rows)
        write_tags(con, tags)
    return ScoreRun(summary=summary, model=fitted, scores=rows, tags=tags,
                    model_version=version, fit_date=day, observation_end=end)


def fit_summary_file(path: str | Path, model: str = "bgnbd") -> Any:
    """A purchase model (``bgnbd``, ``pareto``) or ``gg`` (Gamma-Gamma) fitted on a
    customer summary file (``growthloop.ingest.summaries.read_summary``)."""
    models = {"bgnbd": BGNBD, "pareto": ParetoNBD, "gg": GammaGamma}
    if model not in models:
        raise InputError(f"unknown --model {model!r}; expected bgnbd, pareto or gg")
    df = read_summary(path)
    if model == "gg":
        if "monetary_value" not in df.columns:
            raise InputError(f"{path}: --model gg needs a 'monetary_value' column (the mean "
                             "value of each customer's repeat purchases)")
        return GammaGamma().fit(df.frequency, df.monetary_value)
    return models[model]().fit(df.frequency, df.recency, df["T"])


def export_scores(backend: BaseBackend) -> tuple[pd.DataFrame, ConsentReport]:
    """The rows of ``customer_scores`` that may leave the warehouse, and who was left out.

    A score is a prediction about a person and the export is meant for action (audiences,
    campaigns), so only people with marketing and personalisation consent are kept
    (``growthloop.ingest.consent``, use ``scores``). InputError when nothing is scored yet.
    """
    return consented_rows(read_scores(backend), backend, "scores")
