"""The knowledge base: entries from notes and experiment analyses, their checks, BM25
search (FTS5 in memory) and listing, on real DuckDB files; the ``kb`` commands through
the real executable."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from growthloop.cli import main
from growthloop.core.config import Config, ExperimentSpec
from growthloop.core.errors import InputError
from growthloop.decide.experiments import ExperimentResult
from growthloop.decide.knowledge import (
    SEARCH_COLUMNS,
    SEARCH_WEIGHTS,
    KnowledgeEntry,
    add_entry,
    entry_from_result,
    list_entries,
    parse_interval,
    recent,
    search,
)
from test_cli import run

D = dt.date
NOW = dt.datetime(2025, 6, 1, 12, 0)

SHIPPING = KnowledgeEntry(
    kind="note", title="Free shipping threshold in Germany", decision="ship",
    metric="buyers", effect=0.05, effect_low=-0.01, effect_high=0.11, markets="DE",
    start_date=D(2025, 2, 1), end_date=D(2025, 2, 28), owner="lena",
    notes="Orders over 50 EUR ship free")
LOYALTY = KnowledgeEntry(
    kind="note", title="Loyalty points for repeat buyers", metric="repeat_rate",
    start_date=D(2025, 1, 5), end_date=D(2025, 1, 31),
    notes="Points doubled in the festive season; the basket grew")
FESTIVE = KnowledgeEntry(
    kind="note", title="Festive influencer videos", metric="new_users",
    markets=("BR", "MX"), start_date=D(2024, 12, 1), end_date=D(2024, 12, 24),
    notes="Short videos with local creators")

CHECKOUT = ExperimentSpec(
    id="checkout_redesign", hypothesis="A one-page checkout raises buyers", owner="ana",
    primary="buyers", markets=["DE", "FR"], start=D(2025, 3, 1), end=D(2025, 3, 29))
ANCHOR = ExperimentSpec(
    id="price_anchor", hypothesis="Showing the list price raises order value",
    owner="raj", primary="aov", variants={"control": 0.4, "b": 0.3, "c": 0.3},
    start=D(2025, 4, 1), end=D(2025, 4, 29))

NAN = math.nan


def _row(metric: str, variant: str, lift: tuple[float, float, float],
         cuped: tuple[float, float, float] = (NAN, NAN, NAN), *, segment: str = "all",
         role: str = "primary") -> dict[str, object]:
    return {"metric": metric, "role": role, "segment": segment, "variant": variant,
            "lift": lift[0], "lift_low": lift[1], "lift_high": lift[2],
            "cuped_lift": cuped[0], "cuped_low": cuped[1], "cuped_high": cuped[2]}


def _result(spec: ExperimentSpec, rows: list[dict[str, object]], verdict: str,
            reason: str, variant: str | None) -> ExperimentResult:
    counts = {v: 1000 for v in spec.variants}
    return ExperimentResult(experiment_id=spec.id, counts=counts,
                            weights=dict(spec.variants), srm_p=0.8,
                            rows=pd.DataFrame(rows), verdict=verdict,  # type: ignore[arg-type]
                            reason=reason, variant=variant, ended=True)


CHECKOUT_RESULT = _result(
    CHECKOUT,
    [_row("buyers", "treatment", (0.081, 0.021, 0.141), (0.077, 0.031, 0.123)),
     _row("buyers", "treatment", (0.2, 0.1, 0.3), segment="DE"),
     _row("aov", "treatment", (-0.01, -0.05, 0.03), role="guardrail")],
    "ship", "buyers +8.1% in treatment, interval +3.1% to +12.3%, adjusted p = 0.001",
    "treatment")
ANCHOR_RESULT = _result(
    ANCHOR,
    [_row("aov", "c", (0.02, -0.03, 0.07)), _row("aov", "b", (-0.012, -0.06, 0.036)),
     _row("buyers", "b", (0.5, 0.4, 0.6), role="secondary")],
    "don't ship", "no detectable effect on aov: -1.2%, interval -6.0% to +3.6%", None)


@pytest.fixture
def kb(con: duckdb.DuckDBPyConnection, cfg: Config) -> dict[str, str]:
    """Three notes and two experiment entries, each recorded a minute after the last."""
    entries = {"shipping": SHIPPING, "loyalty": LOYALTY, "festive": FESTIVE,
               "checkout": entry_from_result(CHECKOUT_RESULT, CHECKOUT),
               "anchor": entry_from_result(ANCHOR_RESULT, ANCHOR)}
    return {k: add_entry(con, e, cfg=cfg, now=NOW + dt.timedelta(minutes=i))
            for i, (k, e) in enumerate(entries.items())}


# --------------------------------------------------------------------------- entries
def test_entry_from_result_uses_the_primary_overall_row_cuped_first() -> None:
    e = entry_from_result(CHECKOUT_RESULT, CHECKOUT)
    assert e == KnowledgeEntry(
        kind="experiment", title="checkout_redesign: ship (buyers +7.7%)",
        hypothesis="A one-page checkout raises buyers", decision="ship", metric="buyers",
        effect=0.077, effect_low=0.031, effect_high=0.123, markets=("DE", "FR"),
        start_date=D(2025, 3, 1), end_date=D(2025, 3, 29),
        experiment_id="checkout_redesign", owner="ana",
        notes="buyers +8.1% in treatment, interval +3.1% to +12.3%, adjusted p = 0.001")


def test_entry_from_result_without_a_variant_takes_the_first_non_control() -> None:
    e = entry_from_result(ANCHOR_RESULT, ANCHOR)  # registry order: b before c
    assert e.title == "price_anchor: don't ship (aov -1.2%)"
    assert (e.effect, e.effect_low, e.effect_high) == (-0.012, -0.06, 0.036)  # no CUPED
    assert (e.decision, e.metric, e.markets) == ("don't ship", "aov", ())
    assert e.notes == "no detectable effect on aov: -1.2%, interval -6.0% to +3.6%"


def test_an_invalid_experiment_records_no_figure() -> None:
    bad = dataclasses.replace(CHECKOUT_RESULT, verdict="invalid", variant=None,
                              reason="sample ratio mismatch")
    e = entry_from_result(bad, CHECKOUT)
    assert e.title == "checkout_redesign: invalid"
    assert (e.effect, e.effect_low, e.effect_high) == (None, None, None)
    with pytest.raises(InputError, match=r"^experiment_id 'checkout_redesign': the "
                       r"analysis is not of the registry's experiment 'price_anchor'$"):
        entry_from_result(CHECKOUT_RESULT, ANCHOR)


def test_ids_are_the_content_hash_and_a_duplicate_is_refused(
        con: duckdb.DuckDBPyConnection, cfg: Config, kb: dict[str, str]) -> None:
    assert all(re.fullmatch(r"kb-[0-9a-f]{10}", i) for i in kb.values())
    assert len(set(kb.values())) == 5
    assert kb["shipping"] == SHIPPING.entry_id
    # the same content is the same id: 5 and 5.0, a list or a text of markets
    same = dataclasses.replace(SHIPPING, markets=["DE"])  # type: ignore[arg-type]
    assert same.entry_id == SHIPPING.entry_id
    with pytest.raises(InputError) as e:
        add_entry(con, same, cfg=cfg)
    assert str(e.value) == (f"entry 'Free shipping threshold in Germany': already "
                            f"recorded as {kb['shipping']} (on 2025-06-01); expected a "
                            "new entry")
    assert con.execute("SELECT count(*) FROM knowledge").fetchone() == (5,)
    other = dataclasses.replace(SHIPPING, notes="Orders over 60 EUR ship free")
    assert other.entry_id != SHIPPING.entry_id


def test_rows_are_stored_as_given(con: duckdb.DuckDBPyConnection,
                                  kb: dict[str, str]) -> None:
    row = con.execute("SELECT * FROM knowledge WHERE entry_id = ?",
                      [kb["shipping"]]).fetchone()
    assert row == (kb["shipping"], "note", "Free shipping threshold in Germany", None,
                   "ship", "buyers", 0.05, -0.01, 0.11, "DE", D(2025, 2, 1),
                   D(2025, 2, 28), None, "lena", "Orders over 50 EUR ship free", NOW)
    row = con.execute("SELECT markets, experiment_id, decision FROM knowledge WHERE "
                      "entry_id = ?", [kb["anchor"]]).fetchone()
    assert row == ("", "price_anchor", "don't ship")


EXPERIMENT = entry_from_result(CHECKOUT_RESULT, CHECKOUT)


@pytest.mark.parametrize(("entry", "message"), [
    (dataclasses.replace(SHIPPING, kind="test"),  # type: ignore[arg-type]
     "kind 'test': expected one of experiment, note"),
    (dataclasses.replace(SHIPPING, title="   "), "title '': expected a non-empty title"),
    (dataclasses.replace(SHIPPING, markets="DE,XX"),  # type: ignore[arg-type]
     "markets 'DE,XX': 'XX' is not a configured market; expected codes among ID, TH, "
     "SG, DE, FR, BR, MX, US"),
    (dataclasses.replace(SHIPPING, markets="DE,DE"),  # type: ignore[arg-type]
     "markets 'DE,DE': expected each market once"),
    (dataclasses.replace(SHIPPING, effect_low=0.06),
     "effect_low 0.06, effect 0.05, effect_high 0.11: expected effect_low <= effect <= "
     "effect_high"),
    (dataclasses.replace(SHIPPING, effect_high=0.04),
     "effect_low -0.01, effect 0.05, effect_high 0.04: expected effect_low <= effect <= "
     "effect_high"),
    (dataclasses.replace(SHIPPING, effect_high=None),
     "effect_low -0.01, effect_high None: expected both ends of the interval or neither"),
    (dataclasses.replace(SHIPPING, effect=None),
     "effect None with the interval -0.01 to 0.11: expected the effect the interval is "
     "around"),
    (dataclasses.replace(SHIPPING, effect=NAN, effect_low=None, effect_high=None),
     "effect nan: expected a finite number (a relative effect, e.g. 0.05)"),
    (dataclasses.replace(SHIPPING, effect="big"),  # type: ignore[arg-type]
     "effect 'big': expected a number (a relative effect, e.g. 0.05)"),
    (dataclasses.replace(SHIPPING, start_date=D(2025, 3, 1)),
     "start_date 2025-03-01, end_date 2025-02-28: expected start_date <= end_date"),
    (dataclasses.replace(SHIPPING, end_date="2025-02-28"),  # type: ignore[arg-type]
     "end_date '2025-02-28': expected a date"),
    (dataclasses.replace(EXPERIMENT, decision="maybe"),
     "decision 'maybe': expected for an experiment one of 'ship', \"don't ship\", "
     "'keep running', 'invalid'"),
    (dataclasses.replace(EXPERIMENT, experiment_id=""),
     "experiment_id '': expected the id of the experiment an experiment entry records"),
], ids=["kind", "title", "market", "market-twice", "low-above-effect", "high-below-effect",
        "one-end", "interval-without-effect", "nan", "text", "dates", "date-type",
        "decision", "experiment-id"])
def test_each_bad_field_is_refused(con: duckdb.DuckDBPyConnection, cfg: Config,
                                   entry: KnowledgeEntry, message: str) -> None:
    with pytest.raises(InputError) as e:
        add_entry(con, entry, cfg=cfg)
    assert str(e.value) == message
    assert con.execute("SELECT count(*) FROM knowledge").fetchone() == (0,)


def test_a_note_decision_is_free_text(con: duckdb.DuckDBPyConnection,
                                      cfg: Config) -> None:
    note = dataclasses.replace(SHIPPING, decision="roll out to FR next quarter")
    entry_id = add_entry(con, note, cfg=cfg)
    assert list_entries(con).decision.tolist() == ["roll out to FR next quarter"]
    assert list_entries(con).entry_id.tolist() == [entry_id]


def test_parse_interval() -> None:
    assert parse_interval("-0.01,0.11") == (-0.01, 0.11)
    assert parse_interval(" 0 , 0.2 ") == (0.0, 0.2)
    for bad, why in [("0.1", "expected two numbers LOW,HIGH, e.g. -0.01,0.11"),
                     ("a,b", "expected two numbers LOW,HIGH, e.g. -0.01,0.11"),
                     ("0.2,0.1", "expected LOW <= HIGH"),
                     ("nan,0.1", "expected two finite numbers LOW,HIGH")]:
        with pytest.raises(InputError) as e:
            parse_interval(bad)
        assert str(e.value) == f"--interval {bad!r}: {why}"


# --------------------------------------------------------------------------- search
def _hand_bm25(entries: pd.DataFrame, term: str) -> dict[str, float]:
    """FTS5's bm25 (k1 = 1.2, b = 0.75, idf log((N - n + 0.5) / (n + 0.5)), floored at
    1e-6) for one unstemmed-equal term, counted by hand."""
    k1, b = 1.2, 0.75
    cols = list(SEARCH_WEIGHTS)
    words = {r.entry_id: {c: re.findall(r"[^\W_]+", str(getattr(r, c) or "").lower())
                          for c in cols} for r in entries.itertuples()}
    length = {i: sum(len(w) for w in ws.values()) for i, ws in words.items()}
    avg = np.mean(list(length.values()))
    has = [i for i, ws in words.items() if any(term in w for w in ws.values())]
    n, total = len(has), len(words)
    idf = max(math.log((total - n + 0.5) / (n + 0.5)), 1e-6)
    out = {}
    for i in has:
        tf = sum(SEARCH_WEIGHTS[c] * words[i][c].count(term) for c in cols)
        out[i] = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length[i] / avg))
    return out


def test_a_title_match_ranks_above_a_notes_match(con: duckdb.DuckDBPyConnection,
                                                  kb: dict[str, str]) -> None:
    found = search(con, "festive")
    assert list(found.columns) == list(SEARCH_COLUMNS)
    assert found.entry_id.tolist() == [kb["festive"], kb["loyalty"]]  # title, then notes
    hand = _hand_bm25(list_entries(con), "festive")
    assert found.score.tolist() == pytest.approx([hand[kb["festive"]],
                                                  hand[kb["loyalty"]]], rel=1e-9)
    assert found.score.round(4).tolist() == [0.5822, 0.3728]
    first = found.iloc[0]
    assert (first.title, first.kind, first.markets, first.start_date, first.end_date) == (
        "Festive influencer videos", "note", "BR,MX", D(2024, 12, 1), D(2024, 12, 24))
    assert np.isnan(first.effect) and first.decision is None


def test_a_stemmed_query_finds_the_stem(con: duckdb.DuckDBPyConnection,
                                        kb: dict[str, str]) -> None:
    stems = {kb["shipping"], kb["checkout"], kb["anchor"]}  # "ship" in each
    assert set(search(con, "shipping").entry_id) == stems
    assert set(search(con, "shipped").entry_id) == stems
    assert search(con, "ship").entry_id.tolist() == search(con, "SHIPPING").entry_id.tolist()
    assert search(con, "videos").entry_id.tolist() == [kb["festive"]]
    assert search(con, "video").entry_id.tolist() == [kb["festive"]]
    # any word may match: one entry's word or the other's
    assert set(search(con, "loyalty creators").entry_id) == {kb["loyalty"], kb["festive"]}
    assert search(con, "checkout_redesign").entry_id.tolist()[0] == kb["checkout"]
    assert search(con, "festive", limit=1).entry_id.tolist() == [kb["festive"]]


@pytest.mark.parametrize("text", [
    '"festive', "festive AND (", "NEAR(festive", "festive*", "festive'; DROP TABLE knowledge; --",
    "title:festive", "^festive", '"" OR festive', "-festive +", "festive\"\"", "{festive}"])
def test_query_syntax_is_read_as_plain_words(con: duckdb.DuckDBPyConnection,
                                             kb: dict[str, str], text: str) -> None:
    found = search(con, text)
    assert kb["festive"] in set(found.entry_id)
    assert con.execute("SELECT count(*) FROM knowledge").fetchone() == (5,)


@pytest.mark.parametrize("text", ["", "   ", "?!", '"'])
def test_a_query_without_words_finds_nothing(con: duckdb.DuckDBPyConnection,
                                             kb: dict[str, str], text: str) -> None:
    found = search(con, text)
    assert found.empty and list(found.columns) == list(SEARCH_COLUMNS)
    assert search(con, "nonexistentword").empty


def test_equal_scores_go_newest_first(con: duckdb.DuckDBPyConnection,
                                      cfg: Config) -> None:
    old = KnowledgeEntry(kind="note", title="Gift wrapping", start_date=D(2024, 1, 1),
                         end_date=D(2024, 1, 31))
    new = dataclasses.replace(old, start_date=D(2024, 11, 1), end_date=D(2024, 11, 30))
    undated = dataclasses.replace(old, start_date=None, end_date=None)  # dated 2025-06-01
    ids = [add_entry(con, e, cfg=cfg, now=NOW) for e in (old, new, undated)]
    found = search(con, "wrapping gift")
    assert found.score.nunique() == 1
    assert found.entry_id.tolist() == [ids[2], ids[1], ids[0]]


def test_search_on_an_empty_base_and_a_bad_limit(con: duckdb.DuckDBPyConnection) -> None:
    assert search(con, "anything").empty
    with pytest.raises(InputError, match=r"^limit 0: expected a whole number >= 1$"):
        search(con, "x", limit=0)


# --------------------------------------------------------------------------- list
def test_list_is_newest_first_and_filters(con: duckdb.DuckDBPyConnection,
                                          kb: dict[str, str]) -> None:
    def ids(**kw: object) -> list[str]:
        inv = {v: k for k, v in kb.items()}
        return [inv[i] for i in list_entries(con, **kw).entry_id]  # type: ignore[arg-type]

    assert ids() == ["anchor", "checkout", "shipping", "loyalty", "festive"]
    assert ids(metric="buyers") == ["checkout", "shipping"]
    # an entry for every market appears for each market
    assert ids(market="DE") == ["anchor", "checkout", "shipping", "loyalty"]
    assert ids(market="FR") == ["anchor", "checkout", "loyalty"]
    assert ids(market="BR") == ["anchor", "loyalty", "festive"]
    assert ids(market="US") == ["anchor", "loyalty"]
    assert ids(kind="experiment") == ["anchor", "checkout"]
    assert ids(kind="note", market="DE") == ["shipping", "loyalty"]
    assert ids(metric="buyers", market="FR") == ["checkout"]
    assert ids(limit=2) == ["anchor", "checkout"]
    assert recent(con, 1).entry_id.tolist() == [kb["anchor"]]
    assert len(recent(con)) == 5
    df = list_entries(con, kind="experiment")
    assert df.effect.tolist() == [-0.012, 0.077]
    assert df.title.tolist() == ["price_anchor: don't ship (aov -1.2%)",
                                 "checkout_redesign: ship (buyers +7.7%)"]
    with pytest.raises(InputError, match=r"^kind 'test': expected one of experiment, "
                                         r"note$"):
        list_entries(con, kind="test")


# --------------------------------------------------------------------------- CLI
ADD = ("kb", "add", "--title", "Free shipping over 50 EUR", "--decision", "ship",
       "--metric", "buyers", "--effect", "0.05", "--interval", "-0.01,0.11", "--markets",
       "DE,FR", "--from", "2025-03-01", "--to", "2025-03-29", "--owner", "lena",
       "--notes", "Baskets grew; returns did not")


def test_cli_add_search_and_a_bad_interval(tmp_path) -> None:
    """Through the installed executable."""
    assert run("init", cwd=tmp_path).returncode == 0
    r = run(*ADD, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    added = json.loads(r.stdout)
    assert re.fullmatch(r"kb-[0-9a-f]{10}", added["entry_id"])
    assert (added["kind"], added["title"]) == ("note", "Free shipping over 50 EUR")

    r = run("kb", "search", "shipping", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["query"] == "shipping"
    [hit] = doc["results"]
    assert {k: hit[k] for k in ("entry_id", "kind", "title", "decision", "metric",
                                "effect", "effect_low", "effect_high", "markets",
                                "start_date", "end_date")} == {
        "entry_id": added["entry_id"], "kind": "note",
        "title": "Free shipping over 50 EUR", "decision": "ship", "metric": "buyers",
        "effect": 0.05, "effect_low": -0.01, "effect_high": 0.11, "markets": "DE,FR",
        "start_date": "2025-03-01", "end_date": "2025-03-29"}
    assert isinstance(hit["score"], float) and hit["score"] > 0

    r = run("kb", "add", "--title", "Wider", "--effect", "0.2", "--interval", "0.3,0.1",
            cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == "error: --interval '0.3,0.1': expected LOW <= HIGH\n"


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line in this process: exit status, stdout, stderr."""
    with pytest.raises(SystemExit) as e:
        main(list(args))
    got = capsys.readouterr()
    return int(e.value.code or 0), got.out, got.err


def test_cli_list_duplicates_and_tables(project, monkeypatch, capsys) -> None:
    monkeypatch.chdir(project)
    code, out, _ = _main(capsys, *ADD)
    assert code == 0 and re.fullmatch(r"kb-[0-9a-f]{10}\n", out)
    entry_id = out.strip()
    code, out, _ = _main(capsys, "kb", "add", "--title", "Bundles", "--notes",
                         "two for one")
    assert code == 0

    code, out, _ = _main(capsys, "kb", "list", "--market", "US", "--json")
    assert code == 0
    assert [e["title"] for e in json.loads(out)["entries"]] == ["Bundles"]
    code, out, _ = _main(capsys, "kb", "list", "--kind", "note", "--metric", "buyers",
                         "--json")
    assert [e["entry_id"] for e in json.loads(out)["entries"]] == [entry_id]

    code, out, err = _main(capsys, *ADD)
    assert code == 1 and out == ""
    assert re.fullmatch(rf"error: entry 'Free shipping over 50 EUR': already recorded as "
                        rf"{entry_id} \(on \d{{4}}-\d\d-\d\d\); expected a new entry\n", err)
    code, out, err = _main(capsys, "kb", "add", "--title", "Wider", "--effect", "0.2",
                           "--interval", "0.1,0.15")
    assert code == 1
    assert err == ("error: effect_low 0.1, effect 0.2, effect_high 0.15: expected "
                   "effect_low <= effect <= effect_high\n")
    code, out, err = _main(capsys, "kb", "add", "--title", "Late", "--from",
                           "2025-02-30")
    assert (code, err) == (1, "error: --from '2025-02-30' is not a date; expected a "
                              "date YYYY-MM-DD\n")
    code, out, err = _main(capsys, "kb", "add", "--title", "Here", "--markets", "DE,XX")
    assert code == 1 and err.startswith("error: markets 'DE,XX': 'XX' is not a "
                                        "configured market")

    code, out, _ = _main(capsys, "kb", "search", "shipping")  # the table, 80 columns
    assert code == 0
    assert "Free shipping over 50 EUR" in out and "+5.0% (-1.0% to +11.0%)" in out
    assert "score: BM25 relevance (higher is better)" in out
    code, out, err = _main(capsys, "kb", "search", "nothing-like-it")
    assert (code, out, err) == (0, "", "no entry matches 'nothing-like-it'\n")
