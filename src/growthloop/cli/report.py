"""The report command: ``report``, every dashboard page in one HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from growthloop.cli.app import ConfigOpt, command, open_warehouse, out
from growthloop.core.errors import InputError
from growthloop.report.html import write_report

__all__ = ["report"]


@command(epilog="Example: growthloop report --out report.html")
def report(
    out_file: Annotated[Path, typer.Option(
        "--out", help="The HTML file to write (replaced atomically).")],
    config: ConfigOpt = Path("growthloop.toml"),
) -> None:
    """Every dashboard page (overview, funnels, cohorts, value, channels, experiments) in
    one self-contained HTML file: plotly.js inlined, nothing loaded from the network, the
    shared view (small groups suppressed). Prints the file's path."""
    if out_file.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out {out_file}: expected a name ending in .html")
    with open_warehouse(config) as wh:
        path = write_report(wh, out_file)
    out.print(str(path), highlight=False, soft_wrap=True)
