"""The marketing-mix panel: one row per market and period, the outcome and each channel's
spend, from the warehouse.

Both come from the KPI catalog (``compile_kpi``), so the aggregation is Ibis and runs on
Spark as on DuckDB: spend is the ``spend`` KPI (``ad_spend`` in the reporting currency)
by market and channel, the outcome a value KPI (``new_users`` by default) by market.
Periods the data cover only in part (a first or last week cut by the data's start or
end) are left out, as an incomplete week would read as a drop. A channel with no spend
in a market has spend 0 there, and a period without a row of the outcome had none of
it (0). ``festival_controls`` adds, per festival of
``growthloop.core.festivals``, the number of the period's days in its window.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.core.festivals import FESTIVALS, WINDOWS, festival_dates
from growthloop.metrics.compile import catalog, compile_kpi

__all__ = ["MEDIA_GRAINS", "festival_controls", "media_panel"]

#: Grains a marketing-mix panel can have.
MEDIA_GRAINS = ("day", "week")


def media_panel(backend: BaseBackend, cfg: Config, *, grain: str = "week",
                target: str = "new_users", end: dt.date | None = None) -> pd.DataFrame:
    """``market``, ``period`` (first day), ``target`` and one spend column per channel
    with any spend (in the reporting currency), complete periods only, of the days
    before ``end`` (default: all)."""
    if grain not in MEDIA_GRAINS:
        raise InputError(f"grain {grain!r}: expected one of {', '.join(MEDIA_GRAINS)}")
    kpi = catalog(cfg).get(target)
    if kpi is None or kpi.kind != "value":
        values = sorted(k.name for k in catalog(cfg).values() if k.kind == "value")
        raise InputError(f"target {target!r}: expected a value KPI, one of "
                         f"{', '.join(values)}")
    daily = compile_kpi(target, backend, cfg, grain="day", by=["market"]).execute()
    if daily.empty:
        raise InputError(f"target {target!r} has no rows in the warehouse; load its data "
                         "first")
    first, last = pd.to_datetime(daily.period).min(), pd.to_datetime(daily.period).max()
    if end is not None:  # the data's last day, or the one before ``end``
        last = min(last, pd.Timestamp(end) - pd.Timedelta(days=1))
    y = compile_kpi(target, backend, cfg, grain=grain, by=["market"], end=end).execute()
    spend = compile_kpi("spend", backend, cfg, grain=grain, by=["market", "channel"],
                        end=end).execute()
    if spend.empty or not (spend.value > 0).any():
        raise InputError("ad_spend has no spend; a marketing-mix model needs spend per "
                         "channel (load ad_spend)")
    wide = (spend.pivot_table(index=["market", "period"], columns="channel", values="value",
                              aggfunc="sum", fill_value=0.0))
    wide = wide.loc[:, (wide > 0).any()]
    # every market in every period: a period without a row had none of the outcome
    grid = pd.MultiIndex.from_product([sorted(set(y.market) | set(spend.market)),
                                       sorted(set(y.period) | set(spend.period))],
                                      names=["market", "period"]).to_frame(index=False)
    out = (grid.merge(y[["market", "period", "value"]].rename(columns={"value": target}),
                      on=["market", "period"], how="left")
           .merge(wide.reset_index(), on=["market", "period"], how="left"))
    channels = list(wide.columns)
    out[[target, *channels]] = out[[target, *channels]].fillna(0.0)
    out["period"] = pd.to_datetime(out["period"])
    step = pd.Timedelta(days=7 if grain == "week" else 1)
    complete = (out.period >= first) & (out.period + step - pd.Timedelta(days=1) <= last)
    out = out[complete].sort_values(["market", "period"]).reset_index(drop=True)
    out.columns.name = None
    out.attrs.update(grain=grain, target=target, channels=channels,
                     currency=cfg.reporting_currency)
    return out


def festival_controls(periods: pd.Series, grain: str) -> pd.DataFrame:
    """Per period (first day) and festival: the number of the period's days inside the
    festival's window (``WINDOWS``), one column ``festival_<name>`` each."""
    length = 7 if grain == "week" else 1
    starts = pd.to_datetime(periods).dt.normalize()
    years = range(starts.min().year - 1, starts.max().year + 2)
    out = pd.DataFrame(index=periods.index)
    for name in FESTIVALS:
        days = []
        before, after = WINDOWS[name]
        for year in years:
            day = dict(festival_dates(year))[name]
            days += [day + dt.timedelta(days=k) for k in range(-before, after + 1)]
        stamp = np.array(days, dtype="datetime64[D]")
        s = starts.to_numpy().astype("datetime64[D]")
        counts = np.zeros(len(s))
        for k in range(length):
            counts += np.isin(s + np.timedelta64(k, "D"), stamp)
        out[f"festival_{name.replace('.', '_')}"] = counts
    return out
