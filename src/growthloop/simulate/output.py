"""Atomic, reproducible writing of the simulated tables and the truth file.

Files are written under a temporary name in the output folder and renamed when
complete, so an interrupted run never leaves a half-written table. Parquet options
are fixed (zstd, statistics, dictionary encoding) and no timestamps go into the
metadata, so the same data gives byte-identical files. The Arrow helpers build
columns from index arrays (-1 for null) and times in days.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from growthloop.core.schema import arrow_schema
from growthloop.simulate.calendar import to_micros

__all__ = [
    "AtomicParquetWriter",
    "constant",
    "id_width",
    "jsonable",
    "string_ids",
    "strings",
    "take",
    "timestamps",
    "write_json",
    "write_table",
]

ROW_GROUP_SIZE = 1_000_000
_OPTIONS = {"compression": "zstd", "compression_level": 3, "use_dictionary": True,
            "write_statistics": True}


def id_width(n: int, minimum: int) -> int:
    """Digits of the zero-padded ids of ``n`` things, at least ``minimum``."""
    return max(minimum, len(str(max(n - 1, 0))))


def string_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers``, built with Arrow compute."""
    s = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(s, width=width, padding="0"), "")


def strings(values: list[str] | tuple[str, ...]) -> pa.Array:
    return pa.array(list(values), pa.string())


def take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """``values[idx]``, null where ``idx`` < 0."""
    idx = np.asarray(idx, dtype=np.int64)
    return values.take(pa.array(idx, mask=idx < 0, type=pa.int64()))


def constant(value: str, n: int) -> pa.Array:
    """``n`` copies of the string ``value``."""
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, dtype=np.int64)))


def timestamps(t: np.ndarray, start_us: int) -> pa.Array:
    """Microsecond timestamps of times ``t`` (days since ``start_us``), null where NaN."""
    t = np.asarray(t, dtype=float)
    us = to_micros(np.nan_to_num(t), start_us)
    return pa.array(us, mask=np.isnan(t), type=pa.int64()).cast(pa.timestamp("us"))


def _temp_path(path: Path) -> Path:
    """A fresh hidden name beside ``path`` (created later with the usual permissions)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


class AtomicParquetWriter:
    """``ParquetWriter`` for canonical table ``name`` that appears at ``path`` only on success."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.schema = arrow_schema(name)
        self.rows = 0
        self._tmp = _temp_path(path)
        try:
            self._writer = pq.ParquetWriter(self._tmp, self.schema, **_OPTIONS)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise

    def write(self, table: pa.Table) -> None:
        if not table.schema.equals(self.schema):
            raise ValueError(f"table schema differs from {self.path.name}'s canonical schema")
        self._writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
        self.rows += table.num_rows

    def __enter__(self) -> AtomicParquetWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._writer.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def write_table(path: Path, name: str, table: pa.Table) -> int:
    """Write ``table`` (already in canonical schema ``name``) atomically; return its rows."""
    with AtomicParquetWriter(path, name) as w:
        w.write(table)
    return table.num_rows


def write_parquet(path: Path, table: pa.Table) -> int:
    """Write a table outside the canonical schema atomically; return its rows."""
    tmp = _temp_path(path)
    try:
        pq.write_table(table, tmp, **_OPTIONS)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return table.num_rows


def jsonable(obj: object) -> object:
    """Recursively convert numpy scalars and arrays to plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    if isinstance(obj, float | np.floating):
        v = float(obj)
        if not np.isfinite(v):
            return None
        return v
    return obj


def write_json(path: Path, obj: object) -> None:
    """Pretty-printed JSON with sorted keys, written atomically."""
    tmp = _temp_path(path)
    try:
        tmp.write_text(json.dumps(jsonable(obj), indent=2, sort_keys=True) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
