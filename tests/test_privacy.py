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
            + rows("events", event_id=f"e{i}-anon", user_id=None, anonymous_id=anon)
            + rows("events", event_id=f"e{i}-dev2", user_id=None, anonymous_id=f"{anon}-2"),
            "orders": rows("orders", order_id=f"o{i}", user_id=who),
            "referrals": rows("referrals", inviter_id=who, invitee_id=other),
            "surveys": rows("surveys", response_id=f"r{i}", user_id=who),
            "experiment_assignments": rows("experiment_assignments", unit_id=who),
            # a second device, linked to the person by the collector (an identify call)
            "identities": [{"link_id": f"l{i}", "user_id": who, "anonymous_id": f"{anon}-2",
                            "linked_ts": "2025-01-05T10:00:00", "source": "identify"}],
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
    assert rep.removed == {"users": 1, "events": 3, "orders": 1, "referrals": 0, "surveys": 1,
                           "experiment_assignments": 1, "identities": 1, "customer_scores": 0,
                           "user_tags": 0, "audience_members": 0, "trigger_state": 0,
                           "trigger_changes": 0, "uplift_scores": 0, "quarantine": 1}
    assert rep.total == 9
    # the referral alice made to bob stays, alice's side tombstoned
    assert rep.unlinked == {**dict.fromkeys(rep.removed, 0), "referrals": 1}
    assert con.execute("SELECT inviter_id, invitee_id FROM referrals ORDER BY invitee_id = ?",
                       [bob]).fetchall() == [(bob, pseudo("carol")), (ERASED, bob)]
    text = _all_text(con)
    assert alice not in text and pseudo("a-anon-1") not in text
    assert pseudo("a-anon-1-2") not in text  # the device linked by identify
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


# --- consent and small cells (docs/privacy.md) -------------------------------------------
#
# A tiny shop: ten US customers (us0..us9) and three DE customers (de0..de2), each with one
# session on 2025-01-05 and one order two hours later: 10 USD in the US, 20 EUR in DE (rate
# 1.0). Sessions come from social_ads in the US, search_ads in DE, but us3's from
# live_commerce. Consents: us1 has no marketing consent, us2 no personalisation consent,
# us3 no analytics consent; everyone else has all three.

US = [f"us{i}" for i in range(10)]
DE = [f"de{i}" for i in range(3)]
NO = {"us1": "marketing", "us2": "personalisation", "us3": "analytics"}


def _channel(u: str) -> str:
    return "live_commerce" if u == "us3" else "social_ads" if u in US else "search_ads"


def _load_shop(con, cfg, pseudo, tmp_path) -> None:
    users = [{**GOOD["users"], "user_id": u, "signup_ts": "2025-01-02T09:00:00",
              "market": m, "country": m, "acquisition_channel": _channel(u),
              "acquisition_campaign": None,
              **{f"consent_{p}": str(NO.get(u) != p).lower()
                 for p in ("analytics", "marketing", "personalisation")}}
             for m, people in (("US", US), ("DE", DE)) for u in people]
    events = [{**GOOD["events"], "event_id": f"e-{u}", "user_id": u, "anonymous_id": f"a-{u}",
               "session_id": f"s-{u}", "event_ts": "2025-01-05T10:00:00",
               "event_type": "session_start", "market": "US" if u in US else "DE",
               "channel": _channel(u), "product_id": None, "value": None, "currency": None,
               "properties": None} for u in US + DE]
    orders = [{**GOOD["orders"], "order_id": f"o-{u}", "user_id": u,
               "order_ts": "2025-01-05T12:00:00", "market": "US" if u in US else "DE",
               "currency": "USD" if u in US else "EUR", "amount": "10" if u in US else "20",
               "status": "delivered", "delivered_ts": "2025-01-08T12:00:00"}
              for u in US + DE]
    fx = [{"date": "2025-01-01", "currency": "EUR", "rate": "1.0"}]
    for table, rows in (("users", users), ("events", events), ("orders", orders),
                        ("fx_rates", fx)):
        res = ingest_file(con, cfg, table, write_csv(tmp_path / f"shop-{table}.csv", rows),
                          pseudo)
        assert res.rows_quarantined == 0, (table, res.reasons)


def _write_scores(con, pseudo) -> None:
    """Hand-made scores (no fit): customer k of US + DE has CLV 10 * (k + 1)."""
    import pandas as pd

    from growthloop.warehouse import transaction
    from growthloop.warehouse.store import SCORE_COLUMNS, write_scores

    people = US + DE
    rows = pd.DataFrame({
        "user_id": [pseudo(u) for u in people], "segment_by": "all", "segment": "all",
        "frequency": 0, "recency": 0.0, "T": 0.0, "monetary_value": 0.0, "p_alive": 1.0,
        "expected_purchases": 0.5, "expected_order_value": 10.0,
        "clv": [10.0 * (k + 1) for k in range(len(people))], "horizon_days": 365,
        "discount_rate": 0.01, "margin": 1.0, "currency": "USD",
        "observation_end": "2025-01-31", "model_version": "hand/1", "fit_date": "2025-02-01",
    })
    with transaction(con):
        write_scores(con, rows[list(SCORE_COLUMNS)])


@pytest.fixture
def shop(tmp_path, cfg, pseudo, monkeypatch):
    """The shop above in a project directory (default growthloop.toml), scores written."""
    from growthloop.core.config import DEFAULT_TOML
    from growthloop.warehouse import connect

    (tmp_path / "growthloop.toml").write_text(DEFAULT_TOML)
    (tmp_path / ".growthloop").mkdir()
    con = connect(tmp_path / ".growthloop" / "warehouse.duckdb")
    _load_shop(con, cfg, pseudo, tmp_path)
    _write_scores(con, pseudo)
    con.close()
    monkeypatch.setenv("GROWTHLOOP_PSEUDONYM_KEY", KEY)
    return tmp_path


def _backend(project):
    from growthloop.warehouse import connect, ibis_backend

    con = connect(project / ".growthloop" / "warehouse.duckdb", read_only=True)
    return con, ibis_backend(con)


def test_consent_rule_is_one_table():
    from growthloop.ingest.consent import USES

    assert {u: USES[u].purposes for u in USES} == {
        "journeys": ("analytics",), "scores": ("marketing", "personalisation"),
        "tags": ("marketing", "personalisation"), "uplift": ("marketing", "personalisation"),
        "audiences": ("marketing", "personalisation")}


def test_exports_keep_only_people_with_marketing_and_personalisation_consent(shop, pseudo):
    from growthloop.decide.scores import export_scores

    con, backend = _backend(shop)
    rows, report = export_scores(backend)
    con.close()
    kept = set(rows.user_id)
    assert kept == {pseudo(u) for u in US + DE if u not in ("us1", "us2")}
    assert pseudo("us1") not in kept  # no marketing consent: never in an export
    assert pseudo("us2") not in kept  # no personalisation consent: no prediction shown
    assert pseudo("us3") in kept  # analytics consent is not what an export needs
    assert report.people_left_out == 2
    assert report.message() == ("2 people left out of the per-person CLV scores export: no "
                                "marketing or personalisation consent")
    assert dict(zip(rows.user_id, rows.clv, strict=True))[pseudo("de2")] == 130.0


def test_clv_scores_and_tags_exports_on_the_command_line(shop, pseudo):
    import pandas as pd

    from test_cli import run

    r = run("clv", "scores", "--out", "scores.csv", "--json", cwd=shop)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["consent"] == {"use": "scores", "people_left_out": 2, "requires": [
        "consent_marketing", "consent_personalisation"]}
    assert doc["customers"] == 11 == len(doc["rows"])
    assert "consent: 2 people left out of the per-person CLV scores export" in r.stderr
    csv_ids = set(pd.read_csv(shop / "scores.csv").user_id)
    assert csv_ids == {x["user_id"] for x in doc["rows"]}
    assert not csv_ids & {pseudo("us1"), pseudo("us2")}
    nothing = run("clv", "scores", cwd=shop)
    assert nothing.returncode == 1 and "pass --out FILE" in nothing.stderr

    r = run("segments", "--out", "tags.parquet", "--json", cwd=shop)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["export"]["rows"] == 11 and doc["export"]["consent"]["people_left_out"] == 2
    assert doc["customers"] == 13  # the aggregate report still counts everyone
    tags = pd.read_parquet(shop / "tags.parquet")
    assert set(tags.user_id) == {pseudo(u) for u in US + DE if u not in ("us1", "us2")}
    assert tags.set_index("user_id").clv[pseudo("us0")] == 10.0


def test_analytics_consent_changes_the_journeys_not_the_orders(shop, cfg, pseudo):
    from growthloop.metrics.customers import customer_summary
    from growthloop.metrics.journeys import build_paths, channel_people, journeys_consent

    con, backend = _backend(shop)
    paths = {r["path"]: (r["conversions"], r["value"])
             for r in build_paths(backend, cfg, by_market=False).to_pylist()}
    # us3's live_commerce session is left out: their order converts without a path
    assert paths == {"social_ads": (9.0, 90.0), "search_ads": (3.0, 60.0)}
    assert journeys_consent(backend).people_left_out == 1
    people = {(r["market"], r["channel"]): r["people"]
              for r in channel_people(backend, cfg, by_market=True).to_pylist()}
    assert people == {("US", "social_ads"): 9, ("DE", "search_ads"): 3}
    # orders are not behaviour: the customer summary behind the CLV fit keeps everyone
    summary = customer_summary(backend, cfg)
    con.close()
    assert len(summary) == 13 and pseudo("us3") in set(summary.user_id)


def test_suppress_is_the_one_rule():
    import pandas as pd

    from growthloop.report.privacy import suppress

    df = pd.DataFrame({"market": ["US", "DE", "all"], "people": [10, 3, None],
                       "value": [100.0, 60.0, 160.0]})
    got = suppress(df, 10, {"value": "people"})
    assert got.value.tolist() == [100.0, None, 160.0]  # no people count: never suppressed
    assert got.people.tolist()[:2] == [10, None] and got.suppressed.tolist() == [
        False, True, False]
    assert got.attrs["min_group_size"] == 10
    assert df.value.tolist() == [100.0, 60.0, 160.0]  # the analyst's frame is untouched
    with pytest.raises(Exception, match="min_group_size = 0"):
        suppress(df, 0, {"value": "people"})


def test_a_market_of_three_customers_is_suppressed_when_shared(shop):
    import pandas as pd

    from test_cli import run

    def rows(*args: str) -> dict[str, dict]:
        r = run("kpi", "revenue", "buyers", "--grain", "month", "--by", "market", *args,
                "--json", cwd=shop)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        return doc["privacy"], {(x["kpi"], x["market"]): x for x in doc["rows"]}

    privacy, mine = rows()  # the analyst's own view: every cell as it is
    assert privacy == {"shared": False}
    assert mine[("revenue", "DE")]["value"] == 60.0 and mine[("revenue", "US")]["value"] == 100
    assert mine[("buyers", "DE")]["value"] == 3.0
    privacy, shared = rows("--share")
    assert privacy == {"shared": True, "min_group_size": 10, "rows_suppressed": 2}
    for kpi in ("revenue", "buyers"):
        de = shared[(kpi, "DE")]
        assert (de["value"], de["numerator"], de["people"], de["suppressed"]) == (
            None, None, None, True)
    us = shared[("revenue", "US")]
    assert (us["value"], us["people"], us["suppressed"]) == (100.0, 10, False)

    r = run("kpi", "revenue", "--grain", "month", "--by", "market", "--share", "--out",
            "r.csv", cwd=shop)
    assert r.returncode == 0 and "(1 suppressed)" in r.stderr
    csv = pd.read_csv(shop / "r.csv").set_index("market")
    assert csv.value.isna().to_dict() == {"DE": True, "US": False}
    assert csv.value["US"] == 100.0 and bool(csv.suppressed["DE"])

    table = run("kpi", "revenue", "--grain", "month", "--by", "market", "--share", cwd=shop)
    assert table.returncode == 0, table.stderr
    de_line = next(line for line in table.stdout.splitlines() if " DE " in f" {line} ")
    assert "supp." in de_line and "60" not in de_line and " 3" not in de_line
    assert "supp.: suppressed, fewer than 10 people behind the cell" in " ".join(
        table.stdout.split())
    mine = run("kpi", "revenue", "--grain", "month", "--by", "market", cwd=shop)
    assert "supp." not in mine.stdout and "60" in mine.stdout


def test_share_by_default_and_the_other_shared_commands(shop):
    from test_cli import run

    toml = shop / "growthloop.toml"  # shared by default, groups of 9 people or more
    toml.write_text(toml.read_text().replace("share_by_default = false",
                                             "share_by_default = true")
                    .replace("min_group_size = 10", "min_group_size = 9"))
    s = json.loads(run("summary", "--json", cwd=shop).stdout)
    got = {m["market"]: m for m in s["markets"]}
    assert s["privacy"]["shared"] and got["DE"]["suppressed"]
    assert (got["DE"]["users"], got["DE"]["revenue"], got["DE"]["conversion"]) == (
        None, None, None)
    assert (got["US"]["users"], got["US"]["buyers"], got["US"]["revenue"]) == (10, 10, 100.0)
    assert got["all"]["revenue"] == 160.0
    mine = json.loads(run("summary", "--no-share", "--json", cwd=shop).stdout)
    assert {m["market"]: m["revenue"] for m in mine["markets"]}["DE"] == 60.0

    f = json.loads(run("funnel", "session_start", "--by", "market", "--json",
                       cwd=shop).stdout)
    units = {x["market"]: (x["units"], x["people"]) for x in f["rows"]}
    assert units == {"DE": (None, None), "US": (10, 10)}

    c = json.loads(run("cohorts", "--json", cwd=shop).stdout)
    first = [x for x in c["rows"] if x["periods_since"] == 0]
    assert [(x["cohort_size"], x["retention"], x["suppressed"]) for x in first] == [
        (13, 1.0, False)]

    r = run("attribution", "--model", "last", "--by", "market", "--bootstrap", "0", "--json",
            cwd=shop)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert "consent: 1 person left out of attribution journeys" in r.stderr
    assert doc["consent"]["people_left_out"] == 1
    credits = {(x["market"], x["channel"]): (x["conversions"], x["people"], x["suppressed"])
               for x in doc["credits"]}
    # nine people converted after a social_ads touch (us3's journey is not used)
    assert credits[("US", "social_ads")] == (9.0, 9, False)
    assert credits[("DE", "search_ads")] == (None, None, True)  # three people
    assert all(v == (None, None, True) for k, v in credits.items()
               if k not in (("US", "social_ads"),))
    paths = shop / "paths.csv"
    paths.write_text("path,conversions,nulls,value\na > b,3,1,30\n")
    r = run("attribution", "--paths", "paths.csv", cwd=shop)
    assert r.returncode == 1 and "a path file names no people" in r.stderr
    assert run("attribution", "--paths", "paths.csv", "--no-share", cwd=shop).returncode == 0

    seg = json.loads(run("segments", "--json", cwd=shop).stdout)
    rows = [x for x in seg["segments"] if x["dimension"] == "value_tier"]
    assert all(x["suppressed"] and x["clv"] is None for x in rows if x["market"] == "DE")
    mine = json.loads(run("segments", "--no-share", "--json", cwd=shop).stdout)
    for a, b in zip(mine["segments"], seg["segments"], strict=True):
        if a["customers"] >= 9:
            assert (b["customers"], b["clv"]) == (a["customers"], a["clv"])
        else:
            assert b["customers"] is None and b["suppressed"]


# People behind KPI cells, by hand on tests/metrics_fixture.py: Jan sessions of u1, u2, u3
# and the anonymous visitor a9; Feb sessions of u1, u2, u4; orders o1 u1, o2 u3 (returned)
# in Jan, o3 u1 and o4 u4 in Feb (o5 of u2 cancelled); sign-ups u1-u3 Jan, u4 Feb.
PEOPLE = {  # (kpi, by): {(month, *slice): people}
    ("add_to_cart_rate", ()): {("2025-01",): 4, ("2025-02",): 3},  # a9 counts: a device
    ("active_users", ()): {("2025-01",): 3, ("2025-02",): 3},  # a9 has no user_id
    ("revenue", ("market",)): {("2025-01", "DE"): 1, ("2025-01", "US"): 1,
                               ("2025-02", "DE"): 1, ("2025-02", "US"): 1},
    ("spend", ()): {("2025-01",): None, ("2025-02",): None},  # not about people
    ("roas", ()): {("2025-01",): 2, ("2025-02",): 2},  # the buyers; spend adds none
    ("mau_share", ()): {("2025-01",): 3, ("2025-02",): 4},  # registered by the month's end
    ("user_growth_rate", ("market",)): {("2025-01", "DE"): 1, ("2025-01", "US"): 2,
                                        ("2025-02", "DE"): 2},  # u4 + u3 before
    ("aov_growth", ()): {("2025-01",): 2, ("2025-02",): 3},  # Feb: u1 u4, Jan: u1 u3
}


def _people(backend, cfg, name, by):
    from growthloop.metrics import compile_kpi

    df = compile_kpi(name, backend, cfg, grain="month", by=list(by), people=True).execute()
    return {(str(r["period"])[:7], *(r[d] for d in by)):
            None if r["people"] is None or r["people"] != r["people"] else int(r["people"])
            for r in df.to_dict(orient="records")}


def test_people_behind_kpi_cells_by_hand(tmp_path, con, cfg, pseudo):
    from growthloop.metrics.compile import kpi_frame
    from growthloop.warehouse import ibis_backend
    from metrics_fixture import load_fixture

    load_fixture(tmp_path, con, cfg, pseudo)
    backend = ibis_backend(con)
    for (name, by), want in PEOPLE.items():
        assert _people(backend, cfg, name, by) == want, name
    plain = kpi_frame(backend, cfg, ["revenue"], grain="month")
    assert "people" not in plain.columns  # the analyst's frame, as before


# pyspark's collect leaves py4j's local sockets to the garbage collector.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_people_and_consent_same_on_spark(tmp_path, con, cfg, pseudo, spark):
    import ibis

    from growthloop.core.schema import TABLES
    from growthloop.metrics.journeys import build_paths, channel_people
    from growthloop.warehouse import ibis_backend
    from metrics_fixture import load_fixture

    load_fixture(tmp_path, con, cfg, pseudo)
    con.execute("UPDATE users SET consent_analytics = false WHERE user_id = ?",
                [pseudo("u4")])
    sb = ibis.pyspark.connect(spark)
    for name in TABLES:
        p = tmp_path / f"{name}.parquet"
        con.execute(f"COPY {name} TO '{p}' (FORMAT parquet)")
        sb.read_parquet(str(p), table_name=name)
    duck = ibis_backend(con)
    for name, by in PEOPLE:
        assert _people(sb, cfg, name, by) == _people(duck, cfg, name, by), name
    # u4 has no analytics consent now: their social_ads session is no touch anywhere
    for b in (duck, sb):
        rows = {r["path"]: r["conversions"] for r in build_paths(b, cfg).to_pylist()}
        assert rows == {"organic": 0.0, "search_ads": 1.0, "social_ads": 1.0}
        people = {r["channel"]: r["people"] for r in channel_people(b, cfg).to_pylist()}
        assert people == {"search_ads": 1, "social_ads": 1}
