"""API keys of the collector: write keys send events, read tokens read; only hashes kept.

``create_key`` prints nothing and returns the new key once; the project keeps its
SHA-256 (a key is 128 random bits, so a plain hash cannot be reversed by guessing) in
``keys.json`` next to the warehouse, readable by its owner only. A write key may name
the storefront market its events come from when a message does not say.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from growthloop.core.errors import InputError

__all__ = ["ApiKey", "KeyRing", "create_key"]

Kind = Literal["write", "read"]
_PREFIX = {"write": "glw_", "read": "glr_"}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    kind: Kind
    sha256: str
    market: str | None
    created_at: str


class KeyRing:
    """The project's keys, looked up by the hash of a presented key."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._by_hash: dict[str, ApiKey] = {}
        if self.path.exists():
            try:
                rows = json.loads(self.path.read_text())
                self._by_hash = {r["sha256"]: ApiKey(**r) for r in rows}
            except (ValueError, KeyError, TypeError) as e:
                raise InputError(f"{self.path}: not a growthloop key file ({e})") from None

    def __len__(self) -> int:
        return len(self._by_hash)

    def check(self, key: str) -> ApiKey | None:
        """The key's entry, or None for an unknown key."""
        return self._by_hash.get(_digest(key))

    def entries(self) -> list[ApiKey]:
        return sorted(self._by_hash.values(), key=lambda k: k.created_at)

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump([asdict(k) for k in self.entries()], f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)

    def add(self, kind: Kind, market: str | None = None) -> tuple[str, ApiKey]:
        key = _PREFIX[kind] + secrets.token_hex(16)
        entry = ApiKey(secrets.token_hex(4), kind, _digest(key), market,
                       datetime.now(UTC).isoformat(timespec="seconds"))
        self._by_hash[entry.sha256] = entry
        self._save()
        return key, entry


def create_key(path: Path, kind: Kind, market: str | None = None,
               markets: list[str] | None = None) -> tuple[str, ApiKey]:
    """A new key of ``kind`` stored (as its hash) in the key file at ``path``."""
    if market is not None and markets is not None and market not in markets:
        raise InputError(f"--market {market!r} is not a configured market; expected one of: "
                         f"{', '.join(markets)}")
    if kind == "read" and market is not None:
        raise InputError("--market applies to write keys only")
    return KeyRing(path).add(kind, market)
