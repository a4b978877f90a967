import pytest

from growthloop.core.errors import WarehouseError
from growthloop.core.schema import TABLES
from growthloop.warehouse import DERIVED_PERSON_TABLES, SCHEMA_VERSION, connect


def test_tables_and_version(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert set(TABLES) | set(DERIVED_PERSON_TABLES) | {"quarantine", "loads",
                                                         "schema_version"} == names
    cols = [r[0] for r in con.execute("DESCRIBE orders").fetchall()]
    assert cols == TABLES["orders"].column_names
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    con.close()
    con = connect(tmp_path / "w.duckdb")  # reopening migrates nothing twice
    assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1
    con.execute("UPDATE schema_version SET version = 99")
    con.close()
    with pytest.raises(WarehouseError, match="schema version 99 is newer"):
        connect(tmp_path / "w.duckdb")


def test_read_only_needs_a_warehouse(tmp_path):
    with pytest.raises(WarehouseError, match="no warehouse here"):
        connect(tmp_path / "none.duckdb", read_only=True)
