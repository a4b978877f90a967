"""Parquet ingest speed: growthloop's validated, pseudonymised, idempotent load of the
events table against DuckDB's own ``INSERT INTO ... SELECT * FROM read_parquet(...)``
of the same file, measured in one run.

    python benchmarks/bench_ingest.py --rows 10000000
    python benchmarks/bench_ingest.py --file shop/events.parquet   # e.g. simulator output
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb

from growthloop.core.config import default_config
from growthloop.core.schema import TABLES
from growthloop.ingest import ingest_file
from growthloop.ingest.privacy import pseudonymiser
from growthloop.warehouse import connect, create_table_sql


def make_events(path: Path, rows: int) -> None:
    """A synthetic events file with the canonical columns and realistic cardinalities."""
    con = duckdb.connect()
    con.execute(f"""
        COPY (
          SELECT 'e' || i::VARCHAR AS event_id,
                 'u' || (hash(i // 40) % 1000000)::VARCHAR AS user_id,
                 'a' || (hash(i // 40) % 1200000)::VARCHAR AS anonymous_id,
                 's' || (i // 8)::VARCHAR AS session_id,
                 TIMESTAMP '2025-01-01' + to_microseconds((i * 3153)::BIGINT) AS event_ts,
                 ['session_start','page_view','product_view','add_to_cart','checkout',
                  'purchase','content_view','live_interaction'][1 + i % 8] AS event_type,
                 ['ID','TH','SG','DE','FR','BR','MX','US'][1 + (i // 8) % 8] AS market,
                 ['live_commerce','social_ads','search_ads','short_video','referral',
                  'email_crm','organic'][1 + (i // 8) % 7] AS channel,
                 'c' || ((i // 8) % 20)::VARCHAR AS campaign,
                 ['app','mobile_web','desktop'][1 + (i // 8) % 3] AS device,
                 CASE WHEN i % 8 >= 2 THEN 'p' || (i % 5000)::VARCHAR END AS product_id,
                 CASE WHEN i % 8 = 5 THEN (i % 997) * 1.5 END AS value,
                 CASE WHEN i % 8 = 5 THEN 'USD' END AS currency,
                 NULL::VARCHAR AS properties
          FROM range({rows}) t(i)
        ) TO '{path}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)
    """)


def baseline(path: Path, db: Path) -> float:
    con = duckdb.connect(str(db))
    con.execute(create_table_sql(TABLES["events"]))
    t0 = time.perf_counter()
    con.execute(f"INSERT INTO events SELECT * FROM read_parquet('{path}')")
    con.execute("CHECKPOINT")
    dt = time.perf_counter() - t0
    con.close()
    return dt


def growthloop_load(path: Path, db: Path) -> tuple[float, dict[str, object]]:
    os.environ.setdefault("GROWTHLOOP_PSEUDONYM_KEY", "benchmark-key-0123456789")
    cfg = default_config()
    con = connect(db)
    t0 = time.perf_counter()
    res = ingest_file(con, cfg, "events", path, pseudonymiser(cfg))
    con.execute("CHECKPOINT")
    dt = time.perf_counter() - t0
    con.close()
    return dt, res.as_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--file", type=Path, help="an events Parquet file to load instead")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        path = args.file or d / "events.parquet"
        if args.file is None:
            t0 = time.perf_counter()
            make_events(path, args.rows)
            print(f"made {args.rows:,} events in {time.perf_counter() - t0:.1f} s")
        t_base = baseline(path, d / "base.duckdb")
        t_ours, res = growthloop_load(path, d / "ours.duckdb")
        t_again, res2 = growthloop_load(path, d / "ours.duckdb")
        n = res["rows_read"]
        print(f"rows                          {n:>12,}")
        print(f"DuckDB INSERT ... read_parquet {t_base:>8.2f} s  {n / t_base:>12,.0f} rows/s")
        print(f"growthloop ingest (validated)  {t_ours:>8.2f} s  {n / t_ours:>12,.0f} rows/s"
              f"  loaded {res['rows_loaded']:,}, quarantined {res['rows_quarantined']:,}")
        print(f"growthloop re-load (no-op)     {t_again:>8.2f} s  added {res2['rows_loaded']:,}")
        print(f"ratio growthloop / DuckDB      {t_ours / t_base:>8.2f}x  (required <= 2x)")


if __name__ == "__main__":
    main()
