"""Project commands: ``init``, ``ingest``, ``erase``, ``simulate``, ``schema`` and ``demo``."""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from growthloop.cli.app import (
    ConfigOpt,
    JsonOpt,
    command,
    err,
    open_warehouse,
    out,
    print_consent,
    print_json,
    progress,
)
from growthloop.core.config import default_config, default_toml, load_config
from growthloop.core.dates import parse_day
from growthloop.core.errors import InputError
from growthloop.core.schema import TABLES, data_model_markdown
from growthloop.ingest.load import ingest_files
from growthloop.ingest.privacy import erase as erase_person
from growthloop.ingest.privacy import pseudonymiser
from growthloop.metrics import catalog
from growthloop.pipeline import demo as run_demo
from growthloop.pipeline import simulate_shop
from growthloop.report.experiments import print_knowledge, print_verdicts
from growthloop.report.forecast import print_forecast
from growthloop.report.format import records
from growthloop.report.loops import print_audiences, print_triggers, print_viral
from growthloop.report.media import print_budget, print_mmm
from growthloop.report.tables import (
    print_attribution_comparison,
    print_decomposition,
    print_goals,
    print_loads,
    print_summary,
    print_value_report,
)
from growthloop.report.watch import alerts_doc, print_alerts, print_risks, risks_doc
from growthloop.simulate import parse_risk, parse_shock
from growthloop.simulate.risks import KINDS, RISK_FORM
from growthloop.simulate.shocks import SHOCK_FORM

__all__ = ["demo", "erase", "ingest", "init", "schema", "simulate"]


@command(epilog="Example: growthloop init --dir myshop")
def init(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write it.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented default growthloop.toml (markets, channels and plan goals)."""
    path = directory / "growthloop.toml"
    if path.exists() and not force:
        raise InputError(f"{path} already exists; pass --force to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(default_toml(date.today().year), encoding="utf-8")
    err.print(f"wrote {path}")


@command(epilog="Example: growthloop ingest orders data/orders-2025-03.csv data/orders-04.parquet")
def ingest(
    table: Annotated[str, typer.Argument(help=f"One of: {', '.join(TABLES)}.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON Lines files.")],
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Validate and load files into a table; bad rows go to quarantine with their reason.

    Each file loads atomically; re-loading rows already present adds nothing.
    """
    with open_warehouse(config, read_only=False) as wh, progress() as bar:
        task = bar.add_task(table, total=len(files) * 4)
        results = ingest_files(wh, table, files, on_step=lambda _s, f: bar.update(
            task, advance=1, description=f"{table} ← {f.name}"))
    docs = [r.as_dict() for r in results]
    if as_json:
        print_json({"loads": docs})
    else:
        print_loads(out, docs)


@command(epilog="Example: growthloop erase u0001234")
def erase(
    user_id: Annotated[str, typer.Argument(help="The person's identifier as given at ingest.")],
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Remove one person's rows everywhere and unlink them from other people's rows.

    All in one transaction. The person's own rows go: their user row, their
    events (with the anonymous browsing of the devices they used), orders,
    survey answers, experiment assignments, scores, tags and quarantined rows.
    Nobody else's row is removed: a link to the person (the referrer of the
    users they referred, either side of a referral) becomes empty, or
    `(erased)` where it can't be empty, so everyone else's referral counts
    stay as they were.
    """
    with open_warehouse(config, read_only=False) as wh:
        rep = erase_person(wh.con, user_id, pseudonymiser(wh.cfg))
    if as_json:
        print_json({"removed": rep.removed, "unlinked": rep.unlinked, "total": rep.total})
        return
    for name, n in rep.removed.items():
        out.print(f"{name:<24} {n:>8,} rows removed {rep.unlinked.get(name, 0):>8,} links unlinked")
    out.print(f"{'total':<24} {rep.total:>8,} rows removed {rep.total_unlinked:>8,} links unlinked")
    if rep.total == 0 and rep.total_unlinked == 0:
        err.print("nothing found for that identifier (check the pseudonymisation key)")


@command(epilog="Example: growthloop simulate --users 50000 --days 365 --seed 7 --out shop/ "
                 "--shock live_commerce:DE:2025-07-01:0.5 --risk fulfilment:BR:2025-09-01:2.3")
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the Parquet files.")],
    users: Annotated[int, typer.Option(min=100, help="Users to simulate.")] = 50_000,
    days: Annotated[int, typer.Option(min=28, max=3650, help="Days to simulate.")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-01-01",
    config: Annotated[Path | None, typer.Option("--config", "-c",
                                                help="Project file (default markets)."
                                                )] = None,
    shock: Annotated[list[str] | None, typer.Option(
        "--shock", metavar="CHANNEL:MARKET:DATE:FACTOR",
        help="Plant a shock: from the date on, the channel's effectiveness in the market is "
             f"factor times what it was ({SHOCK_FORM}); spend is unchanged. Repeatable; "
             "recorded in truth.json.")] = None,
    risk: Annotated[list[str] | None, typer.Option(
        "--risk", metavar="KIND:MARKET[:CHANNEL]:DATE:SIZE",
        help=f"Plant a risk in the market from the date on ({', '.join(KINDS)}; "
             f"{RISK_FORM}): cac is the channel's acquisition cost times size, fulfilment "
             "size more delivery days, returns the return probability times size, "
             "order_value the order values times size, churn a share size of the "
             "high-value buyers leaving, promotion a share size of the festival lift lost. "
             "Repeatable; recorded in truth.json.")] = None,
    winback: Annotated[bool, typer.Option(
        "--winback", help="Add the win-back coupon experiment: an effect that differs by "
                          "customer, each unit's truth in truth_uplift.parquet.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a simulated cross-border shop (every table as Parquet) and its truth.json."""
    first = parse_day(start, "--start")
    cfg = load_config(config) if config else None
    shocks = tuple(parse_shock(s, cfg or default_config(), first, days) for s in shock or ())
    risks = tuple(parse_risk(r, cfg or default_config(), first, days) for r in risk or ())
    t0 = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("simulating", total=1.0)
        files = simulate_shop(out_dir, users=users, days=days, seed=seed, start=first,
                              config=cfg, shocks=shocks, winback=winback, risks=risks,
                              progress=lambda stage, frac:
                              bar.update(task, description=f"simulating: {stage}",
                                         completed=frac))
    seconds = time.perf_counter() - t0
    if as_json:
        print_json({"out": str(out_dir), "files": files, "seconds": round(seconds, 2),
                    "shocks": [s.as_dict() for s in shocks],
                    "risks": [r.as_dict() for r in risks]})
    else:
        out.print(f"wrote {len(files)} files to {out_dir} in {seconds:.1f} s"
                  + "".join(f"; shock {s}" for s in shocks)
                  + "".join(f"; risk {r}" for r in risks))


@command(epilog="Example: growthloop schema --markdown > docs/data-model.md")
def schema(
    markdown: Annotated[bool, typer.Option("--markdown", help="The full reference.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the canonical tables and their columns."""
    if markdown:
        sys.stdout.write(data_model_markdown())
        return
    if as_json:
        print_json({t.name: [{"name": c.name, "type": c.dtype, "required": c.required}
                             for c in t.columns] for t in TABLES.values()})
        return
    for t in TABLES.values():
        out.print(f"[bold]{t.name}[/bold]: {', '.join(t.column_names)}")


@command(epilog="Example: growthloop demo --dir demo --users 50000")
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Project directory to create.")] = Path(
        "demo"),
    users: Annotated[int, typer.Option(min=100, help="Users to simulate.")] = 50_000,
    days: Annotated[int, typer.Option(min=28, max=3650)] = 365,
    seed: Annotated[int, typer.Option()] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a shop, ingest it into a fresh warehouse and print its headline numbers."""
    with progress() as bar:
        task = bar.add_task("demo", total=1.0)
        r = run_demo(directory, users=users, days=days, seed=seed,
                     progress=lambda stage, frac: bar.update(task, description=stage,
                                                             completed=frac))
    if r.one_off_key:
        err.print(f"{r.config.privacy.key_env} is not set: pseudonymised the demo with a "
                  "one-off random key")
    err.print(f"simulated {users:,} users over {days} days; loaded {r.rows_loaded:,} rows")
    err.print(f"report: {r.report}")
    if r.consent is not None:
        print_consent(r.consent)
    currency = r.config.reporting_currency
    if as_json:
        print_json({"report": str(r.report), "loads": r.loads, "currency": currency,
                    "markets": records(r.summary),
                    "goals": None if r.goals is None else records(r.goals),
                    "value": {"tiers": records(r.value["tiers"]),
                              "ltv_cac": records(r.value["ltv_cac"])},
                    "attribution": records(r.attribution),
                    "consent": None if r.consent is None else r.consent.as_dict(),
                    "mmm": None if r.media is None else records(r.media),
                    "budget": None if r.budget is None else {
                        "period_starting": str(r.budget_start),
                        "binding": list(r.budget.binding),
                        "totals": records(r.budget.totals.reset_index(names="plan")),
                        "pairs": records(r.budget.table)},
                    "experiments": None if r.experiments is None else [
                        {**x.as_dict(), "rows": records(x.rows[x.rows.segment == "all"])}
                        for x in r.experiments],
                    "knowledge": None if r.knowledge is None else records(r.knowledge),
                    "referrals": None if r.referrals is None else records(r.referrals.k),
                    "audiences": None if r.audiences is None else records(r.audiences),
                    "triggers": None if r.triggers is None else records(
                        r.triggers.drop(columns="run_id")),
                    "alerts": None if r.alerts is None else alerts_doc(r.alerts),
                    "risks": None if r.risks is None else risks_doc(
                        r.risks, r.delivery_effects or {}),
                    "forecast": None if r.forecast is None else {
                        **r.forecast.as_dict(), "outcome": r.forecast_outcome},
                    "seconds": round(r.seconds, 1)})
        return
    print_summary(out, r.summary, currency)
    if r.goals is not None:
        print_goals(out, r.goals, {k.name: k.unit for k in catalog(r.config).values()})
        if r.decomposition is not None:
            from growthloop.decide.goals import decomposition_by

            print_decomposition(out, {d: decomposition_by(r.decomposition, d)
                                      for d in ("market", "channel")})
    print_value_report(out, r.value, currency)
    print_attribution_comparison(out, r.attribution, "first purchases")
    if r.media is not None and r.media_fit is not None:
        print_mmm(out, r.media, r.media_fit, target="new_users", currency=currency)
    if r.budget is not None:
        print_budget(out, r.budget, target="new_users", currency=currency,
                     start=r.budget_start)
    if r.experiments is not None:
        print_verdicts(out, r.experiments)
    if r.knowledge is not None and len(r.knowledge):
        print_knowledge(out, r.knowledge)
    if r.referrals is not None:
        print_viral(out, r.referrals)
    if r.audiences is not None:
        print_audiences(out, "Audiences", r.audiences, built=True)
    if r.triggers is not None and len(r.triggers):
        print_triggers(out, r.triggers, str(r.triggers.run_id.iloc[0]))
    if r.alerts is not None:
        print_alerts(out, r.alerts, limit=8, worse_only=True)
    if r.risks is not None:
        print_risks(out, r.risks, r.delivery_effects or {})
    if r.forecast is not None:
        print_forecast(out, r.forecast, outcome=r.forecast_outcome)
    err.print(f"demo done in {r.seconds:.0f} s; project in {directory}")
