"""The base learner of the meta-learners: LightGBM boosted trees on features binned once.

Every meta-learner fits several tree models (one per arm, per stage, per fold) on rows of
the same feature matrix. LightGBM's ``Dataset`` bins the features once (histogram
boosting, Ke et al. 2017, "LightGBM: a highly efficient gradient boosting decision tree",
NeurIPS 30); ``Dataset.subset`` then shares those bins with every model fitted on a part
of the rows, with its own label, so a learner bins its input once however many models it
fits. Features arrive as float32 (half the memory of float64, no copy inside LightGBM).

``BinnedData`` holds the binned features; ``fit_trees`` fits one model on some of its
rows with a given label, optionally stopping early on a validation split of those rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # LightGBM is imported where trees are grown: the CLI starts without it
    import lightgbm as lgb

__all__ = ["MIN_VALIDATION", "BinnedData", "TreeSettings", "fit_trees", "predict_trees"]

#: The fewest rows a validation split for early stopping may have: the loss of fewer
#: rows is too noisy to stop on (it stops a model that has not learnt the effect yet).
MIN_VALIDATION = 1000

Objective = Literal["binary", "regression"]


@dataclass(frozen=True)
class TreeSettings:
    """The boosting settings shared by every model of a learner."""

    n_estimators: int
    learning_rate: float
    num_leaves: int
    min_child_samples: int
    max_bin: int
    random_state: int
    n_jobs: int | None
    early_stopping_rounds: int | None
    validation_fraction: float
    subsample: float = 1.0

    def params(self, objective: Objective) -> dict[str, Any]:
        """LightGBM's parameters for one model (``force_col_wise`` skips its layout probe,
        ``deterministic`` makes a refit on the same data and threads give the same trees;
        ``subsample`` below 1 grows each tree on that share of the rows, Friedman 2002)."""
        bagging = ({"bagging_fraction": self.subsample, "bagging_freq": 1}
                   if self.subsample < 1 else {})
        return {**bagging,
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "max_bin": self.max_bin,
            "seed": self.random_state,
            "num_threads": threads(self.n_jobs),
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }


def threads(n_jobs: int | None) -> int:
    """LightGBM's ``num_threads`` for scikit-learn's ``n_jobs``: None is one thread, a
    negative number every core (LightGBM's 0, OpenMP's default). One thread is the default
    because OpenMP threads that share busy cores with other processes wait on each other:
    this module's tests ran 16 times slower with two threads than with one on a loaded
    2-core machine."""
    if n_jobs is None:
        return 1
    return 0 if n_jobs < 0 else int(n_jobs)


class BinnedData:
    """A feature matrix binned once, to fit models on any of its rows."""

    def __init__(self, X: np.ndarray, categorical: list[int], settings: TreeSettings) -> None:
        import lightgbm as lgb

        self.n_rows = len(X)
        self._full = lgb.Dataset(
            X, label=np.zeros(len(X), dtype=np.float32),
            categorical_feature=categorical or "auto", free_raw_data=True,
            params={"max_bin": settings.max_bin, "verbosity": -1,
                    "min_data_in_leaf": settings.min_child_samples,
                    "num_threads": threads(settings.n_jobs)},
        ).construct()

    def rows(self, index: np.ndarray, label: np.ndarray) -> lgb.Dataset:
        """The binned rows ``index`` with outcome ``label`` (bins shared, nothing rebinned)."""
        part = self._full.subset(np.sort(index).astype(np.int32, copy=False))
        order = np.argsort(index, kind="stable")
        return part.construct().set_label(np.asarray(label, dtype=np.float32)[order])


def fit_trees(data: BinnedData, index: np.ndarray, label: np.ndarray, objective: Objective,
              settings: TreeSettings) -> lgb.Booster:
    """Boosted trees of ``label`` on the rows ``index`` of ``data``.

    With ``settings.early_stopping_rounds``, a random ``validation_fraction`` of the rows
    is held out and boosting stops once its loss has not improved for that many rounds;
    the model keeps the best round. With fewer than ``MIN_VALIDATION`` rows to hold out,
    every row trains and all ``n_estimators`` rounds are grown.
    """
    import lightgbm as lgb

    index = np.asarray(index)
    label = np.asarray(label)
    params = settings.params(objective)
    rng = np.random.default_rng(settings.random_state)
    held = rng.random(len(index)) < settings.validation_fraction
    if settings.early_stopping_rounds is None or held.sum() < MIN_VALIDATION:
        return lgb.train(params, data.rows(index, label), num_boost_round=settings.n_estimators)
    train = data.rows(index[~held], label[~held])
    valid = data.rows(index[held], label[held])
    return lgb.train(params, train, num_boost_round=settings.n_estimators, valid_sets=[valid],
                     callbacks=[lgb.early_stopping(settings.early_stopping_rounds,
                                                   verbose=False)])


def predict_trees(model: lgb.Booster, X: np.ndarray, n_jobs: int | None) -> np.ndarray:
    """The model's prediction for each row of ``X`` (a probability for a binary model)."""
    best = model.best_iteration if model.best_iteration > 0 else None
    return np.asarray(model.predict(X, num_iteration=best, num_threads=threads(n_jobs)),
                      dtype=np.float64)
