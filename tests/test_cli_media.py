"""``growthloop mmm fit`` run as the real executable: a user's weekly table and the
warehouse (JSON on stdout, a chart, one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import media_project
from growthloop.decide.media import fit_mmm, mmm_panel, mmm_table_file
from growthloop.warehouse import connect
from test_cli import run
from test_models_mmm import _panel


@pytest.fixture(scope="module")
def weekly(tmp_path_factory) -> tuple[Path, np.ndarray]:
    d = tmp_path_factory.mktemp("mmm-file")
    df, true, _ = _panel()
    df.to_csv(d / "weekly.csv", index=False)
    return d / "weekly.csv", true


def test_fit_a_weekly_file_as_json(weekly, tmp_path) -> None:
    path, true = weekly
    r = run("mmm", "fit", "--data", str(path), "--date", "week", "--target", "y", "--spend",
            "c0,c1,c2", "--market", "market", "--draws", "200", "--chart", "curves.html",
            "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["markets"] == ["m0", "m1", "m2"] and doc["channels"] == ["c0", "c1", "c2"]
    assert doc["grain_days"] == 7 and doc["periods"] == ["2023-01-02", "2025-12-22"]
    rows = doc["rows"]
    assert [(x["market"], x["channel"]) for x in rows] == [
        (m, c) for m in ("m0", "m1", "m2") for c in ("c0", "c1", "c2")]
    got = np.array([x["per_spend"] for x in rows])
    assert np.median(np.abs(got / true.ravel() - 1)) < 0.2
    # the command reports what the library computes on the same file
    _, table = fit_mmm(mmm_table_file(path, date="week", target="y", spend=["c0", "c1", "c2"],
                                      market="market"), draws=200)
    np.testing.assert_allclose(got, table.per_spend, rtol=1e-6)
    assert doc["diagnostics"]["converged"] is True
    html = (tmp_path / "curves.html").read_text()
    assert "Response curves" in html and html.count('"name":"c1"') == 3  # one per market


def test_table_output_and_errors(weekly, tmp_path) -> None:
    path, _ = weekly
    r = run("mmm", "fit", "--data", str(path), "--target", "y", "--spend", "c0,c1,c2",
            "--market", "market", "--draws", "100", "--holdout", "8", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Marketing-mix model: y caused by each channel's spend" in r.stdout
    assert "holdout WAPE" in r.stdout
    money = run("mmm", "fit", "--data", str(path), "--target", "y", "--spend", "c0,c1,c2",
                "--market", "market", "--draws", "100", "--money", "--json", cwd=tmp_path)
    assert money.returncode == 0, money.stderr
    for x in json.loads(money.stdout)["rows"]:  # revenue: ROAS is the outcome per spend
        assert x["roas"] == pytest.approx(x["per_spend"]) and x["roi"] == pytest.approx(
            x["per_spend"] - 1)
    bad = run("mmm", "fit", "--data", str(path), "--target", "y", "--spend", "c0,cX",
              "--market", "market", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        f"error: {path}: no column 'cX'; it has market, week, y, c0, c1, c2"]
    none = run("mmm", "fit", "--data", str(path), "--target", "y", cwd=tmp_path)
    assert none.returncode == 1 and "--data needs --target" in none.stderr


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """A project over 30,000 simulated users and two years."""
    return media_project(tmp_path_factory.mktemp("mmm-shop"), n_users=30_000, days=730,
                         seed=5)


def test_warehouse_panel_and_fit(shop) -> None:
    from growthloop.core.config import default_config
    from growthloop.warehouse import ibis_backend

    con = connect(shop / ".growthloop" / "warehouse.duckdb", read_only=True)
    try:
        cfg = default_config()
        panel = mmm_panel(ibis_backend(con), cfg)
        users = con.sql("SELECT market, date_trunc('week', signup_ts) AS w, count(*) AS n "
                        "FROM users GROUP BY ALL").df()
        first, last = con.sql("SELECT min(signup_ts)::DATE, max(signup_ts)::DATE "
                              "FROM users").fetchone()
    finally:
        con.close()
    assert panel.markets == ["BR", "DE", "FR", "ID", "MX", "SG", "TH", "US"]
    assert panel.channels == ["live_commerce", "search_ads", "short_video", "social_ads"]
    # complete ISO weeks only: Monday to Sunday inside the days the data cover
    weeks = pd.date_range(first + pd.Timedelta(days=(7 - first.weekday()) % 7),
                          last - pd.Timedelta(days=6), freq="7D")
    assert panel.period_days == 7 and list(panel.periods) == list(weeks)
    assert len(weeks) >= 95
    # the outcome is the week's sign-ups, counted here in SQL
    want = users.set_index(["market", "w"]).n
    i = panel.markets.index("ID")
    got = panel.y[i]
    assert got.tolist() == [want[("ID", p)] for p in panel.periods]
    assert "festival_11_11" in panel.controls
    r = run("mmm", "fit", "--json", "--draws", "100", cwd=shop)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["source"] == "warehouse" and doc["target"] == "new_users"
    assert len(doc["rows"]) == 32 and doc["currency"] == "USD"
    spend = {(x["market"], x["channel"]): x["spend"] for x in doc["rows"]}
    assert spend[("ID", "live_commerce")] == pytest.approx(
        panel.x[i, 0].sum(), rel=1e-9)
    # the fit is stored under its version: the same numbers, read back from the warehouse
    version = doc["model_version"]
    assert version.startswith("mmm-map/0.1.0/") and version in r.stderr
    con = connect(shop / ".growthloop" / "warehouse.duckdb", read_only=True)
    try:
        stored = con.execute("SELECT market, channel, per_spend, half_life_days FROM "
                             "mmm_channels WHERE model_version = ? ORDER BY ALL",
                             [version]).fetchall()
        contrib = con.execute("SELECT sum(contribution), count(*) FROM mmm_contributions "
                              "WHERE model_version = ? AND market = 'ID' AND channel = "
                              "'live_commerce'", [version]).fetchone()
    finally:
        con.close()
    assert stored == sorted((x["market"], x["channel"], x["per_spend"], x["half_life_days"])
                            for x in doc["rows"])
    row = next(x for x in doc["rows"] if (x["market"], x["channel"]) == ("ID",
                                                                        "live_commerce"))
    assert contrib[0] == pytest.approx(row["contribution"], rel=1e-9)
    assert contrib[1] == len(panel.periods)


def test_budget_plan_as_json_and_table(shop) -> None:
    r = run("budget", "--json", "--draws", "100", "--max-step", "0.2", "--exploration",
            "0.05", "--refit", cwd=shop)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["refitted"] is True and "fitted and stored the model" in r.stderr
    # the next plan reads the stored fit of the same period: the same plan, no refit
    again = json.loads(run("budget", "--json", "--max-step", "0.2", cwd=shop).stdout)
    assert again["refitted"] is False and again["model_version"] == doc["model_version"]
    assert again["pairs"] == doc["pairs"]
    # the channel figures show the stored model's incremental return beside attribution
    roi = json.loads(run("roi", "--period", "all", "--json", cwd=shop).stdout)
    assert roi["incremental"]["model_version"] == doc["model_version"]
    assert len(roi["incremental"]["rows"]) == 32
    pairs = doc["pairs"]
    assert len(pairs) == 32 and doc["target"] == "new_users"
    current = sum(p["current"] for p in pairs)
    planned = sum(p["planned"] for p in pairs)
    # the whole budget less the 5 % exploration reserve, each pair within +-20 %
    assert planned == pytest.approx(0.95 * current, rel=1e-6)
    assert doc["exploration"] == pytest.approx(0.05 * current, rel=1e-6)
    for p in pairs:
        assert 0.8 * p["current"] - 1e-6 <= p["planned"] <= 1.2 * p["current"] + 1e-6, p
    totals = {t["plan"]: t for t in doc["totals"]}
    assert totals["plan"]["spend"] == pytest.approx(planned)
    # under the model the plan does at least as well as the current one with 5 % more
    assert totals["plan"]["outcome"] >= totals["current"]["outcome"]
    assert doc["period_starting"] > "2026-11-01"
    table = run("budget", "--draws", "100", cwd=shop)
    assert table.returncode == 0, table.stderr
    assert "Budget for the period from" in table.stdout and "binding:" in table.stdout
    bad = run("budget", "--exploration", "0.9", cwd=shop)
    assert bad.returncode == 1 and "exploration_share" in bad.stderr
    floor = run("budget", "--min-marginal-roi", "0.5", cwd=shop)
    assert floor.returncode == 1 and "needs a money outcome" in floor.stderr


def test_demo_shows_the_mmm_and_next_weeks_budget(tmp_path) -> None:
    r = run("demo", "--dir", "d", "--users", "5000", "--json", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    mmm = doc["mmm"]
    assert len(mmm) == 32 and all(
        x["per_spend_low"] <= x["per_spend"] <= x["per_spend_high"] for x in mmm)
    pairs = doc["budget"]["pairs"]
    current = sum(p["current"] for p in pairs)
    assert sum(p["planned"] for p in pairs) == pytest.approx(0.95 * current, rel=1e-6)
    assert doc["budget"]["period_starting"] > "2025-12-01"
    # the simulated experiments are registered, analysed and recorded in the knowledge base
    verdicts = {e["experiment_id"]: e for e in doc["experiments"]}
    assert set(verdicts) == {"checkout_redesign", "free_shipping_threshold", "winback_coupon"}
    assert all(e["verdict"] in ("ship", "don't ship") and e["reason"]
               for e in verdicts.values())
    assert {k["experiment_id"] for k in doc["knowledge"]} == set(verdicts)
    # the growth loops: K per market (each inside its interval), audiences, triggers
    k = {r["market"]: r for r in doc["referrals"]}
    assert len(k) == 8 and all(0 < r["k_low"] <= r["k"] <= r["k_high"] < 1 for r in k.values())
    sizes = {a["name"]: a["size"] for a in doc["audiences"]}
    assert set(sizes) == {"dormant_high_value", "likely_to_buy_again"}
    trig = {t["trigger"]: t for t in doc["triggers"]}
    assert set(trig) == {"win_back", "vip_care", "second_purchase"}
    assert all(t["entered"] == t["members"] and t["left"] == 0 for t in trig.values())
    # the watch: the last 28 days' alerts over the watched KPIs, the risk monitors
    watch = doc["alerts"]
    assert watch["since"] == "2025-12-04" and "cost_per_signup" in watch["kpis"]
    # December's weeks are the Christmas run-up, whose lift a first year cannot know: the
    # days outside festival windows are judged, those weeks are not
    assert watch["periods_checked"]["day"] > 0 and watch["periods_checked"]["week"] == 0
    monitors = {f["monitor"] for f in doc["risks"]["findings"]}
    assert {"cac", "order value", "returns", "fulfilment", "high-value churn"} <= monitors
    assert all(f["status"] in ("ok", "warn", "alert", "no data")
               for f in doc["risks"]["findings"])
    # the annual goal forecast as of its last quarter's start, the year's outcome beside it
    fc = doc["forecast"]
    year = next(g for g in doc["goals"] if g["goal"] == "new_users_2025")
    assert (fc["goal"], fc["as_of"], fc["days_left"]) == ("new_users_2025", "2025-10-01", 92)
    assert fc["low"] < fc["projection"] < fc["high"] and fc["actual"] < fc["projection"]
    assert fc["outcome"] == pytest.approx(year["actual"])
    p = fc["probabilities"]
    assert 1 >= p["base"] >= p["target"] >= p["challenge"] >= 0
    assert [n["dim"] for n in fc["needs"]] == ["all"] + ["market"] * 8 + ["channel"] * 7
    # the text run prints the same sections, the loops' numbers among them
    text = run("demo", "--dir", "d", "--users", "5000", cwd=tmp_path, timeout=300)
    assert "Marketing-mix model" in text.stdout and "Budget for the period" in text.stdout
    assert "Experiments: verdicts" in text.stdout and "Knowledge base" in text.stdout
    assert "Viral coefficient K by market" in text.stdout and "Lifecycle triggers" in text.stdout
    assert "dormant_high_value" in text.stdout
    assert "Risk monitors:" in text.stdout and "A day more of delivery" in text.stdout
    assert "Forecast of new_users for 2025 as of 2025-10-01" in text.stdout
    assert "2025 ended at" in text.stdout and "Growth each quarter left needs" in text.stdout


def test_lift_tests_from_a_file_narrow_their_channel(weekly, tmp_path) -> None:
    path, _ = weekly
    df = pd.read_csv(path)
    mean = df[df.market == "m1"].c0.mean()
    lift = tmp_path / "lift.csv"
    # a holdout of m1 / c0 measured on its true curve: beta 0.24 x scale 300 x hill(1, 1,
    # 1.5) = 36 sign-ups a week lost without its spend (``test_models_mmm._panel``)
    pd.DataFrame([{"market": "m1", "channel": "c0", "spend": mean, "delta_spend": -mean,
                   "lift": -36.0, "lift_se": 1.8}]).to_csv(lift, index=False)
    args = ("mmm", "fit", "--data", str(path), "--target", "y", "--spend", "c0,c1,c2",
            "--market", "market", "--draws", "200", "--json")
    plain = json.loads(run(*args, cwd=tmp_path).stdout)
    r = run(*args, "--lift-tests", str(lift), cwd=tmp_path)
    assert r.returncode == 0, r.stderr

    def width(doc: dict) -> float:
        row = next(x for x in doc["rows"] if (x["market"], x["channel"]) == ("m1", "c0"))
        return row["per_spend_high"] - row["per_spend_low"]

    assert width(json.loads(r.stdout)) < 0.8 * width(plain)
    pd.DataFrame([{"market": "m9", "channel": "c0", "spend": 1, "delta_spend": 1,
                   "lift": 1, "lift_se": 1}]).to_csv(lift, index=False)
    bad = run(*args, "--lift-tests", str(lift), cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (f"error: {lift}: row 1, field 'market': value 'm9'; "
                                  "expected one of m0, m1, m2")
