"""Built-in KPIs recover the simulator's truth.json.

Rates are compared within 4 standard errors (binomial for shares, the sample standard
deviation for means); counts and spend must match exactly. KPIs whose truth depends on
a window that the horizon cuts (returns, deliveries) are measured on orders placed at
least 30 days before the end.

KPIs that no generating parameter pins down are compared with the figures the simulator
realised (truth["realised"], tallied from its own arrays with the KPI's definition):
counts exactly, money and ratios to rounding. The horizon (365 days from 2025-01-01) is
the year 2025, so "year" rows cover exactly the realised whole-horizon figures.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from growthloop.core.schema import TABLES
from growthloop.ingest import ingest_file
from growthloop.metrics import compile_kpi
from growthloop.warehouse import ibis_backend


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from growthloop.core.config import default_config
    from growthloop.ingest.privacy import Pseudonymiser
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


def _kpi(world, kpi, grain, by=("market",), start="2025-01-01", end="2026-01-01"):
    b, cfg, _, _ = world
    return compile_kpi(kpi, b, cfg, grain=grain, by=list(by), start=start,
                       end=end).execute()


def _year(world, kpi, by=("market",), start="2025-01-01", end="2026-01-01"):
    return _kpi(world, kpi, "year", by, start, end)


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


# --- KPIs against the realised figures -------------------------------------------------


def _floats(d: dict) -> dict:
    return {k: float(v) for k, v in d.items()}


def _close(got: dict, want: dict, rtol: float = 1e-9) -> None:
    """Same keys, values equal to rounding (money is converted back and forth with FX)."""
    assert set(got) == set(want)
    for k, v in want.items():
        assert math.isclose(got[k], v, rel_tol=rtol), (k, got[k], v)


def _series(df, key, col="value", fmt=lambda p: str(p)[:10]) -> dict:
    """{market: {period label: col}} of a KPI frame, NaN values left out."""
    out: dict = {}
    for p, m, v in zip(df.period, df[key], df[col], strict=True):
        if not math.isnan(v):
            out.setdefault(m, {})[fmt(p)] = v
    return out


def test_traffic_sessions(world):
    _, cfg, truth, _ = world
    by_ch = truth["realised"]["sessions_by_channel"]
    precise = {c.name for c in cfg.channels if c.precise}
    organic = {c.name for c in cfg.channels if c.kind == "organic"}
    assert sum(sum(v.values()) for v in by_ch.values()) == truth["sessions"]["sessions"]
    share = _year(world, "precise_traffic_share").set_index("market")
    assert share.numerator.to_dict() == _floats(
        {m: sum(n for c, n in v.items() if c in precise) for m, v in by_ch.items()})
    assert share.denominator.to_dict() == _floats({m: sum(v.values()) for m, v in by_ch.items()})
    assert share.value.between(0.2, 0.8).all()  # the plan's target is 45 %
    org = _year(world, "organic_sessions").set_index("market")
    want = {m: sum(n for c, n in v.items() if c in organic) for m, v in by_ch.items()}
    assert org.value.to_dict() == _floats(want)
    weekly = truth["realised"]["organic_sessions_by_week"]
    assert {m: sum(w.values()) for m, w in weekly.items()} == want


def test_organic_traffic_growth(world):
    import datetime as dt

    weekly = world[2]["realised"]["organic_sessions_by_week"]
    got = _series(_kpi(world, "organic_traffic_growth", "week"), "market")
    for m, w in weekly.items():
        want = {}
        for week, n in w.items():
            prev = (dt.date.fromisoformat(week) - dt.timedelta(days=7)).isoformat()
            if week >= "2025-01-01" and w.get(prev):  # the previous calendar week
                want[week] = n / w[prev] - 1
        assert len(want) >= 50, m
        _close(got[m], want)


def test_roas_and_cac(world):
    truth = world[2]
    real = truth["realised"]
    roi = _year(world, "roas", by=("market", "channel"))
    cac = _year(world, "cac", by=("market", "channel"))
    revenue = {f"{m}|{c}": v for m, cs in real["revenue_by_acquisition_channel"].items()
               for c, v in cs.items() if v > 0}
    customers = {f"{m}|{c}": v for m, cs in real["customers_by_acquisition_channel"].items()
                 for c, v in cs.items() if v > 0}
    key = roi.market + "|" + roi.channel
    _close(dict(zip(key[roi.numerator > 0], roi.numerator[roi.numerator > 0],
                    strict=True)), revenue)
    key = cac.market + "|" + cac.channel
    assert dict(zip(key[cac.denominator > 0], cac.denominator[cac.denominator > 0],
                    strict=True)) == _floats(customers)
    roi_v = dict(zip(roi.market + "|" + roi.channel, roi.value, strict=True))
    cac_v = dict(zip(key, cac.value, strict=True))
    for k, media in truth["media"].items():
        # roas = revenue of buyers acquired by the channel / its spend; cac = spend /
        # customers (first order not cancelled) acquired by it
        assert math.isclose(roi_v[k], revenue[k] / media["spend_total"], rel_tol=1e-9), k
        assert math.isclose(cac_v[k], media["spend_total"] / customers[k], rel_tol=1e-9), k
        if truth["acquisition"]["baseline_mix"][media["market"]].get(media["channel"]) is None:
            # every user acquired through this channel came through its campaigns, so the
            # pair's realised return on spend in truth["media"] is the KPI itself
            assert math.isclose(roi_v[k], media["roas_in_horizon"], rel_tol=1e-9), k


def test_aov_growth(world):
    real = world[2]["realised"]
    got = _series(_kpi(world, "aov_growth", "month"), "market", fmt=lambda p: str(p)[:7])
    for m, kept in real["kept_orders_by_month"].items():
        aov = {p: real["revenue_by_month"][m][p] / n for p, n in kept.items()}
        months = sorted(aov)
        want = {p: aov[p] / aov[q] - 1 for q, p in itertools.pairwise(months)}
        assert len(want) == 11, m
        _close(got[m], want)


def test_revenue_and_buyers(world):
    real = world[2]["realised"]
    rev = _year(world, "revenue").set_index("market")
    _close(rev.value.to_dict(), {m: sum(v.values()) for m, v in real["revenue_by_month"].items()})
    _close(rev.value.to_dict(), {m: sum(v.values())
                                 for m, v in real["revenue_by_acquisition_channel"].items()})
    buyers = _year(world, "buyers").set_index("market")
    assert buyers.value.to_dict() == _floats(real["buyers"])


def test_new_user_kpis(world):
    truth = world[2]
    real, users = truth["realised"], truth["acquisition"]["users"]
    conv = _year(world, "new_user_conversion").set_index("market")
    assert conv.numerator.to_dict() == _floats(real["converted_30d"])
    assert conv.denominator.to_dict() == _floats(users)
    for m, n in real["converted_30d"].items():
        # a first order within 30 days needs a first purchase (noisy-OR conversion)
        assert 0 < n <= truth["attribution"]["conversions"][m], m
    ret = _year(world, "new_user_retention").set_index("market")
    assert ret.numerator.to_dict() == _floats(real["retained_7_30d"])
    assert ret.denominator.to_dict() == _floats(users)
    # user_growth_rate: sign-ups in the month / sign-ups in all earlier months
    got = _series(_kpi(world, "user_growth_rate", "month"), "market", fmt=lambda p: str(p)[:7])
    for m, by_month in real["signups_by_month"].items():
        assert sum(by_month.values()) == users[m]
        months = sorted(by_month)
        want = {p: by_month[p] / sum(by_month[q] for q in months[:i])
                for i, p in enumerate(months) if i}
        assert len(want) == 11, m
        _close(got[m], want, rtol=1e-12)


def test_stickiness(world):
    truth = world[2]
    real = truth["realised"]
    customers = {m: sum(v.values()) for m, v in real["customers_by_acquisition_channel"].items()}
    rep = _year(world, "repurchase_rate").set_index("market")
    assert rep.numerator.to_dict() == _floats(real["returning_customers"])
    assert rep.denominator.to_dict() == _floats(customers)
    active = _year(world, "active_users").set_index("market")
    assert active.value.to_dict() == _floats(real["active_users"])
    mau = _year(world, "mau_share").set_index("market")
    assert mau.numerator.to_dict() == _floats(real["active_users"])
    assert mau.denominator.to_dict() == _floats(truth["acquisition"]["users"])
    ref = _year(world, "referral_participation_rate").set_index("market")
    assert ref.numerator.to_dict() == _floats(real["sharers"])
    assert ref.denominator.to_dict() == _floats(real["active_users"])
    for m in customers:
        assert real["returning_customers"][m] <= customers[m] <= truth["acquisition"]["users"][m]
