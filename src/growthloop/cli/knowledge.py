"""Knowledge-base commands: ``kb add``, ``kb search`` and ``kb list``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
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
from growthloop.decide.knowledge import (
    KnowledgeEntry,
    add_entry,
    list_entries,
    parse_interval,
    search,
)
from growthloop.report.format import MISSING, csv_list, is_missing, number, records
from growthloop.report.layout import Col, emit

__all__ = ["kb_add", "kb_app", "kb_list", "kb_search"]

kb_app = typer.Typer(
    name="kb",
    help="Knowledge base: every strategy tried and its outcome, searchable.",
    no_args_is_help=True,
    epilog="Example: growthloop kb search \"free shipping\"",
)
app.add_typer(kb_app, name="kb")


class Kind(StrEnum):
    experiment = "experiment"
    note = "note"


def _print_entries(title: str, df: pd.DataFrame, *, score: bool) -> None:
    """Entries as a table (text escaped: a title is not markup)."""
    cols = [Col("entry", False), Col("kind", False), Col("title", False),
            Col("decision", False), Col("metric", False), Col("effect (interval)", False),
            Col("markets", False), Col("dates", False),
            *([Col("score")] if score else [])]
    rows = []
    for r in df.itertuples(index=False):
        effect = number(r.effect, "growth")
        if not is_missing(r.effect_low):
            effect = (f"{effect} ({number(r.effect_low, 'growth')} to "
                      f"{number(r.effect_high, 'growth')})")
        dates = " to ".join(str(d) for d in (r.start_date, r.end_date) if d is not None)
        rows.append([r.entry_id, r.kind, escape(r.title), escape(r.decision or MISSING),
                     escape(r.metric or MISSING), effect,
                     escape(r.markets or "all"), dates or MISSING,
                     *([number(r.score)] if score else [])])
    emit(out, title, cols, rows,
         legend=["effect: relative change of the metric (its interval); markets: all "
                 "when the entry is for every market",
                 *(["score: BM25 relevance (higher is better)"] if score else [])])


@command("add", group=kb_app,
         epilog="Example: growthloop kb add --title \"Free shipping over 50 EUR\" "
                "--decision ship --metric buyers --effect 0.05 --interval -0.01,0.11 "
                "--markets DE,FR --from 2025-03-01 --to 2025-03-29")
def kb_add(
    title: Annotated[str, typer.Option("--title", help="What was tried, in a line.")],
    hypothesis: Annotated[str, typer.Option("--hypothesis", help="What it was to show.")
                          ] = "",
    decision: Annotated[str, typer.Option("--decision", help="What was decided.")] = "",
    metric: Annotated[str, typer.Option("--metric", help="The metric it moved.")] = "",
    effect: Annotated[float | None, typer.Option(
        "--effect", help="The relative effect on the metric (0.05: +5 %).")] = None,
    interval: Annotated[str | None, typer.Option(
        "--interval", help="The effect's interval, LOW,HIGH (e.g. -0.01,0.11).")] = None,
    markets: Annotated[str | None, typer.Option(
        "--markets", help="Market codes, comma-separated (default: every market).")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")
                     ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    owner: Annotated[str, typer.Option("--owner", help="Who to ask about it.")] = "",
    notes: Annotated[str, typer.Option("--notes", help="What was learnt.")] = "",
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Add a strategy note to the knowledge base; prints its id."""
    low, high = parse_interval(interval) if interval is not None else (None, None)
    entry = KnowledgeEntry(
        kind="note", title=title, hypothesis=hypothesis, decision=decision,
        metric=metric, effect=effect, effect_low=low, effect_high=high,
        markets=tuple(csv_list(markets)),
        start_date=parse_day(start, "--from") if start else None,
        end_date=parse_day(end, "--to") if end else None, owner=owner, notes=notes)
    with open_warehouse(config, read_only=False) as wh:
        entry_id = add_entry(wh.con, entry, cfg=wh.cfg)
    if as_json:
        print_json({"entry_id": entry_id, "kind": entry.kind, "title": entry.title})
        return
    out.print(entry_id, highlight=False)


@command("search", group=kb_app,
         epilog="Example: growthloop kb search \"checkout shipping\" --limit 5 --json")
def kb_search(
    text: Annotated[str, typer.Argument(help="Words to look for (any of them).")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Entries to show at most.")
                     ] = 10,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Search the knowledge base, best match first.

    Ranked by BM25 over title, hypothesis, notes, decision, metric and markets."""
    with open_warehouse(config) as wh:
        df = search(wh.con, text, limit=limit)
    if as_json:
        print_json({"query": text, "results": records(df)})
        return
    if df.empty:
        err.print(f"no entry matches {escape(repr(text))}", highlight=False)
        return
    _print_entries(f"Knowledge base: {escape(text)}", df, score=True)


@command("list", group=kb_app,
         epilog="Example: growthloop kb list --market DE --kind experiment")
def kb_list(
    metric: Annotated[str | None, typer.Option("--metric", help="Only this metric.")
                      ] = None,
    market: Annotated[str | None, typer.Option(
        "--market", help="Only entries for this market (or for every market).")] = None,
    kind: Annotated[Kind | None, typer.Option("--kind", help="Only this kind.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1,
                                              help="Entries to show at most.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """The knowledge base's entries, newest first."""
    with open_warehouse(config) as wh:
        df = list_entries(wh.con, metric=metric, market=market,
                          kind=kind.value if kind else None, limit=limit)
    if as_json:
        print_json({"entries": records(df)})
        return
    if df.empty:
        err.print("no entries", highlight=False)
        return
    _print_entries("Knowledge base", df, score=False)
