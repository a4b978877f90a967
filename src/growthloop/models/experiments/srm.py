"""Sample-ratio mismatch: do the units per variant match the planned split?

Pearson's chi-square goodness-of-fit test (Pearson 1900) of the observed counts ``o_i``
against ``e_i = w_i / sum(w) * sum(o)``: ``X2 = sum (o_i - e_i)**2 / e_i`` with ``k - 1``
degrees of freedom, the p-value ``P(chi2_{k-1} > X2)`` — gbstats' ``check_srm``. A
mismatch means the assignment or the logging is broken, so no verdict should be drawn
from the experiment; GrowthBook flags it at ``p < 0.001`` (``SRM_THRESHOLD``), strict
because the check runs on every experiment and at every look. Fabijan et al. 2019,
"Diagnosing Sample Ratio Mismatch in Online Controlled Experiments" (KDD '19), survey
its causes.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
from scipy import stats

from growthloop.core.errors import InputError

__all__ = ["SRM_THRESHOLD", "has_srm", "srm_p_value"]

#: The p-value below which a sample-ratio mismatch blocks the verdict (GrowthBook's).
SRM_THRESHOLD = 0.001


def srm_p_value(counts: Sequence[float] | np.ndarray,
                weights: Sequence[float] | np.ndarray) -> float:
    """The chi-square p-value of ``counts`` (units per variant) against the planned
    ``weights`` (any positive scale; normalised here). No units at all give 1, as in
    gbstats."""
    o = np.asarray(counts, dtype=float)
    w = np.asarray(weights, dtype=float)
    if o.ndim != 1 or len(o) < 2:
        raise InputError(f"counts = {counts!r}: expected one count per variant, at least 2")
    if w.shape != o.shape:
        raise InputError(f"weights = {weights!r}: expected one weight per variant "
                         f"({len(o)})")
    if not (np.all(np.isfinite(o)) and np.all(o >= 0)):
        raise InputError(f"counts = {counts!r}: expected non-negative finite counts")
    if not (np.all(np.isfinite(w)) and np.all(w > 0)):
        raise InputError(f"weights = {weights!r}: expected positive finite weights")
    total = o.sum()
    if total == 0:
        return 1.0
    e = w / w.sum() * total
    x2 = float(np.sum((o - e) ** 2 / e))
    return float(stats.chi2.sf(x2, len(o) - 1))


def has_srm(p_value: float, threshold: float = SRM_THRESHOLD) -> bool:
    """Whether ``p_value`` signals a mismatch (``p_value < threshold``)."""
    for name, v in (("p_value", p_value), ("threshold", threshold)):
        if isinstance(v, bool) or not isinstance(v, Real) or not 0 <= v <= 1:
            raise InputError(f"{name} = {v!r}: expected a probability between 0 and 1")
    return p_value < threshold
