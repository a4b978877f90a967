"""Reading CSV, Parquet and JSON Lines files into a staging relation.

Each reader returns a ``Staged``: a DuckDB relation with every canonical column
of the target table (raw values: text for CSV and JSON Lines, the file's own
types for Parquet) plus ``_row``, the 1-based data row in the file, and the rows
that could not be parsed at all (wrong number of CSV fields, invalid JSON),
which go straight to quarantine.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from growthloop.core.errors import InputError
from growthloop.core.schema import Table

__all__ = ["FORMATS", "Staged", "stage_file"]

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass
class Staged:
    relation: duckdb.DuckDBPyRelation
    rows_read: int
    # rows that could not be parsed: (row, rule label, reason, raw text)
    unparsed: list[tuple[int, str, str, str]] = field(default_factory=list)
    typed: bool = False  # True when columns carry the file's own types (Parquet)
    header: list[str] = field(default_factory=list)  # CSV column names, in file order


def _check_columns(path: Path, t: Table, present: list[str]) -> None:
    unknown = [c for c in present if c not in t.column_names]
    if unknown:
        raise InputError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))} for table {t.name!r}; "
            f"expected columns: {', '.join(t.column_names)}"
        )
    missing = [c.name for c in t.columns if c.required and c.name not in present]
    if missing:
        raise InputError(
            f"{path}: required column(s) {', '.join(map(repr, missing))} missing for table "
            f"{t.name!r}; expected columns: {', '.join(t.column_names)}"
        )


def _select_list(t: Table, present: list[str]) -> str:
    cols = [f'"{c}"' if c in present else f'NULL::VARCHAR AS "{c}"' for c in t.column_names]
    return ", ".join(cols)


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, t: Table) -> Staged:
    try:
        desc = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{_sql_str(path)}')"
        ).fetchall()
        rows = con.execute(
            "SELECT sum(row_group_num_rows) FROM (SELECT DISTINCT row_group_id, "
            "row_group_num_rows FROM parquet_metadata(?))", [str(path)]
        ).fetchone()
    except duckdb.Error as e:
        raise InputError(f"{path}: not a readable Parquet file: {e}") from None
    present = [r[0] for r in desc]
    _check_columns(path, t, present)
    rel = con.sql(
        f"SELECT {_select_list(t, present)}, file_row_number + 1 AS _row "
        f"FROM read_parquet('{_sql_str(path)}', file_row_number = true)"
    )
    return Staged(rel, int(rows[0] or 0) if rows else 0, typed=True)


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, t: Table) -> Staged:
    bad: list[tuple[int, str, str, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append((
            (row.number or 0) - 1,
            "row: wrong number of fields",
            f"row has {row.actual_columns} fields, expected {row.expected_columns}",
            row.text,
        ))
        return "skip"

    try:
        with path.open(newline="", encoding="utf-8") as fh:
            names = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: not a readable UTF-8 CSV file: {e}") from None
    if not names:
        raise InputError(f"{path}: the file is empty; expected a header row")
    _check_columns(path, t, names)
    try:
        tbl = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid,
                                             newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as e:
        raise InputError(f"{path}: not a readable CSV file: {e}") from None
    total = tbl.num_rows + len(bad)
    rows = np.setdiff1d(np.arange(1, total + 1), np.array([b[0] for b in bad], dtype=np.int64))
    tbl = tbl.append_column("_row", pa.array(rows, pa.int64()))
    con.register("_gl_csv", tbl)
    rel = con.sql(f"SELECT {_select_list(t, names)}, _row FROM _gl_csv")
    return Staged(rel, total, bad, header=names)


def _text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return str(v)


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, t: Table) -> Staged:
    names = t.column_names
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    rows: list[int] = []
    bad: list[tuple[int, str, str, str]] = []
    n = 0
    try:
        fh = path.open(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    with fh:
        try:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    bad.append((n, "row: empty line", "empty line", ""))
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    why = f"not valid JSON ({e.msg} at column {e.colno})"
                    bad.append((n, "row: not valid JSON", why, line.strip()))
                    continue
                if not isinstance(rec, dict):
                    bad.append((n, "row: not a JSON object", "not a JSON object", line.strip()))
                    continue
                unknown = [k for k in rec if k not in cols]
                if unknown:
                    why = (f"unknown field(s) {', '.join(map(repr, unknown))}; "
                           f"expected: {', '.join(names)}")
                    bad.append((n, "row: unknown field", why, line.strip()))
                    continue
                for k in names:
                    cols[k].append(_text(rec.get(k)))
                rows.append(n)
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text near byte {e.start}") from None
    if n == 0:
        raise InputError(f"{path}: the file is empty; expected one JSON object per line")
    tbl = pa.table({**{k: pa.array(v, pa.string()) for k, v in cols.items()},
                    "_row": pa.array(rows, pa.int64())})
    con.register("_gl_jsonl", tbl)
    rel = con.sql(f"SELECT {_select_list(t, names)}, _row FROM _gl_jsonl")
    return Staged(rel, n, bad)


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def stage_file(con: duckdb.DuckDBPyConnection, path: Path, t: Table) -> Staged:
    """Read ``path`` (format from its extension) into a staging relation for table ``t``."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: unknown file type {path.suffix!r}; expected one of "
            f"{', '.join(sorted(FORMATS))}"
        )
    if fmt == "parquet":
        return _stage_parquet(con, path, t)
    if fmt == "csv":
        return _stage_csv(con, path, t)
    return _stage_jsonl(con, path, t)
