"""Built-in KPIs recover the simulator's truth.json and the simulated tables.

Rates are compared with the generating parameters within 4 standard errors (binomial
for shares, the sample standard deviation for means); counts and spend must match
exactly. KPIs whose truth depends on a window that the horizon cuts (returns,
deliveries) are measured on orders placed at least 30 days before the end.

KPIs that no generating parameter pins down are compared with the same definition
computed here, with pandas, from the raw Parquet files the simulator wrote (not through
the warehouse, and not with any of the simulator's code): counts exactly, money and
ratios to rounding. The horizon (365 days from 2025-01-01) is the year 2025, so "year"
rows cover the whole files.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from growthloop.ingest import ingest_file
from growthloop.metrics import compile_kpi
from growthloop.simulate import TABLE_FILES
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
    for name in TABLE_FILES:
        ingest_file(con, cfg, name, d / "shop" / f"{name}.parquet",
                    Pseudonymiser(b"truth-test-key-0123456789"))
    yield ibis_backend(con), cfg, truth, con, d / "shop"
    con.close()


def _kpi(world, kpi, grain, by=("market",), start="2025-01-01", end="2026-01-01"):
    b, cfg = world[:2]
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
    truth, con = world[2:4]
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

    b, cfg, truth = world[:3]
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


# --- KPIs against the raw files ---------------------------------------------------------
# Each definition below is written out from the catalog's formula (docs/metrics.md), in
# pandas, on the files as simulated: a session is its events (its time the first event's,
# its market and channel those of its events); revenue is an order's amount times the FX
# rate of its UTC day, for orders neither cancelled nor returned; an order counts unless
# cancelled; a user's channel is their acquisition channel.


@pytest.fixture(scope="module")
def raw(world) -> dict[str, pd.DataFrame]:
    folder = world[4]
    read = {name: pd.read_parquet(folder / f"{name}.parquet") for name in
            ("users", "orders", "ad_spend", "fx_rates")}
    ev = pd.read_parquet(folder / "events.parquet",
                         columns=["user_id", "session_id", "event_ts", "event_type", "market",
                                  "channel"])
    fx = read["fx_rates"].assign(date=lambda f: pd.to_datetime(f.date))
    o = read["orders"]
    o = o[o.status != "cancelled"].assign(date=lambda f: f.order_ts.dt.normalize())
    o = o.merge(fx, on=["date", "currency"], how="left", validate="many_to_one")
    assert o.rate.notna().all()
    o["revenue"] = np.where(o.status == "returned", 0.0, o.amount * o.rate)
    o["kept"] = o.status != "returned"
    u = read["users"]
    o = o.merge(u[["user_id", "acquisition_channel", "acquisition_campaign", "signup_ts"]],
                on="user_id", how="left", validate="many_to_one")
    o = o.sort_values(["order_ts", "order_id"])
    o["nth"] = o.groupby("user_id").cumcount()
    sp = read["ad_spend"].assign(date=lambda f: pd.to_datetime(f.date))
    sp = sp.merge(fx, on=["date", "currency"], how="left", validate="many_to_one")
    sp["reporting"] = sp.spend * sp.rate
    sessions = ev.groupby("session_id").agg(ts=("event_ts", "min"), market=("market", "min"),
                                            channel=("channel", "min"))
    return {"users": u, "events": ev, "orders": o, "spend": sp, "sessions": sessions}


def _floats(d: dict) -> dict:
    return {k: float(v) for k, v in d.items()}


def _counts(series: pd.Series) -> dict:
    """{key: count} of a grouped size or nunique, as floats (KPI frames hold floats)."""
    return _floats(series[series > 0].to_dict())


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


def _monday(ts: pd.Series) -> pd.Series:
    """The ISO week (its Monday, "2024-12-30") of UTC timestamps."""
    day = ts.dt.normalize()
    return (day - pd.to_timedelta(day.dt.weekday, unit="D")).dt.strftime("%Y-%m-%d")


def test_traffic_sessions(world, raw):
    cfg, truth = world[1], world[2]
    s = raw["sessions"]
    precise = {c.name for c in cfg.channels if c.precise}
    organic = {c.name for c in cfg.channels if c.kind == "organic"}
    assert len(s) == truth["sessions"]["sessions"]
    share = _year(world, "precise_traffic_share").set_index("market")
    assert share.numerator.to_dict() == _counts(
        s[s.channel.isin(precise)].groupby("market").size())
    assert share.denominator.to_dict() == _counts(s.groupby("market").size())
    assert share.value.between(0.2, 0.8).all()  # the plan's target is 45 %
    org = _year(world, "organic_sessions").set_index("market")
    assert org.value.to_dict() == _counts(s[s.channel.isin(organic)].groupby("market").size())


def test_organic_traffic_growth(world, raw):
    s = raw["sessions"]
    organic = {c.name for c in world[1].channels if c.kind == "organic"}
    s = s[s.channel.isin(organic)]
    weekly = s.groupby([s.market, _monday(s.ts)]).size()
    got = _series(_kpi(world, "organic_traffic_growth", "week"), "market")
    for m in weekly.index.levels[0]:
        w = weekly.loc[m].to_dict()
        want = {}
        for week, n in w.items():
            prev = (pd.Timestamp(week) - pd.Timedelta(days=7)).strftime("%Y-%m-%d")
            if week >= "2025-01-01" and w.get(prev):  # the previous calendar week
                want[week] = n / w[prev] - 1
        assert len(want) >= 50, m
        _close(got[m], want)


def test_roas_and_cac(world, raw):
    truth = world[2]
    o, sp = raw["orders"], raw["spend"]
    revenue = o.groupby([o.market, o.acquisition_channel]).revenue.sum()
    customers = o[o.nth == 0].groupby([o.market, o.acquisition_channel]).user_id.nunique()
    spend = sp.groupby([sp.market, sp.channel]).reporting.sum()
    roi = _year(world, "roas", by=("market", "channel")).set_index(["market", "channel"])
    cac = _year(world, "cac", by=("market", "channel")).set_index(["market", "channel"])
    _close(roi.numerator[roi.numerator > 0].to_dict(), revenue[revenue > 0].to_dict())
    assert cac.denominator[cac.denominator > 0].to_dict() == _counts(customers)
    for (m, c), total in spend.items():
        # roas = revenue of buyers acquired by the channel / its spend; cac = spend /
        # customers (first order not cancelled) acquired by it
        assert math.isclose(roi.value[m, c], revenue[m, c] / total, rel_tol=1e-9), (m, c)
        assert math.isclose(cac.value[m, c], total / customers[m, c], rel_tol=1e-9), (m, c)
    # truth.json's realised return of each media pair: revenue of its paid sign-ups
    paid = o[o.acquisition_campaign.notna()]
    paid_revenue = paid.groupby([paid.market, paid.acquisition_channel]).revenue.sum()
    for k, media in truth["media"].items():
        key = (media["market"], media["channel"])
        assert math.isclose(media["spend_total"], spend[key], rel_tol=1e-9), k
        assert math.isclose(media["revenue_in_horizon"], paid_revenue[key], rel_tol=1e-9), k


def test_aov_growth(world, raw):
    o = raw["orders"]
    month = o.order_ts.dt.strftime("%Y-%m")
    aov = (o.groupby([o.market, month]).revenue.sum()
           / o[o.kept].groupby([o.market, month]).size())
    got = _series(_kpi(world, "aov_growth", "month"), "market", fmt=lambda p: str(p)[:7])
    for m in aov.index.levels[0]:
        a = aov.loc[m]
        want = {p: a[p] / a[q] - 1 for q, p in itertools.pairwise(sorted(a.index))}
        assert len(want) == 11, m
        _close(got[m], want)


def test_revenue_and_buyers(world, raw):
    o = raw["orders"]
    rev = _year(world, "revenue").set_index("market")
    _close(rev.value.to_dict(), o.groupby("market").revenue.sum().to_dict())
    buyers = _year(world, "buyers").set_index("market")
    assert buyers.value.to_dict() == _counts(o[o.kept].groupby("market").user_id.nunique())


def test_new_user_kpis(world, raw):
    truth = world[2]
    u, o, ev = raw["users"], raw["orders"], raw["events"]
    users = u.groupby("market").size()
    first = o.groupby("user_id").order_ts.min()
    first = u.user_id.map(first)
    converted = u[first < u.signup_ts + pd.Timedelta(days=30)].groupby("market").size()
    conv = _year(world, "new_user_conversion").set_index("market")
    assert conv.numerator.to_dict() == _counts(converted)
    assert conv.denominator.to_dict() == _counts(users)
    for m, n in converted.items():
        # a first order within 30 days needs a first purchase (noisy-OR conversion)
        assert 0 < n <= truth["attribution"]["conversions"][m], m
    e = ev[ev.user_id.notna()].merge(u[["user_id", "signup_ts", "market"]], on="user_id",
                                     suffixes=("", "_user"))
    since = e.event_ts - e.signup_ts
    back = e[(since >= pd.Timedelta(days=7)) & (since < pd.Timedelta(days=30))]
    retained = back.groupby("market_user").user_id.nunique()
    ret = _year(world, "new_user_retention").set_index("market")
    assert ret.numerator.to_dict() == _counts(retained)
    assert ret.denominator.to_dict() == _counts(users)
    # user_growth_rate: sign-ups in the month / sign-ups in all earlier months
    by_month = u.groupby([u.market, u.signup_ts.dt.strftime("%Y-%m")]).size()
    got = _series(_kpi(world, "user_growth_rate", "month"), "market", fmt=lambda p: str(p)[:7])
    for m, users_m in truth["acquisition"]["users"].items():
        months = by_month.loc[m]
        assert months.sum() == users_m == users[m]
        want = {p: months[p] / months.iloc[:i].sum() for i, p in enumerate(months.index) if i}
        assert len(want) == 11, m
        _close(got[m], want, rtol=1e-12)


def test_stickiness(world, raw):
    truth = world[2]
    o, ev = raw["orders"], raw["events"]
    customers = o.groupby("market").user_id.nunique()
    returning = o[o.nth > 0].groupby("market").user_id.nunique()
    rep = _year(world, "repurchase_rate").set_index("market")
    assert rep.numerator.to_dict() == _counts(returning)
    assert rep.denominator.to_dict() == _counts(customers)
    known = ev[ev.user_id.notna()]
    active = known.groupby("market").user_id.nunique()
    assert _year(world, "active_users").set_index("market").value.to_dict() == _counts(active)
    mau = _year(world, "mau_share").set_index("market")
    assert mau.numerator.to_dict() == _counts(active)
    assert mau.denominator.to_dict() == _floats(truth["acquisition"]["users"])
    sharers = known[known.event_type == "share"].groupby("market").user_id.nunique()
    ref = _year(world, "referral_participation_rate").set_index("market")
    assert ref.numerator.to_dict() == _counts(sharers)
    assert ref.denominator.to_dict() == _counts(active)
    for m in customers.index:
        assert returning[m] <= customers[m] <= truth["acquisition"]["users"][m]
