"""Adjusted p-values for many metrics or variants at once.

For ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``:

- Holm 1979, "A simple sequentially rejective multiple test procedure" (Scand. J.
  Statist. 6): ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting
  ``adj < alpha`` controls the family-wise error rate at ``alpha``;
- Benjamini & Hochberg 1995, "Controlling the false discovery rate" (J. R. Statist.
  Soc. B 57): ``adj_(i) = min_{j >= i} min(1, m p_(j) / j)`` (the "q-values");
  rejecting ``adj < alpha`` controls the false discovery rate at ``alpha`` for
  independent or positively dependent tests.

Both equal ``statsmodels.stats.multitest.multipletests`` with ``method="holm"`` and
``"fdr_bh"``; the result is in the input's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from growthloop.core.errors import InputError

__all__ = ["benjamini_hochberg", "holm"]


def _sorted(p_values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or len(p) == 0:
        raise InputError(f"p_values = {p_values!r}: expected a non-empty list of p-values")
    if not np.all((p >= 0) & (p <= 1)):
        raise InputError(f"p_values = {p_values!r}: expected probabilities between 0 and 1")
    order = np.argsort(p, kind="stable")
    return p[order], order


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate)."""
    p, order = _sorted(p_values)
    m = len(p)
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p))
    out = np.empty(m)
    out[order] = adj
    return out


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values, the q-values (false discovery rate)."""
    p, order = _sorted(p_values)
    m = len(p)
    adj = np.minimum.accumulate((m * p / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(1.0, adj)
    return out
