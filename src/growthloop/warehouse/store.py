"""The derived-table store: customer scores and tags written into and read from the
warehouse, each table replaced as a whole (call inside ``transaction`` for atomicity)."""

from __future__ import annotations

import duckdb
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.errors import InputError

__all__ = ["SCORE_COLUMNS", "TAG_COLUMNS", "insert_frame", "read_scores", "read_tags",
           "write_scores", "write_tags"]


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame,
                 columns: tuple[str, ...], casts: dict[str, str]) -> None:
    """Append ``df[columns]`` to ``table``, casting the columns named in ``casts``.

    The frame is registered as a temporary view for the one ``INSERT`` and released.
    """
    name = f"_gl_{table}_new"
    con.register(name, df[list(columns)])
    try:
        select = ", ".join(f'CAST("{c}" AS {casts[c]})' if c in casts else f'"{c}"'
                           for c in columns)
        cols = ", ".join(f'"{c}"' for c in columns)
        con.execute(f'INSERT INTO "{table}" ({cols}) SELECT {select} FROM "{name}"')
    finally:
        con.unregister(name)


#: Columns of ``customer_scores``, in table order.
SCORE_COLUMNS: tuple[str, ...] = (
    "user_id", "segment_by", "segment", "frequency", "recency", "T", "monetary_value",
    "p_alive", "expected_purchases", "expected_order_value", "clv", "horizon_days",
    "discount_rate", "margin", "currency", "observation_end", "model_version", "fit_date",
)

#: Columns of ``user_tags``, in table order.
TAG_COLUMNS: tuple[str, ...] = (
    "user_id", "market", "channel", "orders", "total_value", "days_since_last", "clv",
    "value_tier", "high_value", "rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_score",
    "rfm_segment", "lifecycle_stage", "as_of", "model_version", "tagged_on",
)


def _replace(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame,
             columns: tuple[str, ...], casts: dict[str, str]) -> int:
    """Replace every row of ``table`` with ``df`` (see ``insert_frame``); rows written."""
    con.execute(f'DELETE FROM "{table}"')
    insert_frame(con, table, df, columns, casts)
    return len(df)


def _read(backend: BaseBackend, table: str, what: str) -> pd.DataFrame:
    """``table`` as a frame; InputError naming ``what`` when it is empty."""
    df = backend.table(table).execute()
    if df.empty:
        raise InputError(f"there are no {what} yet; run `growthloop clv fit` first")
    return df


def write_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame) -> int:
    """Replace ``customer_scores`` with ``scores`` (a ``scores_frame``); rows written.

    Call inside ``growthloop.warehouse.transaction`` to make it atomic with other writes;
    ``update_scores`` does.
    """
    return _replace(con, "customer_scores", scores, SCORE_COLUMNS,
                    {"frequency": "BIGINT", "horizon_days": "INTEGER",
                     "observation_end": "DATE", "fit_date": "DATE"})


def read_scores(backend: BaseBackend) -> pd.DataFrame:
    """The ``customer_scores`` table; InputError when it is empty."""
    return _read(backend, "customer_scores", "customer scores")


def write_tags(con: duckdb.DuckDBPyConnection, tags: pd.DataFrame) -> int:
    """Replace ``user_tags`` with ``tags`` (a ``tag_customers`` frame); rows written.

    Call inside ``growthloop.warehouse.transaction`` to make it atomic with the scores.
    """
    return _replace(con, "user_tags", tags, TAG_COLUMNS,
                    {"orders": "BIGINT", "days_since_last": "INTEGER", "rfm_recency": "INTEGER",
                     "rfm_frequency": "INTEGER", "rfm_monetary": "INTEGER", "as_of": "DATE",
                     "tagged_on": "DATE", "high_value": "BOOLEAN"})


def read_tags(backend: BaseBackend) -> pd.DataFrame:
    """The ``user_tags`` table; InputError when it is empty."""
    return _read(backend, "user_tags", "customer tags")
