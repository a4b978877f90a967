"""The embedded DuckDB warehouse: the connection and its migrations (``connection``) and
the stores of derived tables (``store``: customer scores and tags; ``media_store``:
marketing-mix fits)."""

from growthloop.warehouse.connection import (
    AGGREGATE_TABLES,
    DERIVED_PERSON_TABLES,
    MIGRATIONS,
    SCHEMA_VERSION,
    Warehouse,
    connect,
    create_table_sql,
    ibis_backend,
    migrate,
    transaction,
)

__all__ = [
    "AGGREGATE_TABLES",
    "DERIVED_PERSON_TABLES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Warehouse",
    "connect",
    "create_table_sql",
    "ibis_backend",
    "migrate",
    "transaction",
]
