"""Pseudonymisation and erasure (consent: ``growthloop.ingest.consent``; small-cell
suppression of shared output: ``growthloop.report.privacy``; docs/privacy.md).

Identifiers of people are replaced at ingest by HMAC-SHA256(key, id) in hex
(RFC 2104). The key is read from an environment variable and never written to
the warehouse or a log; the same key maps the same person to the same token
across loads, and without it the tokens cannot be reversed or recomputed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field

import duckdb

from growthloop.core.config import Config
from growthloop.core.errors import ConfigError, InputError
from growthloop.core.schema import ERASED, TABLES, Table
from growthloop.warehouse import DERIVED_PERSON_TABLES, transaction

__all__ = ["ERASED", "ErasureReport", "Pseudonymiser", "erase", "pseudonymiser"]

_BLOCK = 64  # SHA-256 block size in bytes


@dataclass(frozen=True)
class Pseudonymiser:
    """Keyed hashing of identifiers; ``None`` key means identifiers are kept as given."""

    key: bytes | None

    @property
    def enabled(self) -> bool:
        return self.key is not None

    def __call__(self, identifier: str) -> str:
        if self.key is None:
            return identifier
        return hmac.new(self.key, identifier.encode("utf-8"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never show the key
        return f"Pseudonymiser(enabled={self.enabled})"

    def install_sql(self, con: duckdb.DuckDBPyConnection, name: str = "gl_pseudonym") -> str:
        """Define a temporary SQL macro ``name(x)`` computing the same token as ``self(x)``.

        HMAC(K, m) = H((K' xor opad) || H((K' xor ipad) || m)), K' the key padded to
        the block size (RFC 2104). The macro lives in memory only.
        """
        if self.key is None:
            con.execute(f"CREATE OR REPLACE TEMP MACRO {name}(x) AS x")
            return name
        k = self.key if len(self.key) <= _BLOCK else hashlib.sha256(self.key).digest()
        k = k.ljust(_BLOCK, b"\0")
        ipad = bytes(b ^ 0x36 for b in k).hex()
        opad = bytes(b ^ 0x5C for b in k).hex()
        con.execute(
            f"CREATE OR REPLACE TEMP MACRO {name}(x) AS sha256(unhex('{opad}')"
            f" || unhex(sha256(unhex('{ipad}') || encode(x))))"
        )
        return name


def pseudonymiser(config: Config, environ: dict[str, str] | None = None) -> Pseudonymiser:
    """The pseudonymiser the project file asks for, keyed from the environment."""
    if not config.privacy.pseudonymise:
        return Pseudonymiser(None)
    env = os.environ if environ is None else environ
    key = env.get(config.privacy.key_env, "")
    if len(key) < 16:
        raise ConfigError(
            f"privacy.pseudonymise is on but the environment variable "
            f"{config.privacy.key_env} is {'unset' if not key else 'shorter than 16 characters'}; "
            f"set it to a secret of at least 16 characters (the same one for every load), "
            f"or set privacy.pseudonymise = false"
        )
    return Pseudonymiser(key.encode("utf-8"))


@dataclass(frozen=True)
class ErasureReport:
    """Rows removed per table for one person, and links to them unlinked per table.

    ``removed`` counts the person's own rows deleted; ``unlinked`` counts the values
    in other people's rows (or relationships) that held the person's identifier and
    were set to NULL or ``ERASED``. Both have the same keys: the canonical tables
    holding identifiers, ``DERIVED_PERSON_TABLES`` and ``quarantine``.
    """

    token: str
    removed: dict[str, int]
    unlinked: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows removed in all tables."""
        return sum(self.removed.values())

    @property
    def total_unlinked(self) -> int:
        """Links unlinked in all tables."""
        return sum(self.unlinked.values())


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> int:
    n = con.execute(sql, params).fetchone()
    return int(n[0]) if n else 0


def _owner(t: Table) -> str:
    """SQL for the identifier of whoever owns a row of ``t``: its first non-empty owner."""
    cols = [f'"{c}"' for c in t.owner_columns]
    return cols[0] if len(cols) == 1 else f"coalesce({', '.join(cols)})"


def _person_ids(con: duckdb.DuckDBPyConnection, token: str) -> list[str]:
    """The person's token and the later-owner identifiers on their own rows (anonymous ids)."""
    ids = [token]
    for t in TABLES.values():
        if len(t.owner_columns) < 2:
            continue
        first, *later = t.owner_columns
        for c in later:
            ids += [r[0] for r in con.execute(
                f'SELECT DISTINCT "{c}" FROM "{t.name}" WHERE "{first}" = ? AND "{c}" IS NOT NULL'
                f' ORDER BY 1', [token]).fetchall()]
    return list(dict.fromkeys(ids))


def _unlink_record(table_name: str, record: str, ids: set[str]) -> tuple[str, int] | None:
    """A quarantined row with the person unlinked, or ``None`` when the row is theirs.

    The row follows its table's rule; it counts as the person's (and is removed) also
    when the record can't be read as that table's row or still holds an identifier.
    """
    t = TABLES.get(table_name)
    try:
        rec = json.loads(record)
    except (TypeError, ValueError):
        return None
    if t is None or not isinstance(rec, dict):
        return None
    owner = next((rec[c] for c in t.owner_columns if rec.get(c) not in (None, "")), None)
    if isinstance(owner, str) and owner in ids:
        return None
    n = 0
    for c in t.personal_columns:
        v = rec.get(c)
        if isinstance(v, str) and v in ids:
            rec[c] = ERASED if t.column(c).required else None
            n += 1
    if n == 0 or any(isinstance(v, str) and v in ids for v in rec.values()):
        return None
    return json.dumps(rec, ensure_ascii=False), n


def _erase_quarantine(con: duckdb.DuckDBPyConnection, ids: list[str]) -> tuple[int, int]:
    """Remove the person's quarantined rows and unlink them from the others'."""
    rows = con.execute(
        "SELECT rowid, table_name, record, person_ids FROM quarantine "
        "WHERE list_has_any(person_ids, $ids) ORDER BY rowid",
        {"ids": ids},
    ).fetchall()
    idset = set(ids)
    drop: list[int] = []
    unlinked = 0
    for rowid, name, record, person_ids in rows:
        kept = _unlink_record(name, record, idset)
        if kept is None:
            drop.append(rowid)
            continue
        text, n = kept
        con.execute(
            "UPDATE quarantine SET record = $record, person_ids = $pids::VARCHAR[] "
            "WHERE rowid = $rowid",
            {"record": text, "pids": [p for p in person_ids if p not in idset],
             "rowid": rowid},
        )
        unlinked += n
    removed = 0
    if drop:
        removed = _count(con, "DELETE FROM quarantine WHERE list_contains($rows, rowid)",
                         {"rows": drop})
    return removed, unlinked


def erase(
    con: duckdb.DuckDBPyConnection, user_id: str, pseudonym: Pseudonymiser
) -> ErasureReport:
    """Remove one person's rows from every table and the quarantine, and unlink the person
    from everyone else's rows, in one transaction.

    The rule comes from the schema (``schema.Column.personal`` and ``Column.link``):

    * a row belongs to the person in its first non-empty owner column (a personal column
      that is not a link; ``Table.owner_columns``) and is removed when that is the person:
      their ``users`` row, orders, survey answers and experiment assignments, and their
      events, logged in (``user_id``) or, for the anonymous ids they used (``anonymous_id``
      values on their own events), anonymous; derived tables (``DERIVED_PERSON_TABLES``:
      customer scores and tags, audience members, trigger state and changes, uplift
      scores) lose the person's rows as well;
    * a link (``users.referrer_id``, ``referrals.inviter_id`` and ``invitee_id``) or a
      later owner column in someone else's row (another user's event on a device the
      person used) that holds the person's identifier is unlinked: set to NULL where the
      column is nullable, else to the tombstone ``schema.ERASED``. No other person's row
      is removed: the people a person referred keep their rows (``referrer_id`` empty),
      and a ``referrals`` row, the relationship of two people, keeps existing with the
      erased side tombstoned, so everyone else's invitations sent and received still count;
    * a quarantined row is treated as a row of its table, read from its ``record``; it is
      removed when it is the person's or can't be read, else unlinked there and in
      ``person_ids``.

    Returns the rows removed and the links unlinked per table.
    """
    token = pseudonym(user_id)
    if token == ERASED:
        raise InputError(f"{ERASED!r} is the erasure tombstone, not a person's identifier")
    removed: dict[str, int] = {}
    unlinked: dict[str, int] = {}
    with transaction(con):
        ids = _person_ids(con, token)
        for t in TABLES.values():
            if not t.personal_columns:
                continue
            removed[t.name] = _count(
                con, f'DELETE FROM "{t.name}" WHERE list_contains($ids, {_owner(t)})',
                {"ids": ids}) if t.owner_columns else 0
            n = 0
            for c in t.personal_columns:  # what is left holding the person is someone else's
                required = t.column(c).required
                params: dict[str, object] = {"ids": ids} | ({"erased": ERASED} if required else {})
                n += _count(
                    con, f'UPDATE "{t.name}" SET "{c}" = {"$erased" if required else "NULL"} '
                    f'WHERE list_contains($ids, "{c}")', params)
            unlinked[t.name] = n
        for name, cols in DERIVED_PERSON_TABLES.items():
            cond = " OR ".join(f'list_contains($ids, "{c}")' for c in cols)
            removed[name] = _count(con, f'DELETE FROM "{name}" WHERE {cond}', {"ids": ids})
            unlinked[name] = 0
        removed["quarantine"], unlinked["quarantine"] = _erase_quarantine(con, ids)
    return ErasureReport(token, removed, unlinked)
