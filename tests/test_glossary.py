"""Each business number is defined once: one tiny hand-computed shop through every public
route that reports it (catalog KPI, summary, LTV economics, the roi command) gives one
value (growthloop.core.glossary)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import KEY, write_csv
from growthloop.core import glossary
from growthloop.core.config import DEFAULT_TOML
from growthloop.decide.channels import channel_economics
from growthloop.decide.ltv import ltv_cac, value_curves
from growthloop.ingest import ingest_file
from growthloop.metrics import catalog, compile_kpi
from growthloop.metrics.customers import customer_summary
from growthloop.metrics.summary import market_summary
from growthloop.models.clv import BGNBD, CustomerValueModel, GammaGamma
from growthloop.models.clv.value import customer_lifetime_value
from growthloop.warehouse import connect, ibis_backend

# Every buyer's sessions come from their acquisition channel, so the acquisition-channel
# basis (catalog, ltv) and every attribution model (roi) credit the same channel.
USERS = [("A", "2025-01-01", "social_ads"), ("B", "2025-01-03", "search_ads"),
         ("C", "2025-01-05", "social_ads"), ("D", "2025-01-06", "organic")]
ORDERS = [  # order, user, day, currency, amount, status
    ("o1", "A", "2025-01-01", "USD", 100, "delivered"),
    ("o2", "A", "2025-02-15", "USD", 50, "delivered"),
    ("o3", "B", "2025-01-03", "USD", 80, "returned"),
    ("o4", "B", "2025-01-20", "USD", 40, "delivered"),
    ("o5", "C", "2025-01-05", "EUR", 60, "delivered"),
    ("o6", "D", "2025-01-07", "USD", 99, "cancelled"),
]
SPEND = [("social_ads", 200, "USD"), ("search_ads", 100, "EUR")]
EUR = 1.1
# By hand:
REVENUE = 100 + 50 + 40 + 60 * EUR            # o3 returned, o6 cancelled: 256
KEPT = 4                                      # o1 o2 o4 o5
BUYERS, RETURNING, USERS_N = 3, 2, 4          # A B C; A (o2) and B (o4); A B C D
CAC = {"social_ads": 200 / 2, "search_ads": 100 * EUR / 1}        # new customers A C; B
REV_BY = {"social_ads": 100 + 50 + 60 * EUR, "search_ads": 40}     # by acquisition channel
SPEND_BY = {"social_ads": 200, "search_ads": 100 * EUR}


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("glossary")
    (d / "growthloop.toml").write_text(DEFAULT_TOML)
    (d / ".growthloop").mkdir()
    con = connect(d / ".growthloop" / "warehouse.duckdb")
    from growthloop.core.config import default_config
    from growthloop.ingest.privacy import Pseudonymiser

    cfg, pseudo = default_config(), Pseudonymiser(KEY.encode())
    events = []
    for sessions, (o, u, day, *_) in enumerate(ORDERS, start=1):
        channel = next(ch for uu, _, ch in USERS if uu == u)
        for i, kind in enumerate(("session_start", "product_view")):
            events.append(dict(event_id=f"e{sessions}-{i}", user_id=u, anonymous_id=f"a{u}",
                               session_id=f"s{o}", event_ts=f"{day}T10:00:0{i}",
                               event_type=kind, market="US", channel=channel, campaign=None,
                               device="app", product_id=None, value=None, currency=None,
                               properties=None))
    tables = {
        "users": [dict(user_id=u, signup_ts=f"{day}T09:00:00", market="US", country="US",
                       acquisition_channel=ch, acquisition_campaign=None, referrer_id=None,
                       consent_analytics="true", consent_marketing="true",
                       consent_personalisation="true") for u, day, ch in USERS],
        "events": events,
        "orders": [dict(order_id=o, user_id=u, order_ts=f"{day}T10:05:00", market="US",
                        currency=c, amount=a, status=st, delivered_ts=None)
                   for o, u, day, c, a, st in ORDERS],
        "ad_spend": [dict(date="2025-01-01", market="US", channel=ch, campaign="c", spend=s,
                          currency=cur, impressions=None, clicks=None)
                     for ch, s, cur in SPEND],
        "fx_rates": [dict(date=f"2025-{m:02d}-{day:02d}", currency="EUR", rate=EUR)
                     for m in (1, 2) for day in (1, 7, 14, 21, 28)],
    }
    for name, rows in tables.items():
        res = ingest_file(con, cfg, name, write_csv(d / f"{name}.csv", rows), pseudo)
        assert res.rows_quarantined == 0, (name, res.reasons)
    con.close()
    return d


@pytest.fixture
def wh(shop):
    con = connect(shop / ".growthloop" / "warehouse.duckdb", read_only=True)
    yield ibis_backend(con)
    con.close()


@pytest.fixture
def cfg():
    from growthloop.core.config import default_config

    return default_config()


def _kpi(b, cfg, name: str, by: list[str]) -> dict:
    df = compile_kpi(name, b, cfg, grain="all", by=by).execute()
    return dict(zip(df[by[0]] if by else ["all"], df.value, strict=True))


def _roi(shop: Path, model: str) -> dict[str, dict]:
    r = subprocess.run([sys.executable, "-m", "growthloop.cli", "roi", "--model", model,
                        "--period", "all", "--by", "none", "--json"], cwd=shop,
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "GROWTHLOOP_PSEUDONYM_KEY": KEY})
    assert r.returncode == 0, r.stderr
    return {row["channel"]: row for row in json.loads(r.stdout)["rows"]}


def _model() -> CustomerValueModel:
    return CustomerValueModel.from_models(
        {"all": BGNBD.from_params(r=0.5, alpha=20.0, a=1.0, b=3.0)},
        {"all": GammaGamma.from_params(p=6.0, q=4.0, gamma=15.0)})


@pytest.mark.parametrize("model", ["last", "first", "markov"])
def test_cac_roas_roi_agree_across_routes(shop, wh, cfg, model):
    roi = _roi(shop, model)
    cac_kpi = _kpi(wh, cfg, "cac", ["channel"])
    roas_kpi = _kpi(wh, cfg, "roas", ["channel"])
    roi_kpi = _kpi(wh, cfg, "roi", ["channel"])
    ltv = ltv_cac(wh, cfg, by=("channel",), model=_model(), summary=customer_summary(wh, cfg))
    ltv = dict(zip(ltv.channel, ltv.cac, strict=True))
    econ = channel_economics(wh, cfg, model=model, period="all", by_market=False)
    econ = econ.set_index("channel")
    for ch in ("social_ads", "search_ads"):
        roas = REV_BY[ch] / SPEND_BY[ch]
        for got in (cac_kpi[ch], ltv[ch], roi[ch]["cac"], econ.cac[ch]):
            assert got == pytest.approx(CAC[ch], rel=1e-12), ("cac", ch)
        for got in (roas_kpi[ch], roi[ch]["roas"], econ.roas[ch]):
            assert got == pytest.approx(roas, rel=1e-12), ("roas", ch)
        for got in (roi_kpi[ch], roi[ch]["roi"], econ.roi[ch]):
            assert got == pytest.approx(roas - 1, rel=1e-12), ("roi", ch)


def test_revenue_order_value_repurchase_conversion_agree(shop, wh, cfg):
    summary = market_summary(wh, cfg).set_index("market")
    econ = channel_economics(wh, cfg, model="last", period="all", by_market=False)
    for route in (_kpi(wh, cfg, "revenue", [])["all"], summary.revenue["US"],
                  summary.revenue["all"], econ.revenue.sum()):
        assert route == pytest.approx(REVENUE, rel=1e-12)
    for route in (_kpi(wh, cfg, "average_order_value", [])["all"],
                  summary.order_value["US"]):
        assert route == pytest.approx(REVENUE / KEPT, rel=1e-12)
    for route in (_kpi(wh, cfg, "repurchase_rate", ["market"])["US"],
                  summary.repurchase_rate["US"]):
        assert route == pytest.approx(RETURNING / BUYERS, rel=1e-12)
    assert summary.conversion["US"] == pytest.approx(BUYERS / USERS_N, rel=1e-12)
    assert (summary.users["US"], summary.buyers["US"]) == (USERS_N, BUYERS)


def test_catalog_kpis_name_their_glossary_function():
    cat = catalog()
    for name, fn in {"roas": "roas", "roi": "roi", "cac": "cac",
                     "average_order_value": "average_order_value",
                     "repurchase_rate": "repurchase_rate"}.items():
        assert cat[name].glossary == fn
    assert glossary.roi(150.0, 100.0) == 0.5 and glossary.roas(150.0, 100.0) == 1.5
    assert math.isnan(glossary.cac(10.0, 0))


def test_discounting_is_one_convention(wh, cfg):
    """Month k (1-based) is worth (1 + d)^-k: in CLV and in the LTV value curves."""
    d = 0.01
    assert glossary.discount_factors(3, d) == pytest.approx([1 / 1.01, 1 / 1.01**2,
                                                             1 / 1.01**3])

    class OnePerMonth:
        def conditional_expected_purchases(self, t, *_):
            return np.asarray(t, dtype=float) / 30.0

    class Ten:
        def conditional_expected_average_profit(self, frequency, _m):
            return np.full(np.shape(frequency), 10.0)

    clv = customer_lifetime_value(OnePerMonth(), Ten(), [0], [0], [10], [0], horizon=3,
                                  discount_rate=d, time_unit="D")
    assert clv[0] == pytest.approx(10 * sum(1.01 ** -k for k in (1, 2, 3)))
    summary = customer_summary(wh, cfg)
    curves = value_curves(wh, cfg, _model(), summary, months=2, discount_rate=d)
    realised = curves.attrs["realised"][list(summary.index[summary.channel == "social_ads"])]
    # A: o1 100 in month 1, o2 50 in month 2 (45 days later); C: o5 66 in month 1
    got = sorted(map(tuple, realised.round(9)))
    assert got == sorted([(round(100 / 1.01, 9), round(100 / 1.01 + 50 / 1.01**2, 9)),
                          (round(60 * EUR / 1.01, 9), round(60 * EUR / 1.01, 9))])


def test_missing_fx_is_one_policy(shop, tmp_path, cfg):
    """Without a rate: an error naming currency and days; with missing_fx = "skip", the
    rows are left out and counted in a warning, on every route."""
    from growthloop.core.config import parse_config
    from growthloop.core.errors import GrowthloopWarning, InputError

    d = tmp_path / "nofx"
    shutil.copytree(shop, d)
    con = connect(d / ".growthloop" / "warehouse.duckdb")
    con.execute("DELETE FROM fx_rates")
    b = ibis_backend(con)
    try:
        for route in (lambda c: market_summary(b, c),
                      lambda c: compile_kpi("revenue", b, c, grain="all").execute(),
                      lambda c: channel_economics(b, c, model="last", period="all")):
            with pytest.raises(InputError, match=r"orders: no FX rate into USD for EUR on 1 "
                                                 r"day \(2025-01-05\.\.2025-01-05, 1 rows\)"):
                route(cfg)
        skip = parse_config('missing_fx = "skip"\n' + DEFAULT_TOML)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GrowthloopWarning)
            s = market_summary(b, skip).set_index("market")
        assert [str(w.message)[:36] for w in caught if w.category is GrowthloopWarning] == [
            "orders: 1 rows without an FX rate in"]
        assert s.revenue["US"] == pytest.approx(100 + 50 + 40)
    finally:
        con.close()
