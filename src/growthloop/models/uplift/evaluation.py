"""How well a score ranks units by their response to a treatment, on a randomised test.

Units are sorted by descending score; ties form one step (scikit-uplift's convention).
After the first ``k`` units, with ``N_t, N_c`` treated and control units and ``Y_t, Y_c``
their summed outcomes among them:

- Qini curve (Radcliffe 2007, "Using control groups to target on predicted lift",
  Direct Marketing Analytics Journal): ``Q(k) = Y_t - Y_c N_t / N_c``, the outcome the
  treated among the top ``k`` gained over the same number of controls;
- uplift curve (Rzepakowski & Jaroszewicz 2012, "Decision trees for uplift modeling with
  single and multiple treatments", Knowl. Inf. Syst. 32): ``U(k) = (Y_t / N_t - Y_c /
  N_c) k``, the effect if the top ``k`` were all treated.

Both start at (0, 0); a quotient with a zero denominator counts as 0.

``qini_coefficient`` and ``auuc`` are normalised as scikit-uplift's ``qini_auc_score``
(``negative_effect=True``) and ``uplift_auc_score``: with ``A`` the trapezoid area under
a curve and ``A_random`` that of the straight line from (0, 0) to the curve's end,
``(A_model - A_random) / (A_perfect - A_random)``: 1 for the best possible ordering of
these units, 0 for a random one, negative for one worse than random. The perfect Qini
orders by ``y (2 t - 1)`` (treated responders first, control responders last); the
perfect uplift curve for a 0/1 outcome is scikit-uplift's (``2 [y = t] + s``, with ``s =
y`` when control responders outnumber treated non-responders, else ``s = t``), and for
any other outcome the Qini's ordering. scikit-uplift takes 0/1 outcomes only; the same
formulas apply as they are to revenue or any other outcome.

``qini_band``: a percentile bootstrap band (Efron & Tibshirani 1993, ch. 13) of the Qini
curve, resampling units with replacement. ``targeting_gain``: the true effect summed
over the top share by score, for simulated data whose per-unit effect is known.
"""

from __future__ import annotations

import math

import numpy as np

from growthloop.core.errors import InputError
from growthloop.models.uplift.checks import (
    check_lengths,
    check_outcome,
    check_score,
    check_treatment,
    outcome_kind,
)

__all__ = ["auuc", "qini_band", "qini_coefficient", "qini_curve", "targeting_gain",
           "uplift_curve"]


def qini_curve(y: np.ndarray, treatment: np.ndarray,
               score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve: (share of units targeted, 0..1; incremental outcome ``Q(k)``)."""
    yy, t, s = _inputs(y, treatment, score)
    k, q = _curve(yy, t, s, "qini")
    return k / len(yy), q


def uplift_curve(y: np.ndarray, treatment: np.ndarray,
                 score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The uplift curve: (share of units targeted, 0..1; ``U(k)``)."""
    yy, t, s = _inputs(y, treatment, score)
    k, u = _curve(yy, t, s, "uplift")
    return k / len(yy), u


def qini_coefficient(y: np.ndarray, treatment: np.ndarray, score: np.ndarray) -> float:
    """The normalised area between the Qini curve and random targeting (module docstring;
    scikit-uplift's ``qini_auc_score``)."""
    yy, t, s = _inputs(y, treatment, score)
    return _normalised_area(yy, t, s, yy * (2 * t - 1), "qini")


def auuc(y: np.ndarray, treatment: np.ndarray, score: np.ndarray) -> float:
    """The normalised area under the uplift curve (module docstring; scikit-uplift's
    ``uplift_auc_score``)."""
    yy, t, s = _inputs(y, treatment, score)
    if outcome_kind(yy) == "binary":
        control_responders = np.sum((yy == 1) & (t == 0))
        treated_non_responders = np.sum((yy == 0) & (t == 1))
        summand = yy if control_responders > treated_non_responders else t
        perfect = 2.0 * (yy == t) + summand
    else:
        perfect = yy * (2 * t - 1)
    return _normalised_area(yy, t, s, perfect, "uplift")


def qini_band(y: np.ndarray, treatment: np.ndarray, score: np.ndarray, *, n_boot: int = 200,
              level: float = 0.9, seed: int = 0,
              n_points: int = 101) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``level`` percentile-bootstrap band of the Qini curve: (share on an even grid of
    ``n_points`` from 0 to 1, low, high), from ``n_boot`` resamples of the units."""
    yy, t, s = _inputs(y, treatment, score)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
        raise InputError(f"n_boot = {n_boot!r}: expected an integer of at least 2")
    if not 0 < level < 1:
        raise InputError(f"level = {level!r}: expected a coverage strictly between 0 and 1")
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 2:
        raise InputError(f"n_points = {n_points!r}: expected an integer of at least 2")
    n = len(yy)
    order = np.argsort(s, kind="mergesort")[::-1]
    yy, t, s = yy[order], t[order], s[order]
    ends = _step_ends(s)
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, n_points)
    curves = np.empty((n_boot, n_points))
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        k, q = _qini_points(yy, t, ends, w)
        curves[b] = np.interp(grid, k / n, q)
    tail = (1 - level) / 2
    low, high = np.quantile(curves, [tail, 1 - tail], axis=0)
    return grid, low, high


def targeting_gain(tau_true: np.ndarray, score: np.ndarray, share: float = 0.3) -> float:
    """The true effect summed over the ``round(share n)`` units of highest score (ties in
    their given order)."""
    tau = check_score(tau_true, "tau_true")
    s = check_score(score)
    check_lengths(tau_true=len(tau), score=len(s))
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise InputError(f"share = {share!r}: expected a share in (0, 1]")
    k = round(share * len(s))
    top = np.argsort(-s, kind="stable")[:k]
    return float(tau[top].sum())


def _inputs(y: object, treatment: object,
            score: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, _ = check_outcome(y)
    t = check_treatment(treatment)
    s = check_score(score)
    check_lengths(y=len(yy), treatment=len(t), score=len(s))
    return yy, t.astype(np.float64), s


def _step_ends(sorted_score: np.ndarray) -> np.ndarray:
    """The last position of each run of equal scores in a sorted score array."""
    return np.r_[np.flatnonzero(np.diff(sorted_score)), sorted_score.size - 1]


def _curve(y: np.ndarray, t: np.ndarray, score: np.ndarray,
           kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The (units targeted, value) points of the Qini or uplift curve for ``score``."""
    order = np.argsort(score, kind="mergesort")[::-1]
    y, t, score = y[order], t[order], score[order]
    ends = _step_ends(score)
    if kind == "qini":
        return _qini_points(y, t, ends, None)
    n_all = ends + 1.0
    n_t = np.cumsum(t)[ends]
    n_c = n_all - n_t
    y_t = np.cumsum(y * t)[ends]
    y_c = np.cumsum(y * (1 - t))[ends]
    values = (_ratio(y_t, n_t) - _ratio(y_c, n_c)) * n_all
    return _from_origin(n_all, values)


def _qini_points(y: np.ndarray, t: np.ndarray, ends: np.ndarray,
                 weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``Q(k) = Y_t - Y_c N_t / N_c`` at each step end, units weighted by ``weight``
    (bootstrap counts) when given."""
    w = np.ones_like(y) if weight is None else weight
    n_all = np.cumsum(w)[ends]
    n_t = np.cumsum(w * t)[ends]
    y_t = np.cumsum(w * y * t)[ends]
    y_c = np.cumsum(w * y * (1 - t))[ends]
    values = y_t - y_c * _ratio(n_t, n_all - n_t)
    return _from_origin(n_all, values)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b != 0)


def _from_origin(k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if k.size == 0 or k[0] != 0 or v[0] != 0:
        k, v = np.r_[0.0, k], np.r_[0.0, v]
    return k, v


def _area(x: np.ndarray, v: np.ndarray) -> float:
    """The trapezoid area under the points ``(x, v)``."""
    return float(np.sum(np.diff(x) * (v[1:] + v[:-1]) / 2))


def _normalised_area(y: np.ndarray, t: np.ndarray, score: np.ndarray,
                     perfect_score: np.ndarray, kind: str) -> float:
    """``(A_model - A_random) / (A_perfect - A_random)``, with ``A_random`` under the
    straight line to the perfect curve's end (scikit-uplift's normalisation)."""
    k, v = _curve(y, t, score, kind)
    kp, vp = _curve(y, t, perfect_score, kind)
    random = _area(np.array([0.0, kp[-1]]), np.array([0.0, vp[-1]]))
    best = _area(kp, vp) - random
    if best == 0 or math.isnan(best):
        raise InputError("y: the best ordering of these units gains no more than a random "
                         "one (no outcome difference between the arms to rank); the "
                         "normalised area is undefined")
    return (_area(k, v) - random) / best
