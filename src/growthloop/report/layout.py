"""Terminal tables that fit: no number or name is ever cut.

``emit`` prints rows as one Rich table when it fits the console (80 columns when output
goes to a pipe or a log), and otherwise splits the columns over several tables, each
repeating the key columns, so every cell is shown whole. Numbers never wrap; names wrap
onto a second line rather than being cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["Col", "emit"]

_EDGE = 3  # border and padding per column
_MIN_TEXT = 12  # a name column narrower than its longest name wraps, down to this


@dataclass(frozen=True)
class Col:
    """A column: its header and whether it holds numbers (right-aligned, never wrapped)."""

    header: str
    numeric: bool = True


def _width(cells: Sequence[str | Text], col: Col) -> tuple[int, int]:
    """(natural, minimum) width of a column."""
    texts = [c if isinstance(c, Text) else Text.from_markup(c) for c in cells]
    longest = max((t.cell_len for t in texts), default=0)
    words = max((len(w) for w in col.header.split()), default=0)
    natural = max(longest, len(col.header), 1)
    if col.numeric:
        return natural, max(longest, words, 1)
    return natural, max(min(longest, _MIN_TEXT), words, 1)


def emit(console: Console, title: str, cols: Sequence[Col], rows: Sequence[Sequence[str]],
         *, keys: int = 1, legend: str | None = None) -> None:
    """Print ``rows`` under ``cols``; the first ``keys`` columns identify a row and are
    repeated when the table has to be split to fit ``console.width``."""
    width = console.width
    sizes = [_width([r[i] for r in rows], c) for i, c in enumerate(cols)]
    key_idx = list(range(min(keys, len(cols))))
    key_w = sum(sizes[i][1] + _EDGE for i in key_idx) + 1
    parts: list[list[int]] = []
    current: list[int] = []
    used = key_w
    for i in range(len(key_idx), len(cols)):
        need = sizes[i][1] + _EDGE
        if current and used + need > width:
            parts.append(current)
            current, used = [], key_w
        current.append(i)
        used += need
    if current or not parts:
        parts.append(current)
    for n, part in enumerate(parts, start=1):
        idx = key_idx + part
        suffix = f" ({n}/{len(parts)})" if len(parts) > 1 else ""
        t = Table(title=title + suffix, box=box.SIMPLE_HEAVY, title_justify="left")
        for i in idx:
            c = cols[i]
            t.add_column(c.header, justify="right" if c.numeric else "left",
                         no_wrap=False, overflow="fold", min_width=sizes[i][1])
        for r in rows:
            t.add_row(*[r[i] for i in idx])
        console.print(t)
    if legend:
        console.print(legend, highlight=False)
