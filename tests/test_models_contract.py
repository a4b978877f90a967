"""The estimator contract, checked for every model in ``growthloop.models.REGISTRY``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import growthloop.models.clv  # noqa: F401  (importing it registers the models in REGISTRY)
from growthloop.core.errors import GrowthloopError, InputError
from growthloop.core.estimator import REGISTRY, NotFittedError
from growthloop.models.mle import MLEstimator as Estimator


def _example(cls: type[Estimator]):
    return cls.contract_example(np.random.default_rng(12345))


def test_registry_lists_the_models() -> None:
    names = {cls.__name__ for cls in REGISTRY}
    assert {"BGNBD", "ParetoNBD", "GammaGamma"} <= names


@pytest.fixture(params=REGISTRY, ids=lambda cls: cls.__name__)
def cls(request: pytest.FixtureRequest) -> type[Estimator]:
    return request.param


def test_init_stores_settings_only(cls: type[Estimator]) -> None:
    est = cls(tol=1e-7, max_iter=50)
    assert est.get_params() == {"tol": 1e-7, "max_iter": 50}
    assert not [k for k in vars(est) if k.endswith("_")]
    clone = cls(**est.get_params())
    assert clone.get_params() == est.get_params()
    assert repr(est) == f"{cls.__name__}(tol=1e-07, max_iter=50)"


def test_fit_returns_self_with_fitted_attributes(cls: type[Estimator]) -> None:
    ex = _example(cls)
    est = cls()
    assert est.fit(*ex.fit_args) is est
    for name in ("params_", "se_", "loglik_", "n_customers_", "converged_"):
        assert hasattr(est, name)
    assert set(est.params_) == set(cls.param_names)
    assert est.converged_ and np.isfinite(est.loglik_)
    assert all(np.isfinite(v) and v > 0 for v in est.se_.values())
    frame = est.to_frame()
    assert list(frame.index) == list(cls.param_names)
    assert "fitted on" in repr(est)


def test_refit_is_deterministic(cls: type[Estimator]) -> None:
    ex = _example(cls)
    first = cls().fit(*ex.fit_args)
    second = cls().fit(*ex.fit_args)
    again = first.fit(*_example(cls).fit_args)
    assert first.params_ == second.params_ == again.params_
    assert first.se_ == second.se_


def test_pickle_round_trip_preserves_predictions(cls: type[Estimator]) -> None:
    ex = _example(cls)
    est = cls().fit(*ex.fit_args)
    clone = pickle.loads(pickle.dumps(est))
    assert type(clone) is cls
    np.testing.assert_array_equal(clone.predict(*ex.predict_args), est.predict(*ex.predict_args))
    assert clone.params_ == est.params_


def test_bad_input_raises_input_error(cls: type[Estimator]) -> None:
    for args in _example(cls).bad_fit_args:
        with pytest.raises(InputError) as info:
            cls().fit(*args)
        assert isinstance(info.value, GrowthloopError)
        assert len(str(info.value)) > 30  # a message that says what to check


def test_bad_settings_raise_input_error(cls: type[Estimator]) -> None:
    ex = _example(cls)
    with pytest.raises(InputError, match="max_iter"):
        cls(max_iter=0).fit(*ex.fit_args)
    with pytest.raises(InputError, match="tol"):
        cls(tol=-1.0).fit(*ex.fit_args)


def test_unfitted_use_raises(cls: type[Estimator]) -> None:
    ex = _example(cls)
    est = cls()
    with pytest.raises(NotFittedError, match="not fitted"):
        est.predict(*ex.predict_args)
    with pytest.raises(NotFittedError):
        est.to_frame()
    with pytest.raises(NotFittedError):
        est.check_fitted()


def test_from_params_predicts_like_the_fit(cls: type[Estimator]) -> None:
    ex = _example(cls)
    est = cls().fit(*ex.fit_args)
    given = cls.from_params(**est.params_)
    np.testing.assert_allclose(given.predict(*ex.predict_args), est.predict(*ex.predict_args),
                               rtol=1e-12)
