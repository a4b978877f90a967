"""Every attribution model by name, and their credits side by side on the same paths.

``compare_models`` fits several models on one path table and lays their credits side by
side, with ``last_vs_markov`` = last-touch credit / Markov credit - 1: where it is
positive, last click over-credits the channel relative to the removal effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from growthloop.core.errors import InputError
from growthloop.ingest.paths import GROUP_COLUMNS, PathsLike
from growthloop.models.attribution.markov import MarkovAttribution
from growthloop.models.attribution.paths import AttributionModel
from growthloop.models.attribution.rules import (
    FirstTouch,
    LastNonDirect,
    LastTouch,
    Linear,
    PositionBased,
    TimeDecay,
)
from growthloop.models.attribution.shapley import ShapleyAttribution

__all__ = ["MODELS", "compare_models", "make_model"]

MODELS: dict[str, type[AttributionModel]] = {
    "first": FirstTouch,
    "last": LastTouch,
    "last_non_direct": LastNonDirect,
    "linear": Linear,
    "time_decay": TimeDecay,
    "position": PositionBased,
    "markov": MarkovAttribution,
    "shapley": ShapleyAttribution,
}


def make_model(name: str, *, order: int = 1, direct: Sequence[str] = ("direct",),
               half_life: float = 7.0, n_bootstrap: int = 0, random_state: int = 0,
               max_channels: int = 20) -> AttributionModel:
    """The model called ``name`` (a key of ``MODELS``) with the settings that apply to it."""
    if name not in MODELS:
        raise InputError(f"unknown attribution model {name!r}; expected one of: "
                         f"{', '.join(MODELS)}")
    if name == "markov":
        return MarkovAttribution(order=order, n_bootstrap=n_bootstrap,
                                 random_state=random_state)
    if name == "last_non_direct":
        return LastNonDirect(direct=tuple(direct))
    if name == "time_decay":
        return TimeDecay(half_life=half_life)
    if name == "shapley":
        return ShapleyAttribution(max_channels=max_channels)
    return MODELS[name]()


def compare_models(paths: PathsLike, *, models: Sequence[str] = tuple(MODELS),
                   metric: Literal["conversions", "value"] = "conversions",
                   **settings: Any) -> pd.DataFrame:
    """Credits of several models on the same paths, one column per model.

    Rows are channels (within market and period when the paths have them); ``settings``
    go to ``make_model``. With both ``last`` and ``markov``, ``last_vs_markov`` is the
    relative over- (positive) or under-credit (negative) of last touch.
    """
    if metric not in ("conversions", "value"):
        raise InputError(f"metric = {metric!r}: expected conversions or value")
    out: pd.DataFrame | None = None
    for name in models:
        credits = make_model(name, **settings).fit(paths).credits_
        keys = [c for c in GROUP_COLUMNS if c in credits.columns] + ["channel"]
        col = credits[[*keys, metric]].rename(columns={metric: name})
        out = col if out is None else out.merge(col, on=keys, how="outer")
    if out is None:
        raise InputError("no models to compare")
    if "last" in out.columns and "markov" in out.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["last_vs_markov"] = np.where(out["markov"] > 0,
                                             out["last"] / out["markov"] - 1.0, np.nan)
    return out.reset_index(drop=True)
