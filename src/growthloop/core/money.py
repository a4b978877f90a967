"""Converting money into the reporting currency with the day's FX rate.

Amounts stay in their original currency in the warehouse; every report converts
with the rate of the transaction's day from ``fx_rates`` (units of reporting
currency per unit of currency). A day without a rate uses the latest earlier
rate, at most ``MAX_RATE_AGE_DAYS`` old (markets close at weekends); beyond that
the converted amount is NULL and ``missing_rates`` lists what is missing.
``convert`` applies the one policy for such rows: an error naming the currencies and
days, or, when the project opts in (``missing_fx = "skip"``), rows left out with a
warning that counts them. Nothing is silently dropped. These are Ibis expressions: they
run on DuckDB and on any other Ibis backend.
"""

from __future__ import annotations

import warnings
from typing import Literal

import ibis
import ibis.expr.types as ir

from growthloop.core.errors import GrowthloopWarning, InputError

__all__ = ["MAX_RATE_AGE_DAYS", "MissingFx", "convert", "missing_rates", "rate_intervals",
           "to_reporting"]

MAX_RATE_AGE_DAYS = 7


def rate_intervals(fx: ir.Table, max_age_days: int = MAX_RATE_AGE_DAYS) -> ir.Table:
    """Each rate with the days it applies to: ``valid_from <= day < valid_to``.

    A rate applies from its date until the next rate of the same currency, and at
    most ``max_age_days`` days.
    """
    w = ibis.window(group_by=fx.currency, order_by=fx.date)
    nxt = fx.date.lead().over(w)
    cap = fx.date + ibis.interval(days=max_age_days)
    return fx.select(
        fx_currency=fx.currency,
        valid_from=fx.date,
        valid_to=ibis.ifelse(nxt.isnull() | (nxt > cap), cap, nxt),
        rate=fx.rate,
    )


def to_reporting(
    t: ir.Table,
    fx: ir.Table,
    reporting_currency: str,
    *,
    amount: str = "amount",
    currency: str = "currency",
    at: str = "order_ts",
    out: str = "amount_reporting",
) -> ir.Table:
    """``t`` with column ``out``: ``amount`` converted with the rate of the day of ``at``."""
    iv = rate_intervals(fx)
    day = t[at].cast("date")
    joined = t.left_join(
        iv,
        [t[currency] == iv.fx_currency, day >= iv.valid_from, day < iv.valid_to],
    )
    rate = ibis.ifelse(joined[currency] == reporting_currency, 1.0, joined.rate.cast("float64"))
    return joined.select(*t.columns, **{out: joined[amount].cast("float64") * rate})


def missing_rates(
    t: ir.Table,
    fx: ir.Table,
    reporting_currency: str,
    *,
    currency: str = "currency",
    at: str = "order_ts",
) -> ir.Table:
    """Currencies and day ranges of rows in ``t`` that have no usable FX rate."""
    conv = to_reporting(t.mutate(_one=ibis.literal(1.0)), fx, reporting_currency,
                        amount="_one", currency=currency, at=at, out="_rate")
    miss = conv.filter(conv._rate.isnull())
    return miss.group_by(miss[currency].name("currency")).aggregate(
        rows=miss.count(), days=miss[at].cast("date").nunique(),
        first_day=miss[at].cast("date").min(), last_day=miss[at].cast("date").max(),
    )


MissingFx = Literal["error", "skip"]


def convert(
    t: ir.Table,
    fx: ir.Table,
    reporting_currency: str,
    *,
    what: str,
    missing: MissingFx = "error",
    amount: str = "amount",
    currency: str = "currency",
    at: str = "order_ts",
    out: str = "amount_reporting",
) -> ir.Table:
    """``to_reporting`` under the one missing-rate policy of growthloop.

    Rows of ``t`` (named ``what`` in messages, e.g. ``"orders"``) without a usable rate are
    an ``InputError`` naming each currency, its days without a rate and the rows, unless
    ``missing = "skip"`` (the project's ``missing_fx`` setting): then they are left out
    and a ``GrowthloopWarning`` reports how many. Runs one small query to find them.
    """
    if missing not in ("error", "skip"):
        raise InputError(f"missing_fx = {missing!r}: expected 'error' or 'skip'")
    gaps = missing_rates(t, fx, reporting_currency, currency=currency, at=at).execute()
    conv = to_reporting(t, fx, reporting_currency, amount=amount, currency=currency, at=at,
                        out=out)
    if gaps.empty:
        return conv
    parts = ", ".join(
        f"{r.currency} on {int(r.days)} day{'s' if r.days != 1 else ''} "
        f"({str(r.first_day)[:10]}..{str(r.last_day)[:10]}, {int(r.rows):,} rows)"
        for r in gaps.sort_values("currency").itertuples())
    rows = int(gaps.rows.sum())
    if missing == "error":
        raise InputError(
            f"{what}: no FX rate into {reporting_currency} for {parts}; load fx_rates for "
            "those days, or set missing_fx = \"skip\" in growthloop.toml to leave them out")
    warnings.warn(f"{what}: {rows:,} rows without an FX rate into {reporting_currency} left "
                  f"out ({parts}); load fx_rates for those days to count them",
                  GrowthloopWarning, stacklevel=2)
    return conv.filter(conv[out].notnull())
