"""Every validation rule: a bad row of its kind is quarantined with its reason while the
good rows of the same file load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import write_csv
from growthloop.ingest import ingest_file

GOOD: dict[str, dict[str, object]] = {
    "users": dict(user_id="u1", signup_ts="2025-01-05T10:00:00Z", market="ID", country="ID",
                  acquisition_channel="social_ads", acquisition_campaign="c1", referrer_id=None,
                  consent_analytics="true", consent_marketing="true",
                  consent_personalisation="false"),
    "events": dict(event_id="e1", user_id="u1", anonymous_id="a1", session_id="s1",
                   event_ts="2025-01-05T10:00:00Z", event_type="purchase", market="DE",
                   channel="email_crm", campaign=None, device="app", product_id="p1",
                   value="19.5", currency="EUR", properties='{"coupon": "X1"}'),
    "orders": dict(order_id="o1", user_id="u1", order_ts="2025-01-05T10:00:00",
                   market="BR", currency="BRL", amount="120.00", status="delivered",
                   delivered_ts="2025-01-09T10:00:00"),
    "ad_spend": dict(date="2025-01-05", market="US", channel="search_ads", campaign="c1",
                     spend="1000", currency="USD", impressions="50000", clicks="700"),
    "referrals": dict(inviter_id="u1", invitee_id="u2", referral_ts="2025-01-05T10:00:00",
                      mechanism="group_buy"),
    "surveys": dict(response_id="r1", user_id="u1", response_ts="2025-01-05T10:00:00",
                    market="TH", survey="nps", score="9"),
    "experiment_assignments": dict(experiment_id="x1", unit_id="u1", variant="treatment",
                                   assigned_ts="2025-01-05T10:00:00"),
    "fx_rates": dict(date="2025-01-05", currency="EUR", rate="1.08"),
}
KEYS = {"users": "user_id", "events": "event_id", "orders": "order_id", "ad_spend": "campaign",
        "referrals": "invitee_id", "surveys": "response_id",
        "experiment_assignments": "unit_id", "fx_rates": "currency"}
OTHER_KEY = {"fx_rates": "IDR"}

CASES = [
    # table, changes to the good row, expected reason (substring)
    ("users", {"user_id": None}, "user_id is missing (required)"),
    ("users", {"signup_ts": "soon"}, "signup_ts = 'soon': expected a timestamp (ISO 8601"),
    ("users", {"signup_ts": "1999-12-31"}, "signup_ts = '1999-12-31': expected a time between"),
    ("users", {"signup_ts": "2999-01-01"}, "signup_ts = '2999-01-01': expected a time between"),
    ("users", {"market": "XX"}, "market = 'XX': expected one of ID, TH, SG, DE, FR, BR, MX, US"),
    ("users", {"country": "Indonesia"}, "country = 'Indonesia': expected a two-letter ISO 3166-1"),
    ("users", {"acquisition_channel": "tv"}, "acquisition_channel = 'tv': expected one of"),
    ("users", {"consent_marketing": "maybe"},
     "consent_marketing = 'maybe': expected true or false"),
    ("users", {"referrer_id": "bad"}, "referrer_id equals user_id"),
    ("events", {"event_type": "click"}, "event_type = 'click': expected one of session_start"),
    ("events", {"value": "-3"}, "value = '-3': expected a value >= 0"),
    ("events", {"value": "abc"}, "value = 'abc': expected a number"),
    ("events", {"value": "nan"}, "value = 'nan': expected a finite number"),
    ("events", {"currency": None}, "value is given without a currency"),
    ("events", {"currency": "XYZ"}, "currency = 'XYZ': expected an ISO 4217 currency code"),
    ("events", {"user_id": None, "anonymous_id": None}, "neither user_id nor anonymous_id"),
    ("events", {"device": "fridge"}, "device = 'fridge': expected one of app"),
    ("events", {"properties": "{not json"}, "properties = '{not json': expected a JSON object"),
    ("events", {"properties": "[1, 2]"}, "properties = '[1, 2]': expected a JSON object"),
    ("events", {"session_id": None}, "session_id is missing (required)"),
    ("orders", {"amount": "-1"}, "amount = '-1': expected a value >= 0"),
    ("orders", {"status": "lost"}, "status = 'lost': expected one of placed, paid"),
    ("orders", {"delivered_ts": "2025-01-01T00:00:00"}, "delivered_ts is before order_ts"),
    ("orders", {"currency": None}, "currency is missing (required)"),
    ("ad_spend", {"clicks": "60000"}, "clicks exceed impressions"),
    ("ad_spend", {"spend": "-5"}, "spend = '-5': expected a value >= 0"),
    ("ad_spend", {"date": "2025-02-30"}, "date = '2025-02-30': expected a date (YYYY-MM-DD)"),
    ("ad_spend", {"impressions": "many"}, "impressions = 'many': expected a whole number"),
    ("ad_spend", {"channel": "radio"}, "channel = 'radio': expected one of live_commerce"),
    ("referrals", {"mechanism": "tv"},
     "mechanism = 'tv': expected one of share, group_buy, points"),
    ("referrals", {"invitee_id": "u1"}, "inviter_id equals invitee_id"),
    ("surveys", {"score": "11"}, "score = '11': expected a value <= 10"),
    ("surveys", {"score": "-1"}, "score = '-1': expected a value >= 0"),
    ("surveys", {"score": "great"}, "score = 'great': expected a whole number"),
    ("experiment_assignments", {"variant": None}, "variant is missing (required)"),
    ("fx_rates", {"rate": "0"}, "rate is zero"),
    ("fx_rates", {"rate": "-1.2"}, "rate = '-1.2': expected a value >= 0"),
]


@pytest.mark.parametrize(("table", "change", "reason"), CASES,
                         ids=[f"{t}-{next(iter(c))}-{r[:20]}" for t, c, r in CASES])
def test_bad_row_is_quarantined_with_reason(tmp_path, con, cfg, pseudo, table, change, reason):
    good1 = dict(GOOD[table])
    bad = {**good1, **change, KEYS[table]: change.get(KEYS[table], "bad")}
    good2 = {**good1, KEYS[table]: OTHER_KEY.get(table, "k2")}
    path = write_csv(tmp_path / f"{table}.csv", [good1, bad, good2])
    res = ingest_file(con, cfg, table, path, pseudo)
    counts = (res.rows_read, res.rows_loaded, res.rows_quarantined, res.rows_duplicate)
    assert counts == (3, 2, 1, 0)
    q = con.execute("SELECT table_name, file, row_number, reason FROM quarantine").fetchall()
    assert len(q) == 1
    assert q[0][:3] == (table, str(path), 2)
    assert reason in q[0][3]
    assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 2
    assert sum(n for _, n, _ in res.reasons) >= 1 and all(first == 2 for _, _, first in res.reasons)


def test_row_lists_every_rule_it_breaks(tmp_path, con, cfg, pseudo):
    bad = {**GOOD["orders"], "order_ts": "yesterday", "market": "XX", "currency": "EURO",
           "amount": "-4"}
    res = ingest_file(con, cfg, "orders", write_csv(tmp_path / "o.csv", [bad]), pseudo)
    assert res.rows_quarantined == 1 and res.rows_loaded == 0
    assert sorted(r for r, _, _ in res.reasons) == [
        "amount: below 0", "currency: not an ISO 4217 code", "market: not a configured market",
        "order_ts: wrong type"]
    reason = con.execute("SELECT reason FROM quarantine").fetchone()[0]
    assert reason.count("; ") == 3


def test_csv_row_with_wrong_field_count(tmp_path, con, cfg, pseudo):
    path = write_csv(tmp_path / "fx.csv", [GOOD["fx_rates"]])
    path.write_text(path.read_text() + "2025-01-06,EUR\n2025-01-07,EUR,1.1\n")
    res = ingest_file(con, cfg, "fx_rates", path, pseudo)
    assert (res.rows_read, res.rows_loaded, res.rows_quarantined) == (3, 2, 1)
    assert con.execute("SELECT row_number, reason FROM quarantine").fetchall() == [
        (2, "row has 2 fields, expected 3")]
    assert con.execute("SELECT count(*) FROM fx_rates WHERE date = DATE '2025-01-07'"
                       ).fetchone()[0] == 1


def test_jsonl_bad_lines(tmp_path, con, cfg, pseudo):
    good = GOOD["surveys"]
    lines = [json.dumps(good), "{broken", json.dumps([1, 2]),
             json.dumps({**good, "response_id": "r2", "mood": "happy"}),
             json.dumps({**good, "response_id": "r3", "score": 7})]
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(lines) + "\n")
    res = ingest_file(con, cfg, "surveys", path, pseudo)
    assert (res.rows_read, res.rows_loaded, res.rows_quarantined) == (5, 2, 3)
    rows = con.execute("SELECT row_number, reason FROM quarantine ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == [2, 3, 4]
    assert rows[0][1].startswith("not valid JSON")
    assert rows[1][1] == "not a JSON object"
    assert rows[2][1].startswith("unknown field(s) 'mood'")
    assert con.execute("SELECT list_sort(list(score)) FROM surveys").fetchone()[0] == [7, 9]


def test_parquet_typed_columns_are_checked(tmp_path, con, cfg, pseudo):
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({"date": pa.array(["2025-01-05", "2025-01-06", "1990-01-01"]).cast(pa.date32()),
                  "currency": ["EUR", "eur", "IDR"], "rate": [1.08, 1.09, 0.0001]})
    pq.write_table(t, tmp_path / "fx.parquet")
    res = ingest_file(con, cfg, "fx_rates", tmp_path / "fx.parquet", pseudo)
    assert (res.rows_loaded, res.rows_quarantined) == (1, 2)
    reasons = dict(con.execute("SELECT row_number, reason FROM quarantine").fetchall())
    assert "currency = 'eur': expected an ISO 4217" in reasons[2]
    assert "date = '1990-01-01': expected a time between" in reasons[3]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("o.csv", "order_id,user_id,shoe_size\n", "unknown column(s) 'shoe_size'"),
        ("o.csv", "order_id,user_id\n", "required column(s) 'order_ts', 'market'"),
        ("o.csv", "", "the file is empty"),
        ("o.jsonl", "", "the file is empty"),
        ("o.xlsx", "x", "unknown file type '.xlsx'"),
        ("o.parquet", "not parquet", "not a readable Parquet file"),
    ],
)
def test_unusable_file_is_refused_whole(tmp_path, con, cfg, pseudo, name, content, message):
    from growthloop.core.errors import InputError

    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as e:
        ingest_file(con, cfg, "orders", path, pseudo)
    assert str(e.value).startswith(str(path)) and message in str(e.value)
    assert con.execute("SELECT count(*) FROM loads").fetchone()[0] == 0


def test_missing_file(con, cfg, pseudo):
    from growthloop.core.errors import InputError

    with pytest.raises(InputError, match="no such file"):
        ingest_file(con, cfg, "orders", Path("/nonexistent/orders.csv"), pseudo)
