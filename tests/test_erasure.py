"""Erasure removes a person's own rows and unlinks them from everyone else's rows.

The rule is the schema's (``Column.link``): a link to the erased person becomes NULL where
the column is nullable, else ``schema.ERASED``; nobody else's row is removed.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import KEY, write_csv
from growthloop.core.config import default_config
from growthloop.core.errors import InputError
from growthloop.core.schema import ERASED
from growthloop.ingest import ingest_file
from growthloop.ingest.privacy import Pseudonymiser, erase
from growthloop.simulate import TABLE_FILES
from growthloop.warehouse import AGGREGATE_TABLES, connect
from growthloop.warehouse.store import SCORE_COLUMNS, TAG_COLUMNS, insert_frame
from test_ingest_rules import GOOD

SEED = 20250611


def _user(uid: str, referrer: str | None = None, **extra: object) -> dict[str, object]:
    return {**GOOD["users"], "user_id": uid, "referrer_id": referrer, **extra}


def _referral(inviter: str, invitee: str, **extra: object) -> dict[str, object]:
    return {**GOOD["referrals"], "inviter_id": inviter, "invitee_id": invitee, **extra}


def _load(con, cfg, pseudo, tmp_path: Path, table: str, rows: list[dict[str, object]]) -> None:
    path = write_csv(tmp_path / f"{table}-{len(list(tmp_path.iterdir()))}.csv", rows)
    ingest_file(con, cfg, table, path, pseudo)


def test_erasing_a_referrer_keeps_the_people_they_referred(tmp_path, con, cfg, pseudo):
    _load(con, cfg, pseudo, tmp_path, "users", [_user("A"), _user("B", "A"), _user("C", "A")])
    _load(con, cfg, pseudo, tmp_path, "referrals", [_referral("A", "B"), _referral("A", "C")])
    rep = erase(con, "A", pseudo)
    b, c = pseudo("B"), pseudo("C")
    assert sorted(con.execute("SELECT user_id, referrer_id FROM users").fetchall()) == sorted(
        [(b, None), (c, None)])
    assert sorted(con.execute("SELECT inviter_id, invitee_id FROM referrals").fetchall()) == \
        sorted([(ERASED, b), (ERASED, c)])
    assert (rep.removed["users"], rep.removed["referrals"], rep.total) == (1, 0, 1)
    assert (rep.unlinked["users"], rep.unlinked["referrals"], rep.total_unlinked) == (2, 2, 4)
    assert set(rep.unlinked) == set(rep.removed)
    # erasing an invitee tombstones the other side; the row stays
    rep = erase(con, "B", pseudo)
    assert (rep.removed["users"], rep.removed["referrals"], rep.unlinked["referrals"]) == (1, 0, 1)
    assert sorted(con.execute("SELECT inviter_id, invitee_id FROM referrals").fetchall()) == \
        sorted([(ERASED, ERASED), (ERASED, c)])


def test_shared_device_and_quarantine_are_unlinked_not_removed(tmp_path, con, cfg, pseudo):
    ev = GOOD["events"]
    _load(con, cfg, pseudo, tmp_path, "users", [_user("A"), _user("B")])
    _load(con, cfg, pseudo, tmp_path, "events", [
        {**ev, "event_id": "e1", "user_id": "A", "anonymous_id": "d1"},
        {**ev, "event_id": "e2", "user_id": None, "anonymous_id": "d1"},  # A's browsing
        {**ev, "event_id": "e3", "user_id": "B", "anonymous_id": "d1"},  # B on A's device
        {**ev, "event_id": "e4", "user_id": "B", "anonymous_id": "d2"},
    ])
    # quarantined: D referred by A (D's row), A -> E (a relationship), an order of A's
    _load(con, cfg, pseudo, tmp_path, "users", [_user("D", "A", market="XX")])
    _load(con, cfg, pseudo, tmp_path, "referrals", [_referral("A", "E", mechanism="bogus")])
    _load(con, cfg, pseudo, tmp_path, "orders", [{**GOOD["orders"], "user_id": "A",
                                                  "amount": "-1"}])
    assert con.execute("SELECT count(*) FROM quarantine").fetchone() == (3,)
    rep = erase(con, "A", pseudo)
    b = pseudo("B")
    assert con.execute("SELECT event_id, user_id, anonymous_id FROM events ORDER BY 1"
                       ).fetchall() == [("e3", b, None), ("e4", b, pseudo("d2"))]
    assert (rep.removed["events"], rep.unlinked["events"]) == (2, 1)
    assert (rep.removed["quarantine"], rep.unlinked["quarantine"]) == (1, 2)
    left = {t: (json.loads(r), ids) for t, r, ids in con.execute(
        "SELECT table_name, record, person_ids FROM quarantine").fetchall()}
    assert set(left) == {"users", "referrals"}
    assert left["users"][0]["referrer_id"] is None and left["users"][1] == [pseudo("D")]
    assert left["referrals"][0]["inviter_id"] == ERASED
    assert left["referrals"][0]["invitee_id"] == pseudo("E")
    assert left["referrals"][1] == [pseudo("E")]
    with pytest.raises(InputError, match="tombstone"):
        erase(con, ERASED, Pseudonymiser(None))


# --- a simulated shop -------------------------------------------------------------------

#: Who a row belongs to, written out per table independently of the schema's flags.
#: ``device`` maps an anonymous id to the user seen logged in with it.
OWNER = {
    "users": lambda r, device: r["user_id"],
    "events": lambda r, device: r["user_id"] or device.get(r["anonymous_id"])
    or r["anonymous_id"],
    "orders": lambda r, device: r["user_id"],
    "surveys": lambda r, device: r["user_id"],
    "experiment_assignments": lambda r, device: r["unit_id"],
    "identities": lambda r, device: r["user_id"],
    "customer_scores": lambda r, device: r["user_id"],
    "user_tags": lambda r, device: r["user_id"],
    "audience_members": lambda r, device: r["user_id"],
    "trigger_state": lambda r, device: r["user_id"],
    "trigger_changes": lambda r, device: r["user_id"],
    "uplift_scores": lambda r, device: r["user_id"],
}
LINKS = {"users": ("referrer_id",), "referrals": ("inviter_id", "invitee_id")}
NO_PERSON = ("ad_spend", "fx_rates", "loads", "schema_version", *AGGREGATE_TABLES)


def _frame(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    return con.execute(f'SELECT * FROM "{table}"').df().astype(object).where(
        lambda d: d.notna(), None)


def _device(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT anonymous_id, min(user_id) FROM events "
                            "WHERE user_id IS NOT NULL AND anonymous_id IS NOT NULL "
                            "GROUP BY 1").fetchall())


def _owned(con: duckdb.DuckDBPyConnection) -> dict[str, Counter]:
    """Rows per owner in every table of people's rows, quarantine by (table, owner)."""
    device = _device(con)
    out: dict[str, Counter] = {}
    for table, owner in OWNER.items():
        out[table] = Counter(owner(r, device) for r in _frame(con, table).to_dict("records"))
    q: Counter = Counter()
    for name, record in con.execute("SELECT table_name, record FROM quarantine").fetchall():
        rec = json.loads(record)
        q[(name, OWNER[name](rec, device) if name in OWNER else None)] += 1
    out["quarantine"] = q
    return out


def _links(con: duckdb.DuckDBPyConnection, person: str, anon: set[str]) -> dict[str, int]:
    """Values pointing at ``person`` in rows that are not theirs (what erasure must unlink)."""
    ids = {person} | anon
    n: Counter = Counter()
    for table, cols in LINKS.items():
        for r in _frame(con, table).to_dict("records"):
            n[table] += sum(r[c] in ids for c in cols)
    n["events"] = con.execute(
        "SELECT count(*) FROM events WHERE user_id IS NOT NULL AND user_id <> ? "
        "AND list_contains(?, anonymous_id)", [person, sorted(anon)]).fetchone()[0]
    device = _device(con)
    for name, record in con.execute("SELECT table_name, record FROM quarantine").fetchall():
        rec = json.loads(record)
        if name in OWNER and OWNER[name](rec, device) in ids:
            continue
        n["quarantine"] += sum(rec.get(c) in ids for c in LINKS.get(name, ()))
    return dict(n)


def _mentions(con: duckdb.DuckDBPyConnection, needles: list[str]) -> dict[str, int]:
    """Rows of every warehouse table with a text (or text-list) column containing one of
    ``needles`` (tables only: the connection's in-memory views of the files read are not)."""
    found: dict[str, int] = {}
    cols = con.execute("SELECT c.table_name, c.column_name FROM duckdb_columns() c "
                       "JOIN duckdb_tables() t USING (table_oid) WHERE NOT t.temporary "
                       "AND c.data_type IN ('VARCHAR', 'VARCHAR[]') ORDER BY ALL").fetchall()
    by_table: dict[str, list[str]] = {}
    for t, c in cols:
        by_table.setdefault(t, []).append(c)
    for t, cs in by_table.items():
        cond = " OR ".join(f'contains("{c}"::VARCHAR, n)' for c in cs)
        found[t] = con.execute(f'SELECT count(*) FROM "{t}" WHERE EXISTS '
                               f"(SELECT 1 FROM unnest(?) AS u(n) WHERE {cond})",
                               [needles]).fetchone()[0]
    return found


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    from growthloop.simulate import simulate

    d = tmp_path_factory.mktemp("erasure-shop")
    simulate(d, n_users=3000, days=365, seed=SEED % 1000)
    return d


def _pick(shop: Path) -> tuple[str, str, list[str], list[str]]:
    """A referrer with two or more invitees and browsing of their own before sign-up, and an
    invitee whose referrer is someone else (one who invited people too, if there is one);
    and the raw anonymous ids each used."""
    raw = duckdb.connect()
    refs = raw.execute(f"SELECT inviter_id, invitee_id FROM '{shop}/referrals.parquet'").df()
    anon = raw.execute(
        f"SELECT user_id, list(DISTINCT anonymous_id ORDER BY anonymous_id) FROM "
        f"'{shop}/events.parquet' WHERE user_id IS NOT NULL AND anonymous_id IS NOT NULL "
        "GROUP BY 1").fetchall()
    browsed = {r[0] for r in raw.execute(
        f"SELECT DISTINCT anonymous_id FROM '{shop}/events.parquet' WHERE user_id IS NULL"
    ).fetchall()}
    devices = dict(anon)
    rng = random.Random(SEED)
    sent = refs["inviter_id"].value_counts()
    referrers = sorted(u for u in sent[sent >= 2].index
                       if any(a in browsed for a in devices.get(u, [])))
    x = rng.choice(referrers)
    linked = set(refs.loc[(refs.inviter_id == x) | (refs.invitee_id == x)].stack())
    invitees = sorted(set(refs["invitee_id"]) - linked - {x})
    inviting = [u for u in invitees if u in sent.index]  # both sides of referrals, if any
    y = rng.choice(inviting or invitees)
    raw.close()
    return x, y, devices.get(x, []), devices.get(y, [])


def test_erasing_two_people_of_a_simulated_shop(shop, tmp_path):
    pseudo, cfg = Pseudonymiser(KEY.encode()), default_config()
    x, y, x_anon, y_anon = _pick(shop)
    con = connect(tmp_path / "warehouse.duckdb")
    for name in TABLE_FILES:
        ingest_file(con, cfg, name, shop / f"{name}.parquet", pseudo)
    # quarantined rows: a new person X referred, an order of X's, browsing on X's device,
    # and a referral Y made
    bad = {
        "users": [_user("u9990001", x, market="XX")],
        "orders": [{**GOOD["orders"], "order_id": "o9990001", "user_id": x, "amount": "-1"}],
        "events": [{**GOOD["events"], "event_id": "e9990001", "user_id": None,
                    "anonymous_id": x_anon[0], "event_type": "bogus"}],
        "referrals": [_referral(y, "u9990002", mechanism="bogus")],
    }
    for name, rows in bad.items():
        ingest_file(con, cfg, name, write_csv(tmp_path / f"bad-{name}.csv", rows), pseudo)
    tokens = [r[0] for r in con.execute("SELECT user_id FROM users ORDER BY 1").fetchall()]
    insert_frame(con, "customer_scores", pd.DataFrame(
        [{c: None for c in SCORE_COLUMNS} | {"user_id": t, "segment": "all", "clv": 1.0}
         for t in tokens]), SCORE_COLUMNS, {"observation_end": "DATE", "fit_date": "DATE"})
    insert_frame(con, "user_tags", pd.DataFrame(
        [{c: None for c in TAG_COLUMNS} | {"user_id": t, "value_tier": "low"} for t in tokens]),
        TAG_COLUMNS, {"as_of": "DATE", "tagged_on": "DATE"})
    for table in ("audience_members", "trigger_state", "trigger_changes", "uplift_scores"):
        con.execute(f'INSERT INTO "{table}" (user_id) SELECT user_id FROM users')

    tx, ty = pseudo(x), pseudo(y)
    anon = {tx: {pseudo(a) for a in x_anon}, ty: {pseudo(a) for a in y_anon}}
    needles = [x, y, tx, ty, *x_anon, *y_anon, *anon[tx], *anon[ty]]
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    assert set(tables) == set(OWNER) | set(LINKS) | set(NO_PERSON) | {"quarantine"}
    rows_before = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    owned_before = _owned(con)
    links_before = {p: _links(con, p, anon[p]) for p in (tx, ty)}
    refs_before = con.execute("SELECT inviter_id, invitee_id FROM referrals").fetchall()
    invited_by = {p: [r[0] for r in con.execute(
        "SELECT user_id FROM users WHERE referrer_id = ?", [p]).fetchall()] for p in (tx, ty)}
    seen = _mentions(con, needles)
    assert seen["users"] == 2 + len(invited_by[tx]) + len(invited_by[ty])
    assert seen["quarantine"] == 4 and seen["customer_scores"] == seen["user_tags"] == 2
    assert _mentions(con, [x, y, *x_anon, *y_anon]) == dict.fromkeys(seen, 0)  # raw: never
    assert len(invited_by[tx]) >= 2 and owned_before["events"][tx] > 0

    reports = {p: erase(con, raw, pseudo) for p, raw in ((tx, x), (ty, y))}

    rows_after = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    owned_after = _owned(con)
    received = Counter(r[1] for r in refs_before)
    print(f"\nerased {x} (invited {len(invited_by[tx])}, was invited {received[tx]}) and {y}"
          f" (invited {len(invited_by[ty])}, was invited {received[ty]})")
    for t in tables:
        print(f"  {t:<24} {rows_before[t]:>7} -> {rows_after[t]:>7}")
    for p, rep in reports.items():
        print(f"  {p[:8]} removed {rep.removed}\n  {p[:8]} unlinked {rep.unlinked}")

    # every other person keeps every row; the erased people keep none
    def person(key: object) -> object:  # quarantine counts by (table, owner)
        return key[1] if isinstance(key, tuple) else key

    for t, before in owned_before.items():
        after = owned_after[t]
        assert {k: v for k, v in before.items() if person(k) not in (tx, ty)} == dict(after), t
        # what each report removed is exactly what the person owned
        for p, rep in reports.items():
            assert rep.removed[t] == sum(v for k, v in before.items() if person(k) == p), (t, p)
    assert rows_before["users"] - rows_after["users"] == 2
    assert sum(r.removed["users"] for r in reports.values()) == 2
    for t in ("referrals", *NO_PERSON):
        assert rows_after[t] == rows_before[t], t
    assert all(r.removed["referrals"] == 0 for r in reports.values())

    # invitations sent and received by everyone else are unchanged
    refs_after = con.execute("SELECT inviter_id, invitee_id FROM referrals").fetchall()
    for side in (0, 1):
        before = Counter(r[side] for r in refs_before)
        after = Counter(r[side] for r in refs_after)
        assert after.pop(ERASED) == before.pop(tx, 0) + before.pop(ty, 0)
        assert after == before
    # the people they referred keep their rows, unlinked
    for users in invited_by.values():
        got = con.execute("SELECT user_id, referrer_id FROM users WHERE list_contains(?, "
                          "user_id)", [users]).fetchall()
        assert sorted(got) == sorted((u, None) for u in users)

    # unlinked exactly the links there were, and no trace of either person anywhere
    for p, rep in reports.items():
        assert rep.unlinked == dict.fromkeys(rep.removed, 0) | links_before[p], p
    assert links_before[tx]["users"] == len(invited_by[tx]) and links_before[tx]["quarantine"] == 1
    assert links_before[ty]["referrals"] == 1 + len(invited_by[ty])
    assert _mentions(con, needles) == dict.fromkeys(seen, 0)
    assert all(r.total == 0 and r.total_unlinked == 0
               for r in (erase(con, x, pseudo), erase(con, y, pseudo)))
    con.close()
