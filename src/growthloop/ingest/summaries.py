"""Reading a customer summary file (lifetimes' layout) for ``growthloop clv fit --summary``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from growthloop.core.errors import InputError

__all__ = ["read_frame", "read_summary"]



_REQUIRED = ("frequency", "recency", "T")


def read_summary(path: str | Path) -> pd.DataFrame:
    """Read a lifetimes-style customer summary (CSV or Parquet) and validate it.

    The file has a customer id (a ``customer_id`` column, else the first column) and
    ``frequency``, ``recency``, ``T`` and optionally ``monetary_value``. Every problem
    raises ``InputError`` naming the file, the 1-based data row (the header excluded),
    the field, the value and what was expected.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (str), ``frequency`` (int64), ``recency``, ``T`` and, when
        present, ``monetary_value`` (float64).
    """
    path = Path(path)
    raw = read_frame(path)
    if raw.shape[1] == 0 or (len(raw) == 0 and not set(_REQUIRED) & set(raw.columns)):
        raise InputError(
            f"{path}: the file is empty; expected a header with a customer id, frequency, "
            "recency and T, and one row per customer"
        )
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: missing column {', '.join(map(repr, missing))}; found "
            f"{', '.join(map(repr, raw.columns))}, expected a customer id, 'frequency', "
            "'recency', 'T' and optionally 'monetary_value'"
        )
    if len(raw) == 0:
        raise InputError(f"{path}: the file has a header but no customers")
    id_col = "customer_id" if "customer_id" in raw.columns else raw.columns[0]
    if id_col in (*_REQUIRED, "monetary_value"):
        raise InputError(
            f"{path}: the first column is {id_col!r}; expected a customer id first (or a "
            "'customer_id' column)"
        )
    out = pd.DataFrame({"customer_id": raw[id_col].astype(str)})
    repeated = out.customer_id.duplicated()
    if repeated.any():
        i = int(np.flatnonzero(repeated.to_numpy())[0])
        raise InputError(
            f"{_where(path, i + 1, id_col, out.customer_id.iloc[i])} appears twice; expected "
            "one row per customer"
        )
    fields = [*_REQUIRED, *(["monetary_value"] if "monetary_value" in raw.columns else [])]
    for field in fields:
        out[field] = _numbers(path, raw[field], field)
    _check_rows(path, out)
    out["frequency"] = out["frequency"].astype(np.int64)
    return out


def read_frame(path: Path) -> pd.DataFrame:
    """A CSV (every field as text) or Parquet file as a frame; InputError naming the file
    when it is missing or unreadable."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None
    raise InputError(f"{path}: unknown file type {suffix!r}; expected .csv or .parquet")


def _where(path: Path, row: int, field: str, value: Any) -> str:
    return f"{path}: row {row}, field {field!r}: value {value!r}"


def _numbers(path: Path, column: pd.Series, field: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce").astype(np.float64)
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{_where(path, i + 1, field, column.iloc[i])} is not a number; expected a "
            f"finite number in every row"
        )
    return values


def _check_rows(path: Path, df: pd.DataFrame) -> None:
    checks: list[tuple[str, np.ndarray, str]] = []
    for field in df.columns[1:]:
        checks.append((field, df[field].to_numpy() < 0, "a value >= 0"))
    x = df["frequency"].to_numpy()
    checks.append(("frequency", x != np.round(x), "a whole number of repeat purchases"))
    checks.append((
        "recency", df["recency"].to_numpy() > df["T"].to_numpy(),
        "recency <= T (the time from the first purchase to the end of observation)",
    ))
    checks.append((
        "recency", (x == 0) & (df["recency"].to_numpy() != 0),
        "recency 0 when frequency is 0 (no repeat purchase)",
    ))
    first = [(int(np.flatnonzero(bad)[0]), field, expected)
             for field, bad, expected in checks if bad.any()]
    if first:
        i, field, expected = min(first, key=lambda item: item[0])
        value = df[field].iloc[i]
        raise InputError(
            f"{_where(path, i + 1, field, _plain(value))}; expected {expected}"
            + (f" (T is {_plain(df['T'].iloc[i])})" if expected.startswith("recency <=")
               else "")
        )


def _plain(value: Any) -> Any:
    f = float(value)
    return int(f) if f.is_integer() else f
