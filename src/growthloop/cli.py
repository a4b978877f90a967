"""The ``growthloop`` command: thin wrappers that parse, call the library and print.

Convention: results go to stdout; with ``--json`` exactly one JSON document does.
Progress and messages go to stderr. Errors exit 1 with a one-line reason.
"""

from __future__ import annotations

import functools
import json
import math
import os
import secrets
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from growthloop.config import Config, default_toml, load_config
from growthloop.errors import GrowthloopError, InputError
from growthloop.schema import TABLES, data_model_markdown

app = typer.Typer(
    name="growthloop",
    help="Growth engine for cross-border e-commerce: ingest, KPIs, value, attribution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="Project file.", show_default=True)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True)
    return typer.Exit(1)


def command(*names: str, **kw: Any) -> Callable[[F], F]:
    """Register a command whose library errors become a one-line message and exit 1."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except GrowthloopError as e:
                first, *rest = str(e).splitlines() or ["failed"]
                extra = f" (+{len(rest)} more: {'; '.join(rest)})" if rest else ""
                raise _fail(first + extra) from None
            except KeyboardInterrupt:
                raise _fail("interrupted; nothing half-written was kept") from None

        app.command(*names, **kw)(wrapper)
        return fn

    return deco


def _print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str, allow_nan=False) + "\n")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
    )


def _project(config: Path) -> tuple[Config, Path]:
    cfg = load_config(config)
    return cfg, cfg.warehouse_path(config.resolve().parent)


@command(epilog="Example: growthloop init --dir myshop")
def init(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write it.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented default growthloop.toml (markets and channels of the growth plan)."""
    path = directory / "growthloop.toml"
    if path.exists() and not force:
        raise InputError(f"{path} already exists; pass --force to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(default_toml(date.today().year), encoding="utf-8")
    err.print(f"wrote {path}")


def _ingest_files(cfg: Config, wh: Path, table: str, files: list[Path]) -> list[dict[str, Any]]:
    from growthloop.ingest import ingest_file
    from growthloop.privacy import pseudonymiser
    from growthloop.warehouse import connect

    for f in files:
        if not f.is_file():
            raise InputError(f"{f}: no such file")
    pseudo = pseudonymiser(cfg)
    con = connect(wh)
    results = []
    try:
        with _progress() as bar:
            task = bar.add_task(f"{table}", total=len(files) * 4)
            for f in files:
                bar.update(task, description=f"{table} ← {f.name}")
                res = ingest_file(con, cfg, table, f, pseudo,
                                  on_step=lambda _s: bar.advance(task))
                results.append(res.as_dict())
    finally:
        con.close()
    return results


def _report_loads(results: list[dict[str, Any]]) -> None:
    t = RichTable(title="Ingest")
    for col in ("table", "file", "read", "loaded", "duplicate", "quarantined"):
        t.add_column(col, justify="right" if col not in ("table", "file") else "left")
    for r in results:
        t.add_row(r["table"], r["file"], f"{r['rows_read']:,}", f"{r['rows_loaded']:,}",
                  f"{r['rows_duplicate']:,}" + (" (file already loaded)"
                                                if r["already_loaded"] else ""),
                  f"{r['rows_quarantined']:,}")
    out.print(t)
    for r in results:
        if r["quarantine_reasons"]:
            out.print(f"Quarantined from {r['file']} (see table quarantine):")
            for q in r["quarantine_reasons"]:
                out.print(f"  {q['rows']:>8,} rows  {q['rule']}  (first at row {q['first_row']})",
                          highlight=False)


@command(epilog="Example: growthloop ingest orders data/orders-2025-03.csv data/orders-04.parquet")
def ingest(
    table: Annotated[str, typer.Argument(help=f"One of: {', '.join(TABLES)}.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON Lines files.")],
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Validate and load files into a table; bad rows go to quarantine with their reason.

    Each file loads atomically; re-loading rows already present adds nothing.
    """
    if table not in TABLES:
        raise InputError(f"unknown table {table!r}; expected one of: {', '.join(TABLES)}")
    cfg, wh = _project(config)
    results = _ingest_files(cfg, wh, table, files)
    if as_json:
        _print_json({"loads": results})
    else:
        _report_loads(results)


@command(epilog="Example: growthloop erase u0001234")
def erase(
    user_id: Annotated[str, typer.Argument(help="The person's identifier as given at ingest.")],
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Remove one person from every table and the quarantine."""
    from growthloop.privacy import erase as erase_person
    from growthloop.privacy import pseudonymiser
    from growthloop.warehouse import connect

    cfg, wh = _project(config)
    con = connect(wh)
    try:
        rep = erase_person(con, user_id, pseudonymiser(cfg))
    finally:
        con.close()
    if as_json:
        _print_json({"removed": rep.removed, "total": rep.total})
        return
    for name, n in rep.removed.items():
        out.print(f"{name:<24} {n:>8,} rows removed")
    out.print(f"{'total':<24} {rep.total:>8,} rows removed")
    if rep.total == 0:
        err.print("nothing found for that identifier (check the pseudonymisation key)")


def _simulate(out_dir: Path, users: int, days: int, seed: int, start: date,
              cfg: Config | None) -> dict[str, Any]:
    from growthloop.simulate import simulate as run

    with _progress() as bar:
        task = bar.add_task("simulating", total=1.0)

        def progress(stage: str, frac: float) -> None:
            bar.update(task, description=f"simulating: {stage}", completed=frac)

        return run(out_dir, config=cfg, n_users=users, days=days, seed=seed, start=start,
                   progress=progress)


@command(epilog="Example: growthloop simulate --users 50000 --days 365 --seed 7 --out shop/")
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the Parquet files.")],
    users: Annotated[int, typer.Option(min=100, help="Users to simulate.")] = 50_000,
    days: Annotated[int, typer.Option(min=28, max=3650, help="Days to simulate.")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-01-01",
    config: Annotated[Path | None, typer.Option("--config", "-c",
                                                help="Project file (default markets)."
                                                )] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a simulated cross-border shop (every table as Parquet) and its truth.json."""
    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise InputError(f"--start {start!r} is not a date; expected YYYY-MM-DD") from None
    cfg = load_config(config) if config else None
    t0 = time.perf_counter()
    _simulate(out_dir, users, days, seed, first, cfg)
    files = {p.name: p.stat().st_size for p in sorted(out_dir.iterdir()) if p.is_file()}
    if as_json:
        _print_json({"out": str(out_dir), "files": files,
                     "seconds": round(time.perf_counter() - t0, 2)})
    else:
        out.print(f"wrote {len(files)} files to {out_dir} in {time.perf_counter() - t0:.1f} s")


def _fmt(v: float, kind: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if kind == "pct":
        return f"{v:.1%}"
    if kind == "money":
        return f"{v:,.0f}"
    if kind == "money2":
        return f"{v:,.2f}"
    return f"{int(v):,}"


def _summary(cfg: Config, wh: Path) -> Any:
    from growthloop.summary import market_summary
    from growthloop.warehouse import connect, ibis_backend

    con = connect(wh, read_only=True)
    try:
        return market_summary(ibis_backend(con), cfg.reporting_currency)
    finally:
        con.close()


def _print_summary(df: Any, currency: str) -> None:
    t = RichTable(title=f"Headline numbers per market (money in {currency})")
    cols = [("market", None), ("users", "int"), ("buyers", "int"), ("revenue", "money"),
            ("conversion", "pct"), ("order_value", "money2"), ("repurchase_rate", "pct")]
    for name, kind in cols:
        t.add_column(name.replace("_", " "), justify="left" if kind is None else "right")
    for _, r in df.iterrows():
        t.add_row(*[str(r[n]) if k is None else _fmt(r[n], k) for n, k in cols],
                  style="bold" if r["market"] == "all" else None)
    out.print(t)


def _records(df: Any) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: a missing or non-finite number becomes null."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in r.items()} for r in df.to_dict(orient="records")]


@command(epilog="Example: growthloop summary --json")
def summary(config: ConfigOpt = Path("growthloop.toml"), as_json: JsonOpt = False) -> None:
    """Users, buyers, revenue, conversion, order value and repurchase rate per market."""
    cfg, wh = _project(config)
    df = _summary(cfg, wh)
    if as_json:
        _print_json({"currency": cfg.reporting_currency, "markets": _records(df)})
    else:
        _print_summary(df, cfg.reporting_currency)


@command(epilog="Example: growthloop demo --dir demo --users 50000")
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Project directory to create.")] = Path(
        "demo"),
    users: Annotated[int, typer.Option(min=100, help="Users to simulate.")] = 50_000,
    days: Annotated[int, typer.Option(min=28, max=3650)] = 365,
    seed: Annotated[int, typer.Option()] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a shop, ingest it into a fresh warehouse and print its headline numbers."""
    t0 = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "growthloop.toml"
    if not config.exists():  # goals for the simulated year, sized to the simulated shop
        config.write_text(default_toml(2025, (0.9 * users, users, 1.1 * users)),
                          encoding="utf-8")
    cfg, wh = _project(config)
    key_env = cfg.privacy.key_env
    if cfg.privacy.pseudonymise and not os.environ.get(key_env):
        os.environ[key_env] = secrets.token_hex(32)
        err.print(f"{key_env} is not set: pseudonymising the demo with a one-off random key")
    for p in (wh, wh.with_name(wh.name + ".wal")):
        p.unlink(missing_ok=True)
    data = directory / "data"
    _simulate(data, users, days, seed, date(2025, 1, 1), cfg)
    err.print(f"simulated {users:,} users over {days} days into {data}")
    loads = []
    for name in TABLES:
        loads += _ingest_files(cfg, wh, name, [data / f"{name}.parquet"])
    n = sum(r["rows_loaded"] for r in loads)
    err.print(f"loaded {n:,} rows into {wh}")
    df = _summary(cfg, wh)
    goal_df, dec = _goal_report(cfg, wh, None) if cfg.goals else (None, None)
    from growthloop.cli_value import print_value_report, value_report, value_report_json

    value = value_report(config)
    from growthloop.cli_attribution import attribution_report, print_attribution_comparison

    credits = attribution_report(config)
    if as_json:
        _print_json({"loads": loads, "currency": cfg.reporting_currency,
                     "markets": _records(df),
                     "goals": None if goal_df is None else _records(goal_df),
                     "value": value_report_json(value),
                     "attribution": _records(credits),
                     "seconds": round(time.perf_counter() - t0, 1)})
        return
    _print_summary(df, cfg.reporting_currency)
    if goal_df is not None:
        from growthloop.metrics import catalog

        _print_goals(goal_df, {k.name: k.unit for k in catalog(cfg).values()})
        if dec is not None:
            _print_decomposition(dec)
    print_value_report(value, cfg.reporting_currency)
    print_attribution_comparison(credits, "first purchases")
    err.print(f"demo done in {time.perf_counter() - t0:.0f} s; project in {directory}")


def _csv_list(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _write_table(df: Any, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif suffix == ".json":
        path.write_text(json.dumps(_records(df), default=str, indent=2) + "\n")
    else:
        raise InputError(f"--out {path}: unknown file type {suffix!r}; expected .csv, "
                         ".parquet or .json")


@command(epilog="Example: growthloop kpi add_to_cart_rate revenue --grain week --by market "
                "--from 2025-01-01 --to 2025-04-01")
def kpi(
    names: Annotated[list[str] | None, typer.Argument(help="KPI names; none lists them.")] = None,
    grain: Annotated[str, typer.Option(help="day, week, month, quarter or year.")] = "week",
    by: Annotated[str | None, typer.Option(help="Dimensions, comma-separated.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD.")
                   ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write .csv, .parquet or "
                                                  ".json instead of printing.")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the KPI reference.")
                        ] = False,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """KPIs of the catalog by time grain and slice, from the project warehouse."""
    from growthloop.metrics import catalog, compile_kpi
    from growthloop.metrics.docs import metrics_markdown
    from growthloop.metrics.sources import cached_sources
    from growthloop.warehouse import connect, ibis_backend

    if markdown:
        sys.stdout.write(metrics_markdown())
        return
    cfg, wh = _project(config)
    cat = catalog(cfg)
    if not names:
        if as_json:
            _print_json({k.name: {"description": k.description, "unit": k.unit,
                                  "direction": k.direction} for k in cat.values()})
            return
        for k in cat.values():
            out.print(f"[bold]{k.name}[/bold] ({k.unit}, {k.direction}): {k.description}")
        return
    for d in (start, end):
        if d is not None:
            try:
                date.fromisoformat(d)
            except ValueError:
                raise InputError(f"{d!r} is not a date; expected YYYY-MM-DD") from None
    dims = _csv_list(by)
    con = connect(wh, read_only=True)
    try:
        b = ibis_backend(con)
        frames = []
        with cached_sources(b, cfg) as cache:
            for name in names:
                df = compile_kpi(name, b, cfg, grain=grain, by=dims, start=start, end=end,
                                 cache=cache).execute()
                df.insert(0, "kpi", name)
                df["period"] = df["period"].astype(str).str[:10]
                frames.append(df)
    finally:
        con.close()
    import pandas as pd

    result = pd.concat(frames, ignore_index=True)
    if out_file is not None:
        _write_table(result, out_file)
        err.print(f"wrote {len(result):,} rows to {out_file}")
    elif as_json:
        _print_json({"grain": grain, "by": dims, "rows": _records(result)})
    else:
        t = RichTable(title=f"KPIs by {grain}" + (f" and {', '.join(dims)}" if dims else ""))
        for c in result.columns:
            t.add_column(c, justify="right" if c in ("numerator", "denominator", "value")
                         else "left")
        for r in result.itertuples(index=False):
            t.add_row(*[_fmt_any(v) for v in r])
        out.print(t)


def _fmt_any(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, int | np.integer) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def _day(value: str | None, option: str = "--as-of") -> date | None:
    """The date an option names, or a one-line error naming the option and the value."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {value!r} is not a date; expected YYYY-MM-DD") from None


def _num(v: Any, unit: str | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if unit == "share":
        return f"{v:.1%}"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.3g}"


def _print_goals(df: Any, units: dict[str, str]) -> None:
    t = RichTable(title=f"Goals as of {df.as_of.iloc[0]} (projection: 80 % interval)")
    sliced = bool((df.slice != "all").any())
    for c in ("goal", "slice", "elapsed", "actual", "tier", "gap to next", "projection",
              "projected tier", "base / target / challenge"):
        if c == "slice" and not sliced:
            continue
        t.add_column(c, justify="left" if c in ("goal", "slice", "tier", "projected tier")
                     else "right")
    style = {"challenge": "green", "target": "green", "base": "yellow", "below base": "red"}
    for r in df.itertuples(index=False):
        u = units.get(r.kpi)
        proj = _num(r.projection, u)
        if r.low is not None and not (isinstance(r.low, float) and math.isnan(r.low)) and \
                r.low != r.high:
            proj += f" [{_num(r.low, u)}, {_num(r.high, u)}]"
        gap = "–" if r.next_tier is None or r.gap is None else (
            f"{100 * r.gap:.1f} pt to {r.next_tier}" if u == "share"
            else f"{_num(r.gap, u)} to {r.next_tier}")
        t.add_row(r.goal, *([r.slice] if sliced else []), f"{r.elapsed:.0%}",
                  _num(r.actual, u),
                  f"[{style.get(r.tier, 'white')}]{r.tier}[/]", gap, proj,
                  f"[{style.get(r.projected_tier, 'white')}]{r.projected_tier}[/]",
                  " / ".join(_num(x, u) for x in (r.base, r.target, r.challenge)))
    out.print(t)


def _goal_report(cfg: Config, wh: Path, as_of: date | None) -> tuple[Any, Any]:
    from growthloop.goals import decompose, goals_frame
    from growthloop.warehouse import connect, ibis_backend

    con = connect(wh, read_only=True)
    try:
        b = ibis_backend(con)
        df = goals_frame(b, cfg, as_of)
        dec = decompose(b, cfg, as_of=as_of) if cfg.decomposition else None
    finally:
        con.close()
    return df, dec


def _print_decomposition(dec: Any) -> None:
    for dim in ("market", "channel"):
        piv = dec.groupby(["quarter", dim])[["plan", "actual"]].sum().reset_index()
        t = RichTable(title=f"New-user goal (target tier) by quarter and {dim}: actual, "
                            "% of plan")
        t.add_column(dim)
        quarters = sorted(piv.quarter.unique())
        for q in quarters:
            t.add_column(q, justify="right")
        for seg, g in piv.groupby(dim):
            cells = []
            for q in quarters:
                row = g[g.quarter == q].iloc[0]
                share = row.actual / row.plan if row.plan else float("nan")
                color = "green" if share >= 1 else ("yellow" if share >= 0.9 else "red")
                cells.append(f"{row.actual:,.0f} [{color}]{share:.0%}[/]")
            t.add_row(str(seg), *cells)
        out.print(t)


@command(epilog="Example: growthloop goals --as-of 2025-09-01")
def goals(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day after the last day to "
                                              "count, YYYY-MM-DD (default: end of data).")
                     ] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Every goal: actual to date, tier reached, gap to the next tier, projection."""
    from growthloop.metrics import catalog

    cfg, wh = _project(config)
    df, dec = _goal_report(cfg, wh, _day(as_of))
    if as_json:
        _print_json({"goals": _records(df),
                     "decomposition": None if dec is None else _records(dec)})
        return
    _print_goals(df, {k.name: k.unit for k in catalog(cfg).values()})
    if dec is not None:
        _print_decomposition(dec)


@command(epilog="Example: growthloop review --cadence weekly")
def review(
    cadence: Annotated[str, typer.Option(help="weekly, biweekly or monthly.")] = "weekly",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Review the last complete "
                                              "period before this day (default: end of "
                                              "data).")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """The review of the last complete period: goals, movers beyond noise, mix vs rate."""
    from growthloop.metrics import catalog
    from growthloop.review import review as run_review
    from growthloop.warehouse import connect, ibis_backend

    if cadence not in ("weekly", "biweekly", "monthly"):
        raise InputError(f"unknown cadence {cadence!r}; expected weekly, biweekly or monthly")
    cfg, wh = _project(config)
    con = connect(wh, read_only=True)
    try:
        with _progress() as bar:
            bar.add_task("reviewing", total=None)
            r = run_review(ibis_backend(con), cfg, cadence, _day(as_of))  # type: ignore
    finally:
        con.close()
    movers = r.movers_frame()
    if as_json:
        _print_json({"cadence": cadence, "start": r.start.isoformat(),
                     "end": r.end.isoformat(), "goals": _records(r.goals),
                     "movers": _records(movers),
                     "decompositions": {k: _records(v) for k, v in r.decompositions.items()}})
        return
    last = (r.end - timedelta(days=1)).isoformat()
    out.print(f"[bold]{cadence.capitalize()} review: {r.start.isoformat()} to {last}[/bold]")
    units = {k.name: k.unit for k in catalog(cfg).values()}
    if len(r.goals):
        _print_goals(r.goals, units)
    flagged = movers[movers.flagged]
    t = RichTable(title=f"Moves beyond the noise band (|change| > 2 sd of the last "
                        f"{len(movers) and 8} period-on-period changes)")
    for c in ("kpi", "segment", "previous", "current", "change", "z", "verdict"):
        t.add_column(c, justify="left" if c in ("kpi", "segment", "verdict") else "right")
    for m in flagged.itertuples(index=False):
        color = "green" if m.direction == "better" else "red"
        t.add_row(m.kpi, m.segment, _num(m.previous, m.unit), _num(m.current, m.unit),
                  _num(m.change, m.unit), f"{m.z:+.1f}", f"[{color}]{m.direction}[/]")
    out.print(t if len(flagged) else "No KPI moved beyond its normal variation.")
    for name, d in r.decompositions.items():
        tot_mix, tot_rate = d.groupby("dimension")[["mix", "rate"]].sum().iloc[0]
        top = d.loc[d.rate.abs().idxmax()]
        out.print(f"[bold]{name}[/bold]: change {tot_mix + tot_rate:+.4f} = mix "
                  f"{tot_mix:+.4f} + rate {tot_rate:+.4f}; largest rate effect: "
                  f"{top.dimension} {top.segment} {top.rate:+.4f} "
                  f"({top.rate_0:.2%} -> {top.rate_1:.2%})", highlight=False)


def _print_frame(df: Any, title: str, pct: tuple[str, ...] = ()) -> None:
    t = RichTable(title=title)
    for c in df.columns:
        t.add_column(str(c), justify="left" if df[c].dtype == object else "right")
    for r in df.itertuples(index=False):
        t.add_row(*[(f"{v:.1%}" if c in pct and isinstance(v, float) and not math.isnan(v)
                     else _fmt_any(v)) for c, v in zip(df.columns, r, strict=True)])
    out.print(t)


@command(epilog="Example: growthloop funnel session_start product_view add_to_cart checkout "
                "purchase --by market")
def funnel(
    steps: Annotated[list[str], typer.Argument(help="Event types, in order.")],
    within: Annotated[str, typer.Option(help="session, or days (per user).")] = "session",
    days: Annotated[int, typer.Option(help="Window for --within days.")] = 7,
    by: Annotated[str | None, typer.Option(help="Dimensions, comma-separated.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Day after the last.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """An ordered funnel: units reaching each step, conversion, drop-off, median time."""
    from growthloop.metrics import funnel as run_funnel
    from growthloop.warehouse import connect, ibis_backend

    cfg, wh = _project(config)
    con = connect(wh, read_only=True)
    try:
        df = run_funnel(ibis_backend(con), cfg, steps, within=within, days=days,
                        by=_csv_list(by), start=start, end=end).execute()
    finally:
        con.close()
    if as_json:
        _print_json({"steps": steps, "within": within, "rows": _records(df)})
        return
    _print_frame(df, f"Funnel within {within if within == 'session' else f'{days} days'}",
                 pct=("conversion_from_previous", "conversion_from_first", "drop_off_rate"))


@command(epilog="Example: growthloop cohorts --cohort first_purchase --measure revenue")
def cohorts(
    cohort: Annotated[str, typer.Option(help="signup or first_purchase.")] = "signup",
    period: Annotated[str, typer.Option(help="day, week or month.")] = "month",
    measure: Annotated[str, typer.Option(help="users or revenue.")] = "users",
    periods: Annotated[int, typer.Option(min=1, help="Periods since the cohort.")] = 12,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """The retention triangle: each cohort's share still active (or revenue) by period."""
    from growthloop.metrics import retention, to_matrix
    from growthloop.warehouse import connect, ibis_backend

    cfg, wh = _project(config)
    con = connect(wh, read_only=True)
    try:
        df = retention(ibis_backend(con), cfg, cohort=cohort, period=period, measure=measure,
                       periods=periods).execute()
    finally:
        con.close()
    if as_json:
        _print_json({"cohort": cohort, "measure": measure, "rows": _records(df)})
        return
    m = to_matrix(df).reset_index()
    m.columns = [str(c)[:10] for c in m.columns]
    m[m.columns[0]] = m[m.columns[0]].astype(str).str[:10]
    _print_frame(m, f"{measure.capitalize()} retention by {cohort} cohort and {period}s since",
                 pct=tuple(m.columns[1:]))


@command(epilog="Example: growthloop schema --markdown > docs/data-model.md")
def schema(
    markdown: Annotated[bool, typer.Option("--markdown", help="The full reference.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the canonical tables and their columns."""
    if markdown:
        sys.stdout.write(data_model_markdown())
        return
    if as_json:
        _print_json({t.name: [{"name": c.name, "type": c.dtype, "required": c.required}
                              for c in t.columns] for t in TABLES.values()})
        return
    for t in TABLES.values():
        out.print(f"[bold]{t.name}[/bold]: {', '.join(t.column_names)}")


def main() -> None:  # pragma: no cover - console entry point
    app()


# registers clv, segments and ltv; attribution and roi
from growthloop import cli_attribution as _cli_attribution  # noqa: E402,F401
from growthloop import cli_value as _cli_value  # noqa: E402,F401
