"""Customer-value models: BG/NBD, Pareto/NBD, Gamma-Gamma and customer lifetime value.

Typical use, on per-customer statistics from the warehouse::

    from growthloop.metrics.customers import rfm_summary
    from growthloop.models.clv import BGNBD, GammaGamma, customer_lifetime_value

    rfm = rfm_summary(backend.table("orders"), "2025-06-30", value_col="amount").to_pandas()
    purchases = BGNBD().fit(rfm.frequency, rfm.recency, rfm["T"])
    spend = GammaGamma().fit(rfm.frequency, rfm.monetary_value)
    clv = customer_lifetime_value(purchases, spend, rfm.frequency, rfm.recency, rfm["T"],
                                  rfm.monetary_value, horizon=12, discount_rate=0.01,
                                  margin=0.3, time_unit="D")

Every estimator is a ``growthloop.models.mle.MLEstimator``; importing this package
registers them in ``growthloop.core.estimator.REGISTRY``. ``CustomerValueModel`` fits a
pair of them per market or channel.
"""

from growthloop.core.errors import AssumptionWarning, ConvergenceWarning, GrowthloopWarning
from growthloop.core.estimator import REGISTRY, NotFittedError
from growthloop.models.clv.bgnbd import BGNBD, simulate_bgnbd
from growthloop.models.clv.gamma_gamma import GammaGamma, simulate_gamma_gamma
from growthloop.models.clv.pareto_nbd import ParetoNBD, simulate_pareto_nbd
from growthloop.models.clv.segmented import (
    POOLED,
    PURCHASE_MODELS,
    SEGMENT_DIMENSIONS,
    CustomerValueModel,
)
from growthloop.models.clv.value import compress, customer_lifetime_value
from growthloop.models.mle import MLEstimator

__all__ = [
    "BGNBD",
    "POOLED",
    "PURCHASE_MODELS",
    "REGISTRY",
    "SEGMENT_DIMENSIONS",
    "AssumptionWarning",
    "ConvergenceWarning",
    "CustomerValueModel",
    "GammaGamma",
    "GrowthloopWarning",
    "MLEstimator",
    "NotFittedError",
    "ParetoNBD",
    "compress",
    "customer_lifetime_value",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_pareto_nbd",
]
