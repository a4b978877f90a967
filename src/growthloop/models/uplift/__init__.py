"""Uplift models: who responds to a treatment (coupon, free shipping, push) and by how much.

- ``learners.py``: the T-, X- and DR-learners of the per-unit effect ``tau(x)``, on
  LightGBM trees (``trees.py``, features binned once per fit; ``features.py``, the
  feature matrix), and ``make_learner``;
- ``evaluation.py``: Qini and uplift curves, the Qini coefficient and AUUC normalised as
  scikit-uplift's, a bootstrap band of the Qini curve, and the gain of targeting by a
  score when the true effect is known;
- ``checks.py``: the input checks shared by both.
"""

from growthloop.models.uplift.evaluation import (
    auuc,
    qini_band,
    qini_coefficient,
    qini_curve,
    targeting_gain,
    uplift_curve,
)
from growthloop.models.uplift.learners import (
    LEARNERS,
    DRLearner,
    TLearner,
    XLearner,
    aipw_pseudo_outcome,
    make_learner,
)

__all__ = [
    "LEARNERS",
    "DRLearner",
    "TLearner",
    "XLearner",
    "aipw_pseudo_outcome",
    "auuc",
    "make_learner",
    "qini_band",
    "qini_coefficient",
    "qini_curve",
    "targeting_gain",
    "uplift_curve",
]
