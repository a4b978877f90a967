"""The growth knowledge base: every strategy tried and what came of it, searchable.

The warehouse's ``knowledge`` table holds one row per entry, of two kinds:

- ``experiment``: a concluded experiment, written from its analysis
  (``entry_from_result``): the hypothesis, the verdict as the decision (``ship``,
  ``don't ship``, ``keep running`` or ``invalid``), the primary metric with its measured
  relative effect and interval (CUPED where it applied), markets, dates, owner, and the
  verdict's reason as notes;
- ``note``: a strategy note a person adds, with a free-text decision and, where there
  are numbers, an effect and its interval.

``markets`` is a comma-separated list of market codes (``DE,FR``), empty for every
market. An entry's id is ``kb-`` and 10 hex digits of the SHA-256 of its content, so the
same entry is never recorded twice (``add_entry`` refuses it, naming the id).

Search (``search``) ranks entries by Okapi BM25 (Robertson & Zaragoza 2009, "The
Probabilistic Relevance Framework: BM25 and Beyond", Foundations and Trends in
Information Retrieval 3(4)), computed by SQLite's FTS5 ``bm25()`` with column weights:
title 3, hypothesis 2, notes, decision, metric and markets 1 each. The full-text index
is built in memory from the table at query time with Python's own ``sqlite3`` (no
database extension to download), tokenised by ``porter unicode61`` (case and accents
folded, words stemmed: "shipping" finds "ship"). The query is read as plain words, any
of which may match; the score is the negated ``bm25()`` (higher is better), and equal
scores go newest first.

"Newest" is by the entry's last day (``end_date``, or the day it was recorded when it
has none), then by when it was recorded (``created_at``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from growthloop.core.config import Config, ExperimentSpec
from growthloop.core.errors import InputError, WarehouseError
from growthloop.decide.experiments import ExperimentResult
from growthloop.warehouse import transaction

__all__ = ["COLUMNS", "DECISIONS", "KINDS", "SEARCH_COLUMNS", "SEARCH_WEIGHTS",
           "KnowledgeEntry", "add_entry", "entry_from_result", "list_entries",
           "parse_interval", "recent", "search", "validate_entry"]

Kind = Literal["experiment", "note"]

KINDS: tuple[str, ...] = ("experiment", "note")
#: The decisions an experiment entry can record: the verdicts of
#: ``growthloop.decide.experiments``.
DECISIONS: tuple[str, ...] = ("ship", "don't ship", "keep running", "invalid")

#: The ``knowledge`` table's columns, in order.
COLUMNS: tuple[str, ...] = (
    "entry_id", "kind", "title", "hypothesis", "decision", "metric", "effect",
    "effect_low", "effect_high", "markets", "start_date", "end_date", "experiment_id",
    "owner", "notes", "created_at")

#: The columns ``search`` returns.
SEARCH_COLUMNS: tuple[str, ...] = (
    "entry_id", "kind", "title", "decision", "metric", "effect", "effect_low",
    "effect_high", "markets", "start_date", "end_date", "score")

#: FTS5 ``bm25()`` weight of each indexed column.
SEARCH_WEIGHTS: dict[str, float] = {"title": 3.0, "hypothesis": 2.0, "notes": 1.0,
                                    "decision": 1.0, "metric": 1.0, "markets": 1.0}

_TEXT = ("hypothesis", "decision", "metric", "experiment_id", "owner", "notes")
_NEWEST = ("coalesce(end_date, CAST(created_at AS DATE)) DESC, created_at DESC, "
           "entry_id")


@dataclass(frozen=True)
class KnowledgeEntry:
    """One entry of the knowledge base, before it is recorded (``add_entry`` gives it
    its id and time). ``markets``: market codes (a ``"DE,FR"`` text is split), empty for
    every market; ``effect``, ``effect_low`` and ``effect_high``: the relative effect
    and its interval, None without numbers."""

    kind: Kind
    title: str
    hypothesis: str = ""
    decision: str = ""
    metric: str = ""
    effect: float | None = None
    effect_low: float | None = None
    effect_high: float | None = None
    markets: tuple[str, ...] = field(default_factory=tuple)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    experiment_id: str = ""
    owner: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        m = self.markets
        if isinstance(m, str):
            m = m.split(",")
        object.__setattr__(self, "markets", tuple(str(x).strip() for x in m
                                                  if str(x).strip()))
        for name in ("title", *_TEXT):
            v = getattr(self, name)
            object.__setattr__(self, name, "" if v is None else str(v).strip())

    @property
    def entry_id(self) -> str:
        """``kb-`` and 10 hex digits of the SHA-256 of the content."""
        doc = asdict(self)
        doc["markets"] = list(self.markets)
        for c in ("effect", "effect_low", "effect_high"):  # 1 and 1.0 are one content
            with contextlib.suppress(TypeError, ValueError):
                doc[c] = None if doc[c] is None else float(doc[c])
        text = json.dumps(doc, sort_keys=True, default=str, ensure_ascii=False)
        return "kb-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def _number(name: str, v: float | None) -> float | None:
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} {v!r}: expected a number (a relative effect, "
                         "e.g. 0.05)") from None
    if not math.isfinite(x):
        raise InputError(f"{name} {v!r}: expected a finite number (a relative effect, "
                         "e.g. 0.05)")
    return x


def validate_entry(entry: KnowledgeEntry, market_codes: Sequence[str]) -> None:
    """Check every field of ``entry``; InputError naming the field, its value and what
    was expected."""
    if entry.kind not in KINDS:
        raise InputError(f"kind {entry.kind!r}: expected one of {', '.join(KINDS)}")
    if not entry.title:
        raise InputError(f"title {entry.title!r}: expected a non-empty title")
    if entry.kind == "experiment":
        if entry.decision not in DECISIONS:
            raise InputError(f"decision {entry.decision!r}: expected for an experiment "
                             f"one of {', '.join(map(repr, DECISIONS))}")
        if not entry.experiment_id:
            raise InputError("experiment_id '': expected the id of the experiment an "
                             "experiment entry records")
    for m in entry.markets:
        if m not in market_codes:
            raise InputError(f"markets {','.join(entry.markets)!r}: {m!r} is not a "
                             f"configured market; expected codes among "
                             f"{', '.join(market_codes)}")
    if len(set(entry.markets)) < len(entry.markets):
        raise InputError(f"markets {','.join(entry.markets)!r}: expected each market "
                         "once")
    effect = _number("effect", entry.effect)
    low = _number("effect_low", entry.effect_low)
    high = _number("effect_high", entry.effect_high)
    if (low is None) != (high is None):
        raise InputError(f"effect_low {low!r}, effect_high {high!r}: expected both ends "
                         "of the interval or neither")
    if low is not None and high is not None:
        if effect is None:
            raise InputError(f"effect None with the interval {low:g} to {high:g}: "
                             "expected the effect the interval is around")
        if not low <= effect <= high:
            raise InputError(f"effect_low {low:g}, effect {effect:g}, effect_high "
                             f"{high:g}: expected effect_low <= effect <= effect_high")
    for name in ("start_date", "end_date"):
        v = getattr(entry, name)
        if v is not None and (not isinstance(v, dt.date) or isinstance(v, dt.datetime)):
            raise InputError(f"{name} {v!r}: expected a date")
    if entry.start_date and entry.end_date and entry.start_date > entry.end_date:
        raise InputError(f"start_date {entry.start_date}, end_date {entry.end_date}: "
                         "expected start_date <= end_date")


def parse_interval(text: str, what: str = "--interval") -> tuple[float, float]:
    """``"-0.01,0.11"`` as ``(-0.01, 0.11)``; InputError otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise InputError(f"{what} {text!r}: expected two numbers LOW,HIGH, e.g. "
                         "-0.01,0.11") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(f"{what} {text!r}: expected two finite numbers LOW,HIGH")
    if low > high:
        raise InputError(f"{what} {text!r}: expected LOW <= HIGH")
    return low, high


def _require_table(con: duckdb.DuckDBPyConnection) -> None:
    found = con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                        "table_name = 'knowledge'").fetchone()
    if not found or not found[0]:
        raise WarehouseError("the warehouse has no knowledge table (an older schema); "
                             "open it once with a writing command to upgrade it")


def add_entry(con: duckdb.DuckDBPyConnection, entry: KnowledgeEntry, *, cfg: Config,
              now: dt.datetime | None = None) -> str:
    """Record ``entry`` (its markets checked against ``cfg``'s) and return its id; an
    entry already recorded is refused with an InputError naming its id."""
    validate_entry(entry, cfg.market_codes)
    _require_table(con)
    entry_id = entry.entry_id
    created = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    row = [entry_id, entry.kind, entry.title,
           *(getattr(entry, c) or None for c in ("hypothesis", "decision", "metric")),
           _number("effect", entry.effect), _number("effect_low", entry.effect_low),
           _number("effect_high", entry.effect_high), ",".join(entry.markets),
           entry.start_date, entry.end_date,
           *(getattr(entry, c) or None for c in ("experiment_id", "owner", "notes")),
           created]
    with transaction(con):
        seen = con.execute("SELECT created_at FROM knowledge WHERE entry_id = ?",
                           [entry_id]).fetchone()
        if seen:
            raise InputError(f"entry {entry.title!r}: already recorded as {entry_id} (on "
                             f"{seen[0]:%Y-%m-%d}); expected a new entry")
        con.execute(f"INSERT INTO knowledge ({', '.join(COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(COLUMNS))})", row)
    return entry_id


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def entry_from_result(result: ExperimentResult, spec: ExperimentSpec) -> KnowledgeEntry:
    """The knowledge entry of an experiment's analysis: the primary metric's overall
    effect for the verdict's variant (the first other than control when the verdict
    names none), CUPED where it applied; no figures for an ``invalid`` experiment (the
    sample-ratio check failed: none is trusted)."""
    if result.experiment_id != spec.id:
        raise InputError(f"experiment_id {result.experiment_id!r}: the analysis is not of "
                         f"the registry's experiment {spec.id!r}")
    effect = low = high = None
    rows = result.rows
    prim = rows[(rows.metric == spec.primary) & (rows.segment == "all")]
    if result.verdict != "invalid" and len(prim):
        if result.variant is not None:
            variant = result.variant
        else:
            order = [v for v in spec.variants if v != spec.control]
            seen = set(prim.variant.astype(str))
            variant = next((v for v in order if v in seen), str(prim.variant.iloc[0]))
        pick = prim[prim.variant.astype(str) == variant]
        if len(pick):
            r = pick.iloc[0]
            cuped = all(_finite(r.get(c)) is not None
                        for c in ("cuped_lift", "cuped_low", "cuped_high"))
            names = ("cuped_lift", "cuped_low", "cuped_high") if cuped else (
                "lift", "lift_low", "lift_high")
            effect, low, high = (_finite(r.get(c)) for c in names)
            if low is None or high is None:
                low = high = None
    figure = f" ({spec.primary} {effect:+.1%})" if effect is not None else ""
    return KnowledgeEntry(
        kind="experiment", title=f"{spec.id}: {result.verdict}{figure}",
        hypothesis=spec.hypothesis, decision=result.verdict, metric=spec.primary,
        effect=effect, effect_low=low, effect_high=high, markets=tuple(spec.markets),
        start_date=spec.start, end_date=spec.end, experiment_id=spec.id,
        owner=spec.owner, notes=result.reason)


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
           ) -> pd.DataFrame:
    """Rows of the table as a frame: dates as ``datetime.date``, missing as None."""
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    df = pd.DataFrame(cur.fetchall(), columns=names, dtype=object)
    for c in ("effect", "effect_low", "effect_high"):
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64)
    return df


def list_entries(con: duckdb.DuckDBPyConnection, *, metric: str | None = None,
                 market: str | None = None, kind: str | None = None,
                 limit: int | None = None) -> pd.DataFrame:
    """The entries, newest first: of ``metric``, of ``kind``, and for ``market`` (those
    whose markets include it, and those for every market)."""
    if kind is not None and kind not in KINDS:
        raise InputError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    if limit is not None and limit < 1:
        raise InputError(f"limit {limit!r}: expected a whole number >= 1")
    _require_table(con)
    where, params = [], []
    if metric:
        where.append("metric = ?")
        params.append(metric)
    if market:
        where.append("(coalesce(markets, '') = '' OR "
                     "list_contains(string_split(markets, ','), ?))")
        params.append(market)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    sql = (f"SELECT {', '.join(COLUMNS)} FROM knowledge"
           f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {_NEWEST}"
           f"{f' LIMIT {int(limit)}' if limit else ''}")
    return _frame(con, sql, params)


def recent(con: duckdb.DuckDBPyConnection, n: int = 5) -> pd.DataFrame:
    """The ``n`` newest entries (for a report)."""
    return list_entries(con, limit=n)


_WORD = re.compile(r"\w+")


def _match_query(text: str) -> str | None:
    """The user's text as an FTS5 query of plain words, any of them matching (each a
    quoted string, so no character of the text is query syntax); None without words."""
    words = _WORD.findall(str(text or ""))
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words)) or None


def search(con: duckdb.DuckDBPyConnection, text: str, *, limit: int = 10
           ) -> pd.DataFrame:
    """The entries matching the words of ``text``, best first (``score``: the negated
    FTS5 ``bm25()`` with ``SEARCH_WEIGHTS``; ties newest first), at most ``limit``."""
    if limit < 1:
        raise InputError(f"limit {limit!r}: expected a whole number >= 1")
    entries = list_entries(con)
    query = _match_query(text)
    if query is None or entries.empty:
        return pd.DataFrame({c: pd.Series(dtype=np.float64 if c.startswith(
            ("effect", "score")) else object) for c in SEARCH_COLUMNS})
    indexed = list(SEARCH_WEIGHTS)
    lite = sqlite3.connect(":memory:")
    try:
        try:
            lite.execute(f"CREATE VIRTUAL TABLE kb USING fts5({', '.join(indexed)}, "
                         "tokenize = 'porter unicode61')")
        except sqlite3.OperationalError as e:
            raise WarehouseError(f"search needs SQLite's FTS5, which this Python's "
                                 f"sqlite3 lacks ({e})") from None
        lite.executemany(
            f"INSERT INTO kb (rowid, {', '.join(indexed)}) VALUES "
            f"(?, {', '.join('?' * len(indexed))})",
            [(i, *("" if pd.isna(v) else str(v) for v in r))
             for i, r in enumerate(entries[indexed].itertuples(index=False))])
        weights = ", ".join(f"{w:g}" for w in SEARCH_WEIGHTS.values())
        hits = lite.execute(f"SELECT rowid, bm25(kb, {weights}) FROM kb WHERE kb MATCH ?",
                            [query]).fetchall()
    finally:
        lite.close()
    # entries is newest first: a stable sort on the score keeps that order among ties
    order = pd.DataFrame(hits, columns=["row", "bm25"])
    order["score"] = -order["bm25"].astype(np.float64)
    order = order.sort_values(["score", "row"], ascending=[False, True], kind="stable")
    found = entries.iloc[order["row"].to_numpy()].reset_index(drop=True)
    found["score"] = order["score"].to_numpy()
    return found.loc[:, list(SEARCH_COLUMNS)].head(limit).reset_index(drop=True)
