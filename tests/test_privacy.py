"""Pseudonymisation at ingest and erasure that reaches every table."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from conftest import KEY, write_csv
from growthloop.core.config import DEFAULT_TOML, parse_config
from growthloop.core.errors import ConfigError
from growthloop.core.schema import ERASED, TABLES
from growthloop.ingest import ingest_file
from growthloop.ingest.privacy import Pseudonymiser, erase, pseudonymiser
from test_ingest_rules import GOOD


@pytest.mark.parametrize("ident", ["u42", "", "ünïcødé-ид", "x" * 200, "a'b"])
def test_sql_macro_equals_rfc2104_hmac(con, ident):
    for key in (KEY.encode(), b"k" * 100):  # a key longer than the block is hashed first
        p = Pseudonymiser(key)
        macro = p.install_sql(con)
        got = con.execute(f"SELECT {macro}(?)", [ident]).fetchone()[0]
        want = hmac.new(key, ident.encode(), hashlib.sha256).hexdigest()
        assert got == want == p(ident)


def test_key_comes_from_the_environment(cfg):
    with pytest.raises(ConfigError, match="GROWTHLOOP_PSEUDONYM_KEY is unset"):
        pseudonymiser(cfg, environ={})
    with pytest.raises(ConfigError, match="shorter than 16"):
        pseudonymiser(cfg, environ={"GROWTHLOOP_PSEUDONYM_KEY": "short"})
    assert pseudonymiser(cfg, environ={"GROWTHLOOP_PSEUDONYM_KEY": KEY})("u1") == \
        hmac.new(KEY.encode(), b"u1", hashlib.sha256).hexdigest()
    off = parse_config(DEFAULT_TOML.replace("pseudonymise = true", "pseudonymise = false"))
    assert pseudonymiser(off, environ={})("u1") == "u1"
    assert "test-key" not in repr(pseudonymiser(cfg, environ={"GROWTHLOOP_PSEUDONYM_KEY": KEY}))


def _all_text(con) -> str:
    """Every value of every table in the warehouse, as one string."""
    parts = []
    for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
        parts.append(json.dumps(con.execute(f'SELECT * FROM "{name}"').fetchall(), default=str))
    return "\n".join(parts)


def _load_people(tmp_path, con, cfg, pseudo) -> None:
    """Two people, alice and bob, in every table, plus a quarantined row of alice's."""
    def rows(table, **extra):
        return [{**GOOD[table], **extra}]

    people = {"alice": "a-anon-1", "bob": "b-anon-1"}
    for i, (who, anon) in enumerate(people.items()):
        other = "bob" if who == "alice" else "carol"
        files = {
            "users": rows("users", user_id=who, referrer_id=None),
            "events": rows("events", event_id=f"e{i}", user_id=who, anonymous_id=anon)
            + rows("events", event_id=f"e{i}-anon", user_id=None, anonymous_id=anon),
            "orders": rows("orders", order_id=f"o{i}", user_id=who),
            "referrals": rows("referrals", inviter_id=who, invitee_id=other),
            "surveys": rows("surveys", response_id=f"r{i}", user_id=who),
            "experiment_assignments": rows("experiment_assignments", unit_id=who),
        }
        for table, data in files.items():
            ingest_file(con, cfg, table, write_csv(tmp_path / f"{table}-{i}.csv", data), pseudo)
    bad = write_csv(tmp_path / "bad-orders.csv",
                    [{**GOOD["orders"], "order_id": "o9", "user_id": "alice", "amount": "-1"}])
    ingest_file(con, cfg, "orders", bad, pseudo)


def test_raw_identifiers_never_reach_the_warehouse(tmp_path, con, cfg, pseudo):
    _load_people(tmp_path, con, cfg, pseudo)
    text = _all_text(con)
    for raw in ("alice", "bob", "carol", "a-anon-1", "b-anon-1"):
        assert raw not in text
    assert pseudo("alice") in text and KEY not in text


def test_erase_removes_a_person_everywhere(tmp_path, con, cfg, pseudo):
    _load_people(tmp_path, con, cfg, pseudo)
    alice, bob = pseudo("alice"), pseudo("bob")
    rep = erase(con, "alice", pseudo)
    assert rep.removed == {"users": 1, "events": 2, "orders": 1, "referrals": 0, "surveys": 1,
                           "experiment_assignments": 1, "customer_scores": 0,
                           "user_tags": 0, "quarantine": 1}
    assert rep.total == 7
    # the referral alice made to bob stays, alice's side tombstoned
    assert rep.unlinked == {**dict.fromkeys(rep.removed, 0), "referrals": 1}
    assert con.execute("SELECT inviter_id, invitee_id FROM referrals ORDER BY invitee_id = ?",
                       [bob]).fetchall() == [(bob, pseudo("carol")), (ERASED, bob)]
    text = _all_text(con)
    assert alice not in text and pseudo("a-anon-1") not in text
    # bob keeps everything, the referral alice made to him included
    assert bob in text
    for t in TABLES.values():
        cols = t.personal_columns
        if not cols:
            continue
        n = con.execute(f"SELECT count(*) FROM {t.name} WHERE "
                        + " OR ".join(f"{c} = ?" for c in cols), [bob] * len(cols)).fetchone()[0]
        expected = {"referrals": 2}.get(t.name, 1)
        assert n == expected, t.name
    again = erase(con, "alice", pseudo)
    assert again.total == 0 and again.total_unlinked == 0
