"""Opening the embedded DuckDB warehouse, its tables and migrations.

The warehouse is one DuckDB file. Canonical tables are created from
``growthloop.core.schema``; ``quarantine`` keeps rejected rows and ``loads`` records
every file ingested; ``customer_scores`` and ``user_tags`` hold what
``growthloop.decide.scores`` derives per customer (``growthloop.warehouse.store``);
the ``mmm_*`` tables hold the marketing-mix fits (``growthloop.warehouse.media_store``);
audiences, triggers and uplift scores have theirs (``_v6``), KPI alerts theirs
(``_v7``).
``schema_version`` holds the number of
the last migration applied, so an older file is upgraded in place and a newer one
is refused.

Queries go through Ibis (``ibis_backend``) so the same expressions run on Spark
or a cloud warehouse; DuckDB-specific SQL is kept to loading files. ``Warehouse`` is the
one object a command or a pipeline opens and passes on: the connection, its Ibis
backend and the project configuration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb

from growthloop.core.config import Config, load_config
from growthloop.core.errors import WarehouseError
from growthloop.core.schema import TABLES, Table

__all__ = [
    "AGGREGATE_TABLES",
    "DERIVED_PERSON_TABLES",
    "SCHEMA_VERSION",
    "Warehouse",
    "connect",
    "create_table_sql",
    "ibis_backend",
    "migrate",
    "transaction",
]


def create_table_sql(t: Table, name: str | None = None, *, temp: bool = False) -> str:
    """``CREATE TABLE`` for a canonical table (no constraints: keys are enforced by ingest)."""
    cols = ", ".join(f'"{c.name}" {c.sql_type}' for c in t.columns)
    return f'CREATE {"TEMP " if temp else ""}TABLE IF NOT EXISTS "{name or t.name}" ({cols})'


def _v1(con: duckdb.DuckDBPyConnection) -> None:
    for t in TABLES.values():
        con.execute(create_table_sql(t))
    con.execute(
        """CREATE TABLE IF NOT EXISTS quarantine (
            table_name VARCHAR, file VARCHAR, row_number BIGINT, reason VARCHAR,
            record VARCHAR, person_ids VARCHAR[], loaded_at TIMESTAMP)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS loads (
            load_id VARCHAR, table_name VARCHAR, file VARCHAR, file_sha256 VARCHAR,
            rows_read BIGINT, rows_loaded BIGINT, rows_duplicate BIGINT,
            rows_quarantined BIGINT, loaded_at TIMESTAMP)"""
    )


def _v2(con: duckdb.DuckDBPyConnection) -> None:
    """Derived customer-value tables (``growthloop.warehouse.store``); documented column by
    column in ``schema.data_model_markdown``. Each is replaced as a whole by the step that
    writes it."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS customer_scores (
            user_id VARCHAR, segment_by VARCHAR, segment VARCHAR, frequency BIGINT,
            recency DOUBLE, "T" DOUBLE, monetary_value DOUBLE, p_alive DOUBLE,
            expected_purchases DOUBLE, expected_order_value DOUBLE, clv DOUBLE,
            horizon_days INTEGER, discount_rate DOUBLE, margin DOUBLE, currency VARCHAR,
            observation_end DATE, model_version VARCHAR, fit_date DATE)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS user_tags (
            user_id VARCHAR, market VARCHAR, channel VARCHAR, orders BIGINT,
            total_value DOUBLE, days_since_last INTEGER, clv DOUBLE, value_tier VARCHAR,
            high_value BOOLEAN, rfm_recency INTEGER, rfm_frequency INTEGER,
            rfm_monetary INTEGER, rfm_score VARCHAR, rfm_segment VARCHAR,
            lifecycle_stage VARCHAR, as_of DATE, model_version VARCHAR, tagged_on DATE)"""
    )


def _v3(con: duckdb.DuckDBPyConnection) -> None:
    """Marketing-mix results (``growthloop.warehouse.media_store``): each fit appends its
    rows under a new ``model_version``, and each step of the re-allocation loop its plan
    (``budget_plans``); no person's data (aggregates per market, channel and period)."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS mmm_models (
            model_version VARCHAR, fitted_at TIMESTAMP, target VARCHAR, money BOOLEAN,
            method VARCHAR, grain_days INTEGER, first_period DATE, last_period DATE,
            level DOUBLE, currency VARCHAR, diagnostics VARCHAR)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS mmm_channels (
            model_version VARCHAR, market VARCHAR, channel VARCHAR, spend DOUBLE,
            contribution DOUBLE, contribution_share DOUBLE, per_spend DOUBLE,
            per_spend_low DOUBLE, per_spend_high DOUBLE, marginal_per_spend DOUBLE,
            marginal_low DOUBLE, marginal_high DOUBLE, roi DOUBLE, roi_low DOUBLE,
            roi_high DOUBLE, cost_per_outcome DOUBLE, alpha DOUBLE, half_life_days DOUBLE)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS mmm_curves (
            model_version VARCHAR, draw INTEGER, market VARCHAR, channel VARCHAR,
            ceiling DOUBLE, half_spend DOUBLE, shape DOUBLE, alpha DOUBLE, carry DOUBLE,
            "current" DOUBLE)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS mmm_contributions (
            model_version VARCHAR, market VARCHAR, channel VARCHAR, period DATE,
            spend DOUBLE, contribution DOUBLE)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS budget_plans (
            as_of DATE, cadence VARCHAR, target VARCHAR, market VARCHAR, channel VARCHAR,
            current DOUBLE, planned DOUBLE, change_share DOUBLE, observed DOUBLE,
            expected DOUBLE, performance DOUBLE, z DOUBLE, shifted BOOLEAN,
            shift_since DATE, reason VARCHAR, model_version VARCHAR,
            created_at TIMESTAMP)"""
    )


def _v4(con: duckdb.DuckDBPyConnection) -> None:
    """Experiments: each analysis's verdict and figures (``experiment_results``), and the
    knowledge base of concluded experiments and strategy notes (``knowledge``,
    ``growthloop.decide.knowledge``). Aggregates and text: no person's data."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS experiment_results (
            experiment_id VARCHAR, analyzed_at TIMESTAMP, as_of DATE, verdict VARCHAR,
            reason VARCHAR, metric VARCHAR, role VARCHAR, segment VARCHAR,
            variant VARCHAR, n_control BIGINT, n_variant BIGINT, mean_control DOUBLE,
            mean_variant DOUBLE, lift DOUBLE, lift_low DOUBLE, lift_high DOUBLE,
            p_value DOUBLE, cuped_lift DOUBLE, cuped_low DOUBLE, cuped_high DOUBLE,
            variance_reduction DOUBLE, chance_to_win DOUBLE, risk DOUBLE, seq_low DOUBLE,
            seq_high DOUBLE, seq_p DOUBLE, p_adjusted DOUBLE, srm_p DOUBLE)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS knowledge (
            entry_id VARCHAR, kind VARCHAR, title VARCHAR, hypothesis VARCHAR,
            decision VARCHAR, metric VARCHAR, effect DOUBLE, effect_low DOUBLE,
            effect_high DOUBLE, markets VARCHAR, start_date DATE, end_date DATE,
            experiment_id VARCHAR, owner VARCHAR, notes VARCHAR, created_at TIMESTAMP)"""
    )


def _v5(con: duckdb.DuckDBPyConnection) -> None:
    """The collector's identity links (canonical table ``identities``)."""
    con.execute(create_table_sql(TABLES["identities"]))


def _v6(con: duckdb.DuckDBPyConnection) -> None:
    """Audiences and lifecycle triggers (``growthloop.decide.audiences``,
    ``growthloop.decide.triggers``): each audience's members per built version
    (``audience_members``) and the versions themselves (``audience_versions``, no person's
    data); each trigger's current members (``trigger_state``) and who entered or left it
    at each run (``trigger_changes``); and per-person uplift scores (``uplift_scores``),
    read by audience filters."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS audience_members (
            audience VARCHAR, version INTEGER, user_id VARCHAR, market VARCHAR,
            as_of DATE, built_at TIMESTAMP)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS audience_versions (
            audience VARCHAR, version INTEGER, definition VARCHAR, size BIGINT,
            people_left_out BIGINT, as_of DATE, tags_version VARCHAR, built_at TIMESTAMP)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS trigger_state (
            "trigger" VARCHAR, user_id VARCHAR, market VARCHAR, reason VARCHAR,
            run_id VARCHAR, entered_at TIMESTAMP, as_of DATE)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS trigger_changes (
            "trigger" VARCHAR, user_id VARCHAR, change VARCHAR, reason VARCHAR,
            run_id VARCHAR, changed_at TIMESTAMP, as_of DATE)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS uplift_scores (
            model_version VARCHAR, experiment_id VARCHAR, user_id VARCHAR, uplift DOUBLE,
            uplift_low DOUBLE, uplift_high DOUBLE, scored_at TIMESTAMP)"""
    )


def _v7(con: duckdb.DuckDBPyConnection) -> None:
    """KPI alerts (``growthloop.decide.alerts``): each period a KPI left its forecast band,
    with the slices that explain the move (JSON), per run; aggregates only."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS alerts (
            run_id VARCHAR, kpi VARCHAR, grain VARCHAR, market VARCHAR, period DATE,
            period_end DATE, actual DOUBLE, expected DOUBLE, low DOUBLE, high DOUBLE,
            z DOUBLE, direction VARCHAR, worse BOOLEAN, festival BOOLEAN, drivers VARCHAR,
            as_of DATE, created_at TIMESTAMP)"""
    )


MIGRATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [_v1, _v2, _v3, _v4, _v5,
                                                                    _v6, _v7]
SCHEMA_VERSION = len(MIGRATIONS)

#: Derived tables of aggregates only (no person's identifier): erasure has nothing to do
#: there.
AGGREGATE_TABLES: tuple[str, ...] = ("mmm_models", "mmm_channels", "mmm_curves",
                                     "mmm_contributions", "budget_plans",
                                     "experiment_results", "knowledge",
                                     "audience_versions", "alerts")

#: Tables derived from people's data, outside ``schema.TABLES``, with the columns that hold a
#: person's (pseudonymised) identifier; ``privacy.erase`` deletes from them too.
DERIVED_PERSON_TABLES: dict[str, tuple[str, ...]] = {
    "customer_scores": ("user_id",),
    "user_tags": ("user_id",),
    "audience_members": ("user_id",),
    "trigger_state": ("user_id",),
    "trigger_changes": ("user_id",),
    "uplift_scores": ("user_id",),
}


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations in one transaction; return the schema version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    current = row[0] or 0 if row else 0
    if current > SCHEMA_VERSION:
        raise WarehouseError(
            f"warehouse schema version {current} is newer than this growthloop "
            f"({SCHEMA_VERSION}); upgrade growthloop"
        )
    if current < SCHEMA_VERSION:
        with transaction(con):
            for step in MIGRATIONS[current:]:
                step(con)
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
    return SCHEMA_VERSION


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")


#: How long opening waits for another process's write (a collector's fold) to finish.
LOCK_WAIT_SECONDS = 30.0


def connect(path: Path | str, *, read_only: bool = False,
            lock_wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open (and, unless read-only, create and migrate) the warehouse at ``path``.

    DuckDB lets one process write a file at a time; while another holds it (the
    collector folding its journal, a load), opening retries for ``lock_wait`` seconds
    (default ``LOCK_WAIT_SECONDS``) before it gives up.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(f"{path}: no warehouse here; load data with `growthloop ingest`")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if lock_wait is None else lock_wait)
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() + delay > deadline:
                raise WarehouseError(f"{path}: cannot open the warehouse: {e}") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    _configure(con)
    if not read_only:
        migrate(con)
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block atomically: commit if it finishes, roll back on any exception (Ctrl-C too)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def ibis_backend(con: duckdb.DuckDBPyConnection):  # -> ibis.backends.duckdb.Backend
    """An Ibis backend over an open DuckDB connection (the connection is passed, never global)."""
    import ibis

    return ibis.duckdb.from_connection(con)


class Warehouse:
    """An open project warehouse: its configuration, the DuckDB connection and the Ibis
    backend over it. Open once, pass it to every step, close it (or use ``with``).

    Examples
    --------
    >>> with Warehouse.open("growthloop.toml", read_only=True) as wh:  # doctest: +SKIP
    ...     market_summary(wh.backend, wh.cfg)
    """

    def __init__(self, cfg: Config, path: Path, con: duckdb.DuckDBPyConnection) -> None:
        self.cfg, self.path, self.con = cfg, path, con

    @classmethod
    def open(cls, config: Path | str | Config, *, read_only: bool = False,
             root: Path | None = None) -> Warehouse:
        """The warehouse of a project file (or of a ``Config`` whose paths are relative to
        ``root``, default the working directory)."""
        if isinstance(config, Config):
            cfg, base = config, root or Path.cwd()
        else:
            path = Path(config)
            cfg, base = load_config(path), path.resolve().parent
        where = cfg.warehouse_path(base)
        return cls(cfg, where, connect(where, read_only=read_only))

    @cached_property
    def backend(self) -> Any:  # ibis.backends.duckdb.Backend
        """The Ibis backend over the connection."""
        return ibis_backend(self.con)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
