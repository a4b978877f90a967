"""Audiences on a hand-made warehouse: the filter compiled to exact members, consent always
applied (the exported CSV and Parquet files hold exactly the expected people), versions,
the privacy group size, and errors naming the audience, the field and the value."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from growthloop.core.config import DEFAULT_TOML, Config, default_config, parse_config
from growthloop.core.errors import ConfigError, InputError
from growthloop.decide.audiences import build_audiences, export_audience, list_audiences
from growthloop.warehouse import connect, ibis_backend
from growthloop.warehouse.store import SCORE_COLUMNS, TAG_COLUMNS, insert_frame

AS_OF = "2025-06-30"
#: user, tier, days since last, orders, stage, market, p_alive, (marketing, personalisation)
#: consent (None: no users row).
PEOPLE = [
    ("u01", "vip", 90, 5, "at_risk", "DE", 0.8, (True, True)),
    ("u02", "high", 75, 3, "at_risk", "FR", 0.6, (True, True)),
    ("u03", "vip", 120, 4, "churned", "DE", 0.3, (False, True)),
    ("u04", "high", 61, 2, "at_risk", "DE", 0.7, (True, True)),
    ("u05", "medium", 200, 1, "churned", "DE", 0.1, (True, True)),
    ("u06", "vip", 10, 8, "active", "DE", 0.9, (True, True)),
    ("u07", "high", 65, 2, "at_risk", "US", 0.5, (False, False)),
    ("u08", "high", 60, 2, "at_risk", "US", 0.5, (True, True)),
    ("u09", "vip", 80, 6, "at_risk", "US", 0.5, None),
    ("u10", "low", 100, 1, "churned", "US", 0.05, (True, True)),
    ("u11", "high", 70, 1, "at_risk", "BR", 0.4, (True, True)),
    ("u12", "vip", 66, 3, "at_risk", "BR", 0.45, (True, False)),
]
#: uplift scores of free_shipping: an old model version (all positive) and the latest.
UPLIFT_OLD = {u: 0.5 for u, *_ in PEOPLE}
UPLIFT = {"u01": 0.05, "u02": 0.02, "u03": 0.04, "u04": -0.01, "u05": 0.03, "u06": 0.06,
          "u07": 0.01, "u09": 0.07, "u10": 0.0, "u11": 0.02, "u12": 0.03}

AUDIENCES = """
[[audiences]]
name = "dormant_value"
description = "High predicted CLV, dormant 60 days"
where = { value_tier = ["vip", "high"], days_since_last = { min = 60 } }

[[audiences]]
name = "dormant_persuadable"
description = "High predicted CLV, dormant 60 days, uplift > 0"
[audiences.where]
value_tier = ["vip", "high"]
days_since_last = { min = 60 }
uplift = { experiment = "free_shipping", above = 0 }

[[audiences]]
name = "brazil_alive"
where = { market = "BR", p_alive = { min = 0.4 } }

[[audiences]]
name = "german_alive"
markets = ["DE"]
where = { p_alive = { above = 0.5 } }
"""


def project_config(extra: str = AUDIENCES) -> str:
    """The default project less its example audiences and triggers (the built-in ones
    apply), with a privacy group size of 3 and ``extra``."""
    text = DEFAULT_TOML.partition("\n# Audiences:")[0] + "\n"
    assert "[[audiences]]" not in text and "[[triggers]]" not in text
    return text.replace("min_group_size = 10", "min_group_size = 3") + extra


def tag_row(uid: str, tier: str, days: int, orders: int, stage: str, market: str,
            clv: float = 100.0) -> dict[str, object]:
    return {c: None for c in TAG_COLUMNS} | {
        "user_id": uid, "market": market, "channel": "organic", "orders": orders,
        "total_value": 50.0 * orders, "days_since_last": days, "clv": clv,
        "value_tier": tier, "high_value": tier in ("vip", "high"), "lifecycle_stage": stage,
        "as_of": AS_OF, "model_version": "bgnbd-gg/test", "tagged_on": AS_OF}


def write_tags(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    con.execute("DELETE FROM user_tags")
    insert_frame(con, "user_tags", pd.DataFrame(rows), TAG_COLUMNS,
                 {"orders": "BIGINT", "days_since_last": "INTEGER", "as_of": "DATE",
                  "tagged_on": "DATE", "high_value": "BOOLEAN"})


def add_users(con: duckdb.DuckDBPyConnection,
              consents: dict[str, tuple[bool, bool] | None]) -> None:
    for uid, c in consents.items():
        if c is not None:
            con.execute("INSERT INTO users (user_id, market, consent_analytics, "
                        "consent_marketing, consent_personalisation) VALUES (?, 'DE', true, "
                        "?, ?)", [uid, *c])


def set_consent(con: duckdb.DuckDBPyConnection, uid: str, marketing: bool) -> None:
    con.execute("UPDATE users SET consent_marketing = ? WHERE user_id = ?", [marketing, uid])


def fill(con: duckdb.DuckDBPyConnection) -> None:
    """The hand-made warehouse of ``PEOPLE``: tags, scores, consents and uplift scores."""
    write_tags(con, [tag_row(u, t, d, o, s, m) for u, t, d, o, s, m, _, _ in PEOPLE])
    insert_frame(con, "customer_scores", pd.DataFrame(
        [{c: None for c in SCORE_COLUMNS} | {"user_id": u, "segment_by": "all",
                                             "segment": "all", "p_alive": p,
                                             "expected_purchases": 1.0, "clv": 100.0}
         for u, *_, p, _ in PEOPLE]), SCORE_COLUMNS, {})
    add_users(con, {u: c for u, *_, c in PEOPLE})
    rows = [("v1", "free_shipping", u, x, "2025-06-01") for u, x in UPLIFT_OLD.items()]
    rows += [("v2", "free_shipping", u, x, "2025-07-01") for u, x in UPLIFT.items()]
    rows += [("v9", "other", "u04", 1.0, "2025-08-01")]
    con.executemany("INSERT INTO uplift_scores (model_version, experiment_id, user_id, "
                    "uplift, scored_at) VALUES (?, ?, ?, ?, ?)", rows)


def make_shop(tmp_path: Path) -> Iterator[tuple[Path, duckdb.DuckDBPyConnection, Config]]:
    """A project directory whose warehouse holds ``PEOPLE``: (dir, connection, config)."""
    (tmp_path / "growthloop.toml").write_text(project_config())
    con = connect(tmp_path / ".growthloop" / "warehouse.duckdb")
    fill(con)
    yield tmp_path, con, parse_config(project_config())
    con.close()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Path, duckdb.DuckDBPyConnection, Config]]:
    yield from make_shop(tmp_path)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``growthloop ARGS`` in this process (the working directory is the project):
    exit status, stdout and stderr."""
    from growthloop.cli import main

    with pytest.raises(SystemExit) as e:
        main(list(args))
    got = capsys.readouterr()
    return int(e.value.code or 0), got.out, got.err


def members(con: duckdb.DuckDBPyConnection, name: str) -> dict[int, list[str]]:
    rows = con.execute("SELECT version, user_id FROM audience_members WHERE audience = ? "
                       "ORDER BY version, user_id", [name]).fetchall()
    out: dict[int, list[str]] = {}
    for v, u in rows:
        out.setdefault(v, []).append(u)
    return out


def test_audiences_keep_exactly_the_matching_consenting_people(shop):
    _, con, cfg = shop
    now = dt.datetime(2025, 7, 2, 8, 0, tzinfo=dt.UTC)
    res = build_audiences(con, cfg, now=now).set_index("name")
    # tiers vip/high and >= 60 days: u01 u02 u03 u04 u07 u08 u09 u11 u12; without marketing
    # and personalisation consent: u03 (no marketing), u07, u09 (no users row), u12
    assert members(con, "dormant_value") == {1: ["u01", "u02", "u04", "u08", "u11"]}
    # and uplift > 0 in the latest scores (v2): not u04 (-0.01), not u08 (none)
    assert members(con, "dormant_persuadable") == {1: ["u01", "u02", "u11"]}
    assert members(con, "brazil_alive") == {1: ["u11"]}  # u12: no personalisation consent
    assert members(con, "german_alive") == {1: ["u01", "u04", "u06"]}  # u03: p_alive 0.3
    assert res["size"].to_dict() == {"dormant_value": 5, "dormant_persuadable": 3,
                                     "brazil_alive": 1, "german_alive": 3}
    assert res.people_left_out.to_dict() == {"dormant_value": 4, "dormant_persuadable": 4,
                                             "brazil_alive": 1, "german_alive": 0}
    assert res.exportable.to_dict() == {"dormant_value": True, "dormant_persuadable": True,
                                        "brazil_alive": False, "german_alive": True}
    assert res.changed.all() and (res.version == 1).all()
    assert set(res.as_of) == {dt.date(2025, 6, 30)}
    v = con.execute("SELECT audience, version, size, people_left_out, built_at FROM "
                    "audience_versions ORDER BY audience").fetchall()
    assert v[0] == ("brazil_alive", 1, 1, 1, dt.datetime(2025, 7, 2, 8, 0))


def test_a_rebuild_without_change_adds_no_version_and_a_change_adds_one(shop):
    _, con, cfg = shop
    build_audiences(con, cfg, ["dormant_value"])
    again = build_audiences(con, cfg, ["dormant_value"])
    assert (again.version.tolist(), again.changed.tolist()) == ([1], [False])
    assert con.execute("SELECT count(*) FROM audience_members").fetchone() == (5,)
    set_consent(con, "u02", False)  # withdrawn: the next version loses u02
    third = build_audiences(con, cfg, ["dormant_value"])
    assert (third.version.tolist(), third["size"].tolist()) == ([2], [4])
    assert members(con, "dormant_value") == {1: ["u01", "u02", "u04", "u08", "u11"],
                                             2: ["u01", "u04", "u08", "u11"]}
    listed = list_audiences(ibis_backend(con), cfg).set_index("name")
    assert listed.loc["dormant_value", "version"] == 2
    assert listed.loc["dormant_value", "size"] == 4 and listed.loc["dormant_value", "current"]
    assert pd.isna(listed.loc["german_alive", "version"])


def test_export_re_applies_consent_and_refuses_small_audiences(shop):
    _, con, cfg = shop
    build_audiences(con, cfg)
    backend = ibis_backend(con)
    df, report = export_audience(backend, cfg, "dormant_value")
    assert df.user_id.tolist() == ["u01", "u02", "u04", "u08", "u11"]
    assert report.people_left_out == 4  # u03, u07, u09, u12 at the build
    set_consent(con, "u04", False)  # withdrawn after the build: not exported
    df, report = export_audience(backend, cfg, "dormant_value")
    assert df.user_id.tolist() == ["u01", "u02", "u08", "u11"] and report.people_left_out == 5
    assert set(df.columns) == {"user_id", "market", "audience", "version", "as_of"}
    with pytest.raises(InputError, match=r"'brazil_alive' \(version 1\) has 1 person, below "
                                         r"the privacy group size k = 3"):
        export_audience(backend, cfg, "brazil_alive")
    # german_alive was built with 3 (u01 u04 u06): without u04 it has 2 < 3 at export time
    with pytest.raises(InputError, match="has 2 people, below the privacy group size k = 3"):
        export_audience(backend, cfg, "german_alive")


def test_cli_exports_csv_and_parquet_without_people_lacking_marketing_consent(
        shop, capsys, monkeypatch):
    d, con, _ = shop
    con.close()
    monkeypatch.chdir(d)
    code, stdout, stderr = cli(capsys, "audiences", "build", "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert {a["name"]: a["size"] for a in doc["audiences"]}["dormant_value"] == 5
    for name in ("dormant.csv", "dormant.parquet"):
        code, _, stderr = cli(capsys, "audiences", "export", "dormant_persuadable", "--out",
                              name)
        assert code == 0, stderr
        assert "consent: 4 people left out of audience dormant_persuadable: no marketing " \
               "or personalisation consent" in stderr
    csv = pd.read_csv(d / "dormant.csv")
    pq = pd.read_parquet(d / "dormant.parquet")
    for df in (csv, pq):
        assert df.user_id.tolist() == ["u01", "u02", "u11"]  # never u03 (no marketing)
        assert df.market.tolist() == ["DE", "FR", "BR"] and set(df.version) == {1}
    code, _, stderr = cli(capsys, "audiences", "export", "brazil_alive", "--out", "br.csv")
    assert code == 1 and not (d / "br.csv").exists()
    assert "below the privacy group size k = 3" in stderr
    code, stdout, _ = cli(capsys, "audiences", "list", "--json")
    sizes = {a["name"]: (a["size"], a["exportable"]) for a in json.loads(stdout)["audiences"]}
    assert sizes == {"dormant_value": (5, True), "dormant_persuadable": (3, True),
                     "brazil_alive": (1, False), "german_alive": (3, True)}
    code, _, stderr = cli(capsys, "audiences", "export", "dormant_value", "--out", "x.xlsx")
    assert code == 1 and "expected .csv or .parquet" in stderr
    code, _, stderr = cli(capsys, "audiences", "build", "nobody")
    assert code == 1 and "audience 'nobody' is not configured" in stderr
    code, stdout, _ = cli(capsys, "audiences", "list")
    assert code == 0 and "dormant_persuadable" in stdout


def test_export_needs_a_current_build(shop):
    _, con, cfg = shop
    backend = ibis_backend(con)
    with pytest.raises(InputError, match="'dormant_value' has not been built yet"):
        export_audience(backend, cfg, "dormant_value")
    build_audiences(con, cfg, ["dormant_value"])
    edited = parse_config(project_config(AUDIENCES.replace("min = 60", "min = 70", 1)))
    with pytest.raises(InputError, match=re.escape("changed in growthloop.toml since version 1")):
        export_audience(backend, edited, "dormant_value")
    res = build_audiences(con, edited, ["dormant_value"])  # new definition: a new version
    assert (res.version.tolist(), res["size"].tolist()) == ([2], [3])  # u01 u02 u11


def _one(where: str, extra: str = "") -> str:
    return project_config(f'[[audiences]]\nname = "winback"\nwhere = {{ {where} }}\n{extra}')


@pytest.mark.parametrize(("where", "extra", "message"), [
    ("tier = 'vip'", "", "audiences[0]: audience 'winback': where.tier = 'vip': unknown "
     "column; expected one of value_tier, rfm_segment"),
    ("days_since_last = { more = 60 }", "", "audience 'winback': where.days_since_last.more "
     "= 60: unknown operator; expected one of min, max, above, below"),
    ("high_value = 'yes'", "", "where.high_value = 'yes': expected true or false"),
    ("orders = { min = 5, max = 2 }", "", "where.orders = {'min': 5, 'max': 2}: the bounds "
     "leave no value"),
    ("market = 'XX'", "", "audience 'winback': where.market = 'XX': expected one of ID, TH"),
    ("uplift = { above = 0 }", "", "where.uplift = {'above': 0}: expected {experiment"),
    ("value_tier = 'vip'", "consent = false", "audience 'winback': consent = False: "
     "marketing consent is always applied to audiences and cannot be turned off"),
    ("consent_marketing = false", "", "where.consent_marketing = False: marketing consent "
     "is always applied"),
    ("value_tier = 'vip'", 'markets = ["ZZ"]', "audiences[0].markets: 'ZZ' is not a "
     "configured market"),
])
def test_bad_filters_name_audience_field_and_value(where, extra, message):
    with pytest.raises(ConfigError) as e:
        parse_config(_one(where, extra), "shop.toml")
    assert message in str(e.value)


def test_bad_tag_values_and_missing_uplift_are_errors_naming_them(shop):
    _, con, _ = shop
    cfg = parse_config(_one("value_tier = ['vip', 'gold']"))
    with pytest.raises(ConfigError, match=re.escape(
            "audience 'winback': where.value_tier = 'gold': expected one of vip, high, "
            "medium, low")):
        build_audiences(con, cfg)
    cfg = parse_config(_one("uplift = { experiment = 'free_returns', min = 0 }"))
    with pytest.raises(InputError, match="experiment 'free_returns' has no uplift scores "
                                         r"\(table uplift_scores holds free_shipping, other\)"):
        build_audiences(con, cfg)
    dup = _one("orders = 1") + '[[audiences]]\nname = "winback"\n'
    with pytest.raises(ConfigError, match=r"audiences\[1\].name = 'winback' is a duplicate"):
        parse_config(dup)


def test_no_tags_no_audiences(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    with pytest.raises(InputError, match="no customer tags yet"):
        build_audiences(con, parse_config(project_config()))
    with pytest.raises(ConfigError, match="defines no audience"):
        build_audiences(con, default_config().model_copy(update={"audiences": []}))
    con.close()


def test_erasing_a_person_reaches_every_audience_and_trigger_table(shop):
    from growthloop.decide.triggers import run_triggers
    from growthloop.ingest.privacy import Pseudonymiser, erase

    _, con, cfg = shop
    build_audiences(con, cfg)
    run_triggers(con, cfg)
    tables = ("audience_members", "trigger_state", "trigger_changes", "uplift_scores")

    def rows(uid: str) -> dict[str, int]:
        return {t: con.execute(f'SELECT count(*) FROM "{t}" WHERE user_id = ?', [uid]
                               ).fetchone()[0] for t in tables}

    # u01: in 3 audiences, 2 triggers, 2 uplift versions; u02: 2 audiences, 1 trigger
    assert rows("u01") == {"audience_members": 3, "trigger_state": 2, "trigger_changes": 2,
                           "uplift_scores": 2}
    before = rows("u02")
    rep = erase(con, "u01", Pseudonymiser(None))  # identifiers here are already tokens
    assert {t: rep.removed[t] for t in tables} == {
        "audience_members": 3, "trigger_state": 2, "trigger_changes": 2, "uplift_scores": 2}
    assert rows("u01") == dict.fromkeys(tables, 0)
    assert rows("u02") == before == {"audience_members": 2, "trigger_state": 1,
                                     "trigger_changes": 1, "uplift_scores": 2}
    # the next run has nobody to record leaving: the person is gone everywhere
    again = run_triggers(con, cfg)
    assert (again.left == 0).all() and rows("u01") == dict.fromkeys(tables, 0)


def test_default_config_has_example_audiences_and_the_built_in_triggers():
    from growthloop.decide.audiences import check_values
    from growthloop.decide.triggers import DEFAULT_TRIGGERS

    cfg = default_config()
    assert [a.name for a in cfg.audiences] == ["dormant_high_value", "likely_to_buy_again"]
    for a in cfg.audiences:
        check_values(a)
    assert tuple(cfg.triggers) == DEFAULT_TRIGGERS
