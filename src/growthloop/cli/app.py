"""The Typer app and what every command shares: options, errors, output, progress.

Convention: results go to stdout; with ``--json`` exactly one JSON document does.
Progress, warnings and messages go to stderr. Errors exit 1 with a one-line reason.
A command parses its arguments, makes one library call and prints the result through
``growthloop.report``.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from growthloop.core.errors import GrowthloopError
from growthloop.models.attribution import MODELS
from growthloop.warehouse import Warehouse

__all__ = [
    "AttributionModel",
    "ConfigOpt",
    "Grain",
    "JsonOpt",
    "ShareOpt",
    "app",
    "command",
    "err",
    "open_warehouse",
    "out",
    "print_consent",
    "print_json",
    "progress",
]

app = typer.Typer(
    name="growthloop",
    help="Growth engine for cross-border e-commerce: ingest, KPIs, value, attribution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="Project file.", show_default=True)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
ShareOpt = Annotated[bool | None, typer.Option(
    "--share/--no-share", show_default=False,
    help="The view meant to be shared (table, --json and --out): a cell built from fewer "
         "people than [privacy] min_group_size is shown as suppressed. Default: [privacy] "
         "share_by_default (false: the analyst's own view).")]


class Grain(StrEnum):
    """Time grains a command can report by."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"
    all = "all"


AttributionModel = StrEnum("AttributionModel", {m: m for m in MODELS})
AttributionModel.__doc__ = "Attribution models by name (``growthloop.models.attribution.MODELS``)."


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True)
    return typer.Exit(1)


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Show the library's warnings as ``warning: ...`` lines on stderr (each once)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            yield
        finally:
            seen = set()
            for w in caught:
                text = str(w.message)
                if text not in seen:
                    seen.add(text)
                    err.print(f"[yellow]warning:[/yellow] {escape(text)}", highlight=False)


def command(*names: str, group: typer.Typer = app, **kw: Any) -> Callable[[F], F]:
    """Register a command on ``group``: library errors become a one-line message and exit
    1, warnings go to stderr."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                with _warnings_to_stderr():
                    return fn(*args, **kwargs)
            except GrowthloopError as e:
                first, *rest = str(e).splitlines() or ["failed"]
                extra = f" (+{len(rest)} more: {'; '.join(rest)})" if rest else ""
                raise _fail(first + extra) from None
            except KeyboardInterrupt:
                raise _fail("interrupted; nothing half-written was kept") from None

        group.command(*names, **kw)(wrapper)
        return fn

    return deco


def print_json(doc: Any) -> None:
    """Exactly one JSON document on stdout (NaN is not JSON: pass records through
    ``growthloop.report.format.records``)."""
    sys.stdout.write(json.dumps(doc, indent=2, default=str, allow_nan=False) + "\n")


def print_consent(report: Any) -> None:
    """The people an output left out for lack of consent, one line on stderr (always,
    also when none: an export never drops people silently)."""
    err.print(f"consent: {escape(report.message())}", highlight=False)


def progress() -> Progress:
    """A progress bar on stderr, shown only on a terminal."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
    )


def open_warehouse(config: Path, *, read_only: bool = True) -> Warehouse:
    """The project's warehouse, opened once for the command."""
    return Warehouse.open(config, read_only=read_only)
