"""Path tables parsed for the attribution models, and the contract every model follows.

``encode_paths`` turns a validated path table (``growthloop.ingest.paths``) into integer
channel codes; ``AttributionModel`` is the estimator contract (``growthloop.core.estimator``):
settings in ``__init__``, ``fit(paths)`` returns ``self``, results in ``credits_``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Self

import numpy as np
import pandas as pd
import pyarrow as pa

from growthloop.core.errors import InputError
from growthloop.core.estimator import Estimator
from growthloop.ingest.paths import (
    GROUP_COLUMNS,
    PathsLike,
    normalise_paths,
    split_paths,
    touch_days,
)

__all__ = ["AttributionModel", "EncodedPaths", "PathsLike", "encode_paths"]


@dataclass(frozen=True)
class EncodedPaths:
    """Paths as integer channel codes: touches of path ``i`` are
    ``touches[offsets[i]:offsets[i + 1]]``; channels sorted by name."""

    channels: tuple[str, ...]
    offsets: np.ndarray  # (paths + 1,) int64
    touches: np.ndarray  # (touches,) int32 channel codes
    conversions: np.ndarray  # (paths,) float64
    nulls: np.ndarray
    value: np.ndarray
    days: np.ndarray | None  # (touches,) days to the end of the journey, if given
    group_names: tuple[str, ...]  # which of GROUP_COLUMNS are present
    groups: tuple[tuple[str, ...], ...]  # the distinct group values, sorted
    group: np.ndarray  # (paths,) index into groups

    @property
    def n_paths(self) -> int:
        return len(self.conversions)

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def _index_type(self) -> type[np.signedinteger]:
        return np.int32 if len(self.touches) < 2**31 else np.int64

    @cached_property
    def path_of_touch(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_paths, dtype=self._index_type), self.lengths)

    @cached_property
    def position(self) -> np.ndarray:
        """0-based position of each touch in its path."""
        it = self._index_type
        return (np.arange(len(self.touches), dtype=it)
                - np.repeat(self.offsets[:-1].astype(it), self.lengths))

    def subset(self, rows: np.ndarray) -> EncodedPaths:
        """The paths at ``rows`` (a boolean mask or indices), same channel codes."""
        rows = np.flatnonzero(rows) if rows.dtype == bool else np.asarray(rows)
        lengths = self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        take = (np.repeat(self.offsets[rows] - offsets[:-1], lengths)
                + np.arange(offsets[-1]))
        return EncodedPaths(
            channels=self.channels, offsets=offsets, touches=self.touches[take],
            conversions=self.conversions[rows], nulls=self.nulls[rows], value=self.value[rows],
            days=None if self.days is None else self.days[take],
            group_names=self.group_names, groups=self.groups, group=self.group[rows])

    def by_group(self) -> Iterator[tuple[tuple[str, ...], EncodedPaths]]:
        """(group values, its paths) for each market/period present; one group if none."""
        if len(self.groups) == 1:
            yield self.groups[0], self
            return
        for i, g in enumerate(self.groups):
            yield g, self.subset(self.group == i)


def encode_paths(data: PathsLike, source: str = "paths") -> EncodedPaths:
    """Validate a path table and parse its path strings into channel codes (Arrow kernels).

    The counts are checked again even on a table ``validate_paths`` returned (cheap, and an
    edited table keeps its schema metadata); the paths are parsed here in any case.
    """
    if isinstance(data, pa.Table):
        source = (data.schema.metadata or {}).get(b"source", source.encode()).decode()
    table = normalise_paths(data, source)
    touches, names, lengths = split_paths(table.column("path").combine_chunks(), source)
    days = touch_days(table, lengths, source) if "days" in table.column_names else None
    group_names = tuple(g for g in GROUP_COLUMNS if g in table.column_names)
    if group_names:
        keys = pd.MultiIndex.from_arrays(
            [table.column(g).to_numpy(zero_copy_only=False) for g in group_names])
        codes_g, uniques = pd.factorize(keys, sort=True)
        groups = tuple(tuple(str(v) for v in (u if isinstance(u, tuple) else (u,)))
                       for u in uniques)
        group = np.asarray(codes_g, dtype=np.int64)
    else:
        groups, group = ((),), np.zeros(table.num_rows, dtype=np.int64)
    col = table.column
    return EncodedPaths(
        channels=tuple(names),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        touches=touches, conversions=col("conversions").to_numpy(),
        nulls=col("nulls").to_numpy(), value=col("value").to_numpy(), days=days,
        group_names=group_names, groups=groups, group=group)


class AttributionModel(Estimator):
    """The contract of every attribution model (``growthloop.core.estimator``).

    ``__init__`` stores settings only; ``fit(paths)`` validates a path table (see
    ``growthloop.ingest.paths``), credits each path's conversions and value to its
    channels and returns ``self``. Fitted attributes end in ``_``:

    - ``credits_``: DataFrame with ``channel``, ``conversions``, ``value`` (plus ``market``
      and/or ``period`` first when the paths have them: each group is fitted on its own);
    - ``channels_``: the channel names, sorted;
    - ``total_conversions_``, ``total_value_``: what was credited.

    Subclasses implement ``_credit(paths) -> dict`` of per-channel arrays with at least
    ``conversions`` and ``value``.
    """

    name: ClassVar[str] = ""
    fitted_attribute: ClassVar[str] = "credits_"
    fit_signature: ClassVar[str] = "fit(paths)"

    def _check_params(self) -> None:
        """Raise ``InputError`` for invalid settings (called at the start of ``fit``)."""

    def _credit(self, paths: EncodedPaths) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def fit(self, paths: PathsLike) -> Self:
        """Credit conversions and value to channels; return ``self``."""
        self._check_params()
        enc = encode_paths(paths)
        if enc.conversions.sum() <= 0:
            raise InputError("the paths have no conversions: nothing to credit")
        frames = []
        for key, sub in enc.by_group():
            res = self._credit(sub)
            frame = pd.DataFrame({"channel": list(enc.channels), **res})
            for name, value in zip(enc.group_names, key, strict=True):
                frame.insert(list(enc.group_names).index(name), name, value)
            frames.append(frame)
        self.credits_ = pd.concat(frames, ignore_index=True)
        self.channels_ = list(enc.channels)
        self.total_conversions_ = float(enc.conversions.sum())
        self.total_value_ = float(enc.value.sum())
        return self

    def to_frame(self) -> pd.DataFrame:
        """The fitted credits as a new DataFrame, with the model's name in column ``model``."""
        self.check_fitted()
        out = self.credits_.copy()
        out.insert(0, "model", self.name)
        return out
