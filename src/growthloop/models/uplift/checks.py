"""Checks of the arrays an uplift learner or metric is given; each error names the
argument, the first bad row and its value, and what was expected."""

from __future__ import annotations

from typing import Literal

import numpy as np

from growthloop.core.errors import InputError

__all__ = ["check_lengths", "check_outcome", "check_propensity", "check_score",
           "check_treatment", "outcome_kind"]

Outcome = Literal["binary", "continuous"]
OUTCOMES = ("binary", "continuous", "auto")


def check_lengths(**arrays: int) -> None:
    """All the named lengths are equal (``check_lengths(X=10, treatment=9)`` raises)."""
    (first, n), *rest = arrays.items()
    for name, m in rest:
        if m != n:
            raise InputError(f"{name} has {m} rows but {first} has {n}; expected one value "
                             "per unit in each")


def check_treatment(treatment: object, *, both_arms: bool = True) -> np.ndarray:
    """``treatment`` as an int8 array of 0 (control) and 1 (treated)."""
    t = np.asarray(treatment)
    if t.ndim != 1:
        raise InputError(f"treatment has shape {t.shape}; expected one 0/1 value per unit")
    if t.dtype.kind not in "biuf":
        raise InputError(f"treatment has dtype {t.dtype}; expected 0 (control) or 1 (treated)")
    bad = np.flatnonzero((t != 0) & (t != 1))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"treatment[{i}] = {t[i].item()!r}: expected 0 (control) or 1 "
                         "(treated)")
    t = t.astype(np.int8)
    if both_arms and t.size:
        arm = int(t[0])
        if (t == arm).all():
            label = "treated" if arm else "control"
            raise InputError(f"treatment: all {t.size} rows are {arm} ({label}); expected units "
                             "in both arms (0 and 1)")
    return t


def check_outcome(y: object, outcome: str = "auto") -> tuple[np.ndarray, Outcome]:
    """``y`` as float64 with its kind: ``binary`` (0/1) or ``continuous``; no NaN or inf."""
    if outcome not in OUTCOMES:
        raise InputError(f"outcome = {outcome!r}: expected one of {', '.join(OUTCOMES)}")
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InputError(f"y has shape {arr.shape}; expected one outcome per unit")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"y has dtype {arr.dtype}; expected numbers")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"y[{i}] = {arr[i].item()!r}: expected a finite outcome")
    kind = outcome_kind(arr) if outcome == "auto" else outcome
    if kind == "binary":
        bad = np.flatnonzero((arr != 0) & (arr != 1))
        if bad.size:
            i = int(bad[0])
            raise InputError(f"y[{i}] = {arr[i].item()!r}: expected 0 or 1 with "
                             "outcome='binary'")
    return arr, kind  # type: ignore[return-value]


def outcome_kind(y: np.ndarray) -> Outcome:
    """``binary`` when every value is 0 or 1, else ``continuous``."""
    return "binary" if bool(np.isin(y, (0.0, 1.0)).all()) else "continuous"


def check_score(score: object, name: str = "score") -> np.ndarray:
    """A model's scores as float64; no NaN."""
    arr = np.asarray(score)
    if arr.ndim != 1 or arr.dtype.kind not in "biuf":
        raise InputError(f"{name} has shape {arr.shape} and dtype {arr.dtype}; expected one "
                         "number per unit")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(np.isnan(arr))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{name}[{i}] = nan: expected a number")
    return arr


def check_propensity(propensity: float | None) -> float | None:
    """A known treated share strictly between 0 and 1, or None (estimate it)."""
    if propensity is None:
        return None
    if isinstance(propensity, bool) or not isinstance(propensity, int | float) \
            or not 0 < propensity < 1:
        raise InputError(f"propensity = {propensity!r}: expected the treated share, strictly "
                         "between 0 and 1, or None to estimate it")
    return float(propensity)
