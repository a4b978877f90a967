"""Compile a table's validation rules (``growthloop.core.schema``) into DuckDB SQL.

Every rule becomes a pair: a condition that is true for a bad row, and a message
naming the field, the value and what was expected. Rows are checked in one
vectorised pass; a row lists every rule it breaks, not just the first.

Timestamps with a UTC offset (``2025-03-01T10:00:00+07:00``, ``...Z``) are stored as
that instant in UTC without a zone; one without an offset is taken to be UTC. A money
(``DOUBLE``) value of ``-0`` is stored as 0. The latest plausible time is the end of
tomorrow (UTC) by the clock of the load: ``compile_validation(now=...)``, by default
``utc_now()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from growthloop.core.config import Config
from growthloop.core.schema import COUNTRY, CURRENCIES, CURRENCY, MARKET, Column, Table

__all__ = ["EARLIEST", "Rule", "Validation", "compile_validation", "latest_day", "utc_now"]

EARLIEST = "2000-01-01"
_TYPE_WORDS = {
    "TIMESTAMP": "a timestamp (ISO 8601, e.g. 2025-03-01T12:00:00Z)",
    "DATE": "a date (YYYY-MM-DD)",
    "DOUBLE": "a number",
    "BIGINT": "a whole number",
    "INTEGER": "a whole number",
    "BOOLEAN": "true or false",
}


def utc_now() -> datetime:
    """The current time in UTC, without a zone: the clock a load uses unless given one."""
    return datetime.now(UTC).replace(tzinfo=None)


def latest_day(now: datetime) -> str:
    """The last plausible day for a time read at ``now`` (UTC): tomorrow, ``YYYY-MM-DD``.

    An aware ``now`` is converted to UTC; a naive one is taken as UTC.
    """
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return (now.date() + timedelta(days=1)).isoformat()


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _in_list(values: list[str] | tuple[str, ...]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _show(values: list[str] | tuple[str, ...], limit: int = 12) -> str:
    shown = ", ".join(values[:limit])
    return shown + (", ..." if len(values) > limit else "")


@dataclass(frozen=True)
class Rule:
    """``bad`` is true for a row breaking the rule; ``message`` is a SQL string expression."""

    label: str
    bad: str
    message: str


@dataclass(frozen=True)
class Validation:
    """The SQL pieces of one table's validation.

    ``select`` turns the staged relation ``src`` into typed columns (named as in the
    schema) plus ``_raw_<name>`` text and ``_row``; ``rules`` are evaluated on it.
    """

    select: str
    rules: list[Rule]

    @property
    def ok(self) -> str:
        return "NOT (" + " OR ".join(f"coalesce({r.bad}, false)" for r in self.rules) + ")"

    @property
    def reason(self) -> str:
        parts = ", ".join(f"CASE WHEN {r.bad} THEN {r.message} END" for r in self.rules)
        return f"concat_ws('; ', {parts})"

    @property
    def labels(self) -> str:
        parts = ", ".join(f"CASE WHEN {r.bad} THEN {_lit(r.label)} END" for r in self.rules)
        return f"list_filter([{parts}], x -> x IS NOT NULL)"


def _cast(c: Column, raw: str, src_type: str) -> str:
    if c.dtype == "DOUBLE":  # -0 is stored as 0
        x = raw if src_type == "DOUBLE" else f"TRY_CAST({raw} AS DOUBLE)"
        return f"CASE WHEN {x} = 0 THEN 0.0 ELSE {x} END"
    if c.dtype in ("VARCHAR", "JSON"):
        return raw if src_type == "VARCHAR" else f"CAST({raw} AS VARCHAR)"
    if src_type == c.dtype:
        return raw
    if c.dtype == "TIMESTAMP":
        if src_type.startswith("TIMESTAMP") or src_type == "DATE":
            return f"CAST({raw} AS TIMESTAMP)"
        return f"CAST(TRY_CAST({raw} AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"TRY_CAST({raw} AS {c.dtype})"


def compile_validation(t: Table, config: Config, src_types: dict[str, str],
                       now: datetime | None = None) -> Validation:
    """Build the typed projection and the rules for table ``t``.

    ``src_types`` maps column name to its staged DuckDB type. Identifiers are checked
    as given; pseudonymisation happens when rows are written. ``now`` (default
    ``utc_now()``) sets the latest plausible time: before the day after tomorrow, UTC.
    """
    last = latest_day(now if now is not None else utc_now())
    select: list[str] = ["_row"]
    rules: list[Rule] = []
    for c in t.columns:
        st = src_types[c.name]
        q = f'"{c.name}"'
        raw = f"NULLIF({q}, '')" if st == "VARCHAR" else q
        raw_name = f'"_raw_{c.name}"'
        typed = _cast(c, raw, st)
        select.append(f"{typed} AS {q}")
        select.append(f"CAST({raw} AS VARCHAR) AS {raw_name}")
        shown = f"'{c.name} = ' || coalesce('''' || left({raw_name}, 60) || '''', 'NULL')"

        def add(label: str, bad: str, expected: str, shown: str = shown,
                name: str = c.name) -> None:
            rules.append(Rule(f"{name}: {label}", bad, f"{shown} || {_lit(': ' + expected)}"))

        if c.required:
            rules.append(Rule(f"{c.name}: missing", f"{raw_name} IS NULL",
                              _lit(f"{c.name} is missing (required)")))
        if c.dtype in _TYPE_WORDS and st != c.dtype:
            add("wrong type", f"{raw_name} IS NOT NULL AND {q} IS NULL",
                f"expected {_TYPE_WORDS[c.dtype]}")
        if c.dtype == "DOUBLE":
            # inf, nan, or a number too large for a double (1e400 reads as inf)
            huge = ": expected a finite number (beyond ±1.8e308, the range of a 64-bit float)"
            rules.append(Rule(
                f"{c.name}: not finite", f"isnan({q}) OR isinf({q})",
                f"{shown} || CASE WHEN isnan({q}) OR regexp_matches(lower({raw_name}), 'inf')"
                f" THEN {_lit(': expected a finite number')} ELSE {_lit(huge)} END"))
        allowed: list[str] | tuple[str, ...] | None = None
        what = ""
        if c.allowed == MARKET:
            allowed, what = config.market_codes, "a configured market"
        elif c.allowed == "channel":
            allowed, what = config.channel_names, "a configured channel"
        elif isinstance(c.allowed, tuple):
            allowed, what = c.allowed, "an allowed value"
        if allowed is not None:
            add(f"not {what}", f"{q} NOT IN {_in_list(allowed)}",
                f"expected one of {_show(list(allowed))}")
        elif c.allowed == CURRENCY:
            add("not an ISO 4217 code", f"{q} NOT IN {_in_list(sorted(CURRENCIES))}",
                "expected an ISO 4217 currency code such as USD, EUR, IDR")
        elif c.allowed == COUNTRY:
            add("not an ISO 3166-1 code", f"NOT regexp_full_match({q}, '[A-Z]{{2}}')",
                "expected a two-letter ISO 3166-1 country code such as ID, DE")
        if c.minimum is not None:
            add(f"below {c.minimum:g}", f"{q} < {c.minimum!r}",
                f"expected a value >= {c.minimum:g}")
        if c.maximum is not None:
            add(f"above {c.maximum:g}", f"{q} > {c.maximum!r}",
                f"expected a value <= {c.maximum:g}")
        if c.dtype in ("TIMESTAMP", "DATE"):
            add("implausible date",
                f"{q} < DATE '{EARLIEST}' OR {q} >= DATE '{last}' + INTERVAL 1 DAY",
                f"expected a time between {EARLIEST} and {last} (tomorrow, UTC)")
        if c.dtype == "JSON":
            add("not a JSON object",
                f"{q} IS NOT NULL AND NOT coalesce(json_valid({q}) AND "
                f"json_type(CASE WHEN json_valid({q}) THEN {q} END) = 'OBJECT', false)",
                "expected a JSON object such as {\"key\": \"value\"}")
    for ch in t.checks:
        rules.append(Rule(ch.reason, ch.bad, _lit(ch.reason)))
    return Validation(", ".join(select), rules)
