"""Reading CSV, Parquet and JSON Lines files into a staging relation.

Each reader returns a ``Staged``: a DuckDB relation with every canonical column
of the target table (raw values: text for CSV and JSON Lines, the file's own
types for Parquet) plus ``_row``, the 1-based data row in the file, and the rows
that could not be parsed at all (wrong number of CSV fields, invalid JSON),
which go straight to quarantine.

Text files (CSV, JSON Lines) must be UTF-8; a UTF-8 byte order mark at the start is
ignored. A file with bytes that are not UTF-8 (say a Latin-1 ``é``, byte 0xE9, from a
spreadsheet export) is refused whole with an ``InputError`` naming the file, the byte
offset of the first bad byte, its row and (CSV) its field and value, rather than having
that row quarantined: a file in another encoding is wrong in every row that holds a
non-ASCII character, and the rows that happen to decode would load beside it.
"""

from __future__ import annotations

import codecs
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
    dups = list(dict.fromkeys(c for i, c in enumerate(present) if c in present[:i]))
    if dups:
        raise InputError(
            f"{path}: column(s) {', '.join(map(repr, dups))} appear more than once in the "
            f"header; expected each column once, from: {', '.join(t.column_names)}"
        )
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


_CHUNK = 1 << 22


def _utf8_error(path: Path) -> tuple[int, int, bytes] | None:
    """The first bytes of ``path`` that are not UTF-8: (byte offset, line, the bytes).

    ``line`` is the 1-based physical line (a JSON Lines row). None when all is UTF-8.
    """
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    base = lines = 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            pending = dec.getstate()[0]
            try:
                dec.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                data = pending + chunk
                offset = base - len(pending) + e.start
                line = lines + data.count(b"\n", 0, e.start) + 1
                return offset, line, data[e.start:e.end]
            if not chunk:
                return None
            lines += chunk.count(b"\n")
            base += len(chunk)


def _utf8_message(path: Path, offset: int, bad: bytes, where: str) -> str:
    shown = " ".join(f"0x{b:02X}" for b in bad)
    return (f"{path}: not UTF-8 text: byte {shown} at byte offset {offset} ({where}); "
            "expected UTF-8: save the file as UTF-8 (in a spreadsheet: CSV UTF-8) and "
            "load it again")


def _csv_utf8_error(path: Path) -> str | None:
    """The message for a CSV file that is not UTF-8, naming the row and field; else None."""
    found = _utf8_error(path)
    if found is None:
        return None
    offset, line, bad = found
    where = f"line {line}"
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        header: list[str] | None = None
        row = 0
        try:
            for fields in csv.reader(fh):
                if not fields:  # empty lines are skipped, as the CSV parser does
                    continue
                hit = next((i for i, v in enumerate(fields)
                            if any("\udc80" <= ch <= "\udcff" for ch in v)), None)
                if hit is not None:
                    value = fields[hit].encode("utf-8", "surrogateescape").decode(
                        "utf-8", "backslashreplace")
                    if header is None:
                        where = f"the header, column {hit + 1} = '{value[:60]}'"
                    else:
                        name = header[hit] if hit < len(header) else f"field {hit + 1}"
                        where = f"row {row + 1}, {name} = '{value[:60]}'"
                    break
                if header is None:
                    header = fields
                else:
                    row += 1
        except csv.Error:  # a row the csv module can't split: the line is all we know
            pass
    return _utf8_message(path, offset, bad, where)


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
        not_utf8 = _csv_utf8_error(path)
        if not_utf8:
            raise InputError(not_utf8)
        with path.open(newline="", encoding="utf-8-sig") as fh:
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


class _Object(dict):
    """A JSON object that remembers the keys it was given more than once."""

    repeated: list[str]

    @classmethod
    def of(cls, pairs: list[tuple[str, object]]) -> _Object:
        obj = cls(pairs)
        keys = [k for k, _ in pairs]
        obj.repeated = list(dict.fromkeys(k for i, k in enumerate(keys) if k in keys[:i]))
        return obj


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, t: Table) -> Staged:
    names = t.column_names
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    rows: list[int] = []
    bad: list[tuple[int, str, str, str]] = []
    n = 0
    try:
        found = _utf8_error(path)
        fh = path.open(encoding="utf-8-sig")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    if found is not None:
        fh.close()
        offset, line_no, raw = found
        raise InputError(_utf8_message(path, offset, raw, f"row {line_no}"))
    with fh:
        try:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    bad.append((n, "row: empty line", "empty line", ""))
                    continue
                try:
                    rec = json.loads(line, object_pairs_hook=_Object.of)
                except json.JSONDecodeError as e:
                    why = f"not valid JSON ({e.msg} at column {e.colno})"
                    bad.append((n, "row: not valid JSON", why, line.strip()))
                    continue
                if not isinstance(rec, dict):
                    bad.append((n, "row: not a JSON object", "not a JSON object", line.strip()))
                    continue
                if rec.repeated:
                    why = (f"field(s) {', '.join(map(repr, rec.repeated))} appear more than "
                           "once; expected each field once")
                    bad.append((n, "row: repeated field", why, line.strip()))
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
        except UnicodeDecodeError as e:  # the file changed since it was checked
            raise InputError(f"{path}: not UTF-8 text: {e}") from None
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
