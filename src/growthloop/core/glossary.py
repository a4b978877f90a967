"""The business numbers growthloop reports, each defined once.

Every route that reports one of these numbers (the KPI catalog, ``growthloop summary``,
the LTV economics, the ``roi`` command) computes it with the function here, so the
numbers agree; ``TERMS`` says what each means, which catalog KPI reports it and on which
*attribution basis* (the buyer's acquisition channel, or a named attribution model).
``docs/glossary.md`` is generated from ``TERMS``.

The functions take NumPy arrays, pandas Series or Ibis expressions alike: a ratio with a
zero (or NULL) denominator is NaN (NULL in the engine), never an error or infinity.

Conventions (where the industry varies, the choice made here):

- ROAS = attributed revenue / spend (the plan's "channel ROI 3:1" and "5.8:1" are this
  revenue-to-spend ratio); ROI = (revenue - spend) / spend, so ROI = ROAS - 1.
- CAC = spend / new customers (buyers whose first order falls in the period); spend per
  sign-up is a different number, ``cost_per_signup``.
- Discounting: month ``k`` (1-based) of a value stream is worth ``(1 + d)^-k`` today
  (lifetimes' ``customer_lifetime_value`` convention; Fader, Hardie and Lee 2005, JMR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "TERMS",
    "Term",
    "average_order_value",
    "cac",
    "conversion_rate",
    "cost_per_signup",
    "discount_factors",
    "ratio",
    "repurchase_rate",
    "roas",
    "roi",
]


def _is_expr(value: Any) -> bool:
    return hasattr(value, "op") and hasattr(value, "nullif")


def ratio(numerator: Any, denominator: Any) -> Any:
    """``numerator / denominator``; NaN (NULL in an Ibis expression) where it is 0."""
    if _is_expr(denominator):
        return numerator / denominator.nullif(0)
    d = np.asarray(denominator, dtype=np.float64)
    n = np.asarray(numerator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d != 0, n / np.where(d != 0, d, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def roas(revenue: Any, spend: Any) -> Any:
    """Return on ad spend: attributed revenue per unit of spend."""
    return ratio(revenue, spend)


def roi(revenue: Any, spend: Any) -> Any:
    """Return on investment of ad spend: ``(revenue - spend) / spend``."""
    return ratio(revenue - spend, spend)


def cac(spend: Any, new_customers: Any) -> Any:
    """Customer acquisition cost: spend per new customer (first purchase)."""
    return ratio(spend, new_customers)


def cost_per_signup(spend: Any, signups: Any) -> Any:
    """Spend per new user (sign-up), organic sign-ups included: a blended cost."""
    return ratio(spend, signups)


def repurchase_rate(returning_buyers: Any, buyers: Any) -> Any:
    """Share of a period's buyers who had bought before (over all history: buyers with two
    or more orders / buyers)."""
    return ratio(returning_buyers, buyers)


def average_order_value(revenue: Any, kept_orders: Any) -> Any:
    """Net revenue per order kept (neither cancelled nor returned)."""
    return ratio(revenue, kept_orders)


def conversion_rate(converted: Any, units: Any) -> Any:
    """Share of units (users, sessions) that converted."""
    return ratio(converted, units)


def discount_factors(months: int, monthly_rate: float) -> np.ndarray:
    """``(1 + monthly_rate)^-k`` for months ``k = 1 .. months``: what month ``k``'s value is
    worth today (lifetimes' ``customer_lifetime_value``; Fader, Hardie and Lee 2005, JMR)."""
    return (1.0 + float(monthly_rate)) ** -np.arange(1, int(months) + 1, dtype=np.float64)


@dataclass(frozen=True)
class Term:
    """One glossary entry: the number, its definition, and where it is reported."""

    name: str
    meaning: str
    formula: str
    function: str
    kpi: str | None
    basis: str
    reported_by: tuple[str, ...]


TERMS: tuple[Term, ...] = (
    Term("net revenue", "Revenue of orders neither cancelled nor returned, each order "
         "converted into the reporting currency with its day's FX rate.",
         "sum of amount x FX rate over orders kept", "growthloop.metrics.sources."
         "valued_orders", "revenue", "the order's market",
         ("kpi revenue", "summary", "roi (attributed)")),
    Term("ROAS", "Return on ad spend: revenue credited to a channel per unit of its spend. "
         "The plan's 'channel ROI 3:1' is this ratio.", "revenue / spend", "roas",
         "roas", "acquisition channel (catalog); a named model (`roi --model`)",
         ("kpi roas", "roi")),
    Term("ROI", "Return on investment of ad spend: profit of the revenue over the spend.",
         "(revenue - spend) / spend = ROAS - 1", "roi", "roi",
         "acquisition channel (catalog); a named model (`roi --model`)", ("kpi roi", "roi")),
    Term("CAC", "Customer acquisition cost: spend per new customer, a buyer whose first "
         "order (not cancelled) falls in the period.", "spend / new customers", "cac",
         "cac", "acquisition channel (catalog, ltv); a named model (`roi --model`)",
         ("kpi cac", "ltv", "roi")),
    Term("cost per sign-up", "Spend per new user (sign-up), organic sign-ups included; "
         "the five-driver view's cost driver.", "spend / new users", "cost_per_signup",
         None, "market", ("ltv --tornado",)),
    Term("repurchase rate", "Share of a period's buyers who had bought before; over all "
         "history, buyers with two or more orders (not cancelled) / buyers.",
         "returning buyers / buyers", "repurchase_rate", "repurchase_rate",
         "the buyer's market", ("kpi repurchase_rate", "summary")),
    Term("repurchases per year", "Expected repeat purchases per customer-year of a new "
         "customer's lifetime (a model estimate; the five-driver view's repeat driver).",
         "E[X(L)] / L", "growthloop.decide.ltv.five_drivers", None, "market",
         ("ltv --tornado",)),
    Term("average order value", "Net revenue per order kept.", "net revenue / orders kept",
         "average_order_value", "average_order_value", "the order's market",
         ("kpi average_order_value", "summary")),
    Term("conversion", "Share of users who placed an order that was not cancelled "
         "(over the whole window). Not the catalog's new_user_conversion, the share of a "
         "period's sign-ups who buy within 30 days (the five-driver view's conversion).",
         "buyers / users", "conversion_rate", None, "the user's market", ("summary",)),
    Term("discounted value", "Month k (1-based) of a customer's value is worth "
         "(1 + d)^-k today, d the monthly discount rate.", "sum_k value_k (1 + d)^-k",
         "discount_factors", None, "-", ("clv fit", "ltv")),
)
