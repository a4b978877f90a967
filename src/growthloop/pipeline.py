"""Whole runs as library functions: the demo (simulate, ingest, then every headline view)
and the steps it shares with the CLI. One warehouse connection serves a whole run.

Examples
--------
>>> result = demo("demo", users=5_000)  # doctest: +SKIP
>>> result.summary  # headline numbers per market  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from growthloop.core.config import Config, default_toml, load_config
from growthloop.decide.alerts import AlertRun, run_alerts, write_alerts
from growthloop.decide.audiences import build_audiences
from growthloop.decide.budget import BudgetPlan
from growthloop.decide.channels import model_comparison
from growthloop.decide.experiment_runs import analyze_registered
from growthloop.decide.experiments import ExperimentResult
from growthloop.decide.forecast import GoalForecast, annual_forecast
from growthloop.decide.goals import goal_report
from growthloop.decide.knowledge import recent
from growthloop.decide.ltv import value_summary
from growthloop.decide.media import channel_table, next_budget
from growthloop.decide.referrals import ReferralReport, referral_report
from growthloop.decide.risks import RiskFinding, risk_report
from growthloop.decide.scores import update_scores
from growthloop.decide.triggers import run_triggers
from growthloop.ingest.consent import ConsentReport
from growthloop.ingest.load import ingest_files
from growthloop.metrics.journeys import journeys_consent
from growthloop.metrics.summary import market_summary
from growthloop.report.html import write_report
from growthloop.simulate import TABLE_FILES, Risk, Shock, simulate
from growthloop.simulate.experiments import registry_toml
from growthloop.warehouse import Warehouse

__all__ = ["DemoResult", "demo", "simulate_shop"]

Progress = Callable[[str, float], None]
DEMO_START = dt.date(2025, 1, 1)


def _silent(_stage: str, _fraction: float) -> None:
    """No progress display."""


def simulate_shop(out_dir: Path, *, users: int = 50_000, days: int = 365, seed: int = 0,
                  start: dt.date = DEMO_START, config: Config | None = None,
                  shocks: tuple[Shock, ...] = (), progress: Progress = _silent,
                  winback: bool = False, risks: tuple[Risk, ...] = ()) -> dict[str, int]:
    """Write a simulated shop into ``out_dir`` (with planted ``shocks`` and ``risks``, and
    ``winback`` the win-back coupon experiment); the files written and their sizes."""
    simulate(out_dir, config=config, n_users=users, days=days, seed=seed, start=start,
             shocks=shocks, progress=progress, winback=winback, risks=risks)
    return {p.name: p.stat().st_size for p in sorted(out_dir.iterdir()) if p.is_file()}


@dataclass(frozen=True)
class DemoResult:
    """What ``demo`` built and found."""

    directory: Path
    config: Config
    loads: list[dict[str, Any]]
    summary: pd.DataFrame
    goals: pd.DataFrame | None
    decomposition: pd.DataFrame | None
    value: dict[str, pd.DataFrame]
    attribution: pd.DataFrame
    seconds: float
    one_off_key: bool  # the pseudonymisation key was generated for this run
    consent: ConsentReport | None = None  # people the attribution journeys left out
    media: pd.DataFrame | None = None  # MMM channel table (new users per unit of spend)
    media_fit: dict[str, Any] | None = None  # the MMM fit's diagnostics
    budget: BudgetPlan | None = None  # next week's plan from the MMM
    budget_start: dt.date | None = None  # first day of the week planned
    experiments: list[ExperimentResult] | None = None  # the registry's verdicts
    knowledge: pd.DataFrame | None = None  # the newest knowledge-base entries
    report: Path | None = None  # the one-file HTML report (growthloop report)
    referrals: ReferralReport | None = None  # viral coefficient K per market
    audiences: pd.DataFrame | None = None  # each configured audience's size
    triggers: pd.DataFrame | None = None  # each lifecycle trigger's entries and exits
    alerts: AlertRun | None = None  # the last 28 days' KPI alerts with their causes
    risks: list[RiskFinding] | None = None  # the plan's risk monitors
    delivery_effects: dict[str, dict[str, float]] | None = None  # a day more of delivery
    forecast: GoalForecast | None = None  # the annual goal's forecast and tier chances
    forecast_outcome: float | None = None  # the year's actual, when the data cover it

    @property
    def rows_loaded(self) -> int:
        return sum(r["rows_loaded"] for r in self.loads)


def demo(directory: Path | str = "demo", *, users: int = 50_000, days: int = 365,
         seed: int = 7, progress: Progress = _silent) -> DemoResult:
    """Simulate a shop, ingest it into a fresh warehouse and compute the headline views.

    Writes ``growthloop.toml`` (goals sized to the simulated shop) unless one is there,
    replaces the warehouse, and reads everything through one connection. Without a
    pseudonymisation key in the environment a one-off random key is used.
    """
    t0 = time.perf_counter()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "growthloop.toml"
    if not config_path.exists():  # goals for the simulated year, sized to the simulated shop
        config_path.write_text(default_toml(DEMO_START.year, (0.9 * users, users, 1.1 * users))
                               + "\n# The simulated shop's experiments\n"
                               + registry_toml(DEMO_START, days, winback=True),
                               encoding="utf-8")
    cfg = load_config(config_path)
    key_env = cfg.privacy.key_env
    one_off = cfg.privacy.pseudonymise and not os.environ.get(key_env)
    if one_off:
        os.environ[key_env] = secrets.token_hex(32)
    where = cfg.warehouse_path(config_path.resolve().parent)
    for p in (where, where.with_name(where.name + ".wal")):
        p.unlink(missing_ok=True)
    data = directory / "data"
    simulate_shop(data, users=users, days=days, seed=seed, config=cfg, progress=progress,
                  winback=True)
    with Warehouse.open(config_path) as wh:
        loads = []
        for i, name in enumerate(TABLE_FILES):
            progress(f"loading {name}", i / len(TABLE_FILES))
            loads += [r.as_dict() for r in ingest_files(wh, name, [data / f"{name}.parquet"])]
        progress("computing", 1.0)
        summary = market_summary(wh.backend, wh.cfg)
        goals, dec = goal_report(wh.backend, wh.cfg) if cfg.goals else (None, None)
        value = value_summary(wh.backend, wh.cfg)
        credits = model_comparison(wh.backend, wh.cfg, by_market=True)
        consent = journeys_consent(wh.backend)
        progress("marketing-mix model and budget", 1.0)
        run = next_budget(wh, draws=300)
        verdicts, knowledge = None, None
        if wh.cfg.experiments:
            progress("experiments", 1.0)
            verdicts, _ = analyze_registered(wh)
            knowledge = recent(wh.con, 5)
        progress("growth loops: referrals, audiences, triggers", 1.0)
        referrals = referral_report(wh.backend, wh.cfg, by=("market",))
        update_scores(wh.con, wh.cfg, by="market")  # the scores and tags audiences read
        audiences = build_audiences(wh.con, wh.cfg) if wh.cfg.audiences else None
        triggers = run_triggers(wh.con, wh.cfg)
        progress("watch: KPI alerts and risk monitors", 1.0)
        alerts = run_alerts(wh.backend, wh.cfg)
        write_alerts(wh.con, alerts)
        risks, effects = risk_report(wh.backend, wh.cfg)
        progress("forecast of the annual goal", 1.0)
        annual = annual_forecast(wh.backend, wh.cfg)
        report = write_report(wh, directory / "report.html")
    return DemoResult(directory=directory, config=cfg, loads=loads, summary=summary,
                      goals=goals, decomposition=dec, value=value, attribution=credits,
                      seconds=time.perf_counter() - t0, one_off_key=bool(one_off),
                      consent=consent, media=channel_table(run.fit),
                      media_fit=run.fit.meta["diagnostics"], budget=run.plan,
                      budget_start=run.start, experiments=verdicts, knowledge=knowledge,
                      report=report, referrals=referrals, audiences=audiences,
                      triggers=triggers, alerts=alerts, risks=risks,
                      delivery_effects=effects,
                      forecast=None if annual is None else annual[0],
                      forecast_outcome=None if annual is None else annual[1])
