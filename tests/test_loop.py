"""The re-allocation loop on a simulated shop with a planted shock: the shocked channel is
flagged within two weekly steps, nothing else is, and the plan scales its curve down."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import pytest

from conftest import media_project
from test_cli import run

SHOCK = dt.date(2025, 7, 7)  # a Monday: the weekly steps fall on the shock's day


@pytest.fixture(scope="module")
def shocked(tmp_path_factory) -> Path:
    """200,000 users over 2025, social ads in DE at half their effect from SHOCK on."""
    from growthloop.simulate import Shock

    d = media_project(tmp_path_factory.mktemp("loop-shop"), n_users=200_000, days=365,
                      seed=3, shocks=[Shock("social_ads", "DE", SHOCK, 0.5)])
    truth = json.loads((d / "shop" / "truth.json").read_text())
    assert truth["shocks"][0]["factor"] == 0.5
    return d


@pytest.mark.slow
def test_a_halved_channel_is_flagged_within_two_weekly_steps(shocked) -> None:
    last = SHOCK + dt.timedelta(days=21)
    r = run("budget", "--cadence", "weekly", "--as-of", str(last), "--steps", "4",
            "--draws", "100", "--json", cwd=shocked)
    assert r.returncode == 0, r.stderr
    steps = json.loads(r.stdout)["steps"]
    assert [s["as_of"] for s in steps] == [str(SHOCK + dt.timedelta(days=7 * k))
                                           for k in range(4)]
    # the first step fits the model on the days before it; the others reuse that fit
    assert [s["refitted"] for s in steps] == [True, False, False, False]
    assert len({s["model_version"] for s in steps}) == 1
    flagged = [[(f["market"], f["channel"]) for f in s["flagged"]] for s in steps]
    # nothing before the shock; DE social ads by the second step after it, nothing else
    assert flagged[0] == []
    assert all(f in ([], [("DE", "social_ads")]) for f in flagged), flagged
    assert flagged[2] == flagged[3] == [("DE", "social_ads")]
    perf = {(p["market"], p["channel"]): p for p in steps[3]["performance"]}
    de = perf[("DE", "social_ads")]
    assert de["shift_since"] == str(SHOCK) and de["z"] < -3.5
    assert 0.35 < de["factor"] < 0.7  # the truth: 0.5
    pair = next(p for p in steps[3]["pairs"] if (p["market"], p["channel"]) == (
        "DE", "social_ads"))
    assert re.match(r"return shifted: 0\.\d+x the model's expectation since 2025-07-07",
                    pair["reason"]) and "curve scaled by" in pair["reason"]
    # every step is stored with its reasons
    from growthloop.warehouse import connect

    con = connect(shocked / ".growthloop" / "warehouse.duckdb", read_only=True)
    try:
        stored = con.execute("SELECT as_of, count(*), count(reason), sum(shifted::INT) "
                             "FROM budget_plans GROUP BY ALL ORDER BY 1").fetchall()
    finally:
        con.close()
    assert [(str(a), n, k) for a, n, k, _ in stored] == [(s["as_of"], 32, 32) for s in steps]
    assert [int(f) for *_, f in stored] == [len(f) for f in flagged]


@pytest.mark.slow
def test_the_flag_scales_the_shocked_channel_down_in_the_plan(shocked) -> None:
    from growthloop.decide.loop import loop_step
    from growthloop.warehouse import Warehouse

    day = SHOCK + dt.timedelta(days=14)
    with Warehouse.open(shocked / "growthloop.toml") as wh:
        blind = loop_step(wh, day, cadence="weekly", z_crit=math.inf, max_step=None,
                          draws=100)
        seen = loop_step(wh, day, cadence="weekly", max_step=None, draws=100)
    key = ("DE", "social_ads")
    assert blind.flagged == [] and key in seen.flagged
    plan = {k: t.set_index(["market", "channel"]) for k, t in (
        ("blind", blind.plan.table), ("seen", seen.plan.table))}
    # the same budget; the shocked pair's outcome and next unit's return at today's spend
    # fall to about the measured factor, and it gets no more spend than without the flag
    assert plan["seen"].planned.sum() == pytest.approx(plan["blind"].planned.sum(), rel=1e-9)
    factor = seen.performance.set_index(["market", "channel"]).factor[key]
    assert 0.35 < factor < 0.7
    b, s = plan["blind"].loc[key], plan["seen"].loc[key]
    assert s.outcome_current < 1.25 * factor * b.outcome_current
    assert s.marginal < 1.25 * factor * b.marginal
    assert s.planned <= b.planned

