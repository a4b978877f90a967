"""Marketing-mix model: growthloop's MAP + Laplace fit and NUTS against PyMC-Marketing's
MMM (numpyro sampler) on the same weekly data with a known truth.

The data are drawn from the model form both libraries fit (geometric adstock, then Hill
saturation, plus trend, yearly season and noise): ``--markets`` x ``--channels`` x
``--weeks``. The truth is each market x channel's contribution per unit of spend; the
error printed is the median over pairs of ``|estimate / truth - 1|``. growthloop fits the
markets together; PyMC-Marketing's ``MMM`` (one series) is fitted per market with its
default logistic saturation, and the times are summed. Every fit is timed in this run.

    pip install -e ".[bench]"
    python benchmarks/bench_mmm.py --markets 4 --channels 7 --weeks 104
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from growthloop.models.mmm import MediaMixModel, mmm_data
from growthloop.simulate.media import geometric_adstock, hill


def world(markets: int, channels: int, weeks: int, seed: int):
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0.1, 0.6, (markets, channels))
    k = rng.uniform(0.6, 1.4, (markets, channels))
    s = rng.uniform(1.0, 2.5, channels)
    beta = rng.uniform(0.05, 0.25, (markets, channels))
    scale = rng.uniform(50, 2000, markets)
    base_spend = rng.uniform(20, 200, channels)
    t = np.arange(weeks)
    flight = 1 + 0.6 * np.sin(t[None, None, :] / rng.uniform(4, 12, (1, channels, 1)))
    x = rng.gamma(3.0, 1 / 3.0, (markets, channels, weeks)) * base_spend[None, :, None] * flight
    x[rng.random(x.shape) < 0.15] = 0.0
    media = beta[..., None] * hill(geometric_adstock(x / x.mean(axis=2, keepdims=True), alpha),
                                   k[..., None], s[None, :, None])
    base = 1.0 + 0.1 * t / weeks + 0.1 * np.sin(2 * np.pi * t * 7 / 365.25)
    y = (base[None] + media.sum(1) + rng.normal(0, 0.04, (markets, weeks))) * scale[:, None]
    dates = pd.date_range("2023-01-02", periods=weeks, freq="7D")
    names = [f"ch{c}" for c in range(channels)]
    df = pd.DataFrame([{"market": f"m{m}", "week": dates[i], "y": y[m, i],
                        **{names[c]: x[m, c, i] for c in range(channels)}}
                       for m in range(markets) for i in range(weeks)])
    truth = (media * scale[:, None, None]).sum(2) / x.sum(2)
    return df, names, truth


def error(est: np.ndarray, truth: np.ndarray) -> float:
    return float(np.median(np.abs(est / truth - 1)))


def growthloop_fit(df: pd.DataFrame, names: list[str], method: str, **kw):
    data = mmm_data(df, date="week", target="y", spend=names, market="market")
    t0 = time.perf_counter()
    model = MediaMixModel(method=method, **kw).fit(data)
    seconds = time.perf_counter() - t0
    s = model.channel_summary()
    return seconds, s.per_spend.to_numpy().reshape(len(data.markets), len(names)), model


def pymc_marketing_fit(df: pd.DataFrame, names: list[str], draws: int, tune: int,
                       chains: int):
    from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation

    est, seconds = [], 0.0
    for _, g in df.groupby("market", sort=True):
        g = g.reset_index(drop=True)
        mmm = MMM(date_column="week", channel_columns=names,
                  adstock=GeometricAdstock(l_max=8), saturation=LogisticSaturation(),
                  yearly_seasonality=2)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mmm.fit(g[["week", *names]], g["y"], nuts_sampler="numpyro", draws=draws,
                    tune=tune, chains=chains, progressbar=False, random_seed=1)
        seconds += time.perf_counter() - t0
        contrib = mmm.compute_channel_contribution_original_scale()
        total = contrib.sum("date").mean(("chain", "draw")).to_numpy()
        est.append(total / g[names].sum().to_numpy())
    return seconds, np.array(est)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markets", type=int, default=4)
    p.add_argument("--channels", type=int, default=7)
    p.add_argument("--weeks", type=int, default=104)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--skip-peer", action="store_true")
    a = p.parse_args()
    df, names, truth = world(a.markets, a.channels, a.weeks, a.seed)
    print(f"{a.markets} markets x {a.channels} channels x {a.weeks} weeks")
    t_first, est, _ = growthloop_fit(df, names, "map", draws=500)
    t_map, est, _ = growthloop_fit(df, names, "map", draws=500)
    print(f"growthloop MAP + Laplace: {t_map:.2f} s ({t_first:.2f} s with compilation), "
          f"ROI error {error(est, truth):.1%}")
    t_nuts, est_n, model = growthloop_fit(df, names, "nuts", draws=a.draws, warmup=a.tune,
                                          chains=a.chains)
    d = model.diagnostics_
    print(f"growthloop NUTS ({a.chains} x {a.draws}): {t_nuts:.1f} s, ROI error "
          f"{error(est_n, truth):.1%}, R-hat max {d['r_hat_max']:.3f}, divergences "
          f"{d['divergences']}")
    if a.skip_peer:
        return
    t_peer, est_p = pymc_marketing_fit(df, names, a.draws, a.tune, a.chains)
    print(f"pymc-marketing MMM, numpyro ({a.chains} x {a.draws}, per market): "
          f"{t_peer:.1f} s, ROI error {error(est_p, truth):.1%}")
    print(f"speed-up: MAP {t_peer / t_map:.1f}x, NUTS {t_peer / t_nuts:.1f}x")


if __name__ == "__main__":
    main()
