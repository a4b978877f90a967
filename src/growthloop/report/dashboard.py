"""The dashboard: the cockpit's pages (``growthloop.report.pages``) served by
``growthloop serve`` next to the collector.

- ``GET /dashboard``: redirects to the overview (keeping the query);
- ``GET /dashboard/{page}?from=&to=&market=&channel=``: a page (``PAGES``), the shared
  view; a bad filter is a 400 page naming the parameter, an unknown page a 404;
- ``GET /dashboard/plotly.js``: the plotly.js the pages load (no CDN), cached for a year
  (its URL carries the version).

Reading needs a read token (``growthloop keys create --read``), checked against
``keys.json`` next to the warehouse (``KeyRing``, re-read on every request, so a new key
works at once): ``Authorization: Bearer <token>``; or ``?token=<token>``, which stores it
in an HttpOnly, SameSite=Strict cookie and redirects to the same URL without it (so the
token leaves the address bar and the history); then that cookie. No token or an unknown
one: 401; a write key: 403. Each page opens the warehouse read-only for the request (it
waits while the collector's fold writes, in another process or in this one) and closes
it; pages are built one at a time (a lock): each already uses the engine's threads, and
the warnings a page shows are collected process-wide.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from pathlib import Path

import duckdb
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from growthloop.core.config import Config, load_config
from growthloop.core.errors import ConfigError, InputError, WarehouseError
from growthloop.ingest.collector.keys import ApiKey, KeyRing
from growthloop.report.html import (
    content_security_policy,
    dashboard_page,
    message_page,
    new_nonce,
)
from growthloop.report.pages import PAGES, Filters
from growthloop.warehouse import Warehouse
from growthloop.warehouse.connection import LOCK_WAIT_SECONDS

__all__ = ["BASE", "COOKIE", "dashboard_router"]

#: Where the dashboard lives in the service.
BASE = "/dashboard"
#: The cookie holding the read token after a ``?token=`` visit.
COOKIE = "growthloop_token"
_YEAR = 365 * 24 * 3600


@lru_cache(maxsize=1)
def _plotly() -> tuple[bytes, str]:
    """The bundled plotly.js and its version (read once)."""
    import plotly
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8"), plotly.__version__


def _headers(nonce: str | None = None) -> dict[str, str]:
    """What every dashboard answer carries: its policy, no sniffing, no referrer, no
    caching of data pages."""
    return {"Content-Security-Policy": content_security_policy(nonce or new_nonce()),
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def _page(status: int, title: str, message: str) -> HTMLResponse:
    return HTMLResponse(message_page(title, message), status_code=status, headers=_headers())


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _refuse(key: ApiKey | None) -> HTMLResponse | None:
    """The 401 or 403 page for a presented key that may not read, else None."""
    if key is None:
        return _page(401, "401 · a read token is needed",
                     "This dashboard needs a read token: open it with ?token=<token> or send "
                     "Authorization: Bearer <token> (growthloop keys create --read makes one).")
    if key.kind != "read":
        return _page(403, "403 · a write key cannot read",
                     "This is a write key, for sending events; reading the dashboard needs a "
                     "read token (growthloop keys create --read).")
    return None


def _open(cfg: Config, root: Path) -> Warehouse:
    """The warehouse, read-only. While this process's own fold holds it read-write, DuckDB
    refuses a second configuration; that is waited out like another process's lock."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.05
    while True:
        try:
            return Warehouse.open(cfg, read_only=True, root=root)
        except duckdb.ConnectionException as e:
            if "different configuration" not in str(e) or time.monotonic() + delay > deadline:
                raise WarehouseError(f"the warehouse is busy: {e}") from None
            time.sleep(delay)
            delay = min(2 * delay, 0.5)


def dashboard_router(config: Path) -> APIRouter:
    """The dashboard's routes for the project file ``config``."""
    config = Path(config)
    keys = load_config(config).warehouse_path(config.resolve().parent).parent / "keys.json"
    lock = threading.Lock()
    router = APIRouter()

    def check(token: str | None) -> ApiKey | None:
        return KeyRing(keys).check(token) if token else None

    @router.get(BASE, include_in_schema=False)
    def home(request: Request) -> Response:
        query = request.url.query
        return RedirectResponse(f"{BASE}/overview" + (f"?{query}" if query else ""), 303,
                                headers=_headers())

    @router.get(f"{BASE}/plotly.js", include_in_schema=False)
    def plotly_js() -> Response:
        body, _ = _plotly()
        return Response(body, media_type="application/javascript", headers={
            "Cache-Control": f"public, max-age={_YEAR}, immutable",
            "X-Content-Type-Options": "nosniff"})

    @router.get(BASE + "/{page}", include_in_schema=False)
    def page(request: Request, page: str) -> Response:
        query_token = request.query_params.get("token")
        if query_token is not None:  # store it in a cookie, then the URL without it
            refused = _refuse(check(query_token))
            if refused is not None:
                return refused
            url = request.url.remove_query_params("token")
            target = url.path + (f"?{url.query}" if url.query else "")
            response = RedirectResponse(target, 303, headers=_headers())
            response.set_cookie(COOKIE, query_token, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https", path=BASE)
            return response
        refused = _refuse(check(_bearer(request) or request.cookies.get(COOKIE)))
        if refused is not None:
            return refused
        if page not in PAGES:
            return _page(404, "404 · no such page",
                         f"There is no dashboard page {page!r}; the pages are: "
                         f"{', '.join(PAGES)}.")
        try:
            cfg = load_config(config)
            filters = Filters.parse(cfg, request.query_params)  # before any query runs
            with lock, _open(cfg, config.resolve().parent) as wh:
                blocks = PAGES[page][1](wh, filters)
        except InputError as e:
            return _page(400, "400 · bad request", str(e))
        except (ConfigError, WarehouseError) as e:
            return _page(503, "503 · the project cannot be read", str(e))
        nonce = new_nonce()
        _, version = _plotly()
        text = dashboard_page(cfg, page, filters, blocks, base=BASE, nonce=nonce,
                              plotly_src=f"{BASE}/plotly.js?v={version}")
        return HTMLResponse(text, headers=_headers(nonce))

    return router
