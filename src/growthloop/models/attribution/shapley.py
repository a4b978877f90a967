"""Shapley-value attribution from path-level coalition values, computed exactly.

Channels are the players of a cooperative game (Shapley 1953) whose worth is built from
the journeys, following the conversion-rate coalition values of Dalessandro et al. (2012)
and Zhao et al. (2018). Group journeys by the *set* of channels they touched (order and
repeats ignored): ``N(T)`` journeys touched exactly the set ``T``, ``K(T)`` of them
converted with value ``V(T)``. The conversion rate of a set is ``g(T) = K(T) / N(T)``; for a
set no journey touched exactly, the pooled rate of the journeys that touched only channels
of it, ``sum_{Y ⊂ T} K(Y) / sum_{Y ⊂ T} N(Y)`` (0 if there are none); ``g(∅) = 0``. The worth
of a coalition ``S`` is the conversions the journeys would have made had they seen only the
channels in ``S``:

    v(S) = sum_T N(T) g(T ∩ S)

so ``v(all channels)`` is the observed number of conversions and the Shapley values add up
to it exactly (efficiency). The Shapley value of a game is the sum of its Harsanyi
dividends ``d(X) = sum_{Y ⊆ X} (-1)^{|X \\ Y|} g(Y)`` shared equally by the members of
``X`` (Harsanyi 1963), and the dividends of ``v`` are those of ``g`` weighted by the journeys
whose set contains ``X``, so

    phi_c = sum_{X ∋ c} d(X) M(X) / |X|,     M(X) = sum_{T ⊇ X} N(T).

``d`` (a Möbius transform) and ``M`` (a superset sum) are fast subset transforms over all
``2^n`` coalitions: ``O(n 2^n)`` time and memory, exact with no sampling. That is instant up to
about 20 channels and impossible beyond about 30, so ``fit`` raises ``InputError`` when a
market has more than ``max_channels`` channels: group rare channels together, or use
``MarkovAttribution``, which has no such limit. Value is credited the same way with
``V(T) / N(T)`` in place of the conversion rate.

References
----------
Shapley, L. S. (1953). A value for n-person games. In Contributions to the Theory of Games
II, Annals of Mathematics Studies 28, 307-317.
Harsanyi, J. C. (1963). A simplified bargaining model for the n-person cooperative game.
International Economic Review 4(2), 194-220.
Dalessandro, B., Perlich, C., Stitelman, O., Provost, F. (2012). Causally motivated
attribution for online advertising. Proceedings of ADKDD '12.
Zhao, K., Mahboobi, S. H., Bagheri, S. R. (2018). Shapley value methods for attribution
modeling in online advertising. arXiv:1804.05327.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from growthloop.core.errors import InputError
from growthloop.models.attribution.paths import AttributionModel, EncodedPaths

__all__ = ["MAX_CHANNELS", "ShapleyAttribution", "coalition_rates", "shapley_from_rates"]

MAX_CHANNELS = 24  # 2^24 coalitions: a few arrays of 128 MiB each


def _across_bits(
    a: np.ndarray, n: int, *, into_supersets: bool, op: np.ufunc = np.add
) -> np.ndarray:
    """The fast subset transforms over ``2^n`` coalitions, in ``O(n 2^n)``: for each of the
    ``n`` bits, ``op`` (add or subtract) every set without the bit into the same set with
    it (``into_supersets``), or every set with the bit into the set without it."""
    out = a.copy()
    dst, src = (1, 0) if into_supersets else (0, 1)
    for i in range(n):
        v = out.reshape(-1, 2, 1 << i)
        op(v[:, dst, :], v[:, src, :], out=v[:, dst, :])
    return out


def _subset_sum(a: np.ndarray, n: int) -> np.ndarray:
    """``out[X] = sum_{Y ⊆ X} a[Y]`` (zeta transform)."""
    return _across_bits(a, n, into_supersets=True)


def _superset_sum(a: np.ndarray, n: int) -> np.ndarray:
    """``out[X] = sum_{Y ⊇ X} a[Y]``."""
    return _across_bits(a, n, into_supersets=False)


def _mobius(a: np.ndarray, n: int) -> np.ndarray:
    """``out[X] = sum_{Y ⊆ X} (-1)^{|X - Y|} a[Y]`` (inverse of the zeta transform)."""
    return _across_bits(a, n, into_supersets=True, op=np.subtract)


def _popcount(n: int) -> np.ndarray:
    x = np.arange(1 << n, dtype=np.int64)
    count = np.zeros(1 << n, dtype=np.int64)
    for i in range(n):
        count += (x >> i) & 1
    return count


def coalition_rates(journeys: np.ndarray, outcome: np.ndarray, n: int) -> np.ndarray:
    """``g`` over all ``2^n`` channel sets from per-set ``journeys`` and ``outcome`` totals.

    The observed rate where journeys touched exactly that set, else the pooled rate over
    its proper subsets, else 0; ``g[0] = 0``.
    """
    pooled_n = _subset_sum(journeys, n)
    pooled_k = _subset_sum(outcome, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(journeys > 0, outcome / journeys,
                     np.where(pooled_n > 0, pooled_k / pooled_n, 0.0))
    g[0] = 0.0
    return g


def shapley_from_rates(journeys: np.ndarray, rates: np.ndarray, n: int) -> np.ndarray:
    """Shapley value of each of ``n`` players in ``v(S) = sum_T N(T) g(T ∩ S)``."""
    share = _mobius(rates, n) * _superset_sum(journeys, n)
    size = _popcount(n)
    size[0] = 1
    share = share / size
    return np.array([share.reshape(-1, 2, 1 << i)[:, 1, :].sum() for i in range(n)])


class ShapleyAttribution(AttributionModel):
    """Exact Shapley-value attribution over channel sets (order of touches ignored).

    Parameters
    ----------
    max_channels : int
        Most channels per market (or period) the exact computation accepts; it costs
        ``O(n 2^n)`` time and memory (20 channels: about 20 million steps). Beyond it ``fit``
        raises ``InputError``; nothing is approximated silently.

    Notes
    -----
    Credits add up to the conversions (and value) of the paths exactly (efficiency), two
    channels that play the same role on every journey get the same credit (symmetry), and a
    channel that changes no coalition's rate gets nothing (null player). A channel whose
    journeys convert less often than those without it lowers coalition values and can get
    a negative credit. See the module docstring for the coalition values.

    References
    ----------
    Shapley (1953); Harsanyi (1963); Dalessandro et al. (2012); Zhao et al. (2018).
    """

    name: ClassVar[str] = "shapley"

    def __init__(self, max_channels: int = 20) -> None:
        self.max_channels = max_channels

    def _check_params(self) -> None:
        if (isinstance(self.max_channels, bool) or not isinstance(self.max_channels, int)
                or not 1 <= self.max_channels <= MAX_CHANNELS):
            raise InputError(f"max_channels = {self.max_channels!r}: expected 1 to "
                             f"{MAX_CHANNELS} (the exact computation holds arrays of 2^n "
                             "numbers: 24 channels take about 1 GB)")

    def _credit(self, paths: EncodedPaths) -> dict[str, np.ndarray]:
        n_all = len(paths.channels)
        journeys = paths.conversions + paths.nulls
        seen = np.zeros(n_all, dtype=bool)
        seen[paths.touches[(journeys > 0)[paths.path_of_touch]]] = True
        players = np.flatnonzero(seen)
        n = len(players)
        if n > self.max_channels:
            group = dict(zip(paths.group_names, paths.groups[paths.group[0]], strict=True))
            where = f" in {group}" if group else ""
            raise InputError(
                f"Shapley attribution is exact over all 2^n channel coalitions; {n} channels"
                f"{where} exceed max_channels = {self.max_channels}: group rare channels "
                "together or use the Markov model")
        conv = np.zeros(n_all)
        value = np.zeros(n_all)
        if n == 0:
            return {"conversions": conv, "value": value}
        local = np.full(n_all, 0, dtype=np.int64)
        local[players] = np.arange(n)
        bits = np.left_shift(1, local[paths.touches]) * seen[paths.touches]
        sets = np.bitwise_or.reduceat(bits, paths.offsets[:-1])
        size = 1 << n
        n_set = np.bincount(sets, journeys, minlength=size)
        for out, outcome in ((conv, paths.conversions), (value, paths.value)):
            k_set = np.bincount(sets, outcome, minlength=size)
            out[players] = shapley_from_rates(n_set, coalition_rates(n_set, k_set, n), n)
        return {"conversions": conv, "value": value}
