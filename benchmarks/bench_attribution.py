"""Markov attribution: growthloop's exact solve against the ChannelAttribution package.

For 10k, 100k and 1M unique paths over 8 channels (journeys simulated from a first-order
chain with noisy-OR conversions, seeded), runs Markov order 1 and 3 with both, in the
same process, and prints side by side:

- time: growthloop's ``MarkovAttribution(order=k, n_bootstrap=0).fit(df)`` (validation and
  Arrow parsing of the path strings included) against ChannelAttribution's default
  ``markov_model(df, ..., order=k)`` (``nsim_start=1e5``, ``nfold=10``: its result comes
  from one fold of about 10,000 simulated journeys), both on the same pandas DataFrame,
  interleaved, best of ``--repeats`` wall-clock runs (CPU seconds shown too: the machine
  may be shared);
- agreement: ChannelAttribution estimates the removal effect ``RE_c`` as the share of
  simulated converting journeys that visit ``c``, so with ``n`` simulated conversions its
  Monte Carlo standard error is ``sqrt(RE (1 - RE) / n)``. A large-budget run (``nfold=1``,
  ``nsim_start`` below: every simulated journey in one estimate) is compared with
  growthloop's exact value in units of that error (``z``); the default run's error is shown
  too;
- determinism: growthloop refitted three times gives bit-identical results (SHA-256 of
  the credits), while ChannelAttribution's default result moves with its seed;
- exactness: growthloop's order-1 removal effects against those solved with NumPy from
  ChannelAttribution's own estimated transition matrix (``transition_matrix``), which
  must agree to 1e-9.

Semantics: ChannelAttribution collapses a channel repeated in a row into one state and
growthloop keeps the self-transition; a self-transition changes no absorption
probability, so the removal effects are the same (a test checks this on a path set with
repeats). Its higher-order states are sliding windows of ``k`` channels entered straight
from ``(start)``, growthloop's are the last ``k`` channels including the shorter prefixes
of the first touches; both give each journey the same probability and the same set of
channels, so the removal effects agree. It drops simulated journeys longer than the
longest observed path (they count as non-converting), a bias of order ``P(length >
max)``, negligible here.

    python benchmarks/bench_attribution.py                 # 10k, 100k, 1M
    python benchmarks/bench_attribution.py --sizes 10000 --ca-sims 2000000

Needs ``pip install ChannelAttribution`` (a C++ extension built from its sdist; it imports
matplotlib).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import re
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from growthloop.models.attribution.markov import MarkovAttribution

CHANNELS = ("live_commerce", "social_ads", "search_ads", "short_video", "referral",
            "email_crm", "organic", "display")
START = np.array([0.18, 0.20, 0.16, 0.12, 0.06, 0.04, 0.19, 0.05])
EFFECT = np.array([0.10, 0.07, 0.08, 0.05, 0.12, 0.07, 0.03, 0.02])
BASE = 0.02
STOP = 0.2  # chance a journey ends after each touch: mean length 5


def _transitions(rng: np.random.Generator) -> np.ndarray:
    p = rng.dirichlet(np.full(len(CHANNELS), 0.7), size=len(CHANNELS))
    p += 0.6 * np.eye(len(CHANNELS)) * rng.random(len(CHANNELS))[:, None]  # some repeats
    return p / p.sum(axis=1, keepdims=True)


def _journeys(rng: np.random.Generator, n: int, trans: np.ndarray) -> pa.Table:
    """``n`` simulated journeys aggregated by path: journeys, conversions, value."""
    length = rng.geometric(STOP, n)
    offsets = np.concatenate([[0], np.cumsum(length)])
    flat = np.empty(offsets[-1], dtype=np.int64)
    cum = np.cumsum(trans, axis=1)
    seen = np.zeros((n, len(CHANNELS)), dtype=bool)
    cur = np.searchsorted(np.cumsum(START), rng.random(n) * START.sum())
    active = np.arange(n)  # journeys longer than s, aligned with cur
    for s in range(int(length.max())):
        flat[offsets[active] + s] = cur
        seen[active, cur] = True
        nxt = (rng.random(len(active))[:, None] > cum[cur]).sum(axis=1)
        keep = length[active] > s + 1
        active, cur = active[keep], np.minimum(nxt, len(CHANNELS) - 1)[keep]
    p = 1 - (1 - BASE) * np.prod(np.where(seen, 1 - EFFECT, 1.0), axis=1)
    converted = rng.random(n) < p
    value = np.where(converted, rng.lognormal(3.5, 0.8, n), 0.0)
    names = pa.array(CHANNELS).take(pa.array(flat))
    path = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), names),
                          " > ")
    j = pa.table({"path": path, "conversions": converted.astype(np.int64),
                  "journeys": np.ones(n, dtype=np.int64), "value": value})
    return _sum_by_path(j)


def _sum_by_path(t: pa.Table) -> pa.Table:
    agg = t.group_by("path").aggregate([("conversions", "sum"), ("journeys", "sum"),
                                         ("value", "sum")])
    return agg.rename_columns([c.removesuffix("_sum") for c in agg.column_names])


def make_paths(n_paths: int, seed: int = 20260101) -> pd.DataFrame:
    """At least ``n_paths`` unique paths aggregated from simulated journeys (batches of a
    million); the ``n_paths`` with the most journeys (ties by path) are kept."""
    rng = np.random.default_rng(seed)
    trans = _transitions(rng)
    agg: pa.Table | None = None
    while agg is None or agg.num_rows < n_paths:
        batch = _journeys(rng, min(max(2 * n_paths, 20_000), 1_000_000), trans)
        agg = batch if agg is None else _sum_by_path(pa.concat_tables([agg, batch]))
    df = agg.to_pandas()
    df["nulls"] = df.journeys - df.conversions
    df = df.sort_values(["journeys", "path"], ascending=[False, True], kind="stable")
    return df.head(n_paths)[["path", "conversions", "nulls", "value"]].reset_index(drop=True)


def _quiet_import() -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        import ChannelAttribution as ca  # noqa: N813 (the package's name)
    return ca


def _ca_run(ca: Any, df: pd.DataFrame, order: int, **kw: Any) -> tuple[pd.DataFrame, float,
                                                                         float, int]:
    """ChannelAttribution's markov_model: removal effects and credits by channel, wall and
    CPU seconds, and the simulated journeys behind the result (one fold)."""
    buf = io.StringIO()
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(buf):
        res = ca.markov_model(df, "path", "conversions", var_value="value", var_null="nulls",
                              order=order, out_more=True, flg_pro=False, verbose=True, **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    sims = [int(x) for x in re.findall(r"Number of simulations: (\d+)", buf.getvalue())]
    per_fold = (sims[-1] if sims else int(kw.get("nsim_start", 1e5))) // kw.get("nfold", 10)
    out = res["result"].merge(res["removal_effects"], on="channel_name").rename(columns={
        "channel_name": "channel", "total_conversions": "conversions",
        "total_conversion_value": "value", "removal_effects_conversion": "removal_effect"})
    return out.set_index("channel").sort_index(), wall, cpu, per_fold


def _gl_run(df: pd.DataFrame, order: int) -> tuple[pd.DataFrame, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    m = MarkovAttribution(order=order, n_bootstrap=0).fit(df)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return m.credits_.set_index("channel").sort_index(), wall, cpu


def _digest(frame: pd.DataFrame) -> str:
    cols = frame[["conversions", "value", "removal_effect", "removal_effect_value"]]
    return hashlib.sha256(np.ascontiguousarray(cols.to_numpy()).tobytes()).hexdigest()[:16]


def _re_from_matrix(ca: Any, df: pd.DataFrame) -> pd.Series:
    """Order-1 removal effects solved densely from ChannelAttribution's transition matrix."""
    with contextlib.redirect_stdout(io.StringIO()):
        tm = ca.transition_matrix(df, "path", "conversions", "nulls", order=1, flg_pro=False)
    names = dict(zip(tm["channels"].id_channel.astype(str), tm["channels"].channel_name,
                     strict=True))
    states = sorted(names)
    idx = {s: i for i, s in enumerate(states)}
    n = len(states)
    q = np.zeros((n, n))
    conv = np.zeros(n)
    start = np.zeros(n)
    for f, t, p in tm["transition_matrix"].itertuples(index=False):
        f, t = str(f), str(t)
        if f == "(start)":
            start[idx[t]] += p
        elif t == "(conversion)":
            conv[idx[f]] += p
        elif t != "(null)":
            q[idx[f], idx[t]] += p

    def p_conv(keep: np.ndarray) -> float:
        k = np.flatnonzero(keep)
        x = np.linalg.solve(np.eye(len(k)) - q[np.ix_(k, k)], conv[k])
        return float(start[k] @ x)

    base = p_conv(np.ones(n, dtype=bool))
    return pd.Series({names[s]: 1 - p_conv(np.arange(n) != idx[s]) / base for s in states})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--orders", default="1,3")
    ap.add_argument("--ca-sims", type=float, default=1e7,
                    help="simulated journeys of the large-budget ChannelAttribution run")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each (best kept)")
    args = ap.parse_args()
    ca = _quiet_import()
    rows = []
    largest = pd.DataFrame()
    for n in [int(s) for s in args.sizes.split(",")]:
        t0 = time.perf_counter()
        df = make_paths(n)
        largest = df if len(df) > len(largest) else largest
        lengths = df.path.str.count(">") + 1
        print(f"\n== {len(df):,} unique paths, {int((df.conversions + df.nulls).sum()):,} "
              f"journeys, {int(df.conversions.sum()):,} conversions, longest path "
              f"{lengths.max()} (made in {time.perf_counter() - t0:.1f} s)", flush=True)
        for order in [int(o) for o in args.orders.split(",")]:
            # interleaved, best of --repeats for each (the machine may be shared)
            runs, ca_runs = [], []
            for _ in range(args.repeats):
                runs.append(_gl_run(df, order))
                ca_runs.append(_ca_run(ca, df, order))
            gl = runs[0][0]
            gl_t, gl_cpu = min(r[1] for r in runs), min(r[2] for r in runs)
            ca_def, ca_n = ca_runs[0][0], ca_runs[0][3]
            ca_t, ca_cpu = min(r[1] for r in ca_runs), min(r[2] for r in ca_runs)
            digests = {_digest(r[0]) for r in runs}
            ca_big, big_t, _, big_n = _ca_run(ca, df, order, nsim_start=args.ca_sims, nfold=1)
            p_conv = df.conversions.sum() / (df.conversions + df.nulls).sum()
            re = gl.removal_effect
            se_big = np.sqrt(re * (1 - re) / (big_n * p_conv))
            se_def = np.sqrt(re * (1 - re) / (ca_n * p_conv))
            z_big = ((ca_big.removal_effect - re) / se_big).abs()
            z_def = ((ca_def.removal_effect - re) / se_def).abs()
            rel = ((ca_big.conversions - gl.conversions) / gl.conversions).abs()
            line = {"paths": len(df), "order": order, "growthloop_s": gl_t, "ca_default_s": ca_t,
                    "ratio": ca_t / gl_t, "cpu_ratio": ca_cpu / gl_cpu, "ca_big_s": big_t,
                    "max_z_big": z_big.max(),
                    "max_z_default": z_def.max(), "max_rel_credit_big": rel.max(),
                    "identical_refits": len(digests) == 1}
            print(f"order {order}: growthloop {gl_t:7.3f} s (cpu {gl_cpu:.3f}) | "
                  f"ChannelAttribution default {ca_t:7.3f} s (cpu {ca_cpu:.3f}; {ca_n:,} "
                  f"simulated journeys) -> {ca_t / gl_t:5.1f}x | large budget {big_t:6.1f} s "
                  f"({big_n:,} journeys)", flush=True)
            table = pd.DataFrame({
                "RE growthloop": re, "RE CA default": ca_def.removal_effect,
                "RE CA large": ca_big.removal_effect, "z large": z_big,
                "conv growthloop": gl.conversions, "conv CA large": ca_big.conversions,
                "value growthloop": gl.value, "value CA large": ca_big.value})
            print(table.round(4).to_string())
            print(f"  max |z| large budget {z_big.max():.2f}, default run {z_def.max():.2f}; "
                  f"max relative credit difference (large) {rel.max():.2%}; growthloop refits "
                  f"identical: {len(digests) == 1} ({next(iter(digests))})")
            if order == 1:
                exact = _re_from_matrix(ca, df).reindex(re.index)
                diff = float((exact - re).abs().max())
                line["max_diff_vs_matrix"] = diff
                print(f"  order 1 vs removal effects solved from ChannelAttribution's "
                      f"transition matrix: max |difference| {diff:.2e} "
                      f"({'OK' if diff < 1e-9 else 'FAILED'} at 1e-9)")
            rows.append(line)
    if any(r["paths"] >= 1_000_000 for r in rows):
        df, n = largest, len(largest)
        # fold r of a run with seed s draws from mt19937(s + r), r < nfold = 10: seeds 10 apart
        seeds = pd.DataFrame({s: _ca_run(ca, df, 1, seed=s)[0].removal_effect
                              for s in range(0, 50, 10)})
        gl_re = _gl_run(df, 1)[0].removal_effect
        print(f"\nChannelAttribution default run, order 1, {n:,} paths, seeds 0, 10, .., 40: "
              "removal effects against growthloop's exact values (the default's Monte Carlo "
              "noise; seeds less than 10 apart share 9 of their 10 folds and mostly repeat):")
        print(seeds.assign(growthloop=gl_re, spread=seeds.max(axis=1) - seeds.min(axis=1))
              .round(4).to_string())
    print("\nsummary")
    print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
