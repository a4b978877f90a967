"""The real ``growthloop`` command in a subprocess: JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import KEY, write_csv
from test_ingest_rules import GOOD

EXE = str(Path(sys.executable).with_name("growthloop"))


def run(*args: str, cwd: Path, key: bool = True, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GROWTHLOOP_PSEUDONYM_KEY"}
    if key:
        env["GROWTHLOOP_PSEUDONYM_KEY"] = KEY
    return subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_init_ingest_erase_summary(tmp_path):
    assert run("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "growthloop.toml").exists()
    again = run("init", cwd=tmp_path)
    assert again.returncode == 1 and "already exists; pass --force" in again.stderr

    orders = [{**GOOD["orders"], "order_id": f"o{i}", "user_id": f"u{i % 2}",
               "currency": "USD", "market": "US", "amount": str(10 * (i + 1))} for i in range(4)]
    orders.append({**orders[0], "order_id": "o9", "amount": "-2"})
    write_csv(tmp_path / "orders.csv", orders)
    write_csv(tmp_path / "users.csv", [{**GOOD["users"], "user_id": f"u{i}", "market": "US",
                                        "country": "US"} for i in range(3)])
    write_csv(tmp_path / "fx.csv", [GOOD["fx_rates"]])
    r = run("ingest", "orders", "orders.csv", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # exactly one JSON document
    load = doc["loads"][0]
    assert (load["rows_read"], load["rows_loaded"], load["rows_quarantined"]) == (5, 4, 1)
    assert load["quarantine_reasons"] == [{"rule": "amount: below 0", "rows": 1, "first_row": 5}]
    for table, f in (("users", "users.csv"), ("fx_rates", "fx.csv")):
        assert run("ingest", table, f, cwd=tmp_path).returncode == 0

    s = json.loads(run("summary", "--json", cwd=tmp_path).stdout)
    us = next(m for m in s["markets"] if m["market"] == "US")
    assert (us["users"], us["buyers"], us["revenue"]) == (3, 2, 100.0)
    assert us["repurchase_rate"] == 1.0 and us["order_value"] == 25.0

    e = run("erase", "u0", "--json", cwd=tmp_path)
    assert e.returncode == 0, e.stderr
    removed = json.loads(e.stdout)["removed"]
    assert (removed["users"], removed["orders"], removed["quarantine"]) == (1, 2, 1)
    s = json.loads(run("summary", "--json", cwd=tmp_path).stdout)
    us = next(m for m in s["markets"] if m["market"] == "US")
    assert (us["users"], us["buyers"], us["revenue"]) == (2, 1, 60.0)


def test_errors_exit_nonzero_with_one_line(tmp_path):
    run("init", cwd=tmp_path)
    cases = [
        (("summary",), "no warehouse here"),
        (("ingest", "order", "x.csv"), "error: unknown table 'order'; expected one of: users"),
        (("ingest", "orders", "missing.csv"), "missing.csv: no such file"),
        (("simulate", "--out", "o", "--start", "soon"), "--start 'soon' is not a date"),
        (("simulate", "--out", "o", "--shock", "organic:DE:2025-07-01:0.5"),
         "shock 'organic:DE:2025-07-01:0.5': channel 'organic' (organic) has no spend"),
        (("simulate", "--out", "o", "--days", "60", "--shock", "live_commerce:DE:2025-07-01:1"),
         "date 2025-07-01 is outside the simulated horizon 2025-01-01 to 2025-03-01"),
    ]
    for args, message in cases:
        r = run(*args, cwd=tmp_path)
        assert r.returncode == 1, args
        assert message in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert r.stdout == ""
    (tmp_path / "o.csv").write_text("order_id\n")
    r = run("ingest", "orders", "o.csv", cwd=tmp_path, key=False)
    assert r.returncode == 1 and "GROWTHLOOP_PSEUDONYM_KEY is unset" in r.stderr
    (tmp_path / "elsewhere").mkdir()
    r = run("summary", cwd=tmp_path / "elsewhere")
    assert r.returncode == 1 and "run `growthloop init`" in r.stderr
    assert not (tmp_path / "o").exists()  # a refused shock writes nothing


def test_simulate_plants_shocks(tmp_path):
    shocks = ["live_commerce:DE:2025-02-01:0.5", "social_ads:US:2025-01-15:2"]
    r = run("simulate", "--out", "o", "--users", "500", "--days", "60", "--seed", "3",
            *(a for s in shocks for a in ("--shock", s)), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["shocks"] == [
        {"channel": "live_commerce", "market": "DE", "date": "2025-02-01", "factor": 0.5},
        {"channel": "social_ads", "market": "US", "date": "2025-01-15", "factor": 2.0}]
    truth = json.loads((tmp_path / "o" / "truth.json").read_text())
    assert truth["shocks"] == doc["shocks"] and "truth.json" in doc["files"]
    after = truth["media"]["US|social_ads"]["shock"]["after"]
    assert after["signups_expected"] == 2 * after["signups_planned"]


def test_help_has_examples(tmp_path):
    for cmd in ("init", "ingest", "erase", "simulate", "summary", "demo", "schema", "kpi",
                "goals", "review", "funnel", "cohorts", "attribution", "roi"):
        r = run(cmd, "--help", cwd=tmp_path)
        assert r.returncode == 0 and "Example: growthloop " + cmd in r.stdout, cmd


def test_kpi_goals_review_commands(tmp_path, con, cfg, pseudo):
    from growthloop.core.config import DEFAULT_TOML
    from metrics_fixture import load_fixture

    (tmp_path / "growthloop.toml").write_text(
        DEFAULT_TOML + '[[goals]]\nname="rev"\nkpi="revenue"\nperiod="2025-Q1"\nbase=100\n'
        'target=120\nchallenge=150\n')
    load_fixture(tmp_path, con, cfg, pseudo)
    con.close()
    wh = tmp_path / ".growthloop" / "warehouse.duckdb"
    wh.parent.mkdir()
    (tmp_path / "warehouse.duckdb").rename(wh)
    r = run("kpi", "add_to_cart_rate", "revenue", "--grain", "month", "--by", "market",
            "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    got = {(x["kpi"], x["period"], x["market"]): x["value"] for x in rows}
    assert got[("add_to_cart_rate", "2025-01-01", "US")] == 2 / 3
    assert got[("revenue", "2025-02-01", "DE")] == 48.0
    r = run("kpi", "revenue", "--grain", "month", "--out", "r.csv", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "r.csv").read_text().splitlines()[1:] == [
        "revenue,2025-01-01,50.0,,50.0", "revenue,2025-02-01,78.0,,78.0"]
    g = run("goals", "--as-of", "2025-03-01", "--json", cwd=tmp_path)
    assert g.returncode == 0, g.stderr
    rev = json.loads(g.stdout)["goals"][0]
    assert (rev["actual"], rev["tier"], rev["gap"]) == (128.0, "target", 22.0)
    r = run("review", "--cadence", "monthly", "--as-of", "2025-03-01", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["start"], doc["end"]) == ("2025-02-01", "2025-03-01")
    movers = {(m["kpi"], m["segment"]): m for m in doc["movers"]}
    assert movers[("revenue", "all")]["previous"] == 50.0
    assert movers[("revenue", "all")]["current"] == 78.0
    f = run("funnel", "session_start", "product_view", "add_to_cart", "--json", cwd=tmp_path)
    assert f.returncode == 0, f.stderr
    assert [x["units"] for x in json.loads(f.stdout)["rows"]] == [8, 3, 3]
    c = run("cohorts", "--json", cwd=tmp_path)
    assert c.returncode == 0, c.stderr
    jan = {x["periods_since"]: x["retention"] for x in json.loads(c.stdout)["rows"]
           if x["cohort"].startswith("2025-01")}
    assert jan[0] == 1.0 and jan[1] == 2 / 3  # u1 and u2 come back in February
    for args, message in [
        (("funnel", "session_start", "teleport"), "teleport"),
        (("review", "--cadence", "daily"), "'daily' is not one of 'weekly'"),
        (("goals", "--as-of", "soon"), "--as-of 'soon' is not a date"),
        (("kpi", "arpu"), "unknown KPI 'arpu'; expected one of:"),
        (("kpi", "revenue", "--by", "device"), "cannot be sliced by 'device'"),
        (("kpi", "revenue", "--grain", "fortnight"), "'fortnight' is not one of 'day'"),
        (("kpi", "revenue", "--from", "March"), "'March' is not a date"),
    ]:
        r = run(*args, cwd=tmp_path)
        assert r.returncode == 1 and message in r.stderr, (args, r.stderr)
