"""Rule-based attribution: each touch of a path gets a fixed share of its conversions.

Every model here is a weight per touch that sums to 1 over the touches of a path; a
channel's credit is the sum of its touches' weights times the path's conversions (and
value). A channel seen twice on a path is credited twice. The rules are the industry's
standard heuristics (Google Analytics' attribution model definitions; Berman 2018,
"Beyond the last touch: attribution in online advertising", Marketing Science 37(5)):

- ``FirstTouch``, ``LastTouch``: all credit to the first (last) touch;
- ``LastNonDirect``: to the last touch whose channel is not direct, or to the last touch
  when all of them are direct;
- ``Linear``: ``1 / n`` to each of the ``n`` touches;
- ``TimeDecay``: weight ``2 ** (-age / half_life)`` normalised over the path, ``age`` the
  time from the touch to the conversion;
- ``PositionBased`` ("U-shaped"): 40 % to the first, 40 % to the last, 20 % split over the
  touches in between (configurable).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np

from growthloop.core.errors import InputError
from growthloop.models.attribution.paths import AttributionModel, EncodedPaths

__all__ = [
    "FirstTouch",
    "LastNonDirect",
    "LastTouch",
    "Linear",
    "PositionBased",
    "RuleModel",
    "TimeDecay",
]


class RuleModel(AttributionModel):
    """A model that gives each touch a weight; the weights of a path sum to 1."""

    def _weights(self, paths: EncodedPaths) -> np.ndarray:
        raise NotImplementedError

    def _credit(self, paths: EncodedPaths) -> dict[str, np.ndarray]:
        w = self._weights(paths)
        path = paths.path_of_touch
        n = len(paths.channels)
        return {
            "conversions": np.bincount(paths.touches, w * paths.conversions[path], minlength=n),
            "value": np.bincount(paths.touches, w * paths.value[path], minlength=n),
        }


class FirstTouch(RuleModel):
    """All credit to the first touch of each path.

    Examples
    --------
    >>> import pandas as pd
    >>> paths = pd.DataFrame({"path": ["a > b"], "conversions": [2], "value": [10.0]})
    >>> FirstTouch().fit(paths).credits_[["channel", "conversions"]].to_numpy().tolist()
    [['a', 2.0], ['b', 0.0]]
    """

    name: ClassVar[str] = "first"

    def _weights(self, paths: EncodedPaths) -> np.ndarray:
        return (paths.position == 0).astype(np.float64)


class LastTouch(RuleModel):
    """All credit to the last touch of each path ("last click")."""

    name: ClassVar[str] = "last"

    def _weights(self, paths: EncodedPaths) -> np.ndarray:
        return (paths.position == np.repeat(paths.lengths - 1, paths.lengths)).astype(
            np.float64)


class LastNonDirect(RuleModel):
    """All credit to the last touch not from a direct channel (the last touch if all are).

    Parameters
    ----------
    direct : tuple of str
        Channel names that count as direct. For a project, the channels of kind
        ``organic`` (``growthloop.metrics.journeys.direct_channels(cfg)``).
    """

    name: ClassVar[str] = "last_non_direct"

    def __init__(self, direct: tuple[str, ...] = ("direct",)) -> None:
        self.direct = direct

    def _check_params(self) -> None:
        if isinstance(self.direct, str):
            raise InputError(f"direct = {self.direct!r}: expected a tuple of channel names")

    def _weights(self, paths: EncodedPaths) -> np.ndarray:
        direct = np.isin(np.asarray(paths.channels, dtype=object),
                         np.asarray(list(self.direct), dtype=object))
        idx = np.arange(len(paths.touches))
        starts = paths.offsets[:-1]
        last = paths.offsets[1:] - 1
        candidate = np.where(direct[paths.touches], -1, idx)
        best = np.maximum.reduceat(candidate, starts) if len(starts) else candidate[:0]
        chosen = np.where(best >= 0, best, last)
        w = np.zeros(len(idx))
        w[chosen] = 1.0
        return w


class Linear(RuleModel):
    """Each of a path's ``n`` touches gets ``1 / n``."""

    name: ClassVar[str] = "linear"

    def _weights(self, paths: EncodedPaths) -> np.ndarray:
        return np.repeat(1.0 / paths.lengths, paths.lengths)


class TimeDecay(RuleModel):
    """Weight ``2 ** (-age / half_life)``, normalised over each path.

    Parameters
    ----------
    half_life : float
        Age at which a touch weighs half as much as one at the conversion; 7 (days) is
        Google Analytics' default.
    clock : {"auto", "days", "touches"}
        How age is measured: ``days`` from the touch to the conversion (the path table's
        ``days`` column, written by ``build_paths(..., with_days=True)``), or ``touches``
        between the touch and the conversion (0 for the last), for path files that carry
        no times. ``auto`` uses days when the column is there. The clock used is in
        ``clock_``.
    """

    name: ClassVar[str] = "time_decay"

    def __init__(self, half_life: float = 7.0,
                 clock: Literal["auto", "days", "touches"] = "auto") -> None:
        self.half_life = half_life
        self.clock = clock

    def _check_params(self) -> None:
        if (isinstance(self.half_life, bool) or not isinstance(self.half_life, int | float)
                or not 0 < self.half_life < math.inf):
            raise InputError(f"half_life = {self.half_life!r}: expected a finite number > 0")
        if self.clock not in ("auto", "days", "touches"):
            raise InputError(f"clock = {self.clock!r}: expected auto, days or touches")

    def _weights(self, paths: EncodedPaths) -> np.ndarray:
        if self.clock == "days" and paths.days is None:
            raise InputError("time decay with clock='days' needs a 'days' column in the paths "
                             "(build_paths(..., with_days=True)); or use clock='touches'")
        use_days = paths.days is not None and self.clock != "touches"
        self.clock_ = "days" if use_days else "touches"
        age = (paths.days if use_days
               else np.repeat(paths.lengths - 1, paths.lengths) - paths.position)
        age = np.asarray(age, dtype=np.float64)
        # measured from each path's newest touch: the weights' ratios are the same and the
        # newest weighs 1, so old paths cannot underflow to 0 / 0
        newest = np.minimum.reduceat(age, paths.offsets[:-1]) if len(age) else age
        raw = np.exp2(-(age - np.repeat(newest, paths.lengths)) / float(self.half_life))
        total = np.bincount(paths.path_of_touch, raw, minlength=paths.n_paths)
        return raw / total[paths.path_of_touch]


class PositionBased(RuleModel):
    """U-shaped credit: ``first`` to the first touch, ``last`` to the last, the rest evenly
    to the touches between.

    A one-touch path gives it everything; a two-touch path splits in proportion
    ``first : last`` (50/50 by default).

    Parameters
    ----------
    first, last : float
        Shares of the first and last touch; ``first + last <= 1``.
    """

    name: ClassVar[str] = "position"

    def __init__(self, first: float = 0.4, last: float = 0.4) -> None:
        self.first = first
        self.last = last

    def _check_params(self) -> None:
        f, la = self.first, self.last
        if not (0 <= f <= 1 and 0 <= la <= 1 and f + la <= 1 + 1e-12 and f + la > 0):
            raise InputError(f"first = {f!r}, last = {la!r}: expected shares in [0, 1] with "
                             "0 < first + last <= 1")

    def _weights(self, paths: EncodedPaths) -> np.ndarray:
        n = np.repeat(paths.lengths, paths.lengths)
        pos = paths.position
        f, la = float(self.first), float(self.last)
        middle = (1.0 - f - la) / np.maximum(n - 2, 1)
        w = np.where(pos == 0, f, np.where(pos == n - 1, la, middle))
        w = np.where(n == 2, np.where(pos == 0, f, la) / (f + la), w)
        return np.where(n == 1, 1.0, w)
