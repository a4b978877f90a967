"""Meta-learners of the conditional average treatment effect ``tau(x) = E[y | x, t=1] -
E[y | x, t=0]``, on gradient-boosted trees.

- ``TLearner``: one outcome model per arm, ``tau(x) = mu1(x) - mu0(x)``.
- ``XLearner``: Künzel, Sekhon, Bickel & Yu 2019, "Metalearners for estimating
  heterogeneous treatment effects using machine learning" (PNAS 116(10)):
  the T-learner's ``mu0, mu1``; imputed effects ``D1 = y - mu0(x)`` on the treated and
  ``D0 = mu1(x) - y`` on the controls, each regressed on ``x`` (``tau1``, ``tau0``);
  ``tau(x) = e(x) tau0(x) + (1 - e(x)) tau1(x)`` with the propensity ``e(x)``.
- ``DRLearner``: Kennedy 2020 (2023), "Towards optimal doubly robust estimation of
  heterogeneous causal effects" (Electron. J. Statist. 17), the AIPW pseudo-outcome
  ``phi = mu1(x) - mu0(x) + t (y - mu1(x)) / e(x) - (1 - t) (y - mu0(x)) / (1 - e(x))``
  with the nuisances ``mu0, mu1, e`` cross-fitted (each fold's from models fitted on the
  other folds; 2 folds by default), then ``phi`` regressed on ``x``.

``propensity``: the known treated share of a randomised test (``e(x)`` constant); None
estimates ``e(x)`` with a boosted classifier of ``t`` on ``x``, clipped to
[0.01, 0.99] so that no unit's weight explodes. A binary outcome (``outcome="binary"``, or
``"auto"`` and every ``y`` 0 or 1) has classifiers for ``mu0, mu1`` (log loss), so
``tau`` is a difference of probabilities; the effect models are regressions.

Settings, shared by every tree model of a learner: ``n_estimators`` boosting rounds at
``learning_rate``, trees of ``num_leaves`` leaves with at least ``min_child_samples``
units each, features cut into ``max_bin`` bins, ``subsample`` of the rows per tree,
``n_jobs`` threads (None: one, -1: every core), ``random_state``. With
``early_stopping_rounds`` (10 by default) each model holds out ``validation_fraction``
(10 %) of its rows and stops once their loss has not improved for that many rounds,
when that split has at least 1,000 rows (``trees.MIN_VALIDATION``); smaller fits grow
every round. On 300,000 units of the benchmark's data early stopping cut the X-learner's
fit time by a quarter and the DR-learner's by half, with a slightly better held-out
Qini for all three learners: second-stage targets (imputed effects, pseudo-outcomes)
are mostly noise, which more rounds overfit.

Base learner: LightGBM (``trees.py``) rather than scikit-learn's HistGradientBoosting,
measured with the same trees (100 rounds, 31 leaves, rate 0.1, 20 units a leaf, one
thread) on the control arm of benchmarks/bench_uplift.py's million units (349,000
training rows, 2-core machine): both fit in 2.2 to 2.8 CPU seconds at the same held-out
log loss (0.45590 and 0.45589), LightGBM predicts twice as fast (0.5 against 1.0 CPU
seconds for 150,000 rows) and fits 1.4 times faster on 35,000 rows; and only LightGBM
lets a learner bin its features once and fit all its models on shared bins, with
categorical features split natively.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from growthloop.core.errors import InputError
from growthloop.core.estimator import Estimator
from growthloop.models.uplift.checks import (
    Outcome,
    check_lengths,
    check_outcome,
    check_propensity,
    check_treatment,
)
from growthloop.models.uplift.features import FeatureMap, feature_map, n_rows
from growthloop.models.uplift.trees import BinnedData, TreeSettings, fit_trees, predict_trees

if TYPE_CHECKING:  # LightGBM is imported where trees are grown (trees.py)
    import lightgbm as lgb

__all__ = ["LEARNERS", "DRLearner", "TLearner", "XLearner", "aipw_pseudo_outcome", "make_learner"]

#: Estimated propensities are clipped to [CLIP, 1 - CLIP].
CLIP = 0.01


class _MetaLearner(Estimator):
    """Settings, validation and feature handling shared by the meta-learners."""

    fitted_attribute: ClassVar[str] = "models_"
    fit_signature: ClassVar[str] = "fit(X, treatment, y)"

    def __init__(self, *, outcome: str = "auto", n_estimators: int = 100,
                 learning_rate: float = 0.1, num_leaves: int = 31,
                 min_child_samples: int = 20, max_bin: int = 255, random_state: int = 0,
                 n_jobs: int | None = None, propensity: float | None = None,
                 early_stopping_rounds: int | None = 10,
                 validation_fraction: float = 0.1, subsample: float = 1.0) -> None:
        self.outcome = outcome
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_bin = max_bin
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.propensity = propensity
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.subsample = subsample

    def _settings(self) -> TreeSettings:
        for name in ("n_estimators", "num_leaves", "min_child_samples", "max_bin"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} = {value!r}: expected a positive integer")
        if self.num_leaves < 2 or self.max_bin < 2:
            raise InputError(f"num_leaves = {self.num_leaves!r}, max_bin = {self.max_bin!r}: "
                             "expected at least 2 each")
        if not 0 < self.learning_rate <= 1:
            raise InputError(f"learning_rate = {self.learning_rate!r}: expected a rate in "
                             "(0, 1]")
        if self.early_stopping_rounds is not None and self.early_stopping_rounds < 1:
            raise InputError(f"early_stopping_rounds = {self.early_stopping_rounds!r}: "
                             "expected a positive integer or None")
        if not 0 < self.validation_fraction < 1:
            raise InputError(f"validation_fraction = {self.validation_fraction!r}: expected a "
                             "share strictly between 0 and 1")
        if not 0 < self.subsample <= 1:
            raise InputError(f"subsample = {self.subsample!r}: expected a share in (0, 1]")
        return TreeSettings(self.n_estimators, self.learning_rate, self.num_leaves,
                            self.min_child_samples, self.max_bin, self.random_state,
                            self.n_jobs, self.early_stopping_rounds,
                            self.validation_fraction, self.subsample)

    def _prepare(self, X: np.ndarray | pd.DataFrame, treatment: np.ndarray,
                 y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, Outcome,
                                         TreeSettings, float | None]:
        check_lengths(X=n_rows(X), treatment=len(treatment), y=len(y))
        settings = self._settings()
        propensity = check_propensity(self.propensity)
        t = check_treatment(treatment)
        yy, kind = check_outcome(y, self.outcome)
        fmap = feature_map(X)
        Xf = fmap.transform(X)
        self.features_: FeatureMap = fmap
        self.outcome_: Outcome = kind
        self.n_units_ = len(t)
        self.n_treated_ = int(t.sum())
        return Xf, t, yy, kind, settings, propensity

    def _predict_matrix(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        self.check_fitted()
        return self.features_.transform(X)

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """The estimated effect ``tau(x)`` of each row of ``X``."""
        raise NotImplementedError  # pragma: no cover

    def _mu(self, X: np.ndarray, name: str) -> np.ndarray:
        return predict_trees(self.models_[name], X, self.n_jobs)


def _objective(kind: Outcome) -> Any:
    return "binary" if kind == "binary" else "regression"


class TLearner(_MetaLearner):
    """One outcome model per arm: ``tau(x) = mu1(x) - mu0(x)`` (Künzel et al. 2019).

    Fitted: ``models_`` (``mu0``, ``mu1``), ``outcome_``, ``features_``, ``n_units_``,
    ``n_treated_``. ``propensity`` is not used.
    """

    def fit(self, X: np.ndarray | pd.DataFrame, treatment: np.ndarray, y: np.ndarray) -> Self:
        """Fit ``mu0`` on the controls and ``mu1`` on the treated."""
        Xf, t, yy, kind, settings, _ = self._prepare(X, treatment, y)
        data = BinnedData(Xf, self.features_.categorical, settings)
        models: dict[str, lgb.Booster] = {}
        for arm in (0, 1):
            rows = np.flatnonzero(t == arm)
            models[f"mu{arm}"] = fit_trees(data, rows, yy[rows], _objective(kind), settings)
        self.models_ = models
        return self

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """``mu1(x) - mu0(x)`` for each row of ``X``."""
        Xf = self._predict_matrix(X)
        return self._mu(Xf, "mu1") - self._mu(Xf, "mu0")


class XLearner(_MetaLearner):
    """Künzel et al. (2019)'s X-learner with propensity weighting (module docstring).

    Fitted: ``models_`` (``mu0``, ``mu1``, ``tau0``, ``tau1`` and, when ``propensity`` is
    None, ``e``), ``outcome_``, ``features_``, ``n_units_``, ``n_treated_``.
    """

    def fit(self, X: np.ndarray | pd.DataFrame, treatment: np.ndarray, y: np.ndarray) -> Self:
        """Fit the outcome models, the imputed-effect models and, if needed, ``e(x)``."""
        Xf, t, yy, kind, settings, propensity = self._prepare(X, treatment, y)
        data = BinnedData(Xf, self.features_.categorical, settings)
        rows = {arm: np.flatnonzero(t == arm) for arm in (0, 1)}
        models: dict[str, lgb.Booster] = {}
        for arm in (0, 1):
            models[f"mu{arm}"] = fit_trees(data, rows[arm], yy[rows[arm]], _objective(kind),
                                           settings)
        # imputed effects, each arm's outcome against the other arm's model
        d1 = yy[rows[1]] - predict_trees(models["mu0"], Xf[rows[1]], self.n_jobs)
        d0 = predict_trees(models["mu1"], Xf[rows[0]], self.n_jobs) - yy[rows[0]]
        models["tau1"] = fit_trees(data, rows[1], d1, "regression", settings)
        models["tau0"] = fit_trees(data, rows[0], d0, "regression", settings)
        if propensity is None:
            models["e"] = fit_trees(data, np.arange(len(t)), t, "binary", settings)
        self.models_ = models
        return self

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """``e(x) tau0(x) + (1 - e(x)) tau1(x)`` (Künzel et al. 2019)."""
        Xf = self._predict_matrix(X)
        if self.propensity is None:
            e = np.clip(self._mu(Xf, "e"), CLIP, 1 - CLIP)
        else:
            e = np.full(len(Xf), float(self.propensity))
        return e * self._mu(Xf, "tau0") + (1 - e) * self._mu(Xf, "tau1")


class DRLearner(_MetaLearner):
    """Kennedy (2020)'s DR-learner: the AIPW pseudo-outcome with cross-fitted nuisances,
    regressed on ``x`` (module docstring).

    ``n_folds`` (default 2): folds of the cross-fitting. Fitted: ``models_`` (``tau``, the
    pseudo-outcome regression), ``pseudo_outcome_`` (``phi`` of each training unit),
    ``outcome_``, ``features_``, ``n_units_``, ``n_treated_``.
    """

    def __init__(self, *, outcome: str = "auto", n_estimators: int = 100,
                 learning_rate: float = 0.1, num_leaves: int = 31,
                 min_child_samples: int = 20, max_bin: int = 255, random_state: int = 0,
                 n_jobs: int | None = None, propensity: float | None = None,
                 early_stopping_rounds: int | None = 10,
                 validation_fraction: float = 0.1, subsample: float = 1.0,
                 n_folds: int = 2) -> None:
        super().__init__(outcome=outcome, n_estimators=n_estimators,
                         learning_rate=learning_rate, num_leaves=num_leaves,
                         min_child_samples=min_child_samples, max_bin=max_bin,
                         random_state=random_state, n_jobs=n_jobs, propensity=propensity,
                         early_stopping_rounds=early_stopping_rounds,
                         validation_fraction=validation_fraction, subsample=subsample)
        self.n_folds = n_folds

    def fit(self, X: np.ndarray | pd.DataFrame, treatment: np.ndarray, y: np.ndarray) -> Self:
        """Cross-fit ``mu0, mu1`` (and ``e``), form ``phi``, regress it on ``x``."""
        if isinstance(self.n_folds, bool) or not isinstance(self.n_folds, int) \
                or self.n_folds < 2:
            raise InputError(f"n_folds = {self.n_folds!r}: expected an integer of at least 2")
        Xf, t, yy, kind, settings, propensity = self._prepare(X, treatment, y)
        data = BinnedData(Xf, self.features_.categorical, settings)
        n = len(t)
        rng = np.random.default_rng(self.random_state)
        fold = rng.permutation(n) % self.n_folds
        mu0, mu1 = np.empty(n), np.empty(n)
        e = np.full(n, propensity if propensity is not None else np.nan)
        for k in range(self.n_folds):
            held = np.flatnonzero(fold == k)
            for arm, mu in ((0, mu0), (1, mu1)):
                rows = np.flatnonzero((fold != k) & (t == arm))
                if rows.size == 0:
                    raise InputError(f"treatment: fold {k} leaves no unit with treatment = "
                                     f"{arm} to fit on; expected both arms in every fold "
                                     "(use fewer folds)")
                model = fit_trees(data, rows, yy[rows], _objective(kind), settings)
                mu[held] = predict_trees(model, Xf[held], self.n_jobs)
            if propensity is None:
                rows = np.flatnonzero(fold != k)
                model = fit_trees(data, rows, t[rows], "binary", settings)
                e[held] = np.clip(predict_trees(model, Xf[held], self.n_jobs), CLIP, 1 - CLIP)
        phi = aipw_pseudo_outcome(yy, t, mu0, mu1, e)
        self.pseudo_outcome_ = phi
        self.models_ = {"tau": fit_trees(data, np.arange(n), phi, "regression", settings)}
        return self

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """The pseudo-outcome regression at each row of ``X``."""
        Xf = self._predict_matrix(X)
        return self._mu(Xf, "tau")


def aipw_pseudo_outcome(y: np.ndarray, t: np.ndarray, mu0: np.ndarray, mu1: np.ndarray,
                        e: np.ndarray) -> np.ndarray:
    """The AIPW (doubly robust) pseudo-outcome ``mu1 - mu0 + t (y - mu1) / e - (1 - t) (y -
    mu0) / (1 - e)`` (Robins, Rotnitzky & Zhao 1994; Kennedy 2023)."""
    return mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)


LEARNERS: dict[str, type[_MetaLearner]] = {"t": TLearner, "x": XLearner, "dr": DRLearner}


def make_learner(name: str, **params: Any) -> TLearner | XLearner | DRLearner:
    """The learner called ``name`` (``"t"``, ``"x"`` or ``"dr"``) with ``params``."""
    cls = LEARNERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise InputError(f"learner {name!r}: expected one of {', '.join(LEARNERS)}")
    return cls(**params)  # type: ignore[return-value]
