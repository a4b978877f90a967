"""Formatting numbers and frames for people and files: one place for every command.

``number`` renders a value by its unit (the KPI catalog's units plus ``money``,
``pct`` and ``int``); a missing or non-finite value is ``–``. ``records`` turns a frame
into JSON-ready rows (a missing or non-finite number becomes null); ``write_frame``
writes a result to ``.csv`` (text made inert for spreadsheets, ``csv_safe``), ``.parquet``
or ``.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from growthloop.core.errors import InputError

__all__ = ["FORMULA_START", "MISSING", "csv_list", "csv_safe", "is_missing", "number",
           "records", "signed_pct", "write_frame"]

MISSING = "–"


def is_missing(v: Any) -> bool:
    """None, NaN, NaT or infinity."""
    if v is None or v is pd.NaT:
        return True
    try:
        return not math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def number(v: Any, unit: str | None = None, digits: int = 3) -> str:
    """``v`` for a person: shares and growth as percentages, money with thousands
    separators (``money2``: with cents), counts as whole numbers, other numbers with
    ``digits`` significant digits (whole above 1,000)."""
    if isinstance(v, str):
        return v
    if is_missing(v):
        return MISSING
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if unit in ("share", "pct"):
        return f"{v:.1%}"
    if unit == "growth":
        return f"{v:+.1%}"
    if unit == "money":
        return f"{v:,.0f}"
    if unit == "money2":
        return f"{v:,.2f}"
    if unit in ("int", "count") or isinstance(v, int | np.integer):
        return f"{round(float(v)):,}"
    v = float(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.{digits}g}"


def signed_pct(v: Any) -> str:
    """A relative change: ``+12%``."""
    return MISSING if is_missing(v) else f"{v:+.0%}"


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: a missing or non-finite number becomes null."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in r.items()} for r in df.to_dict(orient="records")]


#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with text that a spreadsheet would run as a formula made inert.

    A text value starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return (a
    campaign named ``=HYPERLINK(...)``) gets a leading single quote, as OWASP recommends;
    numbers, including negative ones, dates and booleans are left as they are.
    """
    def inert(v: Any) -> Any:
        return "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v

    out = df.copy()
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_datetime64_any_dtype(col)):
            out.isetitem(i, col.astype(object).map(inert))
    return out


def write_frame(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as ``.csv``, ``.parquet`` or ``.json`` (by the suffix of ``path``).

    CSV text is made inert for spreadsheets (``csv_safe``); Parquet and JSON keep the raw
    values. A CSV whose text holds a carriage return is written with CRLF line ends
    (RFC 4180): only then does Python's csv writer quote such a value, which would
    otherwise end the row.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        safe = csv_safe(df)
        has_cr = any(safe.iloc[:, i].map(lambda v: isinstance(v, str) and "\r" in v).any()
                     for i in range(safe.shape[1]))
        safe.to_csv(path, index=False, lineterminator="\r\n" if has_cr else "\n")
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif suffix == ".json":
        path.write_text(json.dumps(records(df), default=str, indent=2) + "\n")
    else:
        raise InputError(f"--out {path}: unknown file type {suffix!r}; expected .csv, "
                         ".parquet or .json")
    return path


def csv_list(value: str | None) -> list[str]:
    """``"a, b,c"`` as ``["a", "b", "c"]`` (None or empty: no items)."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else []
