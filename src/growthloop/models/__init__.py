"""Customer-value models: BG/NBD, Pareto/NBD, Gamma-Gamma and customer lifetime value.

Typical use, with the warehouse connection passed in::

    from growthloop.models import BGNBD, GammaGamma, customer_lifetime_value, rfm_summary

    rfm = rfm_summary(con.table("orders"), "2025-06-30", value_col="amount_usd").to_pandas()
    purchases = BGNBD().fit(rfm.frequency, rfm.recency, rfm["T"])
    spend = GammaGamma().fit(rfm.frequency, rfm.monetary_value)
    clv = customer_lifetime_value(purchases, spend, rfm.frequency, rfm.recency, rfm["T"],
                                  rfm.monetary_value, horizon=12, discount_rate=0.01,
                                  margin=0.3, time_unit="D")

Every estimator follows ``growthloop.models.base.Estimator``; importing this package
registers them in ``REGISTRY``.
"""

from growthloop.models.base import (
    REGISTRY,
    AssumptionWarning,
    ConvergenceWarning,
    Estimator,
    GrowthloopWarning,
    NotFittedError,
)
from growthloop.models.bgnbd import BGNBD, simulate_bgnbd
from growthloop.models.clv import compress, customer_lifetime_value, read_summary, rfm_summary
from growthloop.models.gamma_gamma import GammaGamma, simulate_gamma_gamma
from growthloop.models.pareto_nbd import ParetoNBD, simulate_pareto_nbd

__all__ = [
    "BGNBD",
    "REGISTRY",
    "AssumptionWarning",
    "ConvergenceWarning",
    "Estimator",
    "GammaGamma",
    "GrowthloopWarning",
    "NotFittedError",
    "ParetoNBD",
    "compress",
    "customer_lifetime_value",
    "read_summary",
    "rfm_summary",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_pareto_nbd",
]
