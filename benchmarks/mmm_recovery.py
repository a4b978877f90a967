"""Recovery of the simulator's media truth by the marketing-mix model, and what pooling the
markets buys the smallest one.

Simulates the default world (``--days 1095``: three years), loads users, FX rates and ad
spend into a warehouse, builds the panel with ``growthloop.decide.media.mmm_panel`` and
fits the model on all markets together and on the smallest market alone. Printed per
market x channel: the true new users per unit of spend (``truth.json`` media
``signups_expected / spend_total`` times ``1 / (1 - K)``, the referrals each paid sign-up
brings) against the estimate and its 90 % interval; the true adstock half-life in days
(daily ``alpha``: ``log 0.5 / log alpha``) against the model's; then, for the smallest
market, the median error and interval coverage of the pooled and the alone fits.

    python benchmarks/mmm_recovery.py --users 200000 --days 1095 --seed 1 [--grain day]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from growthloop.core.config import default_config
from growthloop.decide.media import mmm_panel
from growthloop.ingest import ingest_file
from growthloop.ingest.privacy import Pseudonymiser
from growthloop.models.mmm import MediaMixModel, MMMData
from growthloop.simulate import simulate
from growthloop.warehouse import connect, ibis_backend


def one_market(data: MMMData, market: str) -> MMMData:
    i = data.markets.index(market)
    return MMMData(markets=[market], channels=data.channels, controls=data.controls,
                   periods=data.periods, period_days=data.period_days,
                   y=data.y[i:i + 1], x=data.x[i:i + 1], z=data.z[i:i + 1],
                   target=data.target)


def truth_table(truth: dict, summary: pd.DataFrame) -> pd.DataFrame:
    k = truth["referrals"]["viral_k"]
    rows = []
    for r in summary.itertuples():
        t = truth["media"][f"{r.market}|{r.channel}"]
        a = t["adstock_alpha"]
        rows.append({"market": r.market, "channel": r.channel,
                     "true_per_spend": t["signups_expected"] / t["spend_total"]
                     / (1 - k[r.market]),
                     "true_half_life_days": math.log(0.5) / math.log(a) if a > 0 else 0.0})
    return summary.merge(pd.DataFrame(rows), on=["market", "channel"])


def scores(t: pd.DataFrame) -> dict[str, float]:
    err = (t.per_spend / t.true_per_spend - 1).abs()
    cover = (t.per_spend_low <= t.true_per_spend) & (t.true_per_spend <= t.per_spend_high)
    width = (t.per_spend_high - t.per_spend_low) / t.true_per_spend
    return {"median_error": float(err.median()), "covered": int(cover.sum()),
            "pairs": len(t), "median_relative_width": float(width.median())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=1095)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--grain", choices=("week", "day"), default="week")
    ap.add_argument("--method", choices=("map", "nuts"), default="map")
    ap.add_argument("--start", type=dt.date.fromisoformat, default=None,
                    help="first simulated day (default: --days before today, so that "
                         "ingest, which refuses future rows, keeps every day)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        start = a.start or dt.date.today() - dt.timedelta(days=a.days + 1)
        truth = json.loads(json.dumps(simulate(d / "shop", n_users=a.users, days=a.days,
                                               seed=a.seed, start=start)))
        cfg = default_config()
        con = connect(d / "w.duckdb")
        for name in ("users", "fx_rates", "ad_spend"):
            ingest_file(con, cfg, name, d / "shop" / f"{name}.parquet", Pseudonymiser(None))
        data = mmm_panel(ibis_backend(con), cfg, grain=a.grain)
        con.close()
        print(f"simulated and loaded {a.users:,} users x {a.days} days in "
              f"{time.perf_counter() - t0:.0f} s; panel {len(data.markets)} markets x "
              f"{len(data.channels)} channels x {len(data.periods)} {a.grain}s")
    t0 = time.perf_counter()
    pooled = MediaMixModel(method=a.method, draws=500).fit(data)
    t_pooled = time.perf_counter() - t0
    table = truth_table(truth, pooled.channel_summary())
    pd.set_option("display.width", 160)
    show = table[["market", "channel", "true_per_spend", "per_spend", "per_spend_low",
                  "per_spend_high", "true_half_life_days", "half_life_days"]]
    print(show.round(4).to_string(index=False))
    s = scores(table)
    hl = (table.half_life_days - table.true_half_life_days).abs()
    print(f"\nall markets together ({a.method}, {t_pooled:.1f} s): median |error| of new "
          f"users per spend {s['median_error']:.1%}; true value inside the 90 % interval "
          f"for {s['covered']} of {s['pairs']} pairs; median |half-life error| "
          f"{hl.median():.2f} days (true half-lives {table.true_half_life_days.min():.2f}"
          f" to {table.true_half_life_days.max():.2f} days, the panel's period "
          f"{data.period_days} day(s))")
    for m in data.markets:
        e = scores(table[table.market == m])
        print(f"  {m}: median error {e['median_error']:.1%}, covered {e['covered']} of "
              f"{e['pairs']}")
    smallest = data.markets[int(np.argmin(data.y.sum(axis=1)))]
    t0 = time.perf_counter()
    alone = MediaMixModel(method=a.method, draws=500).fit(one_market(data, smallest))
    t_alone = time.perf_counter() - t0
    mine = truth_table(truth, alone.channel_summary())
    together = scores(table[table.market == smallest])
    apart = scores(mine)
    print(f"\nsmallest market {smallest} ({int(data.y[data.markets.index(smallest)].sum()):,}"
          f" new users):")
    for name, e, sec in (("fitted with the others", together, t_pooled),
                         ("fitted alone", apart, t_alone)):
        print(f"  {name:24s} median error {e['median_error']:.1%}, covered {e['covered']} "
              f"of {e['pairs']}, median interval width {e['median_relative_width']:.0%} "
              f"of the truth ({sec:.1f} s)")


if __name__ == "__main__":
    main()
