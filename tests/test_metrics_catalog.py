"""Every built-in KPI against numbers computed by hand on tests/metrics_fixture.py."""

from __future__ import annotations

import math

import pytest

from growthloop.core.errors import InputError
from growthloop.metrics import builtin_catalog, compile_kpi
from growthloop.warehouse import ibis_backend
from metrics_fixture import SHARE_RATE_KPI, load_fixture

JAN, FEB = "2025-01-01", "2025-02-01"
NAN = float("nan")
# KPI: {month: value}, worked out by hand from the fixture (see its tables)
EXPECTED: dict[str, dict[str, float]] = {
    "precise_traffic_share": {JAN: 3 / 5, FEB: 2 / 3},     # s1 s4 s5 of 5; s6 s7 of 3
    "organic_sessions": {JAN: 2, FEB: 1},                  # s2 s3; s8
    "organic_traffic_growth": {JAN: NAN, FEB: 1 / 2 - 1},
    "spend": {JAN: 100 + 50 * 1.0, FEB: 60 + 30},
    "roas": {JAN: 50 / 150, FEB: (30 + 40 * 1.2) / 90},  # o2 returned, o5 cancelled
    "roi": {JAN: 50 / 150 - 1, FEB: (30 + 40 * 1.2) / 90 - 1},
    "cac": {JAN: 150 / 2, FEB: 90 / 1},                    # new buyers u1 u3; u4
    "cost_per_signup": {JAN: 150 / 3, FEB: 90 / 1},        # sign-ups u1 u2 u3; u4
    "add_to_cart_rate": {JAN: 2 / 5, FEB: 1 / 3},
    "payment_conversion_rate": {JAN: 1 / 5, FEB: 2 / 3},
    "average_order_value": {JAN: 50 / 1, FEB: 78 / 2},
    "aov_growth": {JAN: NAN, FEB: 39 / 50 - 1},
    "new_user_conversion": {JAN: 2 / 3, FEB: 1 / 1},       # u1 u3 buy within 30 d; u2 cancels
    "repurchase_rate": {JAN: 0 / 2, FEB: 1 / 2},           # u1 buys again in Feb
    "active_users": {JAN: 3, FEB: 3},                      # anonymous a9 is not a user
    "mau_share": {JAN: 3 / 3, FEB: 3 / 4},
    "nps": {JAN: 100 * (1 - 1) / 3, FEB: 100 * 1 / 1},
    "new_user_retention": {JAN: 1 / 3, FEB: 0 / 1},        # u1 back on day 13
    "new_users": {JAN: 3, FEB: 1},
    "user_growth_rate": {JAN: NAN, FEB: 1 / 3},
    "return_rate": {JAN: 1 / 2, FEB: 0 / 2},
    "fulfilment_time": {JAN: (4 + 2) / 2, FEB: 5 / 1},
    "content_completion_rate": {JAN: 1 / 2},
    "live_interaction_rate": {JAN: 1 / 1},
    "referral_participation_rate": {JAN: 1 / 3, FEB: 0 / 3},
    "revenue": {JAN: 50, FEB: 78},
    "buyers": {JAN: 1, FEB: 2},
}


@pytest.fixture
def backend(tmp_path, con, cfg, pseudo):
    load_fixture(tmp_path, con, cfg, pseudo)
    return ibis_backend(con)


def test_every_builtin_kpi_has_a_hand_computed_case():
    assert set(EXPECTED) == set(builtin_catalog())


def _values(df) -> dict[str, float]:
    return {str(p)[:10]: v for p, v in zip(df.period, df.value, strict=True)}


def test_catalog_by_hand(backend, cfg):
    failures = []
    for name, want in EXPECTED.items():
        got = _values(compile_kpi(name, backend, cfg, grain="month").execute())
        if set(got) != set(want) or any(
            not (math.isnan(want[k]) and (got[k] is None or math.isnan(got[k])))
            and got[k] != pytest.approx(want[k], rel=1e-12) for k in want
        ):
            failures.append(f"{name}: got {got}, want {want}")
    assert not failures, "\n".join(failures)


def test_slices_by_hand(backend, cfg):
    df = compile_kpi("add_to_cart_rate", backend, cfg, grain="month", by=["market"],
                     end="2025-02-01").execute()
    assert dict(zip(df.market, df.value, strict=True)) == {"DE": 0 / 2, "US": 2 / 3}
    df = compile_kpi("roas", backend, cfg, grain="month", by=["market", "channel"],
                     start="2025-01-01", end="2025-02-01").execute()
    got = {(m, c): v for m, c, v in zip(df.market, df.channel, df.value, strict=True)}
    assert got == {("US", "social_ads"): 0.5, ("DE", "search_ads"): 0.0}
    df = compile_kpi("revenue", backend, cfg, grain="week", start="2025-02-01").execute()
    assert _values(df) == {"2025-01-27": 30.0, "2025-02-03": 48.0}  # ISO weeks start Monday
    df = compile_kpi("new_users", backend, cfg, grain="quarter", by=["channel"]).execute()
    assert dict(zip(df.channel, df.value, strict=True)) == {
        "organic": 1, "search_ads": 1, "social_ads": 2}


def test_unknown_names_list_what_exists(backend, cfg):
    with pytest.raises(InputError, match=r"unknown KPI 'arpu'; expected one of: .*revenue"):
        compile_kpi("arpu", backend, cfg)
    with pytest.raises(InputError,
                       match="grain 'fortnight' is not a grain; expected one of: day, week"):
        compile_kpi("revenue", backend, cfg, grain="fortnight")
    with pytest.raises(InputError, match="cannot be sliced by 'device'; expected one of: market"):
        compile_kpi("revenue", backend, cfg, by=["device"])


def test_slice_with_missing_values_stays_one_slice(backend, cfg):
    # no session has a campaign: one NULL slice per month, not a numerator-only and a
    # denominator-only row
    df = compile_kpi("add_to_cart_rate", backend, cfg, grain="month", by=["campaign"]).execute()
    assert df.campaign.isna().all()
    assert df.value.tolist() == pytest.approx([2 / 5, 1 / 3])


def test_user_kpi_from_the_project_file(backend):
    from growthloop.core.config import DEFAULT_TOML, parse_config
    from growthloop.metrics import catalog

    cfg = parse_config(DEFAULT_TOML + SHARE_RATE_KPI + """
[[kpis]]
name = "big_orders"
description = "Orders kept worth 45 or more."
kind = "value"
unit = "count"
direction = "up"
measure = { source = "orders", agg = "count", filter = { revenue = { ">=" = 45 } } }
""")
    assert {"share_rate", "big_orders"} <= set(catalog(cfg))
    df = compile_kpi("share_rate", backend, cfg, grain="month").execute()
    assert df.value.tolist() == pytest.approx([1 / 5, 0 / 3])  # s4 shares in January
    df = compile_kpi("big_orders", backend, cfg, grain="month").execute()
    assert df.value.tolist() == [1, 1]  # o1 (50) in January, o4 (48) in February


@pytest.mark.parametrize(("kpi", "message"), [
    ('name = "revenue"\ndescription = "x"\nkind = "value"\nunit = "count"\ndirection = "up"\n'
     'measure = { source = "orders" }', "'revenue' is a built-in KPI"),
    ('name = "x"\ndescription = "x"\nkind = "value"\nunit = "count"\ndirection = "up"\n'
     'measure = { source = "clicks" }', "source = 'clicks': expected one of sessions"),
    ('name = "x"\ndescription = "x"\nkind = "value"\nunit = "count"\ndirection = "up"\n'
     'measure = { source = "orders", agg = "sum", column = "price" }',
     "column 'price' is not in source 'orders'"),
])
def test_bad_user_kpi(kpi, message):
    from growthloop.core.config import DEFAULT_TOML, parse_config
    from growthloop.metrics import catalog

    cfg = parse_config(DEFAULT_TOML + "[[kpis]]\n" + kpi + "\n")
    with pytest.raises(InputError) as e:
        catalog(cfg)
    assert message in str(e.value)


def test_user_kpi_shape_errors_name_the_key():
    from growthloop.core.config import DEFAULT_TOML, parse_config
    from growthloop.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"kpis\[0\]: .*kind = 'ratio' needs denominator"):
        parse_config(DEFAULT_TOML + '[[kpis]]\nname = "x"\ndescription = "x"\nkind = "ratio"\n'
                     'unit = "share"\ndirection = "up"\nnumerator = { source = "orders" }\n')


def test_growth_compares_with_the_calendar_previous_period(backend, cfg):
    # organic sessions: January 2, February 1, March none, so no April growth row
    # and February's growth is against January, April's would be against March
    df = compile_kpi("organic_traffic_growth", backend, cfg, grain="month").execute()
    assert df.value.tolist()[1] == pytest.approx(-0.5)
    q = compile_kpi("organic_traffic_growth", backend, cfg, grain="week").execute()
    # weeks with organic sessions: 2024-12-30 (s3), 2025-01-13 (s2), 2025-02-10 (s8);
    # none is the week after another, so no growth can be computed
    assert q.value.isna().all() and len(q) == 3
