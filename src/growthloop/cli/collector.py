"""Collector commands: ``serve``, ``fold`` and ``keys create`` / ``keys list``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from growthloop.cli.app import ConfigOpt, JsonOpt, app, command, err, out, print_json
from growthloop.core.config import load_config
from growthloop.core.errors import InputError
from growthloop.ingest.collector.fold import fold_journal, journal_dir
from growthloop.ingest.collector.keys import KeyRing, create_key
from growthloop.warehouse import Warehouse

__all__ = ["fold", "keys_app", "keys_create", "keys_list", "serve"]

keys_app = typer.Typer(name="keys", help="API keys of the collector and the dashboard.",
                       no_args_is_help=True,
                       epilog="Example: growthloop keys create --write --market DE")
app.add_typer(keys_app, name="keys")


def _state_dir(config: Path) -> tuple[Path, Path]:
    """The project's warehouse file and the directory of the collector's state."""
    cfg = load_config(config)
    wh = cfg.warehouse_path(config.resolve().parent)
    return wh, wh.parent


@command("create", group=keys_app)
def keys_create(
    write: Annotated[bool, typer.Option("--write", help="A key that sends events.")] = False,
    read: Annotated[bool, typer.Option("--read", help="A token that reads.")] = False,
    market: Annotated[str | None, typer.Option(
        help="Storefront market of a write key's events when a message names none.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
) -> None:
    """Create a key, print it once; only its hash is kept."""
    if write == read:
        raise InputError("pass exactly one of --write and --read")
    cfg = load_config(config)
    _, state = _state_dir(config)
    key, entry = create_key(state / "keys.json", "write" if write else "read", market,
                            cfg.market_codes)
    err.print(f"{entry.kind} key {entry.key_id} created; it is shown once, keep it now:")
    out.print(key, highlight=False)


@command("list", group=keys_app)
def keys_list(config: ConfigOpt = Path("growthloop.toml"), json_out: JsonOpt = False) -> None:
    """The keys (id, kind, market, created), never the keys themselves."""
    _, state = _state_dir(config)
    rows = [{"key_id": k.key_id, "kind": k.kind, "market": k.market,
             "created_at": k.created_at} for k in KeyRing(state / "keys.json").entries()]
    if json_out:
        print_json(rows)
        return
    for r in rows:
        out.print(f"{r['key_id']}  {r['kind']:5}  {r['market'] or '-':4}  {r['created_at']}",
                  highlight=False)


@command(epilog="Example: growthloop fold")
def fold(config: ConfigOpt = Path("growthloop.toml"), json_out: JsonOpt = False) -> None:
    """Load the collector's sealed journal into the warehouse (as `ingest` would)."""
    wh_path, _ = _state_dir(config)
    with Warehouse.open(config) as wh:
        res = fold_journal(wh, journal_dir(wh_path))
    if json_out:
        print_json(res.as_dict())
        return
    out.print(f"{res.files} journal file(s): "
              f"{res.total('events', 'rows_loaded')} events and "
              f"{res.total('identities', 'rows_loaded')} identity links loaded, "
              f"{res.total('events', 'rows_duplicate')} duplicates, "
              f"{res.total('events', 'rows_quarantined')} quarantined", highlight=False)


def _folder(config: Path, every: float, stop: threading.Event) -> None:
    """Fold the journal every ``every`` seconds, each time in a process of its own: the
    warehouse is then written by a process that holds no other connection to it (the
    dashboard reads it read-only), and a busy warehouse waits for the next turn."""
    import subprocess
    import sys

    while not stop.wait(every):
        r = subprocess.run([sys.executable, "-m", "growthloop.ingest.collector.fold",
                            str(config)], capture_output=True, text=True)
        if r.returncode:
            lines = (r.stderr or "failed").strip().splitlines() or ["failed"]
            err.print(f"fold skipped: {lines[-1]}", highlight=False)


@command(epilog="Example: growthloop serve --port 8080")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64,
                                         help="Server processes sharing the port.")] = 1,
    fold_every: Annotated[float, typer.Option(
        help="Seconds between folds of the journal into the warehouse (0: never; "
             "`growthloop fold` does it by hand).")] = 60.0,
    seal_seconds: Annotated[float, typer.Option(
        min=0.05, help="Seconds after which a journal file is sealed, ready to fold.")] = 5.0,
    config: ConfigOpt = Path("growthloop.toml"),
) -> None:
    """The collector: Segment's HTTP tracking API, every acknowledged event on disk."""
    import os

    import uvicorn

    from growthloop.service import CONFIG_ENV, SEAL_ENV

    load_config(config)  # a bad project file fails here, not in a worker
    _, state = _state_dir(config)
    if not len(KeyRing(state / "keys.json")):
        err.print("no keys yet: create one with `growthloop keys create --write`",
                  highlight=False)
    os.environ[CONFIG_ENV] = str(config.resolve())
    os.environ[SEAL_ENV] = str(seal_seconds)
    stop = threading.Event()
    if fold_every > 0:
        threading.Thread(target=_folder, args=(config, fold_every, stop), daemon=True).start()
    err.print(f"collector listening on http://{host}:{port}", highlight=False)
    try:
        uvicorn.run("growthloop.service:app", factory=True, host=host,
                    port=port, workers=workers, log_level="warning", access_log=False)
    finally:
        stop.set()
