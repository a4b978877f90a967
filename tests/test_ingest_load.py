"""Atomic and idempotent loads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import KEY, write_csv
from growthloop.ingest import ingest_file
from growthloop.warehouse import connect


def _orders(n: int, start: int = 0, bad: tuple[int, ...] = ()) -> list[dict[str, object]]:
    return [dict(order_id=f"o{i}", user_id=f"u{i % 7}", order_ts=f"2025-02-{1 + i % 28:02d}",
                 market="US", currency="USD", amount=-1 if i in bad else 10 + i,
                 status="delivered", delivered_ts=None) for i in range(start, start + n)]


def _state(con) -> tuple[int, int, int, float]:
    return (con.execute("SELECT count(*) FROM orders").fetchone()[0],
            con.execute("SELECT count(*) FROM quarantine").fetchone()[0],
            con.execute("SELECT count(*) FROM loads").fetchone()[0],
            con.execute("SELECT coalesce(sum(amount), 0) FROM orders").fetchone()[0])


def test_reload_same_file_adds_nothing(tmp_path, con, cfg, pseudo):
    path = write_csv(tmp_path / "o.csv", _orders(20, bad=(3,)))
    first = ingest_file(con, cfg, "orders", path, pseudo)
    assert (first.rows_loaded, first.rows_quarantined) == (19, 1)
    before = _state(con)
    again = ingest_file(con, cfg, "orders", path, pseudo)
    assert again.already_loaded and again.rows_loaded == 0 and again.rows_duplicate == 20
    assert _state(con) == before


def test_overlapping_file_adds_only_new_keys(tmp_path, con, cfg, pseudo):
    ingest_file(con, cfg, "orders", write_csv(tmp_path / "a.csv", _orders(10)), pseudo)
    res = ingest_file(con, cfg, "orders", write_csv(tmp_path / "b.parquet.csv",
                                                    _orders(10, start=5)), pseudo)
    assert (res.rows_loaded, res.rows_duplicate) == (5, 5)
    assert _state(con)[0] == 15
    assert _state(con)[3] == sum(10 + i for i in range(15))


def test_duplicate_keys_within_a_file_keep_the_first(tmp_path, con, cfg, pseudo):
    rows = _orders(4)
    rows.append({**rows[1], "amount": 999})
    res = ingest_file(con, cfg, "orders", write_csv(tmp_path / "o.csv", rows), pseudo)
    assert (res.rows_read, res.rows_loaded, res.rows_duplicate) == (5, 4, 1)
    assert con.execute("SELECT amount FROM orders WHERE order_id = 'o1'").fetchone()[0] == 11


def test_error_mid_load_leaves_warehouse_as_before(tmp_path, con, cfg, pseudo):
    ingest_file(con, cfg, "orders", write_csv(tmp_path / "a.csv", _orders(5)), pseudo)
    before = _state(con)

    def boom(step: str) -> None:
        if step == "loaded":  # rows written and quarantined, not yet committed
            raise KeyboardInterrupt

    path = write_csv(tmp_path / "b.csv", _orders(30, start=5, bad=(7, 9)))
    with pytest.raises(KeyboardInterrupt):
        ingest_file(con, cfg, "orders", path, pseudo, on_step=boom)
    assert _state(con) == before
    # and the file can then be loaded normally
    res = ingest_file(con, cfg, "orders", path, pseudo)
    assert (res.rows_loaded, res.rows_quarantined) == (28, 2)


def test_killed_process_mid_load_leaves_warehouse_as_before(tmp_path, cfg, pseudo):
    wh = tmp_path / "wh.duckdb"
    con = connect(wh)
    ingest_file(con, cfg, "orders", write_csv(tmp_path / "a.csv", _orders(5)), pseudo)
    before = _state(con)
    con.close()
    path = write_csv(tmp_path / "b.csv", _orders(50, start=5, bad=(8,)))
    script = textwrap.dedent(f"""
        import os, signal
        from growthloop.core.config import default_config
        from growthloop.ingest import ingest_file
        from growthloop.ingest.privacy import Pseudonymiser
        from growthloop.warehouse import connect
        con = connect({str(wh)!r})
        def die(step):
            if step == "loaded":
                os.kill(os.getpid(), signal.SIGKILL)
        ingest_file(con, default_config(), "orders", {str(path)!r},
                    Pseudonymiser({KEY!r}.encode()), on_step=die)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    con = connect(wh)
    assert _state(con) == before
    con.close()


def test_load_is_recorded(tmp_path, con, cfg, pseudo):
    path = write_csv(tmp_path / "o.csv", _orders(6, bad=(0, 5)))
    ingest_file(con, cfg, "orders", path, pseudo)
    row = con.execute("SELECT table_name, file, rows_read, rows_loaded, rows_duplicate, "
                      "rows_quarantined, length(file_sha256) FROM loads").fetchone()
    assert row == ("orders", str(path), 6, 4, 0, 2, 64)


def test_no_raw_rows_stay_on_the_connection(tmp_path, con, cfg, pseudo):
    """The staging views hold the file's raw identifiers: a load drops them, also when it
    fails."""
    import duckdb

    good = write_csv(tmp_path / "o.csv", _orders(3))
    assert ingest_file(con, cfg, "orders", good, pseudo).rows_loaded == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("order_id,nonsense\n1,2\n")
    with pytest.raises(Exception):  # noqa: B017 - any failure: the views must go anyway
        ingest_file(con, cfg, "orders", bad, pseudo)
    for view in ("_gl_csv", "_gl_jsonl", "_gl_src"):
        with pytest.raises(duckdb.CatalogException):
            con.execute(f"SELECT * FROM {view}")
    assert con.execute("SELECT count(*) FROM orders WHERE user_id LIKE 'u%'").fetchone() == (0,)
