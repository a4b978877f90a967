"""Planted risks in the simulated shop: parsing, no-risk identity, and each kind's effect.

Each risk world is compared with the world of the same seed and size without it: the
effect shows in the planted market from the effective start, and not before it or in
the other markets. Realised rates are compared with what the risk implies within 4
standard errors, each computed from the data.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats

from conftest import assert_close, files_of
from growthloop.core.config import default_config
from growthloop.core.errors import InputError
from growthloop.simulate import Risk, parse_risk, simulate
from growthloop.simulate.calendar import festival_multiplier
from growthloop.simulate.risks import check_risks

START, DAYS, SEED = dt.date(2025, 1, 1), 120, 3
DATE = dt.date(2025, 3, 1)  # day 59 of 120
D = (DATE - START).days
N_USERS = 40_000
EXE = str(Path(sys.executable).with_name("growthloop"))
ORDER_RISKS = (Risk("fulfilment", "ID", DATE, 2.3), Risk("returns", "BR", DATE, 2.0),
               Risk("order_value", "US", DATE, 0.8))
CHURN = Risk("churn", "ID", DATE, 0.5)
CAC = Risk("cac", "DE", DATE, 1.6, "social_ads")
# a festive quarter: 11.11, Black Friday, Cyber Monday, 12.12 and Christmas
P_START, P_DAYS, P_SEED, P_USERS = dt.date(2025, 10, 1), 100, 5, 20_000
PROMOTION = Risk("promotion", "ID", dt.date(2025, 10, 21), 1.0)


def _table(out: Path, name: str) -> pd.DataFrame:
    return pq.read_table(out / f"{name}.parquet").to_pandas()


def _days(ts: pd.Series, start: dt.date = START) -> np.ndarray:
    return ((ts - pd.Timestamp(start)) / pd.Timedelta(days=1)).to_numpy()


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """One world without risks and the same world with each group of risks."""
    out = {}
    for name, risks in (("plain", ()), ("orders", ORDER_RISKS), ("churn", (CHURN,)),
                        ("cac", (CAC,))):
        folder = tmp_path_factory.mktemp(name)
        out[name] = folder, simulate(folder, n_users=N_USERS, days=DAYS, seed=SEED,
                                     start=START, risks=risks)
    return out


@pytest.fixture(scope="module")
def festive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """A festive quarter without and with the promotion in ID failing from October 21."""
    out = {}
    for name, risks in (("plain", ()), ("promotion", (PROMOTION,))):
        folder = tmp_path_factory.mktemp(f"festive-{name}")
        out[name] = folder, simulate(folder, n_users=P_USERS, days=P_DAYS, seed=P_SEED,
                                     start=P_START, risks=risks)
    return out


# --- parsing ------------------------------------------------------------------------------------

def test_parse_risk_reads_the_form() -> None:
    cfg = default_config()
    r = parse_risk("fulfilment:BR:2025-03-01:2.3", cfg, START, DAYS)
    assert r == Risk("fulfilment", "BR", DATE, 2.3)
    assert str(r) == "fulfilment:BR:2025-03-01:2.3"
    c = parse_risk(" cac : DE : social_ads : 2025-03-01 : 1.42 ", cfg, START, DAYS)
    assert c == Risk("cac", "DE", DATE, 1.42, "social_ads")
    assert parse_risk(str(c), cfg, START, DAYS) == c
    assert c.as_dict() == {"kind": "cac", "market": "DE", "channel": "social_ads",
                           "date": "2025-03-01", "size": 1.42}
    assert parse_risk("promotion:ID:2025-10-21:1", cfg, P_START, P_DAYS).size == 1.0


@pytest.mark.parametrize(("text", "problem"), [
    ("fulfilment:BR:2.3", "expected KIND:MARKET[:CHANNEL]:YYYY-MM-DD:SIZE"),
    ("fulfilment:BR::2025-03-01:2.3", "expected KIND:MARKET[:CHANNEL]:YYYY-MM-DD:SIZE"),
    ("strike:BR:2025-03-01:2", "unknown kind 'strike'; expected one of: cac, fulfilment"),
    ("fulfilment:XX:2025-03-01:2", "unknown market 'XX'; expected one of: ID"),
    ("cac:DE:2025-03-01:1.4", "kind 'cac' needs a channel"),
    ("returns:DE:social_ads:2025-03-01:2", "kind 'returns' takes no channel"),
    ("cac:DE:tv:2025-03-01:1.4", "unknown channel 'tv'; expected one of:"),
    ("cac:DE:organic:2025-03-01:1.4", "channel 'organic' (organic) has no spend"),
    ("churn:ID:2025-02-30:0.5", "date"),
    ("churn:ID:2025-06-01:0.5", "date 2025-06-01 is outside the simulated horizon "
                                "2025-01-01 to 2025-04-30"),
    ("churn:ID:2025-03-01:half", "size 'half' is not a number"),
    ("churn:ID:2025-03-01:1.5", "size '1.5' for churn (the share of high-value buyers who "
                                "leave) is not a finite number in (0, 1]"),
    ("order_value:US:2025-03-01:1.2", "in (0, 1)"),
    ("cac:DE:social_ads:2025-03-01:0.9", "size '0.9' for cac (the factor of the acquisition "
                                         "cost) is not a finite number in (1, 10]"),
    ("fulfilment:BR:2025-03-01:0", "in (0, 60]"),
    ("fulfilment:BR:2025-03-01:61", "in (0, 60]"),
    ("returns:ID:2025-03-01:nan", "size 'nan' for returns"),
    ("promotion:ID:2025-01-10:1", "no festival lifts demand in ID from 2025-01-10 to the "
                                  "horizon end 2025-04-30"),
])
def test_parse_risk_names_the_bad_part(text: str, problem: str) -> None:
    with pytest.raises(InputError) as e:
        parse_risk(text, default_config(), START, DAYS)
    assert str(e.value).startswith(f"risk {text!r}: ") and problem in str(e.value)


def test_bad_risk_objects_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    cfg = default_config()
    with pytest.raises(InputError, match="expected a Risk"):
        check_risks(["fulfilment:BR:2025-03-01:2"], cfg, START, DAYS)  # type: ignore[list-item]
    with pytest.raises(InputError, match=r"risk churn:ID:2025-03-01:0: size 0 for churn"):
        check_risks([Risk("churn", "ID", DATE, 0)], cfg, START, DAYS)
    with pytest.raises(InputError, match="unknown market 'XX'"):
        simulate(tmp_path / "o", n_users=500, days=DAYS, risks=[Risk("returns", "XX", DATE, 2)])
    assert not (tmp_path / "o").exists()


# --- no risks -----------------------------------------------------------------------------------

def test_no_risks_gives_the_files_of_a_world_without_them(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    truth = simulate(a, n_users=2_000, days=60, seed=11)
    simulate(b, n_users=2_000, days=60, seed=11, risks=())
    simulate(c, n_users=2_000, days=60, seed=11, risks=[])
    assert files_of(a) == files_of(b) == files_of(c)
    assert "risks" not in truth and "risk_definitions" not in truth
    assert "shock" not in truth["media_definitions"]


# --- order risks: fulfilment, returns, order value ----------------------------------------------

def _matched_orders(worlds: dict[str, tuple[Path, dict]], name: str) -> pd.DataFrame:
    """The orders of the plain world and of ``name`` side by side (same user and time)."""
    plain, risky = _table(worlds["plain"][0], "orders"), _table(worlds[name][0], "orders")
    both = plain.merge(risky, on=["order_id", "user_id", "order_ts", "market", "currency"],
                       suffixes=("_plain", "_risk"), validate="1:1")
    assert len(both) == len(plain) == len(risky)
    return both.assign(t=_days(both.order_ts))


def test_order_risks_leave_other_markets_and_earlier_orders_as_they_were(
        worlds: dict[str, tuple[Path, dict]]) -> None:
    both = _matched_orders(worlds, "orders")
    hit = both.market.isin(["ID", "BR", "US"]) & (both.t >= D)
    same = both[~hit]
    assert len(same) > 0.6 * len(both)
    for col in ("amount", "status", "delivered_ts"):
        a, b = same[f"{col}_plain"], same[f"{col}_risk"]
        assert ((a == b) | (a.isna() & b.isna())).all(), col
    plain, risky = worlds["plain"][0], worlds["orders"][0]
    for name in ("users", "ad_spend", "fx_rates", "referrals", "experiment_assignments"):
        assert (plain / f"{name}.parquet").read_bytes() == (
            risky / f"{name}.parquet").read_bytes(), name
    # the answers of every market but the slower one are the same answers
    sp, sr = _table(plain, "surveys"), _table(risky, "surveys")
    cols = ["user_id", "response_ts", "score"]
    assert sp[sp.market != "ID"][cols].reset_index(drop=True).equals(
        sr[sr.market != "ID"][cols].reset_index(drop=True))


def test_fulfilment_risk_adds_its_days_to_deliveries_in_its_market(
        worlds: dict[str, tuple[Path, dict]]) -> None:
    truth = worlds["orders"][1]
    assert truth["risks"][0] == {"kind": "fulfilment", "market": "ID", "channel": None,
                                 "date": "2025-03-01", "effective_start": "2025-03-01",
                                 "size": 2.3, "kpis": ["fulfilment_time", "nps"],
                                 "orders_affected": truth["risks"][0]["orders_affected"]}
    both = _matched_orders(worlds, "orders")
    hit = both[(both.market == "ID") & (both.t >= D)]
    assert truth["risks"][0]["orders_affected"] == len(hit) > 300
    assert (hit.amount_plain == hit.amount_risk).all()
    delivered = hit.delivered_ts_plain.notna() & hit.delivered_ts_risk.notna()
    assert not (hit.delivered_ts_risk.notna() & hit.delivered_ts_plain.isna()).any()
    shift = _days(hit.delivered_ts_risk[delivered]) - _days(hit.delivered_ts_plain[delivered])
    np.testing.assert_allclose(shift, 2.3, atol=1e-6)  # every delivery, to the microsecond
    # the fulfilment_time KPI: mean days to delivery over delivered orders by order time
    def fulfilment_time(col: str) -> float:
        d = hit[hit[col].notna()]
        return float(np.mean(_days(d[col]) - d.t))
    gain = fulfilment_time("delivered_ts_risk") - fulfilment_time("delivered_ts_plain")
    assert 1.9 < gain < 2.4, gain  # a little under 2.3: late ones are not delivered yet


def _nps(scores: pd.Series) -> float:
    return 100.0 * (np.mean(scores >= 9) - np.mean(scores <= 6))


def test_fulfilment_risk_lowers_nps_with_the_usual_slow_threshold(
        worlds: dict[str, tuple[Path, dict]]) -> None:
    truth = worlds["plain"][1]
    sp, sr = (_table(worlds[k][0], "surveys") for k in ("plain", "orders"))
    sp, sr = sp[sp.market == "ID"], sr[sr.market == "ID"]

    def keyed(s: pd.DataFrame, shift: float) -> pd.DataFrame:
        return s.assign(key=np.rint((_days(s.response_ts) + shift) * 86_400e6).astype(np.int64))

    # each answer is the plain world's answer: at the same time about an earlier order
    # (the same score), or 2.3 days later about an order from the date, the same or worse
    # (the same uniforms, a slow delivery's worse categories)
    same = keyed(sr, 0.0).merge(keyed(sp, 0.0), on=["user_id", "key"],
                                suffixes=("_risk", "_plain"))
    pairs = keyed(sr, 0.0).merge(keyed(sp, 2.3), on=["user_id", "key"],
                                 suffixes=("_risk", "_plain"))
    assert len(same) + len(pairs) == len(sr) and len(pairs) > 200
    assert (same.score_risk == same.score_plain).all()
    assert (_days(pairs.response_ts_risk) >= D).all()
    assert (pairs.score_risk <= pairs.score_plain).all()
    worse = float((pairs.score_risk < pairs.score_plain).mean())
    # P(slow): delivery > 1.5 x the region's usual mean, Gamma(shape, scale) (+ 2.3 days)
    g = truth["fulfilment"]["delivery_days_gamma"]["ID"]
    threshold = 1.5 * g["mean"]
    p_slow = stats.gamma.sf(threshold, g["shape"], scale=g["scale"])
    p_slow_risk = stats.gamma.sf(threshold - 2.3, g["shape"], scale=g["scale"])
    normal = truth["nps"]["category_probabilities_normal"]["ID"]
    slow = truth["nps"]["category_probabilities_slow"]["ID"]
    nps_normal = 100.0 * (normal["promoter"] - normal["detractor"])
    nps_slow = 100.0 * (slow["promoter"] - slow["detractor"])
    drop = (p_slow_risk - p_slow) * (nps_normal - nps_slow)
    assert drop > 10.0
    realised = _nps(pairs.score_plain) - _nps(pairs.score_risk)
    # the per-answer change in points (0, 100 or 200 x 1/n): its standard error
    delta = 100.0 * (((pairs.score_plain >= 9) & ~(pairs.score_risk >= 9)).astype(float)
                     + ((pairs.score_risk <= 6) & ~(pairs.score_plain <= 6)).astype(float))
    assert_close(realised, drop, float(delta.std(ddof=1) / math.sqrt(len(pairs))),
                  "NPS points lost to the slower deliveries")
    assert worse > 0.05


def test_returns_risk_scales_the_return_rate_in_its_market(
        worlds: dict[str, tuple[Path, dict]]) -> None:
    both = _matched_orders(worlds, "orders")
    br = both[(both.market == "BR") & (both.t >= D)]
    assert (br.status_plain == "cancelled").equals(br.status_risk == "cancelled")
    assert not ((br.status_plain == "returned") & (br.status_risk != "returned")).any()
    # the return_rate KPI over orders old enough for their returns to be in the horizon
    mature = br[(br.t < DAYS - 40) & (br.status_plain != "cancelled")]
    r1 = float((mature.status_plain == "returned").mean())
    r2 = float((mature.status_risk == "returned").mean())
    n = len(mature)
    assert n > 250
    rel_se = math.sqrt((1 - r1) / (n * r1) + (1 - r2) / (n * r2))
    assert_close(r2 / r1, 2.0, 2.0 * rel_se, "return rate with / without the risk")
    before = both[(both.market == "BR") & (both.t < D)]
    assert before.status_plain.equals(before.status_risk)


def test_order_value_risk_scales_order_values_in_its_market(
        worlds: dict[str, tuple[Path, dict]]) -> None:
    both = _matched_orders(worlds, "orders")
    us = both[(both.market == "US") & (both.t >= D)]
    assert len(us) > 300
    np.testing.assert_allclose(us.amount_risk / us.amount_plain, 0.8, rtol=1e-12)
    assert us.status_plain.equals(us.status_risk)
    before = both[(both.market == "US") & (both.t < D)]
    assert before.amount_plain.equals(before.amount_risk)
    kept = us.status_risk.isin(["delivered", "shipped", "paid"])
    aov = us.amount_risk[kept].mean() / us.amount_plain[kept].mean()
    assert aov == pytest.approx(0.8, rel=1e-12)


# --- churn --------------------------------------------------------------------------------------

def test_churn_removes_the_later_orders_of_a_share_of_high_value_buyers(
        worlds: dict[str, tuple[Path, dict]]) -> None:
    (plain, _), (churned, truth) = worlds["plain"], worlds["churn"]
    record = truth["risks"][0]
    assert {k: record[k] for k in ("kind", "market", "channel", "date", "effective_start",
                                   "size", "kpis")} == {
        "kind": "churn", "market": "ID", "channel": None, "date": "2025-03-01",
        "effective_start": "2025-03-01", "size": 0.5,
        "kpis": ["revenue", "repurchase_rate", "buyers"]}
    top, gone = set(record["high_value_user_ids"]), set(record["churned_user_ids"])
    po, ro = _table(plain, "orders"), _table(churned, "orders")
    po, ro = po.assign(t=_days(po.order_ts)), ro.assign(t=_days(ro.order_ts))
    first = po.groupby("user_id").t.min()
    buyers = first[(first < D) & first.index.isin(po.user_id[po.market == "ID"])]
    assert record["high_value_buyers"] == len(top) == round(0.2 * len(buyers))
    assert record["churned_buyers"] == len(gone) == round(0.5 * len(top)) and gone <= top
    assert top <= set(buyers.index)
    # the high-value buyers buy more often after the date than the other buyers
    after = po[po.t >= D].groupby("user_id").size().reindex(buyers.index, fill_value=0)
    assert after[list(top)].mean() > 3 * after.drop(list(top)).mean()
    # their orders from the date are gone; every other order is as it was
    removed = po.user_id.isin(gone) & (po.t >= D)
    cols = ["user_id", "order_ts", "market", "amount", "status", "delivered_ts"]
    assert po[~removed][cols].reset_index(drop=True).equals(ro[cols].reset_index(drop=True))
    assert not (ro.user_id.isin(gone) & (ro.t >= D)).any()
    assert record["orders_removed"] == int(removed.sum()) == len(po) - len(ro)
    # the share of the high-value buyers' later orders removed is about the share that left:
    # k of n buyers drawn without replacement (finite-population variance of their sum)
    x = after[list(top)].to_numpy(float)
    n, k = len(x), len(gone)
    assert record["high_value_orders_after"] == int(x.sum()) > 100
    sd = math.sqrt(k * (1 - k / n) * x.var(ddof=1))
    assert_close(record["orders_removed"], 0.5 * x.sum(), sd, "high-value orders removed")
    # the KPIs named: revenue and buyers of ID after the date fall, repurchase rate too
    def kpis(o: pd.DataFrame) -> tuple[float, int, float]:
        m = o[(o.market == "ID") & (o.t >= D) & ~o.status.isin(["cancelled", "returned"])]
        returning = m.user_id.map(first) < m.t
        return m.amount.sum(), m.user_id.nunique(), m.user_id[returning].nunique() / max(
            m.user_id.nunique(), 1)
    (rev0, buy0, rep0), (rev1, buy1, rep1) = kpis(po), kpis(ro)
    assert rev1 < 0.97 * rev0 and buy1 < buy0 and rep1 < rep0
    assert kpis(po[po.market != "ID"]) == kpis(ro[ro.market != "ID"])


def test_churn_keeps_the_tables_consistent(worlds: dict[str, tuple[Path, dict]]) -> None:
    (plain, _), (churned, truth) = worlds["plain"], worlds["churn"]
    gone = set(truth["risks"][0]["churned_user_ids"])
    orders = _table(churned, "orders")
    events = pq.read_table(churned / "events.parquet",
                           columns=["user_id", "event_type", "event_ts", "properties",
                                    "value"]).to_pandas()
    buys = events[events.event_type == "purchase"]
    ids = buys.properties.str.extract(r'"order_id":"(o\d+)"')[0]
    assert sorted(ids) == sorted(orders.order_id)
    merged = orders.merge(buys.assign(order_id=ids.to_numpy()), on="order_id")
    # as in a world without risks, a few purchases in the horizon's last hour are anonymous
    anonymous = merged.user_id_y.isna()
    assert ((merged.user_id_x == merged.user_id_y) | anonymous).all() and anonymous.sum() <= 5
    assert (merged.event_ts == merged.order_ts).all()
    np.testing.assert_allclose(merged.value, merged.amount)
    refunds = events[events.event_type == "refund"]
    assert len(refunds) == int((orders.status == "returned").sum())
    late = events.user_id.isin(gone) & (_days(events.event_ts) >= D)
    assert not (late & (events.event_type == "purchase")).any()
    # surveys answer delivered orders of their user; free-shipping units still order in it
    surveys = _table(churned, "surveys")
    assert set(surveys.user_id) <= set(orders.user_id[orders.delivered_ts.notna()])
    exp = _table(churned, "experiment_assignments")
    ship = exp[exp.experiment_id == "free_shipping_threshold"]
    window = truth["experiments"]["free_shipping_threshold"]["window_days"]
    t = _days(orders.order_ts)
    ordering = set(orders.user_id[(t >= window[0]) & (t < window[1])])
    assert set(ship.unit_id) == ordering
    was = _table(plain, "experiment_assignments")
    was = was[was.experiment_id == "free_shipping_threshold"]
    assert set(ship.unit_id) <= set(was.unit_id)
    assert set(was.unit_id) - set(ship.unit_id) <= gone


# --- cac ----------------------------------------------------------------------------------------

def _paid_by_pair_and_day(out: Path, start: dt.date, days: int) -> dict[str, np.ndarray]:
    users = _table(out, "users")
    paid = users[users.acquisition_campaign.notna()]
    day = np.floor(_days(paid.signup_ts, start)).astype(int)
    key = (paid.market + "|" + paid.acquisition_channel).to_numpy()
    return {k: np.bincount(day[key == k], minlength=days) for k in sorted(set(key))}


def test_cac_risk_makes_the_channel_bring_fewer_signups_for_the_same_spend(
        worlds: dict[str, tuple[Path, dict]]) -> None:
    (plain, plain_truth), (risky, truth) = worlds["plain"], worlds["cac"]
    assert truth["risks"] == [{"kind": "cac", "market": "DE", "channel": "social_ads",
                               "date": "2025-03-01", "effective_start": "2025-03-01",
                               "size": 1.6, "kpis": ["cac", "cost_per_signup"],
                               "media_pair": "DE|social_ads", "effectiveness": 0.625}]
    assert "shocks" not in truth and "shock" in truth["media_definitions"]
    shock = truth["media"]["DE|social_ads"]["shock"]
    assert shock["effectiveness_from"] == [["2025-03-01", 0.625]]
    for name in ("ad_spend.parquet", "fx_rates.parquet"):
        assert (plain / name).read_bytes() == (risky / name).read_bytes(), name
    was, now = (_paid_by_pair_and_day(w, START, DAYS) for w in (plain, risky))
    for key in was:
        if key != "DE|social_ads":
            assert np.array_equal(was[key], now[key]), key
    w, n = was["DE|social_ads"], now["DE|social_ads"]
    assert np.array_equal(w[:D], n[:D]) and np.all(n[D:] <= w[D:])
    # each planned sign-up after the date is kept with probability 1 / 1.6
    kept, planned = n[D:].sum(), w[D:].sum()
    assert planned > 400
    assert_close(kept, planned / 1.6, math.sqrt(planned * 0.625 * 0.375), "sign-ups kept")
    assert shock["after"]["signups_expected"] == pytest.approx(
        0.625 * shock["after"]["signups_planned"], rel=1e-12)
    # cost per paid sign-up after the date (the same spend): 1.6 times
    spend = shock["after"]["spend"]
    assert spend == plain_truth["media"]["DE|social_ads"]["spend_total"] - shock["before"]["spend"]
    assert (spend / kept) / (spend / planned) == pytest.approx(planned / kept)
    # the cac KPI: spend over the pair's new customers (first order from the date)
    def new_customers(out: Path) -> int:
        users, orders = _table(out, "users"), _table(out, "orders")
        pair = users.user_id[(users.market == "DE")
                             & (users.acquisition_channel == "social_ads")]
        first = orders[orders.user_id.isin(pair)].groupby("user_id").order_ts.min()
        return int((_days(first) >= D).sum())
    b0, b1 = new_customers(plain), new_customers(risky)
    assert b0 > 100
    assert_close(b0 / b1, 1.6, 1.6 * math.sqrt(1 / b0 + 1 / b1), "cac with / without the risk")


# --- promotion ----------------------------------------------------------------------------------

def _festival(start: dt.date, days: int) -> np.ndarray:
    dates = np.datetime64(start, "D") + np.arange(days)
    return festival_multiplier(dates, "South-East Asia", start, days)


def _daily(ts: pd.Series) -> np.ndarray:
    return np.bincount(np.floor(_days(ts, P_START)).astype(int), minlength=P_DAYS)


def test_promotion_risk_starts_at_the_first_festival_day(
        festive: dict[str, tuple[Path, dict]]) -> None:
    truth = festive["promotion"][1]
    f = _festival(P_START, P_DAYS)
    d0 = (PROMOTION.date - P_START).days
    lifted = np.flatnonzero((f > 1.0) & (np.arange(P_DAYS) >= d0))
    record = truth["risks"][0]
    assert record["effective_start"] == "2025-11-08" == str(
        P_START + dt.timedelta(days=int(lifted[0])))  # three days before 11.11
    assert record["festival_days"] == [str(P_START + dt.timedelta(days=int(d)))
                                       for d in lifted]
    assert record["kpis"] == ["new_users", "organic_sessions", "active_users", "revenue",
                              "buyers"]
    plain = festive["plain"][0]
    for name in ("ad_spend.parquet", "fx_rates.parquet"):  # spend stays as planned
        assert (plain / name).read_bytes() == (festive["promotion"][0] / name).read_bytes()


def test_promotion_risk_thins_signups_on_festival_days_only(
        festive: dict[str, tuple[Path, dict]]) -> None:
    f = _festival(P_START, P_DAYS)
    eff = (dt.date(2025, 11, 8) - P_START).days
    fest = (f > 1.0) & (np.arange(P_DAYS) >= eff)
    seeds = {}
    for name, (out, _) in festive.items():
        u = _table(out, "users")
        u = u[u.referrer_id.isna()]  # seed sign-ups: paid, organic and owned
        seeds[name] = {(m, paid): _daily(g.signup_ts) for (m, paid), g in
                       u.groupby([u.market, u.acquisition_campaign.notna()])}
    assert seeds["plain"].keys() == seeds["promotion"].keys()
    for key, was in seeds["plain"].items():
        now = seeds["promotion"][key]
        if key[0] != "ID":
            assert np.array_equal(was, now), key  # every other market's seeds, every day
            continue
        assert np.array_equal(was[:eff], now[:eff]), key  # before the first festival day
        if not key[1]:  # organic and owned: between festivals too (paid carries over)
            assert np.array_equal(was[~fest], now[~fest]), key
        assert np.all(now <= was), key
    # organic and owned seeds on a festival day are kept with probability 1 / f
    was, now = seeds["plain"]["ID", False], seeds["promotion"]["ID", False]
    p = 1.0 / f[fest]
    assert_close(now[fest].sum(), (was[fest] * p).sum(),
                  math.sqrt((was[fest] * p * (1 - p)).sum()), "organic seeds kept")
    paid_was, paid_now = seeds["plain"]["ID", True], seeds["promotion"]["ID", True]
    assert paid_now[fest].sum() < 0.9 * paid_was[fest].sum()


def test_promotion_risk_removes_the_festival_peak_of_signups_and_sessions(
        festive: dict[str, tuple[Path, dict]]) -> None:
    f = _festival(P_START, P_DAYS)
    after = np.arange(P_DAYS) >= (dt.date(2025, 11, 8) - P_START).days
    peak, normal = (f > 1.5) & after, (f == 1.0) & after
    lifts = {}
    for name, (out, _) in festive.items():
        users = _table(out, "users")
        events = pq.read_table(out / "events.parquet",
                               columns=["event_ts", "event_type", "market", "user_id"]
                               ).to_pandas()
        starts = events[(events.event_type == "session_start") & (events.market == "ID")]
        series = {"signups": _daily(users.signup_ts[users.market == "ID"]),
                  "sessions": _daily(starts.event_ts),
                  "anonymous": _daily(starts.event_ts[starts.user_id.isna()]),
                  "signups_DE": _daily(users.signup_ts[users.market == "DE"])}
        lifts[name] = {k: (v[peak].mean() / v[normal].mean(),
                           math.sqrt(1 / v[peak].sum() + 1 / v[normal].sum()))
                       for k, v in series.items()}
    for k in ("signups", "sessions", "anonymous"):
        (was, _), (now, se) = lifts["plain"][k], lifts["promotion"][k]
        assert was > 1.15, (k, was)  # the festival peak without the risk
        assert_close(now, 1.0, now * se, f"{k} on festival peaks over normal days")
    (was, se0), (now, se1) = lifts["plain"]["signups_DE"], lifts["promotion"]["signups_DE"]
    assert_close(now, was, math.hypot(now * se1, was * se0), "DE sign-up peak")


# --- command line -------------------------------------------------------------------------------

def test_simulate_command_plants_risks(tmp_path: Path) -> None:
    risks = ["fulfilment:BR:2025-03-01:2.3", "cac:DE:social_ads:2025-02-01:1.42"]
    r = subprocess.run([EXE, "simulate", "--users", "3000", "--days", "120", "--seed", "2",
                        *(a for x in risks for a in ("--risk", x)), "--out", "o", "--json"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["risks"] == [
        {"kind": "fulfilment", "market": "BR", "channel": None, "date": "2025-03-01",
         "size": 2.3},
        {"kind": "cac", "market": "DE", "channel": "social_ads", "date": "2025-02-01",
         "size": 1.42}]
    truth = json.loads((tmp_path / "o" / "truth.json").read_text())
    assert [(x["kind"], x["effective_start"], x["kpis"]) for x in truth["risks"]] == [
        ("fulfilment", "2025-03-01", ["fulfilment_time", "nps"]),
        ("cac", "2025-02-01", ["cac", "cost_per_signup"])]
    assert truth["risk_definitions"]["fulfilment"].startswith("orders placed in the market")
    bad = subprocess.run([EXE, "simulate", "--days", "60", "--risk", "cac:DE:2025-02-01:1.4",
                          "--out", "p"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1 and bad.stdout == ""
    assert "risk 'cac:DE:2025-02-01:1.4': kind 'cac' needs a channel" in bad.stderr
    assert bad.stderr.count("\n") == 1 and not (tmp_path / "p").exists()
