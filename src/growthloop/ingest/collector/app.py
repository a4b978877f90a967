"""The collector's HTTP API (FastAPI): Segment's tracking endpoints onto the journal.

``POST /v1/track``, ``/v1/page``, ``/v1/screen``, ``/v1/identify``, ``/v1/alias`` (one
message) and ``/v1/batch`` (``{"batch": [...]}``), authenticated by a write key as HTTP
basic auth (the key as user name, as Segment's libraries send it) or as ``writeKey`` in
the body. ``200 {"success": true}`` is sent only once every accepted message is synced
to the journal. A bad message gets a 400 that lists each refused message (index, field,
value, what was expected) and how many were accepted: the good messages of the same
batch are kept. Over Segment's size limits (``messages.LIMITS``) the call gets a 400
naming the limit; when the disk cannot keep up, a 503 with ``Retry-After``.
``GET /v1/status`` (a read token) reports the journal. Duplicate ``messageId``s are
stored once, when the journal is folded (the events' key).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from growthloop.core.config import Config
from growthloop.ingest.collector.journal import Journal, OverloadedError, sealed_files
from growthloop.ingest.collector.keys import ApiKey, KeyRing
from growthloop.ingest.collector.messages import (
    LIMITS,
    Batch,
    Message,
    MessageError,
    RawBatch,
    Rules,
    decode_error,
    decode_message,
    read_message,
    utc_time,
)

__all__ = ["create_app"]

_SINGLE = ("track", "page", "screen", "identify", "alias")
_BATCH = msgspec.json.Decoder(Batch)
_RAW_BATCH = msgspec.json.Decoder(RawBatch)
_MESSAGE = msgspec.json.Decoder(Message)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None
          ) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None,
           **extra: Any) -> Response:
    if status == 401:
        headers = {"WWW-Authenticate": 'Basic realm="growthloop"'}
    return _json(status, {"success": False, "error": message, **extra}, headers)


class _Collector:
    def __init__(self, cfg: Config, state_dir: Path, journal: Journal) -> None:
        self.rules = Rules.of(cfg)
        self.keys_path = state_dir / "keys.json"
        self.keyring = KeyRing(self.keys_path)
        self.journal = journal
        self._auth_cache: dict[str, ApiKey | None] = {}
        self.accepted = 0

    def key(self, header: str | None, body_key: Any) -> ApiKey | None:
        """The key of a request: basic auth (the key as user name), a bearer token, or
        the body's ``writeKey``; None when missing or unknown."""
        cache_key = header if header is not None else f"body:{body_key}"
        if cache_key in self._auth_cache:
            return self._auth_cache[cache_key]
        presented = _presented(header, body_key)
        if not presented:
            return None
        found = self.keyring.check(presented)
        if found is None:  # perhaps a key created after the server started
            self.keyring = KeyRing(self.keys_path)
            found = self.keyring.check(presented)
        if found is not None and len(self._auth_cache) < 10_000:
            self._auth_cache[cache_key] = found
        return found


def _presented(header: str | None, body_key: Any) -> str | None:
    if header is None:
        return body_key if isinstance(body_key, str) else None
    scheme, _, cred = header.partition(" ")
    if scheme.lower() == "bearer":
        return cred.strip()
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(cred, validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return None


async def _body(request: Request, limit: int, what: str) -> bytes | Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:  # refused before it is read
        return _error(400, f"the {what} is {declared} bytes; the limit is {limit} bytes "
                      f"({limit // 1024} KB, as Segment's)", limit=limit)
    raw = await request.body()
    if len(raw) > limit:
        return _error(400, f"the {what} is {len(raw)} bytes; the limit is {limit} bytes "
                      f"({limit // 1024} KB, as Segment's)", limit=limit)
    enc = request.headers.get("content-encoding", "").lower()
    if enc in ("gzip", "deflate"):
        try:
            d = zlib.decompressobj(wbits=31 if enc == "gzip" else 15)
            raw = d.decompress(raw, limit + 1)
        except (zlib.error, gzip.BadGzipFile):
            return _error(400, f"the body is not valid {enc} data")
        if len(raw) > limit or d.unconsumed_tail:
            return _error(400, f"the {what} is over {limit} bytes uncompressed; the limit is "
                          f"{limit} bytes ({limit // 1024} KB, as Segment's)", limit=limit)
    elif enc not in ("", "identity"):
        return _error(400, f"Content-Encoding {enc!r} is not supported; expected gzip")
    return raw


def create_app(cfg: Config, state_dir: Path, *, seal_seconds: float = 5.0) -> FastAPI:
    """The collector for a project whose state (keys, journal) lives in ``state_dir``;
    a journal file is sealed for folding at most ``seal_seconds`` after it opened."""
    state_dir = Path(state_dir)
    holder: dict[str, _Collector] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()

        def resolve(tokens: list[asyncio.Future], error: BaseException | None) -> None:
            for f in tokens:
                if not f.done():
                    f.set_exception(error) if error else f.set_result(None)

        def on_synced(tokens: list[asyncio.Future], error: BaseException | None) -> None:
            loop.call_soon_threadsafe(resolve, tokens, error)  # one wake-up per commit

        j = Journal(state_dir / "collector" / "journal", on_synced=on_synced,
                    seal_seconds=seal_seconds, max_bytes=256 << 20)
        holder["c"] = _Collector(cfg, state_dir, j)
        try:
            yield
        finally:
            j.close()

    app = FastAPI(title="growthloop collector", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)

    async def accept(request: Request, kind: str | None) -> Response:
        c = holder["c"]
        raw = await _body(request, LIMITS["batch"] if kind is None else LIMITS["call"],
                          "batch request" if kind is None else "call")
        if isinstance(raw, Response):
            return raw
        header = request.headers.get("authorization")
        if kind is None:
            try:
                doc: Any = _BATCH.decode(raw)
                msgs: list[Any] = doc.batch
                raws: list[Any] | None = None  # the messages' JSON (msgspec.Raw)
            except (msgspec.ValidationError, msgspec.DecodeError):
                try:  # find which messages are bad
                    doc = _RAW_BATCH.decode(raw)
                except (msgspec.ValidationError, msgspec.DecodeError) as e:
                    return _error(400, f"the body is not a batch: {e} (expected "
                                  '{"batch": [message, ...]})')
                raws = doc.batch
                msgs = list(raws)
            body_key, sent = doc.writeKey, doc.sentAt
        else:
            try:
                doc = _MESSAGE.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError) as e:
                if isinstance(e, msgspec.DecodeError) and not raw.lstrip().startswith(b"{"):
                    return _error(400, f"the body is not a JSON object: {e}")
                err = decode_error(e, 0, raw)
                return _json(400, {"success": False, "accepted": 0, "rejected": 1,
                                   "errors": [err.as_dict()]})
            msgs, raws, body_key, sent = [doc], None, doc.writeKey, None
        key = c.key(header, body_key)
        if key is None:
            return _error(401, "a write key is needed (HTTP basic auth, the key as user "
                          "name); this one is missing or unknown")
        if key.kind != "write":
            return _error(403, "this is a read token; sending events needs a write key")
        received = datetime.now(UTC).replace(tzinfo=None)
        try:
            batch_sent = utc_time(sent) if isinstance(sent, str) else None
        except ValueError:
            return _error(400, f"sentAt = {sent!r:.60}: expected an ISO-8601 time")
        if sent is not None and not isinstance(sent, str):
            return _error(400, f"sentAt = {sent!r:.60}: expected an ISO-8601 time")
        sizes: list[int] | None = None
        if kind is None and len(raw) > LIMITS["message"]:  # a message may be over its limit
            if raws is None:
                raws = _RAW_BATCH.decode(raw).batch
            sizes = [len(r) for r in raws]
        errors, good = [], 0
        bad_at: set[int] = set()
        for i, m in enumerate(msgs):
            try:
                if sizes is not None and sizes[i] > LIMITS["message"]:
                    raise MessageError(i, "message", f"{sizes[i]} bytes",
                                       f"at most {LIMITS['message']} bytes (32 KB)")
                if type(m) is not Message:
                    m = decode_message(bytes(m), i)
                read_message(m, i, received, batch_sent, c.rules, key.market, kind,
                             build=False)
                good += 1
            except MessageError as e:
                errors.append(e.as_dict())
                bad_at.add(i)
        if good:
            if kind is not None and body_key is not None:  # never store a key
                body = orjson.dumps({k: v for k, v in orjson.loads(raw).items()
                                     if k != "writeKey"})
            elif kind is None and (bad_at or body_key is not None):  # the good ones only
                if raws is None:
                    raws = _RAW_BATCH.decode(raw).batch
                body = b"".join((b'{"batch":[', b",".join(
                    bytes(r) for i, r in enumerate(raws) if i not in bad_at), b'],"sentAt":',
                    orjson.dumps(sent), b"}"))
            else:
                body = raw
            body = body.replace(b"\n", b" ")  # JSON whitespace only: one line per call
            line = b"".join((b'{"r":"', received.isoformat().encode(), b'","m":',
                             orjson.dumps(key.market), b',"c":', orjson.dumps(kind),
                             b',"b":', body, b"}\n"))
            try:
                fut = c.journal.submit(line, asyncio.get_running_loop().create_future())
            except OverloadedError:
                return _error(503, "the collector is overloaded; nothing of this call was "
                              "stored; retry later", {"Retry-After": "1"})
            try:
                await fut
            except OSError as e:
                return _error(503, f"the journal could not be written ({e.strerror}); "
                              "nothing of this call was stored", {"Retry-After": "5"})
            c.accepted += good
        if errors:
            return _json(400, {"success": False, "accepted": good,
                               "rejected": len(errors), "errors": errors[:100]})
        return _json(200, {"success": True})

    for name in _SINGLE:
        async def single(request: Request, _kind: str = name) -> Response:
            return await accept(request, _kind)
        app.add_route(f"/v1/{name}", single, methods=["POST"])

    async def batch(request: Request) -> Response:
        return await accept(request, None)

    # plain Starlette routes: the request as it came, no FastAPI parameter handling
    app.add_route("/v1/batch", batch, methods=["POST"])
    app.add_route("/v1/import", batch, methods=["POST"])

    async def status(request: Request) -> Response:
        c = holder["c"]
        key = c.key(request.headers.get("authorization"), None)
        if key is None:
            return _error(401, "a read token is needed (Authorization: Bearer <token>)")
        if key.kind != "read":
            return _error(403, "this is a write key; reading needs a read token")
        return _json(200, {"accepted": c.accepted,
                           "sealed_files": len(sealed_files(c.journal.dir)),
                           "recovered_lines_dropped": c.journal.recovered_lines_dropped})

    app.add_api_route("/v1/status", status, methods=["GET"])

    async def health() -> Response:
        return _json(200, {"ok": True})

    app.add_api_route("/health", health, methods=["GET"])
    return app
