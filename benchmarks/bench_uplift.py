"""Uplift meta-learners at scale: growthloop against CausalML and scikit-uplift, one run.

A synthetic randomised test (50/50) of ``--units`` units (1,000,000 by default) with a
known per-unit effect: five numeric features, two categorical ones (market, 8 levels;
device, 3 levels, given to every model as integer codes), a binary conversion (or, with
``--outcome revenue``, conversion times a gamma order value) whose treatment effect
varies with the features (positive for some units, negative for others). 70 % of the
units train, 30 % are held out. In one run on the same data:

- the base learner: one LightGBM model against one scikit-learn HistGradientBoosting
  model with the same trees (100 rounds, 31 leaves, rate 0.1, 20 per leaf), fitted on the
  control arm's outcome: fit time and held-out loss;
- growthloop's T-, X- and DR-learners (``propensity=0.5``, the known share);
- CausalML's BaseT/BaseX/BaseDR Classifier (Regressor for revenue) and scikit-uplift's
  TwoModels and SoloModel, each with LightGBM base learners of the same settings;

each with its fit time, the time to score the held-out units, the Qini coefficient
(``growthloop.models.uplift.qini_coefficient``, scikit-uplift's normalisation) and AUUC
on the held-out units, and the true effect gained by targeting the top 30 % by score.
Then the ratios peer time / growthloop time for the corresponding learners, and the
process's peak resident memory (the kernel's high-water mark, with psutil's current RSS).
Every model gets ``--n-jobs`` threads (1 by default: steadier on a shared machine), and
times are given as wall seconds and as the process's CPU seconds: with one thread the
CPU time is the work done, while the wall time also counts waiting for a core that
other programs hold. The ratios are of CPU time, the wall-clock ratio beside them.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_uplift.py --units 100000
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psutil

from growthloop.models.uplift import (
    auuc,
    make_learner,
    qini_coefficient,
    targeting_gain,
)

TREES = {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31,
         "min_child_samples": 20}


@dataclass(frozen=True)
class Data:
    X: np.ndarray
    t: np.ndarray
    y: np.ndarray
    tau: np.ndarray


def simulate(n: int, outcome: str, seed: int) -> Data:
    """The synthetic test: features, a 50/50 assignment, outcomes and the true effect."""
    rng = np.random.default_rng(seed)
    num = rng.normal(size=(n, 5))
    market = rng.integers(0, 8, n)
    device = rng.integers(0, 3, n)
    t = (rng.random(n) < 0.5).astype(np.int8)
    base = -2.0 + 0.6 * num[:, 0] - 0.4 * num[:, 1] + 0.15 * market - 0.3 * (device == 2)
    lift = (0.5 * (num[:, 2] > 0) + 0.4 * np.tanh(num[:, 3]) - 0.5 * (market == 3)
            + 0.3 * (device == 1) - 0.1)
    p0 = 1 / (1 + np.exp(-base))
    p1 = 1 / (1 + np.exp(-(base + lift)))
    buy = rng.random(n) < np.where(t == 1, p1, p0)
    features = np.column_stack([num, market, device]).astype(np.float32)
    if outcome == "binary":
        return Data(features, t, buy.astype(np.float64), p1 - p0)
    value = 40 * np.exp(0.3 * num[:, 4] + 0.05 * market)
    order = rng.gamma(2.0, value / 2.0)
    return Data(features, t, np.where(buy, order, 0.0), (p1 - p0) * value)


@dataclass
class Result:
    name: str
    fit_s: float
    score_s: float
    fit_cpu: float
    score_cpu: float
    qini: float
    auuc: float
    gain: float


def timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    """``fn()``, its wall time and the process's CPU time during it (with one thread per
    model the CPU time is the work done, whatever else the machine runs)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def evaluate(name: str, fit: Callable[[], object], score: Callable[[object], np.ndarray],
             test: Data) -> Result:
    model, fit_s, fit_cpu = timed(fit)
    pred, score_s, score_cpu = timed(lambda: np.ravel(score(model)).astype(np.float64))
    res = Result(name, fit_s, score_s, fit_cpu, score_cpu,
                 qini_coefficient(test.y, test.t, pred), auuc(test.y, test.t, pred),
                 targeting_gain(test.tau, pred, 0.3))
    print(f"  {name:<26} fit {fit_s:7.2f} s ({fit_cpu:6.2f} cpu)  score {score_s:6.2f} s "
          f"({score_cpu:5.2f} cpu)  Qini {res.qini:7.4f}  AUUC {res.auuc:7.4f}  "
          f"gain@30% {res.gain:9.1f}  peak {peak_gb():4.2f} GB", flush=True)
    return res


def peak_gb() -> float:
    """The process's peak resident set size so far (Linux ``ru_maxrss``, KiB), in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def base_learners(train: Data, test: Data, binary: bool, n_jobs: int) -> None:
    """LightGBM against HistGradientBoosting on the control arm's outcome."""
    import lightgbm as lgb
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import log_loss, mean_squared_error
    from threadpoolctl import threadpool_limits

    c, ct = train.t == 0, test.t == 0
    x, y, x_test, y_test = train.X[c], train.y[c], test.X[ct], test.y[ct]
    hgb_settings = {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31,
                    "min_samples_leaf": 20, "early_stopping": False, "random_state": 0}
    if binary:
        models = {"LightGBM": lgb.LGBMClassifier(**TREES, n_jobs=n_jobs, verbose=-1),
                  "HistGradientBoosting": HistGradientBoostingClassifier(**hgb_settings)}
    else:
        models = {"LightGBM": lgb.LGBMRegressor(**TREES, n_jobs=n_jobs, verbose=-1),
                  "HistGradientBoosting": HistGradientBoostingRegressor(**hgb_settings)}
    print(f"base learner, one model of the control arm's outcome ({len(y):,} units):")
    cpu = {}
    for name, model in models.items():
        with threadpool_limits(n_jobs):
            _, wall, cpu[name] = timed(lambda m=model: m.fit(x, y))
            if binary:
                pred, _, pred_cpu = timed(lambda m=model: m.predict_proba(x_test)[:, 1])
                loss = log_loss(y_test, pred)
            else:
                pred, _, pred_cpu = timed(lambda m=model: m.predict(x_test))
                loss = mean_squared_error(y_test, pred)
        metric = "log loss" if binary else "MSE"
        print(f"  {name:<22} fit {wall:7.2f} s ({cpu[name]:6.2f} cpu)  predict "
              f"{len(y_test):,} ({pred_cpu:5.2f} cpu)  held-out {metric} {loss:.5f}")
    print(f"  HistGradientBoosting / LightGBM fit cpu time: "
          f"{cpu['HistGradientBoosting'] / cpu['LightGBM']:.2f}x")


def ours(train: Data, test: Data, n_jobs: int, extra: dict) -> dict[str, Result]:
    out = {}
    for name in ("t", "x", "dr"):
        learner = make_learner(name, **TREES, n_jobs=n_jobs, propensity=0.5, **extra)
        out[name] = evaluate(f"growthloop {name.upper()}-learner",
                             lambda m=learner: m.fit(train.X, train.t, train.y),
                             lambda m: m.predict(test.X), test)
    return out


def causalml_peers(train: Data, test: Data, binary: bool, n_jobs: int) -> dict[str, Result]:
    import lightgbm as lgb
    from causalml.inference import meta

    def clf() -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(**TREES, n_jobs=n_jobs, verbose=-1)

    def reg() -> lgb.LGBMRegressor:
        return lgb.LGBMRegressor(**TREES, n_jobs=n_jobs, verbose=-1)

    if binary:
        makers = {"t": lambda: meta.BaseTClassifier(learner=clf()),
                  "x": lambda: meta.BaseXClassifier(outcome_learner=clf(),
                                                    effect_learner=reg()),
                  "dr": lambda: meta.BaseDRClassifier(learner=clf(),
                                                      treatment_effect_learner=reg())}
    else:
        makers = {"t": lambda: meta.BaseTRegressor(learner=reg()),
                  "x": lambda: meta.BaseXRegressor(learner=reg()),
                  "dr": lambda: meta.BaseDRRegressor(learner=reg())}
    p_train = np.full(len(train.t), 0.5)
    p_test = np.full(len(test.t), 0.5)
    out = {}
    for name, make in makers.items():
        model = make()

        def fit(m=model, name=name):
            kwargs = {"seed": 0} if name == "dr" else {}
            return m.fit(train.X, train.t, train.y, p=p_train, **kwargs)

        def score(m, name=name):
            if name == "t":
                return m.predict(test.X, verbose=False)
            return m.predict(test.X, p=p_test, verbose=False)

        out[name] = evaluate(f"CausalML {type(model).__name__}", fit, score, test)
    return out


def sklift_peers(train: Data, test: Data, binary: bool, n_jobs: int) -> dict[str, Result]:
    import lightgbm as lgb
    from sklift.models import SoloModel, TwoModels

    def base() -> lgb.LGBMModel:
        cls = lgb.LGBMClassifier if binary else lgb.LGBMRegressor
        return cls(**TREES, n_jobs=n_jobs, verbose=-1)

    out = {}
    for name, model in (("two", TwoModels(estimator_trmnt=base(), estimator_ctrl=base(),
                                          method="vanilla")),
                        ("solo", SoloModel(estimator=base(), method="dummy"))):
        out[name] = evaluate(f"scikit-uplift {type(model).__name__}",
                             lambda m=model: m.fit(train.X, train.y, train.t),
                             lambda m: m.predict(test.X), test)
    return out


def ratio_line(label: str, peer: Result, mine: Result) -> None:
    wall = (peer.fit_s + peer.score_s) / (mine.fit_s + mine.score_s)
    fit = peer.fit_cpu / mine.fit_cpu
    score = peer.score_cpu / mine.score_cpu
    total = (peer.fit_cpu + peer.score_cpu) / (mine.fit_cpu + mine.score_cpu)
    print(f"  {label:<46} cpu: fit {fit:5.2f}x  score {score:5.2f}x  total {total:5.2f}x  "
          f"(wall {wall:5.2f}x)  Qini {mine.qini - peer.qini:+.4f}")


def part(data: Data, mask: np.ndarray) -> Data:
    return Data(data.X[mask], data.t[mask], data.y[mask], data.tau[mask])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--outcome", choices=("binary", "revenue"), default="binary")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--early-stopping", type=int, default=None, metavar="ROUNDS",
                        help="growthloop's learners stop early on a 10%% validation split")
    parser.add_argument("--subsample", type=float, default=None,
                        help="growthloop's learners grow each tree on this share of the rows")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    data = simulate(args.units, args.outcome, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    held = rng.random(args.units) < 0.3

    train, test = part(data, ~held), part(data, held)
    del data
    binary = args.outcome == "binary"
    print(f"{args.units:,} units ({len(train.t):,} train, {len(test.t):,} held out), "
          f"outcome {args.outcome}, mean {train.y.mean():.4f}, true ATE "
          f"{test.tau.mean():.4f}, {args.n_jobs} thread(s)")
    base_learners(train, test, binary, args.n_jobs)
    extra: dict[str, float] = {}
    if args.early_stopping is not None:
        extra["early_stopping_rounds"] = args.early_stopping
    if args.subsample is not None:
        extra["subsample"] = args.subsample
    print("uplift models (Qini, AUUC and gain on the held-out units):")
    mine = ours(train, test, args.n_jobs, extra)
    if not args.no_peers:
        cml = causalml_peers(train, test, binary, args.n_jobs)
        skl = sklift_peers(train, test, binary, args.n_jobs)
        print("peer time / growthloop time, CPU seconds (wall-clock ratio in brackets; "
              "Qini: growthloop minus peer):")
        for key, label in (("t", "T"), ("x", "X"), ("dr", "DR")):
            ratio_line(f"CausalML Base{label} / growthloop {label}-learner", cml[key],
                       mine[key])
        ratio_line("scikit-uplift TwoModels / growthloop T-learner", skl["two"], mine["t"])
        ratio_line("scikit-uplift SoloModel / growthloop T-learner", skl["solo"], mine["t"])
    rss = psutil.Process().memory_info().rss / 1e9
    print(f"peak resident memory {peak_gb():.2f} GB (aim: under 4 GB); now {rss:.2f} GB")


if __name__ == "__main__":
    main()
