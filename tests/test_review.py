"""The periodic review: periods, mix vs rate by hand, and a planted drop that it catches."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from growthloop.decide.review import last_complete_period, mix_rate, review
from growthloop.ingest import ingest_file
from growthloop.simulate import simulate
from growthloop.warehouse import ibis_backend


def test_last_complete_period():
    wed = date(2025, 9, 24)  # a Wednesday
    assert last_complete_period("weekly", wed) == (date(2025, 9, 15), date(2025, 9, 22))
    assert last_complete_period("biweekly", wed) == (date(2025, 9, 8), date(2025, 9, 22))
    assert last_complete_period("monthly", wed) == (date(2025, 8, 1), date(2025, 9, 1))
    assert last_complete_period("monthly", date(2025, 1, 1)) == (date(2024, 12, 1),
                                                                 date(2025, 1, 1))


def test_mix_rate_by_hand():
    # A: 100 of 1000 sessions convert (10 %), B: 50 of 1000 (5 %); overall 7.5 %.
    # Next: A 60 of 400 (15 %), B 80 of 1600 (5 %); overall 7 %.
    prev = pd.DataFrame({"m": ["A", "B"], "numerator": [100, 50], "denominator": [1000, 1000]})
    cur = pd.DataFrame({"m": ["A", "B"], "numerator": [60, 80], "denominator": [400, 1600]})
    d = mix_rate(prev, cur, "m").set_index("m")
    # mix: (0.2 - 0.5) * 0.10 + (0.8 - 0.5) * 0.05 = -0.015
    # rate: 0.2 * (0.15 - 0.10) + 0.8 * (0.05 - 0.05) = +0.010
    assert d.mix.tolist() == pytest.approx([-0.03, 0.015])
    assert d.rate.tolist() == pytest.approx([0.01, 0.0])
    assert d.mix.sum() + d.rate.sum() == pytest.approx(0.07 - 0.075)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A simulated shop of 30,000 users over 140 days (ends 2025-05-21)."""
    d = tmp_path_factory.mktemp("shop")
    simulate(d, n_users=30_000, days=140, seed=11)
    return d


def _warehouse(tmp_path, shop, con, cfg, pseudo):
    for name in ("users", "events", "orders", "fx_rates", "ad_spend", "surveys"):
        ingest_file(con, cfg, name, shop / f"{name}.parquet", pseudo)
    return ibis_backend(con)


AS_OF = date(2025, 5, 14)  # review of the week 2025-05-05 .. 2025-05-11
WEEK = (date(2025, 5, 5), date(2025, 5, 12))
KPIS = ["payment_conversion_rate", "add_to_cart_rate", "revenue"]


def test_normal_week_is_not_flagged(tmp_path, shop, con, cfg, pseudo):
    b = _warehouse(tmp_path, shop, con, cfg, pseudo)
    r = review(b, cfg, "weekly", as_of=AS_OF, kpis=KPIS)
    assert (r.start, r.end) == WEEK
    pcr = [m for m in r.movers if m.kpi == "payment_conversion_rate" and m.segment == "all"]
    assert len(pcr) == 1 and not pcr[0].flagged and pcr[0].direction == "flat"


def test_planted_drop_is_flagged_and_attributed(tmp_path, shop, con, cfg, pseudo):
    b = _warehouse(tmp_path, shop, con, cfg, pseudo)
    # Indonesia's checkouts stop converting for that week: 90 % of its purchases vanish.
    n = con.execute(
        "DELETE FROM events WHERE market = 'ID' AND event_type = 'purchase' "
        "AND event_ts >= ? AND event_ts < ? AND hash(event_id) % 10 <> 0", list(WEEK)
    ).fetchone()[0]
    assert n > 50
    r = review(b, cfg, "weekly", as_of=AS_OF, kpis=KPIS)
    movers = {(m.kpi, m.segment): m for m in r.movers}
    overall = movers[("payment_conversion_rate", "all")]
    assert overall.flagged and overall.direction == "worse" and overall.z < -2
    assert movers[("payment_conversion_rate", "market=ID")].flagged
    others = [m for (k, s), m in movers.items()
              if k == "payment_conversion_rate" and s not in ("all", "market=ID")]
    assert not any(m.flagged for m in others)
    d = r.decompositions["payment_conversion_rate"]
    by_market = d[d.dimension == "market"].set_index("segment")
    assert by_market.mix.sum() + by_market.rate.sum() == pytest.approx(overall.change)
    assert by_market.rate.abs().idxmax() == "ID"
    assert abs(by_market.rate["ID"]) > 0.6 * abs(overall.change)
    assert abs(by_market.mix.sum()) < 0.25 * abs(by_market.rate.sum())
    assert movers[("revenue", "all")].kpi == "revenue"  # other KPIs still reviewed
    assert not movers[("add_to_cart_rate", "all")].flagged
    assert (date(2025, 5, 12) - timedelta(days=7)) == r.start
