"""Customer-value fit speed: growthloop's BG/NBD + Gamma-Gamma against lifetimes.

Simulates customers from known BG/NBD and Gamma-Gamma parameters (ages in whole days, as
``rfm_summary`` produces them), fits both models with growthloop and, side by side in
the same run, with lifetimes' ``BetaGeoFitter`` and ``GammaGammaFitter`` where it is
installed and the size is at most ``--peer-max``. Prints the time per size, the speed
ratio, the largest relative parameter difference, and growthloop's peak memory at 1 M
customers (tracemalloc: Python and NumPy allocations).

    python benchmarks/bench_clv.py
    python benchmarks/bench_clv.py --sizes 10000,100000 --peer-max 100000

lifetimes 0.11 imports with current NumPy/pandas; if it is not installed in this
environment, install it anywhere and point PYTHONPATH at it, e.g.
``pip install --target /tmp/lt lifetimes autograd dill`` then
``PYTHONPATH=/tmp/lt python benchmarks/bench_clv.py``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from typing import Any

import numpy as np

from growthloop.models.clv.bgnbd import BGNBD, simulate_bgnbd
from growthloop.models.clv.gamma_gamma import GammaGamma, simulate_gamma_gamma
from growthloop.models.clv.value import compress

TRUTH_BGNBD = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.5}  # time unit: days
TRUTH_GG = {"p": 6.0, "q": 3.7, "gamma": 15.0}


def simulate(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Customers with first purchases spread over two years, observed in whole days."""
    rng = np.random.default_rng(seed)
    ages = rng.integers(1, 731, n).astype(np.float64)
    x, tx, T = simulate_bgnbd(rng, n, T=ages, **TRUTH_BGNBD)
    tx = np.floor(tx)
    m = np.round(simulate_gamma_gamma(rng, x, **TRUTH_GG), 2)
    m[(x > 0) & (m <= 0)] = 0.01
    return x, tx, T, m


def fit_growthloop(x: np.ndarray, tx: np.ndarray, T: np.ndarray, m: np.ndarray) -> dict:
    t0 = time.perf_counter()
    bg = BGNBD().fit(x, tx, T)
    t1 = time.perf_counter()
    gg = GammaGamma().fit(x, m)
    t2 = time.perf_counter()
    return {"bgnbd_s": t1 - t0, "gg_s": t2 - t1, "params": {**bg.params_, **gg.params_},
            "converged": bg.converged_ and gg.converged_}


def fit_lifetimes(x: np.ndarray, tx: np.ndarray, T: np.ndarray, m: np.ndarray) -> dict:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    rep = x > 0
    t0 = time.perf_counter()
    bg = BetaGeoFitter().fit(x, tx, T)
    t1 = time.perf_counter()
    gg = GammaGammaFitter().fit(x[rep], m[rep])
    t2 = time.perf_counter()
    params = dict(bg.params_.items())
    params.update({"p": gg.params_["p"], "q": gg.params_["q"], "gamma": gg.params_["v"]})
    return {"bgnbd_s": t1 - t0, "gg_s": t2 - t1, "params": params}


def best_of(fit, repeat: int, *data: np.ndarray) -> dict:
    """The run with the shortest total time (the machine may be shared)."""
    runs = [fit(*data) for _ in range(repeat)]
    return min(runs, key=lambda run: run["bgnbd_s"] + run["gg_s"])


def peak_memory(x: np.ndarray, tx: np.ndarray, T: np.ndarray, m: np.ndarray) -> float:
    tracemalloc.start()
    fit_growthloop(x, tx, T, m)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def lifetimes_available() -> str | None:
    try:
        import lifetimes  # noqa: F401
    except Exception as exc:  # any import failure means: no peer in this run
        return f"{type(exc).__name__}: {exc}"
    return None


def fmt(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in params.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000,10000000",
                    help="comma-separated numbers of customers")
    ap.add_argument("--peer-max", type=int, default=1_000_000,
                    help="largest size lifetimes is run on")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    missing = lifetimes_available()
    if missing:
        print(f"lifetimes not available ({missing}): growthloop timings only")
    print(f"truth: {fmt({**TRUTH_BGNBD, **TRUTH_GG})}")
    warm = simulate(2_000, args.seed)
    fit_growthloop(*warm)
    if not missing:
        fit_lifetimes(*warm)
    for n in sizes:
        x, tx, T, m = simulate(n, args.seed)
        repeat = 3 if n <= args.peer_max else 1
        rows = len(compress(x, tx, T)[0])
        ours = best_of(fit_growthloop, repeat, x, tx, T, m)
        total = ours["bgnbd_s"] + ours["gg_s"]
        print(f"\nn={n:,} ({rows:,} distinct (x, t_x, T)): growthloop {total:.2f} s "
              f"(BG/NBD {ours['bgnbd_s']:.2f} s, Gamma-Gamma {ours['gg_s']:.2f} s; "
              f"best of {repeat}; converged={ours['converged']})")
        print(f"  growthloop: {fmt(ours['params'])}")
        if n == 1_000_000:
            print(f"  growthloop peak memory (tracemalloc): {peak_memory(x, tx, T, m):.0f} MiB")
        if missing:
            continue
        if n > args.peer_max:
            print(f"  lifetimes: skipped above {args.peer_max:,} customers")
            continue
        peer = best_of(fit_lifetimes, repeat, x, tx, T, m)
        peer_total = peer["bgnbd_s"] + peer["gg_s"]
        diff = max(abs(ours["params"][k] / peer["params"][k] - 1) for k in ours["params"])
        print(f"  lifetimes:  {fmt(peer['params'])}")
        print(f"  lifetimes {peer_total:.2f} s (BG/NBD {peer['bgnbd_s']:.2f} s, Gamma-Gamma "
              f"{peer['gg_s']:.2f} s; best of {repeat}); speed ratio "
              f"{peer_total / total:.1f}x (BG/NBD {peer['bgnbd_s'] / ours['bgnbd_s']:.1f}x, "
              f"Gamma-Gamma {peer['gg_s'] / ours['gg_s']:.1f}x); max relative parameter "
              f"difference {diff:.1e}")


if __name__ == "__main__":
    main()
