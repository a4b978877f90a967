"""The budget optimiser: the split of a budget across markets and channels that gets the
most outcome (or profit) out of the fitted response curves, within named constraints.

Curves. A pair ``p = (market, channel)`` spending ``s`` per period, every period, returns
the steady state of the marketing-mix model (``growthloop.models.mmm``; adstock is
normalised, so a constant spend is its own adstock)::

    f_p(s) = ceiling_p * hill(s, half_spend_p, shape_p),   hill(s, k, S) = s^S / (s^S + k^S)
    f_p'(s) = ceiling_p * S * h (1 - h) / s                 (h = hill(s, k, S))

(Jin et al. 2017, eqs. 1 and 3; ``MediaMixModel.curve_parameters``). With ``S > 1`` the
curve is S-shaped: convex below ``k ((S - 1) / (S + 1))^(1/S)``, where ``f'`` peaks.

Future periods. Over the next ``H`` periods at a constant spend ``s``, from the adstock
``a_0`` that past spend leaves (``a_0 = (1 - alpha) sum_l alpha^l x_{T-l}``, the last
fitted period first), the adstock ``a_t = alpha a_{t-1} + (1 - alpha) s`` is::

    a_t = s + alpha^t (a_0 - s),   t = 1..H,   outcome = sum_t f_p(a_t)

so carry-over of past spend adds to the first periods and new spend builds up; effects
after period ``H`` are not counted. Without a horizon the outcome is per period. The
spend is per period either way (a quarter's budget ``B`` over 13 weeks is ``total = B /
13`` with ``horizon=13``), and profit over a horizon is ``v sum_t ... - H sum_p s_p``.

Problem. Maximise ``v sum_p f_p(s_p)`` (``objective="outcome"``) or ``v sum_p f_p(s_p) -
sum_p s_p`` (``"profit"``; ``v = value_per_outcome``: 1 for revenue, the value of one
outcome, say a new customer's margin CLV, for a count) subject to, all in spend per period:

- the budget ``total * (1 - exploration_share)``: the exploration reserve is kept out of
  the plan (for tests the plan does not choose) and reported on its own; the budget is
  spent in full for ``"outcome"`` without a marginal-ROI floor, otherwise it is a ceiling
  and what is left is reported as unallocated;
- ``pair_min`` / ``pair_max`` (market -> channel -> spend), ``channel_min`` /
  ``channel_max`` (a channel's total over all markets), ``market_min`` / ``market_max``
  (a market's total over its channels);
- mix rules: the share of a group of channels in one market's spend (or all markets'
  with ``market=None``) within ``[min_share, max_share]``;
- ``max_step``: each pair within ``current * (1 +- max_step)`` (a pair at zero stays at
  zero: that is what the exploration reserve is for);
- ``min_marginal_roi``: no pair is given spend past the point where its marginal ROI
  ``v f_p'(s) - 1`` (``growthloop.core.glossary.roi`` of the next unit, on the
  steady-state curve) falls below the floor (a pair whose curve never reaches it gets
  nothing), except that a pair's own minimum (``pair_min``, ``max_step``) comes first:
  such a pair is held at that minimum and the floor is reported as binding.

Every constraint is linear in the spend, so feasibility is decided exactly before solving:
closed-form checks name the usual conflicts, and a linear program with a deletion filter
(Chinneck and Dravnieks 1991) names a minimal conflicting set otherwise. The objective is
concave only for ``S <= 1``, so SLSQP (Kraft 1988) runs from several starts (the LP's
feasible point, the current plan, an equal split, a greedy allocation by return per unit
over the next steps, and two seeded random splits) with the analytic gradient; the best
plan that meets every constraint within ``1e-6`` of the budget is kept, and a constraint
within ``1e-5`` of the budget of its limit is reported as binding. Pairs are sorted by
name before anything else, so the order of the curves never matters.

References
----------
.. [1] Jin, Y., Wang, Y., Sun, Y., Chan, D. and Koehler, J. (2017), "Bayesian methods for
   media mix modeling with carryover and shape effects", Google Inc.
.. [2] Kraft, D. (1988), "A software package for sequential quadratic programming",
   DFVLR-FB 88-28.
.. [3] Chinneck, J. W. and Dravnieks, E. W. (1991), "Locating minimal infeasible
   constraint sets in linear programs", ORSA Journal on Computing 3(2), 157-168.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy.special import expit

from growthloop.core.errors import GrowthloopError, InputError
from growthloop.models.mmm import MediaMixModel

__all__ = ["BudgetConstraints", "BudgetPlan", "InfeasibleBudgetError", "MixRule",
           "ResponseCurves", "budget_from_model", "carry_over_outcome", "curve_frames",
           "curves_from_model", "hill", "make_curves", "plan_budget"]

_PARAMS = ("ceiling", "half_spend", "shape", "alpha", "carry")
_TOL = 1e-6  # of the budget: constraint check after solving
_BIND = 1e-5  # of the budget: a constraint within this of its limit binds


# --------------------------------------------------------------------------- curves


@dataclass(frozen=True)
class ResponseCurves:
    """Response curves by (market, channel), sorted by name (``make_curves``).

    ``table`` has one row per pair (index ``market, channel``) with ``ceiling``,
    ``half_spend``, ``shape``, ``alpha``, ``current`` (spend per period now) and
    ``carry`` (the adstock past spend leaves); ``draws`` holds ``ceiling``,
    ``half_spend``, ``shape``, ``alpha`` and ``carry`` per posterior draw, each ``(draws,
    pairs)`` in the table's order (empty: no intervals).
    """

    table: pd.DataFrame
    draws: dict[str, np.ndarray] = field(default_factory=dict)
    target: str = "outcome"


def _check_columns(df: pd.DataFrame, need: tuple[str, ...], what: str) -> None:
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"{what}: no column {', '.join(map(repr, missing))}; it has "
                         f"{', '.join(map(str, df.columns))}")


_RULES = {"ceiling": (0.0, False, "a finite number >= 0"),
          "half_spend": (0.0, True, "a finite number > 0"),
          "shape": (0.0, True, "a finite number > 0"),
          "current": (0.0, False, "a finite number >= 0"),
          "carry": (0.0, False, "a finite number >= 0")}


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_values(df: pd.DataFrame, what: str) -> None:
    for col, (low, strict, want) in _RULES.items():
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(v) | ((v <= low) if strict else (v < low))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{what}: {df.market.iloc[i]}/{df.channel.iloc[i]}: {col} "
                             f"{_plain(df[col].iloc[i])!r}; expected {want}")
    a = pd.to_numeric(df["alpha"], errors="coerce").to_numpy(np.float64)
    bad = ~((a >= 0) & (a < 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what}: {df.market.iloc[i]}/{df.channel.iloc[i]}: alpha "
                         f"{_plain(df['alpha'].iloc[i])!r}; expected a carry-over in [0, 1)")


def make_curves(table: pd.DataFrame, draws: pd.DataFrame | None = None, *,
                target: str = "outcome") -> ResponseCurves:
    """Checked curves from a table with one row per pair: ``market``, ``channel``,
    ``ceiling`` (outcome per period at saturation), ``half_spend`` (spend per period that
    gets half of it), ``shape``, ``current`` (spend per period now) and optionally
    ``alpha`` (carry-over, default 0) and ``carry`` (adstock left by past spend, default
    ``current``). ``draws``, one row per draw and pair (``draw``, ``market``,
    ``channel``, ``ceiling``, ``half_spend``, ``shape``, optionally ``alpha`` and
    ``carry``), gives intervals; rows are matched by name."""
    _check_columns(table, ("market", "channel", "ceiling", "half_spend", "shape",
                           "current"), "curves")
    t = table.copy()
    t["market"], t["channel"] = t.market.astype(str), t.channel.astype(str)
    if "alpha" not in t:
        t["alpha"] = 0.0
    if "carry" not in t:
        t["carry"] = t["current"]
    dup = t.duplicated(["market", "channel"])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"curves: {t.market.iloc[i]}/{t.channel.iloc[i]} appears more "
                         "than once; expected one row per market and channel")
    if t.empty:
        raise InputError("curves: no rows")
    _check_values(t, "curves")
    t = (t.set_index(["market", "channel"])[["ceiling", "half_spend", "shape", "alpha",
                                             "current", "carry"]]
         .astype(np.float64).sort_index())
    out: dict[str, np.ndarray] = {}
    if draws is not None and len(draws):
        _check_columns(draws, ("draw", "market", "channel", "ceiling", "half_spend",
                               "shape"), "curve draws")
        d = draws.copy()
        d["market"], d["channel"] = d.market.astype(str), d.channel.astype(str)
        if "alpha" not in d:
            d = d.merge(t["alpha"].reset_index(), on=["market", "channel"], how="left")
        if "carry" not in d:
            d = d.merge(t["carry"].reset_index(), on=["market", "channel"], how="left")
        d["current"] = 0.0
        _check_values(d.fillna({"alpha": 0.0, "carry": 0.0}), "curve draws")
        dup = d.duplicated(["draw", "market", "channel"])
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InputError(f"curve draws: {d.market.iloc[i]}/{d.channel.iloc[i]} appears "
                             f"more than once in draw {_plain(d.draw.iloc[i])!r}")
        for name in _PARAMS:
            wide = d.pivot(index="draw", columns=["market", "channel"], values=name)
            extra = sorted(set(wide.columns) - set(t.index))
            if extra:
                raise InputError(f"curve draws: {extra[0][0]}/{extra[0][1]} is not in the "
                                 "curves")
            wide = wide.reindex(columns=t.index)
            if wide.isna().to_numpy().any():
                j = int(np.flatnonzero(wide.isna().to_numpy().any(axis=0))[0])
                m, c = t.index[j]
                raise InputError(f"curve draws: {m}/{c} lacks {name} in some draws; "
                                 "expected every pair in every draw")
            out[name] = wide.to_numpy(np.float64)
    return ResponseCurves(table=t, draws=out, target=target)


def _carry(history: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Adstock after the last period, ``(1 - alpha) sum_l alpha^l x_{T-l}`` from a zero
    start (the model's ``geometric_adstock``), row by row: ``history`` (rows, T),
    ``alpha`` (rows,)."""
    lags = np.arange(history.shape[-1])[::-1]
    weights = np.asarray(alpha)[..., None] ** lags
    return (1.0 - alpha) * (weights * history).sum(axis=-1)


def curve_frames(model: MediaMixModel, *, last: int = 4
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fitted model's curves as two frames, for ``make_curves`` or the warehouse: the
    point estimate (``MediaMixModel.curve_parameters``) with each pair's ``current``
    spend (mean of the last ``last`` fitted periods) and ``carry`` (adstock after the last
    period), and the posterior draws with their own ``carry``."""
    model.check_fitted()
    data = model.data_
    if not (isinstance(last, int) and 1 <= last <= len(data.periods)):
        raise InputError(f"last must be a whole number of periods in [1, "
                         f"{len(data.periods)}]; got {last!r}")
    history = {(m, c): data.x[i, j] for i, m in enumerate(data.markets)
               for j, c in enumerate(data.channels)}
    point = model.curve_parameters()
    draws = model.curve_parameters(draws=True)
    for frame in (point, draws):
        hist = np.stack([history[k] for k in zip(frame.market, frame.channel, strict=True)])
        frame["carry"] = _carry(hist, frame.alpha.to_numpy())
    hist = np.stack([history[k] for k in zip(point.market, point.channel, strict=True)])
    point["current"] = hist[:, -last:].mean(axis=1)
    return point, draws


def curves_from_model(model: MediaMixModel, *, last: int = 4) -> ResponseCurves:
    """The fitted model's curves (``curve_frames``): current spend, carry-over and the
    posterior draws, all matched by market and channel name."""
    point, draws = curve_frames(model, last=last)
    return make_curves(point, draws, target=model.data_.target)


# --------------------------------------------------------------------------- response


@dataclass(frozen=True)
class _Params:
    c: np.ndarray
    k: np.ndarray
    s: np.ndarray
    alpha: np.ndarray
    carry: np.ndarray


def _point(curves: ResponseCurves) -> _Params:
    t = curves.table
    return _Params(*(t[n].to_numpy() for n in _PARAMS))


def _drawn(curves: ResponseCurves) -> _Params | None:
    if not curves.draws:
        return None
    return _Params(*(curves.draws[n] for n in _PARAMS))


def hill(x: np.ndarray, k: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """``x^S / (x^S + k^S)`` as ``expit(S log(x / k))`` (0 at ``x = 0``)."""
    return expit(shape * (np.log(np.maximum(x, 1e-300)) - np.log(k)))


def _slope(x: np.ndarray, p: _Params) -> np.ndarray:
    """``f'(x) = c S h (1 - h) / x``, at ``x >= 1e-12 k`` (finite for ``S < 1``)."""
    x = np.maximum(x, 1e-12 * p.k)
    h = hill(x, p.k, p.s)
    return p.c * p.s * h * (1.0 - h) / x


def _steps(horizon: int, ndim: int) -> np.ndarray:
    return np.arange(1, horizon + 1, dtype=np.float64).reshape((-1,) + (1,) * ndim)


def _response(x: np.ndarray, p: _Params, horizon: int | None) -> np.ndarray:
    """Outcome of each pair at spend ``x`` (..., pairs): per period in the steady state,
    or summed over ``horizon`` periods from the carry-over (module notes)."""
    if horizon is None:
        return p.c * hill(x, p.k, p.s)
    decay = p.alpha ** _steps(horizon, max(np.ndim(x), np.ndim(p.alpha)))
    a = x + decay * (p.carry - x)
    return (p.c * hill(a, p.k, p.s)).sum(axis=0)


def _gradient(x: np.ndarray, p: _Params, horizon: int | None) -> np.ndarray:
    """Derivative of ``_response`` in each pair's spend: ``f'(x)``, or ``sum_t (1 -
    alpha^t) f'(a_t)``."""
    if horizon is None:
        return _slope(x, p)
    decay = p.alpha ** _steps(horizon, max(np.ndim(x), np.ndim(p.alpha)))
    a = x + decay * (p.carry - x)
    return ((1.0 - decay) * _slope(a, p)).sum(axis=0)


def carry_over_outcome(curves: ResponseCurves, spend: dict[tuple[str, str], float] |
                       pd.Series, horizon: int) -> pd.Series:
    """Expected outcome of each pair over the next ``horizon`` periods at a constant
    ``spend`` per period (by ``(market, channel)``; pairs not given spend nothing), with
    the carry-over of past spend: ``sum_t f(s + alpha^t (a_0 - s))`` (module notes)."""
    x = _spend_vector(curves, spend)
    return pd.Series(_response(x, _point(curves), _horizon(horizon)), index=curves.table.index,
                     name="outcome")


def _spend_vector(curves: ResponseCurves, spend: Any) -> np.ndarray:
    s = pd.Series(spend, dtype=np.float64)
    if not isinstance(s.index, pd.MultiIndex):
        s.index = pd.MultiIndex.from_tuples(list(s.index))
    extra = [k for k in s.index if k not in curves.table.index]
    if extra:
        raise InputError(f"spend: {extra[0][0]}/{extra[0][1]} is not in the curves")
    return s.reindex(curves.table.index).fillna(0.0).to_numpy()


def _horizon(horizon: Any) -> int | None:
    if horizon is None:
        return None
    if not (isinstance(horizon, int | np.integer) and 1 <= horizon <= 520):
        raise InputError(f"horizon must be a whole number of periods in [1, 520]; got "
                         f"{horizon!r}")
    return int(horizon)


# --------------------------------------------------------------------------- constraints

_Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class MixRule(BaseModel):
    """The share of ``channels`` in ``market``'s spend (all markets' with ``None``) stays
    within ``[min_share, max_share]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    market: str | None = None
    channels: Annotated[list[str], Field(min_length=1)]
    min_share: _Share = 0.0
    max_share: _Share = 1.0

    @property
    def label(self) -> str:
        return f"{self.market or 'all markets'} [{', '.join(self.channels)}]"


class BudgetConstraints(BaseModel):
    """Constraints of ``plan_budget``, every amount in spend per period (module notes).

    ``pair_min`` / ``pair_max``: market -> channel -> spend of that pair;
    ``channel_min`` / ``channel_max``: channel -> its total over all markets;
    ``market_min`` / ``market_max``: market -> its total over its channels; ``mix``:
    ``MixRule`` list; ``exploration_share``: share of the total kept out of the plan;
    ``max_step``: largest relative change of a pair from its current spend;
    ``min_marginal_roi``: floor on ``value_per_outcome * f'(s) - 1``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pair_min: dict[str, dict[str, _Money]] = {}
    pair_max: dict[str, dict[str, _Money]] = {}
    channel_min: dict[str, _Money] = {}
    channel_max: dict[str, _Money] = {}
    market_min: dict[str, _Money] = {}
    market_max: dict[str, _Money] = {}
    mix: list[MixRule] = []
    exploration_share: Annotated[float, Field(ge=0, le=0.5, allow_inf_nan=False)] = 0.0
    max_step: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    min_marginal_roi: Annotated[float, Field(gt=-1, allow_inf_nan=False)] | None = None


def _constraints(value: BudgetConstraints | dict[str, Any] | None) -> BudgetConstraints:
    if value is None:
        return BudgetConstraints()
    if isinstance(value, BudgetConstraints):
        return value
    try:
        return BudgetConstraints.model_validate(value)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"]))
        raise InputError(f"budget constraint {where}: {err['msg']}; got "
                         f"{err.get('input')!r}") from None


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.4g}"


@dataclass(frozen=True)
class _Row:
    """One linear constraint ``lo <= coef . s <= hi`` with its name and family."""

    name: str
    family: str
    text: str
    coef: np.ndarray
    lo: float = -np.inf
    hi: float = np.inf
    pair: int | None = None
    group: np.ndarray | None = None  # mix rules: the group's pairs, the market's, the share
    inside: np.ndarray | None = None
    share: float = 0.0


@dataclass(frozen=True)
class _Problem:
    rows: list[_Row]
    budget: float
    lb: np.ndarray
    ub: np.ndarray
    start: np.ndarray  # a feasible spend (the LP's)


def _rows(curves: ResponseCurves, cons: BudgetConstraints, budget: float, spend_all: bool,
          value: float, reserve: float) -> list[_Row]:
    idx = curves.table.index
    n = len(idx)
    markets = sorted(set(idx.get_level_values(0)))
    channels = sorted(set(idx.get_level_values(1)))
    pos = {k: i for i, k in enumerate(idx)}
    mk = idx.get_level_values(0).to_numpy()
    ch = idx.get_level_values(1).to_numpy()

    def unit(i: int) -> np.ndarray:
        e = np.zeros(n)
        e[i] = 1.0
        return e

    def known(kind: str, name: str, have: list[str], where: str) -> None:
        if name not in have:
            raise InputError(f"{where}: no {kind} {name!r}; the curves have "
                             f"{', '.join(have)}")

    note = f" (after a {_fmt(reserve)} exploration reserve)" if reserve > 0 else ""
    rows = [_Row("budget", "budget", f"budget {_fmt(budget)}{note}", np.ones(n),
                 budget if spend_all else -np.inf, budget)]
    for fam, bounds in (("pair_min", cons.pair_min), ("pair_max", cons.pair_max)):
        for m, per in sorted(bounds.items()):
            known("market", m, markets, fam)
            for c, v in sorted(per.items()):
                if (m, c) not in pos:
                    raise InputError(f"{fam}: no channel {c!r} in market {m!r}; it has "
                                     f"{', '.join(ch[mk == m])}")
                i = pos[(m, c)]
                rows.append(_Row(f"{fam} {m}/{c}", fam, f"{fam} {m}/{c} {_fmt(v)}",
                                 unit(i), *((v, np.inf) if fam == "pair_min"
                                            else (-np.inf, v)), pair=i))
    for fam, bounds, names, col in (("channel_min", cons.channel_min, channels, ch),
                                    ("channel_max", cons.channel_max, channels, ch),
                                    ("market_min", cons.market_min, markets, mk),
                                    ("market_max", cons.market_max, markets, mk)):
        for key, v in sorted(bounds.items()):
            known(fam.split("_")[0], key, names, fam)
            lo, hi = (v, np.inf) if fam.endswith("_min") else (-np.inf, v)
            rows.append(_Row(f"{fam} {key}", fam, f"{fam} {key} {_fmt(v)}",
                             (col == key).astype(float), lo, hi))
    for rule in cons.mix:
        if rule.market is not None:
            known("market", rule.market, markets, "mix")
        inside = mk == rule.market if rule.market is not None else np.ones(n, bool)
        for c in rule.channels:
            known("channel", c, sorted(set(ch[inside])), f"mix {rule.label}")
        group = inside & np.isin(ch, rule.channels)
        if rule.min_share > rule.max_share:
            raise InputError(f"mix {rule.label}: min_share {rule.min_share:g} > max_share "
                             f"{rule.max_share:g}")
        if rule.min_share > 0:
            rows.append(_Row(f"mix_min {rule.label}", "mix_min",
                             f"mix {rule.label} >= {rule.min_share:.0%}",
                             group - rule.min_share * inside, 0.0, np.inf, group=group,
                             inside=inside, share=rule.min_share))
        if rule.max_share < 1:
            rows.append(_Row(f"mix_max {rule.label}", "mix_max",
                             f"mix {rule.label} <= {rule.max_share:.0%}",
                             group - rule.max_share * inside, -np.inf, 0.0, group=group,
                             inside=inside, share=rule.max_share))
    current = curves.table.current.to_numpy()
    if cons.max_step is not None:
        step = cons.max_step
        for i, (m, c) in enumerate(idx):
            low, high = max(current[i] * (1 - step), 0.0), current[i] * (1 + step)
            rows.append(_Row(f"step_down {m}/{c}", "step_down",
                             f"step_down {m}/{c} {_fmt(low)} (current {_fmt(current[i])} "
                             f"- {step:.0%})", unit(i), low, np.inf, pair=i))
            rows.append(_Row(f"step_up {m}/{c}", "step_up",
                             f"step_up {m}/{c} {_fmt(high)} (current {_fmt(current[i])} "
                             f"+ {step:.0%})", unit(i), -np.inf, high, pair=i))
    if cons.min_marginal_roi is not None:
        caps = _roi_caps(_point(curves), (1.0 + cons.min_marginal_roi) / value)
        floor = _bounds(rows, n)[0]  # a pair's own minimum comes first
        for i, (m, c) in enumerate(idx):
            why = (f"marginal ROI below {cons.min_marginal_roi:g} past it" if caps[i] >= floor[i]
                   else f"the pair's minimum; marginal ROI below {cons.min_marginal_roi:g}")
            rows.append(_Row(f"roi_floor {m}/{c}", "roi_floor",
                             f"roi_floor {m}/{c} {_fmt(max(caps[i], floor[i]))} ({why})",
                             unit(i), -np.inf, max(caps[i], floor[i]), pair=i))
    return rows


def _roi_caps(p: _Params, threshold: float) -> np.ndarray:
    """Largest spend of each pair where ``f'(s) >= threshold`` (0 where ``f'`` never
    reaches it); ``f'`` falls beyond its peak at ``k ((S-1)/(S+1))^(1/S)`` (0 for
    ``S <= 1``), so the cap is the root there (Brent's method)."""
    from scipy.optimize import brentq

    caps = np.zeros(len(p.c))
    for i in range(len(p.c)):
        one = _Params(*(np.asarray(getattr(p, f)[i]) for f in ("c", "k", "s", "alpha",
                                                                "carry")))
        shape, k = float(one.s), float(one.k)
        peak = k * ((shape - 1) / (shape + 1)) ** (1 / shape) if shape > 1 else 0.0

        def gap(x: float, one: _Params = one) -> float:
            return float(_slope(np.asarray(x), one)) - threshold

        if gap(peak) <= 0:
            continue
        hi = max(peak, k)
        while gap(hi) > 0:
            hi *= 2.0
        caps[i] = brentq(gap, peak, hi, xtol=1e-12 * k, rtol=1e-12)
    return caps


def _bounds(rows: list[_Row], n: int) -> tuple[np.ndarray, np.ndarray]:
    lb, ub = np.zeros(n), np.full(n, np.inf)
    for r in rows:
        if r.pair is not None:
            lb[r.pair] = max(lb[r.pair], r.lo)
            ub[r.pair] = min(ub[r.pair], r.hi)
    return lb, ub


# --------------------------------------------------------------------------- feasibility


class InfeasibleBudgetError(InputError):
    """No allocation meets the constraints; ``conflicts`` names those that conflict."""

    def __init__(self, message: str, conflicts: list[str]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


def _closed_form(rows: list[_Row], budget: float, spend_all: bool, n: int,
                 lb: np.ndarray, ub: np.ndarray) -> list[tuple[str, list[str]]]:
    """The usual conflicts, each as (message, names): a pair's lower bound above its upper
    bound, a family of minimums summing above the budget (or of maximums below it when
    the budget is spent in full), a mix share out of reach within the pairs' bounds."""
    tol = _TOL * budget
    found: list[tuple[str, list[str]]] = []
    single = [r for r in rows if r.pair is not None]
    for i in np.flatnonzero(lb > ub + tol):
        low = max((r for r in single if r.pair == i and np.isfinite(r.lo)),
                  key=lambda r: r.lo)
        high = min((r for r in single if r.pair == i and np.isfinite(r.hi)),
                   key=lambda r: r.hi)
        found.append((f"{low.text} > {high.text}", [low.name, high.name]))
    fams: dict[str, list[_Row]] = {}
    for r in rows:
        fams.setdefault(r.family, []).append(r)
    for fam, group in fams.items():
        if fam in ("pair_min", "step_down", "channel_min", "market_min"):
            total = sum(r.lo for r in group)
            if total > budget + tol:
                found.append((f"{fam} sum to {_fmt(total)} > {rows[0].text}: "
                              + ", ".join(r.text for r in group),
                              [rows[0].name, *(r.name for r in group)]))
        elif spend_all and fam in ("pair_max", "step_up", "channel_max", "market_max"):
            covered = np.sum([r.coef for r in group], axis=0) > 0
            total = sum(r.hi for r in group)
            if covered.all() and total < budget - tol:
                found.append((f"{fam} sum to {_fmt(total)} < {rows[0].text}: "
                              + ", ".join(r.text for r in group),
                              [rows[0].name, *(r.name for r in group)]))
    ub = np.minimum(ub, budget)  # no pair spends more than the budget
    for r in rows:
        if r.group is None or r.inside is None:
            continue
        others = r.inside & ~r.group
        if r.family == "mix_min":
            top, rest = ub[r.group].sum(), lb[others].sum()
            reach = top / (top + rest) if top + rest > 0 else 1.0
            if reach < r.share - 1e-9:
                found.append((f"{r.text}: at most {reach:.1%} within the pairs' bounds",
                              [r.name]))
        else:
            low, rest = lb[r.group].sum(), ub[others].sum()
            reach = low / (low + rest) if low + rest > 0 else 0.0
            if reach > r.share + 1e-9:
                found.append((f"{r.text}: at least {reach:.1%} within the pairs' bounds",
                              [r.name]))
    return found


def _feasible(rows: list[_Row], n: int) -> np.ndarray | None:
    """A spend ``>= 0`` that meets every row, or None (a linear program, HiGHS)."""
    from scipy.optimize import linprog

    a_ub, b_ub, a_eq, b_eq = [], [], [], []
    for r in rows:
        if r.lo == r.hi:
            a_eq.append(r.coef)
            b_eq.append(r.hi)
            continue
        if np.isfinite(r.hi):
            a_ub.append(r.coef)
            b_ub.append(r.hi)
        if np.isfinite(r.lo):
            a_ub.append(-r.coef)
            b_ub.append(-r.lo)
    res = linprog(np.zeros(n), A_ub=np.array(a_ub) if a_ub else None,
                  b_ub=b_ub or None, A_eq=np.array(a_eq) if a_eq else None,
                  b_eq=b_eq or None, bounds=(0, None), method="highs")
    return res.x if res.status == 0 else None


def _conflict(rows: list[_Row], n: int) -> list[_Row]:
    """A minimal set of rows with no solution: drop each row in turn and keep it out if
    the rest still has none (the deletion filter of Chinneck and Dravnieks 1991)."""
    keep = list(rows)
    for r in rows:
        trial = [x for x in keep if x is not r]
        if _feasible(trial, n) is None:
            keep = trial
    return keep


def _check_feasible(rows: list[_Row], budget: float, spend_all: bool, n: int,
                    lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """A feasible spend (the solver's first start), or the conflicts as an
    ``InfeasibleBudgetError``: closed-form checks first, then the LP."""
    found = _closed_form(rows, budget, spend_all, n, lb, ub)
    point = None if found else _feasible(rows, n)
    if not found and point is None:
        core = _conflict(rows, n)
        found = [("these constraints conflict: " + "; ".join(r.text for r in core),
                  [r.name for r in core])]
    if found:
        names = list(dict.fromkeys(x for _, ns in found for x in ns))
        more = f"; and {len(found) - 5} more" if len(found) > 5 else ""
        raise InfeasibleBudgetError("infeasible budget constraints: "
                                    + "; ".join(m for m, _ in found[:5]) + more, names)
    assert point is not None
    return point


# --------------------------------------------------------------------------- solving


def _violations(s: np.ndarray, rows: list[_Row]) -> list[tuple[str, float]]:
    out = [("spend >= 0", float(-s.min()))] if s.min() < 0 else []
    for r in rows:
        v = float(r.coef @ s)
        gap = max(r.lo - v, v - r.hi)
        if gap > 0:
            out.append((r.name, gap))
    return out


def _starts(pr: _Problem, value: Any, current: np.ndarray, seed: int) -> list[np.ndarray]:
    """Starting plans: a feasible one (the LP's), current, equal split, greedy by return
    per unit over the next 1 to 10 steps of a hundredth of the budget (so an S-curve's
    convex start is crossed), and two seeded random splits; each clipped to the pairs'
    bounds."""
    n, b = len(current), pr.budget
    ub = np.minimum(pr.ub, b)
    starts = [pr.start, current.copy(), np.full(n, b / n)]
    s = pr.lb.copy()
    step = max(b - s.sum(), 0.0) / 100
    jumps = step * np.arange(1, 11)[:, None]
    while step > 0 and s.sum() < b - 1e-9 * b:
        room = np.minimum(ub - s, b - s.sum())
        cand = s + np.minimum(jumps, room)
        moved = cand - s
        gain = (value(cand) - value(s)) / np.where(moved > 0, moved, np.inf)
        j, i = np.unravel_index(np.argmax(gain), gain.shape)
        if not (gain[j, i] > 0 and moved[j, i] > 0):
            break
        s[i] = cand[j, i]
    starts.append(s)
    rng = np.random.default_rng(seed)
    starts += list(rng.dirichlet(np.ones(n), size=2) * b)
    return [np.clip(x, pr.lb, ub) for x in starts]


def _solve(pr: _Problem, p: _Params, horizon: int | None, weight: float, cost: float,
           current: np.ndarray, seed: int) -> np.ndarray:
    """The best plan over the starts (module notes): SLSQP on ``s / budget`` with the
    objective scaled by the sum of ceilings."""
    from scipy.optimize import LinearConstraint, minimize
    from threadpoolctl import threadpool_limits

    b = pr.budget
    scale = max(float(p.c.sum()) * (horizon or 1) * weight, 1e-300)

    def value(s: np.ndarray) -> np.ndarray:  # per pair
        return weight * _response(s, p, horizon) - cost * s

    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        s = x * b
        f = float(value(s).sum())
        g = (weight * _gradient(s, p, horizon) - cost) * b
        return -f / scale, -g / scale

    multi = [r for r in pr.rows if r.pair is None]
    cons = [LinearConstraint(np.array([r.coef for r in part]),
                             np.array([r.lo for r in part]) / b,
                             np.array([r.hi for r in part]) / b)
            for part in ([r for r in multi if r.lo == r.hi], [r for r in multi if r.lo != r.hi])
            if part]
    ub = np.minimum(pr.ub, b)
    best, best_f = None, np.inf
    starts = _starts(pr, value, current, seed)
    for x0 in starts:
        # one BLAS thread: SLSQP's small dense steps are ten times slower with a pool
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            warnings.filterwarnings("ignore", "Values in x were outside bounds",
                                    RuntimeWarning)
            res = minimize(fg, x0 / b, jac=True, method="SLSQP",
                           bounds=list(zip(pr.lb / b, ub / b, strict=True)),
                           constraints=cons, options={"maxiter": 500, "ftol": 1e-12})
        s = np.clip(res.x * b, pr.lb, ub)
        s = np.where(s - pr.lb < 1e-9 * b, pr.lb, np.where(ub - s < 1e-9 * b, ub, s))
        if any(g > _TOL * b for _, g in _violations(s, pr.rows)):
            continue
        f = fg(s / b)[0]
        if f < best_f:
            best, best_f = s, f
    if best is None:
        raise GrowthloopError(f"the optimiser found no plan that meets every constraint "
                              f"from {len(starts)} starts, though one exists; loosen the "
                              "tightest constraint or report this")
    return best


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class BudgetPlan:
    """A budget plan (``plan_budget``).

    ``table``: per (market, channel) the ``current`` and ``planned`` spend per period,
    ``change`` and ``change_share``, the expected outcome at both (per period, or over
    the horizon), the ``marginal`` outcome per unit of spend at the plan (steady-state
    curve) and its ``marginal_roi`` (``v f' - 1``), and ``binds`` (the families of the
    pair's own bounds that bind: ``pair_min``, ``step_up``, ``roi_floor``, ...).
    ``totals``: rows ``current``, ``plan``, ``change`` with ``spend`` (per period),
    ``outcome`` (point estimate, per period or over the horizon) and its ``level``
    interval over the posterior draws, both plans evaluated under each draw (``change``:
    the interval of the per-draw difference), ``value`` (``v`` times the outcome) and
    ``profit`` (value less spend over the periods). ``binding``: every constraint that
    binds, by name (``budget``, ``channel_max search``, ``step_up US/search``, ...).
    ``exploration``: the reserve kept out; ``unallocated``: budget the plan leaves
    unspent (profit, or a marginal-ROI floor); ``probability_better``: share of draws in
    which the plan beats the current one on the objective (NaN without draws).
    """

    table: pd.DataFrame
    totals: pd.DataFrame
    binding: tuple[str, ...]
    exploration: float
    unallocated: float
    probability_better: float
    objective: str
    horizon: int | None
    level: float
    target: str


def plan_budget(curves: ResponseCurves, total: float,
                constraints: BudgetConstraints | dict[str, Any] | None = None, *,
                objective: Literal["outcome", "profit"] = "outcome",
                value_per_outcome: float = 1.0, horizon: int | None = None,
                level: float = 0.9, seed: int = 0) -> BudgetPlan:
    """The allocation of ``total`` (spend per period) that maximises the objective under
    ``constraints`` (module notes), with ``horizon`` periods of carry-over or the steady
    state, compared with the current plan under every posterior draw."""
    cons = _constraints(constraints)
    if objective not in ("outcome", "profit"):
        raise InputError(f"objective must be 'outcome' or 'profit'; got {objective!r}")
    for name, v in (("total", total), ("value_per_outcome", value_per_outcome)):
        if not (isinstance(v, numbers.Real) and np.isfinite(v) and v > 0):
            raise InputError(f"{name} must be a positive number; got {v!r}")
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1); got {level!r}")
    h = _horizon(horizon)
    total, value_per_outcome = float(total), float(value_per_outcome)
    reserve = total * cons.exploration_share
    budget = total - reserve
    spend_all = objective == "outcome" and cons.min_marginal_roi is None
    n = len(curves.table)
    rows = _rows(curves, cons, budget, spend_all, value_per_outcome, reserve)
    lb, ub = _bounds(rows, n)
    start = _check_feasible(rows, budget, spend_all, n, lb, ub)
    pr = _Problem(rows, budget, lb, ub, start)
    p = _point(curves)
    current = curves.table.current.to_numpy()
    # profit pays the spend of every period of the horizon
    cost = 0.0 if objective == "outcome" else float(h or 1)
    plan = _solve(pr, p, h, value_per_outcome, cost, current, seed)
    bad = _violations(plan, rows)
    if any(g > _TOL * budget for _, g in bad):
        raise GrowthloopError(f"the plan breaks {bad[0][0]} by {_fmt(bad[0][1])}")
    return _report(curves, rows, plan, current, p, h, value_per_outcome, budget, reserve,
                   objective, level)


def _report(curves: ResponseCurves, rows: list[_Row], plan: np.ndarray,
            current: np.ndarray, p: _Params, h: int | None, v: float, budget: float,
            reserve: float, objective: str, level: float) -> BudgetPlan:
    """The plan's table, totals with intervals over the draws, and binding constraints."""
    tol = _BIND * budget
    binding, per_pair = [], [[] for _ in plan]
    for r in rows:
        x = float(r.coef @ plan)
        if (np.isfinite(r.lo) and x - r.lo <= tol) or (np.isfinite(r.hi) and r.hi - x <= tol):
            binding.append(r.name)
            if r.pair is not None:
                per_pair[r.pair].append(r.family)
    periods = h or 1
    out_now, out_plan = _response(current, p, h), _response(plan, p, h)
    slope = _slope(plan, p)
    idx = curves.table.index
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(current > 0, plan / current - 1, np.nan)
    table = pd.DataFrame({
        "market": idx.get_level_values(0), "channel": idx.get_level_values(1),
        "current": current, "planned": plan, "change": plan - current,
        "change_share": share, "outcome_current": out_now, "outcome_planned": out_plan,
        "marginal": slope, "marginal_roi": v * slope - 1.0,
        "binds": [", ".join(b) for b in per_pair],
    })
    q = [(1 - level) / 2, (1 + level) / 2]
    d = _drawn(curves)
    spend = {"current": current.sum(), "plan": plan.sum()}
    outcome = {"current": out_now.sum(), "plan": out_plan.sum()}
    band = {k: (np.nan, np.nan) for k in ("current", "plan", "change")}
    better = np.nan
    if d is not None:
        now_d = _response(current[None], d, h).sum(axis=1)
        plan_d = _response(plan[None], d, h).sum(axis=1)
        for k, y in (("current", now_d), ("plan", plan_d), ("change", plan_d - now_d)):
            band[k] = tuple(np.quantile(y, q))
        gain = v * (plan_d - now_d) - (periods * (spend["plan"] - spend["current"])
                                       if objective == "profit" else 0.0)
        better = float(np.mean(gain > 0))
    spend["change"] = spend["plan"] - spend["current"]
    outcome["change"] = outcome["plan"] - outcome["current"]
    totals = pd.DataFrame({
        "spend": spend, "outcome": outcome,
        "outcome_low": {k: band[k][0] for k in band},
        "outcome_high": {k: band[k][1] for k in band},
    }).loc[["current", "plan", "change"]]
    totals["value"] = v * totals.outcome
    totals["profit"] = totals.value - periods * totals.spend
    totals.attrs.update(level=level, horizon=h, target=curves.target)
    return BudgetPlan(table=table, totals=totals, binding=tuple(binding),
                      exploration=reserve, unallocated=max(budget - float(plan.sum()), 0.0),
                      probability_better=better, objective=objective, horizon=h,
                      level=level, target=curves.target)


def budget_from_model(model: MediaMixModel, total: float | None = None,
                      constraints: BudgetConstraints | dict[str, Any] | None = None, *,
                      objective: Literal["outcome", "profit"] = "outcome",
                      value_per_outcome: float = 1.0, horizon: int | None = None,
                      last: int = 4, level: float = 0.9, seed: int = 0) -> BudgetPlan:
    """``plan_budget`` on a fitted model's curves (``curves_from_model``); ``total``
    defaults to the current spend per period (the mean of the last ``last`` periods)."""
    curves = curves_from_model(model, last=last)
    if total is None:
        total = float(curves.table.current.sum())
    return plan_budget(curves, total, constraints, objective=objective,
                       value_per_outcome=value_per_outcome, horizon=horizon, level=level,
                       seed=seed)
