"""Hostile and awkward input: time zones, non-finite money, encodings, odd paths, BOMs and
duplicate headers, cross-border orders, formula injection in CSV outputs, injection
through user KPIs, and the upper bound on plausible dates."""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import write_csv
from growthloop.core.errors import InputError
from growthloop.ingest import ingest_file, readers, rules
from growthloop.warehouse import ibis_backend

ORDER = dict(order_id="o1", user_id="u1", order_ts="2025-03-01T10:00:00", market="US",
             currency="USD", amount="10", status="paid", delivered_ts=None)
ORDER_HEADER = ",".join(ORDER)


def _orders(**rows: dict[str, object]) -> list[dict[str, object]]:
    """Order rows keyed by order id, each the good ORDER with changes."""
    return [{**ORDER, "order_id": k, **v} for k, v in rows.items()]


def _quarantine(con) -> dict[int, str]:
    return dict(con.execute("SELECT row_number, reason FROM quarantine").fetchall())


# --- 1. timestamps with a UTC offset ------------------------------------------------------

@pytest.mark.parametrize(("text", "utc"), [
    ("2025-03-01T10:00:00+07:00", datetime(2025, 3, 1, 3, 0)),
    ("2025-03-01T10:00:00-03:00", datetime(2025, 3, 1, 13, 0)),
    ("2025-03-01T10:00:00Z", datetime(2025, 3, 1, 10, 0)),
    ("2025-03-01T10:00:00", datetime(2025, 3, 1, 10, 0)),          # no offset: UTC
    ("2025-03-01 10:00:00+05:30", datetime(2025, 3, 1, 4, 30)),
    ("2025-03-01T01:00:00+07:00", datetime(2025, 2, 28, 18, 0)),   # the UTC day before
    ("2025-03-01T22:30:00-03:00", datetime(2025, 3, 2, 1, 30)),    # the UTC day after
])
def test_offset_timestamps_are_stored_as_the_utc_instant(tmp_path, con, cfg, pseudo, text, utc):
    path = write_csv(tmp_path / "o.csv", _orders(o1={"order_ts": text}))
    res = ingest_file(con, cfg, "orders", path, pseudo)
    assert (res.rows_loaded, res.rows_quarantined) == (1, 0)
    assert con.execute("SELECT typeof(order_ts), order_ts FROM orders").fetchone() == (
        "TIMESTAMP", utc)


def test_offset_timestamps_in_jsonl_and_parquet(tmp_path, con, cfg, pseudo):
    lines = [json.dumps({**ORDER, "order_id": "j1", "order_ts": "2025-03-01T10:00:00+07:00"})]
    (tmp_path / "o.jsonl").write_text("\n".join(lines) + "\n")
    ingest_file(con, cfg, "orders", tmp_path / "o.jsonl", pseudo)
    jakarta = timezone(timedelta(hours=7))
    t = pa.table({k: [v] for k, v in ORDER.items() if k not in ("order_ts", "delivered_ts")})
    t = t.set_column(0, "order_id", pa.array(["p1"])).append_column(
        "order_ts", pa.array([datetime(2025, 3, 1, 10, 0, tzinfo=jakarta)],
                             pa.timestamp("us", tz="Asia/Jakarta")))
    pq.write_table(t, tmp_path / "o.parquet")
    ingest_file(con, cfg, "orders", tmp_path / "o.parquet", pseudo)
    assert con.execute("SELECT order_id, order_ts FROM orders ORDER BY 1").fetchall() == [
        ("j1", datetime(2025, 3, 1, 3, 0)), ("p1", datetime(2025, 3, 1, 3, 0))]


# --- 2. non-finite and extreme amounts ----------------------------------------------------

def test_non_finite_amounts_are_quarantined_and_minus_zero_is_zero(tmp_path, con, cfg, pseudo):
    amounts = {"inf": "inf", "ninf": "-inf", "nan": "nan", "huge": "1e400", "mzero": "-0",
               "mzero2": "-0.0", "big": "1e308", "Inf": "Infinity"}
    path = write_csv(tmp_path / "o.csv", _orders(**{k: {"amount": v}
                                                    for k, v in amounts.items()}))
    res = ingest_file(con, cfg, "orders", path, pseudo)
    assert (res.rows_read, res.rows_loaded, res.rows_quarantined) == (8, 3, 5)
    assert _quarantine(con) == {
        1: "amount = 'inf': expected a finite number",
        2: "amount = '-inf': expected a finite number; amount = '-inf': expected a value >= 0",
        3: "amount = 'nan': expected a finite number",
        4: "amount = '1e400': expected a finite number (beyond ±1.8e308, the range of a "
           "64-bit float)",
        8: "amount = 'Infinity': expected a finite number",
    }
    stored = dict(con.execute("SELECT order_id, amount FROM orders").fetchall())
    assert stored == {"mzero": 0.0, "mzero2": 0.0, "big": 1e308}
    assert math.copysign(1.0, stored["mzero"]) == 1.0  # +0, not -0
    assert math.copysign(1.0, stored["mzero2"]) == 1.0
    assert con.execute("SELECT count(*) FROM orders WHERE signbit(amount)").fetchone() == (0,)


def test_non_finite_amounts_in_parquet(tmp_path, con, cfg, pseudo):
    n = 4
    t = pa.table({**{k: [v] * n for k, v in ORDER.items() if k not in ("amount", "delivered_ts")},
                  "amount": pa.array([float("inf"), float("nan"), -0.0, 5.0], pa.float64())})
    t = t.set_column(0, "order_id", pa.array(["a", "b", "c", "d"]))
    pq.write_table(t, tmp_path / "o.parquet")
    res = ingest_file(con, cfg, "orders", tmp_path / "o.parquet", pseudo)
    assert (res.rows_loaded, res.rows_quarantined) == (2, 2)
    assert _quarantine(con) == {1: "amount = 'inf': expected a finite number",
                                2: "amount = 'nan': expected a finite number"}
    rows = con.execute("SELECT order_id, amount, signbit(amount) FROM orders ORDER BY 1")
    assert rows.fetchall() == [("c", 0.0, False), ("d", 5.0, False)]


# --- 3. bytes that are not UTF-8 ----------------------------------------------------------

def _latin1_orders(tmp_path, name="o.csv"):
    good = "o1,u1,2025-03-01T10:00:00,US,USD,10,paid,\n"
    bad = "o2,u\xe9,2025-03-01T10:00:00,US,USD,10,paid,\n"  # user id 'ué' in Latin-1
    data = (ORDER_HEADER + "\n" + good + bad).encode("latin-1")
    path = tmp_path / name
    path.write_bytes(data)
    return path, data.index(b"\xe9")


@pytest.mark.parametrize("chunk", [1, 7, 1 << 22])
def test_non_utf8_csv_is_refused_naming_byte_row_and_field(tmp_path, con, cfg, pseudo,
                                                          monkeypatch, chunk):
    monkeypatch.setattr(readers, "_CHUNK", chunk)  # the offset must not depend on reads
    path, offset = _latin1_orders(tmp_path)
    assert offset == 115  # header 69 bytes, row 1 42 bytes, then "o2,u"
    with pytest.raises(InputError) as e:
        ingest_file(con, cfg, "orders", path, pseudo)
    assert str(e.value) == (
        f"{path}: not UTF-8 text: byte 0xE9 at byte offset 115 (row 2, user_id = 'u\\xe9'); "
        "expected UTF-8: save the file as UTF-8 (in a spreadsheet: CSV UTF-8) and load it "
        "again")
    assert con.execute("SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM "
                       "quarantine), (SELECT count(*) FROM loads)").fetchone() == (0, 0, 0)


@pytest.mark.parametrize("chunk", [1, 2, 1 << 22])
def test_utf8_split_across_reads_is_fine(tmp_path, con, cfg, pseudo, monkeypatch, chunk):
    monkeypatch.setattr(readers, "_CHUNK", chunk)
    path = write_csv(tmp_path / "o.csv", _orders(o1={"user_id": "Zoë 日本"}))
    assert ingest_file(con, cfg, "orders", path, pseudo).rows_loaded == 1


def test_non_utf8_in_csv_header_and_jsonl(tmp_path, con, cfg, pseudo):
    path = tmp_path / "h.csv"
    path.write_bytes(ORDER_HEADER.replace("amount", "amo\xfcnt").encode("latin-1") + b"\n")
    assert path.read_bytes().index(b"\xfc") == 45
    with pytest.raises(InputError) as e:
        ingest_file(con, cfg, "orders", path, pseudo)
    assert "byte 0xFC at byte offset 45 (the header, column 6 = 'amo\\xfcnt')" in str(e.value)
    # JSON Lines: the offset counts bytes (the valid 'ü' before it is two), the row is the line
    lines = [json.dumps({**ORDER, "user_id": "ü"}, ensure_ascii=False).encode(),
             json.dumps({**ORDER, "order_id": "o2"}).encode(),
             json.dumps({**ORDER, "order_id": "o3", "user_id": "X"}).encode().replace(
                 b'"X"', b'"\xe9"')]
    data = b"\n".join(lines) + b"\n"
    (tmp_path / "o.jsonl").write_bytes(data)
    offset = data.index(b"\xe9")
    with pytest.raises(InputError) as e:
        ingest_file(con, cfg, "orders", tmp_path / "o.jsonl", pseudo)
    assert str(e.value).startswith(
        f"{tmp_path / 'o.jsonl'}: not UTF-8 text: byte 0xE9 at byte offset {offset} (row 3)")
    assert con.execute("SELECT count(*) FROM loads").fetchone() == (0,)


# --- 4. a path with a quote and a space ---------------------------------------------------

@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_path_with_quote_and_space_loads(tmp_path, con, cfg, pseudo, suffix):
    folder = tmp_path / "it's here"
    folder.mkdir()
    path = folder / f"o'brien data{suffix}"
    rows = _orders(o1={"amount": "12.5"}, o2={"amount": "7"})
    if suffix == ".csv":
        write_csv(path, rows)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps({k: v for k, v in r.items() if v is not None})
                                + "\n" for r in rows))
    else:
        df = pd.DataFrame(rows).drop(columns="delivered_ts")
        df["amount"] = df["amount"].astype(float)
        df.to_parquet(path, index=False)
    res = ingest_file(con, cfg, "orders", path, pseudo)
    assert (res.rows_read, res.rows_loaded, res.rows_quarantined) == (2, 2, 0)
    assert con.execute("SELECT order_id, amount FROM orders ORDER BY 1").fetchall() == [
        ("o1", 12.5), ("o2", 7.0)]
    assert con.execute("SELECT file FROM loads").fetchone() == (str(path),)


# --- 5. a byte order mark, duplicate headers ----------------------------------------------

def test_bom_is_ignored(tmp_path, con, cfg, pseudo):
    path = write_csv(tmp_path / "o.csv", _orders(o1={}, o2={}))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    res = ingest_file(con, cfg, "orders", path, pseudo)
    assert (res.rows_loaded, res.rows_quarantined) == (2, 0)
    assert con.execute("SELECT list_sort(list(order_id)) FROM orders").fetchone() == (
        ["o1", "o2"],)
    jl = tmp_path / "o.jsonl"
    jl.write_bytes(b"\xef\xbb\xbf" + json.dumps({**ORDER, "order_id": "o3"}).encode() + b"\n")
    assert ingest_file(con, cfg, "orders", jl, pseudo).rows_loaded == 1
    assert con.execute("SELECT count(*) FROM orders").fetchone() == (3,)


@pytest.mark.parametrize(("header", "dups"), [
    ("order_id,amount,amount", "'amount'"),
    (ORDER_HEADER + ",amount", "'amount'"),
    (ORDER_HEADER + ",status,order_id", "'status', 'order_id'"),
])
def test_duplicate_headers_are_refused(tmp_path, con, cfg, pseudo, header, dups):
    path = tmp_path / "o.csv"
    path.write_text(header + "\n" + ",".join(["1"] * header.count(",")) + ",1\n")
    with pytest.raises(InputError) as e:
        ingest_file(con, cfg, "orders", path, pseudo)
    assert str(e.value).startswith(
        f"{path}: column(s) {dups} appear more than once in the header; expected each "
        "column once")
    assert con.execute("SELECT count(*) FROM loads").fetchone() == (0,)


def test_jsonl_repeated_field_is_quarantined(tmp_path, con, cfg, pseudo):
    # json.loads would keep the last "amount" silently
    good = json.dumps({**ORDER, "order_id": "o2"})
    twice = json.dumps({**ORDER, "amount": "10"})[:-1] + ', "amount": "99999"}'
    (tmp_path / "o.jsonl").write_text(twice + "\n" + good + "\n")
    res = ingest_file(con, cfg, "orders", tmp_path / "o.jsonl", pseudo)
    assert (res.rows_read, res.rows_loaded, res.rows_quarantined) == (2, 1, 1)
    assert _quarantine(con) == {1: "field(s) 'amount' appear more than once; expected each "
                                   "field once"}
    assert con.execute("SELECT order_id, amount FROM orders").fetchall() == [("o2", 10.0)]


# --- 6. orders in another currency than their market's ------------------------------------

def test_cross_border_orders_are_converted_with_the_day_rate(tmp_path, con, cfg, pseudo):
    from growthloop.metrics.sources import valued_orders

    assert cfg.market("DE").currency == "EUR" and cfg.reporting_currency == "USD"
    fx = [dict(date="2025-03-01", currency="BRL", rate=0.2),
          dict(date="2025-03-01", currency="EUR", rate=1.1),
          dict(date="2025-03-02", currency="EUR", rate=1.25)]
    ingest_file(con, cfg, "fx_rates", write_csv(tmp_path / "fx.csv", fx), pseudo)
    rows = _orders(
        de_usd={"market": "DE", "currency": "USD", "amount": "10"},
        de_brl={"market": "DE", "currency": "BRL", "amount": "100"},
        us_eur={"market": "US", "currency": "EUR", "amount": "10",
                "order_ts": "2025-03-02T01:00:00+07:00"},   # UTC 2025-03-01: that day's rate
        br_eur={"market": "BR", "currency": "EUR", "amount": "10",
                "order_ts": "2025-03-02T10:00:00"})
    res = ingest_file(con, cfg, "orders", write_csv(tmp_path / "o.csv", rows), pseudo)
    assert (res.rows_loaded, res.rows_quarantined) == (4, 0)
    df = valued_orders(ibis_backend(con), cfg).execute()
    got = dict(zip(df.order_id, df.amount_reporting, strict=True))
    assert got == pytest.approx({"de_usd": 10.0, "de_brl": 20.0, "us_eur": 11.0,
                                 "br_eur": 12.5})
    assert dict(zip(df.order_id, df.market, strict=True))["de_brl"] == "DE"


def test_currency_never_in_fx_rates_is_the_convert_error(tmp_path, con, cfg, pseudo):
    from growthloop.metrics.sources import valued_orders

    fx = [dict(date="2025-03-01", currency="EUR", rate=1.1)]
    ingest_file(con, cfg, "fx_rates", write_csv(tmp_path / "fx.csv", fx), pseudo)
    rows = _orders(a={"market": "DE", "currency": "JPY", "amount": "1000"},
                   b={"market": "DE", "currency": "JPY", "amount": "500",
                      "order_ts": "2025-03-03T10:00:00"},
                   c={"market": "DE", "currency": "EUR"})
    assert ingest_file(con, cfg, "orders", write_csv(tmp_path / "o.csv", rows),
                       pseudo).rows_loaded == 3
    with pytest.raises(InputError) as e:
        valued_orders(ibis_backend(con), cfg)
    assert str(e.value) == (
        "orders: no FX rate into USD for JPY on 2 days (2025-03-01..2025-03-03, 2 rows); "
        "load fx_rates for those days, or set missing_fx = \"skip\" in growthloop.toml to "
        "leave them out")


# --- 7. formulas in CSV outputs -----------------------------------------------------------

EVIL = ['=HYPERLINK("http://x","click")', "+1+2", "-2+3", "@SUM(A1:A9)", "\tx", "\rx"]


def _frame() -> pd.DataFrame:
    n = len(EVIL) + 2
    return pd.DataFrame({
        "campaign": [*EVIL, "plain", None],
        "period": ["2025-03-01"] * n,
        "value": [-1.5, -0.0, 2.0, -3e9, 0.25, -7.0, 1.0, float("nan")],
        "count": [-3, 0, 1, 2, 3, 4, 5, 6],
        "flag": [True, False] * (n // 2),
        "mixed": [-1, "-1", 2.5, "=1", None, "ok", 7, "@x"],
    })


def test_csv_output_makes_formulas_inert(tmp_path):
    from growthloop.report.format import write_frame

    df = _frame()
    before = df.copy()
    path = write_frame(df, tmp_path / "x.csv")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["campaign"] for r in rows] == [
        "'" + v for v in EVIL] + ["plain", ""]
    assert [r["value"] for r in rows] == ["-1.5", "-0.0", "2.0", "-3000000000.0", "0.25",
                                          "-7.0", "1.0", ""]
    assert [r["count"] for r in rows] == ["-3", "0", "1", "2", "3", "4", "5", "6"]
    assert [r["flag"] for r in rows] == ["True", "False"] * 4
    assert [r["mixed"] for r in rows] == ["-1", "'-1", "2.5", "'=1", "", "ok", "7", "'@x"]
    assert {r["period"] for r in rows} == {"2025-03-01"}
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is not changed


def test_parquet_and_json_outputs_keep_raw_values(tmp_path):
    from growthloop.report.format import write_frame

    df = _frame().drop(columns="mixed")  # Parquet columns hold one type
    back = pd.read_parquet(write_frame(df, tmp_path / "x.parquet"))
    assert back.campaign.tolist() == [*EVIL, "plain", None]
    assert back.value.tolist()[:4] == [-1.5, -0.0, 2.0, -3e9]
    got = json.loads(write_frame(df, tmp_path / "x.json").read_text())
    assert [r["campaign"] for r in got] == [*EVIL, "plain", None]


def test_kpi_csv_with_a_formula_campaign(tmp_path, con, cfg, pseudo):
    """The route of ``growthloop kpi spend --by campaign --out x.csv``."""
    from growthloop.metrics.compile import kpi_frame
    from growthloop.report.format import write_frame

    spend = [dict(date="2025-03-01", market="US", channel="search_ads", campaign=EVIL[0],
                  spend=100, currency="USD", impressions=None, clicks=None),
             dict(date="2025-03-01", market="US", channel="search_ads", campaign="-5",
                  spend=40, currency="USD", impressions=None, clicks=None)]
    ingest_file(con, cfg, "ad_spend", write_csv(tmp_path / "s.csv", spend), pseudo)
    df = kpi_frame(ibis_backend(con), cfg, ["spend"], grain="month", by=["campaign"])
    path = write_frame(df, tmp_path / "x.csv")
    with path.open(newline="") as f:
        rows = {r["campaign"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"'" + EVIL[0], "'-5"}
    assert b"\r" not in path.read_bytes()  # no CR in the values: plain LF line ends
    assert float(rows["'" + EVIL[0]]["value"]) == 100.0
    assert float(rows["'-5"]["value"]) == 40.0


# --- 8. injection through user KPIs -------------------------------------------------------

def _kpi(name: str, measure: str, extra: str = "") -> str:
    return (f'\n[[kpis]]\nname = "{name}"\ndescription = "x"\nkind = "ratio"\nunit = "share"\n'
            f'direction = "up"\nnumerator = {measure}\n'
            'denominator = { source = "orders", agg = "count" }\n' + extra)


@pytest.fixture
def shop(tmp_path, con, cfg, pseudo):
    from metrics_fixture import load_fixture

    load_fixture(tmp_path, con, cfg, pseudo)
    return ibis_backend(con)


def test_malicious_filter_value_matches_nothing(shop, con):
    from growthloop.core.config import DEFAULT_TOML, parse_config
    from growthloop.metrics import compile_kpi

    cfg = parse_config(DEFAULT_TOML + _kpi(
        "evil_eq", """{ source = "orders", agg = "count", filter = { market = "x' OR 1=1 --" } }"""
    ) + _kpi(
        "evil_in", """{ source = "orders", agg = "count", filter = { market = ["US' OR '1'='1", "US"] } }"""  # noqa: E501
    ) + _kpi(
        "evil_cmp", """{ source = "orders", agg = "count", filter = { market = { "==" = "DE') OR ('a'='a" } } }"""  # noqa: E501
    ) + _kpi(
        "plain_us", """{ source = "orders", agg = "count", filter = { market = "US" } }"""))

    def counts(name):
        df = compile_kpi(name, shop, cfg, grain="month").execute()
        return df.numerator.tolist(), df.denominator.tolist(), df.value.tolist()

    # orders not cancelled: January o1 (US), o2 (DE); February o3 (US), o4 (DE)
    assert counts("plain_us") == ([1, 1], [2, 2], [0.5, 0.5])
    assert counts("evil_eq") == ([0, 0], [2, 2], [0.0, 0.0])    # not [2, 2]: all rows
    assert counts("evil_in") == ([1, 1], [2, 2], [0.5, 0.5])    # only the literal "US"
    assert counts("evil_cmp") == ([0, 0], [2, 2], [0.0, 0.0])
    assert con.execute("SELECT count(*) FROM orders").fetchone() == (5,)


@pytest.mark.parametrize(("measure", "extra", "message"), [
    ("""{ source = "orders", agg = "count", filter = { "market' OR 1=1 --" = "US" } }""", "",
     "kpis.evil: column \"market' OR 1=1 --\" is not in source 'orders'"),
    ("""{ source = "orders", agg = "sum", column = "revenue) FROM orders; DROP TABLE orders; --" }""",  # noqa: E501
     "", "kpis.evil: column 'revenue) FROM orders; DROP TABLE orders; --' is not in source"),
    ("""{ source = "orders", agg = "count", filter = { amount = 1 } }""", "",
     "kpis.evil: column 'amount' is not in source 'orders'; expected one of campaign, "
     "channel, cohort"),
    ("""{ source = "orders", agg = "count" }""", """dimensions = ['market" OR 1=1 --']\n""",
     "kpis.evil: dimensions: 'market\" OR 1=1 --' is not a dimension of source 'orders'"),
    ("""{ source = "orders", agg = "count" }""", """dimensions = ["device"]\n""",
     "kpis.evil: dimensions: 'device' is not a dimension of source 'orders'; expected one of "
     "market, country"),
])
def test_unknown_kpi_column_is_refused(shop, con, measure, extra, message):
    from growthloop.core.config import DEFAULT_TOML, parse_config
    from growthloop.metrics import catalog, compile_kpi

    cfg = parse_config(DEFAULT_TOML + _kpi("evil", measure, extra))
    with pytest.raises(InputError) as e:
        catalog(cfg)
    assert message in str(e.value)
    with pytest.raises(InputError, match=r"kpis\.evil"):
        compile_kpi("evil", shop, cfg)
    assert con.execute("SELECT count(*) FROM orders").fetchone() == (5,)


def test_slicing_by_an_unknown_dimension_is_refused(shop, cfg):
    from growthloop.metrics import compile_kpi

    with pytest.raises(InputError, match="KPI 'revenue' cannot be sliced by "
                                         "'market\" OR 1=1 --'; expected one of: market"):
        compile_kpi("revenue", shop, cfg, by=['market" OR 1=1 --'])


# --- 9. the upper bound on dates ----------------------------------------------------------

NOW = datetime(2025, 3, 10, 12, 0)  # tomorrow is 2025-03-11: times before 03-12 are plausible


@pytest.mark.parametrize("now", [NOW, NOW.replace(tzinfo=UTC),
                                 datetime(2025, 3, 10, 19, 0, tzinfo=timezone(timedelta(hours=7)))])
def test_latest_plausible_time_with_a_fixed_now(tmp_path, con, cfg, pseudo, now):
    rows = _orders(
        in1={"order_ts": "2025-03-11T23:59:59.999999"},
        in2={"order_ts": "2025-03-12T06:59:00+07:00"},   # 2025-03-11T23:59 UTC
        in3={"order_ts": "2025-03-11"},
        out1={"order_ts": "2025-03-12T00:00:00Z"},
        out2={"order_ts": "2025-03-11T19:00:00-05:00"},  # 2025-03-12T00:00 UTC
        out3={"order_ts": "2025-03-12"})
    res = ingest_file(con, cfg, "orders", write_csv(tmp_path / "o.csv", rows), pseudo, now=now)
    assert (res.rows_loaded, res.rows_quarantined) == (3, 3)
    assert con.execute("SELECT list_sort(list(order_id)) FROM orders").fetchone() == (
        ["in1", "in2", "in3"],)
    expected = ": expected a time between 2000-01-01 and 2025-03-11 (tomorrow, UTC)"
    assert _quarantine(con) == {4: "order_ts = '2025-03-12T00:00:00Z'" + expected,
                                5: "order_ts = '2025-03-11T19:00:00-05:00'" + expected,
                                6: "order_ts = '2025-03-12'" + expected}
    assert con.execute("SELECT DISTINCT loaded_at FROM loads").fetchall() == [(NOW,)]


def test_latest_plausible_day_from_the_module_clock(tmp_path, con, cfg, pseudo, monkeypatch):
    monkeypatch.setattr(rules, "utc_now", lambda: NOW)
    spend = [dict(date=d, market="US", channel="search_ads", campaign=d, spend=1,
                  currency="USD", impressions=None, clicks=None)
             for d in ("2025-03-10", "2025-03-11", "2025-03-12")]
    res = ingest_file(con, cfg, "ad_spend", write_csv(tmp_path / "s.csv", spend), pseudo)
    assert (res.rows_loaded, res.rows_quarantined) == (2, 1)
    assert _quarantine(con) == {3: "date = '2025-03-12': expected a time between 2000-01-01 "
                                   "and 2025-03-11 (tomorrow, UTC)"}
    assert con.execute("SELECT loaded_at FROM loads").fetchone() == (NOW,)
    assert rules.latest_day(datetime(2025, 12, 31, 23, 0)) == "2026-01-01"
