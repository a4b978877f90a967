"""The derived customer-value tables: migration, documentation, and erasure reaching them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from conftest import write_csv
from growthloop.ingest import ingest_file
from growthloop.ingest.privacy import erase
from growthloop.warehouse import DERIVED_PERSON_TABLES, MIGRATIONS, SCHEMA_VERSION, connect
from growthloop.warehouse.store import SCORE_COLUMNS, TAG_COLUMNS, insert_frame
from test_ingest_rules import GOOD

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-model.md"


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]


def test_derived_tables_are_migrated_and_documented(con):
    text = DOC.read_text()
    for table, columns in (("customer_scores", SCORE_COLUMNS), ("user_tags", TAG_COLUMNS)):
        assert _columns(con, table) == list(columns)
        assert f"## `{table}`" in text
        section = text.split(f"## `{table}`")[1].split("\n## ")[0]
        for c in columns:
            assert f"| `{c}` |" in section, (table, c)
    assert set(DERIVED_PERSON_TABLES) == {"customer_scores", "user_tags", "audience_members",
                                          "trigger_state", "trigger_changes", "uplift_scores"}


def test_an_older_warehouse_gains_the_tables(tmp_path):
    path = tmp_path / "old.duckdb"
    raw = duckdb.connect(str(path))
    MIGRATIONS[0](raw)
    raw.execute("CREATE TABLE schema_version (version INTEGER)")
    raw.execute("INSERT INTO schema_version VALUES (1)")
    raw.close()
    con = connect(path)
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert _columns(con, "user_tags") == list(TAG_COLUMNS)
    con.close()


def _score_rows(tokens: list[str]) -> pd.DataFrame:
    rows = []
    for t in tokens:
        rows.append({c: None for c in SCORE_COLUMNS} | {
            "user_id": t, "segment_by": "all", "segment": "all", "frequency": 1,
            "clv": 10.0, "observation_end": "2025-01-31", "fit_date": "2025-02-01"})
    return pd.DataFrame(rows)


def _tag_rows(tokens: list[str]) -> pd.DataFrame:
    rows = []
    for t in tokens:
        rows.append({c: None for c in TAG_COLUMNS} | {
            "user_id": t, "market": "BR", "value_tier": "vip", "high_value": True,
            "as_of": "2025-01-31", "tagged_on": "2025-02-01"})
    return pd.DataFrame(rows)


def test_erase_reaches_scores_and_tags(tmp_path, con, cfg, pseudo):
    for i, who in enumerate(("alice", "bob")):
        user = {**GOOD["users"], "user_id": who, "referrer_id": None}
        order = {**GOOD["orders"], "order_id": f"o{i}", "user_id": who}
        ingest_file(con, cfg, "users", write_csv(tmp_path / f"u{i}.csv", [user]), pseudo)
        ingest_file(con, cfg, "orders", write_csv(tmp_path / f"o{i}.csv", [order]), pseudo)
    tokens = [pseudo("alice"), pseudo("bob")]
    insert_frame(con, "customer_scores", _score_rows(tokens), SCORE_COLUMNS,
                 {"observation_end": "DATE", "fit_date": "DATE"})
    insert_frame(con, "user_tags", _tag_rows(tokens), TAG_COLUMNS,
                 {"as_of": "DATE", "tagged_on": "DATE"})
    rep = erase(con, "alice", pseudo)
    assert rep.removed["customer_scores"] == 1 and rep.removed["user_tags"] == 1
    assert rep.removed["users"] == 1 and rep.removed["orders"] == 1
    for table in ("customer_scores", "user_tags"):
        left = con.execute(f'SELECT user_id FROM "{table}"').fetchall()
        assert left == [(tokens[1],)], table
    again = erase(con, "alice", pseudo)
    assert again.removed["customer_scores"] == 0 and again.total == 0
