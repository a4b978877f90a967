"""Aggregated journeys: the one input every attribution model takes.

A *path table* has one row per unique journey (channels in touch order) and its
outcome counts, the sufficient statistic of every model here (DESIGN.md, principle 1):

- ``path``: channel names joined by ``" > "`` (spaces around ``>`` are optional, as in the
  ChannelAttribution package);
- ``conversions``: journeys on this path that converted (a number >= 0);
- ``nulls``: journeys on this path that did not convert (>= 0; optional, default 0);
- ``value``: conversion value of those conversions, reporting currency (>= 0; optional,
  default 0; must be 0 when ``conversions`` is 0);
- optional ``market`` and ``period``: models are fitted separately per market and period;
- optional ``days``: days from each touch to the end of its journey, joined like
  ``path`` (``"12 > 3 > 0"``); only the time-decay model reads it.

``read_paths`` reads a user's CSV or Parquet file (the ChannelAttribution column names
``total_conversions``, ``total_null`` and ``total_conversion_value`` are accepted too),
``validate_paths`` checks an in-memory table; ``split_paths`` parses the path strings with
Arrow compute kernels (no Python loop over rows). Errors
name the source, the 1-based data row (CSV header excluded), the field, the value and what
was expected.

``growthloop.models.attribution.paths`` parses a validated table into channel codes for the
models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from growthloop.core.errors import InputError

__all__ = [
    "GROUP_COLUMNS",
    "SEPARATOR",
    "PathsLike",
    "normalise_paths",
    "read_paths",
    "split_paths",
    "touch_days",
    "validate_paths",
]

SEPARATOR = " > "
GROUP_COLUMNS: tuple[str, ...] = ("market", "period")
_COUNTS = ("conversions", "nulls", "value")
_OPTIONAL_TEXT = ("market", "period", "days")
_ALIASES = {"total_conversions": "conversions", "total_null": "nulls",
            "total_nulls": "nulls", "total_conversion_value": "value"}
_EXPECTED = ("expected columns path, conversions and optionally nulls, value, market, "
             "period, days")
_PATH_RULE = f"expected channel names joined by {SEPARATOR!r}, e.g. 'social_ads > email_crm'"
_MAX_COUNT = 1e15  # journeys on one path; far beyond any real data, within exact float64
_NUMBER = r"^\s*[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
_VALID = b"growthloop.paths"

PathsLike = pd.DataFrame | pa.Table


def _fail(source: str, rows: np.ndarray, field: str, values: pa.Array | None,
          expected: str) -> InputError:
    """An error naming the first bad row (1-based), its field and value, and how many more."""
    first = int(rows[0])
    value = values[first].as_py() if values is not None else None
    more = f" ({len(rows) - 1} more rows like it)" if len(rows) > 1 else ""
    return InputError(f"{source}: row {first + 1}, field {field!r}: value {value!r}: "
                      f"{expected}{more}")


def _read_file(path: Path) -> pa.Table:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"{path}: not a readable Parquet file: {e}") from None
    if suffix not in (".csv", ".txt", ".tsv"):
        raise InputError(f"{path}: unknown file type {suffix!r}; expected .csv or .parquet")
    with path.open("r", encoding="utf-8-sig", errors="replace") as f:
        header = f.readline()
    if not header.strip():
        raise InputError(f"{path}: the file is empty; {_EXPECTED}")
    # ChannelAttribution's sample data is ';'-separated: take the delimiter that splits
    # the header into the most fields
    delimiter = max((",", ";", "\t"), key=header.count)
    names = [n.strip().strip('"') for n in header.rstrip("\r\n").split(delimiter)]
    text = {n: pa.string() for n in names}
    try:  # the header as parsed here (BOM and spaces around names dropped) names the columns
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(column_types=text,
                                                 strings_can_be_null=False),
        )
    except pa.ArrowInvalid as e:
        raise InputError(f"{path}: not a readable CSV file: {e}") from None


def _numbers(col: pa.ChunkedArray | pa.Array, name: str, source: str,
             most: float = np.inf) -> np.ndarray:
    """A numeric column as float64, every value a finite number in ``[0, most]``."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    given = arr  # errors quote the value as written
    expected = "expected a number >= 0" + (f" and <= {most:g}" if np.isfinite(most) else "")
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        ok = pc.fill_null(pc.match_substring_regex(arr, _NUMBER), False)
        bad = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
        if len(bad):
            raise _fail(source, bad, name, arr, expected)
        arr = pc.cast(pc.utf8_trim_whitespace(arr), pa.float64())
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(
            arr.type):
        arr = pc.cast(arr, pa.float64())
    elif pa.types.is_null(arr.type):
        arr = pa.nulls(len(arr), pa.float64())
    else:
        raise InputError(f"{source}: column {name!r} has type {arr.type}; {expected}")
    values = arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > most))
    if len(bad):
        raise _fail(source, bad, name, given, expected)
    with np.errstate(over="ignore"):
        total = values.sum()
    if not np.isfinite(total):
        raise InputError(f"{source}: column {name!r} sums to more than a float can hold; "
                         "expected amounts in a smaller unit")
    return values


def _text(col: pa.ChunkedArray | pa.Array, name: str, source: str) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_null(arr.type):
        arr = pa.nulls(len(arr), pa.string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise InputError(f"{source}: column {name!r} has type {arr.type}; expected text")
    return arr.cast(pa.string())


def _elements(texts: pa.Array, sep: str) -> tuple[pa.DictionaryArray, np.ndarray]:
    parts = pc.split_pattern(texts, sep)
    lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False).astype(np.int64)
    return pc.dictionary_encode(parts.flatten()), lengths


def split_paths(texts: pa.Array, source: str, field: str = "path") -> tuple[
        np.ndarray, list[str], np.ndarray]:
    """Parse ``a > b > c`` strings with Arrow kernels: the element codes (flat, indexing
    the returned sorted names) and the number of elements per row.

    Splitting on ``" > "`` and dictionary-encoding touch every element once; trimming and
    checks run on the (small) dictionary. A ``>`` left inside an element (``a>b``) means
    other spacing, and the strings are split again on ``>`` alone.
    """
    rule = _PATH_RULE if field == "path" else "expected numbers joined by ' > '"
    bad = np.flatnonzero(texts.is_null().to_numpy(zero_copy_only=False))
    if len(bad):
        raise _fail(source, bad, field, None, rule)
    codes, lengths = _elements(texts, SEPARATOR)
    if pc.any(pc.match_substring(codes.dictionary, ">")).as_py():
        codes, lengths = _elements(texts, ">")
    raw = codes.indices.to_numpy(zero_copy_only=False)
    trimmed = np.asarray(pc.utf8_trim_whitespace(codes.dictionary).to_pylist(), dtype=object)
    names, remap = np.unique(trimmed, return_inverse=True)
    flat = remap.ravel().astype(np.int32)[raw]
    if len(names) and names[0] == "":
        row_of = np.repeat(np.arange(len(lengths)), lengths)
        raise _fail(source, np.unique(row_of[flat == 0]), field, texts, rule)
    return flat, [str(n) for n in names], lengths


def normalise_paths(data: PathsLike, source: str) -> pa.Table:
    """Columns and counts checked, types normalised; path strings not parsed yet."""
    if isinstance(data, pd.DataFrame):
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise InputError(f"{source}: a column mixes types ({e}); {_EXPECTED}") from None
    elif isinstance(data, pa.Table):
        table = data
    else:
        raise InputError(f"{source}: expected a pandas DataFrame or a pyarrow Table of paths, "
                         f"got {type(data).__name__}")
    names = [_ALIASES.get(n.strip(), n.strip()) for n in table.column_names]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(
            f"{source}: column(s) {', '.join(map(repr, twice))} given twice (columns "
            f"{', '.join(map(repr, table.column_names))}; total_conversions, total_null and "
            "total_conversion_value are other names for conversions, nulls and value)")
    table = table.rename_columns(names)
    missing = [c for c in ("path", "conversions") if c not in table.column_names]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(map(repr, missing))}; "
                         f"{_EXPECTED}")
    if table.num_rows == 0:
        raise InputError(f"{source}: no paths (the table has a header but no rows)")
    n = table.num_rows
    cols: dict[str, pa.Array] = {"path": _text(table.column("path"), "path", source)}
    for name in _COUNTS:
        most = np.inf if name == "value" else _MAX_COUNT
        cols[name] = pa.array(_numbers(table.column(name), name, source, most)
                              if name in table.column_names else np.zeros(n))
    conv = cols["conversions"].to_numpy()
    bad = np.flatnonzero((conv == 0) & (cols["value"].to_numpy() > 0))
    if len(bad):
        raise _fail(source, bad, "value", cols["value"],
                    "expected 0 on a path without conversions (value belongs to conversions)")
    for name in _OPTIONAL_TEXT:
        if name in table.column_names:
            cols[name] = _text(table.column(name), name, source)
    for name in GROUP_COLUMNS:
        if name in cols and cols[name].null_count:
            rows = np.flatnonzero(cols[name].is_null().to_numpy(zero_copy_only=False))
            raise _fail(source, rows, name, None, f"expected a {name} name")
    return pa.table(cols).replace_schema_metadata({b"source": source.encode()})


def touch_days(table: pa.Table, lengths: np.ndarray, source: str) -> np.ndarray:
    """The ``days`` column as one float per touch, checked against the path lengths."""
    col = table.column("days").combine_chunks()
    codes, names, n_days = split_paths(col, source, "days")
    rows = np.flatnonzero(n_days != lengths)
    if len(rows):
        raise _fail(source, rows, "days", col,
                    "expected one number per channel of the path")
    ok = pc.match_substring_regex(pa.array(names, pa.string()), _NUMBER).to_numpy(
        zero_copy_only=False)
    if not ok.all():
        row_of = np.repeat(np.arange(len(n_days)), n_days)
        rows = np.unique(row_of[~ok[codes]])
        raise _fail(source, rows, "days", col,
                    "expected numbers >= 0 joined by ' > '")
    return np.asarray([float(v) for v in names])[codes]


def _is_valid(data: PathsLike) -> bool:
    meta = data.schema.metadata if isinstance(data, pa.Table) else None
    return bool(meta and meta.get(_VALID) == b"1")


def validate_paths(data: PathsLike, source: str = "paths") -> pa.Table:
    """Check a path table and return it normalised (Arrow; float64 counts; text columns).

    Raises ``InputError`` naming ``source``, the row, the field, the value and the rule.
    A table already returned by this function (or by ``read_paths`` or
    ``growthloop.metrics.journeys.build_paths``) passes straight through.
    """
    if _is_valid(data):
        return data  # type: ignore[return-value]
    table = normalise_paths(data, source)
    _, _, lengths = split_paths(table.column("path").combine_chunks(), source)
    if "days" in table.column_names:
        touch_days(table, lengths, source)
    meta = {**(table.schema.metadata or {}), _VALID: b"1"}
    return table.replace_schema_metadata(meta)


def read_paths(file: Path | str) -> pa.Table:
    """Read and validate a CSV or Parquet file of aggregated paths (see the module docstring).

    Examples
    --------
    >>> paths = read_paths("paths.csv")  # doctest: +SKIP
    >>> MarkovAttribution(order=1).fit(paths).credits_  # doctest: +SKIP
    """
    path = Path(file)
    table = _read_file(path)
    if table.num_columns == 0 or (table.num_rows == 0 and "path" in table.column_names):
        raise InputError(f"{path}: no paths (the file has no data rows); {_EXPECTED}")
    return validate_paths(table, str(path))
