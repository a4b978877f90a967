"""Audiences: people chosen by their tags, scores and uplift, materialised and exported.

An audience (``[[audiences]]`` in growthloop.toml, ``growthloop.core.config.Audience``)
is a declarative filter, never SQL: ``where`` maps a column of ``user_tags``
(``value_tier``, ``high_value``, ``rfm_segment``, ``lifecycle_stage``,
``days_since_last``, ``clv``, ``orders``, ``total_value``, ``market``, ``channel``), of
``customer_scores`` (``p_alive``, ``expected_purchases``) or ``uplift`` (the latest
``uplift_scores`` of one experiment) to a condition, and ``markets`` keeps some markets.
``selection_table`` compiles it into one Ibis expression: a row per tagged customer with
the columns filtered on, one flag per condition (``ok_0``, ``ok_1``, ...) and their
conjunction ``selected``. A missing value (no score, no uplift score) fails its
condition. The same compilation serves the lifecycle triggers
(``growthloop.decide.triggers``).

Consent: an audience is a list for action built from predictions about people, the
same as the tags export, so it keeps only people with marketing and personalisation
consent (``growthloop.ingest.consent``, use ``tags``); nothing turns it off, and every
build and export counts the people it left out. An audience with fewer members than
``[privacy] min_group_size`` (k) is built but refused for export: a list that small
could single people out.

``build_audiences`` writes each audience's members into ``audience_members`` under a
version (``audience_versions`` records its definition, size and the people left out); a
build whose definition and members equal the latest version's writes nothing new, and
the last ``KEEP_VERSIONS`` versions are kept. ``export_audience`` reads the latest
version back, re-applying consent (a withdrawal since the build is respected).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Audience, Condition, Config, Selection
from growthloop.core.errors import ConfigError, InputError
from growthloop.decide.tags import LIFECYCLE_STAGES, RFM_SEGMENTS, TIERS
from growthloop.ingest.consent import ConsentReport, consent_report, keep_consenting
from growthloop.warehouse import ibis_backend, transaction
from growthloop.warehouse.store import insert_frame

__all__ = [
    "CONSENT_USE",
    "EXPORT_SUFFIXES",
    "KEEP_VERSIONS",
    "TAG_VALUES",
    "build_audiences",
    "check_export_path",
    "check_values",
    "export_audience",
    "latest_uplift",
    "list_audiences",
    "predicate",
    "require_tags",
    "selection_table",
]

#: The consent use of audiences and triggers (``growthloop.ingest.consent.USES``).
CONSENT_USE = "audiences"
#: Versions kept per audience.
KEEP_VERSIONS = 10
#: File types an audience is exported as.
EXPORT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
#: The values a tag column can hold (``growthloop.decide.tags``).
TAG_VALUES: dict[str, tuple[str, ...]] = {
    "value_tier": TIERS, "rfm_segment": RFM_SEGMENTS, "lifecycle_stage": LIFECYCLE_STAGES}

_MEMBER_COLUMNS = ("audience", "version", "user_id", "market", "as_of", "built_at")
_VERSION_COLUMNS = ("audience", "version", "definition", "size", "people_left_out",
                    "as_of", "tags_version", "built_at")


def check_values(sel: Selection) -> None:
    """ConfigError when a condition on a tag names a value the tag never takes."""
    for c in sel.conditions:
        allowed = TAG_VALUES.get(c.field)
        for v in (*c.values, *c.exclude) if allowed else ():
            if v not in allowed:
                raise ConfigError(f"growthloop.toml: {sel.owner}: where.{c.field} = {v!r}: "
                                  f"expected one of {', '.join(allowed)}")


def require_tags(backend: BaseBackend) -> None:
    """InputError when ``user_tags`` is empty (nothing to select from yet)."""
    if int(backend.table("user_tags").count().execute()) == 0:
        raise InputError("there are no customer tags yet; run `growthloop clv fit` first")


def latest_uplift(backend: BaseBackend, experiment: str) -> ir.Table:
    """``user_id`` and ``uplift`` of the latest uplift scores of ``experiment`` (the model
    version scored last); InputError naming the experiment and those scored."""
    u = backend.table("uplift_scores")
    mine = u.filter(u.experiment_id == experiment)
    last = mine.order_by([ibis.desc("scored_at"), ibis.desc("model_version")]).limit(1)
    got = last.select("model_version").execute()
    if got.empty:
        have = sorted(u.select("experiment_id").distinct().execute().experiment_id)
        raise InputError(f"experiment {experiment!r} has no uplift scores (table "
                         f"uplift_scores holds {', '.join(have) or 'none'}); score it first")
    version = str(got.model_version.iloc[0])
    rows = mine.filter(mine.model_version == version)
    return rows.group_by("user_id").aggregate(uplift=rows.uplift.mean())


def predicate(col: ir.Column, c: Condition) -> ir.BooleanColumn:
    """The condition on one column as an Ibis boolean (a missing value fails it)."""
    parts: list[ir.BooleanColumn] = []
    if c.values:
        parts.append(col.isin(list(c.values)))
    if c.exclude:
        parts.append(~col.isin(list(c.exclude)))
    if c.flag is not None:
        parts.append(col == c.flag)
    if c.equals is not None:
        parts.append(col == c.equals)
    if c.min is not None:
        parts.append(col >= c.min)
    if c.max is not None:
        parts.append(col <= c.max)
    if c.above is not None:
        parts.append(col > c.above)
    if c.below is not None:
        parts.append(col < c.below)
    out = parts[0]
    for p in parts[1:]:
        out = out & p
    return out.fill_null(False)


def selection_table(backend: BaseBackend, sel: Selection) -> ir.Table:
    """Every tagged customer with ``user_id``, ``market``, ``as_of``, each filtered column,
    a flag per condition (``ok_<i>``, in ``sel.conditions`` order) and ``selected``."""
    check_values(sel)
    conds = sel.conditions
    t = backend.table("user_tags")
    tag_fields = list(dict.fromkeys(c.field for c in conds if c.table == "user_tags"
                                    and c.field != "market"))
    wide = t.select("user_id", "market", "as_of", *tag_fields)
    score_fields = list(dict.fromkeys(c.field for c in conds
                                      if c.table == "customer_scores"))
    if score_fields:
        s = backend.table("customer_scores").select("user_id", *score_fields)
        wide = wide.left_join(s, "user_id").select(*wide.columns, *score_fields)
    for c in conds:
        if c.field == "uplift":
            up = latest_uplift(backend, str(c.experiment))
            wide = wide.left_join(up, "user_id").select(*wide.columns, "uplift")
    flags = {f"ok_{i}": predicate(wide[c.field], c) for i, c in enumerate(conds)}
    wide = wide.mutate(**flags) if flags else wide
    selected = ibis.literal(True)
    for name in flags:
        selected = selected & wide[name]
    return wide.mutate(selected=selected)


def _matches(backend: BaseBackend, sel: Selection) -> ir.Table:
    wide = selection_table(backend, sel)
    return wide.filter(wide.selected)


def _latest_versions(backend: BaseBackend) -> pd.DataFrame:
    v = backend.table("audience_versions")
    df = v.execute()
    if df.empty:
        return df
    return df.sort_values("version").groupby("audience").tail(1).set_index("audience")


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None,
                                                                       microsecond=0)


def build_audiences(con: duckdb.DuckDBPyConnection, cfg: Config,
                    names: list[str] | None = None, *, now: dt.datetime | None = None
                    ) -> pd.DataFrame:
    """Materialise the configured audiences (or those ``names``) in one transaction.

    One row per audience: ``name``, ``description``, ``version``, ``size`` (members,
    with consent), ``exportable`` (size >= ``[privacy] min_group_size``),
    ``people_left_out`` (matched but without consent), ``changed`` (a new version was
    written), ``as_of`` (the tags' day) and ``built_at``.
    """
    backend = ibis_backend(con)
    chosen = [cfg.audience(n) for n in names] if names else list(cfg.audiences)
    if not chosen:
        raise ConfigError("growthloop.toml defines no audience; add one under [[audiences]]")
    require_tags(backend)
    built_at = _now(now)
    k = cfg.privacy.min_group_size
    tags_version = str(backend.table("user_tags").model_version.max().execute())
    latest = _latest_versions(backend)
    members_t = backend.table("audience_members")
    rows, writes = [], []
    for a in chosen:
        matched = _matches(backend, a)
        members = keep_consenting(matched, backend, CONSENT_USE).select(
            "user_id", "market", "as_of").execute().sort_values("user_id", ignore_index=True)
        left_out = consent_report(matched, backend, CONSENT_USE).people_left_out
        definition = a.definition()
        last = latest.loc[a.name] if a.name in latest.index else None
        changed, version = True, 1
        if last is not None:
            before = members_t.filter((members_t.audience == a.name)
                                      & (members_t.version == int(last.version))).user_id
            changed = (last.definition != definition
                       or set(before.execute()) != set(members.user_id))
            version = int(last.version) + 1 if changed else int(last.version)
        as_of = members.as_of.max() if len(members) else backend.table(
            "user_tags").as_of.max().execute()
        if changed:
            writes.append((a.name, version, members.assign(
                audience=a.name, version=version, built_at=built_at), {
                "audience": a.name, "version": version, "definition": definition,
                "size": len(members), "people_left_out": left_out, "as_of": as_of,
                "tags_version": tags_version, "built_at": built_at}))
        rows.append({"name": a.name, "description": a.description, "version": version,
                     "size": len(members), "exportable": len(members) >= k,
                     "people_left_out": left_out, "changed": changed,
                     "as_of": pd.Timestamp(as_of).date() if as_of is not None else None,
                     "built_at": built_at if changed else last.built_at})
    with transaction(con):
        for name, version, members, meta in writes:
            insert_frame(con, "audience_members", members, _MEMBER_COLUMNS,
                         {"version": "INTEGER", "as_of": "DATE", "built_at": "TIMESTAMP"})
            insert_frame(con, "audience_versions", pd.DataFrame([meta]), _VERSION_COLUMNS,
                         {"version": "INTEGER", "size": "BIGINT",
                          "people_left_out": "BIGINT", "as_of": "DATE",
                          "built_at": "TIMESTAMP"})
            for table in ("audience_members", "audience_versions"):
                con.execute(f'DELETE FROM "{table}" WHERE audience = ? AND version <= ?',
                            [name, version - KEEP_VERSIONS])
    return pd.DataFrame(rows, columns=["name", "description", "version", "size",
                                       "exportable", "people_left_out", "changed", "as_of",
                                       "built_at"])


def list_audiences(backend: BaseBackend, cfg: Config) -> pd.DataFrame:
    """Every configured audience with its latest built version: ``name``,
    ``description``, ``version``, ``size``, ``exportable``, ``people_left_out``,
    ``as_of``, ``built_at`` (empty when never built) and ``current`` (the version was
    built from the definition now in growthloop.toml)."""
    latest = _latest_versions(backend)
    k = cfg.privacy.min_group_size
    rows = []
    for a in cfg.audiences:
        last = latest.loc[a.name] if a.name in latest.index else None
        built = last is not None
        rows.append({
            "name": a.name, "description": a.description,
            "version": int(last.version) if built else None,
            "size": int(last["size"]) if built else None,
            "exportable": bool(last["size"] >= k) if built else False,
            "people_left_out": int(last.people_left_out) if built else None,
            "as_of": pd.Timestamp(last.as_of).date() if built and last.as_of is not None
            and not pd.isna(last.as_of) else None,
            "built_at": last.built_at if built else None,
            "current": bool(built and last.definition == a.definition()),
        })
    return pd.DataFrame(rows, columns=["name", "description", "version", "size",
                                       "exportable", "people_left_out", "as_of",
                                       "built_at", "current"])


def _built(backend: BaseBackend, a: Audience) -> pd.Series:
    latest = _latest_versions(backend)
    if a.name not in latest.index:
        raise InputError(f"audience {a.name!r} has not been built yet; run `growthloop "
                         f"audiences build {a.name}`")
    last = latest.loc[a.name]
    if last.definition != a.definition():
        raise InputError(f"audience {a.name!r} changed in growthloop.toml since version "
                         f"{int(last.version)} was built; run `growthloop audiences build "
                         f"{a.name}`")
    return last


def export_audience(backend: BaseBackend, cfg: Config, name: str
                    ) -> tuple[pd.DataFrame, ConsentReport]:
    """The latest built version of audience ``name`` as rows to export (``user_id``,
    ``market``, ``audience``, ``version``, ``as_of``), with consent applied again, and the
    people left out: those the build left out plus those who withdrew consent since.

    InputError when the audience was never built, changed since, or has fewer people
    than ``[privacy] min_group_size`` (k).
    """
    a = cfg.audience(name)
    last = _built(backend, a)
    version = int(last.version)
    m = backend.table("audience_members")
    rows = m.filter((m.audience == a.name) & (m.version == version))
    kept = keep_consenting(rows, backend, CONSENT_USE)
    withdrawn = consent_report(rows, backend, CONSENT_USE).people_left_out
    report = ConsentReport(CONSENT_USE, int(last.people_left_out) + withdrawn)
    df = kept.select("user_id", "market", "audience", "version", "as_of").execute()
    df = df.sort_values("user_id", ignore_index=True)
    k = cfg.privacy.min_group_size
    if len(df) < k:
        who = "1 person" if len(df) == 1 else f"{len(df):,} people"
        raise InputError(
            f"audience {a.name!r} (version {version}) has {who}, below the privacy group "
            f"size k = {k} ([privacy] min_group_size): a list this small could single "
            "people out, so it is not exported")
    df["as_of"] = pd.to_datetime(df.as_of).dt.date
    return df, report


def check_export_path(path: Path) -> Path:
    """``path`` when it ends in ``.csv`` or ``.parquet``; else InputError."""
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise InputError(f"--out {path}: unknown file type {path.suffix!r}; expected "
                         f"{' or '.join(EXPORT_SUFFIXES)}")
    return path
