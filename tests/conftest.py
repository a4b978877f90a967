"""Shared fixtures: a default project, a real DuckDB warehouse file, a fixed key."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from growthloop.core.config import DEFAULT_TOML, Config, default_config
from growthloop.ingest.privacy import Pseudonymiser
from growthloop.warehouse import connect

KEY = "test-key-0123456789abcdef"


@pytest.fixture
def cfg() -> Config:
    return default_config()


@pytest.fixture
def pseudo() -> Pseudonymiser:
    return Pseudonymiser(KEY.encode())


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = connect(tmp_path / "warehouse.duckdb")
    yield c
    c.close()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with the default growthloop.toml and the key in the environment."""
    (tmp_path / "growthloop.toml").write_text(DEFAULT_TOML)
    monkeypatch.setenv("GROWTHLOOP_PSEUDONYM_KEY", KEY)
    return tmp_path


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    """Write dict rows as CSV (None as an empty field), header from the first row."""
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    return path
