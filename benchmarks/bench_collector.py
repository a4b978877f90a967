"""Collector throughput: ``growthloop serve`` against a bare endpoint, measured by ``wrk``.

Starts the collector of a fresh project (every acknowledged event synced to its journal
before the answer) and then the bare endpoint (``bare_endpoint.py``: the same server
stack parsing the JSON and acknowledging without checking or storing: the ceiling), each
with ``--workers`` processes, and loads each with Debian's ``wrk`` on loopback: batches
of ``--batch`` Segment messages (64 different bodies in turn) over ``--connections``
connections for ``--seconds``. Prints events/s, p50 and p99 latency of both, the ratio,
and checks that the journal holds every acknowledged event.

    apt-get install wrk
    .venv/bin/python benchmarks/bench_collector.py
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from growthloop.core.config import DEFAULT_TOML
from growthloop.ingest.collector.keys import create_key

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bodies(n: int, size: int) -> list[str]:
    """``n`` batch bodies of ``size`` messages as Segment's libraries send them."""
    out = []
    for b in range(n):
        msgs = [{
            "type": "track", "messageId": f"b{b}-m{i}", "anonymousId": f"anon-{b}-{i % 17}",
            "userId": f"user-{(b * size + i) % 5000}" if i % 3 else None,
            "event": ("Product Viewed", "Product Added", "Checkout Started",
                      "Order Completed")[i % 4],
            "timestamp": f"2026-12-03T10:{i % 60:02d}:{b % 60:02d}.{i:03d}Z",
            "context": {"market": ("DE", "FR", "ID", "BR")[i % 4],
                        "device": {"type": ("app", "desktop")[i % 2]},
                        "library": {"name": "analytics-python", "version": "2.4.0"},
                        "campaign": {"name": "winter"}},
            "properties": {"product_id": f"sku-{i}", "price": 12.5 + i,
                           **({"revenue": 30.0 + i, "currency": "EUR"} if i % 4 == 3
                              else {})},
        } for i in range(size)]
        out.append(json.dumps({"batch": msgs, "sentAt": "2026-12-03T11:00:00.000Z"}))
    return out


def lua(path: Path, docs: list[str], key: str) -> None:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    items = ",\n".join(json.dumps(d) for d in docs)
    path.write_text(
        f"local bodies = {{\n{items}\n}}\nlocal i = 0\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Basic {auth}"\n'
        "request = function()\n  i = i % #bodies + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[i])\nend\n")


def wait_up(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server at {url} exited")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    sys.exit(f"the server at {url} did not start")


def run_wrk(script: Path, url: str, a: argparse.Namespace) -> dict[str, float]:
    """A warm-up of ``a.warmup`` seconds (not counted), then the measured run."""
    if a.warmup:
        subprocess.run(["wrk", "-t1", f"-c{a.connections}", f"-d{a.warmup}s", "-s",
                        str(script), url], capture_output=True, check=True)
    r = subprocess.run(["wrk", "-t1", f"-c{a.connections}", f"-d{a.seconds}s", "--latency",
                        "-s", str(script), url], capture_output=True, text=True, check=True)
    text = r.stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)\b", text)
        assert m, text
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    reqs = re.search(r"(\d+) requests in", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "p50": ms("50"), "p99": ms("99"), "requests": int(reqs.group(1)) if reqs else 0,
            "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1) if errors else ""}


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3,
                    help="seconds of load before each measured run (not counted)")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    env = {**os.environ, "GROWTHLOOP_PSEUDONYM_KEY": "benchmark-key-0123456789"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "growthloop.toml").write_text(DEFAULT_TOML)
        key, _ = create_key(root / ".growthloop" / "keys.json", "write")
        script = root / "batch.lua"
        lua(script, bodies(64, a.batch), key)

        port = free_port()
        ours = subprocess.Popen(
            [sys.executable, "-m", "growthloop", "serve", "--port", str(port), "--workers",
             str(a.workers), "--fold-every", "0"], cwd=root, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(f"http://127.0.0.1:{port}/health", ours)
        mine = run_wrk(script, f"http://127.0.0.1:{port}/v1/batch", a)
        stop(ours)
        journal = root / ".growthloop" / "collector" / "journal"
        stored = 0
        for p in journal.glob("journal-*"):
            for line in p.open("rb"):
                stored += len(json.loads(line)["b"]["batch"])

        port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "bare_endpoint:app",
             "--port", str(port), "--workers", str(a.workers), "--log-level", "warning",
             "--no-access-log"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_up(f"http://127.0.0.1:{port}/v1/batch", bare)
        ceiling = run_wrk(script, f"http://127.0.0.1:{port}/v1/batch", a)
        stop(bare)

    n = a.batch
    acked = (mine["requests"] - mine["non2xx"]) * n  # the measured run's; warm-up's on top
    print(f"wrk: {a.connections} connections, batches of {n}, {a.seconds} s each after "
          f"{a.warmup} s of warm-up, "
          f"{a.workers} server process(es), {os.cpu_count()} cores")
    print(f"{'':28}{'events/s':>12}{'p50 ms':>9}{'p99 ms':>9}")
    for name, r in (("growthloop (fsync'd)", mine), ("bare endpoint (ceiling)", ceiling)):
        print(f"{name:28}{r['rps'] * n:>12,.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}")
    print(f"growthloop / ceiling: {mine['rps'] / ceiling['rps']:.1%}")
    print(f"acknowledged {acked:,} events; the journal holds {stored:,}; "
          f"non-2xx answers: {mine['non2xx']}; socket errors: {mine['socket_errors'] or 0}")
    if stored < acked:
        sys.exit("an acknowledged event is missing from the journal")


if __name__ == "__main__":
    main()
