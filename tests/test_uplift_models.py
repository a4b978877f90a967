"""Uplift meta-learners and their metrics: effects recovered on data whose uplift is known
by construction, Qini and AUUC by hand on eight units and against scikit-uplift's
formulas (ported below, as scikit-uplift 0.5.1 writes them), and bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from growthloop.core.errors import InputError
from growthloop.core.estimator import NotFittedError
from growthloop.models.uplift import (
    LEARNERS,
    DRLearner,
    TLearner,
    XLearner,
    aipw_pseudo_outcome,
    auuc,
    make_learner,
    qini_band,
    qini_coefficient,
    qini_curve,
    targeting_gain,
    uplift_curve,
)
from growthloop.models.uplift.trees import MIN_VALIDATION, BinnedData, TreeSettings, fit_trees

# --- scikit-uplift 0.5.1, sklift/metrics/metrics.py, ported line by line ---------------


def _sk_stable_cumsum(a):
    return np.cumsum(a, dtype=np.float64)


def _sk_qini_curve(y_true, uplift, treatment):
    desc = np.argsort(uplift, kind="mergesort")[::-1]
    y_true, uplift, treatment = y_true[desc], uplift[desc], treatment[desc]
    y_true_ctrl, y_true_trmnt = y_true.copy(), y_true.copy()
    y_true_ctrl[treatment == 1] = 0
    y_true_trmnt[treatment == 0] = 0
    distinct_value_indices = np.where(np.diff(uplift))[0]
    threshold_indices = np.r_[distinct_value_indices, uplift.size - 1]
    num_trmnt = _sk_stable_cumsum(treatment)[threshold_indices]
    y_trmnt = _sk_stable_cumsum(y_true_trmnt)[threshold_indices]
    num_all = threshold_indices + 1
    num_ctrl = num_all - num_trmnt
    y_ctrl = _sk_stable_cumsum(y_true_ctrl)[threshold_indices]
    curve_values = y_trmnt - y_ctrl * np.divide(num_trmnt, num_ctrl,
                                                out=np.zeros_like(num_trmnt),
                                                where=num_ctrl != 0)
    if num_all.size == 0 or curve_values[0] != 0 or num_all[0] != 0:
        num_all = np.r_[0, num_all]
        curve_values = np.r_[0, curve_values]
    return num_all, curve_values


def _sk_uplift_curve(y_true, uplift, treatment):
    desc = np.argsort(uplift, kind="mergesort")[::-1]
    y_true, uplift, treatment = y_true[desc], uplift[desc], treatment[desc]
    y_true_ctrl, y_true_trmnt = y_true.copy(), y_true.copy()
    y_true_ctrl[treatment == 1] = 0
    y_true_trmnt[treatment == 0] = 0
    distinct_value_indices = np.where(np.diff(uplift))[0]
    threshold_indices = np.r_[distinct_value_indices, uplift.size - 1]
    num_trmnt = _sk_stable_cumsum(treatment)[threshold_indices]
    y_trmnt = _sk_stable_cumsum(y_true_trmnt)[threshold_indices]
    num_all = threshold_indices + 1
    num_ctrl = num_all - num_trmnt
    y_ctrl = _sk_stable_cumsum(y_true_ctrl)[threshold_indices]
    curve_values = (np.divide(y_trmnt, num_trmnt, out=np.zeros_like(y_trmnt),
                              where=num_trmnt != 0)
                    - np.divide(y_ctrl, num_ctrl, out=np.zeros_like(y_ctrl),
                                where=num_ctrl != 0)) * num_all
    if num_all.size == 0 or curve_values[0] != 0 or num_all[0] != 0:
        num_all = np.r_[0, num_all]
        curve_values = np.r_[0, curve_values]
    return num_all, curve_values


def _sk_auc(x, y):
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def _sk_normalised(x_actual, y_actual, x_perfect, y_perfect):
    baseline = _sk_auc(np.array([0, x_perfect[-1]]), np.array([0, y_perfect[-1]]))
    return (_sk_auc(x_actual, y_actual) - baseline) / (_sk_auc(x_perfect, y_perfect) - baseline)


def _sk_qini_auc_score(y_true, uplift, treatment):
    """``qini_auc_score(..., negative_effect=True)``."""
    x_perfect, y_perfect = _sk_qini_curve(y_true, y_true * treatment - y_true * (1 - treatment),
                                          treatment)
    return _sk_normalised(*_sk_qini_curve(y_true, uplift, treatment), x_perfect, y_perfect)


def _sk_uplift_auc_score(y_true, uplift, treatment):
    cr_num = np.sum((y_true == 1) & (treatment == 0))
    tn_num = np.sum((y_true == 0) & (treatment == 1))
    summand = y_true if cr_num > tn_num else treatment
    perfect_uplift = 2 * (y_true == treatment) + summand
    x_perfect, y_perfect = _sk_uplift_curve(y_true, perfect_uplift, treatment)
    return _sk_normalised(*_sk_uplift_curve(y_true, uplift, treatment), x_perfect, y_perfect)


# --- eight units by hand -----------------------------------------------------------------

# unit:           0    1    2    3    4    5    6    7
SCORE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
T8 = np.array([1, 0, 1, 0, 1, 0, 1, 0])
Y8 = np.array([1, 0, 1, 1, 0, 0, 0, 0], dtype=float)


def test_qini_curve_by_hand() -> None:
    # Q(k) = Y_t - Y_c N_t / N_c over the top k (N_c = 0 counts the quotient as 0)
    share, q = qini_curve(Y8, T8, SCORE)
    np.testing.assert_allclose(share, np.arange(9) / 8)
    np.testing.assert_allclose(q, [0, 1, 1, 2, 1, 0.5, 1, 2 / 3, 1])


def test_qini_coefficient_by_hand() -> None:
    # model area 23/3; random line to (8, 1): 4; perfect (order y(2t-1): units 0, 2 first,
    # unit 3 last) steps (2, 2), (7, 2), (8, 1): area 13.5
    expected = (23 / 3 - 4) / (13.5 - 4)
    assert qini_coefficient(Y8, T8, SCORE) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(22 / 57)


def test_auuc_by_hand() -> None:
    # U(k) = (Y_t/N_t - Y_c/N_c) k: 1, 2, 3, 2, 5/6, 2, 7/6, 2 (area 13); random line to
    # (8, 2): 8; perfect (one control responder < two treated non-responders, so
    # 2 [y = t] + t): steps (2, 2), (5, 5), (7, 3.5), (8, 2), area 23.75
    _, u = uplift_curve(Y8, T8, SCORE)
    np.testing.assert_allclose(u, [0, 1, 2, 3, 2, 5 / 6, 2, 7 / 6, 2])
    assert auuc(Y8, T8, SCORE) == pytest.approx((13 - 8) / (23.75 - 8), rel=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_agree_with_scikit_uplift_formulas(ties: bool) -> None:
    rng = np.random.default_rng(3)
    n = 5000
    t = rng.integers(0, 2, n)
    score = rng.normal(size=n)
    y = (rng.random(n) < 0.2 + 0.1 * t * (score > 0)).astype(float)
    if ties:
        score = np.round(score, 1)
    assert qini_coefficient(y, t, score) == pytest.approx(_sk_qini_auc_score(y, score, t),
                                                          rel=1e-12)
    assert auuc(y, t, score) == pytest.approx(_sk_uplift_auc_score(y, score, t), rel=1e-12)
    k, q = _sk_qini_curve(y, score, t)
    share, ours = qini_curve(y, t, score)
    np.testing.assert_allclose(share, k / n)
    np.testing.assert_allclose(ours, q)


def test_perfect_ordering_beats_random() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    x = rng.random(n)
    t = rng.integers(0, 2, n)
    tau = np.where(x > 0.5, 0.2, -0.05)
    y = (rng.random(n) < 0.2 + tau * t).astype(float)
    best = qini_coefficient(y, t, tau)
    noise = qini_coefficient(y, t, rng.random(n))
    worst = qini_coefficient(y, t, -tau)
    # the perfect curve knows each unit's outcome, so even the true effect scores ~0.14
    assert best > 0.1
    assert abs(noise) < 0.04
    assert worst < -0.1
    assert auuc(y, t, tau) > auuc(y, t, rng.random(n)) + 0.08
    # the ordering of the true effect gains all of it on the top half
    assert targeting_gain(tau, tau, 0.5) == pytest.approx(np.sort(tau)[::-1][: n // 2].sum())


def test_revenue_outcome_uses_the_same_formulas() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    t = rng.integers(0, 2, n)
    score = rng.normal(size=n)
    y = rng.gamma(2.0, 20.0, n) * (rng.random(n) < 0.3 + 0.1 * t)
    assert qini_coefficient(y, t, score) == pytest.approx(_sk_qini_auc_score(y, score, t),
                                                          rel=1e-12)


def test_targeting_gain_by_hand() -> None:
    tau = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert targeting_gain(tau, np.array([5, 4, 3, 2, 1]), share=0.4) == 3.0
    assert targeting_gain(tau, tau, share=0.4) == 9.0
    assert targeting_gain(tau, tau, share=1) == 15.0


def test_qini_band_covers_the_curve() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    t = rng.integers(0, 2, n)
    score = rng.normal(size=n)
    y = (rng.random(n) < 0.2 + 0.2 * t * (score > 0)).astype(float)
    share, low, high = qini_band(y, t, score, n_boot=100, level=0.9, seed=1)
    x, q = qini_curve(y, t, score)
    point = np.interp(share, x, q)
    assert share[0] == 0 and share[-1] == 1 and len(share) == 101
    assert low[0] == high[0] == 0
    assert np.all(low <= high)
    inside = (low <= point) & (point <= high)
    assert inside[1:].mean() > 0.9
    # the band's half-width at the end is about 1.645 bootstrap standard errors of
    # Q(n) = Y_t - Y_c N_t / N_c, roughly 1.645 sqrt(n_t p_t(1-p_t) + n_c p_c(1-p_c)) here
    half = (high[-1] - low[-1]) / 2
    p1, p0 = y[t == 1].mean(), y[t == 0].mean()
    se = np.sqrt((t == 1).sum() * p1 * (1 - p1) + (t == 1).sum() ** 2 / (t == 0).sum()
                 * p0 * (1 - p0))
    assert half == pytest.approx(1.645 * se, rel=0.25)
    again = qini_band(y, t, score, n_boot=100, level=0.9, seed=1)
    np.testing.assert_array_equal(again[1], low)


# --- learners on a known uplift ----------------------------------------------------------


def _known(outcome: str, n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray,
                                                                  np.ndarray, np.ndarray]:
    """tau = EFFECT for the units of segment "b" (half), 0 for the rest; a numeric feature
    moves the baseline of both arms alike."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["a", "b"], n)
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n)
    tau = np.where(segment == "b", EFFECT[outcome], 0.0)
    if outcome == "continuous":
        y = 2 * x + tau * t + rng.normal(0, 0.5, n)
    else:
        y = (rng.random(n) < 0.2 + 0.1 * (x > 0) + tau * t).astype(float)
    frame = pd.DataFrame({"segment": pd.Categorical(segment), "x": x,
                          "noise": rng.normal(size=n)})
    return frame, t, y, tau


EFFECT = {"continuous": 1.0, "binary": 0.4}
# Each segment x arm cell holds ~1500 units: the standard error of a cell's mean is
# 0.5 / sqrt(1500) = 0.013 (continuous) and sqrt(0.7 * 0.3 / 1500) = 0.012 (binary), of a
# difference ~0.02; trees that learn the segment split then average those cells, so a
# group's mean predicted effect is within 0.08 (4 standard errors) of the truth.
TOLERANCE = 0.08
#: One thread: steadier on a busy machine than competing OpenMP threads.
ONE_THREAD = {"n_jobs": 1}


@pytest.mark.parametrize("outcome", ["continuous", "binary"])
@pytest.mark.parametrize("name", ["t", "x", "dr"])
def test_learners_separate_the_groups(name: str, outcome: str) -> None:
    frame, t, y, _ = _known(outcome)
    model = make_learner(name, random_state=1, propensity=0.5, **ONE_THREAD).fit(frame, t, y)
    assert model.outcome_ == outcome
    frame_new, _, _, tau_new = _known(outcome, n=4000, seed=9)
    pred = model.predict(frame_new)
    b = tau_new > 0
    assert pred[b].mean() == pytest.approx(EFFECT[outcome], abs=TOLERANCE)
    assert pred[~b].mean() == pytest.approx(0.0, abs=TOLERANCE)


@pytest.mark.parametrize("cls", [XLearner, DRLearner])
def test_estimated_propensity_still_separates_the_groups(cls: type) -> None:
    # a boosted classifier of a random assignment fits noise around 0.5, which moves the
    # X-learner's weights and the DR pseudo-outcomes: a looser tolerance than the known share
    frame, t, y, tau = _known("continuous")
    model = cls(**ONE_THREAD).fit(frame, t, y)
    assert ("e" in model.models_) == (cls is XLearner)
    pred = model.predict(frame)
    assert pred[tau > 0].mean() == pytest.approx(1.0, abs=2 * TOLERANCE)
    assert pred[tau == 0].mean() == pytest.approx(0.0, abs=2 * TOLERANCE)


def test_early_stopping_stops_on_noise_and_needs_enough_rows() -> None:
    rng = np.random.default_rng(4)
    n = 20_000
    x = rng.normal(size=(n, 3)).astype(np.float32)
    noise = rng.normal(size=n)
    settings = TreeSettings(100, 0.1, 31, 20, 255, 0, 1, 10, 0.1)
    data = BinnedData(x, [], settings)
    stopped = fit_trees(data, np.arange(n), noise, "regression", settings)
    assert 0 < stopped.best_iteration < 30
    # 10 % of 5,000 rows is under MIN_VALIDATION: every round is grown
    small = fit_trees(data, np.arange(5000), noise[:5000], "regression", settings)
    assert MIN_VALIDATION > 5000 * 0.1
    assert small.current_iteration() == 100
    # rows given out of order keep their labels
    index = np.array([7, 3, 5])
    part = data.rows(index, np.array([70.0, 30.0, 50.0]))
    np.testing.assert_array_equal(part.get_label(), [30.0, 50.0, 70.0])


def test_aipw_pseudo_outcome_by_hand() -> None:
    # treated unit: 3 - 1 + (4 - 3) / 0.5 = 4; control unit: 3 - 1 - (2 - 1) / 0.5 = 0
    phi = aipw_pseudo_outcome(np.array([4.0, 2.0]), np.array([1, 0]), np.array([1.0, 1.0]),
                              np.array([3.0, 3.0]), np.array([0.5, 0.5]))
    np.testing.assert_allclose(phi, [4.0, 0.0])


def test_numpy_input_and_contract() -> None:
    frame, t, y, _ = _known("continuous", n=3000)
    matrix = np.column_stack([(frame["segment"] == "b").to_numpy(float), frame["x"],
                              frame["noise"]])
    for cls in LEARNERS.values():
        model = cls(n_estimators=30, n_jobs=1)
        assert model.get_params()["n_estimators"] == 30
        assert not [k for k in vars(model) if k.endswith("_")]
        with pytest.raises(NotFittedError, match="not fitted"):
            model.predict(matrix)
        assert model.fit(matrix, t, y) is model
        first = model.predict(matrix)
        again = cls(n_estimators=30, n_jobs=1).fit(matrix, t, y).predict(matrix)
        np.testing.assert_array_equal(first, again)
        clone = pickle.loads(pickle.dumps(model))
        np.testing.assert_array_equal(clone.predict(matrix), first)
        with pytest.raises(InputError, match="X has 2 columns; expected 3"):
            model.predict(matrix[:, :2])


def test_unseen_category_predicts_as_missing() -> None:
    frame, t, y, _ = _known("continuous", n=3000)
    model = TLearner(n_estimators=30, n_jobs=1).fit(frame, t, y)
    new = frame.head(3).assign(segment=pd.Categorical(["c", "a", "b"]))
    assert np.isfinite(model.predict(new)).all()
    with pytest.raises(InputError, match="no column 'x'"):
        model.predict(frame.drop(columns="x"))


# --- bad input ---------------------------------------------------------------------------


def test_bad_input_names_argument_row_and_value() -> None:
    x0 = np.zeros((6, 2))
    t = np.array([0, 1, 0, 1, 0, 1])
    y = np.array([0.0, 1, 0, 1, 0, 1])
    model = TLearner()
    with pytest.raises(InputError, match="treatment has 5 rows but X has 6"):
        model.fit(x0, t[:5], y)
    with pytest.raises(InputError, match="y has 4 rows but X has 6"):
        model.fit(x0, t, y[:4])
    with pytest.raises(InputError, match=r"treatment\[3\] = 2: expected 0 \(control\) or 1"):
        model.fit(x0, np.array([0, 1, 0, 2, 0, 1]), y)
    with pytest.raises(InputError, match=r"y\[4\] = nan: expected a finite outcome"):
        model.fit(x0, t, np.array([0, 1, 0, 1, np.nan, 1]))
    with pytest.raises(InputError, match=r"treatment: all 6 rows are 1 \(treated\)"):
        model.fit(x0, np.ones(6), y)
    with pytest.raises(InputError, match=r"y\[1\] = 2.0: expected 0 or 1 with outcome='binary'"):
        TLearner(outcome="binary").fit(x0, t, np.array([0.0, 2, 0, 1, 0, 1]))
    with pytest.raises(InputError, match=r"propensity = 1\.5"):
        XLearner(propensity=1.5).fit(x0, t, y)
    with pytest.raises(InputError, match="outcome = 'count'"):
        TLearner(outcome="count").fit(x0, t, y)
    with pytest.raises(InputError, match="n_folds = 1"):
        DRLearner(n_folds=1).fit(x0, t, y)
    with pytest.raises(InputError, match=r"score\[2\] = nan"):
        qini_coefficient(y, t, np.array([1, 2, np.nan, 3, 4, 5]))
    with pytest.raises(InputError, match="score has 5 rows but y has 6"):
        auuc(y, t, np.arange(5.0))
    with pytest.raises(InputError, match="share = 0"):
        targeting_gain(y, y, share=0)


def test_make_learner_names_the_allowed_learners() -> None:
    assert isinstance(make_learner("dr", n_folds=3), DRLearner)
    with pytest.raises(ValueError, match="learner 's': expected one of t, x, dr"):
        make_learner("s")
