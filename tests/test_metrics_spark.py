"""The whole KPI catalog gives the same numbers on Spark (local mode) as on DuckDB."""

from __future__ import annotations

import math
from pathlib import Path

import ibis
import pytest

from growthloop.core.schema import TABLES
from growthloop.ingest import ingest_file
from growthloop.metrics import catalog, compile_kpi, kpi_dimensions
from growthloop.simulate import simulate
from growthloop.warehouse import ibis_backend

# pyspark's collect leaves py4j's local sockets to the garbage collector.
pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def test_catalog_same_on_duckdb_and_spark(tmp_path: Path, con, cfg, pseudo, spark):
    simulate(tmp_path / "shop", n_users=1500, days=120, seed=3)
    for name in TABLES:
        ingest_file(con, cfg, name, tmp_path / "shop" / f"{name}.parquet", pseudo)
    duck = ibis_backend(con)
    sb = ibis.pyspark.connect(spark)
    for name in TABLES:  # the same tables, handed to Spark as Parquet
        p = tmp_path / f"{name}.parquet"
        con.execute(f"COPY {name} TO '{p}' (FORMAT parquet)")
        sb.read_parquet(str(p), table_name=name)

    cat = catalog(cfg)
    compared = 0
    for name, kpi in cat.items():
        by = [d for d in ("market", "channel") if d in kpi_dimensions(kpi, cat)][:1]
        a = compile_kpi(name, duck, cfg, grain="month", by=by).execute()
        b = compile_kpi(name, sb, cfg, grain="month", by=by).execute()
        assert len(a) == len(b) > 0, name
        for col in ("numerator", "denominator", "value"):
            for x, y in zip(a[col], b[col], strict=True):
                nan_x = x is None or (isinstance(x, float) and math.isnan(x))
                nan_y = y is None or (isinstance(y, float) and math.isnan(y))
                assert nan_x == nan_y and (nan_x or x == pytest.approx(y, rel=1e-9)), \
                    (name, col, x, y)
        assert [str(p)[:10] for p in a.period] == [str(p)[:10] for p in b.period], name
        for d in by:
            assert a[d].tolist() == b[d].tolist(), name
        compared += 1
    assert compared == len(cat) == 26
