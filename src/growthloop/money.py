"""Converting money into the reporting currency with the day's FX rate.

Amounts stay in their original currency in the warehouse; every report converts
with the rate of the transaction's day from ``fx_rates`` (units of reporting
currency per unit of currency). A day without a rate uses the latest earlier
rate, at most ``MAX_RATE_AGE_DAYS`` old (markets close at weekends); beyond that
the converted amount is NULL and ``missing_rates`` lists what is missing, so
nothing is silently dropped. These are Ibis expressions: they run on DuckDB and
on any other Ibis backend.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from growthloop.errors import InputError

__all__ = ["MAX_RATE_AGE_DAYS", "missing_rates", "no_rate_error", "rate_intervals",
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
        rows=miss.count(), first_day=miss[at].cast("date").min(),
        last_day=miss[at].cast("date").max(),
    )


def no_rate_error(count: int, what: str) -> InputError:
    """The error for ``count`` rows (``what``) that ``to_reporting`` could not convert."""
    return InputError(f"{count} {what} have no FX rate for their currency and day; load "
                      "fx_rates (growthloop.money.missing_rates lists the gaps)")
