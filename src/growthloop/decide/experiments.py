"""Experiment verdicts: every variant against control, per metric, overall and per market,
from per-variant sufficient statistics only.

For each metric (a catalog KPI measured per unit, ``growthloop.metrics.experiments``, or
a column of a user's per-unit file) and segment (``all``, and each market):

- ``lift``: the relative difference ``mean_t / mean_c - 1`` with its Welch interval and
  p-value (the delta method for ratio metrics); ``cuped_*``: the same after CUPED with a
  pooled theta where a pre-period covariate varies, with the variance reduction achieved;
- ``chance_to_win`` and ``risk`` (expected relative loss of shipping the variant) from
  the Gaussian posterior of the lift;
- ``seq_*``: the always-valid interval and p-value, tuned for the planned units; with a
  registry's ``planned_units`` it is calibrated for the planned reads (``looks``,
  default one a day from start to end: ``growthloop.models.experiments.sequential``),
  without, valid at any number of reads;
- ``p_adjusted``: the decision p-value (sequential while the experiment runs, CUPED or
  Welch once it has ended) adjusted by Holm (default) or Benjamini-Hochberg within its
  family: the primary metric over all units is one family across the variants (the
  pre-registered test), every other metric x segment of a variant another.

The verdict reads the primary metric of the ``all`` segment: ``invalid`` when the
sample-ratio check fails (p < ``SRM_THRESHOLD``) — no other figure is trusted then —;
``don't ship`` when a guardrail moves the bad way significantly or the primary does;
``ship`` when the primary moves the good way significantly (the KPI's ``direction``);
otherwise ``keep running`` before the end and ``don't ship`` (no detectable effect)
after it. Each verdict comes with its reason in words.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config, ExperimentSpec
from growthloop.core.errors import InputError
from growthloop.metrics.compile import catalog
from growthloop.metrics.experiments import assignment_counts, variant_sums_many
from growthloop.models.experiments import (
    MAX_LOOKS,
    SRM_THRESHOLD,
    MeanSums,
    RatioSums,
    bayesian_test,
    benjamini_hochberg,
    cuped_test,
    holm,
    mde,
    sample_size,
    sequential_sample_size,
    sequential_test,
    srm_p_value,
    welch_test,
)
from growthloop.models.experiments import power as power_at
from growthloop.warehouse import transaction
from growthloop.warehouse.store import insert_frame

__all__ = ["RESULT_COLUMNS", "ExperimentResult", "Verdict", "analyze_experiment",
           "analyze_sums", "plan_experiment", "registered", "save_result", "sums_from_frame",
           "sums_from_row"]

Verdict = Literal["ship", "don't ship", "keep running", "invalid"]


def _pre_usable(r: Any) -> bool:
    """Whether a row's pre-period sums can adjust it: they vary, and a ratio's pre-period
    denominator is positive (units new to the shop have no pre-period: no CUPED)."""
    if not bool(r.has_pre) or r.n < 2:
        return False
    varies = r.px_sq - r.px_sum * r.px_sum / r.n > 1e-12 * max(abs(r.px_sq), 1.0)
    return bool(varies and (r.kind == "mean" or r.pd_sum > 0))


def sums_from_row(r: Any, *, pre: bool) -> MeanSums | RatioSums:
    """The sufficient statistics of one row of ``variant_sums`` (with its pre-period
    sums when ``pre``)."""
    if r.kind == "mean":
        extra = ({"pre_sum": r.px_sum, "pre_sum_sq": r.px_sq, "pre_cross": r.x_px}
                 if pre else {})
        return MeanSums(n=int(r.n), sum=float(r.x_sum), sum_sq=float(r.x_sq),
                        **{k: float(v) for k, v in extra.items()})
    extra = ({"pre_num_sum": r.px_sum, "pre_num_sum_sq": r.px_sq, "pre_den_sum": r.pd_sum,
              "pre_den_sum_sq": r.pd_sq, "pre_num_den_sum": r.ppd,
              "num_pre_num_sum": r.x_px, "num_pre_den_sum": r.x_pd,
              "den_pre_num_sum": r.d_px, "den_pre_den_sum": r.d_pd} if pre else {})
    return RatioSums(n=int(r.n), num_sum=float(r.x_sum), num_sum_sq=float(r.x_sq),
                     den_sum=float(r.d_sum), den_sum_sq=float(r.d_sq),
                     num_den_sum=float(r.xd), **{k: float(v) for k, v in extra.items()})


def sums_from_frame(df: pd.DataFrame, *, variant: str, metric: str,
                    pre: str | None = None, denominator: str | None = None,
                    source: str = "data") -> pd.DataFrame:
    """``variant_sums``-shaped rows from a user's per-unit table (one row per unit): the
    metric (numerator), optionally its denominator and the pre-period covariate."""
    cols = [variant, metric, *([pre] if pre else []), *([denominator] if denominator
                                                        else [])]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{source}: no column {', '.join(map(repr, missing))}; it has "
                         f"{', '.join(map(str, df.columns))}")
    df = df.reset_index(drop=True)
    vals = {}
    for c in cols[1:]:
        v = pd.to_numeric(df[c], errors="coerce")
        bad = ~np.isfinite(v.to_numpy(np.float64))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{source}: row {i + 1}, field {c!r}: value "
                             f"{df[c].iloc[i]!r}; expected a finite number")
        vals[c] = v.to_numpy(np.float64)
    if df[variant].isna().any():
        i = int(np.flatnonzero(df[variant].isna())[0])
        raise InputError(f"{source}: row {i + 1}, field {variant!r}: empty; expected a "
                         "variant name")
    x = vals[metric]
    d = vals[denominator] if denominator else np.ones(len(df))
    px = vals[pre] if pre else np.zeros(len(df))
    t = pd.DataFrame({"variant": df[variant].astype(str), "x": x, "d": d, "px": px,
                      "pd": np.zeros(len(df))})
    g = t.groupby("variant", sort=True)
    out = pd.DataFrame({
        "n": g.size(), "x_sum": g.x.sum(), "x_sq": g.x.apply(lambda s: (s * s).sum()),
        "d_sum": g.d.sum(), "d_sq": g.d.apply(lambda s: (s * s).sum()),
        "xd": (t.x * t.d).groupby(t.variant).sum(), "px_sum": g.px.sum(),
        "px_sq": (t.px * t.px).groupby(t.variant).sum(), "pd_sum": 0.0, "pd_sq": 0.0,
        "ppd": 0.0, "x_px": (t.x * t.px).groupby(t.variant).sum(),
        "x_pd": 0.0, "d_px": (t.d * t.px).groupby(t.variant).sum(), "d_pd": 0.0,
    }).reset_index()
    out.insert(1, "kind", "ratio" if denominator else "mean")
    out.insert(2, "has_pre", pre is not None)
    out.insert(0, "experiment_id", "data")
    return out


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else math.nan


#: The figures of a comparison, missing where a segment cannot be tested.
_STATS = ("lift", "lift_low", "lift_high", "p_value", "cuped_lift", "cuped_low", "cuped_high",
          "cuped_p", "variance_reduction", "theta", "chance_to_win", "risk", "seq_low",
          "seq_high", "seq_p")


def _compare(c: MeanSums | RatioSums, t: MeanSums | RatioSums, *, pre: bool,
             planned: float, alpha: float, looks: int | None) -> dict[str, float]:
    base = {"n_control": c.n, "n_variant": t.n, "mean_control": c.mean,
            "mean_variant": t.mean}
    try:
        w = welch_test(c, t, relative=True, alpha=alpha)
    except InputError:  # a zero control mean or no variance (a small segment): no test
        return {**base, **dict.fromkeys(_STATS, math.nan)}
    row = {"n_control": c.n, "n_variant": t.n, "mean_control": c.mean,
           "mean_variant": t.mean, "lift": w.estimate, "lift_low": w.ci_low,
           "lift_high": w.ci_high, "p_value": w.p_value}
    use_pre = pre and c.pre_variance > 0 and t.pre_variance > 0
    if use_pre:
        cu = cuped_test(c, t, relative=True, alpha=alpha)
        row.update(cuped_lift=cu.effect.estimate, cuped_low=cu.effect.ci_low,
                   cuped_high=cu.effect.ci_high, cuped_p=cu.effect.p_value,
                   variance_reduction=cu.variance_reduction, theta=cu.theta)
    else:
        row.update(cuped_lift=math.nan, cuped_low=math.nan, cuped_high=math.nan,
                   cuped_p=math.nan, variance_reduction=math.nan, theta=math.nan)
    b = bayesian_test(c, t, relative=True, alpha=alpha, cuped=use_pre)
    row.update(chance_to_win=b.chance_to_win, risk=b.risk_treatment)
    s = sequential_test(c, t, relative=True, alpha=alpha, planned_n=planned, cuped=use_pre,
                        looks=looks)
    row.update(seq_low=s.ci_low, seq_high=s.ci_high, seq_p=s.p_value)
    return {k: _finite(v) if isinstance(v, float) else v for k, v in row.items()}


@dataclass(frozen=True)
class ExperimentResult:
    """An experiment's analysis: the sample-ratio check, one row per metric x segment x
    variant (``rows``), the verdict with its reason, and the variant it concerns."""

    experiment_id: str
    counts: dict[str, int]
    weights: dict[str, float]
    srm_p: float
    rows: pd.DataFrame
    verdict: Verdict
    reason: str
    variant: str | None
    ended: bool
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"experiment_id": self.experiment_id, "verdict": self.verdict,
                "reason": self.reason, "variant": self.variant, "ended": self.ended,
                "srm": {"p_value": self.srm_p, "threshold": SRM_THRESHOLD,
                        "counts": self.counts, "expected_shares": self.weights},
                **self.settings}


def _fmt(x: float) -> str:
    return f"{x:+.1%}"


def analyze_sums(sums: dict[str, pd.DataFrame], *, experiment_id: str,
                 weights: dict[str, float], control: str, roles: dict[str, str],
                 directions: dict[str, str], ended: bool, planned_units: float | None,
                 alpha: float = 0.05, correction: Literal["holm", "bh"] = "holm",
                 counts: dict[str, int] | None = None, looks: int | None = None
                 ) -> ExperimentResult:
    """The analysis of one experiment from ``variant_sums`` frames per metric (rows with
    a ``market`` column add per-market segments); ``roles`` maps each metric to
    ``primary``, ``secondary`` or ``guardrail``, ``directions`` to ``up`` or ``down``;
    ``looks``: the planned reads the always-valid test is calibrated for (None: valid
    at any number of reads)."""
    if not 0 < alpha < 0.5:
        raise InputError(f"alpha = {alpha!r}: expected a level in (0, 0.5), e.g. 0.05")
    if correction not in ("holm", "bh"):
        raise InputError(f"correction = {correction!r}: expected 'holm' or 'bh'")
    primary = [m for m, r in roles.items() if r == "primary"]
    if len(primary) != 1:
        raise InputError(f"roles: expected exactly one primary metric; got {primary}")
    first = sums[primary[0]]
    overall = first[first.get("market", pd.Series(["all"] * len(first))) == "all"] if (
        "market" in first) else first
    if counts is None:
        counts = {str(r.variant): int(r.n) for r in overall.itertuples()}
    unknown = sorted(set(counts) - set(weights))
    if unknown:
        raise InputError(f"experiment {experiment_id}: variant {unknown[0]!r} is not in the "
                         f"registry's variants ({', '.join(weights)})")
    if control not in counts:
        raise InputError(f"experiment {experiment_id}: no unit of the control "
                         f"{control!r}; variants seen: {', '.join(counts) or 'none'}")
    names = list(weights)
    srm_p = srm_p_value([counts.get(v, 0) for v in names], [weights[v] for v in names])
    planned = float(planned_units or sum(counts.values()))
    rows = []
    for metric, df in sums.items():
        segments: dict[str, dict[str, SimpleNamespace]] = {}
        for rec in df.to_dict("records"):  # plain rows: pandas per row is slow
            seg = str(rec.get("market", "all"))
            segments.setdefault(seg, {})[str(rec["variant"])] = SimpleNamespace(**rec)
        for seg in sorted(segments):
            by = segments[seg]
            if control not in by or by[control].n < 2:
                continue
            for v in names:
                if v == control or v not in by or by[v].n < 2:
                    continue
                pre = _pre_usable(by[control]) and _pre_usable(by[v])
                c = sums_from_row(by[control], pre=pre)
                t = sums_from_row(by[v], pre=pre)
                rows.append({"metric": metric, "role": roles[metric], "segment": seg,
                             "variant": v, **_compare(c, t, pre=pre, planned=planned,
                                                      alpha=alpha, looks=looks)})
    table = pd.DataFrame(rows)
    if table.empty:
        raise InputError(f"experiment {experiment_id}: no variant has two units beside "
                         "the control; nothing to compare")
    # the decision p-value: always valid while running, the fixed horizon once ended
    fixed = table.cuped_p.where(table.cuped_p.notna(), table.p_value)
    table["decision_p"] = fixed if ended else table.seq_p
    adjust = holm if correction == "holm" else benjamini_hochberg
    # families: the pre-registered primary over all units, across variants; every
    # other metric x segment of a variant together
    lead = (table.role == "primary") & (table.segment == "all")
    table["family"] = np.where(lead, "primary", "variant " + table.variant.astype(str))
    table["p_adjusted"] = np.nan
    tested = table.decision_p.notna()  # a segment that cannot be tested is no hypothesis
    for _, idx in table[tested].groupby("family").groups.items():
        table.loc[idx, "p_adjusted"] = adjust(table.loc[idx, "decision_p"].to_numpy())
    table["significant"] = table.p_adjusted < alpha
    sign = table.metric.map(lambda m: 1.0 if directions.get(m, "up") == "up" else -1.0)
    point = table.cuped_lift.where(table.cuped_lift.notna(), table.lift)
    table["good"] = table.significant & (sign * point > 0)
    table["bad"] = table.significant & (sign * point < 0)
    verdict, reason, which = _verdict(table, srm_p, counts, weights, ended, primary[0])
    return ExperimentResult(experiment_id=experiment_id, counts=counts, weights=weights,
                            srm_p=srm_p, rows=table, verdict=verdict, reason=reason,
                            variant=which, ended=ended,
                            settings={"alpha": alpha, "correction": correction,
                                      "planned_units": planned, "looks": looks})


def _verdict(t: pd.DataFrame, srm_p: float, counts: dict[str, int],
             weights: dict[str, float], ended: bool, primary: str
             ) -> tuple[Verdict, str, str | None]:
    if srm_p < SRM_THRESHOLD:
        total = sum(counts.values())
        seen = ", ".join(f"{v} {counts.get(v, 0) / total:.1%} (expected {w:.1%})"
                         for v, w in weights.items())
        return ("invalid", f"sample ratio mismatch (p = {srm_p:.2g} < {SRM_THRESHOLD}): "
                f"{seen}; fix the assignment before reading any result", None)
    top = t[t.segment == "all"]
    harm = top[(top.role == "guardrail") & top.bad]
    if len(harm):
        h = harm.iloc[0]
        return ("don't ship", f"guardrail {h.metric} moves the bad way in {h.variant}: "
                f"{_fmt(h.lift)} (adjusted p = {h.p_adjusted:.3g})", str(h.variant))
    prim = top[top.metric == primary]
    wins = prim[prim.good]
    if len(wins):
        best = wins.sort_values("chance_to_win", ascending=False).iloc[0]
        lo, hi = ((best.seq_low, best.seq_high) if not ended else
                  (best.cuped_low, best.cuped_high) if np.isfinite(best.cuped_low)
                  else (best.lift_low, best.lift_high))
        when = "" if ended else " (the always-valid test is already conclusive)"
        return ("ship", f"{primary} {_fmt(best.lift)} in {best.variant}, interval "
                f"{_fmt(lo)} to {_fmt(hi)}, adjusted p = {best.p_adjusted:.3g}{when}",
                str(best.variant))
    losses = prim[prim.bad]
    if len(losses):
        w = losses.iloc[0]
        return ("don't ship", f"{primary} moves the bad way in {w.variant}: {_fmt(w.lift)} "
                f"(adjusted p = {w.p_adjusted:.3g})", str(w.variant))
    p = prim.iloc[0]
    if ended:
        return ("don't ship", f"no detectable effect on {primary}: {_fmt(p.lift)}, "
                f"interval {_fmt(p.lift_low)} to {_fmt(p.lift_high)}", None)
    return ("keep running", f"{primary} {_fmt(p.lift)} so far, not yet conclusive "
            f"(always-valid interval {_fmt(p.seq_low)} to {_fmt(p.seq_high)})", None)


def analyze_experiment(backend: BaseBackend, cfg: Config, experiment: str | ExperimentSpec,
                       *, as_of: dt.date | None = None, by_market: bool = True,
                       pre_days: int = 28, alpha: float = 0.05,
                       correction: Literal["holm", "bh"] = "holm") -> ExperimentResult:
    """Analyse a registered experiment from the warehouse, its metrics counted up to
    ``as_of`` (default: its end) and per market."""
    spec = cfg.experiment(experiment) if isinstance(experiment, str) else experiment
    cat = catalog(cfg)
    for m in spec.metrics:
        if m not in cat:
            raise InputError(f"experiment {spec.id}: metric {m!r} is not a KPI of the "
                             f"catalog; expected one of {', '.join(sorted(cat))}")
    end = min(spec.end, as_of) if as_of else spec.end
    frame = pd.DataFrame({"experiment_id": [spec.id], "end": [end]})
    sums = variant_sums_many(backend, cfg, spec.metrics, frame, pre_days=pre_days)
    if by_market:
        per = variant_sums_many(backend, cfg, spec.metrics, frame, by_market=True,
                                pre_days=pre_days)
        for m in spec.metrics:
            p = per[m] if not spec.markets else per[m][per[m].market.isin(spec.markets)]
            sums[m] = pd.concat([sums[m].assign(market="all"), p], ignore_index=True)
    counts_df = assignment_counts(backend, [spec.id])
    counts = {str(r.variant): int(r.units) for r in counts_df.itertuples()}
    if not counts:
        raise InputError(f"experiment {spec.id}: no assignments in the warehouse; load "
                         "experiment_assignments")
    roles = {m: ("primary" if m == spec.primary else "guardrail" if m in spec.guardrails
                 else "secondary") for m in spec.metrics}
    directions = {m: cat[m].direction or "up" for m in spec.metrics}
    ended = as_of is None or as_of >= spec.end
    # daily reads from start to end unless the registry plans others
    looks = spec.looks or min((spec.end - spec.start).days, MAX_LOOKS)
    result = analyze_sums(sums, experiment_id=spec.id, weights=dict(spec.variants),
                          control=spec.control, roles=roles, directions=directions,
                          ended=ended, planned_units=spec.planned_units, alpha=alpha,
                          correction=correction, counts=counts,
                          looks=looks if spec.planned_units else None)
    return result


def registered(cfg: Config, ids: Sequence[str] | None = None) -> list[ExperimentSpec]:
    """The registry's experiments (``ids``: those, in that order)."""
    return [cfg.experiment(i) for i in ids] if ids else list(cfg.experiments)


#: Columns of ``experiment_results`` (``save_result``).
RESULT_COLUMNS = ("experiment_id", "analyzed_at", "as_of", "verdict", "reason", "metric",
                  "role", "segment", "variant", "n_control", "n_variant", "mean_control",
                  "mean_variant", "lift", "lift_low", "lift_high", "p_value", "cuped_lift",
                  "cuped_low", "cuped_high", "variance_reduction", "chance_to_win", "risk",
                  "seq_low", "seq_high", "seq_p", "p_adjusted", "srm_p")


def save_result(con: Any, result: ExperimentResult, as_of: dt.date) -> int:
    """Append an analysis to ``experiment_results`` (one row per metric x segment x
    variant, replacing an analysis of the same experiment and ``as_of``); rows written."""
    t = result.rows.assign(
        experiment_id=result.experiment_id, as_of=as_of, verdict=result.verdict,
        reason=result.reason, srm_p=result.srm_p,
        analyzed_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    with transaction(con):
        con.execute("DELETE FROM experiment_results WHERE experiment_id = ? AND as_of = ?",
                    [result.experiment_id, as_of])
        insert_frame(con, "experiment_results", t, RESULT_COLUMNS,
                     {"as_of": "DATE", "n_control": "BIGINT", "n_variant": "BIGINT"})
    return len(t)


def plan_experiment(baseline: float, *, sd: float | None = None,
                    relative_mde: float | None = None, units: float | None = None,
                    alpha: float = 0.05, power: float = 0.8, treatment_share: float = 0.5,
                    looks: int | None = None) -> dict[str, Any]:
    """The sample size for ``relative_mde`` (fixed horizon and sequential, with ``looks``
    planned reads), or with ``units`` the smallest detectable effect and the power at
    ``relative_mde``; ``sd=None``: the baseline is a conversion rate."""
    if relative_mde is None and units is None:
        raise InputError("give the effect to detect (--mde) or the units available "
                         "(--units), or both")
    out: dict[str, Any] = {"baseline": baseline, "sd": sd, "alpha": alpha, "power": power,
                           "treatment_share": treatment_share, "looks": looks}
    kw = {"sd": sd, "alpha": alpha, "treatment_share": treatment_share}
    if relative_mde is not None:
        n = sample_size(baseline, relative_mde, power=power, **kw)
        seq = sequential_sample_size(baseline, relative_mde, power=power, looks=looks, **kw)
        arms = (math.ceil(n * (1 - treatment_share)), math.ceil(n * treatment_share))
        out.update(relative_mde=relative_mde, units_fixed=sum(arms),
                   control_units_fixed=arms[0], treatment_units_fixed=arms[1],
                   units_sequential=math.ceil(seq), sequential_cost=seq / n)
    if units is not None:
        out.update(units=units, detectable_effect=mde(units, baseline, power=power, **kw))
        if relative_mde is not None:
            out["power_at_mde"] = power_at(units, baseline, relative_mde, **kw)
    return out
