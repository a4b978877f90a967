"""Experiment work a command does end to end: analyse the registry's experiments from the
warehouse (``growthloop.decide.experiments``), store each analysis, and record each
concluded experiment in the knowledge base (``growthloop.decide.knowledge``); analyse a
user's per-unit file; assign units to variants."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.decide.experiments import (
    ExperimentResult,
    analyze_experiment,
    analyze_sums,
    registered,
    save_result,
    sums_from_frame,
)
from growthloop.decide.knowledge import add_entry, entry_from_result
from growthloop.ingest.summaries import read_frame
from growthloop.models.experiments import assign_many
from growthloop.warehouse import Warehouse

__all__ = ["analyze_file", "analyze_registered", "assign_units"]


def analyze_registered(wh: Warehouse, ids: Sequence[str] | None = None, *,
                       as_of: dt.date | None = None, alpha: float = 0.05,
                       correction: str = "holm") -> tuple[list[ExperimentResult], list[str]]:
    """Analyse the registry's experiments (``ids``: those), store every analysis in
    ``experiment_results``, and add each concluded one (ended, with a verdict other than
    keep running) to the knowledge base once; returns the results and the new entries."""
    specs = registered(wh.cfg, ids)
    if not specs:
        raise InputError("no experiments in the registry; add [[experiments]] to "
                         "growthloop.toml (id, primary, start, end)")
    results, added = [], []
    for spec in specs:
        if as_of is not None and as_of <= spec.start:
            raise InputError(f"experiment {spec.id}: --as-of {as_of} is not after its start "
                             f"{spec.start}")
        r = analyze_experiment(wh.backend, wh.cfg, spec, as_of=as_of, alpha=alpha,
                               correction=correction)  # type: ignore[arg-type]
        day = min(spec.end, as_of) if as_of else spec.end
        save_result(wh.con, r, day)
        results.append(r)
        if r.ended and r.verdict != "keep running":
            entry = entry_from_result(r, spec)
            known = wh.con.execute("SELECT count(*) FROM knowledge WHERE entry_id = ?",
                                   [entry.entry_id]).fetchone()[0]
            if not known:
                added.append(add_entry(wh.con, entry, cfg=wh.cfg))
    return results, added


def analyze_file(path: str | Path, *, variant: str, metric: str, pre: str | None = None,
                 denominator: str | None = None, control: str = "control",
                 weights: Sequence[str] = (), direction: str = "up", alpha: float = 0.05,
                 correction: str = "holm") -> ExperimentResult:
    """Analyse a per-unit CSV or Parquet file (one row per unit): a fixed-horizon verdict
    on ``metric`` with the always-valid interval beside it. ``weights`` are
    ``variant=share`` texts (default: equal shares of the variants present)."""
    path = Path(path)
    if direction not in ("up", "down"):
        raise InputError(f"--direction {direction!r}: expected 'up' or 'down'")
    sums = sums_from_frame(read_frame(path), variant=variant, metric=metric, pre=pre,
                           denominator=denominator, source=str(path))
    names = [str(v) for v in sums.variant]
    if weights:
        shares = {}
        for w in weights:
            name, _, share = w.partition("=")
            try:
                shares[name.strip()] = float(share)
            except ValueError:
                raise InputError(f"--weights {w!r}: expected variant=share, e.g. "
                                 "control=0.5") from None
    else:
        shares = {v: 1 / len(names) for v in names}
    return analyze_sums({metric: sums}, experiment_id=path.name, weights=shares,
                        control=control, roles={metric: "primary"},
                        directions={metric: direction}, ended=True, planned_units=None,
                        alpha=alpha, correction=correction)  # type: ignore[arg-type]


def assign_units(cfg: Config, experiment: str, unit_ids: Sequence[str]) -> list[dict]:
    """Each unit's variant in a registered experiment (``assign_many`` on its salt)."""
    spec = cfg.experiment(experiment)
    variants = list(spec.variants)
    got = assign_many(spec.salt or spec.id, list(unit_ids),
                      [spec.variants[v] for v in variants], variants)
    return [{"unit_id": u, "variant": str(v)} for u, v in zip(unit_ids, got, strict=True)]
