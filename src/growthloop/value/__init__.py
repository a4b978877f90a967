"""Customer value in the warehouse: scores, validation, tags and tiers, LTV economics.

Typical use, with the warehouse connection passed in::

    from growthloop.value import update_scores, validate, ltv_cac, five_drivers, tornado

    run = update_scores(con, cfg, by="market", horizon_days=365, margin=0.3)
    run.model.side_by_side()           # BG/NBD and Gamma-Gamma parameters per market
    check = validate(ibis_backend(con), cfg, holdout_from="2025-10-01")
    check.table, check.errors          # predicted vs actual by frequency bucket
    ltv_cac(ibis_backend(con), cfg, by=("channel", "market"))
    tornado(five_drivers(ibis_backend(con), cfg))

Modules: ``scoring`` (summaries, models per segment, ``customer_scores``), ``validation``
(calibration / holdout), ``tags`` (value tiers, RFM, lifecycle, ``user_tags``),
``economics`` (LTV:CAC, payback, the five-driver view and its tornado).
"""

from growthloop.value.economics import (
    DRIVERS,
    LTV_DIMENSIONS,
    five_driver_ltv,
    five_drivers,
    lifetime_years,
    ltv_cac,
    ltv_chart,
    payback_month,
    tornado,
    tornado_chart,
    value_curves,
    value_summary,
)
from growthloop.value.scoring import (
    POOLED,
    PURCHASE_MODELS,
    SEGMENT_DIMENSIONS,
    CustomerValueModel,
    ScoreRun,
    customer_summary,
    read_scores,
    update_scores,
    value_orders,
    write_scores,
)
from growthloop.value.tags import (
    LifecycleRules,
    TagSettings,
    lifecycle_stage,
    read_tags,
    rfm_scores,
    rfm_segment,
    segment_report,
    tag_customers,
    update_tags,
    value_tiers,
    write_tags,
)
from growthloop.value.validation import Validation, validate, validation_chart

__all__ = [
    "DRIVERS",
    "LTV_DIMENSIONS",
    "POOLED",
    "PURCHASE_MODELS",
    "SEGMENT_DIMENSIONS",
    "CustomerValueModel",
    "LifecycleRules",
    "ScoreRun",
    "TagSettings",
    "Validation",
    "customer_summary",
    "five_driver_ltv",
    "five_drivers",
    "lifecycle_stage",
    "lifetime_years",
    "ltv_cac",
    "ltv_chart",
    "payback_month",
    "read_scores",
    "read_tags",
    "rfm_scores",
    "rfm_segment",
    "segment_report",
    "tag_customers",
    "tornado",
    "tornado_chart",
    "update_scores",
    "update_tags",
    "validate",
    "validation_chart",
    "value_curves",
    "value_orders",
    "value_summary",
    "value_tiers",
    "write_scores",
    "write_tags",
]
