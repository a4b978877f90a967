"""Audience and lifecycle-trigger commands: growthloop audiences ..., growthloop triggers run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from growthloop.cli.app import (
    ConfigOpt,
    JsonOpt,
    app,
    command,
    err,
    open_warehouse,
    out,
    print_json,
)
from growthloop.core.dates import parse_day
from growthloop.decide.audiences import (
    build_audiences,
    check_export_path,
    export_audience,
    list_audiences,
)
from growthloop.decide.triggers import read_changes, run_triggers
from growthloop.ingest.consent import ConsentReport
from growthloop.report.format import records, write_frame
from growthloop.report.layout import Col, emit
from growthloop.report.loops import print_audiences, print_triggers

__all__ = ["audiences_app", "audiences_build", "audiences_export", "audiences_list",
           "triggers_app", "triggers_run"]

audiences_app = typer.Typer(
    name="audiences",
    help="Audiences from tags, scores and uplift ([[audiences]]): build, list, export.",
    no_args_is_help=True,
    epilog="Example: growthloop audiences export dormant_high_value --out dormant.csv",
)
app.add_typer(audiences_app, name="audiences")

triggers_app = typer.Typer(
    name="triggers",
    help="Lifecycle triggers: who entered and left win-back, VIP care, second purchase.",
    no_args_is_help=True,
    epilog="Example: growthloop triggers run --since 2025-07-01 --json",
)
app.add_typer(triggers_app, name="triggers")

def _consent_line(what: str, report: ConsentReport) -> None:
    """The people an output left out for lack of consent, one line on stderr."""
    n = report.people_left_out
    who = "1 person" if n == 1 else f"{n:,} people"
    err.print(f"consent: {who} left out of {escape(what)}: no "
              f"{' or '.join(report.purposes)} consent", highlight=False)


@command("build", group=audiences_app,
         epilog="Example: growthloop audiences build dormant_high_value --json")
def audiences_build(
    names: Annotated[list[str] | None, typer.Argument(
        help="Audiences to build (default: every one in growthloop.toml).")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Materialise audiences as warehouse rows (audience_members), one version each.

    A new version is written only when the definition or the members changed. Marketing
    and personalisation consent is always applied."""
    with open_warehouse(config, read_only=False) as wh:
        df = build_audiences(wh.con, wh.cfg, names or None)
    if as_json:
        print_json({"audiences": records(df)})
        return
    print_audiences(out, "Audiences built", df, built=True)


@command("list", group=audiences_app, epilog="Example: growthloop audiences list --json")
def audiences_list(config: ConfigOpt = Path("growthloop.toml"), as_json: JsonOpt = False
                   ) -> None:
    """Every configured audience with the size of its latest built version."""
    with open_warehouse(config) as wh:
        df = list_audiences(wh.backend, wh.cfg)
    if as_json:
        print_json({"audiences": records(df)})
        return
    if df.empty:
        err.print("no audiences in growthloop.toml; add one under [[audiences]]")
        return
    print_audiences(out, "Audiences", df, built=False)


@command("export", group=audiences_app,
         epilog="Example: growthloop audiences export dormant_high_value --out dormant.parquet")
def audiences_export(
    name: Annotated[str, typer.Argument(help="The audience to export.")],
    out_file: Annotated[Path, typer.Option("--out", help="File to write: .csv or .parquet.")],
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Write the latest built version of an audience to a file.

    Consent is applied again (a withdrawal since the build is respected); an audience
    smaller than [privacy] min_group_size is refused."""
    check_export_path(out_file)
    with open_warehouse(config) as wh:
        df, consent = export_audience(wh.backend, wh.cfg, name)
    write_frame(df, out_file)
    version = int(df.version.iloc[0])
    err.print(f"wrote {len(df):,} people of audience {escape(name)} (version {version}) to "
              f"{escape(str(out_file))}", highlight=False)
    _consent_line(f"audience {name}", consent)
    if as_json:
        print_json({"audience": name, "version": version, "out": str(out_file),
                    "rows": len(df), "consent": consent.as_dict()})


@command("run", group=triggers_app,
         epilog="Example: growthloop triggers run --since 2025-07-01 --json")
def triggers_run(
    since: Annotated[str | None, typer.Option(
        "--since", help="Show the changes recorded since this day (YYYY-MM-DD, UTC) "
                        "instead of this run's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=0,
                                       help="Changes to print at most (--json: all).")] = 20,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Record who entered and who left each lifecycle trigger since the last run.

    Changes go to table trigger_changes with a reason each, the members to
    trigger_state; a run with no new data records nothing. Only people with marketing
    and personalisation consent enter; a withdrawal makes them leave."""
    day = parse_day(since, "--since") if since else None
    with open_warehouse(config, read_only=False) as wh:
        summary = run_triggers(wh.con, wh.cfg)
        run_id = str(summary.run_id.iloc[0]) if len(summary) else None
        changes = (read_changes(wh.backend, since=day) if day else
                   read_changes(wh.backend, run_id=run_id))
    if as_json:
        print_json({"run_id": run_id, "since": str(day) if day else None,
                    "triggers": records(summary.drop(columns="run_id")),
                    "changes": records(changes)})
        return
    print_triggers(out, summary, run_id)
    what = f"since {day}" if day else "in this run"
    if changes.empty:
        err.print(f"no changes {what}", highlight=False)
        return
    shown = changes.head(limit)
    emit(out, f"Changes {what}",
         [Col("trigger", False), Col("user", False), Col("change", False),
          Col("reason", False), Col("at", False)],
         [[escape(r.trigger), r.user_id, r.change, escape(r.reason), str(r.changed_at)]
          for r in shown.itertuples(index=False)])
    if len(shown) < len(changes):
        err.print(f"showing {len(shown):,} of {len(changes):,} changes; --json lists every "
                  "one (table trigger_changes)", highlight=False)
