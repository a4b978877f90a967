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

__all__ = ["SPECIFIC_SHARE", "decompose_change", "mix_rate", "rank_slices"]

SPECIFIC_SHARE = 0.7


def mix_rate(prev: pd.DataFrame, cur: pd.DataFrame, dim: str | list[str]) -> pd.DataFrame:
    """Mix and rate contributions per slice of ``dim`` from two frames of ``dim``,
    ``numerator`` and ``denominator`` (module notes).

    Columns: the slice, ``weight_0``, ``weight_1``, ``rate_0``, ``rate_1``, ``mix``,
    ``rate`` and ``contribution``; ``mix`` + ``rate`` and ``contribution`` each sum to
    R1 - R0. A slice absent before has its rate of after as ``rate_0`` (all mix).
    """
    dims = [dim] if isinstance(dim, str) else list(dim)
    j = prev.merge(cur, on=dims, how="outer", suffixes=("_0", "_1"))
    for c in ("numerator_0", "denominator_0", "numerator_1", "denominator_1"):
        j[c] = j[c].astype(float).fillna(0.0)
    d0, d1 = j.denominator_0.sum(), j.denominator_1.sum()
    if d0 <= 0 or d1 <= 0:
        raise InputError("mix/rate needs traffic in both periods")
    w0, w1 = j.denominator_0 / d0, j.denominator_1 / d1
    r1 = (j.numerator_1 / j.denominator_1).where(j.denominator_1 > 0)
    r0 = (j.numerator_0 / j.denominator_0).where(j.denominator_0 > 0, r1).fillna(0.0)
    r1 = r1.fillna(r0)
    total0 = j.numerator_0.sum() / d0
    out = j[dims].copy()
    out["weight_0"], out["weight_1"], out["rate_0"], out["rate_1"] = w0, w1, r0, r1
    out["mix"], out["rate"] = (w1 - w0) * r0, w1 * (r1 - r0)
    out["contribution"] = (w1 - w0) * (r0 - total0) + out["rate"]
    return out.sort_values(dims, ignore_index=True)


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
        m = mix_rate(prev, cur, dims)
        out = m[dims].copy()
        out["before"], out["after"] = scale * m.rate_0, scale * m.rate_1
        out["mix"] = scale * (m.weight_1 - m.weight_0) * (
            m.rate_0 - (prev.numerator.sum() / prev.denominator.sum()))
        out["rate"] = scale * m.rate
        out["contribution"] = scale * m.contribution
        j = m[dims].merge(prev, on=dims, how="left").merge(cur, on=dims, how="left",
                                                          suffixes=("_0", "_1"))
        n0, d0 = j.numerator_0.fillna(0.0), j.denominator_0.fillna(0.0)
        n1, d1 = j.numerator_1.fillna(0.0), j.denominator_1.fillna(0.0)
        big_n, big_d = cur.numerator.sum(), cur.denominator.sum()
        other_d = big_d - d1 + d0
        without = ((big_n - n1 + n0) / other_d).where(other_d > 0)
        out["impact"] = (scale * (big_n / big_d - without)).fillna(out.contribution)
        return out
    j = prev[[*dims, "numerator"]].merge(cur[[*dims, "numerator"]], on=dims, how="outer",
                                         suffixes=("_0", "_1"))
    out = j[dims].copy()
    out["before"] = scale * j.numerator_0.astype(float).fillna(0.0)
    out["after"] = scale * j.numerator_1.astype(float).fillna(0.0)
    out["mix"] = 0.0
    out["rate"] = out["contribution"] = out["impact"] = out.after - out.before
    return out.sort_values(dims, ignore_index=True)


def rank_slices(parts: list[pd.DataFrame], change: float, top: int = 5) -> list[dict]:
    """The slices that explain most of ``change``, best first.

    ``parts`` are ``decompose_change`` frames, each over its own dimensions (one
    dimension, or ``market`` and another). Each slice: ``slice`` ({dimension: value}),
    ``share`` of the change its ``rate`` effect explains (what ranks the slices),
    ``impact``, ``contribution``, ``mix``, ``before``, ``after``.
    """
    rows = []
    for p in parts:
        dims = [c for c in p.columns if c not in
                ("before", "after", "mix", "rate", "contribution", "impact")]
        for rec in p.to_dict("records"):
            rows.append({"slice": {d: str(rec[d]) for d in dims},
                         **{k: float(rec[k]) for k in
                            ("impact", "contribution", "mix", "rate", "before", "after")}})
    if not rows or not np.isfinite(change) or change == 0:
        return []
    sign = np.sign(change)
    for r in rows:
        r["share"] = r["rate"] / change
    rows = [r for r in rows if r["rate"] * sign > 0]
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
