"""Features as the trees read them: a float32 matrix, categorical columns as codes.

A NumPy array must be numeric; its columns are used as they are. In a pandas DataFrame, a
column of category, object, string or bool dtype is categorical: its values are coded
by the categories seen at ``fit`` (a value first seen at ``predict`` becomes missing,
NaN, which the trees send down their default branch). Numeric columns keep their values;
NaN means missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from growthloop.core.errors import InputError

__all__ = ["FeatureMap", "feature_map", "n_rows"]


@dataclass(frozen=True)
class FeatureMap:
    """The columns a learner was fitted on and the categories of each categorical one."""

    names: tuple[str, ...]
    categories: tuple[tuple[object, ...] | None, ...]

    @property
    def categorical(self) -> list[int]:
        """Positions of the categorical columns."""
        return [i for i, c in enumerate(self.categories) if c is not None]

    def transform(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """``X`` as a float32 matrix in the fitted column order."""
        if isinstance(X, pd.DataFrame):
            missing = [name for name in self.names if name not in X.columns]
            if missing:
                raise InputError(f"X: no column {missing[0]!r}; expected the columns of fit "
                                 f"({', '.join(self.names)})")
            out = np.empty((len(X), len(self.names)), dtype=np.float32)
            for j, (name, cats) in enumerate(zip(self.names, self.categories, strict=True)):
                col = X[name]
                if cats is None:
                    out[:, j] = _numeric(col.to_numpy(), f"X[{name!r}]")
                else:
                    codes = pd.Categorical(col, categories=list(cats)).codes
                    out[:, j] = np.where(codes < 0, np.nan, codes)
            return out
        arr = _matrix(X)
        if arr.shape[1] != len(self.names):
            raise InputError(f"X has {arr.shape[1]} columns; expected {len(self.names)}, as "
                             "in fit")
        return arr


def feature_map(X: np.ndarray | pd.DataFrame) -> FeatureMap:
    """The column names and categories of ``X`` (see the module docstring)."""
    if isinstance(X, pd.DataFrame):
        names, cats = [], []
        for name in X.columns:
            col = X[name]
            names.append(str(name))
            if isinstance(col.dtype, pd.CategoricalDtype):
                cats.append(tuple(col.cat.categories))
            elif col.dtype == bool or not pd.api.types.is_numeric_dtype(col.dtype):
                cats.append(tuple(pd.unique(col.dropna())))
            else:
                cats.append(None)
        if len(set(names)) != len(names):
            raise InputError(f"X: column names {names!r} repeat; expected unique names")
        return FeatureMap(tuple(names), tuple(cats))
    arr = _matrix(X)
    return FeatureMap(tuple(f"x{j}" for j in range(arr.shape[1])), (None,) * arr.shape[1])


def n_rows(X: np.ndarray | pd.DataFrame) -> int:
    """The number of rows of ``X``."""
    return len(X) if isinstance(X, pd.DataFrame) else int(np.shape(X)[0])


def _matrix(X: np.ndarray) -> np.ndarray:
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise InputError(f"X has shape {arr.shape}; expected a 2-D matrix (rows x features)")
    return _numeric(arr, "X")


def _numeric(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} has dtype {arr.dtype}; expected numbers (pass a DataFrame "
                         "with category columns for categorical features)")
    if arr.dtype == np.float32:
        return arr
    return arr.astype(np.float32)
