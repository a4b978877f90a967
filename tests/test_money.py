"""FX conversion to the reporting currency, and the headline summary built on it."""

from __future__ import annotations

import math

import pytest

from conftest import write_csv
from growthloop.core.errors import InputError
from growthloop.core.money import missing_rates, to_reporting
from growthloop.ingest import ingest_file
from growthloop.metrics.summary import market_summary
from growthloop.warehouse import ibis_backend

FX = [("2025-01-01", "EUR", 1.10), ("2025-01-02", "EUR", 1.20), ("2025-01-06", "EUR", 1.30),
      ("2025-01-01", "IDR", 0.0001), ("2025-01-01", "BRL", 0.2)]


def _load(tmp_path, con, cfg, pseudo, orders, users=()):
    fx = [dict(date=d, currency=c, rate=r) for d, c, r in FX]
    ingest_file(con, cfg, "fx_rates", write_csv(tmp_path / "fx.csv", fx), pseudo)
    rows = [dict(order_id=o, user_id=u, order_ts=ts, market=m, currency=c, amount=a, status=s,
                 delivered_ts=None) for o, u, ts, m, c, a, s in orders]
    ingest_file(con, cfg, "orders", write_csv(tmp_path / "o.csv", rows), pseudo)
    if users:
        rows = [dict(user_id=u, signup_ts="2025-01-01", market=m, country=m,
                     acquisition_channel="organic", acquisition_campaign=None, referrer_id=None,
                     consent_analytics="true", consent_marketing="true",
                     consent_personalisation="true") for u, m in users]
        ingest_file(con, cfg, "users", write_csv(tmp_path / "u.csv", rows), pseudo)


def test_day_rate_and_carry_forward(tmp_path, con, cfg, pseudo):
    _load(tmp_path, con, cfg, pseudo, [
        ("a", "u1", "2025-01-01T23:59:00", "DE", "EUR", 10, "paid"),    # that day's rate 1.10
        ("b", "u1", "2025-01-04T10:00:00", "DE", "EUR", 10, "paid"),    # latest earlier: 1.20
        ("c", "u1", "2025-01-07T00:00:00", "DE", "EUR", 10, "paid"),    # 1.30
        ("d", "u2", "2025-01-20T00:00:00", "ID", "IDR", 10000, "paid"),  # rate 19 days old
        ("e", "u3", "2025-01-20T00:00:00", "US", "USD", 5, "paid"),     # reporting currency
    ])
    b = ibis_backend(con)
    df = to_reporting(b.table("orders"), b.table("fx_rates"), "USD").order_by("order_id").execute()
    got = df.amount_reporting.tolist()
    assert got[:3] == pytest.approx([11.0, 12.0, 13.0]) and got[4] == 5.0
    assert math.isnan(got[3])
    miss = missing_rates(b.table("orders"), b.table("fx_rates"), "USD").execute()
    assert miss[["currency", "rows"]].to_dict("records") == [{"currency": "IDR", "rows": 1}]
    assert str(miss.first_day[0])[:10] == "2025-01-20"


def test_summary_by_hand(tmp_path, con, cfg, pseudo):
    _load(tmp_path, con, cfg, pseudo, [
        ("a", "u1", "2025-01-01T10:00:00", "DE", "EUR", 100, "delivered"),  # 110 USD
        ("b", "u1", "2025-01-02T10:00:00", "DE", "EUR", 50, "returned"),    # not revenue
        ("c", "u2", "2025-01-02T10:00:00", "DE", "EUR", 10, "cancelled"),   # not a buyer
        ("d", "u3", "2025-01-01T10:00:00", "BR", "BRL", 500, "paid"),       # 100 USD
        ("e", "u3", "2025-01-01T11:00:00", "BR", "BRL", 250, "paid"),       # 50 USD
        ("f", "u4", "2025-01-01T11:00:00", "BR", "BRL", 50, "paid"),        # 10 USD
    ], users=[("u1", "DE"), ("u2", "DE"), ("u5", "DE"), ("u3", "BR"), ("u4", "BR"), ("u6", "US")])
    df = market_summary(ibis_backend(con), cfg).set_index("market")
    assert df.loc["DE", ["users", "buyers"]].tolist() == [3, 1]
    assert df.loc["DE", "revenue"] == pytest.approx(110.0)
    assert df.loc["DE", "conversion"] == pytest.approx(1 / 3)
    assert df.loc["DE", "order_value"] == pytest.approx(110.0)
    assert df.loc["DE", "repurchase_rate"] == pytest.approx(1.0)
    assert df.loc["BR", "revenue"] == pytest.approx(160.0)
    assert df.loc["BR", "order_value"] == pytest.approx(160.0 / 3)
    assert df.loc["BR", "repurchase_rate"] == pytest.approx(0.5)
    assert df.loc["US", "buyers"] == 0 and math.isnan(df.loc["US", "order_value"])
    assert df.loc["all", "revenue"] == pytest.approx(270.0)
    assert df.loc["all", "conversion"] == pytest.approx(3 / 6)


def test_summary_refuses_missing_rates(tmp_path, con, cfg, pseudo):
    _load(tmp_path, con, cfg, pseudo, [("a", "u1", "2025-03-01", "MX", "MXN", 10, "paid")],
          users=[("u1", "MX")])
    with pytest.raises(InputError, match=r"orders: no FX rate into USD for MXN on 1 day "
                                         r"\(2025-03-01..2025-03-01, 1 rows\)"):
        market_summary(ibis_backend(con), cfg)
