"""Deterministic variant assignment, bucket for bucket the same as GrowthBook's SDKs.

A unit's bucket is a number in [0, 1) hashed from the experiment's seed (salt) and the
unit's id with 32-bit FNV-1a (Fowler, Noll & Vo; offset basis 2166136261, prime
16777619: for each character ``h = ((h ^ ord(c)) * 16777619) mod 2**32``), exactly as
GrowthBook's ``hash(seed, value, version)``:

- version 2 (current): ``fnv1a32(str(fnv1a32(seed + id))) % 10000 / 10000``;
- version 1 (legacy): ``fnv1a32(id + seed) % 1000 / 1000``.

The variants own consecutive ranges of [0, 1) in proportion to their weights
(GrowthBook's ``getBucketRanges``: variant ``i`` gets ``[c_i, c_i + coverage w_i)``
with ``c_i`` the sum of the weights before it) and a unit gets the variant whose range
holds its bucket (``chooseVariation``). Characters are hashed by code point, as the
Python SDK does; the JavaScript SDK hashes UTF-16 code units, which is the same for
every character outside the astral planes (ids are normally ASCII). GrowthBook silently
replaces weights that do not sum to 1 (± 0.01) by equal ones and clamps the coverage
into [0, 1]; here both are errors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

from growthloop.core.errors import InputError

__all__ = ["FNV_OFFSET", "FNV_PRIME", "assign", "assign_many", "bucket_ranges",
           "choose_variation", "fnv1a32", "hash_many", "hash_unit"]

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
_MASK = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of ``text``, one code point at a time.

    >>> fnv1a32(""), hex(fnv1a32("a"))
    (2166136261, '0xe40c292c')
    """
    h = FNV_OFFSET
    for ch in text:
        h = ((h ^ ord(ch)) * FNV_PRIME) & _MASK
    return h


def _check_version(version: object) -> int:
    if version not in (1, 2) or isinstance(version, bool):
        raise InputError(f"hash_version = {version!r}: expected 1 or 2 (GrowthBook's hash "
                         "versions)")
    return int(version)  # type: ignore[call-overload]


def _text(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Integral) and not isinstance(value, bool):
        return str(int(value))
    raise InputError(f"{name} = {value!r}: expected a string (or an integer id)")


def hash_unit(seed: str, unit_id: str | int, version: int = 2) -> float:
    """GrowthBook's bucket of ``unit_id`` under ``seed``, in [0, 1)."""
    version = _check_version(version)
    seed, unit_id = _text("seed", seed), _text("unit_id", unit_id)
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + unit_id))) % 10000) / 10000
    return (fnv1a32(unit_id + seed) % 1000) / 1000


def _fnv_many(texts: np.ndarray) -> np.ndarray:
    """FNV-1a 32 of each string of a NumPy unicode array, vectorised over the strings."""
    texts = np.ascontiguousarray(texts, dtype=np.str_)
    width = texts.dtype.itemsize // 4
    h = np.full(len(texts), FNV_OFFSET, dtype=np.uint64)
    if width == 0 or len(texts) == 0:
        return h
    codes = texts.view(np.uint32).reshape(len(texts), width).astype(np.uint64)
    lengths = np.char.str_len(texts)
    for j in range(width):
        step = ((h ^ codes[:, j]) * np.uint64(FNV_PRIME)) & np.uint64(_MASK)
        h = np.where(j < lengths, step, h)
    return h


def hash_many(seed: str, unit_ids: Sequence[str | int] | np.ndarray,
              version: int = 2) -> np.ndarray:
    """``hash_unit`` of many ids at once (a float array)."""
    version = _check_version(version)
    seed = _text("seed", seed)
    if isinstance(unit_ids, np.ndarray) and unit_ids.dtype.kind == "U":
        ids = unit_ids
    else:
        ids = np.asarray([_text("unit_id", u) for u in unit_ids], dtype=np.str_)
    if len(ids) == 0:
        return np.zeros(0)
    if version == 2:
        first = _fnv_many(np.char.add(seed, ids))
        return (_fnv_many(first.astype(np.str_)) % 10000) / 10000
    return (_fnv_many(np.char.add(ids, seed)) % 1000) / 1000


def bucket_ranges(weights: Sequence[float], coverage: float = 1.0) -> list[tuple[float,
                                                                                   float]]:
    """GrowthBook's ``getBucketRanges``: ``[c_i, c_i + coverage w_i)`` per variant."""
    w = [float(x) if isinstance(x, Real) and not isinstance(x, bool) else math.nan
         for x in weights]
    if not w or not all(math.isfinite(x) and x >= 0 for x in w):
        raise InputError(f"weights = {list(weights)!r}: expected non-negative weights, one "
                         "per variant")
    total = sum(w)
    if not 0.99 <= total <= 1.01:
        raise InputError(f"weights = {list(weights)!r}: sum to {total!r}; expected weights "
                         "summing to 1")
    if isinstance(coverage, bool) or not isinstance(coverage, Real) \
            or not 0 <= coverage <= 1:
        raise InputError(f"coverage = {coverage!r}: expected a share between 0 and 1")
    ranges, start = [], 0.0
    for x in w:
        ranges.append((start, start + coverage * x))
        start += x
    return ranges


def choose_variation(bucket: float, ranges: Sequence[tuple[float, float]]) -> int:
    """The index of the range holding ``bucket`` (GrowthBook's ``chooseVariation``), or
    -1 if none does (a unit outside the coverage)."""
    for i, (low, high) in enumerate(ranges):
        if low <= bucket < high:
            return i
    return -1


def _full_ranges(weights: Sequence[float], variants: Sequence[str]) -> list[tuple[float,
                                                                                  float]]:
    if len(weights) != len(variants) or len(variants) < 1:
        raise InputError(f"weights = {list(weights)!r}: expected one weight per variant "
                         f"({len(variants)})")
    ranges = bucket_ranges(weights)
    if abs(ranges[-1][1] - 1) > 1e-6:
        raise InputError(f"weights = {list(weights)!r}: sum to {ranges[-1][1]!r}; expected "
                         "weights summing to 1, so that every unit gets a variant")
    return ranges


def assign(experiment_salt: str, unit_id: str | int, weights: Sequence[float],
           variants: Sequence[str], *, hash_version: int = 2) -> str:
    """The variant of ``unit_id`` in the experiment seeded by ``experiment_salt``.

    Stable (a pure function of its arguments) and equal to GrowthBook's assignment for
    the same seed, hash version and weights (coverage 1).
    """
    ranges = _full_ranges(weights, variants)
    return variants[choose_variation(hash_unit(experiment_salt, unit_id, hash_version),
                                     ranges)]


def assign_many(experiment_salt: str, unit_ids: Sequence[str | int] | np.ndarray,
                weights: Sequence[float], variants: Sequence[str], *,
                hash_version: int = 2) -> np.ndarray:
    """``assign`` for many ids at once (an array of variant names)."""
    ranges = _full_ranges(weights, variants)
    buckets = hash_many(experiment_salt, unit_ids, hash_version)
    ends = np.array([high for _, high in ranges])
    index = np.minimum(np.searchsorted(ends, buckets, side="right"), len(ranges) - 1)
    return np.asarray(variants, dtype=object)[index]
