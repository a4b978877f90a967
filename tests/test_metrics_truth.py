"""Built-in KPIs recover the simulator's truth.json.

Rates are compared within 4 standard errors (binomial for shares, the sample standard
deviation for means); counts and spend must match exactly. KPIs whose truth depends on
a window that the horizon cuts (returns, deliveries) are measured on orders placed at
least 30 days before the end.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from growthloop.ingest import ingest_file
from growthloop.metrics import compile_kpi
from growthloop.schema import TABLES
from growthloop.warehouse import ibis_backend


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from growthloop.config import default_config
    from growthloop.privacy import Pseudonymiser
    from growthloop.simulate import simulate
    from growthloop.warehouse import connect

    d = tmp_path_factory.mktemp("truth")
    truth = simulate(d / "shop", n_users=40_000, days=365, seed=21)
    con = connect(d / "w.duckdb")
    cfg = default_config()
    for name in TABLES:
        ingest_file(con, cfg, name, d / "shop" / f"{name}.parquet",
                    Pseudonymiser(b"truth-test-key-0123456789"))
    yield ibis_backend(con), cfg, truth, con
    con.close()


def _year(world, kpi, by=("market",), start="2025-01-01", end="2026-01-01"):
    b, cfg, _, _ = world
    return compile_kpi(kpi, b, cfg, grain="year", by=list(by), start=start,
                       end=end).execute()


def _z_share(p_hat: float, n: float, p: float) -> float:
    return (p_hat - p) / math.sqrt(p * (1 - p) / n)


def test_funnel_rates(world):
    truth = world[2]["funnel"]
    atc = _year(world, "add_to_cart_rate").set_index("market")
    pay = _year(world, "payment_conversion_rate").set_index("market")
    for m, steps in truth["step_rates"].items():
        p_atc = steps["product_view_given_session"] * steps["add_to_cart_given_product_view"]
        assert abs(_z_share(atc.value[m], atc.denominator[m], p_atc)) < 4, m
        p_pay = truth["completion_probability"][m]
        assert abs(_z_share(pay.value[m], pay.denominator[m], p_pay)) < 4, m


def test_content_and_live_rates(world):
    truth = world[2]["content"]
    cc = _year(world, "content_completion_rate", by=("channel",)).set_index("channel")
    z = _z_share(cc.value["short_video"], cc.denominator["short_video"],
                 truth["short_video_completion_rate"])
    assert abs(z) < 4
    live = _year(world, "live_interaction_rate", by=())
    assert abs(_z_share(live.value[0], live.denominator[0],
                        truth["live_interaction_rate"])) < 4


def test_returns_and_delivery(world):
    _, _, truth, con = world
    f = truth["fulfilment"]
    rr = _year(world, "return_rate", end="2025-12-01").set_index("market")
    ft = _year(world, "fulfilment_time", end="2025-12-01").set_index("market")
    for m, p in f["return_probability"].items():
        assert abs(_z_share(rr.value[m], rr.denominator[m], p)) < 4, m
        g = f["delivery_days_gamma"][m]
        n = con.execute(
            "SELECT count(*) FROM orders WHERE market = ? AND delivered_ts IS NOT NULL "
            "AND status <> 'cancelled' AND order_ts < '2025-12-01'", [m]).fetchone()[0]
        se = math.sqrt(g["shape"]) * g["scale"] / math.sqrt(n)  # sd of a Gamma / sqrt(n)
        assert abs(ft.value[m] - g["mean"]) < 4 * se, m


def test_nps(world):
    truth = world[2]["nps"]["expected_nps"]
    nps = _year(world, "nps").set_index("market")
    for m, expected in truth.items():
        n = nps.denominator[m]
        # NPS = 100 * mean of +1/0/-1 points; its sd is at most 100 / sqrt(n)
        assert abs(nps.value[m] - expected) < 4 * 100 / math.sqrt(n), m


def test_new_users_and_spend_exact(world):
    truth = world[2]
    users = _year(world, "new_users").set_index("market")
    assert users.value.to_dict() == {m: float(n) for m, n in
                                     truth["acquisition"]["users"].items()}
    spend = _year(world, "spend", by=("market", "channel"))
    got = {f"{m}|{c}": v for m, c, v in zip(spend.market, spend.channel, spend.value,
                                            strict=True)}
    want = {k: v["spend_total"] for k, v in truth["media"].items()}
    assert set(got) == set(want)
    assert np.allclose([got[k] for k in want], list(want.values()), rtol=1e-9)


def test_average_order_value(world):
    from growthloop.metrics.sources import source_table

    b, cfg, truth, _ = world
    aov = _year(world, "average_order_value").set_index("market")
    o = source_table("orders", b, cfg)
    o = o.filter(o.kept)
    per_user = o.group_by(["market", "user_id"]).aggregate(s=o.revenue.sum(), n=o.count())
    df = per_user.execute()
    for m, mean in truth["order_values"]["mean_order_value"].items():
        u = df[df.market == m]
        # orders of one customer share their spend rate: a cluster-robust standard error
        se = math.sqrt(((u.s - aov.value[m] * u.n) ** 2).sum()) / u.n.sum()
        assert abs(aov.value[m] - mean) < 4 * se, m
