"""Writing Plotly figures as standalone HTML files (private to ``growthloop.value``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from growthloop.errors import InputError

__all__ = ["check_chart_path", "write_html"]


def check_chart_path(path: str | Path) -> Path:
    """``path`` if a chart can be written there (an ``.html`` name in a folder that
    exists); else InputError."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"chart file {path}: expected a name ending in .html")
    if not path.parent.is_dir():
        raise InputError(f"chart file {path}: the folder {path.parent} does not exist")
    return path


def write_html(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (``.html``) with plotly.js inlined, so it opens offline."""
    path = check_chart_path(path)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path
