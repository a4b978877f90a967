import datetime as dt

import numpy as np
import pandas as pd
import pytest

from growthloop.core.errors import InputError, WarehouseError
from growthloop.core.schema import TABLES
from growthloop.warehouse import (
    AGGREGATE_TABLES,
    DERIVED_PERSON_TABLES,
    SCHEMA_VERSION,
    connect,
    transaction,
)


def test_tables_and_version(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert set(TABLES) | set(DERIVED_PERSON_TABLES) | set(AGGREGATE_TABLES) | {
        "quarantine", "loads", "schema_version"} == names
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


def _fit_rows(scale: float) -> dict[str, pd.DataFrame]:
    pairs = [("DE", "search"), ("DE", "video"), ("US", "search")]
    point = pd.DataFrame([{"market": m, "channel": c, "ceiling": 100 * scale,
                           "half_spend": 50.0, "shape": 1.2, "alpha": 0.3, "carry": 40.0,
                           "current": 45.0} for m, c in pairs])
    draws = pd.DataFrame([{"draw": d, "market": m, "channel": c, "ceiling": 90.0 + d,
                           "half_spend": 50.0, "shape": 1.2, "alpha": 0.3, "carry": 40.0}
                          for d in range(3) for m, c in pairs])
    channels = pd.DataFrame([{"market": m, "channel": c, "spend": 450.0,
                              "contribution": 90.0 * scale, "per_spend": 0.2 * scale,
                              "cost_per_outcome": 5.0 / scale} for m, c in pairs])
    contrib = pd.DataFrame([{"market": m, "channel": c, "period": dt.date(2025, 1, 6),
                             "spend": 45.0, "contribution": 9.0} for m, c in pairs])
    return {"channels": channels, "point": point, "draws": draws, "contributions": contrib}


def test_mmm_fits_are_stored_by_version(tmp_path):
    from growthloop.warehouse.media_store import KEEP_VERSIONS, MMM_TABLES, read_mmm, write_mmm

    con = connect(tmp_path / "w.duckdb")
    meta = {"target": "new_users", "money": False, "method": "map", "grain_days": 7,
            "first_period": dt.date(2024, 1, 1), "last_period": dt.date(2025, 1, 6),
            "level": 0.9, "currency": "USD", "diagnostics": {"r2": np.float64(0.93)}}
    with pytest.raises(InputError, match="no marketing-mix model"):
        read_mmm(con)
    for k in range(KEEP_VERSIONS + 2):
        with transaction(con):
            write_mmm(con, version=f"v{k}", meta=meta, **_fit_rows(1.0 + k))
    with transaction(con):  # writing a version again replaces it
        write_mmm(con, version=f"v{KEEP_VERSIONS + 1}", meta=meta, **_fit_rows(2.0))
    fit = read_mmm(con)
    assert fit.version == f"v{KEEP_VERSIONS + 1}" and fit.meta["diagnostics"] == {"r2": 0.93}
    assert fit.point.ceiling.tolist() == [200.0] * 3
    assert fit.point.current.tolist() == [45.0] * 3
    assert fit.draws.draw.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert fit.draws.ceiling.tolist() == [90.0] * 3 + [91.0] * 3 + [92.0] * 3
    assert fit.channels.contribution.tolist() == [180.0] * 3
    assert fit.channels.roi.isna().all() and fit.last_period == dt.date(2025, 1, 6)
    assert read_mmm(con, "v5").channels.contribution.tolist() == [540.0] * 3
    versions = [r[0] for r in con.execute("SELECT model_version FROM mmm_models").fetchall()]
    assert sorted(versions) == sorted(f"v{k}" for k in range(2, KEEP_VERSIONS + 2))
    for table in MMM_TABLES:  # the two oldest fits are gone from every table
        assert con.execute(f"SELECT count(*) FROM {table} WHERE model_version IN "
                           "('v0', 'v1')").fetchone()[0] == 0
    with pytest.raises(InputError, match="'v0' is not in the warehouse"):
        read_mmm(con, "v0")
    con.close()
