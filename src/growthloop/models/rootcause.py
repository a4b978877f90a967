"""Why a KPI moved: its change split over slices, mix against rate, and the slices ranked.

A ratio KPI is a weighted mean of its slices' rates (a two-factor shift-share
decomposition):

    R = sum_s w_s r_s,   w_s = D_s / D,   r_s = N_s / D_s
    R1 - R0 = sum_s (w1_s - w0_s) r0_s   (mix)   +   sum_s w1_s (r1_s - r0_s)   (rate)

and both parts add up to the change exactly. A slice's **contribution** is its rate
effect plus its mix effect measured against the whole, (w1_s - w0_s) (r0_s - R0): the
mix terms sum to the same total (the weights' changes sum to 0), but a slice that only
grew counts by how far its rate stands from the average, so that "the traffic mix moved
toward a weak slice" and "a slice's rate fell" are told apart. A value KPI (a count or
a sum) is the sum of its slices: a slice contributes its own change, all of it rate.

Slices are ranked by the share of the move their own rate explains (the rate effect;
for a value KPI the slice's change), the approach of tools that explain a metric's
change by its dimensions (e.g. Bhagwan et al., *Adtributor*, NSDI 2014): "the rate of
BR mobile fell", with the mix beside it. Each slice also carries its ``impact``, the
part of the change that goes away when the slice alone is put back as it was. Where a
slice of two dimensions (a market and a channel) explains most of its market's share
(``SPECIFIC_SHARE``), it is ranked just before the market: "BR mobile", not only "BR".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from growthloop.core.errors import InputError

__all__ = ["SPECIFIC_SHARE", "decompose_arrays", "decompose_change", "mix_rate", "rank_slices"]

SPECIFIC_SHARE = 0.7


def _align(prev: pd.DataFrame, cur: pd.DataFrame, dims: list[str], cols: list[str]
           ) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The slices of either frame (sorted) and, per column of ``cols``, its values before
    and after on them (0 where a frame lacks the slice)."""
    j = prev[[*dims, *cols]].merge(cur[[*dims, *cols]], on=dims, how="outer",
                                   suffixes=("_0", "_1")).sort_values(dims, ignore_index=True)
    return j[dims], [j[f"{c}_{i}"].astype(float).fillna(0.0).to_numpy()
                     for c in cols for i in (0, 1)]


def _shift_share(n0: np.ndarray, d0: np.ndarray, n1: np.ndarray, d1: np.ndarray
                 ) -> dict[str, np.ndarray | float]:
    """Weights, rates and the mix and rate effects of a ratio's slices (module notes)."""
    big_d0, big_d1 = float(d0.sum()), float(d1.sum())
    if big_d0 <= 0 or big_d1 <= 0:
        raise InputError("mix/rate needs traffic in both periods")
    w0, w1 = d0 / big_d0, d1 / big_d1
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(d1 > 0, n1 / d1, np.nan)
        r0 = np.nan_to_num(np.where(d0 > 0, n0 / d0, r1), nan=0.0)
    r1 = np.where(np.isnan(r1), r0, r1)
    total0 = float(n0.sum()) / big_d0
    rate = w1 * (r1 - r0)
    return {"weight_0": w0, "weight_1": w1, "rate_0": r0, "rate_1": r1,
            "mix": (w1 - w0) * r0, "rate": rate,
            "contribution": (w1 - w0) * (r0 - total0) + rate, "total_0": total0}


def mix_rate(prev: pd.DataFrame, cur: pd.DataFrame, dim: str | list[str]) -> pd.DataFrame:
    """Mix and rate contributions per slice of ``dim`` from two frames of ``dim``,
    ``numerator`` and ``denominator`` (module notes).

    Columns: the slice, ``weight_0``, ``weight_1``, ``rate_0``, ``rate_1``, ``mix``,
    ``rate`` and ``contribution``; ``mix`` + ``rate`` and ``contribution`` each sum to
    R1 - R0. A slice absent before has its rate of after as ``rate_0`` (all mix).
    """
    dims = [dim] if isinstance(dim, str) else list(dim)
    keys, (n0, n1, d0, d1) = _align(prev, cur, dims, ["numerator", "denominator"])
    ss = _shift_share(n0, d0, n1, d1)
    out = keys.copy()
    for c in ("weight_0", "weight_1", "rate_0", "rate_1", "mix", "rate", "contribution"):
        out[c] = ss[c]
    return out


def decompose_arrays(keys: pd.DataFrame, n0: np.ndarray, n1: np.ndarray,
                     d0: np.ndarray | None = None, d1: np.ndarray | None = None, *,
                     scale: float = 1.0) -> pd.DataFrame:
    """``decompose_change`` on aligned arrays: the slices ``keys`` (one row each) and
    their numerators (and, for a ratio, denominators) before and after."""
    out = keys.reset_index(drop=True).copy()
    if d0 is None or d1 is None:
        out["before"], out["after"] = scale * n0, scale * n1
        out["mix"] = 0.0
        out["rate"] = out["contribution"] = out["impact"] = scale * (n1 - n0)
        return out
    ss = _shift_share(n0, d0, n1, d1)
    contribution = scale * ss["contribution"]
    out["before"], out["after"] = scale * ss["rate_0"], scale * ss["rate_1"]
    out["mix"] = scale * (ss["weight_1"] - ss["weight_0"]) * (ss["rate_0"] - ss["total_0"])
    out["rate"] = scale * ss["rate"]
    out["contribution"] = contribution
    big_n, big_d = float(n1.sum()), float(d1.sum())
    other_d = big_d - d1 + d0
    with np.errstate(divide="ignore", invalid="ignore"):
        without = np.where(other_d > 0, (big_n - n1 + n0) / other_d, np.nan)
    impact = scale * (big_n / big_d - without)
    out["impact"] = np.where(np.isnan(impact), contribution, impact)
    return out


def decompose_change(prev: pd.DataFrame, cur: pd.DataFrame, dims: list[str], *,
                     ratio: bool, scale: float = 1.0) -> pd.DataFrame:
    """Each slice's share of the move of a KPI from ``prev`` to ``cur`` (frames of
    ``dims``, ``numerator`` and, for a ratio, ``denominator``).

    Columns: ``dims``, ``before``, ``after`` (the slice's value), ``mix``, ``rate``,
    ``contribution`` (in the KPI's unit, times ``scale``: NPS is 100 x a mean), whose
    sum is exactly the KPI's change, and ``impact``: how much of the change goes away if
    the slice alone is put back as it was (the two agree for a value KPI). The frames
    should be per period (a reference of several periods divided by their number).
    """
    if ratio:
        keys, (n0, n1, d0, d1) = _align(prev, cur, dims, ["numerator", "denominator"])
        return decompose_arrays(keys, n0, n1, d0, d1, scale=scale)
    keys, (n0, n1) = _align(prev, cur, dims, ["numerator"])
    return decompose_arrays(keys, n0, n1, scale=scale)


def rank_slices(parts: list[pd.DataFrame], change: float, top: int = 5) -> list[dict]:
    """The slices that explain most of ``change``, best first.

    ``parts`` are ``decompose_change`` frames, each over its own dimensions (one
    dimension, or ``market`` and another). Each slice: ``slice`` ({dimension: value}),
    ``share`` of the change its ``rate`` effect explains (what ranks the slices),
    ``impact``, ``contribution``, ``mix``, ``before``, ``after``.
    """
    if not parts or not np.isfinite(change) or change == 0:
        return []
    # only slices that can reach the top: the first ``top`` by share, and any with at
    # least SPECIFIC_SHARE of one of them (ranked before its market)
    shares = np.concatenate([p.rate.to_numpy(dtype=float) / change for p in parts])
    shares = shares[shares > 0]
    if not len(shares):
        return []
    floor = SPECIFIC_SHARE * np.sort(shares)[::-1][min(top, len(shares)) - 1]
    rows = []
    for p in parts:
        dims = [c for c in p.columns if c not in
                ("before", "after", "mix", "rate", "contribution", "impact")]
        share = p.rate.to_numpy(dtype=float) / change
        for rec in p[(share > 0) & (share >= floor)].to_dict("records"):
            rows.append({"slice": {d: str(rec[d]) for d in dims},
                         **{k: float(rec[k]) for k in
                            ("impact", "contribution", "mix", "rate", "before", "after")},
                         "share": float(rec["rate"]) / change})
    rows.sort(key=lambda r: (-r["share"], len(r["slice"])))
    # a two-dimension slice explaining most of its market's part goes just before it
    out: list[dict] = []
    for r in rows:
        if len(r["slice"]) == 1 and "market" in r["slice"]:
            kids = [c for c in rows if len(c["slice"]) == 2
                    and c["slice"].get("market") == r["slice"]["market"]
                    and c["share"] >= SPECIFIC_SHARE * r["share"] and c not in out]
            if kids:
                out.append(max(kids, key=lambda c: c["share"]))
        if r not in out:
            out.append(r)
    return out[:top]
