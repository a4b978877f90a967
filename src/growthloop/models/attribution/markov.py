"""Markov-chain attribution by removal effects, solved exactly (Anderl et al. 2016).

The journeys are a Markov chain of order ``k``: its states are the last ``k`` channels
seen (fewer at the start of a journey), it starts in ``(start)`` and ends in the absorbing
states ``(conversion)`` or ``(null)``; transition probabilities are the observed transition
counts, each path weighted by its journeys (``conversions + nulls``). The *removal effect*
of channel ``c`` is the share of conversions lost when every state containing ``c`` leads to
``(null)`` instead (Anderl et al. 2016, "removal effect"):

    RE_c = 1 - P(conversion | c removed) / P(conversion)

and channel ``c`` is credited ``total * RE_c / sum_j RE_j``. Value is credited the same way
with value removal effects, each conversion worth the mean value of the conversions that
end in the same state (the expected value of the ChannelAttribution package's draw).

Everything is solved exactly, with no simulation. With ``W`` the transition counts between
transient states, ``r`` the number of departures from each state (``W`` row sums plus its
conversions ``a`` and nulls ``b``) and ``s`` the journeys starting in each state, the
expected departures ``x`` from each state satisfy ``x = s + Q^T x`` with ``Q = diag(r)^-1 W``
(Kemeny & Snell 1960, the fundamental matrix). Writing ``y = x / r``:

    (diag(r) - W)^T y = s,     expected conversions = y . a,     expected value = y . v

which for the full chain gives ``y = 1`` (flows are conserved) and so the observed totals;
removing a channel deletes its states' rows and columns. One sparse LU solve per channel
(SciPy's SuperLU), so the result is the same on every run.

Confidence intervals come from the Poisson bootstrap (every journey re-weighted by an
independent Poisson(1) count: Hanley & MacGibbon 2006; Chamandy et al. 2012), which for
aggregated paths resamples each path's conversions and nulls as Poisson counts.

References
----------
Anderl, E., Becker, I., von Wangenheim, F., Schumann, J. H. (2016). Mapping the customer
journey: Lessons learned from graph-based online attribution modeling. International
Journal of Research in Marketing 33(3), 457-474.
Kemeny, J. G., Snell, J. L. (1960). Finite Markov Chains, chapter III (absorbing chains).
Chamandy, N., Muralidharan, O., Najmi, A., Naidu, S. (2012). Estimating uncertainty for
massive data streams. Google technical report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from growthloop.core.errors import InputError
from growthloop.ingest.paths import PathsLike
from growthloop.models.attribution.paths import AttributionModel, EncodedPaths

__all__ = ["MarkovAttribution", "MarkovChain", "build_chain", "removal_effects"]

_DENSE_MAP = 1 << 22  # dense index maps up to this many possible keys
_DENSE_SOLVE = 48  # dense LAPACK solves up to this many states, SuperLU beyond


@dataclass(frozen=True)
class MarkovChain:
    """The transient states of an order-``k`` chain and how each path moves through them.

    ``keys[s, j]`` is the channel code ``j`` steps before the latest touch of state ``s``
    (``-1``: before the journey started). ``pair_from``/``pair_to`` list the distinct
    transitions between transient states, and ``pair_of`` the transition taken after each
    touch that is not the last of its path (``path_of_pair`` its path).
    """

    order: int
    n_channels: int
    keys: np.ndarray  # (states, order)
    first_state: np.ndarray  # (paths,)
    last_state: np.ndarray  # (paths,)
    pair_from: np.ndarray  # (pairs,)
    pair_to: np.ndarray  # (pairs,)
    pair_of: np.ndarray  # (transitions,)
    path_of_pair: np.ndarray  # (transitions,)

    @property
    def n_states(self) -> int:
        return len(self.keys)

    def members(self, channel: int) -> np.ndarray:
        """States that contain ``channel`` (removed with it)."""
        return (self.keys == channel).any(axis=1)

    def state_names(self, channels: tuple[str, ...]) -> list[str]:
        names = np.asarray(channels, dtype=object)
        out = []
        for row in self.keys:
            seen = [names[c] for c in row[::-1] if c >= 0]
            out.append(" > ".join(seen))
        return out


def _index(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``keys`` (all in ``[0, size)``) and each key's index among them."""
    if size <= _DENSE_MAP:
        present = np.zeros(size, dtype=bool)
        present[keys] = True
        rank = (np.cumsum(present) - 1).astype(np.int32)
        return np.flatnonzero(present), rank.take(keys)
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, inv.ravel()


def build_chain(paths: EncodedPaths, order: int = 1) -> MarkovChain:
    """States and transitions of the order-``order`` chain of ``paths`` (vectorised).

    A state is coded as ``sum_j (c_j + 1) (n + 1)^j`` over the channel ``c_j`` seen ``j``
    touches before (0 before the journey started), then renumbered ``0..states-1``.
    """
    c = len(paths.channels)
    base = c + 1
    if base**order >= 2**62:
        raise InputError(f"order = {order} with {c} channels has too many possible states; "
                         "use a lower order")
    code = next(d for d in (np.int16, np.int32, np.int64) if base**order < np.iinfo(d).max)
    t = paths.touches.astype(code)
    sid = t + 1
    if order > 1:
        pos = paths.position
        for j in range(1, order):
            prev = np.zeros(len(t), dtype=code)
            prev[j:] = t[:-j] + 1
            prev[pos < j] = 0
            sid += prev * code(base**j)
    uniq, state = _index(sid, base**order)
    del sid
    digits = (uniq[:, None] // base ** np.arange(order)[None, :]) % base - 1
    n = len(uniq)
    last = paths.offsets[1:] - 1
    inner = np.ones(len(t), dtype=bool)
    inner[last] = False
    src = np.flatnonzero(inner[:-1])  # touches followed by another of their path
    wide = np.int32 if n * n < 2**31 else np.int64
    pair_key = state.take(src).astype(wide) * wide(n) + state.take(src + 1)
    pairs, pair_of = _index(pair_key, n * n)
    return MarkovChain(
        order=order, n_channels=c, keys=digits.astype(np.int64),
        first_state=state[paths.offsets[:-1]], last_state=state[last],
        pair_from=pairs // n, pair_to=pairs % n, pair_of=pair_of,
        path_of_pair=paths.path_of_touch.take(src))


def _solver(a: sp.csc_matrix | np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A solve of ``a x = b``: LAPACK for a small dense matrix, SuperLU for a sparse one."""
    if isinstance(a, np.ndarray):
        return lambda rhs: np.linalg.solve(a, rhs)
    lu = splu(a, permc_spec="COLAMD")
    return lu.solve


@dataclass(frozen=True)
class _Flows:
    """Weighted transition counts of a chain for given per-path counts."""

    pairs: np.ndarray  # journeys along each distinct transition
    start: np.ndarray  # journeys starting in each state
    conversions: np.ndarray  # conversions ending in each state
    nulls: np.ndarray
    value: np.ndarray

    @classmethod
    def of(cls, chain: MarkovChain, conversions: np.ndarray, nulls: np.ndarray,
           value: np.ndarray) -> _Flows:
        n = chain.n_states
        journeys = conversions + nulls
        return cls(
            pairs=np.bincount(chain.pair_of, journeys[chain.path_of_pair],
                              minlength=len(chain.pair_from)),
            start=np.bincount(chain.first_state, journeys, minlength=n),
            conversions=np.bincount(chain.last_state, conversions, minlength=n),
            nulls=np.bincount(chain.last_state, nulls, minlength=n),
            value=np.bincount(chain.last_state, value, minlength=n))


def removal_effects(chain: MarkovChain, conversions: np.ndarray, nulls: np.ndarray,
                    value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Removal effects of every channel on conversions and on value (Anderl et al. 2016).

    ``conversions``, ``nulls`` and ``value`` are per path (the chain's paths). Returns two
    arrays over channel codes; a channel on no journey has removal effect 0; value effects
    are NaN when there is no value.
    """
    return _removal_effects(chain, _Flows.of(chain, conversions, nulls, value))


def _removal_effects(chain: MarkovChain, f: _Flows) -> tuple[np.ndarray, np.ndarray]:
    n = chain.n_states
    a, v, s0 = f.conversions, f.value, f.start
    r = np.bincount(chain.pair_from, f.pairs, minlength=n) + a + f.nulls
    total_c, total_v = a.sum(), v.sum()
    re_c = np.zeros(chain.n_channels)
    re_v = np.full(chain.n_channels, np.nan) if total_v <= 0 else np.zeros(chain.n_channels)
    if total_c <= 0:
        return re_c, re_v
    alive = r > 0
    # (diag(r) - W)^T: column i holds state i's departures
    m = sp.csr_matrix((-f.pairs, (chain.pair_to, chain.pair_from)), shape=(n, n))
    m = (m + sp.diags(r)).tocsr()
    for ch in range(chain.n_channels):
        gone = chain.members(ch) & alive
        if not gone.any():
            continue
        keep = np.flatnonzero(alive & ~gone)
        if len(keep) == 0:
            re_c[ch] = 1.0
            if total_v > 0:
                re_v[ch] = 1.0
            continue
        sub = m[keep][:, keep]
        solve = _solver(sub.toarray() if len(keep) <= _DENSE_SOLVE else sub.tocsc())
        y = solve(s0[keep])
        re_c[ch] = min(max(1.0 - float(y @ a[keep]) / total_c, 0.0), 1.0)
        if total_v > 0:
            re_v[ch] = min(max(1.0 - float(y @ v[keep]) / total_v, 0.0), 1.0)
    return re_c, re_v


def _shares(total: float, effects: np.ndarray) -> np.ndarray:
    s = np.nansum(effects)
    if not np.isfinite(s) or s <= 0:
        return np.zeros_like(effects)
    return total * np.nan_to_num(effects) / s


class MarkovAttribution(AttributionModel):
    """Markov-chain removal-effect attribution of order 1 to ``k``, solved exactly.

    Parameters
    ----------
    order : int
        Markov order: states are the last ``order`` channels of the journey.
    n_bootstrap : int
        Poisson-bootstrap replicates for confidence intervals (0: none).
    ci : float
        Coverage of the percentile intervals.
    random_state : int or numpy.random.Generator
        Seed of the bootstrap; an int gives the same intervals on every fit.

    Attributes
    ----------
    credits_ : DataFrame
        ``channel``, ``conversions``, ``value``, ``removal_effect``, ``removal_effect_value``
        and, with a bootstrap, ``conversions_lo``, ``conversions_hi``, ``value_lo``,
        ``value_hi`` (percentile interval); ``market``/``period`` first when present.
    transition_matrix_ : DataFrame
        ``from``, ``to``, ``probability`` of the estimated chain (states named by their
        channels joined by ``" > "``, plus ``(start)``, ``(conversion)``, ``(null)``).

    Notes
    -----
    Removal effects are computed exactly from the absorbing chain (see the module
    docstring), so there is no Monte Carlo error and refitting gives identical numbers.
    A channel repeated in a row (``a > a``) makes a self-transition, which changes no
    absorption probability: collapsing repeats, as the ChannelAttribution package does,
    gives the same removal effects.

    References
    ----------
    Anderl, E., Becker, I., von Wangenheim, F., Schumann, J. H. (2016). Mapping the
    customer journey: Lessons learned from graph-based online attribution modeling.
    International Journal of Research in Marketing 33(3), 457-474.
    """

    name: ClassVar[str] = "markov"

    def __init__(self, order: int = 1, n_bootstrap: int = 200, ci: float = 0.95,
                 random_state: int | np.random.Generator = 0) -> None:
        self.order = order
        self.n_bootstrap = n_bootstrap
        self.ci = ci
        self.random_state = random_state

    def _check_params(self) -> None:
        if not isinstance(self.order, int | np.integer) or self.order < 1:
            raise InputError(f"order = {self.order!r}: expected an integer >= 1")
        if not isinstance(self.n_bootstrap, int | np.integer) or self.n_bootstrap < 0:
            raise InputError(f"n_bootstrap = {self.n_bootstrap!r}: expected an integer >= 0")
        if not 0 < self.ci < 1:
            raise InputError(f"ci = {self.ci!r}: expected a coverage between 0 and 1")

    def fit(self, paths: PathsLike) -> MarkovAttribution:
        """Solve the removal effects (and bootstrap intervals); return ``self``."""
        self._rng = np.random.default_rng(self.random_state)
        self._transitions: list[pd.DataFrame] = []
        try:
            super().fit(paths)
            self.transition_matrix_ = pd.concat(self._transitions, ignore_index=True)
        finally:
            del self._rng, self._transitions
        return self

    def _credit(self, paths: EncodedPaths) -> dict[str, np.ndarray]:
        chain = build_chain(paths, int(self.order))
        flows = _Flows.of(chain, paths.conversions, paths.nulls, paths.value)
        re_c, re_v = _removal_effects(chain, flows)
        total_c, total_v = paths.conversions.sum(), paths.value.sum()
        out = {"conversions": _shares(total_c, re_c), "value": _shares(total_v, re_v),
               "removal_effect": re_c, "removal_effect_value": re_v}
        if self.n_bootstrap:
            reps_c = np.empty((self.n_bootstrap, len(re_c)))
            reps_v = np.empty_like(reps_c)
            with np.errstate(invalid="ignore", divide="ignore"):
                per_conv = np.where(paths.conversions > 0,
                                    paths.value / paths.conversions, 0.0)
            for i in range(self.n_bootstrap):
                conv = self._rng.poisson(paths.conversions).astype(np.float64)
                nulls = self._rng.poisson(paths.nulls).astype(np.float64)
                val = conv * per_conv
                bc, bv = removal_effects(chain, conv, nulls, val)
                reps_c[i] = _shares(conv.sum(), bc) if conv.sum() > 0 else np.nan
                reps_v[i] = _shares(val.sum(), bv) if val.sum() > 0 else np.nan
            tail = 100 * (1 - self.ci) / 2
            for name, reps in (("conversions", reps_c), ("value", reps_v)):
                ok = np.isfinite(reps).all(axis=1)
                lo, hi = (np.percentile(reps[ok], [tail, 100 - tail], axis=0) if ok.any()
                          else (np.full(len(re_c), np.nan),) * 2)
                out[f"{name}_lo"], out[f"{name}_hi"] = lo, hi
        self._transitions.append(self._transition_frame(chain, flows, paths))
        return out

    def _transition_frame(self, chain: MarkovChain, flows: _Flows,
                          paths: EncodedPaths) -> pd.DataFrame:
        n = chain.n_states
        names = np.asarray([*chain.state_names(paths.channels), "(start)", "(conversion)",
                            "(null)"], dtype=object)
        frm = np.concatenate([chain.pair_from, np.full(n, n), np.arange(n), np.arange(n)])
        to = np.concatenate([chain.pair_to, np.arange(n), np.full(n, n + 1),
                             np.full(n, n + 2)])
        w = np.concatenate([flows.pairs, flows.start, flows.conversions, flows.nulls])
        keep = w > 0
        frm, to, w = frm[keep], to[keep], w[keep]
        total = np.bincount(frm, w, minlength=n + 1)
        frame = pd.DataFrame({"from": names[frm], "to": names[to], "probability": w / total[frm]})
        for name, value in zip(paths.group_names,
                               paths.groups[paths.group[0]] if paths.group_names else (),
                               strict=True):
            frame.insert(list(paths.group_names).index(name), name, value)
        return frame.sort_values(["from", "to"], kind="stable", ignore_index=True)
