"""``growthloop experiment analyze / plan / assign`` run as the real executable on a tiny
shop with a registry: JSON verdicts, the stored analysis, the knowledge entry, a per-unit
file, the sample-size calculator and the assignment hash."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import KEY, write_csv
from growthloop.core.config import DEFAULT_TOML
from growthloop.models.experiments import assign_many, sample_size
from test_cli import run
from test_experiments import ASSIGN, REVENUE
from test_funnels_cohorts import load_shop

REGISTRY = """
[[experiments]]
id = "e1"
hypothesis = "Free returns raise revenue per user"
owner = "growth"
primary = "revenue"
guardrails = ["average_order_value"]
start = 2025-01-01
end = 2025-03-01
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    from growthloop.core.config import default_config
    from growthloop.ingest import ingest_file
    from growthloop.ingest.privacy import Pseudonymiser
    from growthloop.warehouse import connect

    (tmp_path / "growthloop.toml").write_text(DEFAULT_TOML + REGISTRY)
    monkeypatch.setenv("GROWTHLOOP_PSEUDONYM_KEY", KEY)
    con = connect(tmp_path / ".growthloop" / "warehouse.duckdb")
    cfg, pseudo = default_config(), Pseudonymiser(KEY.encode())
    load_shop(tmp_path, con, cfg, pseudo)
    rows = [dict(experiment_id="e1", unit_id=u, variant=v, assigned_ts=ts)
            for u, v, ts in ASSIGN]
    ingest_file(con, cfg, "experiment_assignments", write_csv(tmp_path / "a.csv", rows),
                pseudo)
    con.close()
    return tmp_path


def test_analyze_the_registry_stores_it_and_records_the_verdict(project) -> None:
    r = run("experiment", "analyze", "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    (e,) = doc["experiments"]
    assert e["experiment_id"] == "e1" and e["verdict"] == "don't ship"
    assert e["srm"]["counts"] == {"control": 2, "treatment": 3}
    top = {x["metric"]: x for x in e["rows"] if x["segment"] == "all"}
    c, t = np.mean(REVENUE["control"]), np.mean(REVENUE["treatment"])
    assert top["revenue"]["lift"] == pytest.approx(t / c - 1, rel=1e-12)
    assert top["average_order_value"]["role"] == "guardrail"
    (entry,) = doc["knowledge_added"]
    assert entry.startswith("kb-") and entry in r.stderr
    found = json.loads(run("kb", "search", "free returns", "--json", cwd=project).stdout)
    assert found["results"][0]["entry_id"] == entry
    again = json.loads(run("experiment", "analyze", "e1", "--json", cwd=project).stdout)
    assert again["knowledge_added"] == []  # recorded once
    from growthloop.warehouse import connect

    con = connect(project / ".growthloop" / "warehouse.duckdb", read_only=True)
    try:
        stored = con.execute("SELECT metric, segment, lift FROM experiment_results WHERE "
                             "segment = 'all' ORDER BY metric").fetchall()
    finally:
        con.close()
    assert stored == sorted((m, "all", top[m]["lift"]) for m in top)
    text = run("experiment", "analyze", "e1", cwd=project)
    assert "e1: DON'T SHIP" in text.stdout and "no detectable effect on revenue" in text.stdout
    bad = run("experiment", "analyze", "nope", cwd=project)
    assert bad.returncode == 1
    assert "experiment 'nope' is not in the registry" in bad.stderr and "e1" in bad.stderr


def test_analyze_a_per_unit_file(tmp_path) -> None:
    rng = np.random.default_rng(3)
    n = 2000
    v = np.where(rng.random(n) < 0.5, "control", "treatment")
    pre = rng.gamma(2.0, 5.0, n)
    y = pre + rng.normal(0, 2, n) + 0.8 * (v == "treatment")
    path = tmp_path / "units.csv"
    pd.DataFrame({"v": v, "y": y, "pre": pre}).to_csv(path, index=False)
    r = run("experiment", "analyze", "--data", str(path), "--variant-col", "v",
            "--metric-col", "y", "--pre-col", "pre", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (e,) = json.loads(r.stdout)["experiments"]
    row = e["rows"][0]
    want = y[v == "treatment"].mean() / y[v == "control"].mean() - 1
    assert row["lift"] == pytest.approx(want, rel=1e-9)
    assert row["variance_reduction"] > 0.8 and e["verdict"] == "ship"
    bad = run("experiment", "analyze", "--data", str(path), "--variant-col", "v",
              "--metric-col", "zz", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip() == f"error: {path}: no column 'zz'; it has v, y, pre"


def test_plan_and_assign(project) -> None:
    r = run("experiment", "plan", "--baseline", "0.1", "--mde", "0.1", "--json",
            cwd=project)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    # the textbook case: 10 % -> 11 %, alpha 0.05, power 0.8: 14,748.05 per arm, rounded up
    assert sample_size(0.1, 0.1) / 2 == pytest.approx(14_748.05, abs=0.01)
    assert plan["control_units_fixed"] == plan["treatment_units_fixed"] == 14_749
    assert plan["units_fixed"] == 29_498
    assert plan["units_sequential"] > plan["units_fixed"]
    units = run("experiment", "plan", "--baseline", "0.1", "--units", "29496", "--json",
                cwd=project)
    assert json.loads(units.stdout)["detectable_effect"] == pytest.approx(0.1, rel=0.02)
    a = run("experiment", "assign", "e1", "u1", "u2", "u3", "--json", cwd=project)
    got = [x["variant"] for x in json.loads(a.stdout)["assignments"]]
    assert got == list(assign_many("e1", ["u1", "u2", "u3"], [0.5, 0.5],
                                   ["control", "treatment"]))
    none = run("experiment", "plan", "--baseline", "0.1", cwd=project)
    assert none.returncode == 1 and "--mde" in none.stderr
