"""Who to treat: an uplift model fitted on a registered experiment, and scores per customer.

``fit_uplift`` reads the experiment's registry entry (``[[experiments]]``), its units
(``experiment_assignments``), every unit's features as of the experiment's start
(``growthloop.metrics.features.customer_features``) and its outcome over the window
(``window_outcome``: bought, 0/1), fits a meta-learner (``growthloop.models.uplift``) on
``1 - holdout`` of the units (drawn within each arm) and measures it on the rest: the
Qini coefficient, the AUUC and a bootstrap band of the Qini curve. The fitted model is
kept with ``n_bags`` refits on random halves of the training units (drawn without
replacement: a bootstrap resample's repeated rows would sit on both sides of the
DR-learner's cross-fitting). The spread of the refits' estimates is the delete-d
jackknife variance with d = n/2 (Shao & Wu 1989; Efron & Tibshirani 1993, sec. 11.7:
``v = r / (d N) sum (theta_s - mean)^2`` with r = d), so each score's interval is
``uplift -/+ z sd`` over the refits at ``INTERVAL`` coverage: the model's sampling
variability, not the noise of one person's outcome.

The model is a file, ``uplift/<experiment>.pkl`` in the project's state directory (next
to the warehouse file, where ``keys.json`` lives): it is a set of fitted tree ensembles,
not rows, and ``score`` needs it whole. What it produces, the scores, are rows: table
``uplift_scores``, with the model version that made them.

``score_uplift`` scores the current customers (features as of the day after the last
order), replaces the scores of that model version in ``uplift_scores`` and exports to a
file only people with marketing and personalisation consent
(``growthloop.ingest.consent``, use ``uplift``: a prediction about the person, for action).

References
----------
.. [1] Radcliffe, N. J. (2007), "Using control groups to target on predicted lift:
   building and assessing uplift models", Direct Marketing Analytics Journal (Qini).
.. [2] Kennedy, E. H. (2023), "Towards optimal doubly robust estimation of heterogeneous
   causal effects", Electronic Journal of Statistics 17 (the DR-learner).
.. [3] Efron, B. and Tibshirani, R. J. (1993), An Introduction to the Bootstrap, Chapman
   & Hall (the delete-d jackknife, sec. 11.7).
.. [4] Shao, J. and Wu, C. F. J. (1989), "A general theory for jackknife variance
   estimation", Annals of Statistics 17(3), 1176-1197.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from growthloop.core.config import ExperimentSpec
from growthloop.core.errors import InputError
from growthloop.ingest.consent import ConsentReport, consented_rows
from growthloop.metrics.customers import observation_end_of
from growthloop.metrics.features import (
    CATEGORICAL,
    NUMERIC,
    customer_features,
    window_outcome,
)
from growthloop.models.uplift import (
    LEARNERS,
    auuc,
    make_learner,
    qini_band,
    qini_coefficient,
)
from growthloop.warehouse import Warehouse, transaction
from growthloop.warehouse.store import insert_frame

__all__ = ["CONSENT_USE", "EXPORT_SUFFIXES", "FEATURES", "UPLIFT_COLUMNS", "UpliftFit",
           "consent_of", "experiment_units", "fit_uplift", "load_fit", "model_path",
           "score_uplift", "tree_settings"]

#: The consent use of the exported scores (``growthloop.ingest.consent.USES``).
CONSENT_USE = "uplift"
EXPORT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
FEATURES: tuple[str, ...] = (*NUMERIC, *CATEGORICAL)
UPLIFT_COLUMNS: tuple[str, ...] = ("model_version", "experiment_id", "user_id", "uplift",
                                  "uplift_low", "uplift_high", "scored_at")
INTERVAL = 0.9  # coverage of each score's interval


@dataclass
class UpliftFit:
    """A fitted uplift model of one experiment and how it did on held-out units."""

    experiment_id: str
    learner: str
    model_version: str
    as_of: dt.date  # features as of this day (the experiment's start)
    units: int
    treated: int
    holdout_units: int
    units_without_history: int  # units with no order before the start
    qini: float  # held-out Qini coefficient
    auuc: float  # held-out AUUC
    band: pd.DataFrame  # share, qini_low, qini_high on the held-out units
    model: Any
    holdout_ids: tuple[str, ...] = ()  # the held-out units
    bags: list[Any] = field(default_factory=list)
    path: Path | None = None

    def as_dict(self) -> dict[str, object]:
        """The JSON form (the model itself left out)."""
        return {"experiment_id": self.experiment_id, "learner": self.learner,
                "model_version": self.model_version, "as_of": self.as_of.isoformat(),
                "units": self.units, "treated": self.treated,
                "holdout_units": self.holdout_units,
                "units_without_history": self.units_without_history,
                "qini_coefficient": self.qini, "auuc": self.auuc,
                "qini_band": self.band.to_dict(orient="list"),
                "model_file": str(self.path) if self.path else None}


def tree_settings(leaves: int | None = None, min_leaf: int | None = None) -> dict[str, Any]:
    """Learner settings from the command line's tree options (None: the learner's own)."""
    out: dict[str, Any] = {}
    if leaves is not None:
        out["num_leaves"] = leaves
    if min_leaf is not None:
        out["min_child_samples"] = min_leaf
    return out


def model_path(wh: Warehouse, experiment_id: str) -> Path:
    """Where the uplift model of ``experiment_id`` is kept: the project's state directory."""
    return wh.path.parent / "uplift" / f"{experiment_id}.pkl"


def experiment_units(wh: Warehouse, spec: ExperimentSpec) -> pd.DataFrame:
    """``unit_id`` and ``treated`` (0/1) of the experiment's units, sorted by unit; InputError
    without units, with a variant the registry does not name, or with more than one
    variant beside the control."""
    a = wh.backend.table("experiment_assignments")
    a = a.filter(a.experiment_id == spec.id).select("unit_id", "variant")
    df = a.order_by("unit_id").execute().reset_index(drop=True)
    if df.empty:
        raise InputError(f"table experiment_assignments: no units of experiment {spec.id!r}; "
                         "load its assignments with `growthloop ingest "
                         "experiment_assignments FILE`")
    unknown = sorted(set(df.variant) - set(spec.variants))
    if unknown:
        row = int(df.index[df.variant == unknown[0]][0])
        raise InputError(f"table experiment_assignments: experiment {spec.id!r}, unit "
                         f"{df.unit_id.iloc[row]!r}: variant {unknown[0]!r} is not in the "
                         f"registry; expected one of {', '.join(spec.variants)}")
    others = [v for v in spec.variants if v != spec.control]
    if len(others) != 1:
        raise InputError(f"experiment {spec.id!r}: an uplift model compares one treatment "
                         f"with the control; the registry has {len(others)} variants beside "
                         f"{spec.control!r} ({', '.join(others)})")
    return pd.DataFrame({"unit_id": df.unit_id,
                         "treated": (df.variant != spec.control).astype(np.int64)})


def _design(features: pd.DataFrame) -> pd.DataFrame:
    """The learner's columns, categorical ones as objects (missing as None)."""
    out = features.loc[:, list(FEATURES)].copy()
    for c in NUMERIC:
        out[c] = out[c].astype("float64")
    return out


def _split(treated: np.ndarray, holdout: float, seed: int) -> np.ndarray:
    """A held-out mask with ``round(holdout * n)`` units of each arm, drawn at random."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(treated), bool)
    for arm in (0, 1):
        idx = np.flatnonzero(treated == arm)
        test[rng.permutation(idx)[: round(holdout * len(idx))]] = True
    return test


def _version(experiment_id: str, learner: str, seed: int, x: pd.DataFrame, t: np.ndarray,
             y: np.ndarray) -> str:
    """``<experiment>.<learner>.<digest>``: the digest of the data and settings fitted."""
    h = hashlib.sha256(f"{experiment_id}|{learner}|{seed}".encode())
    h.update(pd.util.hash_pandas_object(x, index=False).to_numpy().tobytes())
    h.update(t.tobytes())
    h.update(y.tobytes())
    return f"{experiment_id}.{learner}.{h.hexdigest()[:12]}"


def _save(path: Path, fit: UpliftFit) -> None:
    """Write the fit atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            pickle.dump(fit, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fit_uplift(wh: Warehouse, experiment_id: str, *, learner: str = "dr",
               holdout: float = 0.3, seed: int = 0, n_bags: int = 10, n_jobs: int | None = 1,
               settings: dict[str, Any] | None = None, save: bool = True) -> UpliftFit:
    """Fit ``learner`` (``dr``, ``t`` or ``x``) on experiment ``experiment_id``'s units
    and measure it on ``holdout`` of them (module docstring); kept for ``score_uplift``
    unless ``save`` is false. ``settings`` go to the learner (``num_leaves``,
    ``min_child_samples``, ...); ``n_jobs`` threads per model (one by default: the fits
    are small, and LightGBM's threads spin on a busy machine)."""
    if learner not in LEARNERS:
        raise InputError(f"learner {learner!r}: expected one of {', '.join(LEARNERS)}")
    if not 0 < holdout < 1:
        raise InputError(f"holdout = {holdout!r}: expected a share strictly between 0 and 1")
    if isinstance(n_bags, bool) or not isinstance(n_bags, int) or n_bags < 2:
        raise InputError(f"n_bags = {n_bags!r}: expected an integer of at least 2")
    kw = dict(settings or {})
    spec = wh.cfg.experiment(experiment_id)
    units = experiment_units(wh, spec)
    feats = customer_features(wh.backend, wh.cfg, spec.start)
    df = units.merge(feats, left_on="unit_id", right_on="user_id", how="left")
    without = int(df.user_id.isna().sum())
    outcome = window_outcome(wh.backend, wh.cfg, spec.start, spec.end)
    y = df[["unit_id"]].merge(outcome, left_on="unit_id", right_on="user_id", how="left")
    yy = y.bought.fillna(0.0).to_numpy(np.float64)
    t = df.treated.to_numpy(np.int64)
    x = _design(df)
    test = _split(t, holdout, seed)
    for name, mask in (("training", ~test), ("held-out", test)):
        arms = set(t[mask].tolist())
        if arms != {0, 1}:
            raise InputError(f"experiment {experiment_id!r}: the {name} units hold only "
                             f"{'treated' if arms == {1} else 'control'} units; it needs "
                             "units of both arms (more units, or another --holdout)")
    share = spec.variants[next(v for v in spec.variants if v != spec.control)]
    propensity = share / sum(spec.variants.values())
    x_train, t_train, y_train = x[~test].reset_index(drop=True), t[~test], yy[~test]
    model = make_learner(learner, random_state=seed, propensity=propensity, n_jobs=n_jobs,
                         **kw)
    model.fit(x_train, t_train, y_train)
    tau = model.predict(x[test].reset_index(drop=True))
    grid, low, high = qini_band(yy[test], t[test], tau, seed=seed)
    rng = np.random.default_rng(seed + 1)
    bags = []
    for b in range(n_bags):
        idx = np.sort(rng.permutation(len(t_train))[: len(t_train) // 2])
        bags.append(make_learner(learner, random_state=seed + 1 + b, propensity=propensity,
                                 n_jobs=n_jobs, **kw)
                    .fit(x_train.iloc[idx].reset_index(drop=True), t_train[idx], y_train[idx]))
    fit = UpliftFit(
        experiment_id=experiment_id, learner=learner,
        model_version=_version(experiment_id, learner, seed, x, t, yy), as_of=spec.start,
        units=len(t), treated=int(t.sum()), holdout_units=int(test.sum()),
        units_without_history=without, qini=qini_coefficient(yy[test], t[test], tau),
        auuc=auuc(yy[test], t[test], tau),
        band=pd.DataFrame({"share": grid, "qini_low": low, "qini_high": high}),
        model=model, holdout_ids=tuple(units.unit_id[test]), bags=bags)
    if save:
        fit.path = model_path(wh, experiment_id)
        _save(fit.path, fit)
    return fit


def load_fit(wh: Warehouse, experiment_id: str) -> UpliftFit:
    """The kept uplift model of ``experiment_id``; InputError naming the file when absent."""
    path = model_path(wh, experiment_id)
    if not path.exists():
        raise InputError(f"{path}: no uplift model of experiment {experiment_id!r}; run "
                         f"`growthloop uplift fit --experiment {experiment_id}` first")
    with path.open("rb") as f:
        fit = pickle.load(f)  # the project's own state file, written by fit_uplift
    if not isinstance(fit, UpliftFit) or fit.experiment_id != experiment_id:
        raise InputError(f"{path}: not an uplift model of experiment {experiment_id!r}; fit "
                         "it again")
    return fit


def _check_out(out: Path) -> Path:
    if out.suffix.lower() not in EXPORT_SUFFIXES:
        raise InputError(f"--out {out}: unknown file type {out.suffix!r}; expected "
                         f"{' or '.join(EXPORT_SUFFIXES)}")
    return out


def score_uplift(wh: Warehouse, experiment_id: str, out: Path | None = None, *,
                 as_of: dt.date | None = None,
                 scored_at: dt.datetime | None = None) -> pd.DataFrame:
    """Score every customer with the kept model of ``experiment_id`` (features as of
    ``as_of``, default the day after the last order), write the rows to ``uplift_scores``
    (replacing that model version's earlier rows) and, to ``out`` (.csv or .parquet), the
    rows of people with the consents of ``CONSENT_USE``.

    Returns every scored row (``SCORE_COLUMNS``); ``attrs["consent"]`` holds the
    ``ConsentReport`` of the export and ``attrs["exported"]`` the rows written to ``out``.
    """
    wh.cfg.experiment(experiment_id)
    if out is not None:
        out = _check_out(Path(out))
    fit = load_fit(wh, experiment_id)
    day = as_of or observation_end_of(wh.backend, wh.cfg)[1] + dt.timedelta(days=1)
    feats = customer_features(wh.backend, wh.cfg, day)
    if feats.empty:
        raise InputError(f"no customers with an order before {day}: nothing to score")
    x = _design(feats)
    uplift = fit.model.predict(x)
    sd = np.column_stack([b.predict(x) for b in fit.bags]).std(axis=1)
    half = stats.norm.ppf(0.5 + INTERVAL / 2) * sd
    when = scored_at or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = pd.DataFrame({"model_version": fit.model_version, "experiment_id": experiment_id,
                         "user_id": feats.user_id, "uplift": uplift,
                         "uplift_low": uplift - half, "uplift_high": uplift + half,
                         "scored_at": when})
    with transaction(wh.con) as con:
        con.execute("DELETE FROM uplift_scores WHERE experiment_id = ? AND model_version = ?",
                    [experiment_id, fit.model_version])
        insert_frame(con, "uplift_scores", rows, UPLIFT_COLUMNS, {"scored_at": "TIMESTAMP"})
    kept, report = consented_rows(rows, wh.backend, CONSENT_USE)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            kept.to_csv(out, index=False)
        else:
            kept.to_parquet(out, index=False)
    rows.attrs["consent"] = report
    rows.attrs["exported"] = len(kept) if out is not None else 0
    rows.attrs["as_of"] = day
    return rows


def consent_of(rows: pd.DataFrame) -> ConsentReport:
    """The consent report ``score_uplift`` attached to its rows."""
    return rows.attrs["consent"]
