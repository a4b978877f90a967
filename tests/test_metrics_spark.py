"""The metrics layer gives the same numbers on Spark (local mode) as on DuckDB: the whole
catalog, every grain, two-dimension slices, a project KPI, a date window, the customer
summary that feeds the CLV fit and the path counts that feed attribution."""

from __future__ import annotations

import math
from collections import Counter

import ibis
import pandas as pd
import pytest

from growthloop.core.config import DEFAULT_TOML, parse_config
from growthloop.core.dates import GRAINS
from growthloop.core.schema import TABLES
from growthloop.ingest import ingest_file
from growthloop.metrics import catalog, compile_kpi, kpi_dimensions
from growthloop.metrics.customers import customer_summary
from growthloop.metrics.journeys import build_paths
from growthloop.simulate import TABLE_FILES, simulate
from growthloop.warehouse import connect, ibis_backend
from metrics_fixture import SHARE_RATE_KPI

# pyspark's collect leaves py4j's local sockets to the garbage collector.
pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

PROJECT_KPI = SHARE_RATE_KPI


@pytest.fixture(scope="module")
def engines(tmp_path_factory, spark):
    """One simulated shop in DuckDB and, as the same Parquet tables, in Spark."""
    from conftest import KEY
    from growthloop.ingest.privacy import Pseudonymiser

    d = tmp_path_factory.mktemp("spark")
    cfg = parse_config(DEFAULT_TOML + PROJECT_KPI)
    simulate(d / "shop", n_users=1500, days=120, seed=3)
    con = connect(d / "warehouse.duckdb")
    pseudo = Pseudonymiser(KEY.encode())
    sb = ibis.pyspark.connect(spark)
    for name in TABLE_FILES:
        ingest_file(con, cfg, name, d / "shop" / f"{name}.parquet", pseudo)
    for name in TABLES:  # every canonical table, those the simulator leaves empty too
        p = d / f"{name}.parquet"
        con.execute(f"COPY {name} TO '{p}' (FORMAT parquet)")
        sb.read_parquet(str(p), table_name=name)
    yield ibis_backend(con), sb, cfg
    con.close()


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str], what: str) -> None:
    assert len(a) == len(b) > 0, what
    assert [str(p)[:10] for p in a.period] == [str(p)[:10] for p in b.period], what
    for k in keys:
        assert a[k].tolist() == b[k].tolist(), (what, k)
    for col in ("numerator", "denominator", "value"):
        for x, y in zip(a[col], b[col], strict=True):
            assert _missing(x) == _missing(y) and (_missing(x) or x == pytest.approx(
                y, rel=1e-9)), (what, col, x, y)


def test_catalog_same_on_duckdb_and_spark(engines):
    duck, sb, cfg = engines
    cat = catalog(cfg)
    for name, kpi in cat.items():
        by = [d for d in ("market", "channel") if d in kpi_dimensions(kpi, cat)][:1]
        _same(compile_kpi(name, duck, cfg, grain="month", by=by).execute(),
              compile_kpi(name, sb, cfg, grain="month", by=by).execute(), by, name)
    assert len(cat) == 28 and "share_rate" in cat  # 27 built in and the project's own


@pytest.mark.parametrize("grain", list(GRAINS))
def test_every_grain_same_on_duckdb_and_spark(engines, grain):
    duck, sb, cfg = engines
    kpis = ["revenue", "add_to_cart_rate", "mau_share", "cac", "nps", "share_rate"]
    if grain != "all":
        kpis.append("aov_growth")  # a growth against the previous period
    for name in kpis:
        _same(compile_kpi(name, duck, cfg, grain=grain, by=["market"]).execute(),
              compile_kpi(name, sb, cfg, grain=grain, by=["market"]).execute(), ["market"],
              f"{name} by {grain}")


@pytest.mark.parametrize(("name", "by"), [("revenue", ["market", "channel"]),
                                          ("precise_traffic_share", ["market", "device"]),
                                          ("roas", ["market", "channel"]),
                                          ("share_rate", ["channel", "customer_type"])])
def test_two_dimension_slices_in_a_window(engines, name, by):
    duck, sb, cfg = engines
    window = dict(grain="week", by=by, start="2025-02-03", end="2025-04-01")
    a = compile_kpi(name, duck, cfg, **window).execute()
    _same(a, compile_kpi(name, sb, cfg, **window).execute(), by, name)
    days = pd.to_datetime(a.period)
    assert days.min() >= pd.Timestamp("2025-02-03") and days.max() < pd.Timestamp("2025-04-01")


def test_customer_summary_same_on_duckdb_and_spark(engines):
    duck, sb, cfg = engines
    a, b = customer_summary(duck, cfg), customer_summary(sb, cfg)
    assert len(a) == len(b) > 300
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                  check_dtype=False, rtol=1e-9)


@pytest.mark.parametrize("conversion", ["first_purchase", "any_purchase"])
def test_path_counts_same_multiset_on_duckdb_and_spark(engines, conversion):
    duck, sb, cfg = engines
    kw = dict(conversion=conversion, by_market=True, by_period="month", with_days=True)
    a, b = build_paths(duck, cfg, **kw), build_paths(sb, cfg, **kw)

    def multiset(t) -> Counter:
        # sums of money differ in the last bit with the engines' summation order
        return Counter(tuple(float(f"{v:.12g}") if isinstance(v, float) else v
                             for v in r.values()) for r in t.to_pylist())

    rows = multiset(a)
    assert rows == multiset(b)
    assert sum(rows.values()) == a.num_rows > 100


def test_media_panel_same_on_duckdb_and_spark(engines):
    """The marketing-mix model's weekly panel (outcome and spend per channel)."""
    from growthloop.metrics.media import media_panel

    duck, sb, cfg = engines
    for grain in ("week", "day"):
        a, b = media_panel(duck, cfg, grain=grain), media_panel(sb, cfg, grain=grain)
        assert a.attrs["channels"] == b.attrs["channels"] and len(a.attrs["channels"]) == 4
        assert len(a) > 8 * (10 if grain == "week" else 70)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9)
