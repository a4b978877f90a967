"""The collector's durable journal: append-only files with group commit.

A request's accepted messages are appended as JSON lines and acknowledged only after
the bytes are on disk (``os.fdatasync``): one writer thread takes every request waiting
at that moment, writes them in one ``write`` and syncs once (group commit, as databases
do for their write-ahead logs), so a sync's cost is shared by all the requests it
carries. An open file is ``journal-<pid>-<time>-<n>.open`` (each server process writes
its own); it is sealed (renamed ``.sealed``, the
directory synced) when it grows past ``max_bytes`` or is older than ``seal_seconds``,
and sealed files are what ``growthloop.ingest.collector.fold`` loads into the warehouse.

After a crash (``kill -9``), ``Journal`` seals what was left open. A last line cut short
by the crash was never acknowledged (its sync had not returned): it is dropped, and the
count is reported. The journal never opens the warehouse, so analysts' commands run
while the collector does.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

__all__ = ["Journal", "OverloadedError", "sealed_files"]


class OverloadedError(Exception):
    """More bytes are waiting for the disk than the journal accepts: try again later."""


def sealed_files(directory: Path) -> list[Path]:
    """The sealed journal files, oldest first (by the time they were sealed)."""
    return sorted(directory.glob("journal-*.sealed"), key=lambda p: (p.stat().st_mtime, p.name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Append JSON lines durably; ``submit(data)`` returns a future done once synced."""

    def __init__(self, directory: Path, *, max_bytes: int = 64 << 20,
                 seal_seconds: float = 5.0, max_pending: int = 64 << 20,
                 sync: Callable[[int], None] = os.fdatasync,
                 on_synced: Callable[[list[Any], BaseException | None], None] | None = None
                 ) -> None:
        """``on_synced(tokens, error)``, when given, is called from the writer thread
        once per group commit with the ``token`` of every ``submit`` it carried (an
        event loop resolves them all in one call), instead of setting futures."""
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.seal_seconds, self.max_pending = max_bytes, seal_seconds, max_pending
        self._sync = sync
        self._on_synced = on_synced
        self._pid = os.getpid()
        self.recovered_lines_dropped = self._recover()
        self._seq = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened = 0.0
        self._pending: list[tuple[bytes, Any]] = []
        self._pending_bytes = 0
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    # -- recovery ---------------------------------------------------------------------
    def _recover(self) -> int:
        """Seal files left open by a writer that is gone (a crash), without an unfinished
        last line. Files of live writers (other workers) are theirs."""
        dropped = 0
        for p in sorted(self.dir.glob("journal-*.open")):
            try:
                pid = int(p.stem.split("-")[1])
            except (IndexError, ValueError):
                pid = 0
            if pid != self._pid and pid > 0 and _alive(pid):
                continue
            data = p.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                dropped += 1
                with p.open("r+b") as f:
                    f.truncate(keep)
                    f.flush()
                    os.fsync(f.fileno())
            if keep == 0:
                p.unlink()
            else:
                p.rename(p.with_suffix(".sealed"))
        if dropped:
            _sync_dir(self.dir)
        return dropped

    # -- the writer -------------------------------------------------------------------
    def submit(self, data: bytes, token: Any = None) -> Any:
        """Queue ``data`` (whole lines). Returns a future whose result is set once the
        data is synced, or, with ``on_synced``, ``token``, handed to it then. Raises
        ``OverloadedError`` when too much is already waiting."""
        fut: Any = Future() if self._on_synced is None else token
        with self._cv:
            if self._closed:
                raise RuntimeError("the journal is closed")
            if self._pending_bytes + len(data) > self.max_pending:
                raise OverloadedError(f"{self._pending_bytes} bytes are waiting for the disk")
            self._pending.append((data, fut))
            self._pending_bytes += len(data)
            self._cv.notify()
        return fut

    def _open(self) -> None:
        self._seq += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self._path = self.dir / f"journal-{self._pid}-{stamp}-{self._seq:06d}.open"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _sync_dir(self.dir)
        self._size, self._opened = 0, time.monotonic()

    def _seal(self) -> None:
        if self._fd is None or self._path is None:
            return
        os.close(self._fd)
        self._fd = None
        if self._size:
            self._path.rename(self._path.with_suffix(".sealed"))
        else:
            self._path.unlink()
        _sync_dir(self.dir)
        self._path = None

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    timeout = None
                    if self._fd is not None:
                        timeout = max(0.0, self._opened + self.seal_seconds - time.monotonic())
                    if not self._cv.wait(timeout) and not self._pending:
                        break  # timed out: seal the idle file below
                batch, self._pending, self._pending_bytes = self._pending, [], 0
                closing = self._closed
            try:
                if batch:
                    if self._fd is None:
                        self._open()
                    data = b"".join(d for d, _ in batch)
                    view = memoryview(data)
                    while view:
                        n = os.write(self._fd, view)  # type: ignore[arg-type]
                        view = view[n:]
                    self._sync(self._fd)  # type: ignore[arg-type]
                    self._size += len(data)
                    if self._on_synced is not None:
                        self._on_synced([t for _, t in batch], None)
                    else:
                        for _, f in batch:
                            f.set_result(len(data))
                if self._fd is not None and (
                        self._size >= self.max_bytes
                        or time.monotonic() - self._opened >= self.seal_seconds or closing):
                    self._seal()
            except BaseException as e:  # the disk failed: nothing in this batch is acknowledged
                if self._on_synced is not None:
                    self._on_synced([t for _, t in batch], e)
                else:
                    for _, f in batch:
                        if not f.done():
                            f.set_exception(e)
            if closing:
                with self._cv:
                    if not self._pending:
                        return

    def close(self) -> None:
        """Write what is waiting, seal the open file and stop the writer."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join()
        self._seal()
