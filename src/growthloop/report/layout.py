"""Terminal tables that fit: no number or name is ever cut.

``emit`` prints rows as one table when it fits the console (80 columns when output goes
to a pipe or a log), and otherwise splits the non-key columns over several tables, each
repeating the key columns, so every cell is shown whole. Column widths are computed here,
not left to Rich: a number column is exactly as wide as its longest cell (it never wraps),
a header wraps at its spaces, and a text column is at least as wide as its longest word,
so names wrap between words and are never cut. Only a word longer than two fifths of the
console (a file path) is broken, after a ``/``, ``_`` or ``-`` where it can be.

The title and the legend are printed as paragraphs wrapped to the console width; the
table itself has a header rule and two spaces between columns, no side borders.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["GAP", "Col", "Legend", "emit", "paragraph", "split_columns", "table_width",
           "tables_needed"]

GAP = 2  # characters between two columns (one of padding, one of separator)


@dataclass(frozen=True)
class Col:
    """A column: its header and whether it holds numbers (right-aligned, never wrapped)."""

    header: str
    numeric: bool = True


Cell = str | Text
Legend = str | Sequence[str] | None  # one line per entry, each wrapped with a hanging indent


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text.from_markup(cell)


def _longest_line(t: Text) -> int:
    return max((cell_len(line) for line in t.plain.split("\n")), default=0)


def _longest_word(s: str) -> int:
    return max((cell_len(w) for w in s.split()), default=0)


@dataclass(frozen=True)
class _Size:
    minimum: int  # narrowest without cutting a number or a word
    natural: int  # every cell and the header on one line


def _size(col: Col, cells: Sequence[Text]) -> _Size:
    longest = max((_longest_line(t) for t in cells), default=0)
    header_word = _longest_word(col.header)
    natural = max(longest, cell_len(col.header), 1)
    if col.numeric:
        return _Size(max(longest, header_word, 1), natural)
    word = max((_longest_word(t.plain) for t in cells), default=0)
    return _Size(max(word, header_word, 1), natural)


def table_width(widths: Sequence[int]) -> int:
    """Characters a table with columns of these content widths takes."""
    return sum(widths) + GAP * max(len(widths) - 1, 0)


def split_columns(width: int, minimum: Sequence[int], keys: int) -> list[list[int]]:
    """The non-key columns (indexes ``keys..``) in as few consecutive groups as fit
    ``width`` next to the key columns, as evenly wide as possible. A column too wide to
    fit even alone gets a group of its own."""
    n = len(minimum)
    rest = list(range(keys, n))
    if not rest:
        return [[]]
    key_w = table_width(minimum[:keys])

    def part_w(i: int, j: int) -> int:  # columns rest[i:j] with the keys
        w = table_width([minimum[c] for c in rest[i:j]])
        return w + (key_w + GAP if keys else 0)

    m = len(rest)
    # best[j] = (groups, widest group) for rest[:j]; fewer groups first, then narrower
    best: list[tuple[int, int]] = [(0, 0)] + [(m + 1, 0)] * m
    cut = [0] * (m + 1)
    for j in range(1, m + 1):
        for i in range(j - 1, -1, -1):
            w = part_w(i, j)
            if w > width and i < j - 1:
                break
            cand = (best[i][0] + 1, max(best[i][1], w))
            if cand < best[j]:
                best[j], cut[j] = cand, i
    groups: list[list[int]] = []
    j = m
    while j > 0:
        groups.append(rest[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def _widths(width: int, cols: Sequence[Col], sizes: Sequence[_Size]) -> list[int]:
    """Content widths for one table: the minimum, then the room left to text columns (so
    they wrap less), then to the headers that it puts on fewer lines, cheapest first. A
    text column is made narrower than its longest word only if the table cannot fit
    otherwise (down to 8 characters)."""
    w = [s.minimum for s in sizes]
    over = table_width(w) - width
    while over > 0:  # a word wider than the console: narrow the widest text column
        text = [i for i, c in enumerate(cols) if not c.numeric and w[i] > 8]
        if not text:
            break
        i = max(text, key=lambda k: w[k])
        cut = min(over, w[i] - 8)
        w[i] -= cut
        over -= cut
    slack = width - table_width(w)
    wanting = sorted((sizes[i].natural - w[i], i) for i, c in enumerate(cols)
                     if not c.numeric and sizes[i].natural > w[i])
    for need, i in wanting:  # text columns first: fewer wrapped rows
        give = min(need, slack)
        w[i] += give
        slack -= give
    while slack > 0:  # then headers onto fewer lines, the cheapest first
        best = None
        for i, c in enumerate(cols):
            lines = _header_lines(c.header, w[i])
            for extra in range(1, min(slack, sizes[i].natural - w[i]) + 1):
                if _header_lines(c.header, w[i] + extra) < lines:
                    if best is None or extra < best[0]:
                        best = (extra, i)
                    break
        if best is None:
            break
        w[best[1]] += best[0]
        slack -= best[0]
    return w


def _header_lines(header: str, width: int) -> int:
    return len(textwrap.wrap(header, width, break_long_words=True)) or 1


def _wrap(t: Text, width: int) -> Text:
    """``t`` broken into lines of at most ``width`` cells: between words, and inside a
    word only when the word alone is wider (after ``/``, ``_`` or ``-`` if it has one)."""
    if _longest_line(t) <= width:
        return t
    plain = t.plain
    spans: list[tuple[int, int]] = []  # (start, end) of each output line
    for line_start, line in _line_starts(plain):
        start = end = None
        for m in re.finditer(r"\S+", line):
            for ps, pe in _pieces(m.start(), m.group(), width):
                a, b = line_start + ps, line_start + pe
                joined = start is not None and cell_len(plain[start:b]) <= width
                if joined:
                    end = b
                    continue
                if start is not None:
                    spans.append((start, end))
                start, end = a, b
        spans.append((start, end) if start is not None else (line_start, line_start))
    return Text("\n").join(t[a:b] for a, b in spans)


def _line_starts(plain: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in plain.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out


def _pieces(start: int, word: str, width: int, breaks: str = "/_-") -> list[tuple[int, int]]:
    """A word as (start, end) pieces no wider than ``width``: whole if it fits, else split
    after its ``/`` (then after ``_`` or ``-``), folding what still does not fit."""
    if cell_len(word) <= width:
        return [(start, start + len(word))]
    if not breaks:
        return [(a, min(a + width, start + len(word)))
                for a in range(start, start + len(word), width)]
    level, rest = (breaks[0], breaks[1:]) if breaks[0] == "/" else (breaks, "")
    parts = [(start + m.start(), m.group())
             for m in re.finditer(rf"[^{re.escape(level)}]*[{re.escape(level)}]|"
                                  rf"[^{re.escape(level)}]+", word)]
    pieces: list[tuple[int, int]] = []
    for ps, part in parts:
        for a, b in _pieces(ps, part, width, rest):
            if pieces and cell_len(word[pieces[-1][0] - start:b - start]) <= width:
                pieces[-1] = (pieces[-1][0], b)
            else:
                pieces.append((a, b))
    return pieces


def paragraph(console: Console, text: str | Text, style: str = "", indent: int = 0) -> None:
    """``text`` wrapped to the console width between words (a ``str`` is not markup),
    lines after the first indented by ``indent``; no number is split."""
    width = max(console.width, 20)
    t = text if isinstance(text, Text) else Text(text, style=style)
    lines = _wrap(t, width - indent).split("\n") if indent else _wrap(t, width).split("\n")
    for n, line in enumerate(lines):
        console.print(Text(" " * indent) + line if n and indent else line, soft_wrap=True,
                      highlight=False)


def _print_table(console: Console, table: Table) -> None:
    """``table`` line by line, without the trailing blanks of padded cells."""
    for line in console.render_lines(table, console.options, pad=False):
        text = Text.assemble(*[(seg.text, seg.style) for seg in line if not seg.control])
        text.rstrip()
        console.print(text, soft_wrap=True, highlight=False)


def _legend(console: Console, legend: Legend) -> None:
    entries = [legend] if isinstance(legend, str) else list(legend or [])
    for e in entries:
        paragraph(console, e, "dim", indent=2)


def _plan(width: int, cols: Sequence[Col], texts: Sequence[Sequence[Text]], keys: int
          ) -> tuple[list[_Size], list[list[int]]]:
    """Column sizes and the groups of non-key columns, one table each. A word of a text
    column is kept whole up to two fifths of the width (32 of 80 characters: any name);
    a longer one (a file path) is broken rather than the table split for it."""
    cap = max(12, width * 2 // 5)
    sizes = [s if c.numeric else _Size(min(s.minimum, cap), s.natural)
             for c, s in ((c, _size(c, [r[i] for r in texts])) for i, c in enumerate(cols))]
    if table_width([s.natural for s in sizes]) <= width:
        return sizes, [list(range(keys, len(cols)))]
    return sizes, split_columns(width, [s.minimum for s in sizes], keys)


def tables_needed(width: int, cols: Sequence[Col], rows: Sequence[Sequence[Cell]],
                  keys: int = 1) -> int:
    """How many tables ``emit`` prints these rows as on a console ``width`` wide."""
    keys = min(keys, len(cols))
    return len(_plan(width, cols, [[_text(c) for c in r] for r in rows], keys)[1])


def emit(console: Console, title: str, cols: Sequence[Col], rows: Sequence[Sequence[Cell]],
         *, keys: int = 1, legend: Legend = None) -> None:
    """Print ``rows`` under ``cols`` (cells are Rich markup or ``Text``); the first ``keys``
    columns identify a row and are repeated when the table has to be split to fit
    ``console.width``. ``legend`` is printed under the last table."""
    width = console.width
    keys = min(keys, len(cols))
    texts = [[_text(c) for c in r] for r in rows]
    sizes, parts = _plan(width, cols, texts, keys)
    for n, part in enumerate(parts, start=1):
        idx = list(range(keys)) + part
        widths = _widths(width, [cols[i] for i in idx], [sizes[i] for i in idx])
        t = Table(box=box.SIMPLE_HEAVY, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="bold")
        for i, w in zip(idx, widths, strict=True):
            c = cols[i]
            # wide enough for every cell of a number column, so only its header wraps
            t.add_column(Text(c.header), justify="right" if c.numeric else "left", width=w,
                         overflow="fold")
        for r in texts:
            t.add_row(*[r[i] if cols[i].numeric else _wrap(r[i], w)
                        for i, w in zip(idx, widths, strict=True)])
        suffix = f" ({n}/{len(parts)})" if len(parts) > 1 else ""
        paragraph(console, title + suffix, "bold")
        _print_table(console, t)
        if n == len(parts):
            _legend(console, legend)
        console.print()
