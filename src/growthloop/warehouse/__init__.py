"""The embedded DuckDB warehouse: the connection and its migrations (``connection``) and
the store of derived tables (``store``)."""

from growthloop.warehouse.connection import (
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
