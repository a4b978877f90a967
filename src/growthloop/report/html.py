"""Safe HTML for the dashboard and the one-file report: tables, Plotly charts, pages.

Every piece of text that reaches the page (a campaign's name, a reason, an error message)
goes through ``html.escape``; a chart's figure JSON is escaped so it cannot close its
``<script>`` (``<``, ``>`` and ``&`` as ``\\u003c``, ``\\u003e``, ``\\u0026``). A page loads
nothing from the network: the CSS is inline, the fonts are the system's, and plotly.js
comes from a URL the caller gives (the dashboard serves its own copy) or is inlined (the
report, ``plotly.offline.get_plotlyjs``). Inline scripts carry a per-page nonce that the
page's Content-Security-Policy names, so a script that found its way into the data would
not run even if it were not escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.report.format import MISSING, is_missing
from growthloop.report.pages import APPLIES, FILTER_PARAMS, PAGES, Block, Filters
from growthloop.report.privacy import SUPPRESSED, cell
from growthloop.warehouse import Warehouse

__all__ = ["CSS", "block_html", "content_security_policy", "dashboard_page", "document",
           "esc", "figure_html", "message_page", "new_nonce", "report_html", "script_json",
           "table_html", "write_report"]

#: The pages' style sheet (inline: a page loads no resource from elsewhere).
CSS = """
:root { --fg: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #f5f7fa; --accent: #2f5bea; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: var(--bg); }
header { background: #102a43; color: #fff; padding: 10px 20px; }
header h1 { font-size: 18px; margin: 0 0 6px; }
nav a { color: #d9e2ec; margin-right: 14px; text-decoration: none; }
nav a.current { color: #fff; font-weight: 600; border-bottom: 2px solid #fff; }
form.filters { display: flex; gap: 12px; flex-wrap: wrap; align-items: end;
               padding: 10px 20px; background: #fff; border-bottom: 1px solid var(--line); }
form.filters label { display: flex; flex-direction: column; font-size: 12px;
                     color: var(--muted); }
form.filters input, form.filters select { font: inherit; padding: 3px 6px; }
main { padding: 10px 20px 40px; }
section.page > h2 { margin: 24px 0 4px; }
.block { background: #fff; border: 1px solid var(--line); border-radius: 6px;
         padding: 12px 16px; margin: 12px 0; overflow-x: auto; }
.block h3 { font-size: 15px; margin: 0 0 8px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 18em; }
th { font-weight: 600; color: var(--muted); white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.supp { color: var(--muted); font-style: italic; }
.legend { color: var(--muted); font-size: 12px; margin: 6px 0 0; padding-left: 18px; }
.note { color: var(--muted); margin: 0; }
.note.warning { color: #8d2b0b; }
.applies { color: var(--muted); font-size: 12px; margin: 4px 0 0; }
.chart { width: 100%; min-height: 360px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
         background: #e4e7eb; white-space: nowrap; }
.b-challenge { background: #0e7c66; color: #fff; }
.b-target, .b-ship { background: #3ebd93; color: #fff; }
.b-base, .b-keep-running { background: #f7c948; }
.b-below-base, .b-don-t-ship, .b-invalid { background: #e12d39; color: #fff; }
.error { background: #fff; border: 1px solid #e12d39; border-radius: 6px; padding: 16px;
         max-width: 760px; }
"""

#: Plotly's options for every chart: no logo link, resize with the window.
PLOTLY_CONFIG = {"responsive": True, "displaylogo": False}
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")
_WRAP = 48  # characters above which a cell's text may wrap


def esc(value: Any) -> str:
    """``value`` as HTML text (quotes escaped too, so it is safe in an attribute)."""
    return html.escape(str(value), quote=True)


def script_json(text: str) -> str:
    """JSON text made safe inside ``<script>``: ``<``, ``>``, ``&`` and the two JavaScript
    line separators as ``\\u`` escapes (the same value once parsed)."""
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def new_nonce() -> str:
    """A fresh random nonce for a page's inline scripts."""
    return secrets.token_urlsafe(18)


def content_security_policy(nonce: str, *, meta: bool = False) -> str:
    """The page's policy: nothing from other origins, scripts only with ``nonce`` (or from
    this server), no requests from scripts. ``meta``: for a ``<meta>`` tag (a file has no
    headers, and ``frame-ancestors`` is not allowed there)."""
    parts = ["default-src 'none'", f"script-src 'self' 'nonce-{nonce}'",
             "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:",
             "font-src 'self' data:", "connect-src 'none'", "base-uri 'none'",
             "form-action 'self'"]
    if not meta:
        parts.append("frame-ancestors 'none'")
    return "; ".join(parts)


# --------------------------------------------------------------------------- pieces


def _cell(v: Any, unit: str | None, suppressed: bool) -> str:
    """A table cell's text: text as it is, dates as days, numbers by ``unit``."""
    if isinstance(v, str):
        return v
    if isinstance(v, dt.datetime | pd.Timestamp):
        return MISSING if pd.isna(v) else (str(v.date()) if v == v.normalize() else str(v))
    if isinstance(v, dt.date):
        return str(v)
    if isinstance(v, list | tuple | np.ndarray):
        return ", ".join(map(str, v))
    return cell(v, suppressed, unit)


_NUMBER_TEXT = re.compile(r"^[+-]?[\d,]*\.?\d+(%| pt)?$")


def _numeric(col: pd.Series) -> bool:
    """Whether a column holds numbers (or numbers already formatted): right-aligned."""
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    values = [v for v in col if not is_missing(v) and v not in (SUPPRESSED, MISSING)]
    return bool(values) and all(
        (isinstance(v, int | float | np.number) and not isinstance(v, bool))
        or (isinstance(v, str) and _NUMBER_TEXT.match(v) is not None) for v in values)


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def table_html(df: pd.DataFrame, *, units: Mapping[str, str | None] | None = None,
               headers: Mapping[str, str] | None = None, badges: Sequence[str] = ()) -> str:
    """A frame as an HTML table: every cell escaped; numbers formatted by ``units`` per
    column (``growthloop.report.privacy.cell``: a cell emptied in a ``suppressed`` row
    reads ``supp.``); the ``badges`` columns as badges. The ``suppressed`` column itself
    is not shown."""
    units, headers = units or {}, headers or {}
    shown = [c for c in df.columns if c != "suppressed"]
    sup = (df["suppressed"].astype(bool) if "suppressed" in df.columns
           else pd.Series(False, index=df.index))
    numeric = {c: _numeric(df[c]) for c in shown}
    head = "".join(f'<th{" class=num" if numeric[c] else ""}>{esc(headers.get(c, c))}</th>'
                   for c in shown)
    body = []
    for (_, row), s in zip(df[shown].iterrows(), sup, strict=True):
        tds = []
        for c in shown:
            text = _cell(row[c], units.get(c), bool(s))
            classes = [*(["num"] if numeric[c] else []),
                       *(["supp"] if text == SUPPRESSED else []),
                       *(["wrap"] if len(text) > _WRAP else [])]
            attr = f' class="{" ".join(classes)}"' if classes else ""
            inner = esc(text)
            if c in badges and text not in (SUPPRESSED, MISSING):
                inner = f'<span class="badge b-{_slug(text)}">{inner}</span>'
            tds.append(f"<td{attr}>{inner}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            if len(df) else '<p class="note">no rows</p>')


def figure_html(fig: Any, div_id: str, nonce: str) -> str:
    """A Plotly figure as a ``<div>`` and the script that draws it there (the figure's
    JSON from ``plotly.io.to_json``, escaped by ``script_json``)."""
    import plotly.io as pio

    div_id = _SAFE_ID.sub("-", div_id)
    data = script_json(pio.to_json(fig, validate=False))
    return (f'<div id="{div_id}" class="chart"></div>'
            f'<script nonce="{esc(nonce)}">(function () {{ var f = {data}; '
            f"Plotly.newPlot({json.dumps(div_id)}, f.data, f.layout, "
            f"{json.dumps(PLOTLY_CONFIG)}); }})();</script>")


def block_html(block: Block, div_id: str, nonce: str) -> str:
    """One ``growthloop.report.pages.Block``: its title, then its table, chart or note,
    then its legend lines."""
    parts = [f"<h3>{esc(block.title)}</h3>"] if block.title else []
    if block.note is not None:
        kind = "note warning" if block.warning else "note"
        parts.append(f'<p class="{kind}">{esc(block.note)}</p>')
    if block.table is not None:
        parts.append(table_html(block.table, units=block.units, headers=block.headers,
                                badges=block.badges))
    if block.figure is not None:
        parts.append(figure_html(block.figure, div_id, nonce))
    if block.legend:
        parts.append('<ul class="legend">' + "".join(f"<li>{esc(line)}</li>"
                                                     for line in block.legend) + "</ul>")
    return '<div class="block">' + "".join(parts) + "</div>"


def blocks_html(page: str, blocks: Sequence[Block], nonce: str) -> str:
    """A page's blocks, each chart with an id unique on the page."""
    return "".join(block_html(b, f"chart-{page}-{i}", nonce) for i, b in enumerate(blocks))


def nav_html(current: str | None, href: Callable[[str], str]) -> str:
    """The nav bar: a link to every page (``href(name)``), the current one marked."""
    links = [f'<a href="{esc(href(name))}"{" class=current" if name == current else ""}>'
             f"{esc(label)}</a>" for name, (label, _) in PAGES.items()]
    return "<nav>" + "".join(links) + "</nav>"


def _select(name: str, label: str, options: Sequence[str], value: str | None) -> str:
    opts = [f'<option value=""{" selected" if value is None else ""}>all</option>']
    opts += [f'<option value="{esc(o)}"{" selected" if o == value else ""}>{esc(o)}</option>'
             for o in options]
    return f'<label>{esc(label)}<select name="{name}">{"".join(opts)}</select></label>'


def filter_form_html(cfg: Config, action: str, f: Filters) -> str:
    """The filter form (from, to, market, channel), sent to ``action`` by GET."""
    def day(name: str, label: str, v: dt.date | None) -> str:
        return (f'<label>{esc(label)}<input type="date" name="{name}" '
                f'value="{esc(v or "")}"></label>')

    return (f'<form class="filters" method="get" action="{esc(action)}">'
            + day("from", "from", f.start) + day("to", "to (the day after the last)", f.end)
            + _select("market", "market", cfg.market_codes, f.market)
            + _select("channel", "channel", cfg.channel_names, f.channel)
            + '<button type="submit">apply</button></form>')


def document(title: str, body: str, *, nonce: str, head: str = "", meta_csp: bool = False
             ) -> str:
    """A whole HTML page: ``title``, the inline CSS, ``head`` (scripts), ``body``."""
    csp = (f'<meta http-equiv="Content-Security-Policy" '
           f'content="{esc(content_security_policy(nonce, meta=True))}">' if meta_csp else "")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'{csp}<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="referrer" content="no-referrer">'
            '<link rel="icon" href="data:,">'  # no favicon request
            f"<title>{esc(title)}</title><style>{CSS}</style>{head}</head>"
            f"<body>{body}</body></html>\n")


def _applies(page: str) -> str:
    used = APPLIES.get(page, ())
    unused = [p for p in FILTER_PARAMS if p not in used]
    return (f'<p class="applies">This page applies the filters {esc(", ".join(used))}'
            + (f"; not {esc(', '.join(unused))}" if unused else "") + ".</p>")


def dashboard_page(cfg: Config, page: str, f: Filters, blocks: Sequence[Block], *,
                   base: str, plotly_src: str, nonce: str) -> str:
    """A dashboard page: nav (links keep the filters), filter form, the page's blocks;
    plotly.js from ``plotly_src``; ``base``: the dashboard's path (``/dashboard``)."""
    query = urlencode(f.params())

    def href(name: str) -> str:
        return f"{base}/{name}" + (f"?{query}" if query else "")

    label = PAGES[page][0]
    body = (f"<header><h1>growthloop · {esc(label)}</h1>{nav_html(page, href)}</header>"
            + filter_form_html(cfg, f"{base}/{page}", f)
            + f'<main><section class="page" id="{esc(page)}">{_applies(page)}'
            + blocks_html(page, blocks, nonce) + "</section></main>")
    head = f'<script src="{esc(plotly_src)}"></script>'
    return document(f"growthloop · {label}", body, nonce=nonce, head=head)


def message_page(title: str, message: str) -> str:
    """A page that says one thing (an error: 400, 401, 403, 404), escaped."""
    body = (f'<main><div class="error"><h2>{esc(title)}</h2><p>{esc(message)}</p></div>'
            "</main>")
    return document(f"growthloop · {title}", body, nonce=new_nonce())


# --------------------------------------------------------------------------- report


def _plotly_inline() -> str:
    """plotly.js to inline in a ``<script>``: any ``</script`` in it escaped."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script")


def report_html(wh: Warehouse, f: Filters | None = None) -> str:
    """Every page of the dashboard in one self-contained HTML document: plotly.js
    inlined, no request to any other place (its policy forbids them)."""
    f = f or Filters()
    nonce = new_nonce()
    sections = []
    for name, (label, make) in PAGES.items():
        sections.append(f'<section class="page" id="{esc(name)}"><h2>{esc(label)}</h2>'
                        + _applies(name) + blocks_html(name, make(wh, f), nonce)
                        + "</section>")
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (f"<header><h1>growthloop report</h1>{nav_html(None, lambda n: f'#{n}')}"
            f"</header><main><p class=\"applies\">Generated {esc(generated)}; "
            f"{esc(f.describe())}; shared view: cells built from fewer than "
            f"{esc(wh.cfg.privacy.min_group_size)} people are suppressed.</p>"
            + "".join(sections) + "</main>")
    head = f'<script id="plotly-js" nonce="{esc(nonce)}">{_plotly_inline()}</script>'
    return document("growthloop report", body, nonce=nonce, head=head, meta_csp=True)


def write_report(wh: Warehouse, path: str | Path, f: Filters | None = None) -> Path:
    """Write ``report_html`` to ``path`` atomically (a temporary file in the same folder,
    then a rename): a reader never sees half a report."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"report file {path}: expected a name ending in .html")
    if not path.parent.is_dir():
        raise InputError(f"report file {path}: the folder {path.parent} does not exist")
    text = report_html(wh, f)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
