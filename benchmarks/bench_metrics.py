"""The whole KPI catalog by market x channel x ISO week: growthloop's compiled Ibis
expressions against hand-written DuckDB SQL and against pandas, on the same warehouse,
measured in one run. Every engine's numbers are checked against growthloop's.

    python benchmarks/bench_metrics.py --users 1750000        # about 50 million events
    python benchmarks/bench_metrics.py --warehouse w.duckdb   # an existing warehouse

Each side builds its sources once (sessions from events, orders in the reporting
currency, ...) and then computes the 26 KPIs; the times include that work.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from growthloop.core.config import default_config
from growthloop.ingest import ingest_file
from growthloop.ingest.privacy import pseudonymiser
from growthloop.metrics import catalog, compile_kpi, kpi_dimensions
from growthloop.metrics.sources import cached_sources
from growthloop.simulate import TABLE_FILES
from growthloop.warehouse import connect, ibis_backend

CFG = default_config()
PRECISE = [c.name for c in CFG.channels if c.precise]
ORGANIC = [c.name for c in CFG.channels if c.kind == "organic"]


def _in(values: list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# --- hand-written DuckDB SQL ---------------------------------------------------------
SQL_SOURCES = {
    "h_users": """
        SELECT user_id, signup_ts, market, acquisition_channel AS channel FROM users""",
    "h_sessions": f"""
        SELECT s.*, s.channel IN {_in(PRECISE)} AS precise,
               coalesce(s.channel IN {_in(ORGANIC)}, false) AS organic
        FROM (SELECT session_id, min(event_ts) AS ts, max(user_id) AS user_id,
                     min(market) AS market, min(channel) AS channel,
                     bool_or(event_type = 'add_to_cart') AS atc,
                     bool_or(event_type = 'purchase') AS purchase,
                     bool_or(event_type = 'live_interaction') AS live
              FROM events GROUP BY session_id) s""",
    "h_fx": """
        SELECT currency, date AS valid_from,
               least(coalesce(lead(date) OVER (PARTITION BY currency ORDER BY date),
                              date + 7), date + 7) AS valid_to, rate FROM fx_rates""",
    "h_orders": """
        SELECT o.order_id, o.user_id, o.order_ts AS ts, o.market, u.channel, o.status,
               CASE WHEN row_number() OVER (PARTITION BY o.user_id
                                            ORDER BY o.order_ts, o.order_id) = 1
                    THEN 'new' ELSE 'returning' END AS customer_type,
               CASE WHEN o.status <> 'returned'
                    THEN o.amount * CASE WHEN o.currency = 'USD' THEN 1 ELSE f.rate END
                    ELSE 0 END AS revenue,
               o.status <> 'returned' AS kept, o.status = 'returned' AS returned,
               (floor(epoch(o.delivered_ts)) - floor(epoch(o.order_ts))) / 86400.0 AS days
        FROM orders o
        LEFT JOIN h_users u ON u.user_id = o.user_id
        LEFT JOIN h_fx f ON f.currency = o.currency AND o.order_ts::DATE >= f.valid_from
                        AND o.order_ts::DATE < f.valid_to
        WHERE o.status <> 'cancelled'""",
    "h_user_facts": """
        SELECT u.user_id, u.signup_ts AS ts, u.market, u.channel,
               fo.first_ts IS NOT NULL AND fo.first_ts < u.signup_ts + INTERVAL 30 DAY
                   AS converted,
               r.user_id IS NOT NULL AS retained
        FROM h_users u
        LEFT JOIN (SELECT user_id, min(order_ts) AS first_ts FROM orders
                   WHERE status <> 'cancelled' GROUP BY user_id) fo USING (user_id)
        LEFT JOIN (SELECT DISTINCT e.user_id FROM events e JOIN h_users u2
                   ON e.user_id = u2.user_id
                   WHERE e.event_ts >= u2.signup_ts + INTERVAL 7 DAY
                     AND e.event_ts < u2.signup_ts + INTERVAL 30 DAY) r USING (user_id)""",
    "h_spend": """
        SELECT s.date::TIMESTAMP AS ts, s.market, s.channel,
               s.spend * CASE WHEN s.currency = 'USD' THEN 1 ELSE f.rate END AS spend
        FROM ad_spend s LEFT JOIN h_fx f ON f.currency = s.currency
             AND s.date >= f.valid_from AND s.date < f.valid_to""",
}

W = "date_trunc('week', ts)::DATE AS period"
G2 = "GROUP BY ALL"


def _ratio(num: str, den: str, keys: str = "period, market, channel") -> str:
    return f"""SELECT {keys}, coalesce(n.x, 0) AS numerator, coalesce(d.x, 0) AS denominator,
                      coalesce(n.x, 0) / nullif(d.x, 0) AS value
               FROM ({num}) n FULL JOIN ({den}) d USING ({keys})"""


def _value(sql: str) -> str:
    return f"SELECT *, x AS numerator, x AS value FROM ({sql})"


def _growth(base: str) -> str:
    return f"""SELECT period, market, channel, value / nullif(lag(value) OVER (
                   PARTITION BY market, channel ORDER BY period), 0) - 1 AS value
               FROM ({base})"""


S = f"SELECT {W}, market, channel"
SQL_KPIS = {
    "precise_traffic_share": _ratio(f"{S}, count(*) x FROM h_sessions WHERE precise {G2}",
                                    f"{S}, count(*) x FROM h_sessions {G2}"),
    "organic_sessions": _value(f"{S}, count(*) x FROM h_sessions WHERE organic {G2}"),
    "spend": _value(f"{S}, sum(spend) x FROM h_spend {G2}"),
    "roas": _ratio(f"{S}, sum(revenue) x FROM h_orders {G2}",
                          f"{S}, sum(spend) x FROM h_spend {G2}"),
    "roi": f"""SELECT period, market, channel, numerator, denominator, value - 1 AS value
               FROM ({_ratio(f"{S}, sum(revenue) x FROM h_orders {G2}",
                             f"{S}, sum(spend) x FROM h_spend {G2}")})""",
    "cac": _ratio(f"{S}, sum(spend) x FROM h_spend {G2}",
                  f"{S}, count(DISTINCT user_id) x FROM h_orders "
                  f"WHERE customer_type = 'new' {G2}"),
    "add_to_cart_rate": _ratio(f"{S}, count(*) x FROM h_sessions WHERE atc {G2}",
                               f"{S}, count(*) x FROM h_sessions {G2}"),
    "payment_conversion_rate": _ratio(f"{S}, count(*) x FROM h_sessions WHERE purchase {G2}",
                                      f"{S}, count(*) x FROM h_sessions {G2}"),
    "average_order_value": _ratio(f"{S}, sum(revenue) x FROM h_orders {G2}",
                                  f"{S}, count(*) x FROM h_orders WHERE kept {G2}"),
    "new_user_conversion": _ratio(f"{S}, count(*) x FROM h_user_facts WHERE converted {G2}",
                                  f"{S}, count(*) x FROM h_user_facts {G2}"),
    "repurchase_rate": _ratio(f"{S}, count(DISTINCT user_id) x FROM h_orders "
                              f"WHERE customer_type = 'returning' {G2}",
                              f"{S}, count(DISTINCT user_id) x FROM h_orders {G2}"),
    "active_users": _value(f"SELECT date_trunc('week', event_ts)::DATE AS period, market, "
                           f"channel, count(DISTINCT user_id) x FROM events {G2}"),
    "mau_share": _ratio(
        f"SELECT date_trunc('week', event_ts)::DATE AS period, market, "
        f"count(DISTINCT user_id) x FROM events {G2}",
        f"SELECT period, market, sum(c) OVER (PARTITION BY market ORDER BY period) x FROM "
        f"(SELECT {W}, market, count(*) c FROM h_users_ts {G2})", "period, market"),
    "nps": _ratio(
        "SELECT date_trunc('week', response_ts)::DATE AS period, market, "
        "100 * sum(CASE WHEN score >= 9 THEN 1 WHEN score <= 6 THEN -1 ELSE 0 END) x "
        f"FROM surveys WHERE survey = 'nps' {G2}",
        "SELECT date_trunc('week', response_ts)::DATE AS period, market, count(*) x "
        f"FROM surveys WHERE survey = 'nps' {G2}", "period, market"),
    "new_user_retention": _ratio(f"{S}, count(*) x FROM h_user_facts WHERE retained {G2}",
                                 f"{S}, count(*) x FROM h_user_facts {G2}"),
    "new_users": _value(f"{S}, count(*) x FROM h_user_facts {G2}"),
    "user_growth_rate": _ratio(
        f"{S}, count(*) x FROM h_user_facts {G2}",
        "SELECT period, market, channel, sum(c) OVER (PARTITION BY market, channel "
        f"ORDER BY period) - c x FROM ({S}, count(*) c FROM h_user_facts {G2})"),
    "return_rate": _ratio(f"{S}, count(*) x FROM h_orders WHERE returned {G2}",
                          f"{S}, count(*) x FROM h_orders {G2}"),
    "fulfilment_time": _value(f"{S}, avg(days) x FROM h_orders WHERE days IS NOT NULL {G2}"),
    "content_completion_rate": _ratio(
        "SELECT date_trunc('week', event_ts)::DATE AS period, market, channel, count(*) x "
        f"FROM events WHERE event_type = 'content_complete' {G2}",
        "SELECT date_trunc('week', event_ts)::DATE AS period, market, channel, count(*) x "
        f"FROM events WHERE event_type = 'content_view' {G2}"),
    "live_interaction_rate": _ratio(
        f"{S}, count(*) x FROM h_sessions WHERE channel = 'live_commerce' AND live {G2}",
        f"{S}, count(*) x FROM h_sessions WHERE channel = 'live_commerce' {G2}"),
    "referral_participation_rate": _ratio(
        "SELECT date_trunc('week', event_ts)::DATE AS period, market, channel, "
        f"count(DISTINCT user_id) x FROM events WHERE event_type = 'share' {G2}",
        "SELECT date_trunc('week', event_ts)::DATE AS period, market, channel, "
        f"count(DISTINCT user_id) x FROM events {G2}"),
    "revenue": _value(f"{S}, sum(revenue) x FROM h_orders {G2}"),
    "buyers": _value(f"{S}, count(DISTINCT user_id) x FROM h_orders WHERE kept {G2}"),
}
SQL_KPIS["organic_traffic_growth"] = _growth(SQL_KPIS["organic_sessions"])
SQL_KPIS["aov_growth"] = _growth(SQL_KPIS["average_order_value"])
SQL_SOURCES["h_users_ts"] = "SELECT signup_ts AS ts, market FROM users"


def run_sql(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    for name, sql in SQL_SOURCES.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
    return {k: con.execute(v).df() for k, v in SQL_KPIS.items()}


# --- pandas ------------------------------------------------------------------------
def _wk(ts: pd.Series) -> pd.Series:
    return ts.dt.to_period("W-SUN").dt.start_time


def run_pandas(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The same numbers with pandas, from the tables loaded as DataFrames."""
    def load(sql: str) -> pd.DataFrame:  # strings as Arrow-backed columns, not objects
        t = con.execute(sql).to_arrow_table()
        df = t.to_pandas()
        for c, typ in zip(t.column_names, t.schema.types, strict=True):
            if str(typ) == "string":
                df[c] = df[c].astype("string[pyarrow]")
        return df

    ev = load("SELECT session_id, user_id, event_ts, event_type, market, channel FROM events")
    users = load("SELECT user_id, signup_ts, market, acquisition_channel AS channel FROM users")
    orders = load("SELECT * FROM orders")
    fx = load("SELECT * FROM fx_rates")
    spend = load("SELECT * FROM ad_spend")
    surveys = load("SELECT * FROM surveys")
    keys = ["period", "market", "channel"]

    g = ev.groupby("session_id", sort=False)
    et = ev.event_type
    sess = pd.DataFrame({
        "ts": g.event_ts.min(), "user_id": g.user_id.max(), "market": g.market.min(),
        "channel": g.channel.min(),
        "atc": (et == "add_to_cart").groupby(ev.session_id, sort=False).any(),
        "purchase": (et == "purchase").groupby(ev.session_id, sort=False).any(),
        "live": (et == "live_interaction").groupby(ev.session_id, sort=False).any(),
    }).reset_index()
    sess["period"] = _wk(sess.ts)
    sess["precise"] = sess.channel.isin(PRECISE)
    sess["organic"] = sess.channel.isin(ORGANIC)

    def conv(df: pd.DataFrame, amount: str, day: pd.Series) -> pd.Series:
        f = fx.sort_values("date").copy()
        f["date"] = pd.to_datetime(f.date)
        left = pd.DataFrame({"day": pd.to_datetime(day.dt.date), "currency": df.currency,
                             "i": np.arange(len(df))}).sort_values("day")
        m = pd.merge_asof(left, f.rename(columns={"date": "day"}), on="day", by="currency")
        ok = (left.day.values - m.day.values) < np.timedelta64(7, "D")
        rate = np.where(m.currency.values == "USD", 1.0, np.where(ok, m.rate.values, np.nan))
        out = np.empty(len(df))
        out[left.i.values] = rate
        return df[amount].to_numpy() * out

    o = orders[orders.status != "cancelled"].copy()
    o = o.sort_values(["user_id", "order_ts", "order_id"])
    o["customer_type"] = np.where(o.groupby("user_id").cumcount() == 0, "new", "returning")
    o["kept"] = o.status != "returned"
    o["revenue"] = np.where(o.kept, conv(o, "amount", o.order_ts), 0.0)
    o = o.merge(users[["user_id", "channel"]], on="user_id", how="left")
    o["period"] = _wk(o.order_ts)
    def secs(ts: pd.Series) -> np.ndarray:  # whole epoch seconds, as growthloop counts
        return ts.to_numpy().astype("datetime64[s]").astype("int64")

    o["days"] = (secs(o.delivered_ts) - secs(o.order_ts)) / 86400.0
    o.loc[o.delivered_ts.isna(), "days"] = np.nan

    sp = spend.copy()
    sp["ts"] = pd.to_datetime(sp.date)
    sp["spend"] = conv(sp, "spend", sp.ts)
    sp["period"] = _wk(sp.ts)

    first = orders[orders.status != "cancelled"].groupby("user_id").order_ts.min()
    uf = users.copy()
    uf["first"] = uf.user_id.map(first)
    uf["converted"] = uf["first"].notna() & (uf["first"] < uf.signup_ts + pd.Timedelta(days=30))
    j = ev[["user_id", "event_ts"]].dropna().merge(uf[["user_id", "signup_ts"]], on="user_id")
    back = j[(j.event_ts >= j.signup_ts + pd.Timedelta(days=7))
             & (j.event_ts < j.signup_ts + pd.Timedelta(days=30))].user_id.unique()
    uf["retained"] = uf.user_id.isin(back)
    uf["period"] = _wk(uf.signup_ts)
    ev["period"] = _wk(ev.event_ts)

    def ratio(n: pd.Series, d: pd.Series) -> pd.DataFrame:
        df = pd.concat([n.rename("numerator"), d.rename("denominator")], axis=1)
        df = df.fillna({"numerator": 0, "denominator": 0})
        df["value"] = df.numerator / df.denominator.where(df.denominator > 0)
        return df.reset_index()

    def value(s: pd.Series) -> pd.DataFrame:
        return s.rename("value").reset_index()

    def growth(df: pd.DataFrame, k: list[str]) -> pd.DataFrame:
        df = df.sort_values(k)
        prev = df.groupby(k[1:], dropna=False).value.shift()
        return df.assign(value=df.value / prev.where(prev != 0) - 1)

    cnt = lambda df: df.groupby(keys, dropna=False).size()  # noqa: E731
    nun = lambda df: df.groupby(keys, dropna=False).user_id.nunique()  # noqa: E731
    out = {
        "precise_traffic_share": ratio(cnt(sess[sess.precise]), cnt(sess)),
        "organic_sessions": value(cnt(sess[sess.organic])),
        "spend": value(sp.groupby(keys, dropna=False).spend.sum()),
        "roas": ratio(o.groupby(keys, dropna=False).revenue.sum(),
                             sp.groupby(keys, dropna=False).spend.sum()),
        "roi": ratio(o.groupby(keys, dropna=False).revenue.sum(),
                     sp.groupby(keys, dropna=False).spend.sum()).eval("value = value - 1"),
        "cac": ratio(sp.groupby(keys, dropna=False).spend.sum(),
                     nun(o[o.customer_type == "new"])),
        "add_to_cart_rate": ratio(cnt(sess[sess.atc]), cnt(sess)),
        "payment_conversion_rate": ratio(cnt(sess[sess.purchase]), cnt(sess)),
        "average_order_value": ratio(o.groupby(keys, dropna=False).revenue.sum(),
                                     cnt(o[o.kept])),
        "new_user_conversion": ratio(cnt(uf[uf.converted]), cnt(uf)),
        "repurchase_rate": ratio(nun(o[o.customer_type == "returning"]), nun(o)),
        "active_users": value(nun(ev)),
        "new_user_retention": ratio(cnt(uf[uf.retained]), cnt(uf)),
        "new_users": value(cnt(uf)),
        "return_rate": ratio(cnt(o[~o.kept]), cnt(o)),
        "fulfilment_time": value(o.dropna(subset=["days"]).groupby(keys, dropna=False)
                                 .days.mean()),
        "content_completion_rate": ratio(cnt(ev[ev.event_type == "content_complete"]),
                                         cnt(ev[ev.event_type == "content_view"])),
        "live_interaction_rate": ratio(
            cnt(sess[(sess.channel == "live_commerce") & sess.live]),
            cnt(sess[sess.channel == "live_commerce"])),
        "referral_participation_rate": ratio(nun(ev[ev.event_type == "share"]), nun(ev)),
        "revenue": value(o.groupby(keys, dropna=False).revenue.sum()),
        "buyers": value(nun(o[o.kept])),
    }
    cum = uf.groupby(keys, dropna=False).size().rename("c").reset_index().sort_values(keys)
    cum["before"] = cum.groupby(["market", "channel"], dropna=False).c.cumsum() - cum.c
    out["user_growth_rate"] = ratio(cnt(uf), cum.set_index(keys).before)
    mk = ["period", "market"]
    reg = uf.groupby(mk).size().groupby(level="market").cumsum()
    out["mau_share"] = ratio(ev.groupby(mk).user_id.nunique(), reg)
    sv = surveys[surveys.survey == "nps"].copy()
    sv["period"] = _wk(sv.response_ts)
    sv["pt"] = np.select([sv.score >= 9, sv.score <= 6], [1, -1], 0) * 100
    out["nps"] = ratio(sv.groupby(mk).pt.sum(), sv.groupby(mk).size())
    out["organic_traffic_growth"] = growth(out["organic_sessions"], keys)
    out["aov_growth"] = growth(out["average_order_value"], keys)
    return out


# --- growthloop ----------------------------------------------------------------------
def run_growthloop(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    b = ibis_backend(con)
    cat = catalog(CFG)
    names = list(cat)
    out = {}
    with cached_sources(b, CFG) as cache:
        for name in names:
            by = [d for d in ("market", "channel") if d in kpi_dimensions(cat[name], cat)]
            out[name] = compile_kpi(name, b, CFG, grain="week", by=by, cache=cache).execute()
    return out


def _compare(ours: dict[str, pd.DataFrame], theirs: dict[str, pd.DataFrame],
             label: str) -> int:
    """Count KPIs whose values differ from growthloop's (NaN equal to NaN)."""
    bad = 0
    for name, a in ours.items():
        b = theirs[name]
        keys = [c for c in ("period", "market", "channel") if c in a.columns]
        a = a.assign(period=pd.to_datetime(a.period)).set_index(keys).value
        b = b.assign(period=pd.to_datetime(b.period)).set_index(keys).value
        b = b[~b.index.duplicated()]
        both = a.index.intersection(b.index)
        x, y = a.loc[both].astype(float), b.loc[both].astype(float)
        same = np.isclose(x, y, rtol=1e-9, equal_nan=True) | (x.isna() & y.isna())
        extra = len(a.dropna()) - len(x.dropna())
        if not same.all() or extra:
            bad += 1
            print(f"  {label}: {name} differs in {(~same).sum()} of {len(both)} cells"
                  f" ({extra} missing)")
    return bad


def build(users: int, days: int, d: Path, wh: Path) -> Path:
    from growthloop.simulate import simulate

    os.environ.setdefault("GROWTHLOOP_PSEUDONYM_KEY", "benchmark-key-0123456789")
    t0 = time.perf_counter()
    simulate(d / "shop", n_users=users, days=days, seed=3)
    print(f"simulated {users:,} users in {time.perf_counter() - t0:.0f} s")
    con = connect(wh)
    p = pseudonymiser(CFG)
    t0 = time.perf_counter()
    for name in TABLE_FILES:
        ingest_file(con, CFG, name, d / "shop" / f"{name}.parquet", p)
    con.execute("CHECKPOINT")
    con.close()
    print(f"ingested in {time.perf_counter() - t0:.0f} s")
    return wh


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1_750_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--warehouse", type=Path,
                    help="use this warehouse; built from a simulation if it does not exist")
    ap.add_argument("--skip-pandas", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        wh = args.warehouse or Path(tmp) / "w.duckdb"
        if not wh.exists():
            build(args.users, args.days, Path(tmp), wh)
        con = connect(wh, read_only=True)
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
        print(f"events: {n:,}; KPIs: {len(SQL_KPIS)} by market x channel x week")
        timings = {}
        results = {}
        for label, fn in (("growthloop", run_growthloop), ("hand SQL", run_sql),
                          ("pandas", run_pandas)):
            if label == "pandas" and args.skip_pandas:
                continue
            t0 = time.perf_counter()
            results[label] = fn(con)
            timings[label] = time.perf_counter() - t0
            print(f"{label:<12} {timings[label]:8.1f} s")
        for label in results:
            if label != "growthloop":
                bad = _compare(results["growthloop"], results[label], label)
                print(f"{label}: {len(SQL_KPIS) - bad} of {len(SQL_KPIS)} KPIs identical")
        g = timings["growthloop"]
        print(f"growthloop / hand SQL   {g / timings['hand SQL']:6.2f}x  (required <= 1.5x)")
        if "pandas" in timings:
            print(f"pandas / growthloop     {timings['pandas'] / g:6.1f}x  (required >= 10x)")


if __name__ == "__main__":
    main()
