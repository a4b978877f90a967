"""The re-allocation loop: each channel's observed return against the model's expectation,
flagged shifts, and the next period's plan with a reason for every change.

A step at ``as_of`` (the first day it does not see) works on 7-day blocks ending there
(block 0 is the last 7 days), for each market x channel ``p``:

- ``m_pb``: the outcome the stored marketing-mix fit (``growthloop.decide.media``) expects
  from the block's actual spend: ``ceiling * hill(a_b, half_spend, shape)`` with the
  adstock ``a_b = alpha a_{b-1} + (1 - alpha) x_b`` (weekly curves, 8 blocks of burn-in
  from the steady state);
- ``o_pb``: the outcome the warehouse credits to the channel (the target KPI by
  ``channel``: for ``new_users`` the sign-ups whose acquisition channel it is);
- the calibration ``r_p = sum o / sum m`` over the ``reference`` blocks before the window
  (attribution and causal contribution differ by a pair-specific factor: referrals,
  organic users who also clicked), the expectation ``e = r_p m``, and the overdispersion
  ``phi_p = max(1, mean (o - e)^2 / e)`` over the ``2 * reference`` blocks before the
  window (quasi-Poisson, McCullagh and Nelder 1989, sec. 4.5);
- over the evaluation window (the cadence's last ``window`` days: 7 for daily and weekly,
  28 for monthly), and over the last two windows (a shift that began a step ago, too
  small to see in one), the performance ``O / E`` and ``z = (O - E) / sqrt(phi E)``. A
  pair is flagged as *shifted* when ``|z| >= z_crit`` and ``|O / E - 1| >= min_shift``
  on either (the shorter first).

The variance of ``E`` adds to ``phi E`` the spread of the expectation over the fit's
posterior draws (each draw calibrated on the same blocks): where spend moves to a level
the model knows badly, the draws disagree and a move of the outcome is not taken for a
shift, while at steady spend they agree and the test keeps its power.

A shift stays active from the first window flagged (``shift_since``) for as long as its
performance measured over every block since then stays significant, for at most
``reference`` weeks (after which the blocks since it are the reference: the new normal).
Its reference is the blocks before ``shift_since`` and its factor is re-estimated each
step on all blocks since.
The plan of the step scales the shifted pairs' curves (ceiling, every draw) by their
factor, takes each pair's spend per week over the window as ``current`` and the adstock
after block 0 as its carry, and solves ``growthloop.decide.budget.plan_budget`` (the step
limit, the exploration reserve). The model is refitted (panel of the days before
``as_of``, stored under a new version) when the fit's last period is more than
``refit_days`` old and no shift is active: a refit while a shift is active would average
the periods before and after it, so the shifted pair is updated instead.

Every step writes its rows to ``budget_plans`` (replacing a step of the same ``as_of``,
cadence and target) with the reason of each change.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from growthloop.core.errors import InputError
from growthloop.decide.budget import BudgetPlan, hill, make_curves, plan_budget
from growthloop.decide.media import (
    fit_mmm,
    is_money_target,
    latest_fit,
    mmm_panel,
    save_fit,
)
from growthloop.metrics.compile import catalog, compile_kpi, kpi_dimensions
from growthloop.warehouse import Warehouse, transaction
from growthloop.warehouse.media_store import StoredMMM, read_mmm
from growthloop.warehouse.store import insert_frame

__all__ = ["CADENCES", "LoopStep", "day_after_spend", "loop_step", "run_loop"]

#: Days between steps and days of the evaluation window, per cadence.
CADENCES: dict[str, tuple[int, int]] = {"daily": (1, 7), "weekly": (7, 7),
                                        "monthly": (28, 28)}
_BURN_IN = 8
PLAN_COLUMNS = ("as_of", "cadence", "target", "market", "channel", "current", "planned",
                "change_share", "observed", "expected", "performance", "z", "shifted",
                "shift_since", "reason", "model_version", "created_at")


@dataclass(frozen=True)
class LoopStep:
    """One step: ``performance`` per pair (``observed``, ``expected``, ``performance`` =
    observed / expected, ``z``, ``shifted``, ``shift_since``, ``factor``), the ``plan``
    for the period from ``as_of`` and the ``reasons`` per pair, the fit it used."""

    as_of: dt.date
    cadence: str
    fit: StoredMMM
    refitted: bool
    performance: pd.DataFrame
    plan: BudgetPlan
    reasons: pd.Series

    @property
    def flagged(self) -> list[tuple[str, str]]:
        p = self.performance
        return list(zip(p.market[p.shifted], p.channel[p.shifted], strict=True))


def _daily(wh: Warehouse, target: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Spend and the credited outcome per market, channel and day in ``[start, end)``."""
    kpi = catalog(wh.cfg)[target]
    if "channel" not in kpi_dimensions(kpi, catalog(wh.cfg)):
        raise InputError(f"target {target!r} has no channel dimension, so a channel's "
                         "observed return cannot be followed; choose new_users")
    frames = []
    for name, col in (("spend", "spend"), (target, "observed")):
        df = compile_kpi(name, wh.backend, wh.cfg, grain="day", by=["market", "channel"],
                         start=start, end=end).execute()
        frames.append(df.rename(columns={"value": col})[["market", "channel", "period",
                                                        col]])
    out = frames[0].merge(frames[1], on=["market", "channel", "period"], how="left")
    out["observed"] = out.observed.fillna(0.0)
    out["day"] = pd.to_datetime(out.period).dt.date
    return out


def _blocks(daily: pd.DataFrame, pairs: pd.MultiIndex, as_of: dt.date, n: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Spend and observed outcome per pair and 7-day block, oldest first: (pairs, n)."""
    age = np.array([(as_of - d).days for d in daily.day]) - 1
    block = n - 1 - age // 7
    keep = (block >= 0) & (block < n)
    d = daily[keep].assign(block=block[keep])
    spend, obs = np.zeros((len(pairs), n)), np.zeros((len(pairs), n))
    idx = pairs.get_indexer(pd.MultiIndex.from_arrays([d.market, d.channel]))
    ok = idx >= 0
    np.add.at(spend, (idx[ok], d.block.to_numpy()[ok]), d.spend.to_numpy()[ok])
    np.add.at(obs, (idx[ok], d.block.to_numpy()[ok]), d.observed.to_numpy()[ok])
    return spend, obs


def _expected(spend: np.ndarray, ceiling: np.ndarray, half: np.ndarray, shape: np.ndarray,
              alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Modelled outcome per block and the adstock after each, from the steady state of
    the first block's spend; parameters (..., pairs) broadcast against spend (pairs, n)."""
    a = np.broadcast_to(spend[:, 0], np.broadcast_shapes(alpha.shape, spend[:, 0].shape))
    ads = []
    for b in range(spend.shape[1]):
        a = alpha * a + (1.0 - alpha) * spend[:, b]
        ads.append(a)
    adstock = np.stack(ads, axis=-1)
    return ceiling[..., None] * hill(adstock, half[..., None], shape[..., None]), adstock


def _assess(obs: np.ndarray, m: np.ndarray, m_draws: np.ndarray, lo: int, hi: int,
            reference: int, before: int | None = None) -> dict[str, float]:
    """Observed against expected over blocks ``[lo, hi)``, calibrated on the
    ``reference`` blocks before ``before`` (default ``lo``), with the spread of the
    expectation over the posterior draws ``m_draws`` (draws, blocks) in its variance
    (module notes)."""
    before = lo if before is None else before
    base = slice(max(before - reference, 0), before)
    wide = slice(max(before - 2 * reference, 0), before)  # phi: a steadier estimate
    if not m[base].sum() > 0:
        return {"observed": float(obs[lo:hi].sum()), "expected": math.nan,
                "performance": math.nan, "z": 0.0}
    r = obs[base].sum() / m[base].sum()
    e_base = r * m[wide]
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.where(e_base > 0, (obs[wide] - e_base) ** 2 / e_base, np.nan)
        r_draws = obs[base].sum() / m_draws[:, base].sum(axis=1)
    phi = max(1.0, float(np.nanmean(dev))) if np.isfinite(dev).any() else 1.0
    o_sum, e_sum = float(obs[lo:hi].sum()), float(r * m[lo:hi].sum())
    spread = r_draws * m_draws[:, lo:hi].sum(axis=1)
    var = phi * e_sum + (float(np.var(spread[np.isfinite(spread)]))
                         if np.isfinite(spread).sum() > 1 else 0.0)
    if not e_sum > 0:
        return {"observed": o_sum, "expected": e_sum, "performance": math.nan, "z": 0.0}
    return {"observed": o_sum, "expected": e_sum, "performance": o_sum / e_sum,
            "z": (o_sum - e_sum) / math.sqrt(var)}


def _previous_shifts(wh: Warehouse, as_of: dt.date, cadence: str, target: str
                     ) -> dict[tuple[str, str], dt.date]:
    rows = wh.con.execute(
        "SELECT market, channel, shift_since FROM budget_plans WHERE cadence = ? AND "
        "target = ? AND as_of = (SELECT max(as_of) FROM budget_plans WHERE cadence = ? "
        "AND target = ? AND as_of < ?) AND shifted", [cadence, target, cadence, target,
                                                      as_of]).fetchall()
    return {(m, c): pd.Timestamp(s).date() for m, c, s in rows}


def _reason(row: pd.Series, perf: pd.Series, target: str, mean_marginal: float) -> str:
    """Why the pair's spend moves (or not), in one line."""
    parts = []
    if perf.shifted:
        parts.append(f"return shifted: {perf.performance:.2f}x the model's expectation "
                     f"since {perf.shift_since} (z = {perf.z:+.1f}); curve scaled by "
                     f"{perf.factor:.2f}")
    if row.current <= 0:
        return "; ".join([*parts, "no spend now: kept at 0 (the exploration reserve is "
                          "for new pairs)"])
    move = f"spend {row.change_share:+.0%}"
    if row.binds:
        move += f" ({row.binds} binds)"
    rel = row.marginal / mean_marginal if mean_marginal > 0 else math.nan
    parts.append(f"{move}: the next unit brings {row.marginal:.3g} {target}, "
                 f"{rel:.2f}x the plan's spend-weighted average")
    return "; ".join(parts)


def loop_step(wh: Warehouse, as_of: dt.date, *, cadence: str = "weekly",
              target: str = "new_users", reference: int = 12, z_crit: float = 3.5,
              min_shift: float = 0.15, refit_days: int = 28, max_step: float | None = 0.2,
              exploration_share: float = 0.05, total: float | None = None,
              draws: int = 300, seed: int = 0) -> LoopStep:
    """One step of the loop at ``as_of`` (module notes); writes it to ``budget_plans``."""
    if cadence not in CADENCES:
        raise InputError(f"cadence {cadence!r}: expected one of {', '.join(CADENCES)}")
    if not (isinstance(reference, int) and reference >= 4):
        raise InputError(f"reference must be a whole number of weeks >= 4; got "
                         f"{reference!r}")
    _, window_days = CADENCES[cadence]
    window = window_days // 7
    # a shift older than the reference is the new normal: the reference now follows it
    shifts = {k: v for k, v in _previous_shifts(wh, as_of, cadence, target).items()
              if (as_of - v).days < 7 * reference}
    fit = latest_fit(wh, target=target, grain_days=7, before=as_of)
    refitted = False
    stale = fit is None or (as_of - fit.last_period).days - 7 > refit_days
    if stale and (fit is None or not shifts):
        money = is_money_target(wh.cfg, target)
        model, table = fit_mmm(mmm_panel(wh.backend, wh.cfg, target=target, end=as_of),
                               draws=draws, seed=seed, money_target=money)
        fit, refitted = read_mmm(wh.con, save_fit(wh, model, table, money=money)), True
    point = fit.point.set_index(["market", "channel"]).sort_index()
    pairs = point.index
    since = {k: v for k, v in shifts.items() if k in pairs}
    oldest = min([as_of - dt.timedelta(days=7 * (2 * reference + 2 * window))]
                 + [d - dt.timedelta(days=7 * 2 * reference) for d in since.values()])
    n = (as_of - oldest).days // 7 + _BURN_IN
    start = as_of - dt.timedelta(days=7 * n)
    spend, obs = _blocks(_daily(wh, target, start, as_of), pairs, as_of, n)
    cols = {k: point[k].to_numpy() for k in ("ceiling", "half_spend", "shape", "alpha")}
    m, adstock = _expected(spend, cols["ceiling"], cols["half_spend"], cols["shape"],
                           cols["alpha"])
    d = fit.draws.sort_values(["draw", "market", "channel"])
    k = d.draw.nunique()
    shaped = {c: d[c].to_numpy().reshape(k, len(pairs)) for c in
              ("ceiling", "half_spend", "shape", "alpha")}
    m_draws, draw_ads = _expected(spend, shaped["ceiling"], shaped["half_spend"],
                                  shaped["shape"], shaped["alpha"])
    block_start = [as_of - dt.timedelta(days=7 * (n - b)) for b in range(n)]
    rows = []
    for i, key in enumerate(pairs):
        if key in since:  # an active shift: every block since it, its reference before
            first = next((b for b in range(n) if block_start[b] >= since[key]), n - window)
            tests = [(first, n)]
        else:  # the last window (reported), and the last two (tested)
            tests = [(n - window, n), (n - 2 * window, n)]
        best = None
        for lo, hi in tests:
            got = _assess(obs[i], m[i], m_draws[:, i], lo, hi, reference)
            passed = abs(got["z"]) >= z_crit and abs(got["performance"] - 1) >= min_shift
            if key not in since:  # a new shift must hold in each window on its own
                passed = passed and hi - lo == 2 * window and all(
                    np.sign(got["z"]) * (w["performance"] - 1) >= min_shift for w in (
                        _assess(obs[i], m[i], m_draws[:, i], a, a + window, reference, lo)
                        for a in (lo, lo + window)))
            if best is None or (passed and not best[1]):
                best = (got, passed, lo)
        got, shifted, lo = best
        rows.append({"market": key[0], "channel": key[1], **got, "shifted": shifted,
                     "shift_since": since.get(key, block_start[lo]) if shifted else None,
                     "factor": got["performance"] if shifted else 1.0})
    performance = pd.DataFrame(rows)
    factor = performance.factor.to_numpy()
    table = point.reset_index()
    table["ceiling"] = table.ceiling * factor
    table["current"] = spend[:, n - window:].mean(axis=1)
    table["carry"] = adstock[:, -1]
    d = d.assign(ceiling=(shaped["ceiling"] * factor).ravel(),
                 carry=draw_ads[..., -1].ravel())
    curves = make_curves(table, d, target=target)
    budget = float(curves.table.current.sum()) if total is None else total
    plan = plan_budget(curves, budget, {"max_step": max_step,
                                        "exploration_share": exploration_share}, seed=seed)
    t = plan.table
    mean_marginal = float(np.average(t.marginal, weights=np.maximum(t.planned, 1e-12)))
    perf_by = performance.set_index(["market", "channel"])
    reasons = pd.Series([_reason(r, perf_by.loc[(r.market, r.channel)], target,
                                 mean_marginal) for r in t.itertuples(index=False)],
                        index=pd.MultiIndex.from_frame(t[["market", "channel"]]))
    step = LoopStep(as_of=as_of, cadence=cadence, fit=fit, refitted=refitted,
                    performance=performance, plan=plan, reasons=reasons)
    _write(wh, step, target)
    return step


def _write(wh: Warehouse, step: LoopStep, target: str) -> None:
    t = step.plan.table.merge(step.performance, on=["market", "channel"])
    t = t.assign(as_of=step.as_of, cadence=step.cadence, target=target,
                 reason=step.reasons.to_numpy(), model_version=step.fit.version,
                 created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    with transaction(wh.con):
        wh.con.execute("DELETE FROM budget_plans WHERE as_of = ? AND cadence = ? AND "
                       "target = ?", [step.as_of, step.cadence, target])
        insert_frame(wh.con, "budget_plans", t, PLAN_COLUMNS,
                     {"as_of": "DATE", "shift_since": "DATE", "shifted": "BOOLEAN"})


def day_after_spend(wh: Warehouse) -> dt.date:
    """The day after the last with a row of ad spend (a step's default ``as_of``)."""
    t = wh.backend.table("ad_spend")
    day = t.aggregate(last=t.date.max()).execute()["last"].iloc[0]
    if pd.isna(day):
        raise InputError("ad_spend has no rows; the loop needs spend per channel")
    return pd.Timestamp(day).date() + dt.timedelta(days=1)


def run_loop(wh: Warehouse, as_of: dt.date, *, steps: int = 1, cadence: str = "weekly",
             **settings: object) -> list[LoopStep]:
    """``steps`` steps of the loop ending at ``as_of`` (the earlier ones replayed on the
    data before their own day), oldest first; ``settings`` go to ``loop_step``."""
    if not (isinstance(steps, int) and steps >= 1):
        raise InputError(f"steps must be a whole number >= 1; got {steps!r}")
    if cadence not in CADENCES:
        raise InputError(f"cadence {cadence!r}: expected one of {', '.join(CADENCES)}")
    every = CADENCES[cadence][0]
    days = [as_of - dt.timedelta(days=every * k) for k in range(steps - 1, -1, -1)]
    return [loop_step(wh, d, cadence=cadence, **settings) for d in days]  # type: ignore[arg-type]
