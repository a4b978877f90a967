"""docs/data-model.md documents every table and column, and matches the schema."""

from pathlib import Path

from growthloop.core.schema import TABLES, arrow_schema, data_model_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-model.md"


def test_data_model_doc_is_current():
    assert DOC.read_text() == data_model_markdown(), "run `make docs` to regenerate it"


def test_every_table_and_column_is_documented():
    text = DOC.read_text()
    for t in TABLES.values():
        assert f"## `{t.name}`" in text
        for c in t.columns:
            assert f"| `{c.name}` | {c.dtype} |" in text
            assert c.description
    for extra in ("quarantine", "loads"):
        assert f"## `{extra}`" in text


def test_arrow_schema_matches_columns():
    s = arrow_schema("orders")
    assert s.names == TABLES["orders"].column_names
    assert str(s.field("amount").type) == "double" and not s.field("order_id").nullable
    assert str(s.field("order_ts").type) == "timestamp[us]"


def test_metrics_doc_is_current():
    from growthloop.metrics import builtin_catalog
    from growthloop.report.docs import metrics_markdown

    text = (DOC.parent / "metrics.md").read_text()
    assert text == metrics_markdown(), "run `growthloop kpi --markdown > docs/metrics.md`"
    for name in builtin_catalog():
        assert f"### `{name}`" in text
