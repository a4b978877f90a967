"""The README commands' tables at 80 columns through a pipe: every number and name whole.

Rich falls back to 80 columns when stdout is not a terminal, and marks a cut cell with
``…``; ``growthloop.report.layout.emit`` sizes the columns itself and splits a wide table
into several that repeat the key columns. These tests run the real command on a small
demo project and read its tables back.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.console import Console

from conftest import KEY
from growthloop.report.layout import Col, emit

EXE = str(Path(sys.executable).with_name("growthloop"))
WIDTH = 80
RULE = "━"

PATHS = """path,conversions,nulls,value
social_ads > email_crm,120,800,5400.5
search_ads,80,600,4100
social_ads > search_ads > email_crm,45,300,2250
organic > referral,30,900,1200.25
live_commerce > short_video > search_ads,12,210,640
short_video,60,1500,2400
"""

# README commands that only read, after `growthloop demo` and `growthloop clv fit`
CASES = {
    "summary": ["summary"],
    "kpi-rows": ["kpi", "add_to_cart_rate", "nps", "--grain", "week", "--by", "market",
                 "--from", "2025-01-01"],
    "kpi-list": ["kpi"],
    "goals": ["goals"],
    "review": ["review", "--cadence", "weekly"],
    "funnel": ["funnel", "session_start", "product_view", "add_to_cart", "checkout",
               "purchase", "--by", "market"],
    "cohorts-revenue": ["cohorts", "--cohort", "first_purchase", "--measure", "revenue"],
    "cohorts": ["cohorts"],
    "clv-validate": ["clv", "validate", "--holdout-from", "2025-10-01"],
    "segments": ["segments"],
    "ltv": ["ltv", "--by", "channel,market", "--tornado"],
    "attribution-compare": ["attribution", "--compare", "--by", "market"],
    "attribution-markov": ["attribution", "--model", "markov", "--by", "market"],
    "attribution-paths": ["attribution", "--paths", "paths.csv", "--model", "markov",
                          "--order", "2"],
    "roi": ["roi", "--model", "markov", "--period", "month"],
    "mmm": ["mmm", "fit", "--draws", "100"],
    "budget": ["budget", "--draws", "100"],
    # the shared view: suppressed cells and the legend line fit as well
    "summary-shared": ["summary", "--share"],
    "kpi-shared": ["kpi", "revenue", "add_to_cart_rate", "--grain", "month", "--by",
                   "market", "--share"],
    "funnel-shared": ["funnel", "session_start", "product_view", "add_to_cart", "checkout",
                      "purchase", "--by", "market", "--share"],
    "cohorts-shared": ["cohorts", "--share"],
    "goals-shared": ["goals", "--share"],
    "segments-shared": ["segments", "--share"],
    "ltv-shared": ["ltv", "--by", "channel,market", "--tornado", "--share"],
    "attribution-shared": ["attribution", "--compare", "--by", "market", "--share"],
    "roi-shared": ["roi", "--model", "markov", "--period", "month", "--share"],
}
# and those that write, run last
WRITING = {
    "ingest": ["ingest", "orders", "data/orders.parquet"],  # already loaded: adds nothing
    "erase": ["erase", "u0000001"],
}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env.update(GROWTHLOOP_PSEUDONYM_KEY=KEY, COLUMNS=str(WIDTH))
    return subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@dataclass
class Project:
    dir: Path
    demo: str  # what `growthloop demo` printed
    clv_fit: str  # what `growthloop clv fit --by market --horizon 365` printed
    seen: dict[tuple[str, ...], str] = field(default_factory=dict)

    def stdout(self, *args: str) -> str:
        """What a read-only command prints (run once per module)."""
        if args not in self.seen:
            r = run(*args, cwd=self.dir)
            assert r.returncode == 0, r.stderr
            self.seen[args] = r.stdout
        return self.seen[args]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("width")
    demo = run("demo", "--dir", "shop", "--users", "3000", "--days", "365", "--seed", "7",
               cwd=root)
    assert demo.returncode == 0, demo.stderr
    shop = root / "shop"
    (shop / "paths.csv").write_text(PATHS)
    fit = run("clv", "fit", "--by", "market", "--horizon", "365", cwd=shop)  # for segments
    assert fit.returncode == 0, fit.stderr
    return Project(shop, demo.stdout, fit.stdout)


# --------------------------------------------------------------------------- reading back


@dataclass
class Table:
    header: list[str]  # the header's last line, split into cells
    rows: list[list[str]]  # every line under the rule (legend lines included), split


def blocks(text: str) -> list[list[str]]:
    """Runs of non-blank lines: a table with its title and legend is one."""
    out: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            out[-1].append(line)
        elif out[-1]:
            out.append([])
    return [b for b in out if b]


def cells(line: str) -> list[str]:
    """A table line's cells: columns are two or more spaces apart."""
    return re.split(r"\s{2,}", line.strip())


def tables(text: str) -> list[Table]:
    found = []
    for b in blocks(text):
        rule = next((i for i, line in enumerate(b) if set(line) == {RULE}), None)
        if rule is not None:
            found.append(Table(cells(b[rule - 1]), [cells(line) for line in b[rule + 1:]]))
    return found


def check_fits(text: str) -> None:
    """No cut cell, and every line of a table, its title and its legend within 80."""
    assert "…" not in text
    for b in blocks(text):
        if any(RULE in line for line in b):
            wide = [line for line in b if len(line) > WIDTH]
            assert not wide, "\n".join(wide)


def whole(token: str, text: str) -> bool:
    """``token`` appears in ``text`` with neither a digit, ``,`` or ``.`` nor a letter
    glued to it: not cut, not split over two lines."""
    return re.search(rf"(?<![\w.,]){re.escape(token)}(?![\w,]|\.\d)", text) is not None


# --------------------------------------------------------------------------- the commands


@pytest.mark.slow
@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
def test_command_tables_fit_80_columns(project: Project, args: list[str]) -> None:
    text = project.stdout(*args)
    check_fits(text)
    assert tables(text), text


@pytest.mark.slow
@pytest.mark.parametrize("which", ["demo", "clv-fit"])
def test_demo_and_clv_fit_tables_fit_80_columns(project: Project, which: str) -> None:
    text = project.demo if which == "demo" else project.clv_fit
    check_fits(text)
    assert len(tables(text)) >= (8 if which == "demo" else 1)


@pytest.mark.slow
def test_summary_numbers_appear_whole(project: Project) -> None:
    doc = json.loads(project.stdout("summary", "--json"))
    text = project.stdout("summary")
    rows = {r[0]: r for t in tables(text) for r in t.rows}
    for m in doc["markets"]:
        row = rows[m["market"]]
        assert f"{m['users']:,}" in row and f"{m['buyers']:,}" in row
        assert f"{m['revenue']:,.0f}" in row
    total = next(m for m in doc["markets"] if m["market"] == "all")
    assert whole(f"{total['users']:,}", text) and "," in f"{total['users']:,}"


@pytest.mark.slow
def test_cohort_matrix_reads_back_cell_by_cell(project: Project) -> None:
    """The 12 periods do not fit 80 columns: split tables that together hold every cell,
    each under its own column."""
    doc = json.loads(project.stdout("cohorts", "--json"))
    text = project.stdout("cohorts")
    parts = tables(text)
    assert len(parts) >= 2
    shown: dict[tuple[str, str], str] = {}
    for t in parts:
        assert t.header[0] == "cohort"
        for row in t.rows:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", row[0]):
                assert len(row) == len(t.header), row
                shown.update({(row[0], h): v for h, v in zip(t.header[1:], row[1:],
                                                               strict=True)})
    expected = {(r["cohort"][:10], f"+{r['periods_since']}"): f"{r['retention']:.1%}"
                for r in doc["rows"] if r["retention"] is not None}
    assert expected and {k: shown.get(k) for k in expected} == expected


@pytest.mark.slow
def test_roi_has_no_residue_customers(project: Project) -> None:
    """Markov credit of a channel without conversions in a month is float residue (1e-17):
    it counts as no customers, so CAC is undefined there, not 5.6e16."""
    rows = json.loads(project.stdout(*CASES["roi"], "--json"))["rows"]
    tiny = [r for r in rows if 0 < abs(r["new_customers"]) < 1e-6]
    assert not tiny, tiny[:3]
    cac = [r["cac"] for r in rows if r["cac"] is not None]
    assert cac and max(cac) < 1e6


@pytest.mark.slow
def test_shared_tables_mark_suppressed_cells(project: Project) -> None:
    """Small LTV groups of the 3,000-user shop are suppressed, said so under the table."""
    text = project.stdout(*CASES["ltv-shared"])
    assert whole("supp.", text) and "supp.: suppressed, fewer than 10 people" in " ".join(
        text.split())
    assert "supp." not in project.stdout(*CASES["ltv"])


@pytest.mark.slow
def test_names_are_never_cut(project: Project) -> None:
    goals = [g["name"] for g in
             tomllib.loads((project.dir / "growthloop.toml").read_text())["goals"]]
    text = project.stdout("goals")
    assert len(goals) >= 5 and max(map(len, goals)) > 24
    for name in goals:
        assert whole(name, text), name
    ltv = project.stdout(*CASES["ltv"])
    for channel in ("live_commerce", "short_video", "search_ads"):
        assert whole(channel, ltv)


@pytest.mark.slow
@pytest.mark.parametrize("args", WRITING.values(), ids=WRITING.keys())
def test_writing_commands_fit_80_columns(project: Project, args: list[str]) -> None:
    r = run(*args, cwd=project.dir)
    assert r.returncode == 0, r.stderr
    check_fits(r.stdout)
    assert all(len(line) <= WIDTH for line in r.stdout.splitlines())
    if args[0] == "ingest":
        (t,) = tables(r.stdout)
        assert t.header == ["table", "file", "read", "loaded", "duplicate", "quarantined"]


# --------------------------------------------------------------------------- emit itself


def _recorded() -> Console:
    return Console(width=WIDTH, record=True, file=io.StringIO(), color_system=None)


def test_emit_splits_a_wide_table_and_keeps_every_cell_whole() -> None:
    names = ["payment_conversion_rate_by_mkt", "new users from referral in SEA", "US"]
    assert {len(n) for n in names[:2]} == {30}
    cols = [Col("name", False)] + [Col(f"m{c:02d}") for c in range(15)]
    rows = [[n] + [f"{1_000_000 + 123_457 * r + 1_111 * c:,}" for c in range(15)]
            for r, n in enumerate(names)]
    assert {len(v) for row in rows for v in row[1:]} == {9}
    console = _recorded()
    emit(console, "A wide table " * 8, cols, rows, legend="m00..m14: fifteen measures " * 4)
    text = console.export_text()
    check_fits(text)
    assert all(len(line) <= WIDTH for line in text.splitlines())
    parts = tables(text)
    assert len(parts) >= 3  # 15 x 9 characters cannot fit next to a 30-character name
    shown: dict[tuple[str, str], str] = {}
    for t in parts:
        assert t.header[0] == "name"
        for row in t.rows[:len(rows)]:
            assert len(row) == len(t.header)
            shown.update({(row[0], h): v for h, v in zip(t.header[1:], row[1:], strict=True)})
    assert shown == {(row[0], c.header): v for row in rows
                     for c, v in zip(cols[1:], row[1:], strict=True)}


def test_emit_wraps_text_between_words_and_breaks_only_overlong_words() -> None:
    path = "/very/long/directory/name" * 4 + "/orders-2025-03.parquet"
    console = _recorded()
    emit(console, "Ingest", [Col("file", False), Col("rows")], [[path, "1,234,567"]],
         keys=0)
    text = console.export_text()
    check_fits(text)
    (t,) = tables(text)
    pieces = [r[0] for r in t.rows]
    assert len(pieces) > 1 and "".join(pieces) == path  # a word wider than the console
    assert all(p.endswith("/") for p in pieces[:-1])  # broken after a slash
    assert t.rows[0][1] == "1,234,567"

    words = "a description much longer than the room the numbers leave for it " * 2
    console = _recorded()
    emit(console, "KPIs", [Col("kpi", False), Col("description", False), Col("n1"),
                           Col("n2"), Col("n3")],
         [["payment_conversion_rate", words, "12,345,678", "-0.0123", "45.6%"]])
    text = console.export_text()
    check_fits(text)
    (t,) = tables(text)
    first, *more = t.rows
    assert first[0] == "payment_conversion_rate" and first[2:] == ["12,345,678", "-0.0123",
                                                                  "45.6%"]
    assert more and all(len(r) == 1 for r in more)  # only the description wraps
    assert " ".join([first[1], *(r[0] for r in more)]) == " ".join(words.split())


def test_emit_prints_one_table_when_it_fits() -> None:
    console = _recorded()
    emit(console, "Small", [Col("market", False), Col("users"), Col("conv.")],
         [["ID", "1,234", "20.3%"], ["all", "12,345", "21.0%"]],
         legend=["conv.: buyers / users"])
    text = console.export_text()
    assert text.splitlines()[:3] == ["Small", "market   users  conv.", RULE * 21]
    assert "conv.: buyers / users" in text and "(1/" not in text
