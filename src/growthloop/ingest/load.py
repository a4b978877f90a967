"""Atomic, idempotent loading of one file into a canonical table.

A file is staged, validated in one SQL pass and written in a single
transaction: valid rows whose natural key is new go to the table, bad rows go to
``quarantine`` with their reasons, and the load is recorded in ``loads``. An
error or interrupt at any point rolls everything back. Re-loading a file already
loaded (same content, same table) adds nothing; rows whose key is already in the
table, or repeats a key earlier in the same file, are counted as duplicates.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from growthloop.core.config import Config
from growthloop.core.schema import table as get_table
from growthloop.ingest import rules
from growthloop.ingest.privacy import Pseudonymiser
from growthloop.ingest.readers import Staged, stage_file
from growthloop.ingest.rules import Validation, compile_validation
from growthloop.warehouse import Warehouse, transaction

__all__ = ["LoadResult", "file_sha256", "ingest_file", "ingest_files"]

Step = Callable[[str], None]
#: Views a load registers on the connection (``readers``): the raw rows of the file.
STAGING_VIEWS = ("_gl_csv", "_gl_jsonl")


@dataclass
class LoadResult:
    """What one file's load did."""

    table: str
    file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    already_loaded: bool = False
    reasons: list[tuple[str, int, int]] = field(default_factory=list)  # (rule, rows, first row)

    def as_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "file": self.file,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_duplicate": self.rows_duplicate,
            "rows_quarantined": self.rows_quarantined,
            "already_loaded": self.already_loaded,
            "quarantine_reasons": [
                {"rule": r, "rows": n, "first_row": first} for r, n, first in self.reasons
            ],
        }


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (identifies a file already loaded)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _unparsed_record(
    header: list[str], personal: list[str], text: str, pseudonym: Pseudonymiser
) -> tuple[str, list[str]]:
    """A row that could not be parsed, as JSON, with identifiers pseudonymised.

    CSV fields are matched to the header by position; a JSON line that is not valid
    JSON is withheld when pseudonymisation is on, since its identifiers can't be found.
    """
    if header:
        fields = next(csv.reader([text]), [])
        rec: dict[str, str] = {}
        ids: list[str] = []
        for i, value in enumerate(fields):
            name = header[i] if i < len(header) else f"_extra_{i - len(header) + 1}"
            if name in personal and value:
                value = pseudonym(value)
                ids.append(value)
            rec[name] = value
        return json.dumps(rec, ensure_ascii=False), ids
    if pseudonym.enabled and text:
        return json.dumps({"raw": "(withheld: unparsable row may hold personal data)"}), []
    return json.dumps({"raw": text}, ensure_ascii=False), []


def _quarantine(
    con: duckdb.DuckDBPyConnection,
    table_name: str,
    path: Path,
    staged: Staged,
    checked: str,
    v: Validation,
    token: Callable[[str], str],
    pseudonym: Pseudonymiser,
    now: datetime,
) -> None:
    """Write the bad rows of a load (and the unparsable ones) to ``quarantine``."""
    t = get_table(table_name)
    record = "to_json(struct_pack(" + ", ".join(
        f'"{c}" := {token(c)}' if c in t.personal_columns else f'"{c}" := "_raw_{c}"'
        for c in t.column_names
    ) + "))::VARCHAR"
    person_ids = ("list_filter([" + ", ".join(token(c) for c in t.personal_columns)
                  + "], x -> x IS NOT NULL)") if t.personal_columns else "[]::VARCHAR[]"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _gl_bad AS "
        f"SELECT _row, {v.reason} AS reason, {v.labels} AS labels, "
        f"{record} AS record, {person_ids} AS person_ids "
        f"FROM {checked} WHERE NOT ({v.ok})"
    )
    for row, label, reason, text in staged.unparsed:
        rec, ids = _unparsed_record(staged.header, t.personal_columns, text, pseudonym)
        con.execute("INSERT INTO _gl_bad VALUES (?, ?, [?], ?, ?)", [row, reason, label, rec, ids])
    con.execute(
        "INSERT INTO quarantine SELECT ?, ?, _row, reason, record, person_ids, ? "
        "FROM _gl_bad ORDER BY _row",
        [table_name, str(path), now],
    )


def _quoted(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    table_name: str,
    path: Path | str,
    pseudonym: Pseudonymiser,
    *,
    on_step: Step | None = None,
    now: datetime | None = None,
) -> LoadResult:
    """Load ``path`` into ``table_name`` atomically; see the module docstring.

    ``now`` is the clock of the load (default ``growthloop.ingest.rules.utc_now()``, the
    current UTC time): it bounds plausible timestamps (up to the end of the next day, UTC)
    and is recorded as ``loaded_at``. The staging views (the raw file, with identifiers not
    yet pseudonymised) are dropped from the connection when the load ends, whatever the
    outcome.
    """
    try:
        t = get_table(table_name)
        path = Path(path).absolute()
        step = on_step or (lambda _name: None)
        result = LoadResult(t.name, str(path))
        staged = stage_file(con, path, t)
        digest = file_sha256(path)
        prior = con.execute(
            "SELECT count(*) FROM loads WHERE table_name = ? AND file_sha256 = ?", [t.name, digest]
        ).fetchone()
        result.rows_read = staged.rows_read
        if prior and prior[0]:
            result.already_loaded = True
            result.rows_duplicate = staged.rows_read
            return result
        step("staged")

        macro = pseudonym.install_sql(con) if pseudonym.enabled else None
        src_types = {n: str(ty) for n, ty in zip(staged.relation.columns, staged.relation.types,
                                                 strict=True)}
        if now is None:
            now = rules.utc_now()
        elif now.tzinfo is not None:
            now = now.astimezone(UTC).replace(tzinfo=None)
        v = compile_validation(t, config, src_types, now=now)
        staged.relation.create_view("_gl_src", replace=True)
        checked = f"(SELECT {v.select} FROM _gl_src)"
        key = _quoted(t.key)
        cols = _quoted(t.column_names)
        personal = t.personal_columns

        def token(col: str) -> str:
            return f'{macro}("{col}")' if macro else f'"{col}"'

        with transaction(con):
            # One pass: rows breaking a rule, and keys repeated among the valid rows.
            stats = con.execute(
                "SELECT count(*) FILTER (WHERE NOT ok), count(*) FILTER (WHERE ok) "
                f"- count(DISTINCT CASE WHEN ok THEN ({key}) END) "
                f"FROM (SELECT {key}, {v.ok} AS ok FROM {checked})"
            ).fetchone()
            nbad, dups_in_file = (int(stats[0]), int(stats[1])) if stats else (0, 0)
            step("validated")
            if nbad or staged.unparsed:
                _quarantine(con, t.name, path, staged, checked, v, token, pseudonym, now)
                result.reasons = [
                    (r[0], int(r[1]), int(r[2]))
                    for r in con.execute(
                        "SELECT label, count(*), min(_row) FROM "
                        "(SELECT _row, unnest(labels) AS label FROM _gl_bad) "
                        "GROUP BY label ORDER BY count(*) DESC, label"
                    ).fetchall()
                ]
                con.execute("DROP TABLE _gl_bad")
            result.rows_quarantined = nbad + len(staged.unparsed)

            # Pseudonymise each distinct identifier once, then join (hashing is the costly part).
            select = ", ".join(f's."{c}"' for c in t.column_names)
            joins = ""
            if macro and personal:
                ids = " UNION ".join(
                    f'SELECT DISTINCT "{c}" AS id FROM {checked} WHERE "{c}" IS NOT NULL'
                    for c in personal
                )
                con.execute(f"CREATE OR REPLACE TEMP TABLE _gl_ids AS "
                            f"SELECT id, {macro}(id) AS token FROM ({ids})")
                select = ", ".join(f'p_{c}.token AS "{c}"' if c in personal else f's."{c}"'
                                   for c in t.column_names)
                joins = " ".join(f'LEFT JOIN _gl_ids AS p_{c} ON p_{c}.id = s."{c}"'
                                 for c in personal)
            key_tokens = [f'p_{k}.token' if (macro and k in personal) else f's."{k}"'
                          for k in t.key]
            existing = con.execute(f'SELECT count(*) FROM (SELECT 1 FROM "{t.name}" LIMIT 1)'
                                   ).fetchone()
            anti = ""
            if existing and existing[0]:
                anti = (f' AND NOT EXISTS (SELECT 1 FROM "{t.name}" AS x WHERE '
                        + " AND ".join(f'x."{k}" = {kt}' for k, kt in zip(t.key, key_tokens,
                                                                            strict=True)) + ")")
            dedupe = (f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY s._row) = 1"
                      if dups_in_file else "")
            inserted = con.execute(
                f'INSERT INTO "{t.name}" ({cols}) SELECT {select} FROM {checked} AS s {joins} '
                f"WHERE {v.ok}{anti} {dedupe}"
            ).fetchone()
            result.rows_loaded = int(inserted[0]) if inserted else 0
            step("loaded")
            result.rows_duplicate = result.rows_read - result.rows_quarantined - result.rows_loaded
            con.execute(
                "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [uuid.uuid4().hex, t.name, str(path), digest, result.rows_read,
                 result.rows_loaded, result.rows_duplicate, result.rows_quarantined, now],
            )
            con.execute("DROP TABLE IF EXISTS _gl_ids")
            step("committing")
        return result
    finally:
        for view in STAGING_VIEWS:
            con.unregister(view)
        con.execute("DROP VIEW IF EXISTS _gl_src")


def ingest_files(wh: Warehouse, table_name: str, files: list[Path],
                 on_step: Callable[[str, Path], None] | None = None) -> list[LoadResult]:
    """Load each file into ``table_name`` of ``wh`` (each atomically, in order).

    ``on_step(step, file)`` is called after each of a file's four steps (for a progress
    bar). Every file is checked to exist before any is loaded.
    """
    from growthloop.core.errors import InputError
    from growthloop.core.schema import TABLES
    from growthloop.ingest.privacy import pseudonymiser

    if table_name not in TABLES:
        raise InputError(f"unknown table {table_name!r}; expected one of: {', '.join(TABLES)}")
    for f in files:
        if not Path(f).is_file():
            raise InputError(f"{f}: no such file")
    pseudo = pseudonymiser(wh.cfg)
    results = []
    for f in files:
        step = (lambda name, f=f: on_step(name, Path(f))) if on_step else None
        results.append(ingest_file(wh.con, wh.cfg, table_name, f, pseudo, on_step=step))
    return results
