"""Lifecycle triggers: who entered and who left each messaging state since the last run.

A trigger is a selection on the tags (the filter structure of audiences,
``growthloop.decide.audiences.selection_table``). Built in (``DEFAULT_TRIGGERS``):

- ``win_back``: high-value customers at risk (``lifecycle_stage`` at_risk and
  ``high_value``), to win back before they churn;
- ``vip_care``: the VIP tier (``value_tier`` vip);
- ``second_purchase``: one-time buyers (``orders`` = 1) whose purchase is at least
  ``SECOND_PURCHASE_DAYS`` days old, nudged towards a second.

``[[triggers]]`` in growthloop.toml adds triggers; one with a built-in's name replaces
it, and ``enabled = false`` switches it off (its last state is kept and nothing is
recorded for it until it is switched on again).

``run_triggers`` compares each trigger's members now with its state at the last run
(``trigger_state``) and records who entered and who left in ``trigger_changes``, each
with a sentence saying why (the tag values that made them enter; the condition no longer
met, "consent withdrawn" or "no longer tagged" for those who leave). The change table is
a list for messaging, so only people with marketing (and personalisation) consent enter,
as for audiences (``CONSENT_USE``). With no new data a run writes nothing: the state
equals the members. Everything is written in one transaction.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Condition, Config, Trigger
from growthloop.decide.audiences import CONSENT_USE, require_tags, selection_table
from growthloop.ingest.consent import consent_report, keep_consenting
from growthloop.warehouse import ibis_backend, transaction
from growthloop.warehouse.store import insert_frame

__all__ = ["CHANGE_COLUMNS", "DEFAULT_TRIGGERS", "SECOND_PURCHASE_DAYS", "STATE_COLUMNS",
           "active_triggers", "enter_reason", "leave_reason", "read_changes",
           "run_triggers"]

#: Days after a one-time buyer's purchase before the second-purchase nudge.
SECOND_PURCHASE_DAYS = 30

DEFAULT_TRIGGERS: tuple[Trigger, ...] = (
    Trigger(name="win_back", description="High-value customers at risk: win them back",
            where={"lifecycle_stage": "at_risk", "high_value": True}),
    Trigger(name="vip_care", description="VIP customers: personal care",
            where={"value_tier": "vip"}),
    Trigger(name="second_purchase",
            description=f"One-time buyers {SECOND_PURCHASE_DAYS}+ days after their purchase: "
                        "nudge a second",
            where={"orders": 1, "days_since_last": {"min": SECOND_PURCHASE_DAYS}}),
)

STATE_COLUMNS = ("trigger", "user_id", "market", "reason", "run_id", "entered_at", "as_of")
CHANGE_COLUMNS = ("trigger", "user_id", "change", "reason", "run_id", "changed_at", "as_of")
_CASTS = {"entered_at": "TIMESTAMP", "changed_at": "TIMESTAMP", "as_of": "DATE"}


def active_triggers(cfg: Config) -> list[Trigger]:
    """The built-in triggers, replaced by name by ``[[triggers]]``, then the configured
    ones; the enabled ones only."""
    mine = {t.name: t for t in cfg.triggers}
    merged = [mine.pop(t.name, t) for t in DEFAULT_TRIGGERS] + list(mine.values())
    return [t for t in merged if t.enabled]


def _value(v: Any) -> str:
    """A tag value in a reason: ``true``, ``75``, ``0.0312``, ``missing``."""
    if v is None or v is pd.NA or (isinstance(v, float | np.floating) and math.isnan(v)):
        return "missing"
    if isinstance(v, bool | np.bool_):
        return str(bool(v)).lower()
    if isinstance(v, float | np.floating):
        return f"{v:g}" if float(v).is_integer() else f"{v:,.4g}"
    return str(v)


def _exact(c: Condition) -> bool:
    """The condition asks for one value (then the value says it all)."""
    return (len(c.values) == 1 and not c.exclude) or c.flag is not None or (
        c.equals is not None)


def enter_reason(conds: tuple[Condition, ...], row: pd.Series) -> str:
    """Why a person entered: the values of the columns filtered on, e.g.
    ``lifecycle_stage is at_risk and high_value is true``."""
    parts = []
    for c in conds:
        text = f"{c.field} is {_value(row[c.field])}"
        parts.append(text if _exact(c) else f"{text} ({c.describe()})")
    return " and ".join(parts) or "matches every customer"


def leave_reason(conds: tuple[Condition, ...], row: pd.Series | None, consenting: bool
                 ) -> str:
    """Why a person left: ``consent withdrawn``, ``no longer tagged`` or the conditions no
    longer met, e.g. ``lifecycle_stage is now active (needs at_risk)``."""
    if not consenting:
        return "consent withdrawn"
    if row is None:
        return "no longer tagged (not in user_tags)"
    parts = [f"{c.field} is now {_value(row[c.field])} (needs {c.describe()})"
             for i, c in enumerate(conds) if not bool(row[f"ok_{i}"])]
    return " and ".join(parts) or "no longer selected"


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None,
                                                                       microsecond=0)


def _as_of(v: Any) -> dt.date | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).date()


def run_triggers(con: duckdb.DuckDBPyConnection, cfg: Config, *,
                 now: dt.datetime | None = None) -> pd.DataFrame:
    """Record who entered and left every active trigger since the last run.

    One row per trigger: ``trigger``, ``description``, ``entered``, ``left``,
    ``members`` (after the run), ``people_left_out`` (selected but without consent) and
    ``run_id``. Rows go to ``trigger_changes`` and ``trigger_state`` in one transaction;
    a run that finds no change writes nothing.
    """
    backend = ibis_backend(con)
    require_tags(backend)
    at = _now(now)
    run_id = f"run-{at:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    tags_as_of = _as_of(backend.table("user_tags").as_of.max().execute())
    state_all = backend.table("trigger_state")
    summary, enters, leaves = [], [], []
    for trig in active_triggers(cfg):
        conds = trig.conditions
        wide = selection_table(backend, trig)
        matched = wide.filter(wide.selected)
        members = keep_consenting(matched, backend, CONSENT_USE).execute()
        left_out = consent_report(matched, backend, CONSENT_USE).people_left_out
        state = state_all.filter(state_all.trigger == trig.name)
        before = set(state.user_id.execute())
        now_ids = set(members.user_id)
        entered = members[~members.user_id.isin(before)].sort_values("user_id")
        gone = sorted(before - now_ids)
        if gone:
            prior = wide.semi_join(state, wide.user_id == state.user_id).execute()
            prior = prior.set_index("user_id")
            ok = set(keep_consenting(state, backend, CONSENT_USE).user_id.execute())
            for uid in gone:
                row = prior.loc[uid] if uid in prior.index else None
                leaves.append({"trigger": trig.name, "user_id": uid, "change": "leave",
                               "reason": leave_reason(conds, row, uid in ok),
                               "run_id": run_id, "changed_at": at,
                               "as_of": _as_of(row.as_of) if row is not None else tags_as_of})
        for r in entered.itertuples(index=False):
            row = pd.Series(r._asdict())
            enters.append({"trigger": trig.name, "user_id": r.user_id, "change": "enter",
                           "reason": enter_reason(conds, row), "run_id": run_id,
                           "changed_at": at, "entered_at": at, "market": r.market,
                           "as_of": _as_of(r.as_of)})
        summary.append({"trigger": trig.name, "description": trig.description,
                        "entered": len(entered), "left": len(gone), "members": len(now_ids),
                        "people_left_out": left_out, "run_id": run_id})
    changes = pd.DataFrame(enters + leaves, columns=[*CHANGE_COLUMNS, "entered_at", "market"])
    if len(changes):
        with transaction(con):
            insert_frame(con, "trigger_changes", changes, CHANGE_COLUMNS, _CASTS)
            entered_rows = changes[changes.change == "enter"]
            insert_frame(con, "trigger_state", entered_rows, STATE_COLUMNS, _CASTS)
            for trigger, uids in changes[changes.change == "leave"].groupby(
                    "trigger").user_id:
                con.execute('DELETE FROM trigger_state WHERE "trigger" = ? AND '
                            "list_contains(?, user_id)", [trigger, list(uids)])
    return pd.DataFrame(summary, columns=["trigger", "description", "entered", "left",
                                          "members", "people_left_out", "run_id"])


def read_changes(backend: BaseBackend, *, since: dt.date | None = None,
                 run_id: str | None = None) -> pd.DataFrame:
    """Rows of ``trigger_changes`` recorded on or after ``since`` (a UTC day) and/or by
    ``run_id``, oldest first (then by trigger, change and person)."""
    t = backend.table("trigger_changes")
    if since is not None:
        t = t.filter(t.changed_at >= dt.datetime.combine(since, dt.time()))
    if run_id is not None:
        t = t.filter(t.run_id == run_id)
    df = t.execute()
    df = df.sort_values(["changed_at", "trigger", "change", "user_id"], ignore_index=True)
    df["as_of"] = pd.to_datetime(df.as_of).dt.date
    return df[list(CHANGE_COLUMNS)]
