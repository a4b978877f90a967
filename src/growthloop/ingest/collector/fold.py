"""Fold the collector's sealed journal files into the warehouse, like file ingest.

Each sealed file becomes an ``events`` and an ``identities`` Parquet file loaded by
``growthloop.ingest.load.ingest_file``: the same validation, quarantine,
pseudonymisation and idempotence as a file the team loads by hand (a file folded twice
adds nothing; a ``messageId`` sent twice is stored once, the events' key). The journal
file is removed only after both loads committed. An event sent without a session gets
the person's 30-minute window (``messages.SESSION_MINUTES``), named from the
pseudonymised id so no raw identifier reaches the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from growthloop.core.schema import table as get_table
from growthloop.ingest.collector.journal import sealed_files
from growthloop.ingest.collector.messages import (
    SESSION_MINUTES,
    MessageError,
    RawBatch,
    Rules,
    decode_message,
    read_message,
    utc_time,
)
from growthloop.ingest.load import LoadResult, ingest_file
from growthloop.ingest.privacy import Pseudonymiser, pseudonymiser
from growthloop.warehouse import Warehouse

__all__ = ["FoldResult", "fold_journal", "journal_dir"]


def journal_dir(wh_path: Path) -> Path:
    """Where the collector of the warehouse at ``wh_path`` keeps its journal."""
    return Path(wh_path).parent / "collector" / "journal"


@dataclass
class FoldResult:
    files: int = 0
    loads: list[LoadResult] = field(default_factory=list)

    def total(self, table: str, what: str) -> int:
        return sum(getattr(r, what) for r in self.loads if r.table == table)

    def as_dict(self) -> dict[str, object]:
        return {"files": self.files,
                **{t: {w: self.total(t, w) for w in ("rows_read", "rows_loaded",
                                                     "rows_duplicate", "rows_quarantined")}
                   for t in ("events", "identities")},
                "loads": [r.as_dict() for r in self.loads]}


def _session(row: dict, pseudo: Pseudonymiser) -> str:
    person = row.get("user_id") or row.get("anonymous_id") or ""
    ts = datetime.fromisoformat(row["event_ts"])
    return f"w~{pseudo(person)[:16]}~{int(ts.timestamp() // (SESSION_MINUTES * 60))}"


class _Line(msgspec.Struct):
    r: str
    m: str | None
    c: str | None
    b: msgspec.Raw


_LINE = msgspec.json.Decoder(_Line)
_RAW_BATCH = msgspec.json.Decoder(RawBatch)


def _rows(line: bytes, rules: Rules) -> list[tuple[str, dict | bytes]]:
    """The (table, row) pairs of one journal line: a call as the collector received it
    (``r`` the receipt time, ``m`` the key's market, ``c`` the call, ``b`` the body). A
    row the rules now refuse is returned as the message's JSON, for ingest to quarantine."""
    try:
        rec = _LINE.decode(line)
        received = utc_time(rec.r)
        if rec.c is None:
            body = _RAW_BATCH.decode(rec.b)
            raws = [bytes(r) for r in body.batch]
            batch_sent = utc_time(body.sentAt) if isinstance(body.sentAt, str) else None
        else:
            raws, batch_sent = [bytes(rec.b)], None
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
        return [("events", line.rstrip(b"\n"))]  # ingest quarantines it, with its reason
    out: list[tuple[str, dict | bytes]] = []
    for i, raw in enumerate(raws):
        try:
            what, row = read_message(decode_message(raw, i), i, received, batch_sent, rules,
                                     rec.m, rec.c)
        except MessageError:  # the project's rules changed since the call was accepted
            out.append(("events", raw))
            continue
        assert row is not None
        if what == "event":
            props = orjson.loads(raw).get("properties")
            row["properties"] = props or None
        out.append(("events" if what == "event" else "identities", row))
    return out


def _split(path: Path, rules: Rules, pseudo: Pseudonymiser
           ) -> tuple[list[dict], list[dict], list[bytes]]:
    """A journal file's events rows, identities rows, and the messages now refused."""
    events: list[dict] = []
    identities: list[dict] = []
    refused: list[bytes] = []
    with path.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            for table, row in _rows(line, rules):
                if isinstance(row, bytes):
                    refused.append(row)
                elif table == "identities":
                    identities.append(row)
                else:
                    if row.get("session_id") is None:
                        row["session_id"] = _session(row, pseudo)
                    props = row.get("properties")
                    row["properties"] = None if props is None else orjson.dumps(props).decode()
                    events.append(row)
    return events, identities, refused


def _parquet(part: Path, table: str, rows: list[dict]) -> None:
    """Rows as a Parquet file of ``table``'s columns (times as text, checked by ingest)."""
    schema = pa.schema([(c.name, pa.string() if c.dtype in ("TIMESTAMP", "JSON")
                         else c.arrow_type) for c in get_table(table).columns])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), part)


def fold_journal(wh: Warehouse, directory: Path,
                 on_file: Callable[[Path], None] | None = None) -> FoldResult:
    """Load every sealed journal file in ``directory`` into ``wh``, oldest first."""
    pseudo = pseudonymiser(wh.cfg)
    rules = Rules.of(wh.cfg)
    result = FoldResult()
    for path in sealed_files(directory):
        events, identities, refused = _split(path, rules, pseudo)
        parts = []
        for table, rows in (("events", events), ("identities", identities)):
            if rows:
                part = path.with_name(f"{path.stem}.{table}.parquet")
                _parquet(part, table, rows)
                parts.append(part)
                result.loads.append(ingest_file(wh.con, wh.cfg, table, part, pseudo))
        if refused:  # quarantined by ingest (unknown fields), identifiers withheld
            part = path.with_name(f"{path.stem}.refused.jsonl")
            part.write_bytes(b"\n".join(refused) + b"\n")
            parts.append(part)
            result.loads.append(ingest_file(wh.con, wh.cfg, "events", part, pseudo))
        path.unlink()
        for part in parts:
            part.unlink()
        result.files += 1
        if on_file:
            on_file(path)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m growthloop.ingest.collector.fold PROJECT_FILE``: one fold, the way
    ``growthloop serve`` runs it between its turns (a small process: no CLI, no models);
    prints the fold's counts as JSON, or the error on stderr with status 1."""
    import sys

    from growthloop.core.errors import GrowthloopError

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m growthloop.ingest.collector.fold growthloop.toml",
              file=sys.stderr)
        return 2
    try:
        with Warehouse.open(Path(args[0])) as wh:
            res = fold_journal(wh, journal_dir(wh.path))
    except GrowthloopError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    d = res.as_dict()
    print(orjson.dumps({k: v for k, v in d.items() if k != "loads"}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
