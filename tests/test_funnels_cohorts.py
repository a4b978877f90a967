"""Funnels and retention cohorts: by hand on a tiny shop, against simulated truth, and the
same numbers on DuckDB and Spark (local mode)."""

from __future__ import annotations

import math
from pathlib import Path

import ibis
import pandas as pd
import pytest

from conftest import write_csv
from growthloop.core.errors import InputError
from growthloop.ingest import ingest_file
from growthloop.metrics.cohorts import retention, to_matrix
from growthloop.metrics.funnels import funnel
from growthloop.simulate import simulate
from growthloop.warehouse import ibis_backend

# pyspark's collect leaves py4j's local sockets to the garbage collector.
pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

STEPS = ["session_start", "product_view", "add_to_cart", "checkout", "purchase"]
NAN = float("nan")

# ---- the tiny shop -------------------------------------------------------------------------
USERS = [  # user, sign-up, market (also the country)
    ("v1", "2025-01-03T09:00:00", "US"),
    ("v2", "2025-01-20T09:00:00", "US"),
    ("v3", "2025-01-25T08:00:00", "DE"),
    ("v4", "2025-02-10T09:00:00", "DE"),
    ("v5", "2025-03-05T09:00:00", "US"),
]
SESSIONS = [  # session, user, start, market, [(event type, seconds after start)]
    # the whole funnel; 30, 60, 30 and 60 s between steps
    ("S1", "v1", "2025-01-03T10:00:00", "US", [("session_start", 0), ("product_view", 30),
                                               ("add_to_cart", 90), ("checkout", 120),
                                               ("purchase", 180)]),
    ("S2", "v2", "2025-01-20T12:00:00", "US", [("session_start", 0), ("product_view", 120),
                                               ("add_to_cart", 130)]),
    # add_to_cart before product_view does not count, so neither does the checkout
    ("S3", "v3", "2025-01-25T09:00:00", "DE", [("add_to_cart", 0), ("session_start", 5),
                                               ("product_view", 20), ("checkout", 60)]),
    # anonymous; the first product_view counts
    ("S4", None, "2025-02-01T08:00:00", "DE", [("session_start", 0), ("product_view", 40),
                                               ("product_view", 50), ("add_to_cart", 100),
                                               ("checkout", 160), ("purchase", 200)]),
    ("S5", "v4", "2025-02-10T10:00:00", "DE", [("session_start", 0), ("page_view", 1)]),
    # no session_start: never enters a funnel that starts with it
    ("S6", "v1", "2025-02-15T10:00:00", "US", [("product_view", 0)]),
    # add_to_cart at the same second as product_view counts (at or after)
    ("S7", "v5", "2025-03-05T11:00:00", "US", [("session_start", 0), ("product_view", 20),
                                               ("add_to_cart", 20), ("checkout", 60)]),
    # v2 comes back 3 days later and buys (counts per user within 7 days, not per session)
    ("S8", "v2", "2025-01-23T10:00:00", "US", [("checkout", 0), ("purchase", 30)]),
    # v3's add_to_cart 11 days after its session_start (per user: within 14 days, not 7)
    ("S9", "v3", "2025-02-05T09:00:00", "DE", [("session_start", 0), ("add_to_cart", 1)]),
    ("S10", "v1", "2025-04-02T10:00:00", "US", [("page_view", 0)]),
]
ORDERS = [  # order, user, time, market, currency, amount, status
    ("o1", "v1", "2025-01-03T10:03:00", "US", "USD", 50, "delivered"),
    ("o2", "v2", "2025-01-23T10:00:30", "US", "USD", 40, "delivered"),
    ("o3", "v3", "2025-01-26T10:00:00", "DE", "EUR", 100, "cancelled"),
    ("o4", "v3", "2025-02-06T10:00:00", "DE", "EUR", 20, "delivered"),
    ("o5", "v1", "2025-03-10T10:00:00", "US", "USD", 25, "returned"),
    ("o6", "v1", "2025-04-01T10:00:00", "US", "USD", 60, "shipped"),
    ("o7", "v4", "2025-02-11T10:00:00", "DE", "EUR", 30, "delivered"),
    ("o8", "v2", "2025-02-20T10:00:00", "US", "USD", 15, "paid"),
]
FX = [("2025-01-01", "EUR", 1.1), ("2025-02-01", "EUR", 1.2), ("2025-02-08", "EUR", 1.25)]
# revenue in USD: o4 = 20 * 1.2 = 24, o7 = 30 * 1.25 = 37.5; o3 cancelled, o5 returned


def load_shop(tmp: Path, con, cfg, pseudo) -> None:
    """Write the tables above as CSV and ingest them."""
    delivered = {"delivered": "2025-04-05T10:00:00", "returned": "2025-03-12T10:00:00"}
    files = {
        "users": [dict(user_id=u, signup_ts=ts, market=m, country=m,
                       acquisition_channel="organic", acquisition_campaign=None,
                       referrer_id=None, consent_analytics="true", consent_marketing="true",
                       consent_personalisation="true") for u, ts, m in USERS],
        "events": [
            dict(event_id=f"{s}-{i}", user_id=u, anonymous_id=f"a-{u or s}", session_id=s,
                 event_ts=(pd.Timestamp(t0) + pd.Timedelta(seconds=dt)).isoformat(),
                 event_type=e, market=m, channel="organic", campaign=None, device="app",
                 product_id=None, value=None, currency=None, properties=None)
            for s, u, t0, m, evs in SESSIONS for i, (e, dt) in enumerate(evs)],
        "orders": [dict(order_id=o, user_id=u, order_ts=ts, market=m, currency=c, amount=a,
                        status=st, delivered_ts=delivered.get(st))
                   for o, u, ts, m, c, a, st in ORDERS],
        "fx_rates": [dict(date=d, currency=c, rate=r) for d, c, r in FX],
    }
    for table, rows in files.items():
        res = ingest_file(con, cfg, table, write_csv(tmp / f"{table}.csv", rows), pseudo)
        assert res.rows_quarantined == 0, (table, res.reasons)


@pytest.fixture
def backend(tmp_path, con, cfg, pseudo):
    load_shop(tmp_path, con, cfg, pseudo)
    return ibis_backend(con)


def _same(got: list, want: list) -> bool:
    return len(got) == len(want) and all(
        (isinstance(w, float) and math.isnan(w) and (g is None or math.isnan(g)))
        or g == pytest.approx(w, rel=1e-12) for g, w in zip(got, want, strict=True))


def _check(df: pd.DataFrame, units, conv_prev, conv_first, drop, median) -> None:
    assert df.step.tolist() == list(range(1, len(STEPS) + 1))
    assert df.step_name.tolist() == STEPS
    assert df.units.tolist() == units
    assert _same(df.conversion_from_previous.tolist(), conv_prev), df
    assert _same(df.conversion_from_first.tolist(), conv_first), df
    assert df.drop_off.tolist() == drop
    assert _same(df.drop_off_rate.tolist(), [1 - c for c in conv_prev]), df
    assert _same(df.median_seconds_from_previous.tolist(), median), df


# ---- funnels by hand -----------------------------------------------------------------------
def test_session_funnel_by_hand(backend, cfg):
    df = funnel(backend, cfg, STEPS).execute()
    # step 1: S1 S2 S3 S4 S5 S7 S9 (S6 and S8 have no session_start)
    # product_view: S1 30 s, S2 120, S3 15, S4 40 (its first), S7 20 -> median 30
    # add_to_cart: S1 60, S2 10, S4 60, S7 0 (same second) -> 35; S3's came first, S9 no view
    # checkout: S1 30, S4 60, S7 40 -> 40; purchase: S1 60, S4 40 -> 50
    _check(df, [7, 5, 4, 3, 2], [1, 5 / 7, 4 / 5, 3 / 4, 2 / 3],
           [1, 5 / 7, 4 / 7, 3 / 7, 2 / 7], [0, 2, 1, 1, 1], [NAN, 30, 35, 40, 50])


def test_session_funnel_by_market(backend, cfg):
    df = funnel(backend, cfg, STEPS, by=["market"]).execute()
    assert df.market.tolist() == ["DE"] * 5 + ["US"] * 5
    de, us = df[df.market == "DE"], df[df.market == "US"]
    # DE: S3 S4 S5 S9; views S3 15, S4 40; then S4 alone
    _check(de, [4, 2, 1, 1, 1], [1, 2 / 4, 1 / 2, 1, 1], [1, 2 / 4, 1 / 4, 1 / 4, 1 / 4],
           [0, 2, 1, 0, 0], [NAN, 27.5, 60, 60, 40])
    # US: S1 S2 S7; views 30 120 20; carts 60 10 0; checkouts S1 30, S7 40; S1 buys 60
    _check(us, [3, 3, 3, 2, 1], [1, 1, 1, 2 / 3, 1 / 2], [1, 1, 1, 2 / 3, 1 / 3],
           [0, 0, 0, 1, 1], [NAN, 30, 10, 35, 60])


def test_session_funnel_window_and_short_funnels(backend, cfg):
    df = funnel(backend, cfg, STEPS, start="2025-02-01", end="2025-03-01").execute()
    assert df.units.tolist() == [3, 1, 1, 1, 1]  # S4 S5 S9 start in February
    df = funnel(backend, cfg, ["add_to_cart", "checkout"]).execute()
    # carts: S1 S2 S3 S4 S7 S9; checkouts after them: S1 30 s, S3 60, S4 60, S7 40
    assert df.units.tolist() == [6, 4]
    assert df.median_seconds_from_previous.tolist()[1] == 50
    df = funnel(backend, cfg, ["purchase"]).execute()
    assert df.units.tolist() == [3] and df.conversion_from_previous.tolist() == [1.0]
    assert df.median_seconds_from_previous.isna().all()


def test_user_funnel_within_days(backend, cfg):
    df = funnel(backend, cfg, STEPS, within="days", days=7).execute()
    # users v1..v5 (S4 is anonymous); views v1 30, v2 120, v3 15, v5 20 -> 25
    # carts v1 60, v2 10, v5 0 -> 10 (v3's is 11 days later); checkouts v1 30, v5 40 and
    # v2 on day 3 (2 d 21:57:50 = 251870 s) -> 40; purchases v1 60, v2 30 -> 45
    _check(df, [5, 4, 3, 3, 2], [1, 4 / 5, 3 / 4, 1, 2 / 3], [1, 4 / 5, 3 / 5, 3 / 5, 2 / 5],
           [0, 1, 1, 0, 1], [NAN, 25, 10, 40, 45])
    wide = funnel(backend, cfg, STEPS, within="days", days=14).execute()
    assert wide.units.tolist() == [5, 4, 4, 3, 2]  # v3's cart now counts, its checkout not
    short = funnel(backend, cfg, STEPS, within="days", days=2).execute()
    assert short.units.tolist() == [5, 4, 3, 2, 1]  # v2's checkout on day 3 no longer counts
    by = funnel(backend, cfg, STEPS, within="days", days=7, by=["market", "cohort"]).execute()
    got = {(m, c, s): n for m, c, s, n in zip(by.market, by.cohort, by.step, by.units,
                                               strict=True)}
    assert got[("US", "2025-01", 5)] == 2 and got[("US", "2025-03", 4)] == 1
    assert got[("DE", "2025-01", 2)] == 1 and got[("DE", "2025-02", 2)] == 0
    assert len(got) == 4 * 5


def test_funnel_bad_input_lists_what_exists(backend, cfg):
    with pytest.raises(InputError, match=r"'add_to_basket'.*session_start, page_view"):
        funnel(backend, cfg, ["session_start", "add_to_basket"])
    with pytest.raises(InputError, match=r"'weather'.*market, country, channel"):
        funnel(backend, cfg, STEPS, by=["weather"])
    with pytest.raises(InputError, match=r"at least one step.*session_start"):
        funnel(backend, cfg, [])
    with pytest.raises(InputError, match="more than once"):
        funnel(backend, cfg, ["session_start", "session_start"])
    with pytest.raises(InputError, match=r"within='week'.*session, days"):
        funnel(backend, cfg, STEPS, within="week")
    with pytest.raises(InputError, match="days = 0"):
        funnel(backend, cfg, STEPS, within="days", days=0)


# ---- cohorts by hand -----------------------------------------------------------------------
def _triangle(df: pd.DataFrame, value: str = "retention") -> dict[str, list[float]]:
    m = to_matrix(df, value)
    return {str(c)[:10]: row.tolist() for c, row in m.iterrows()}


def _same_triangle(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(_same(got[k], want[k]) for k in want)


def test_user_retention_by_hand(backend, cfg):
    df = retention(backend, cfg).execute()
    # Jan: v1 v2 v3 -> Feb v1 v3, Mar nobody, Apr v1 (the last month with data);
    # Feb: v4; Mar: v5
    want = {"2025-01-01": [1, 2 / 3, 0, 1 / 3], "2025-02-01": [1, 0, 0, NAN],
            "2025-03-01": [1, 0, NAN, NAN]}
    assert _same_triangle(_triangle(df), want)
    assert _same_triangle(_triangle(df, "active_users"), {
        "2025-01-01": [3, 2, 0, 1], "2025-02-01": [1, 0, 0, NAN], "2025-03-01": [1, 0, NAN, NAN]})
    assert df.cohort_size.tolist() == [3] * 4 + [1] * 3 + [1] * 2
    assert retention(backend, cfg, periods=2).periods_since.max().execute() == 1

    df = retention(backend, cfg, by=["market"]).execute()
    got = {(str(c)[:10], m): r for (c, m), r in to_matrix(df).iterrows()}
    assert _same(got[("2025-01-01", "US")].tolist(), [1, 1 / 2, 0, 1 / 2])  # v1 v2
    assert _same(got[("2025-01-01", "DE")].tolist(), [1, 1, 0, 0])  # v3
    assert set(got) == {("2025-01-01", "US"), ("2025-01-01", "DE"), ("2025-02-01", "DE"),
                        ("2025-03-01", "US")}


def test_first_purchase_retention_by_hand(backend, cfg):
    # first orders not cancelled: v1 Jan 3, v2 Jan 23 | v3 Feb 6 (o3 cancelled), v4 Feb 11
    df = retention(backend, cfg, cohort="first_purchase").execute()
    # any event: Jan cohort Feb v1, Apr v1; Feb cohort: v3 Feb 5 and v4 Feb 10, then none
    assert _same_triangle(_triangle(df), {"2025-01-01": [1, 1 / 2, 0, 1 / 2],
                                          "2025-02-01": [1, 0, 0, NAN]})
    buyers = retention(backend, cfg, cohort="first_purchase", active="order").execute()
    # repeat buyers: v2 in Feb (o8), v1 in Mar (o5, returned but placed) and Apr (o6)
    assert _same_triangle(_triangle(buyers), {"2025-01-01": [1, 1 / 2, 1 / 2, 1 / 2],
                                              "2025-02-01": [1, 0, 0, NAN]})


def test_revenue_retention_by_hand(backend, cfg):
    df = retention(backend, cfg, measure="revenue").execute()
    # Jan sign-ups: Jan o1 50 + o2 40; Feb o4 24 + o8 15; Mar o5 returned; Apr o6 60
    assert _same_triangle(_triangle(df, "revenue"), {
        "2025-01-01": [90, 39, 0, 60], "2025-02-01": [37.5, 0, 0, NAN],
        "2025-03-01": [0, 0, NAN, NAN]})
    assert _same_triangle(_triangle(df), {
        "2025-01-01": [1, 39 / 90, 0, 60 / 90], "2025-02-01": [1, 0, 0, NAN],
        "2025-03-01": [NAN, NAN, NAN, NAN]})  # v5 never buys: no base
    fp = retention(backend, cfg, cohort="first_purchase", measure="revenue").execute()
    assert _same_triangle(_triangle(fp, "revenue"), {
        "2025-01-01": [90, 15, 0, 60], "2025-02-01": [24 + 37.5, 0, 0, NAN]})
    assert _same_triangle(_triangle(fp), {
        "2025-01-01": [1, 15 / 90, 0, 60 / 90], "2025-02-01": [1, 0, 0, NAN]})


def test_weekly_retention_by_hand(backend, cfg):
    df = retention(backend, cfg, period="week", periods=3).execute()
    # weeks start on Monday: v1 Dec 30 (active that week; Jan 13-19 no; ...)
    got = _triangle(df)
    assert _same(got["2024-12-30"], [1, 0, 0])
    assert _same(got["2025-01-20"], [1, 0, 1 / 2])  # v2 v3; v3's S9 on Feb 5
    assert _same(got["2025-03-03"], [1, 0, 0])  # v5; April 2 is 4 weeks later


def test_retention_bad_input_lists_what_exists(backend, cfg):
    with pytest.raises(InputError, match=r"cohort='install'.*signup, first_purchase"):
        retention(backend, cfg, cohort="install")
    with pytest.raises(InputError, match=r"measure='orders'.*users, revenue"):
        retention(backend, cfg, measure="orders")
    with pytest.raises(InputError, match=r"period='quarter'.*day, week, month"):
        retention(backend, cfg, period="quarter")
    with pytest.raises(InputError, match=r"'device'.*market, country, channel, campaign"):
        retention(backend, cfg, by=["device"])
    with pytest.raises(InputError, match="periods = 0"):
        retention(backend, cfg, periods=0)
    with pytest.raises(InputError, match=r"'churn'.*retention"):
        to_matrix(retention(backend, cfg).execute(), "churn")


# ---- simulated truth -----------------------------------------------------------------------
def test_session_funnel_matches_simulated_truth(tmp_path: Path, con, cfg, pseudo):
    truth = simulate(tmp_path / "shop", n_users=20000, days=120, seed=5)
    for name in ("users", "events"):
        ingest_file(con, cfg, name, tmp_path / "shop" / f"{name}.parquet", pseudo)
    df = funnel(ibis_backend(con), cfg, STEPS, by=["market"]).execute()
    rates = truth["funnel"]["step_rates"]  # share of sessions reaching a step among those
    names = ["product_view_given_session", "add_to_cart_given_product_view",  # at the
             "checkout_given_add_to_cart", "purchase_given_checkout"]  # previous one
    assert sorted(set(df.market)) == sorted(rates)
    for market, rows in df.groupby("market"):
        units = rows.sort_values("step").units.tolist()
        for k, name in enumerate(names, start=1):
            p, n = rates[market][name], units[k - 1]
            se = math.sqrt(p * (1 - p) / n)
            got = rows.conversion_from_previous.tolist()[k]
            assert abs(got - p) <= 4 * se, (market, name, got, p, n)
        # every purchase happens in a session that went through the whole funnel
        assert units[-1] == truth["funnel"]["purchases"][market]


# ---- DuckDB and Spark ----------------------------------------------------------------------
def _normal(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted (NULL dimensions first) with dates as text, for comparing engines."""
    df = df.copy()
    if "cohort" in df and len(df) and not isinstance(df.cohort.dropna().iloc[0], str):
        df["cohort"] = [str(c)[:10] for c in df.cohort]
    keys = [c for c in df.columns if df[c].dtype == object] + [
        c for c in ("step", "periods_since") if c in df]
    df = df.fillna({c: "" for c in keys if df[c].dtype == object})
    return df.sort_values(keys).reset_index(drop=True)


def test_same_numbers_on_duckdb_and_spark(tmp_path: Path, con, cfg, pseudo, spark):
    load_shop(tmp_path, con, cfg, pseudo)
    duck = ibis_backend(con)
    sb = ibis.pyspark.connect(spark)
    for name in ("users", "events", "orders", "fx_rates", "identities"):
        p = tmp_path / f"{name}.parquet"
        con.execute(f"COPY {name} TO '{p}' (FORMAT parquet)")
        sb.read_parquet(str(p), table_name=name)
    cases = [  # NULL slices: the anonymous session's cohort, every campaign
        lambda b: funnel(b, cfg, STEPS, by=["market", "cohort"]),
        lambda b: funnel(b, cfg, STEPS, within="days", days=7, by=["market"]),
        lambda b: retention(b, cfg, by=["market"]),
        lambda b: retention(b, cfg, cohort="first_purchase", measure="revenue", period="week",
                            by=["campaign"]),
    ]
    for i, case in enumerate(cases):
        a, b = _normal(case(duck).execute()), _normal(case(sb).execute())
        assert len(a) > 0, i
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-12, obj=f"case {i}")
