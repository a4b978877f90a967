"""The statistics of online experiments, on per-variant sufficient statistics only.

Every function reads the sums a warehouse query returns per variant (``sums.py``), never
per-unit rows, and is NumPy/SciPy only:

- ``srm.py``: sample-ratio mismatch (chi-square goodness of fit);
- ``frequentist.py``: Welch's t test, absolute and relative effects, ratio metrics by
  the delta method;
- ``cuped.py``: CUPED regression adjustment with a pooled theta;
- ``bayesian.py``: chance to win and expected loss from a Gaussian approximation;
- ``sequential.py``: always-valid confidence sequences (normal mixture), optionally
  calibrated for a planned number of looks;
- ``multiple.py``: Holm and Benjamini–Hochberg adjusted p-values;
- ``power.py``: power, sample size and minimum detectable effect;
- ``assignment.py``: deterministic, GrowthBook-compatible variant assignment.

docs/experiments.md explains each method and the paper it comes from.
"""

from growthloop.models.experiments.assignment import (
    assign,
    assign_many,
    bucket_ranges,
    choose_variation,
    fnv1a32,
    hash_many,
    hash_unit,
)
from growthloop.models.experiments.bayesian import (
    BayesianResult,
    bayesian_test,
    gaussian_decision,
)
from growthloop.models.experiments.cuped import CupedResult, cuped_test, pooled_theta
from growthloop.models.experiments.frequentist import Effect, welch_test
from growthloop.models.experiments.multiple import benjamini_hochberg, holm
from growthloop.models.experiments.power import (
    mde,
    power,
    sample_size,
    sequential_sample_size,
)
from growthloop.models.experiments.sequential import (
    GBSTATS_PLANNED_N,
    MAX_LOOKS,
    always_valid_p_value,
    calibrated_alpha,
    crossing_probability,
    halfwidth,
    sequential_test,
    tuned_rho,
    width_ratio,
)
from growthloop.models.experiments.srm import SRM_THRESHOLD, has_srm, srm_p_value
from growthloop.models.experiments.sums import MeanSums, RatioSums

__all__ = [
    "GBSTATS_PLANNED_N",
    "MAX_LOOKS",
    "SRM_THRESHOLD",
    "BayesianResult",
    "CupedResult",
    "Effect",
    "MeanSums",
    "RatioSums",
    "always_valid_p_value",
    "assign",
    "assign_many",
    "bayesian_test",
    "benjamini_hochberg",
    "bucket_ranges",
    "calibrated_alpha",
    "choose_variation",
    "crossing_probability",
    "cuped_test",
    "fnv1a32",
    "gaussian_decision",
    "halfwidth",
    "has_srm",
    "hash_many",
    "hash_unit",
    "holm",
    "mde",
    "pooled_theta",
    "power",
    "sample_size",
    "sequential_sample_size",
    "sequential_test",
    "srm_p_value",
    "tuned_rho",
    "welch_test",
    "width_ratio",
]
