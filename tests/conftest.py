"""Shared fixtures: a default project, a real DuckDB warehouse file, a fixed key."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from growthloop.core.config import DEFAULT_TOML, Config, default_config
from growthloop.ingest.privacy import Pseudonymiser
from growthloop.warehouse import connect

KEY = "test-key-0123456789abcdef"
#: Set (to 1) where Spark must run, as in CI: a missing Java runtime then fails the tests.
REQUIRE_SPARK = "GROWTHLOOP_REQUIRE_SPARK"


def spark_missing() -> str | None:
    """Why Spark cannot run here (no pyspark, no Java runtime), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    home = os.environ.get("JAVA_HOME")
    if not (shutil.which("java") or (home and Path(home, "bin", "java").exists())):
        return "no Java runtime on PATH or in JAVA_HOME (Spark local mode needs Java 17+)"
    return None


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for every DuckDB-versus-Spark test; skipped with the reason
    where Spark cannot run, unless GROWTHLOOP_REQUIRE_SPARK=1 (CI), where that fails."""
    why = spark_missing()
    if why:
        if os.environ.get(REQUIRE_SPARK) == "1":
            pytest.fail(f"Spark is required ({REQUIRE_SPARK}=1) but {why}")
        pytest.skip(f"Spark tests skipped: {why}")
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2]").appName("growthloop-tests")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2")
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


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


def media_project(d: Path, *, n_users: int, days: int, seed: int, shocks=()) -> Path:
    """A project in ``d`` over a simulated shop (with planted ``shocks``) whose warehouse
    holds users, FX rates and ad spend: what the marketing-mix commands read."""
    from growthloop.ingest import ingest_file
    from growthloop.simulate import simulate

    simulate(d / "shop", n_users=n_users, days=days, seed=seed, shocks=shocks)
    (d / "growthloop.toml").write_text(DEFAULT_TOML)
    (d / ".growthloop").mkdir()
    con = connect(d / ".growthloop" / "warehouse.duckdb")
    for name in ("users", "fx_rates", "ad_spend"):
        ingest_file(con, default_config(), name, d / "shop" / f"{name}.parquet",
                    Pseudonymiser(KEY.encode()))
    con.close()
    return d


def assert_close(realised: float, expected: float, se: float, what: str,
                 z: float = 4.0) -> None:
    """``realised`` within ``z`` standard errors ``se`` of ``expected``."""
    assert se > 0, what
    assert abs(realised - expected) < z * se, (
        f"{what}: realised {realised:.5g}, expected {expected:.5g}, se {se:.3g}, "
        f"z {(realised - expected) / se:.2f}")


def files_of(path: Path) -> dict[str, bytes]:
    """Every file of a folder by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
