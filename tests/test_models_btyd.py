"""Buy-till-you-die models: published CDNOW results, closed forms, extremes, recovery.

Published numbers: Fader, Hardie and Lee (2005), Marketing Science 24(2) (BG/NBD), Fader
and Hardie's Pareto/NBD note (2005) and Fader, Hardie and Lee (2005), JMR 42(4)
(Gamma-Gamma), all on the CDNOW sample in ``tests/data`` (see its README).
"""

from __future__ import annotations

import datetime as dt
import math
import pickle
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln, gammaln, hyp2f1

from growthloop.core.errors import InputError
from growthloop.core.estimator import AssumptionWarning, ConvergenceWarning
from growthloop.ingest.summaries import read_summary
from growthloop.metrics.customers import rfm_summary
from growthloop.models.clv import bgnbd as bgnbd_module
from growthloop.models.clv import gamma_gamma as gg_module
from growthloop.models.clv import pareto_nbd as pnbd_module
from growthloop.models.clv.bgnbd import BGNBD, simulate_bgnbd
from growthloop.models.clv.gamma_gamma import GammaGamma, simulate_gamma_gamma
from growthloop.models.clv.pareto_nbd import ParetoNBD, simulate_pareto_nbd
from growthloop.models.clv.value import compress, customer_lifetime_value

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    d = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv")
    return d.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


@pytest.fixture(scope="module")
def bg(cdnow: pd.DataFrame) -> BGNBD:
    return BGNBD().fit(cdnow.frequency, cdnow.recency, cdnow["T"])


@pytest.fixture(scope="module")
def pnbd(cdnow: pd.DataFrame) -> ParetoNBD:
    return ParetoNBD().fit(cdnow.frequency, cdnow.recency, cdnow["T"])


@pytest.fixture(scope="module")
def gg(cdnow: pd.DataFrame) -> GammaGamma:
    return GammaGamma().fit(cdnow.frequency, cdnow.monetary_value)


# --------------------------------------------------------------------------- published


def test_bgnbd_cdnow_matches_fader_hardie_lee_2005(bg: BGNBD) -> None:
    # FHL (2005), section 4: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4.
    p = bg.params_
    assert p["r"] == pytest.approx(0.243, abs=5e-4)
    assert p["alpha"] == pytest.approx(4.414, abs=5e-4)
    assert p["a"] == pytest.approx(0.793, abs=5e-4)
    assert p["b"] == pytest.approx(2.426, abs=5e-4)
    assert bg.loglik_ == pytest.approx(-9582.4, abs=0.05)
    assert bg.converged_ and bg.n_customers_ == 2357
    # Standard errors as lifetimes 0.11.3 reports them on the same data.
    se = bg.se_
    assert [se["r"], se["alpha"], se["a"], se["b"]] == pytest.approx(
        [0.012557, 0.378221, 0.185719, 0.705345], rel=1e-3
    )


def test_pareto_nbd_cdnow_matches_fader_hardie(pnbd: ParetoNBD) -> None:
    # Fader and Hardie: r = 0.553, alpha = 10.58, s = 0.606, beta = 11.67, LL = -9595.0.
    p = pnbd.params_
    assert p["r"] == pytest.approx(0.553, abs=5e-4)
    assert p["alpha"] == pytest.approx(10.58, abs=5e-3)
    assert p["s"] == pytest.approx(0.606, abs=5e-4)
    assert p["beta"] == pytest.approx(11.67, abs=5e-3)
    assert pnbd.loglik_ == pytest.approx(-9595.0, abs=0.05)
    assert pnbd.converged_


def test_gamma_gamma_cdnow_matches_fader_hardie_lee_2005(gg: GammaGamma) -> None:
    # FHL (2005, JMR) on the 946 repeat buyers: p = 6.25, q = 3.74, gamma = 15.44 and a
    # correlation of 0.11 between frequency and spend. The exact optimum of gamma is
    # 15.448 (lifetimes agrees); the paper's value is a spreadsheet solver's.
    p = gg.params_
    assert gg.n_customers_ == 946
    assert p["p"] == pytest.approx(6.25, abs=5e-3)
    assert p["q"] == pytest.approx(3.74, abs=5e-3)
    assert p["gamma"] == pytest.approx(15.44, abs=0.01)
    assert gg.correlation_ == pytest.approx(0.11, abs=5e-3)


def test_to_frame_has_estimates_errors_and_positive_intervals(bg: BGNBD) -> None:
    frame = bg.to_frame()
    assert list(frame.columns) == ["estimate", "std_error", "ci_low", "ci_high"]
    assert list(frame.index) == ["r", "alpha", "a", "b"]
    assert (frame.ci_low > 0).all() and (frame.ci_low < frame.estimate).all()
    assert (frame.estimate < frame.ci_high).all()
    row = frame.loc["r"]
    half = 1.959963984540054 * row.std_error / row.estimate
    assert row.ci_high == pytest.approx(row.estimate * math.exp(half))


# --------------------------------------------------------------------------- closed forms

CUSTOMER_1 = (2, 30.43, 38.86)  # CDNOW ID 1: x, t_x, T


def test_bgnbd_probability_alive_by_hand(bg: BGNBD) -> None:
    r, alpha, a, b = (bg.params_[k] for k in ("r", "alpha", "a", "b"))
    x, tx, T = CUSTOMER_1
    by_hand = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))
    assert bg.probability_alive(x, tx, T) == pytest.approx(by_hand, rel=1e-12)
    assert bg.probability_alive(x, tx, T) == pytest.approx(0.726609, abs=1e-5)  # lifetimes
    assert np.all(bg.probability_alive([0, 0], [0, 0], [1.0, 1e4]) == 1.0)


def test_bgnbd_expectations_by_hand(bg: BGNBD) -> None:
    r, alpha, a, b = (bg.params_[k] for k in ("r", "alpha", "a", "b"))
    t = 39.0
    eq7 = (a + b - 1) / (a - 1) * (
        1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t))
    )
    assert bg.expected_purchases(t) == pytest.approx(eq7, rel=1e-10)
    x, tx, T = CUSTOMER_1
    z = t / (alpha + T + t)
    eq10 = (a + b + x - 1) / (a - 1) * (
        1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    ) / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))
    assert bg.conditional_expected_purchases(t, x, tx, T) == pytest.approx(eq10, rel=1e-10)
    # lifetimes 0.11.3 on CDNOW: 1.2259 expected purchases of customer 1 in 39 weeks and
    # 1.1950 for a new customer.
    assert bg.conditional_expected_purchases(t, x, tx, T) == pytest.approx(1.22591, abs=1e-5)
    assert bg.expected_purchases(t) == pytest.approx(1.19502, abs=1e-5)


def test_bgnbd_log_likelihood_by_hand(bg: BGNBD, cdnow: pd.DataFrame) -> None:
    r, alpha, a, b = (bg.params_[k] for k in ("r", "alpha", "a", "b"))
    x, tx, T = CUSTOMER_1
    eq6 = math.exp(betaln(a, b + x) - betaln(a, b) + gammaln(r + x) - gammaln(r)) * (
        alpha**r / (alpha + T) ** (r + x)
        + a / (b + x - 1) * alpha**r / (alpha + tx) ** (r + x)
    )
    assert bg.log_likelihood(x, tx, T) == pytest.approx(math.log(eq6), rel=1e-12)
    total = bg.log_likelihood(cdnow.frequency, cdnow.recency, cdnow["T"]).sum()
    assert total == pytest.approx(bg.loglik_, rel=1e-12)


EXPECTED_ALIVE_MPMATH = [  # (t, r, alpha, a, b, eq. 7 by mpmath at 60 digits)
    (39.0, 0.5, 4.4, 0.79, 2.4, 2.253511243443536),
    (39.0, 500.0, 4.4, 1.0, 0.05, 1.4446597512789192),
    (1e6, 0.05, 0.01, 0.05, 0.05, 1051674.9338125903),
    (1e3, 30.0, 1e4, 40.0, 500.0, 2.681711181743214),
    (0.5, 0.05, 1e8, 3.0, 2.4, 2.499999996354167e-10),
    (1e6, 500.0, 0.01, 0.79, 500.0, 111541.78814845417),
    (39.0, 0.05, 4.4, 1.0, 500.0, 0.43916097837592083),
]


@pytest.mark.parametrize("case", EXPECTED_ALIVE_MPMATH)
def test_expected_alive_against_high_precision(case: tuple[float, ...]) -> None:
    *args, exact = case
    value = bgnbd_module.expected_alive(*args)
    assert value == pytest.approx(exact, rel=2e-7)
    assert bgnbd_module.expected_alive(*args, method="quadrature") == pytest.approx(
        exact, rel=2e-7
    )


def test_expected_alive_series_and_quadrature_agree() -> None:
    rng = np.random.default_rng(7)
    n = 200
    t = rng.uniform(0.1, 80, n)
    r, alpha = rng.uniform(0.05, 3, n), rng.uniform(1, 40, n)
    # The series' domain: c = a + b - 1 > 0, c - r > -1, z = t / (alpha + t) < 0.99.
    a, b = rng.uniform(0.2, 5, n), rng.uniform(3, 30, n) + rng.integers(0, 50, n)
    series = bgnbd_module.expected_alive(t, r, alpha, a, b, method="series")
    quad = bgnbd_module.expected_alive(t, r, alpha, a, b, method="quadrature")
    assert series == pytest.approx(quad, rel=1e-9)


def test_pareto_nbd_closed_forms(pnbd: ParetoNBD) -> None:
    r, alpha, s, beta = (pnbd.params_[k] for k in ("r", "alpha", "s", "beta"))
    x, tx, T = CUSTOMER_1
    # Fader and Hardie's A_0 with the hypergeometric form for alpha < beta.
    n = r + s + x
    zf = (beta - alpha) / (beta + tx)
    zl = (beta - alpha) / (beta + T)
    a0 = (hyp2f1(n, r + x, n + 1, zf) / (beta + tx) ** n
          - hyp2f1(n, r + x, n + 1, zl) / (beta + T) ** n)
    alive_term = 1 / ((alpha + T) ** (r + x) * (beta + T) ** s)
    lik = math.exp(gammaln(r + x) - gammaln(r)) * alpha**r * beta**s * (
        alive_term + s / n * a0
    )
    assert pnbd.log_likelihood(x, tx, T) == pytest.approx(math.log(lik), rel=1e-9)
    p_alive = 1 / (1 + s / n * a0 / alive_term)
    assert pnbd.probability_alive(x, tx, T) == pytest.approx(p_alive, rel=1e-8)
    t = 39.0
    e_new = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
    assert pnbd.expected_purchases(t) == pytest.approx(e_new, rel=1e-12)
    e_cond = p_alive * (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (
        1 - ((beta + T) / (beta + T + t)) ** (s - 1)
    )
    assert pnbd.conditional_expected_purchases(t, x, tx, T) == pytest.approx(e_cond, rel=1e-8)
    # lifetimes 0.11.3 on CDNOW: 1.4551 expected purchases and P(alive) 0.8691.
    assert pnbd.conditional_expected_purchases(t, x, tx, T) == pytest.approx(1.45511, abs=1e-5)
    assert pnbd.probability_alive(x, tx, T) == pytest.approx(0.86912, abs=1e-5)


def test_pareto_nbd_expectation_at_s_equal_one() -> None:
    model = ParetoNBD.from_params(r=0.5, alpha=10.0, s=1.0, beta=12.0)
    limit = 0.5 / 10.0 * 12.0 * math.log(1 + 39.0 / 12.0)
    assert model.expected_purchases(39.0) == pytest.approx(limit, rel=1e-12)


PARETO_INTEGRAL_MPMATH = [  # (r, alpha, s, beta, x, t_x, T, log integral, mpmath)
    (0.55, 10.6, 0.6, 11.7, 1.0, 30.4, 38.9, -9.887961871711472),
    (0.55, 1e8, 0.6, 0.01, 30.0, 0.0, 1e4, -559.4781213556365),
    (30.0, 0.01, 0.05, 1e4, 500.0, 38.8, 38.9, -1951.68270421649),
    (0.05, 1e4, 30.0, 11.7, 0.0, 0.0, 39.0, -77.6493816715272),
]


@pytest.mark.parametrize("case", PARETO_INTEGRAL_MPMATH)
def test_pareto_integral_against_high_precision(case: tuple[float, ...]) -> None:
    r, alpha, s, beta, x, tx, T, exact = case
    # The reference is log((F(t_x) - F(T)) / n), F the 2F1 form of A_0 (n = r + s + x).
    log_i, _ = pnbd_module._log_integral(
        np.array([r, alpha, s, beta]), np.array([x]), np.array([tx]), np.array([T]),
        grad=False,
    )
    assert log_i[0] == pytest.approx(exact, abs=1e-8)


def test_gamma_gamma_expected_spend_by_hand(gg: GammaGamma) -> None:
    p, q, gam = (gg.params_[k] for k in ("p", "q", "gamma"))
    x, m = 2, 22.35
    assert gg.conditional_expected_average_profit(x, m) == pytest.approx(
        (gam + m * x) * p / (p * x + q - 1), rel=1e-12
    )
    assert gg.conditional_expected_average_profit(x, m) == pytest.approx(24.6586, abs=1e-4)
    # No repeat purchase: the population mean p gamma / (q - 1).
    assert gg.conditional_expected_average_profit(0, 0) == pytest.approx(p * gam / (q - 1))
    model = GammaGamma.from_params(p=2.0, q=0.5, gamma=3.0)
    assert model.conditional_expected_average_profit(0, 0) == np.inf


# --------------------------------------------------------------------------- gradients


def _finite_difference(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.empty(len(theta))
    for j in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[j] *= 1 + h
        down[j] *= 1 - h
        g[j] = (f(up) - f(down)) / (up[j] - down[j])
    return g


def _fd_hessian(grad, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    cols = []
    for j in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[j] *= 1 + h
        down[j] *= 1 - h
        cols.append((grad(up) - grad(down)) / (up[j] - down[j]))
    return np.column_stack(cols)


@pytest.mark.parametrize("theta", [[0.3, 5.0, 0.8, 2.5], [2.0, 0.5, 3.0, 0.7]])
def test_bgnbd_gradient_and_hessian_match_finite_differences(
    cdnow: pd.DataFrame, theta: list[float]
) -> None:
    x, tx, T, w = compress(cdnow.frequency, cdnow.recency, cdnow["T"])
    s = bgnbd_module._stats(x, tx, T, w)
    th = np.array(theta)
    _, grad, hess = bgnbd_module._loglik(th, s, True)
    assert grad == pytest.approx(
        _finite_difference(lambda v: bgnbd_module._loglik(v, s)[0], th), rel=1e-6
    )
    assert hess == pytest.approx(
        _fd_hessian(lambda v: bgnbd_module._loglik(v, s)[1], th), rel=1e-5, abs=1e-3
    )


@pytest.mark.parametrize("theta", [[0.5, 10.0, 0.6, 12.0], [2.0, 0.5, 3.0, 40.0]])
def test_pareto_nbd_gradient_matches_finite_differences(
    cdnow: pd.DataFrame, theta: list[float]
) -> None:
    x, tx, T, w = compress(cdnow.frequency, cdnow.recency, cdnow["T"])
    st = pnbd_module._Stats(n=w.sum(), x=x, tx=tx, T=T, w=w)
    th = np.array(theta)
    _, grad = pnbd_module._loglik_grad(th, st)
    assert grad == pytest.approx(
        _finite_difference(lambda v: pnbd_module._loglik_grad(v, st)[0], th), rel=1e-6
    )


@pytest.mark.parametrize("theta", [[6.0, 3.7, 15.0], [1.0, 1.5, 100.0]])
def test_gamma_gamma_gradient_and_hessian_match_finite_differences(
    cdnow: pd.DataFrame, theta: list[float]
) -> None:
    rep = cdnow[cdnow.frequency > 0]
    x, m = rep.frequency.to_numpy(float), rep.monetary_value.to_numpy(float)
    xs, ix = np.unique(x, return_inverse=True)
    s = gg_module._Stats(
        n=len(x), xs=xs, w_x=np.bincount(ix).astype(float), sum_log_m=np.log(m).sum(),
        sum_x_log_m=(x * np.log(m)).sum(), x=x, spend=x * m, w=np.ones(len(x)),
    )
    th = np.array(theta)
    _, grad, hess = gg_module._loglik(th, s, True)
    assert grad == pytest.approx(
        _finite_difference(lambda v: gg_module._loglik(v, s)[0], th), rel=1e-6
    )
    assert hess == pytest.approx(
        _fd_hessian(lambda v: gg_module._loglik(v, s)[1], th), rel=1e-5, abs=1e-3
    )


# --------------------------------------------------------------------------- extremes

EXTREME = (  # frequency 0 and a very long age; 500 purchases with recency = T; recency = T
    np.array([0.0, 500.0, 500.0, 3.0, 0.0, 1.0]),
    np.array([0.0, 39.0, 1.0, 39.0, 0.0, 1e4]),
    np.array([1e4, 39.0, 39.0, 39.0, 0.0, 1e4]),
)


@pytest.mark.parametrize(
    "model",
    [
        BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426),
        BGNBD.from_params(r=0.243, alpha=1e8, a=0.793, b=2.426),
        BGNBD.from_params(r=50.0, alpha=0.01, a=0.05, b=500.0),
        ParetoNBD.from_params(r=0.553, alpha=10.58, s=0.606, beta=11.67),
        ParetoNBD.from_params(r=0.553, alpha=1e8, s=0.606, beta=0.01),
        ParetoNBD.from_params(r=30.0, alpha=0.01, s=0.05, beta=1e4),
    ],
    ids=["bgnbd", "bgnbd-huge-alpha", "bgnbd-odd", "pnbd", "pnbd-huge-alpha", "pnbd-odd"],
)
def test_extreme_inputs_are_finite(model: BGNBD | ParetoNBD) -> None:
    x, tx, T = EXTREME
    ll = model.log_likelihood(x, tx, T)
    alive = model.probability_alive(x, tx, T)
    e1 = model.conditional_expected_purchases(39.0, x, tx, T)
    e2 = model.conditional_expected_purchases(1e5, x, tx, T)
    assert np.all(np.isfinite(ll))
    assert np.all((alive >= 0) & (alive <= 1))
    assert alive[0] == 1.0 if isinstance(model, BGNBD) else alive[0] > 0
    assert np.all(np.isfinite(e1)) and np.all(e1 >= 0)
    assert np.all(np.isfinite(e2)) and np.all(e2 >= e1)
    assert np.all(np.isfinite(model.expected_purchases([0.0, 1.0, 39.0, 1e6])))
    assert model.expected_purchases(0.0) == 0.0


def test_fit_with_extreme_customers_converges_quietly(cdnow: pd.DataFrame) -> None:
    x, tx, T = EXTREME
    data = (
        np.r_[cdnow.frequency, x], np.r_[cdnow.recency, tx], np.r_[cdnow["T"], T],
    )
    for cls in (BGNBD, ParetoNBD):
        model = cls().fit(*data)
        assert model.converged_ and np.isfinite(model.loglik_)
        assert all(np.isfinite(v) for v in model.se_.values())


# --------------------------------------------------------------------------- recovery


def _within(model, truth: dict[str, float], k: float = 3.0) -> None:
    for name, true in truth.items():
        est, se = model.params_[name], model.se_[name]
        assert abs(est - true) < k * se, f"{name}: {est:.4g} +- {se:.2g} vs truth {true}"


def test_bgnbd_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(20240501)
    truth = {"r": 0.4, "alpha": 6.0, "a": 0.9, "b": 3.0}
    ages = rng.uniform(20, 60, 20_000)
    model = BGNBD().fit(*simulate_bgnbd(rng, 20_000, T=ages, **truth))
    assert model.converged_
    _within(model, truth)


def test_pareto_nbd_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(20240502)
    truth = {"r": 0.6, "alpha": 8.0, "s": 0.8, "beta": 12.0}
    ages = np.round(rng.uniform(20, 60, 5_000))
    model = ParetoNBD().fit(*simulate_pareto_nbd(rng, 5_000, T=ages, **truth))
    assert model.converged_
    _within(model, truth)


def test_gamma_gamma_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(20240503)
    truth = {"p": 6.0, "q": 3.7, "gamma": 15.0}
    x = rng.integers(1, 12, 20_000).astype(float)
    model = GammaGamma().fit(x, simulate_gamma_gamma(rng, x, **truth))
    assert model.converged_
    _within(model, truth)


def test_gamma_gamma_warns_when_spend_depends_on_frequency() -> None:
    rng = np.random.default_rng(11)
    x = rng.integers(1, 20, 2_000).astype(float)
    m = 5 * x + rng.gamma(2.0, 2.0, x.shape)
    with pytest.warns(AssumptionWarning, match="correlated"):
        GammaGamma().fit(x, m)


def test_non_convergence_warns_and_is_recorded(cdnow: pd.DataFrame) -> None:
    with pytest.warns(ConvergenceWarning, match="did not converge.*Check"):
        model = BGNBD(max_iter=1).fit(cdnow.frequency, cdnow.recency, cdnow["T"])
    assert model.converged_ is False
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = ParetoNBD(max_iter=1).fit(cdnow.frequency, cdnow.recency, cdnow["T"])
    assert model.converged_ is False


# --------------------------------------------------------------------------- compression


def test_compress_keeps_the_fit(cdnow: pd.DataFrame, bg: BGNBD) -> None:
    x, tx, T, w = compress(cdnow.frequency, cdnow.recency, cdnow["T"])
    assert w.sum() == len(cdnow) and len(x) < len(cdnow)
    assert np.all(np.diff(x) >= 0)
    rebuilt = pd.DataFrame({"f": np.repeat(x, w.astype(int)), "r": np.repeat(tx, w.astype(int)),
                            "T": np.repeat(T, w.astype(int))})
    original = pd.DataFrame({"f": cdnow.frequency, "r": cdnow.recency, "T": cdnow["T"]})
    assert rebuilt.sort_values(["f", "r", "T"]).to_numpy() == pytest.approx(
        original.sort_values(["f", "r", "T"]).to_numpy()
    )
    refit = BGNBD().fit(x, tx, T, weights=w)
    assert refit.params_ == pytest.approx(bg.params_, rel=1e-8)
    assert refit.loglik_ == pytest.approx(bg.loglik_, rel=1e-12)


def test_compress_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="different lengths"):
        compress([1, 2], [1, 2], [3])
    with pytest.raises(InputError, match="weights has length"):
        compress([1, 2], [1, 2], [3, 3], weights=[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 2], [1.0], [5.0, 5.0]), "different lengths"),
        (([1, np.nan], [1.0, 1.0], [5.0, 5.0]), "missing or infinite.*position 1"),
        (([1, 2], [1.0, 6.0], [5.0, 5.0]), "recency is greater than T.*position 1"),
        (([1, -2], [1.0, 1.0], [5.0, 5.0]), "negative.*position 1"),
        (([1, 1.5], [1.0, 1.0], [5.0, 5.0]), "whole number.*position 1"),
        (([1, 0], [1.0, 2.0], [5.0, 5.0]), "frequency 0 must have recency 0"),
        (([], [], []), "no customers"),
        (([0, 0], [0.0, 0.0], [5.0, 5.0]), "no customer has a repeat purchase"),
        ((["a", "b"], [0.0, 0.0], [5.0, 5.0]), "must be numbers"),
    ],
)
def test_bad_input_raises_input_error(args: tuple, message: str) -> None:
    for cls in (BGNBD, ParetoNBD):
        with pytest.raises(InputError, match=message):
            cls().fit(*args)


def test_bad_prediction_input_raises(bg: BGNBD) -> None:
    with pytest.raises(InputError, match="horizon"):
        bg.conditional_expected_purchases(-1, 1, 1, 2)
    with pytest.raises(InputError, match="recency is greater than T"):
        bg.probability_alive([1, 2], [3, 1], [2, 2])
    with pytest.raises(InputError, match="shape"):
        bg.conditional_expected_purchases([1, 2, 3], [1, 1], [1, 1], [2, 2])
    with pytest.raises(InputError, match="exactly the parameters"):
        BGNBD.from_params(r=1.0, alpha=1.0)


def test_gamma_gamma_bad_input() -> None:
    with pytest.raises(InputError, match="no customer has a repeat"):
        GammaGamma().fit([0, 0], [0.0, 0.0])
    with pytest.raises(InputError, match="> 0 for customers with repeat"):
        GammaGamma().fit([1, 2], [0.0, 3.0])
    with pytest.raises(InputError, match="different lengths"):
        GammaGamma().fit([1, 2], [3.0])


# --------------------------------------------------------------------------- CLV


class _LinearPurchases:
    """E[Y(t)] = 0.1 t for everyone: a model whose CLV is easy to compute by hand."""

    def conditional_expected_purchases(self, t, frequency, recency, T):
        return 0.1 * t * np.ones(np.shape(frequency))


class _FlatSpend:
    def conditional_expected_average_profit(self, frequency, monetary_value):
        return np.full(np.shape(frequency), 10.0)


def test_clv_by_hand() -> None:
    value = customer_lifetime_value(
        _LinearPurchases(), _FlatSpend(), [1, 0], [5.0, 0.0], [10.0, 10.0], [10.0, 0.0],
        horizon=2, discount_rate=0.01, margin=0.5, time_unit="D",
    )
    # 3 purchases a month (30 days x 0.1) of 10, half of it profit, discounted monthly.
    by_hand = 0.5 * 10 * 3 * (1 / 1.01 + 1 / 1.01**2)
    assert value == pytest.approx([by_hand, by_hand], rel=1e-12)


def test_clv_matches_lifetimes_on_cdnow(bg: BGNBD, gg: GammaGamma, cdnow: pd.DataFrame) -> None:
    value = customer_lifetime_value(
        bg, gg, cdnow.frequency, cdnow.recency, cdnow["T"], cdnow.monetary_value,
        horizon=12, discount_rate=0.01, margin=1.0, time_unit="W",
    )
    # lifetimes 0.11.3: GammaGammaFitter.customer_lifetime_value(..., time=12,
    # discount_rate=0.01, freq="W") for CDNOW IDs 1, 2, 3 and 6.
    assert value[[0, 1, 2, 5]] == pytest.approx([36.27850, 4.63747, 8.34409, 283.52359],
                                                rel=2e-5)
    assert value.sum() == pytest.approx(71509.9, rel=1e-5)


def test_clv_rejects_bad_settings(bg: BGNBD, gg: GammaGamma) -> None:
    args = (bg, gg, [1], [1.0], [2.0], [10.0])
    with pytest.raises(InputError, match="horizon"):
        customer_lifetime_value(*args, horizon=0)
    with pytest.raises(InputError, match="margin"):
        customer_lifetime_value(*args, margin=1.5)
    with pytest.raises(InputError, match="time_unit"):
        customer_lifetime_value(*args, time_unit="Y")
    with pytest.raises(InputError, match="monetary_value has length"):
        customer_lifetime_value(bg, gg, [1], [1.0], [2.0], [10.0, 3.0])


# --------------------------------------------------------------------------- RFM summary


@pytest.fixture
def orders_table() -> ibis.Table:
    ts = pd.to_datetime
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(9)],
        "user_id": ["u1", "u1", "u1", "u1", "u1", "u2", "u3", "u3", "u4"],
        "order_ts": ts(["2025-01-01 10:00", "2025-01-01 18:00", "2025-01-05 09:00",
                        "2025-01-08 12:00", "2025-01-09 23:59", "2025-01-03 00:00",
                        "2025-01-02 08:00", "2025-01-20 08:00", "2025-01-04 08:00"]),
        "market": "DE",
        "currency": "EUR",
        "amount": [10.0, 5.0, 20.0, 30.0, 6.0, 7.0, 8.0, 100.0, 9.0],
        "status": ["paid", "paid", "delivered", "cancelled", "returned", "paid", "paid",
                   "paid", "cancelled"],
        "delivered_ts": pd.NaT,
    })
    con = ibis.duckdb.connect()
    return con.create_table("orders", orders)


def test_rfm_summary_days_by_hand(orders_table: ibis.Table) -> None:
    out = rfm_summary(orders_table, dt.date(2025, 1, 10)).to_pandas()
    out = out.set_index("user_id").sort_index()
    # u1: purchase days Jan 1 (10 + 5), Jan 5 (20), Jan 9 (6); Jan 8 is cancelled.
    # u2: Jan 3 only. u3: Jan 2, then Jan 20 after the end. u4: only a cancelled order.
    assert list(out.index) == ["u1", "u2", "u3"]
    assert out.frequency.tolist() == [2, 0, 0]
    assert out.recency.tolist() == [8.0, 0.0, 0.0]
    assert out["T"].tolist() == [9.0, 7.0, 8.0]
    assert out.monetary_value.tolist() == [13.0, 0.0, 0.0]
    assert out.frequency.dtype == np.int64


def test_rfm_summary_weeks_by_hand(orders_table: ibis.Table) -> None:
    out = rfm_summary(orders_table, "2025-01-31", time_unit="W").to_pandas()
    out = out.set_index("user_id").sort_index()
    # Weeks start on Monday: Dec 30 (Jan 1-5), Jan 6 (Jan 9), Jan 20; the end is in the
    # week of Jan 27.
    assert out.loc["u1"].tolist() == [1, 1.0, 4.0, 6.0]
    assert out.loc["u3"].tolist() == [1, 3.0, 4.0, 100.0]
    assert out.loc["u2"].tolist() == [0, 0.0, 4.0, 0.0]


def test_rfm_summary_feeds_the_models(orders_table: ibis.Table) -> None:
    out = rfm_summary(orders_table, "2025-01-31").to_pandas()
    x, tx, T, w = compress(out.frequency, out.recency, out["T"])
    assert w.sum() == 3
    assert (x.tolist(), tx.tolist(), T.tolist()) == ([0, 1, 2], [0.0, 18.0, 8.0],
                                                    [28.0, 29.0, 30.0])


def test_rfm_summary_rejects_bad_arguments(orders_table: ibis.Table) -> None:
    with pytest.raises(InputError, match="time_unit"):
        rfm_summary(orders_table, "2025-01-31", time_unit="M")
    with pytest.raises(InputError, match="no column 'amount_usd'"):
        rfm_summary(orders_table, "2025-01-31", value_col="amount_usd")
    with pytest.raises(InputError, match="observation_end"):
        rfm_summary(orders_table, "not a date")


# --------------------------------------------------------------------------- read_summary


def test_read_summary_reads_cdnow() -> None:
    df = read_summary(DATA / "cdnow_customers_summary.csv")
    assert list(df.columns) == ["customer_id", "frequency", "recency", "T"]
    assert len(df) == 2357 and df.frequency.dtype == np.int64
    assert df.customer_id.iloc[0] == "1"


def test_read_summary_reads_parquet(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pd.DataFrame({"customer_id": ["a", "b"], "frequency": [1, 0], "recency": [2.0, 0.0],
                  "T": [3.0, 3.0], "monetary_value": [5.0, 0.0]}).to_parquet(path)
    df = read_summary(path)
    assert df.monetary_value.tolist() == [5.0, 0.0]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "summary.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id,frequency,recency\n1,0,0\n", r"missing column 'T'"),
        ("id,frequency,recency,T\n1,0,0,5\n2,-1,0,5\n", r"row 2, field 'frequency': value -1"),
        ("id,frequency,recency,T\n1,1,6,5\n", r"row 1, field 'recency': value 6; expected "
                                              r"recency <= T.*T is 5"),
        ("id,frequency,recency,T\n1,0,0,5\n2,1.5,1,5\n",
         r"row 2, field 'frequency': value 1.5; expected a whole number"),
        ("id,frequency,recency,T\n1,0,2,5\n", r"row 1, field 'recency': value 2; expected "
                                              r"recency 0 when frequency is 0"),
        ("id,frequency,recency,T\n1,1,x,5\n", r"row 1, field 'recency': value 'x' is not a "
                                              r"number"),
        ("id,frequency,recency,T\n1,1,,5\n", r"row 1, field 'recency': value '' is not"),
        ("id,frequency,recency,T,monetary_value\n1,1,1,5,-3\n",
         r"row 1, field 'monetary_value': value -3; expected a value >= 0"),
        ("id,frequency,recency,T\n7,0,0,5\n7,1,1,5\n", r"row 2, field 'id': value '7' appears "
                                                      r"twice"),
        ("", r"the file is empty"),
        ("id,frequency,recency,T\n", r"header but no customers"),
    ],
)
def test_read_summary_errors_name_file_row_field_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=expected) as info:
        read_summary(path)
    assert str(path) in str(info.value)


def test_read_summary_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_summary(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- misc


def test_models_pickle_without_fit_time_functions(bg: BGNBD) -> None:
    clone = pickle.loads(pickle.dumps(bg))
    assert clone.params_ == bg.params_
    assert "lambda" not in repr(vars(bg))


@pytest.mark.parametrize(("a", "b"), [(2.0, 4e6), (3e6, 1e6), (3000.0, 1e6), (50.0, 250.0)])
def test_expected_alive_for_a_concentrated_dropout_distribution(a, b):
    """When Beta(a, b) is nearly a point mass at p = a/(a+b), eq. 7 tends to the fixed-p
    value (1 - (1 + p t/alpha)^-r)/p; every method must agree with the exact series."""
    from growthloop.models.clv.bgnbd import expected_alive

    t, r, alpha = 365.0, 0.2, 20.0
    p = a / (a + b)
    limit = (1 - (1 + p * t / alpha) ** -r) / p
    got = float(expected_alive(t, r, alpha, a, b))
    quad = float(expected_alive(t, r, alpha, a, b, method="quadrature"))
    assert np.isfinite(got) and np.isfinite(quad)
    if a + b > 1e5:
        assert got == pytest.approx(limit, rel=1e-6)
    else:
        exact = float(expected_alive(t, r, alpha, a, b, method="series"))
        assert got == pytest.approx(exact, rel=1e-5)
        assert quad == pytest.approx(exact, rel=1e-5)
