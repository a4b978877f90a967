"""Headline numbers per market, the first thing the demo shows.

Definitions (one place; the metrics layer builds on the same ones):

- users: registered users of the market;
- buyers: users with at least one order that was not cancelled;
- revenue: amount of orders neither cancelled nor returned, in the reporting currency;
- conversion: buyers / users;
- order value: revenue / orders counted in revenue;
- repurchase rate: buyers with two or more orders / buyers.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from growthloop.errors import InputError
from growthloop.money import missing_rates, to_reporting

__all__ = ["market_summary"]


def market_summary(backend, reporting_currency: str) -> pd.DataFrame:
    """One row per market (and a total row) with the headline numbers above."""
    users: ir.Table = backend.table("users")
    orders: ir.Table = backend.table("orders")
    fx: ir.Table = backend.table("fx_rates")
    missing = missing_rates(orders, fx, reporting_currency).execute()
    if len(missing):
        r = missing.iloc[0]
        raise InputError(
            f"fx_rates: no rate for {r['currency']} on "
            f"{str(r['first_day'])[:10]}..{str(r['last_day'])[:10]} "
            f"({int(r['rows'])} orders); load rates for those days into fx_rates"
        )
    valid = orders.filter(orders.status != "cancelled")
    conv = to_reporting(valid, fx, reporting_currency)
    kept = conv.status != "returned"
    per_buyer = conv.group_by([conv.market, conv.user_id]).aggregate(
        orders=conv.count(),
        kept_orders=kept.sum(),
        revenue=ibis.ifelse(kept, conv.amount_reporting, 0.0).sum(),
    )
    by_market = per_buyer.group_by(per_buyer.market).aggregate(
        buyers=per_buyer.count(),
        repeat_buyers=(per_buyer.orders >= 2).sum(),
        kept_orders=per_buyer.kept_orders.sum(),
        revenue=per_buyer.revenue.sum(),
    )
    n_users = users.group_by(users.market).aggregate(users=users.count())
    df = (
        n_users.left_join(by_market, n_users.market == by_market.market)
        .select(n_users.market, "users", "buyers", "repeat_buyers", "kept_orders", "revenue")
        .order_by("market")
        .execute()
    )
    df = df.fillna({"buyers": 0, "repeat_buyers": 0, "kept_orders": 0, "revenue": 0.0})
    total = df[["users", "buyers", "repeat_buyers", "kept_orders", "revenue"]].sum()
    df = pd.concat([df, pd.DataFrame([{"market": "all", **total.to_dict()}])],
                   ignore_index=True)
    for c in ("users", "buyers", "repeat_buyers", "kept_orders"):
        df[c] = df[c].astype("int64")
    df["conversion"] = df.buyers / df.users.where(df.users > 0)
    df["order_value"] = df.revenue / df.kept_orders.where(df.kept_orders > 0)
    df["repurchase_rate"] = df.repeat_buyers / df.buyers.where(df.buyers > 0)
    return df[["market", "users", "buyers", "revenue", "conversion", "order_value",
               "repurchase_rate"]]
