"""The collector as a real server process: Segment's endpoints, errors, keys, limits,
Segment's own Python library, durability across ``kill -9``, analysts reading while it
runs, and the fold into the warehouse."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from conftest import KEY
from growthloop.core.config import DEFAULT_TOML
from growthloop.ingest.collector.fold import fold_journal, journal_dir
from growthloop.ingest.collector.journal import sealed_files
from growthloop.ingest.collector.keys import create_key
from growthloop.ingest.privacy import Pseudonymiser
from growthloop.warehouse import Warehouse

PSEUDO = Pseudonymiser(KEY.encode())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``growthloop serve`` in a subprocess of a project directory."""

    def __init__(self, root: Path, *, fold_every: float = 0) -> None:
        self.root, self.port, self.fold_every = root, _free_port(), fold_every
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        env = {**os.environ, "GROWTHLOOP_PSEUDONYM_KEY": KEY}
        self.log = self.root / f"serve-{self.port}.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "growthloop", "serve", "--port", str(self.port),
                 "--fold-every", str(self.fold_every), "--seal-seconds", "0.2"],
                cwd=self.root, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text())
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def _project(root: Path) -> tuple[Path, str, str]:
    (root / "growthloop.toml").write_text(DEFAULT_TOML)
    state = root / ".growthloop"
    write, _ = create_key(state / "keys.json", "write", "DE")
    read, _ = create_key(state / "keys.json", "read")
    return root, write, read


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    root, write, read = _project(tmp_path_factory.mktemp("collector"))
    server = Server(root).start()
    yield server, write, read
    server.stop()


def _fold(root: Path) -> dict:
    """Wait for the journal to be sealed, then fold it into the warehouse."""
    time.sleep(0.5)
    os.environ["GROWTHLOOP_PSEUDONYM_KEY"] = KEY
    with Warehouse.open(root / "growthloop.toml") as wh:
        return fold_journal(wh, journal_dir(wh.path)).as_dict()


def _events(root: Path, where: str = "true") -> list[tuple]:
    with Warehouse.open(root / "growthloop.toml", read_only=True) as wh:
        return wh.con.execute(
            "SELECT event_id, user_id, anonymous_id, event_type, market, device, value, "
            f"currency, event_ts, session_id FROM events WHERE {where} ORDER BY event_id"
        ).fetchall()


def _post(server: Server, path: str, body: dict, key: str | None) -> requests.Response:
    return requests.post(server.url + path, json=body, auth=(key, "") if key else None,
                         timeout=10)


def _track(mid: str, **kw: object) -> dict:
    return {"type": "track", "messageId": mid, "anonymousId": "device-1",
            "event": "Product Viewed", **kw}


def test_endpoints_store_each_call_once_with_the_clock_corrected(served) -> None:
    server, write, _ = served
    now = datetime.now(UTC).replace(tzinfo=None)
    # the client's clock is an hour behind: it stamped the event 10 s before sending
    sent = now - timedelta(hours=1)
    stamped = sent - timedelta(seconds=10)
    iso = lambda t: t.isoformat(timespec="milliseconds") + "Z"  # noqa: E731
    for path, body in [
        ("/v1/track", {"messageId": "e-track", "userId": "alice", "event": "Order Completed",
                       "timestamp": iso(stamped), "sentAt": iso(sent),
                       "context": {"market": "ID", "device": {"type": "app"}},
                       "properties": {"revenue": 120000, "currency": "IDR",
                                      "product_id": "sku-9"}}),
        ("/v1/page", {"messageId": "e-page", "anonymousId": "device-1", "name": "Home"}),
        ("/v1/screen", {"messageId": "e-screen", "anonymousId": "device-1"}),
        ("/v1/identify", {"messageId": "e-identify", "userId": "alice",
                          "anonymousId": "device-1", "traits": {"email": "a@example.com"}}),
        ("/v1/alias", {"messageId": "e-alias", "previousId": "device-0", "userId": "alice"}),
        ("/v1/batch", {"batch": [_track("e-b1"), _track("e-b2", event="add_to_cart")]}),
    ]:
        r = _post(server, path, body, write)
        assert (r.status_code, r.json()) == (200, {"success": True}), path
    res = _fold(server.root)
    assert res["events"]["rows_loaded"] == 5 and res["identities"]["rows_loaded"] == 2
    rows = {r[0]: r for r in _events(server.root, "event_id LIKE 'e-%'")}
    assert sorted(rows) == ["e-b1", "e-b2", "e-page", "e-screen", "e-track"]
    t = rows["e-track"]
    assert t[1] == PSEUDO("alice") and t[2] is None  # pseudonymised, never raw
    assert t[3:8] == ("purchase", "ID", "app", 120000.0, "IDR")
    # event time = receipt - (sentAt - timestamp): 10 s before the server got it
    assert abs((t[8] - (now - timedelta(seconds=10))).total_seconds()) < 5
    assert rows["e-page"][3:5] == ("page_view", "DE")  # the write key's market
    assert rows["e-b2"][3] == "add_to_cart"
    assert rows["e-b1"][9] == rows["e-b2"][9] != "None"  # one 30-minute session
    assert "device-1" not in rows["e-b1"][9]
    with Warehouse.open(server.root / "growthloop.toml", read_only=True) as wh:
        links = wh.con.execute("SELECT user_id, anonymous_id, source FROM identities "
                               "ORDER BY source").fetchall()
    assert links == [(PSEUDO("alice"), PSEUDO("device-0"), "alias"),
                     (PSEUDO("alice"), PSEUDO("device-1"), "identify")]


def test_a_bad_message_is_refused_by_index_and_field_and_the_rest_kept(served) -> None:
    server, write, _ = served
    r = _post(server, "/v1/batch", {"batch": [
        _track("bad-0"),
        _track("bad-1", event="Rocket Launched"),
        _track("bad-2", context={"market": "XX"}),
        _track("bad-3", properties={"revenue": -5, "currency": "EUR"}),
        _track("bad-4", properties={"revenue": "12"}),
        {"type": "track", "messageId": "bad-5", "event": "share"},  # nobody
        _track("bad-6", timestamp="yesterday"),
        _track("bad-7"),
    ]}, write)
    assert r.status_code == 400
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 6)
    got = [(e["index"], e["field"], e["value"]) for e in body["errors"]]
    assert got == [(1, "event", "Rocket Launched"), (2, "context.market", "XX"),
                   (3, "properties.revenue", -5), (4, "properties.revenue", "12"),
                   (5, "userId", None), (6, "timestamp", "yesterday")]
    assert "configured market" in body["errors"][1]["expected"]
    _fold(server.root)
    assert [r[0] for r in _events(server.root, "event_id LIKE 'bad-%'")] == ["bad-0", "bad-7"]


def test_a_message_id_sent_twice_is_stored_once(served) -> None:
    server, write, _ = served
    for _ in range(2):
        assert _post(server, "/v1/track", _track("dup-1"), write).status_code == 200
    assert _post(server, "/v1/batch", {"batch": [_track("dup-1"), _track("dup-1")]},
                 write).status_code == 200
    res = _fold(server.root)
    assert res["events"]["rows_loaded"] == 1 and res["events"]["rows_duplicate"] == 3
    assert len(_events(server.root, "event_id = 'dup-1'")) == 1


def test_keys_write_sends_read_reads_and_nothing_else(served) -> None:
    server, write, read = served
    msg = _track("auth-1")
    assert _post(server, "/v1/track", msg, None).status_code == 401
    assert _post(server, "/v1/track", msg, "glw_" + "0" * 32).status_code == 401
    r = requests.post(server.url + "/v1/track", json=msg, timeout=5,
                      headers={"Authorization": "Basic !!not-base64"})
    assert r.status_code == 401
    assert _post(server, "/v1/track", msg, read).status_code == 403  # a read token
    assert _post(server, "/v1/track", {**msg, "writeKey": write}, None).status_code == 200
    st = requests.get(server.url + "/v1/status", timeout=5, auth=(write, ""))
    assert st.status_code == 403 and "read token" in st.json()["error"]
    st = requests.get(server.url + "/v1/status", timeout=5,
                      headers={"Authorization": f"Bearer {read}"})
    assert st.status_code == 200 and st.json()["accepted"] >= 1
    assert requests.get(server.url + "/v1/status", timeout=5).status_code == 401
    # the key sent in the body is not kept in the journal
    _fold(server.root)
    for p in journal_dir(server.root / ".growthloop" / "w").glob("*"):
        assert write not in p.read_text()


def test_segment_limits_are_answered_with_400_naming_the_limit(served) -> None:
    server, write, _ = served
    big = _track("lim-1", properties={"blob": "x" * 33_000})
    r = _post(server, "/v1/track", big, write)
    assert r.status_code == 400 and r.json()["limit"] == 32 * 1024
    r = _post(server, "/v1/batch", {"batch": [big, _track("lim-2")]}, write)
    assert r.status_code == 400
    assert r.json()["accepted"] == 1 and r.json()["errors"][0]["field"] == "message"
    many = {"batch": [_track(f"lim-{i}", properties={"b": "y" * 30_000}) for i in range(18)]}
    r = _post(server, "/v1/batch", many, write)
    assert r.status_code == 400 and r.json()["limit"] == 500 * 1024
    r = requests.post(server.url + "/v1/batch", data=b"{not json", auth=(write, ""),
                      timeout=5)
    assert r.status_code == 400 and "not a batch" in r.json()["error"]


def test_segment_python_library_lands_each_event_exactly_once(served) -> None:
    from segment.analytics import Client

    server, write, _ = served
    errors: list = []
    client = Client(write, host=server.url, sync_mode=True, gzip=True,
                    on_error=lambda e, batch: errors.append(e))
    client.identify("bob", {"plan": "gold"}, anonymous_id="bob-phone")
    for i in range(5):
        client.track("bob", "Product Added", {"product_id": f"sku-{i}"},
                     context={"market": "BR"}, message_id=f"sdk-{i}")
    client.page(anonymous_id="bob-phone", name="Checkout", message_id="sdk-page")
    client.flush()
    assert errors == []
    res = _fold(server.root)
    assert res["identities"]["rows_loaded"] == 1
    rows = _events(server.root, "event_id LIKE 'sdk-%'")
    assert [(r[0], r[3], r[4]) for r in rows] == [
        *[(f"sdk-{i}", "add_to_cart", "BR") for i in range(5)],
        ("sdk-page", "page_view", "DE")]
    assert {r[1] for r in rows[:5]} == {PSEUDO("bob")}


def test_every_acknowledged_event_survives_kill_9(tmp_path: Path) -> None:
    root, write, _ = _project(tmp_path)
    server = Server(root).start()
    acked: list[str] = []
    stop = threading.Event()

    def send(worker: int) -> None:
        n = 0
        while not stop.is_set():
            ids = [f"k{worker}-{n}-{j}" for j in range(50)]
            n += 1
            try:
                r = _post(server, "/v1/batch", {"batch": [_track(i) for i in ids]}, write)
            except requests.RequestException:
                return  # the server is gone: this batch was never acknowledged
            if r.status_code == 200:
                acked.extend(ids)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.kill()  # while batches are in flight
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 500
    server = Server(root).start()  # recovers what the killed one left open
    assert _post(server, "/v1/track", _track("after-restart"), write).status_code == 200
    server.stop()
    _fold(root)
    with Warehouse.open(root / "growthloop.toml", read_only=True) as wh:
        stored = wh.con.execute("SELECT event_id, count(*) FROM events "
                                "GROUP BY event_id").fetchall()
    counts = dict(stored)
    assert all(counts.get(i) == 1 for i in acked)
    assert counts["after-restart"] == 1
    assert max(counts.values()) == 1
    assert sealed_files(journal_dir(root / ".growthloop" / "w")) == []


def test_analysts_read_the_warehouse_while_events_stream_in(tmp_path: Path) -> None:
    root, write, _ = _project(tmp_path)
    server = Server(root, fold_every=0.3).start()
    stop = threading.Event()
    sent = [0]

    def stream() -> None:
        while not stop.is_set():
            batch = [_track(f"s-{sent[0]}-{j}", event="session_start") for j in range(20)]
            if _post(server, "/v1/batch", {"batch": batch}, write).status_code == 200:
                sent[0] += 1

    t = threading.Thread(target=stream)
    t.start()
    try:
        time.sleep(1.5)
        env = {**os.environ, "GROWTHLOOP_PSEUDONYM_KEY": KEY}
        for _ in range(3):
            r = subprocess.run([sys.executable, "-m", "growthloop", "kpi", "active_users",
                                "--grain", "all", "--json"], cwd=root, env=env,
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
    finally:
        stop.set()
        t.join()
        server.stop()
    assert sent[0] > 5
    _fold(root)
    assert len(_events(root, "event_id LIKE 's-%'")) == sent[0] * 20


def test_two_devices_of_one_person_are_one_profile_and_erased_together(served) -> None:
    from growthloop.ingest.privacy import erase
    from growthloop.metrics.funnels import funnel
    from growthloop.metrics.profiles import profiles

    server, write, _ = served
    phone = {"device": {"type": "app"}, "market": "MX"}
    laptop = {"device": {"type": "desktop"}, "market": "BR"}
    batch = [
        {**_track("id-1", anonymousId="cara-phone", event="Product Viewed"),
         "context": phone},
        {**_track("id-2", anonymousId="cara-laptop", event="Product Added"),
         "context": laptop},
        {**_track("id-3", anonymousId="cara-laptop", event="Checkout Started"),
         "context": laptop},
        {"type": "identify", "messageId": "id-4", "userId": "cara",
         "anonymousId": "cara-phone"},
        {"type": "identify", "messageId": "id-5", "userId": "cara",
         "anonymousId": "cara-laptop"},
        {**_track("id-6", anonymousId="other-phone", event="Product Viewed"),
         "context": phone},
    ]
    assert _post(server, "/v1/batch", {"batch": batch}, write).status_code == 200
    _fold(server.root)
    with Warehouse.open(server.root / "growthloop.toml") as wh:
        p = profiles(wh.backend).execute().set_index("person_id")
        cara = p.loc[PSEUDO("cara")]
        assert (cara.events, cara.anonymous_ids, bool(cara.known)) == (3, 2, True)
        assert list(cara.devices) == ["app", "desktop"] and list(cara.markets) == ["BR", "MX"]
        assert PSEUDO("cara-phone") not in p.index and PSEUDO("other-phone") in p.index
        # the journey crosses devices: viewed on the phone, carted and checked out on the
        # laptop, one person through the three steps
        steps = ["product_view", "add_to_cart", "checkout"]
        f = funnel(wh.backend, wh.cfg, steps, within="days").execute()
        assert f.units.tolist()[2] == 1  # only cara checks out, on a device never logged in
        report = erase(wh.con, "cara", PSEUDO)
        assert report.removed["events"] == 3 and report.removed["identities"] == 2
        left = wh.con.execute("SELECT count(*) FROM events WHERE event_id LIKE 'id-%'"
                              ).fetchone()
        assert left == (1,)
        assert funnel(wh.backend, wh.cfg, steps, within="days").execute().units.tolist()[2] == 0


def test_journal_refuses_when_the_disk_falls_behind_and_recovers_a_torn_tail(
        tmp_path: Path) -> None:
    from growthloop.ingest.collector.journal import Journal, OverloadedError

    gate = threading.Event()
    j = Journal(tmp_path / "j", max_pending=100, sync=lambda fd: gate.wait(10))
    first = j.submit(b"a" * 59 + b"\n")
    deadline = time.monotonic() + 5
    while j._pending_bytes and time.monotonic() < deadline:  # the writer took it
        time.sleep(0.01)
    second = j.submit(b"b" * 59 + b"\n")  # waits behind the slow sync
    with pytest.raises(OverloadedError):
        j.submit(b"c" * 59 + b"\n")
    assert not first.done()  # not acknowledged before its sync returns
    gate.set()
    assert first.result(5) and second.result(5)
    j.close()
    (sealed,) = sealed_files(tmp_path / "j")
    assert sealed.read_bytes() == b"a" * 59 + b"\n" + b"b" * 59 + b"\n"
    # a writer killed mid-line (its pid is gone): the torn line was never acknowledged
    torn = tmp_path / "j" / "journal-999999999-20260101T000000-000001.open"
    torn.write_bytes(b'{"ok": 1}\n{"half')
    j2 = Journal(tmp_path / "j")
    j2.close()
    assert j2.recovered_lines_dropped == 1
    assert torn.with_suffix(".sealed").read_bytes() == b'{"ok": 1}\n'
