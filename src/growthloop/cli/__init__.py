"""The ``growthloop`` command: one module per command group, each command a thin wrapper
(parse, one library call, print through ``growthloop.report``). Importing this package
registers every command on ``app``; ``main`` is the console entry point."""

import sys

import typer
from rich.markup import escape

from growthloop.cli import (
    attribution,
    audiences,
    collector,
    experiments,
    forecast,
    goals,
    knowledge,
    media,
    metrics,
    project,
    referrals,
    report,
    uplift,
    value,
    watch,
)
from growthloop.cli.app import app, err

__all__ = ["app", "attribution", "audiences", "collector", "experiments", "forecast", "goals",
           "knowledge", "main", "media", "metrics", "project", "referrals", "report", "uplift",
           "value", "watch"]


def main(argv: list[str] | None = None) -> None:
    """Run the command line; a usage error (unknown option or value) is one line on
    stderr and exit status 1, like every other error."""
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.TyperException as e:  # a usage error: unknown option, bad value
        message = e.format_message().removeprefix("Value error, ")
        if not message:  # a group called without a command: its help was shown
            sys.exit(getattr(e, "exit_code", 2))
        err.print(f"[red]error:[/red] {escape(message.replace(': Value error, ', ': '))}",
                  highlight=False)
        sys.exit(1)
    except typer.Abort:
        err.print("[red]error:[/red] interrupted; nothing half-written was kept")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
