"""Pseudonymisation, erasure and small-cell suppression.

Identifiers of people are replaced at ingest by HMAC-SHA256(key, id) in hex
(RFC 2104). The key is read from an environment variable and never written to
the warehouse or a log; the same key maps the same person to the same token
across loads, and without it the tokens cannot be reversed or recomputed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

import duckdb

from growthloop.core.config import Config
from growthloop.core.errors import ConfigError
from growthloop.core.schema import TABLES
from growthloop.warehouse import DERIVED_PERSON_TABLES, transaction

__all__ = ["ErasureReport", "Pseudonymiser", "erase", "pseudonymiser"]

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
    """Rows removed per table for one person."""

    token: str
    removed: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def erase(
    con: duckdb.DuckDBPyConnection, user_id: str, pseudonym: Pseudonymiser
) -> ErasureReport:
    """Remove one person from every table and the quarantine, in one transaction.

    Rows are removed wherever a personal column (``schema.Column.personal``) holds
    the person's token, and events of the anonymous ids the person used, so the
    browsing before log-in goes too; derived tables (``DERIVED_PERSON_TABLES``:
    customer scores and tags) lose the person's rows as well.
    """
    token = pseudonym(user_id)
    removed: dict[str, int] = {}
    with transaction(con):
        anon = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT anonymous_id FROM events "
                "WHERE user_id = ? AND anonymous_id IS NOT NULL",
                [token],
            ).fetchall()
        ]
        for t in TABLES.values():
            cols = t.personal_columns
            if not cols:
                continue
            cond = " OR ".join(f'"{c}" = $token' for c in cols)
            params: dict[str, object] = {"token": token}
            if t.name == "events" and anon:
                cond += " OR list_contains($anon, anonymous_id)"
                params["anon"] = anon
            n = con.execute(f'DELETE FROM "{t.name}" WHERE {cond}', params).fetchone()
            removed[t.name] = int(n[0]) if n else 0
        for name, cols in DERIVED_PERSON_TABLES.items():
            cond = " OR ".join(f'"{c}" = $token' for c in cols)
            n = con.execute(f'DELETE FROM "{name}" WHERE {cond}', {"token": token}).fetchone()
            removed[name] = int(n[0]) if n else 0
        n = con.execute(
            "DELETE FROM quarantine WHERE list_has_any(person_ids, $ids)",
            {"ids": [token, *anon]},
        ).fetchone()
        removed["quarantine"] = int(n[0]) if n else 0
    return ErasureReport(token, removed)
