"""The customer-value commands run as the real ``growthloop`` executable: ``clv fit``,
``clv validate``, ``segments`` and ``ltv`` (JSON on stdout, one-line errors)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import KEY
from growthloop.core.config import DEFAULT_TOML
from test_cli import run

DATA = Path(__file__).parent / "data"
CDNOW = DATA / "cdnow_customers_summary.csv"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A warehouse of 8,000 simulated users over 365 days (about 1,200 customers)."""
    from growthloop.core.config import default_config
    from growthloop.ingest import ingest_file
    from growthloop.ingest.privacy import Pseudonymiser
    from growthloop.simulate import simulate
    from growthloop.warehouse import connect

    d = tmp_path_factory.mktemp("cli-value")
    simulate(d / "shop", n_users=8_000, days=365, seed=11)
    wh = d / "warehouse.duckdb"
    con = connect(wh)
    for name in ("users", "orders", "fx_rates", "ad_spend"):
        ingest_file(con, default_config(), name, d / "shop" / f"{name}.parquet",
                    Pseudonymiser(KEY.encode()))
    con.close()
    return wh


@pytest.fixture
def project(tmp_path, built) -> Path:
    (tmp_path / "growthloop.toml").write_text(DEFAULT_TOML)
    (tmp_path / ".growthloop").mkdir()
    shutil.copy(built, tmp_path / ".growthloop" / "warehouse.duckdb")
    return tmp_path


def _json(*args: str, cwd: Path) -> dict:
    r = run(*args, "--json", cwd=cwd)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # exactly one JSON document


def _fails(*args: str, cwd: Path, message: str) -> None:
    r = run(*args, cwd=cwd)
    assert r.returncode == 1, (args, r.stdout, r.stderr)
    assert message in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
    assert r.stdout == ""


# --------------------------------------------------------------------------- --summary


def test_summary_fit_matches_published_cdnow(tmp_path):
    bg = _json("clv", "fit", "--summary", str(CDNOW), cwd=tmp_path)
    assert bg["model"] == "bgnbd" and bg["customers"] == 2357 and bg["converged"]
    # Fader, Hardie and Lee (2005), section 4
    assert {k: round(v, 3) for k, v in bg["params"].items()} == {
        "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert set(bg["std_errors"]) == {"r", "alpha", "a", "b"}
    assert bg["std_errors"]["r"] == pytest.approx(0.012557, rel=1e-3)
    assert bg["log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    lo, hi = bg["ci95"]["a"]
    assert lo < 0.793 < hi
    pareto = _json("clv", "fit", "--summary", str(CDNOW), "--model", "pareto", cwd=tmp_path)
    assert {k: round(v, 2) for k, v in pareto["params"].items()} == {
        "r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
    d = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv")
    d.rename(columns={"ID": "customer_id", "x": "frequency", "t_x": "recency",
                      "zbar": "monetary_value"}).to_csv(tmp_path / "spend.csv", index=False)
    gg = _json("clv", "fit", "--summary", "spend.csv", "--model", "gg", cwd=tmp_path)
    assert gg["customers"] == 946  # repeat buyers
    assert {k: round(v, 2) for k, v in gg["params"].items()} == {
        "p": 6.25, "q": 3.74, "gamma": 15.45}  # the paper's solver stopped at 15.44


def test_summary_bad_input(tmp_path):
    files = {
        "late.csv": "customer_id,frequency,recency,T\nc1,1,5,10\nc2,2,12,10\n",
        "negative.csv": "customer_id,frequency,recency,T\nc1,-1,5,10\n",
        "empty.csv": "",
        "columns.csv": "customer_id,frequency,recency\nc1,1,5\n",
        "nospend.csv": "customer_id,frequency,recency,T\nc1,1,5,10\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    for args, message in [
        (("late.csv",), "late.csv: row 2, field 'recency': value 12; expected recency <= T"),
        (("negative.csv",), "negative.csv: row 1, field 'frequency': value -1; expected a "
                            "value >= 0"),
        (("empty.csv",), "empty.csv: the file is empty"),
        (("columns.csv",), "columns.csv: missing column 'T'"),
        (("nospend.csv", "--model", "gg"), "--model gg needs a 'monetary_value' column"),
    ]:
        _fails("clv", "fit", "--summary", *args, cwd=tmp_path, message=message)


def test_a_fit_that_does_not_converge_warns(tmp_path):
    # every customer bought on the last day: nothing tells when customers drop out
    rows = ["customer_id,frequency,recency,T"] + [f"c{i},{1 + i % 4},50,50" for i in range(200)]
    (tmp_path / "alive.csv").write_text("\n".join(rows) + "\n")
    r = run("clv", "fit", "--summary", "alive.csv", "--json", cwd=tmp_path)
    assert r.returncode == 0
    assert "warning: BG/NBD fit did not converge" in r.stderr
    assert "Check that frequency counts repeat purchase periods" in r.stderr  # what to check
    assert json.loads(r.stdout)["converged"] is False


# --------------------------------------------------------------------------- warehouse


def test_fit_validate_segments_ltv(project):
    _fails("segments", cwd=project, message="no customer scores yet; run `growthloop clv fit`")
    fit = _json("clv", "fit", "--by", "market", "--horizon", "180", "--margin", "0.5",
                "--chart", "fit.html", cwd=project)
    assert fit["model_version"].startswith("bgnbd-gg/") and fit["by"] == "market"
    assert fit["scores_written"] == fit["tags_written"] == fit["customers"] > 1000
    assert fit["observation_end"] == "2025-12-31" and fit["currency"] == "USD"
    segs = {(s["segment"], s["model"]) for s in fit["segments"]}
    assert ("ID", "BG/NBD") in segs and ("ID", "Gamma-Gamma") in segs
    assert (project / "fit.html").stat().st_size > 100_000  # plotly.js inlined

    seg = _json("segments", cwd=project)
    tiers = [s for s in seg["segments"] if s["market"] == "all"
             and s["dimension"] == "value_tier"]
    assert [t["segment"] for t in tiers] == ["vip", "high", "medium", "low"]
    assert sum(t["customers"] for t in tiers) == seg["customers"] == fit["customers"]
    text = run("segments", "--tier-cuts", "0.9,0.7,0.4", cwd=project)
    assert "Value tiers as of 2025-12-31" in text.stdout and "Lifecycle stages" in text.stdout

    val = _json("clv", "validate", "--holdout-from", "2025-10-01", "--chart", "holdout.html",
                cwd=project)
    assert val["calibration_end"] == "2025-09-30" and val["holdout_days"] == 92
    pooled = next(e for e in val["errors"] if e["segment"] == "all")
    assert abs(pooled["relative_error"]) < 0.25
    assert (project / "holdout.html").exists()

    ltv = _json("ltv", "--by", "channel,market", "--tornado", "--chart", "tornado.html",
                cwd=project)
    assert ltv["by"] == ["channel", "market"] and ltv["months"] == 12
    paid = [r for r in ltv["rows"] if r["channel"] == "search_ads" and r["new_customers"]]
    assert paid and all(r["cac"] > 0 and r["ltv_cac"] > 0 for r in paid)
    assert {d["market"] for d in ltv["drivers"]} == {"BR", "DE", "FR", "ID", "MX", "SG", "TH",
                                                      "US"}
    assert {t["rank"] for t in ltv["tornado"]} == {1, 2, 3, 4, 5}
    assert (project / "tornado.html").exists()
    out = run("ltv", "--by", "cohort", cwd=project)
    assert out.returncode == 0 and "LTV:CAC by cohort" in out.stdout


def test_warehouse_errors(project):
    for args, message in [
        (("clv", "fit", "--by", "country"), "unknown --by 'country'; expected one of market"),
        (("clv", "validate", "--holdout-from", "2026-03-01"),
         "holdout date 2026-03-01 is outside the data: orders run from 2025-01-01 to "
         "2025-12-31"),
        (("ltv", "--by", "device"), "unknown --by device; expected one or more of channel"),
    ]:
        _fails(*args, cwd=project, message=message)


def test_help_has_examples(tmp_path):
    for cmd in (("clv",), ("clv", "fit"), ("clv", "validate"), ("clv", "scores"),
                ("segments",), ("ltv",)):
        r = run(*cmd, "--help", cwd=tmp_path)
        assert r.returncode == 0 and "Example: growthloop " + " ".join(cmd) in r.stdout, cmd
