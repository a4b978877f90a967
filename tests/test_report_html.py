"""The cockpit's pages, the one-file report and the dashboard's routes, on a small
simulated shop: the numbers shown are the library's, text is escaped, bad filters are
refused by name, small cells are suppressed, the report loads nothing from the network."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import re
import shutil
import warnings
from html.parser import HTMLParser
from pathlib import Path

import anyio
import httpx
import pandas as pd
import pytest
from fastapi import FastAPI

from conftest import KEY
from growthloop.cli import main
from growthloop.core.config import Config, default_toml, load_config
from growthloop.core.errors import InputError
from growthloop.core.schema import TABLES
from growthloop.decide.experiment_runs import analyze_registered
from growthloop.decide.goals import data_end, goal_status
from growthloop.decide.media import channel_table, fit_mmm, mmm_panel, save_fit, stored_fit
from growthloop.decide.scores import update_scores
from growthloop.decide.tags import segment_report
from growthloop.ingest import ingest_file
from growthloop.ingest.collector.keys import create_key
from growthloop.ingest.privacy import Pseudonymiser
from growthloop.metrics.compile import catalog
from growthloop.metrics.funnels import funnel
from growthloop.metrics.journeys import channel_people
from growthloop.metrics.summary import market_summary
from growthloop.report import html as report_html_module
from growthloop.report.dashboard import COOKIE, dashboard_router
from growthloop.report.format import number
from growthloop.report.html import block_html, script_json, write_report
from growthloop.report.pages import FUNNEL_STEPS, PAGES, Filters, channels, funnels, value
from growthloop.report.privacy import SUPPRESSED, share_segments, share_summary
from growthloop.simulate import simulate
from growthloop.simulate.experiments import registry_toml
from growthloop.warehouse import Warehouse
from growthloop.warehouse.store import read_tags

START, USERS, DAYS = dt.date(2025, 1, 1), 3_000, 120
SCRIPT = "<script>alert(1)</script>"
#: The campaign renamed to ``SCRIPT`` in every table of the simulated shop.
RENAMED = "DE-social_ads-c1"


def build_shop(d: Path, *, users: int = USERS, days: int = DAYS) -> tuple[Path, dict]:
    """A project in ``d``: a simulated shop (one campaign named ``SCRIPT``) in a warehouse,
    its experiments analysed; the project file and each experiment's verdict."""
    config = d / "growthloop.toml"
    config.write_text(default_toml(START.year, (0.9 * users, users, 1.1 * users)) + "\n"
                      + registry_toml(START, days), encoding="utf-8")
    cfg = load_config(config)
    simulate(d / "shop", config=cfg, n_users=users, days=days, seed=3, start=START)
    for path in (d / "shop").glob("*.parquet"):
        df = pd.read_parquet(path)
        cols = [c for c in ("campaign", "acquisition_campaign") if c in df.columns]
        if cols:
            df[cols] = df[cols].replace(RENAMED, SCRIPT)
            df.to_parquet(path, index=False)
    pseudo = Pseudonymiser(KEY.encode())
    with warnings.catch_warnings():  # the fixture's fits on a small shop may warn
        warnings.simplefilter("ignore")
        with Warehouse.open(config) as wh:
            for name in TABLES:
                path = d / "shop" / f"{name}.parquet"
                if path.exists():
                    ingest_file(wh.con, wh.cfg, name, path, pseudo)
            results, _ = analyze_registered(wh)
    return config, {r.experiment_id: r.verdict for r in results}


class Tables(HTMLParser):
    """The tables of a page, each as (the title of its block, rows of cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._title, self._in_title = "", False
        self._row: list[str] | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "h3":
            self._title, self._in_title = "", True
        elif tag == "table":
            self.tables.append((self._title, []))
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3":
            self._in_title = False
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1][1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title += data
        elif self._cell is not None:
            self._cell += data


def tables(text: str) -> list[tuple[str, list[list[str]]]]:
    parser = Tables()
    parser.feed(text.split("</head>", 1)[-1])  # not the inlined plotly.js
    parser.close()
    return parser.tables


def table(text: str, title_start: str) -> list[dict[str, str]]:
    """The rows of the first table whose block title starts with ``title_start``."""
    for title, rows in tables(text):
        if title.startswith(title_start):
            return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    raise AssertionError(f"no table titled {title_start!r}")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GROWTHLOOP_PSEUDONYM_KEY", KEY)
        yield build_shop(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="module")
def report(shop: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, str, str]:
    """The report written by ``growthloop report``: its path, text and what was printed."""
    config, _ = shop
    out = tmp_path_factory.mktemp("report") / "report.html"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit) as done:
        main(["report", "--out", str(out), "--config", str(config)])
    assert done.value.code == 0
    return out, out.read_text(encoding="utf-8"), buf.getvalue()


def _unit(unit: str) -> str:
    return "money" if unit == "currency" else unit


def _wh(config: Path, min_group_size: int | None = None) -> Warehouse:
    wh = Warehouse.open(config, read_only=True)
    if min_group_size is not None:
        privacy = wh.cfg.privacy.model_copy(update={"min_group_size": min_group_size})
        wh.cfg = wh.cfg.model_copy(update={"privacy": privacy})
    return wh


# --------------------------------------------------------------------------- numbers


def test_headline_numbers_are_market_summarys(shop, report) -> None:
    config, _ = shop
    _, text, _ = report
    with _wh(config) as wh:
        expected = share_summary(market_summary(wh.backend, wh.cfg),
                                 wh.cfg.privacy.min_group_size).set_index("market")
    rows = {r["market"]: r for r in table(text, "Headline numbers per market")}
    units = {"users": "int", "buyers": "int", "revenue": "money", "conversion": "share",
             "AOV": "money2", "repurchase rate": "share"}
    columns = {"AOV": "order_value", "repurchase rate": "repurchase_rate"}
    assert set(rows) == set(expected.index)
    for market in ("DE", "all"):
        assert not expected.loc[market, "suppressed"]
        for header, unit in units.items():
            value = expected.loc[market, columns.get(header, header)]
            assert rows[market][header] == number(value, unit), (market, header)


def test_goal_tiers_are_the_goal_reports(shop, report) -> None:
    config, _ = shop
    _, text, _ = report
    shown = {r["goal"]: r for r in table(text, "Goals: tier reached")}
    with _wh(config) as wh:
        assert set(shown) == {g.name for g in wh.cfg.goals}
        as_of = data_end(wh.backend)
        for goal in wh.cfg.goals[:3]:  # each status is a few queries: three will do
            g = goal_status(wh.backend, wh.cfg, goal, as_of, people=True)
            assert g.people >= wh.cfg.privacy.min_group_size  # not suppressed
            assert shown[g.goal]["tier"] == g.tier
            assert shown[g.goal]["projected tier"] == g.projected_tier
            assert shown[g.goal]["actual"] == number(g.actual, _unit(catalog(wh.cfg)[
                g.kpi].unit))
    assert 'class="badge b-below-base"' in text


def test_experiment_verdicts_are_the_stored_analyses(shop, report) -> None:
    _, verdicts = shop
    _, text, _ = report
    shown = {r["experiment"]: r["verdict"] for r in table(text, "Experiments: latest")}
    assert shown == verdicts
    assert len(table(text, "Knowledge base")) >= 1


def test_the_value_page_reads_the_stored_tags(shop, tmp_path) -> None:
    config = _copy(shop[0], tmp_path)
    with warnings.catch_warnings():  # the small shop's fits warn
        warnings.simplefilter("ignore")
        with Warehouse.open(config) as wh:
            update_scores(wh.con, wh.cfg)
    with _wh(config) as wh:
        blocks = value(wh, Filters(channel="social_ads"))
        tags = read_tags(wh.backend)
        expected = share_segments(segment_report(tags[tags.channel == "social_ads"]),
                                  wh.cfg.privacy.min_group_size)
    assert "stored scores and tags" in blocks[0].note
    text = "".join(block_html(b, f"c{i}", "n") for i, b in enumerate(blocks))
    shown = {r["segment"]: r for r in table(text, "Lifecycle stages")}
    part = expected[expected.dimension == "lifecycle_stage"]
    assert len(shown) == part.segment.nunique()
    for r in part.itertuples(index=False):
        got = shown[r.segment][r.market]
        if r.suppressed:
            assert got == SUPPRESSED
        elif r.customers:
            assert got == f"{number(r.customers, 'int')} ({number(r.share, 'pct')})"


def _copy(config: Path, to: Path) -> Path:
    """A copy of the project (file and warehouse) in ``to``: a test that writes changes
    only its own."""
    shutil.copy(config, to / "growthloop.toml")
    shutil.copytree(config.parent / ".growthloop", to / ".growthloop")
    return to / "growthloop.toml"


def test_the_channels_page_shows_the_stored_mmm_fit(shop, tmp_path) -> None:
    config = _copy(shop[0], tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Warehouse.open(config) as wh:
            model, fitted = fit_mmm(mmm_panel(wh.backend, wh.cfg, target="new_users"),
                                    draws=50, seed=0, money_target=False)
            version = save_fit(wh, model, fitted, money=False)
    with _wh(config) as wh:
        blocks = channels(wh, Filters(market="DE"))
        expected = channel_table(stored_fit(wh))
    text = "".join(block_html(b, f"c{i}", "n") for i, b in enumerate(blocks))
    shown = table(text, f"Marketing-mix model {version}")
    de = expected[expected.market == "DE"].reset_index(drop=True)
    assert [r["channel"] for r in shown] == list(de.channel)
    for r, e in zip(shown, de.itertuples(index=False), strict=True):
        assert r["spend"] == number(e.spend, "money")
        assert r["per spend"] == number(e.per_spend)
        assert r["cost per outcome"] == number(e.cost_per_outcome, "money2")
    assert "growthloop budget --cadence weekly" in text  # no loop step stored


# --------------------------------------------------------------------------- escaping


def test_a_campaign_named_like_a_script_is_shown_as_text(report) -> None:
    _, text, _ = report
    campaigns = table(text, "Campaigns by spend")
    assert SCRIPT in [r["campaign"] for r in campaigns]  # shown, and read back as text
    assert html.escape(SCRIPT) in text
    assert SCRIPT not in text
    assert "<script>alert" not in text.lower()


def test_script_json_cannot_close_its_script() -> None:
    import json

    raw = json.dumps({"name": "</script><!-- & \u2028"})
    safe = script_json(raw)
    assert not set("<>&") & set(safe)
    assert "\u2028" not in safe
    assert json.loads(safe) == json.loads(raw)


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize(("params", "words"), [
    ({"market": "DE' OR 1=1 --"}, ["filter market=", "DE' OR 1=1 --", "expected one of",
                                   "DE"]),
    ({"channel": "tv"}, ["filter channel='tv'", "expected one of", "social_ads"]),
    ({"from": "2025-13-01"}, ["filter from='2025-13-01'", "not a date", "YYYY-MM-DD"]),
    ({"to": "yesterday"}, ["filter to='yesterday'", "not a date"]),
    ({"from": "2025-03-01", "to": "2025-02-01"}, ["to=2025-02-01", "from=2025-03-01"]),
])
def test_bad_filters_are_refused_by_name(shop, params, words) -> None:
    cfg: Config = load_config(shop[0])
    with pytest.raises(InputError) as e:
        Filters.parse(cfg, params)
    for w in words:
        assert w in str(e.value)


def test_good_filters_round_trip(shop) -> None:
    cfg = load_config(shop[0])
    f = Filters.parse(cfg, {"from": "2025-02-01", "to": " 2025-03-01", "market": "DE",
                            "channel": "", "token": "ignored"})
    assert f == Filters(dt.date(2025, 2, 1), dt.date(2025, 3, 1), "DE", None)
    assert Filters.parse(cfg, f.params()) == f
    assert f.params() == {"from": "2025-02-01", "to": "2025-03-01", "market": "DE"}


def test_a_market_filter_narrows_the_funnel(shop) -> None:
    with _wh(shop[0]) as wh:
        blocks = funnels(wh, Filters(market="FR", start=dt.date(2025, 2, 1)))
        raw = funnel(wh.backend, wh.cfg, FUNNEL_STEPS, by=["market"], start="2025-02-01",
                     people=True).execute()
    shown = table(block_html(blocks[1], "x", "n"), "Funnel per session")
    assert {r["market"] for r in shown} == {"FR"}
    fr = raw[raw.market == "FR"].sort_values("step")
    assert [r["sessions"] for r in shown] == [number(v, "int") for v in fr.units]


# --------------------------------------------------------------------------- privacy


def test_small_cells_are_suppressed_in_the_funnel(shop) -> None:
    k = 60
    with _wh(shop[0], min_group_size=k) as wh:
        blocks = funnels(wh, Filters())
        raw = funnel(wh.backend, wh.cfg, FUNNEL_STEPS, by=["market"], people=True).execute()
    shown = {(r["market"], r["step"]): r
             for r in table(block_html(blocks[1], "x", "n"), "Funnel per session")}
    small = raw[raw.people < k]
    assert len(small) and len(small) < len(raw)  # both kinds of row are there
    for r in raw.itertuples(index=False):
        row = shown[(r.market, r.step_name)]
        if r.people < k:
            assert row["sessions"] == row["from first"] == row["people"] == SUPPRESSED
        else:
            assert row["sessions"] == number(r.units, "int")
            assert row["people"] == number(r.people, "int")


def test_small_cells_are_suppressed_in_the_reports_attribution(shop, report) -> None:
    config, _ = shop
    _, text, _ = report
    with _wh(config) as wh:
        people = channel_people(wh.backend, wh.cfg, by_market=True).to_pandas()
        k = wh.cfg.privacy.min_group_size
    shown = {(r["market"], r["channel"]): r
             for r in table(text, "Attributed first purchases by model")}
    small = people[people.people < k]
    assert len(small)
    for r in small.itertuples(index=False):
        cells = shown[(r.market, r.channel)]
        assert {v for c, v in cells.items() if c not in ("market", "channel")} == {
            SUPPRESSED}
    big = people[people.people >= k].iloc[0]
    assert shown[(big.market, big.channel)]["people"] == number(big.people, "int")


# --------------------------------------------------------------------------- the file


def test_the_report_is_one_self_contained_file(report) -> None:
    path, text, printed = report
    assert printed.strip() == str(path)
    assert not list(path.parent.glob("*.tmp"))
    from plotly.offline import get_plotlyjs

    m = re.search(r'<script id="plotly-js" nonce="[^"]+">(.*?)</script>', text, re.S)
    assert m and len(m.group(1)) == len(get_plotlyjs())
    rest = text[:m.start()] + text[m.end():]
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", rest, re.I)
    assert re.findall(r"<link\b[^>]*>", rest, re.I) == ['<link rel="icon" href="data:,">']
    assert not re.search(r"<(iframe|img|object|embed)\b", rest, re.I)
    assert not re.search(r"<script[^>]*\ssrc=", rest, re.I)
    assert html.escape("default-src 'none'") in rest
    assert html.escape("connect-src 'none'") in rest
    for name in PAGES:
        assert f'<section class="page" id="{name}">' in text
    assert text.count("Plotly.newPlot(") >= 8
    assert "growthloop mmm fit" in text  # no fit stored: the page says what makes one
    assert "growthloop budget --cadence weekly" in text


def test_a_failed_report_leaves_the_old_file(shop, tmp_path, monkeypatch) -> None:
    out = tmp_path / "report.html"
    out.write_text("old", encoding="utf-8")

    def boom(*_a, **_k) -> str:
        raise RuntimeError("interrupted")

    monkeypatch.setattr(report_html_module, "report_html", boom)
    with _wh(shop[0]) as wh, pytest.raises(RuntimeError):
        write_report(wh, out)
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_report_refuses_a_name_that_is_not_html(shop, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["report", "--out", str(tmp_path / "r.csv"), "--config", str(shop[0])])
    assert done.value.code == 1
    assert "expected a name ending in .html" in capsys.readouterr().err


def test_pages_without_data_say_which_command_makes_it(project: Path) -> None:
    Warehouse.open(project / "growthloop.toml").close()  # created, migrated, empty
    with _wh(project / "growthloop.toml") as wh:
        notes = {name: " ".join(b.note or "" for b in make(wh, Filters()))
                 for name, (_, make) in PAGES.items()}
    for name in ("overview", "funnels", "cohorts", "value"):
        assert "ingest data first" in notes[name]
    assert "growthloop mmm fit" in notes["channels"]
    assert "growthloop experiment analyze" in notes["experiments"]


# --------------------------------------------------------------------------- dashboard


class Client:
    """Requests to an ASGI app in this process (httpx's ASGI transport), keeping cookies."""

    def __init__(self, app: FastAPI) -> None:
        self.app, self.cookies = app, httpx.Cookies()

    def get(self, url: str, *, follow_redirects: bool = True, **kw) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                         base_url="http://testserver", cookies=self.cookies,
                                         follow_redirects=follow_redirects) as c:
                got = await c.get(url, **kw)
                self.cookies = c.cookies
                return got

        return anyio.run(go)


@pytest.fixture(scope="module")
def client(shop):
    config, _ = shop
    state = load_config(config).warehouse_path(config.parent).parent
    read, _ = create_key(state / "keys.json", "read")
    write, _ = create_key(state / "keys.json", "write", "DE")
    app = FastAPI()
    app.include_router(dashboard_router(config))
    return Client(app), read, write


def test_the_dashboard_needs_a_read_token(client) -> None:
    c, _, write = client
    c.cookies.clear()
    assert c.get("/dashboard/funnels").status_code == 401
    assert c.get("/dashboard/funnels?token=glr_unknown").status_code == 401
    got = c.get("/dashboard/funnels", headers={"Authorization": f"Bearer {write}"})
    assert got.status_code == 403 and "a write key cannot read" in got.text
    assert c.get(f"/dashboard/funnels?token={write}").status_code == 403


def test_a_token_in_the_url_becomes_a_cookie(client) -> None:
    c, read, _ = client
    c.cookies.clear()
    got = c.get(f"/dashboard/funnels?market=DE&token={read}", follow_redirects=False)
    assert got.status_code == 303
    assert got.headers["location"] == "/dashboard/funnels?market=DE"
    cookie = got.headers["set-cookie"].lower()
    assert f"{COOKIE}={read}".lower() in cookie
    for part in ("httponly", "samesite=strict", "path=/dashboard"):
        assert part in cookie
    page = c.get("/dashboard/funnels?market=DE")
    assert page.status_code == 200
    assert "nonce-" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    rows = table(page.text, "Funnel per session")
    assert {r["market"] for r in rows} == {"DE"}
    assert '<script src="/dashboard/plotly.js?v=' in page.text


def test_the_dashboard_refuses_bad_filters_and_unknown_pages(client) -> None:
    c, read, _ = client
    auth = {"Authorization": f"Bearer {read}"}
    bad = c.get("/dashboard/funnels", params={"market": "DE' OR 1=1 --"}, headers=auth)
    assert bad.status_code == 400
    assert html.escape("filter market='DE\\' OR 1=1 --'") in bad.text or \
        html.escape("filter market=\"DE' OR 1=1 --\"") in bad.text
    assert "expected one of" in bad.text
    evil = c.get("/dashboard/funnels", params={"from": SCRIPT}, headers=auth)
    assert evil.status_code == 400 and SCRIPT not in evil.text
    assert html.escape(SCRIPT) in evil.text
    assert c.get("/dashboard/nope", headers=auth).status_code == 404
    home = c.get("/dashboard", headers=auth, follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/dashboard/overview"


def test_the_dashboard_serves_its_own_plotly(client) -> None:
    from plotly.offline import get_plotlyjs

    c, _, _ = client
    got = c.get("/dashboard/plotly.js?v=1")
    assert got.status_code == 200
    assert "max-age=31536000" in got.headers["cache-control"]
    assert got.headers["content-type"].startswith("application/javascript")
    assert len(got.content) == len(get_plotlyjs().encode())
