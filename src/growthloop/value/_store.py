"""Writing derived frames into the DuckDB warehouse (private to ``growthloop.value``)."""

from __future__ import annotations

import duckdb
import pandas as pd

__all__ = ["insert_frame"]


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
