"""The dashboard in a real browser: ``growthloop serve`` in a subprocess, the system's
Chromium driven by Playwright. Every page renders its charts without a console error (a
screenshot of each goes to docs/screenshots/), a write key is refused, and the one-file
report makes no request beyond the file itself.

Skipped, with the reason, where Chromium (``/usr/bin/chromium``) or Playwright's Python
package is missing, unless ``GROWTHLOOP_REQUIRE_BROWSER=1`` (CI): then that fails.
Playwright never downloads a browser here: it is given the system's executable.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import KEY
from growthloop.core.config import load_config
from growthloop.ingest.collector.keys import create_key
from growthloop.report.html import write_report
from growthloop.report.pages import PAGES
from growthloop.warehouse import Warehouse
from test_report_html import build_shop

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE = "GROWTHLOOP_REQUIRE_BROWSER"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
#: A page computes its models on each request: allow it time on a loaded machine.
PAGE_TIMEOUT_MS = 180_000
#: Schemes a self-contained file may load from.
LOCAL = ("file:", "data:", "about:")


def _browser_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is missing (pip install 'playwright>=1.45,<2')"
    return None


@pytest.fixture(scope="module", autouse=True)
def _need_browser() -> None:
    why = _browser_missing()
    if why:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"the browser test is required ({REQUIRE}=1) but {why}")
        pytest.skip(f"browser test skipped: {why}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``growthloop serve`` in a subprocess of a project directory."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = root / f"serve-{self.port}.log"

    def start(self) -> Server:
        env = {**os.environ, "GROWTHLOOP_PSEUDONYM_KEY": KEY}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "growthloop", "serve", "--port", str(self.port),
                 "--fold-every", "0"], cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text())
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not start: " + self.log.read_text())

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """A simulated shop served by ``growthloop serve``, a read and a write key, and the
    shop's report file."""
    root = tmp_path_factory.mktemp("cockpit")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GROWTHLOOP_PSEUDONYM_KEY", KEY)
        config, _ = build_shop(root)
    state = load_config(config).warehouse_path(root).parent
    read, _ = create_key(state / "keys.json", "read")
    write, _ = create_key(state / "keys.json", "write", "DE")
    with Warehouse.open(config, read_only=True) as wh:
        report = write_report(wh, root / "report.html")
    server = Server(root).start()
    try:
        yield server, read, write, report
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield b
        finally:
            b.close()


class Watched:
    """A page whose console errors, page errors and requests are recorded."""

    def __init__(self, context) -> None:
        self.page = context.new_page()
        self.page.set_default_timeout(PAGE_TIMEOUT_MS)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def charts_drawn(self) -> int:
        """Wait until every chart on the page has drawn its SVG; how many there are."""
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('div.chart')].every("
            "d => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg'))",
            timeout=PAGE_TIMEOUT_MS)
        charts = self.page.locator("div.chart").count()
        assert self.page.locator(".js-plotly-plot svg.main-svg").count() >= charts
        return charts


def test_every_page_renders_its_charts(served, browser) -> None:
    server, read, _, _ = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        w = Watched(context)
        got = w.page.goto(f"{server.url}/dashboard/overview?token={read}")
        assert got is not None and got.status == 200
        assert "token=" not in w.page.url  # the token went into a cookie
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        drawn = {}
        for name in PAGES:
            got = w.page.goto(f"{server.url}/dashboard/{name}")
            assert got is not None and got.status == 200, name
            drawn[name] = w.charts_drawn()
            assert w.page.locator("nav a").count() == len(PAGES)
            w.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        assert w.errors == []
        for name in ("overview", "funnels", "cohorts", "value", "channels", "experiments"):
            assert drawn[name] >= 1, name
        assert all(u.startswith(server.url) for u in w.requests)  # nothing from elsewhere
    finally:
        context.close()


def test_the_filter_form_narrows_a_page(served, browser) -> None:
    server, read, _, _ = served
    context = browser.new_context()
    try:
        w = Watched(context)
        w.page.goto(f"{server.url}/dashboard/funnels?token={read}")
        w.page.select_option("select[name=market]", "FR")
        w.page.click("form.filters button")
        w.page.wait_for_url("**/dashboard/funnels?*market=FR*")
        w.charts_drawn()
        markets = w.page.locator("table tbody tr td:first-child").all_inner_texts()
        assert markets and set(markets) == {"FR"}
        w.page.goto(f"{server.url}/dashboard/funnels?market=XX")
        assert "filter market='XX' is not a configured market" in w.page.content()
        assert all("400" in e for e in w.errors)  # only the refused request's status
    finally:
        context.close()


def test_a_write_key_cannot_read(served, browser) -> None:
    server, _, write, _ = served
    context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {write}"})
    try:
        page = context.new_page()
        got = page.goto(f"{server.url}/dashboard/overview")
        assert got is not None and got.status == 403
        assert "a write key cannot read" in page.content()
    finally:
        context.close()


def test_the_report_file_makes_no_request(served, browser) -> None:
    *_, report = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        w = Watched(context)
        w.page.goto(report.as_uri())
        assert w.charts_drawn() >= 8
        assert w.page.locator("section.page").count() == len(PAGES)
        w.page.wait_for_timeout(500)  # anything a script would fetch late
        assert w.errors == []
        assert w.requests and all(u.startswith(LOCAL) for u in w.requests), w.requests
    finally:
        context.close()
