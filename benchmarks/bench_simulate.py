"""Benchmark the simulator: rows and rows/second per table, total time and peak memory.

    python benchmarks/bench_simulate.py --users 1000000 --days 365 --seed 0
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from growthloop.simulate import TABLE_FILES, simulate


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (psutil when installed)."""
    try:
        import psutil

        info = psutil.Process().memory_info()
        peak = getattr(info, "peak_wset", None) or getattr(info, "peak_rss", None)
        if peak:
            return peak / 2**20
    except ImportError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 2**20 if sys.platform == "darwin" else kib / 2**10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    stages: dict[str, float] = {}
    t0 = time.perf_counter()

    def progress(stage: str, fraction: float) -> None:
        if fraction >= 1.0:
            stages[stage] = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="growthloop-bench-") as tmp:
        out = Path(tmp)
        simulate(out, n_users=args.users, days=args.days, seed=args.seed, progress=progress)
        total = time.perf_counter() - t0
        print(f"simulate: {args.users:,} users, {args.days} days, seed {args.seed}")
        print(f"{'table':<24}{'rows':>14}{'rows/s':>16}{'MiB':>10}")
        for name in TABLE_FILES:
            path = out / f"{name}.parquet"
            rows = pq.read_metadata(path).num_rows
            print(f"{name:<24}{rows:>14,}{rows / total:>16,.0f}"
                  f"{path.stat().st_size / 2**20:>10.1f}")
    print("stages (cumulative s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print(f"total time: {total:.1f} s")
    print(f"peak memory (RSS): {peak_rss_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
