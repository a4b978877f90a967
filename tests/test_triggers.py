"""Lifecycle triggers on the hand-made warehouse of test_audiences: exactly who enters and
leaves, with the reasons; a second run without new data writes nothing; consent withdrawn
makes a person leave; ``--since``; and the built-in rules overridden from the config."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from growthloop.core.config import parse_config
from growthloop.core.errors import ConfigError
from growthloop.decide.triggers import (
    DEFAULT_TRIGGERS,
    active_triggers,
    read_changes,
    run_triggers,
)
from growthloop.warehouse import ibis_backend
from test_audiences import (
    PEOPLE,
    cli,
    make_shop,
    project_config,
    set_consent,
    tag_row,
    write_tags,
)


@pytest.fixture
def shop(tmp_path: Path):
    yield from make_shop(tmp_path)


T1 = dt.datetime(2025, 7, 1, 8, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 7, 1, 9, 0, tzinfo=dt.UTC)
T3 = dt.datetime(2025, 7, 3, 8, 0, tzinfo=dt.UTC)


def _changes(con, run_id: str | None = None) -> list[tuple[str, str, str, str]]:
    df = read_changes(ibis_backend(con), run_id=run_id)
    return sorted(zip(df.trigger, df.change, df.user_id, df.reason, strict=True))


def _state(con) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t, u in con.execute('SELECT "trigger", user_id FROM trigger_state ORDER BY ALL'
                            ).fetchall():
        out.setdefault(t, []).append(u)
    return out


def test_enter_leave_reasons_and_idempotence(shop):
    _, con, cfg = shop
    first = run_triggers(con, cfg, now=T1).set_index("trigger")
    # win_back: at_risk and vip/high: u01 u02 u04 u07 u08 u09 u11 u12, of whom u07 (no
    # consent), u09 (no users row) and u12 (no personalisation) are left out
    assert _state(con) == {"win_back": ["u01", "u02", "u04", "u08", "u11"],
                           "vip_care": ["u01", "u06"],
                           "second_purchase": ["u05", "u10", "u11"]}
    assert first.entered.to_dict() == {"win_back": 5, "vip_care": 2, "second_purchase": 3}
    assert first.people_left_out.to_dict() == {"win_back": 3, "vip_care": 3,
                                               "second_purchase": 0}
    assert (first.left == 0).all()
    rows = _changes(con)
    assert len(rows) == 10
    assert ("win_back", "enter", "u01", "lifecycle_stage is at_risk and high_value is true"
            ) in rows
    assert ("second_purchase", "enter", "u11",
            "orders is 1 and days_since_last is 70 (at least 30)") in rows

    again = run_triggers(con, cfg, now=T2)  # no new data: nothing written
    assert con.execute("SELECT count(*) FROM trigger_changes").fetchone() == (10,)
    assert con.execute("SELECT count(*) FROM trigger_state").fetchone() == (10,)
    assert (again.entered == 0).all() and (again.left == 0).all()
    assert again.members.tolist() == [5, 2, 3]

    # new tags: u01 active again, u05 bought again and is vip, u10 no longer tagged;
    # u02 withdraws marketing consent, u12 gives personalisation consent
    tags = {u: tag_row(u, t, d, o, s, m) for u, t, d, o, s, m, _, _ in PEOPLE}
    tags["u01"] = tag_row("u01", "vip", 20, 6, "active", "DE")
    tags["u05"] = tag_row("u05", "vip", 3, 2, "active", "DE")
    del tags["u10"]
    write_tags(con, list(tags.values()))
    set_consent(con, "u02", False)
    con.execute("UPDATE users SET consent_personalisation = true WHERE user_id = 'u12'")
    third = run_triggers(con, cfg, now=T3).set_index("trigger")
    run_id = str(third.run_id.iloc[0])
    assert _changes(con, run_id) == sorted([
        ("win_back", "leave", "u01", "lifecycle_stage is now active (needs at_risk)"),
        ("win_back", "leave", "u02", "consent withdrawn"),
        ("win_back", "enter", "u12", "lifecycle_stage is at_risk and high_value is true"),
        ("vip_care", "enter", "u05", "value_tier is vip"),
        ("vip_care", "enter", "u12", "value_tier is vip"),
        ("second_purchase", "leave", "u05", "orders is now 2 (needs 1) and "
         "days_since_last is now 3 (needs at least 30)"),
        ("second_purchase", "leave", "u10", "no longer tagged (not in user_tags)"),
    ])
    assert third[["entered", "left", "members"]].to_dict("index") == {
        "win_back": {"entered": 1, "left": 2, "members": 4},
        "vip_care": {"entered": 2, "left": 0, "members": 4},
        "second_purchase": {"entered": 0, "left": 2, "members": 1}}
    assert _state(con) == {"win_back": ["u04", "u08", "u11", "u12"],
                           "vip_care": ["u01", "u05", "u06", "u12"],
                           "second_purchase": ["u11"]}
    # u01 stayed in vip_care: entered at the first run still
    assert con.execute("SELECT entered_at FROM trigger_state WHERE \"trigger\" = 'vip_care' "
                       "AND user_id = 'u01'").fetchone() == (dt.datetime(2025, 7, 1, 8, 0),)
    assert len(read_changes(ibis_backend(con), since=dt.date(2025, 7, 2))) == 7
    assert len(read_changes(ibis_backend(con), since=dt.date(2025, 7, 1))) == 17
    assert con.execute("SELECT DISTINCT as_of FROM trigger_changes").fetchall() == [
        (dt.date(2025, 6, 30),)]
    run_triggers(con, cfg, now=T3)
    assert con.execute("SELECT count(*) FROM trigger_changes").fetchone() == (17,)


def test_configured_triggers_replace_and_add_to_the_built_in_ones(shop):
    _, con, _ = shop
    text = project_config("""
[[triggers]]
name = "vip_care"
enabled = false

[[triggers]]
name = "second_purchase"
description = "One-time buyers after 90 days"
where = { orders = 1, days_since_last = { min = 90 } }

[[triggers]]
name = "brazil_dormant"
where = { market = "BR", days_since_last = { above = 60 } }
""")
    cfg = parse_config(text)
    assert [t.name for t in active_triggers(cfg)] == ["win_back", "second_purchase",
                                                      "brazil_dormant"]
    assert [t.name for t in DEFAULT_TRIGGERS] == ["win_back", "vip_care", "second_purchase"]
    res = run_triggers(con, cfg, now=T1).set_index("trigger")
    assert res.members.to_dict() == {"win_back": 5, "second_purchase": 2,  # u05 u10
                                     "brazil_dormant": 1}  # u11 (u12: no consent)
    with pytest.raises(ConfigError, match=re.escape(
            "trigger 'x': where.lifecycle_stage = 'asleep': expected one of new, active")):
        run_triggers(con, parse_config(project_config(
            '[[triggers]]\nname = "x"\nwhere = { lifecycle_stage = "asleep" }\n')))
    with pytest.raises(ConfigError, match=re.escape(
            "trigger 'x': ignore_consent = True: marketing consent is always applied to "
            "triggers")):
        parse_config(project_config('[[triggers]]\nname = "x"\nignore_consent = true\n'))


def test_cli_triggers_run_since(shop, capsys, monkeypatch):
    d, con, cfg = shop
    run_triggers(con, cfg, now=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    set_consent(con, "u11", False)
    con.close()
    monkeypatch.chdir(d)
    code, stdout, stderr = cli(capsys, "triggers", "run", "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert sorted((c["trigger"], c["change"], c["user_id"], c["reason"])
                  for c in doc["changes"]) == [
        ("second_purchase", "leave", "u11", "consent withdrawn"),
        ("win_back", "leave", "u11", "consent withdrawn")]
    code, stdout, _ = cli(capsys, "triggers", "run", "--since", "2025-05-31", "--json")
    assert code == 0 and len(json.loads(stdout)["changes"]) == 12  # 10 + 2, this run none
    code, stdout, stderr = cli(capsys, "triggers", "run", "--since", "2025-05-31", "--limit",
                               "3")
    print(stdout)
    assert code == 0 and "Lifecycle triggers" in stdout and "win_back" in stdout
    assert "showing 3 of 12 changes" in stderr
    code, _, stderr = cli(capsys, "triggers", "run", "--since", "yesterday")
    assert code == 1 and "--since 'yesterday' is not a date" in stderr
