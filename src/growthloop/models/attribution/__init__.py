"""Attribution models: credit conversions and revenue to the channels of each journey.

Every model takes a path table (``growthloop.ingest.paths``; journeys from the warehouse
come from ``growthloop.metrics.journeys.build_paths``) and returns credits per channel
(and market or period when the paths carry them):

- rule based (``rules``): ``FirstTouch``, ``LastTouch``, ``LastNonDirect``, ``Linear``,
  ``TimeDecay``, ``PositionBased``;
- ``MarkovAttribution``: removal effects of an order-k chain, solved exactly, with
  bootstrap intervals (Anderl et al. 2016);
- ``ShapleyAttribution``: exact Shapley values of conversion-rate coalition values
  (Shapley 1953; Dalessandro et al. 2012).

``compare_models`` lays several models side by side; ``MODELS`` / ``make_model`` name them.

Examples
--------
>>> import pandas as pd
>>> from growthloop.models.attribution import MarkovAttribution
>>> paths = pd.DataFrame({"path": ["a > b", "b", "a"], "conversions": [1, 1, 0],
...                       "nulls": [0, 1, 1], "value": [10.0, 20.0, 0.0]})
>>> MarkovAttribution(n_bootstrap=0).fit(paths).credits_[["channel", "conversions"]]
  channel  conversions
0       a          0.5
1       b          1.5
"""

from growthloop.models.attribution.compare import MODELS, compare_models, make_model
from growthloop.models.attribution.markov import MarkovAttribution, build_chain, removal_effects
from growthloop.models.attribution.paths import AttributionModel, EncodedPaths, encode_paths
from growthloop.models.attribution.rules import (
    FirstTouch,
    LastNonDirect,
    LastTouch,
    Linear,
    PositionBased,
    TimeDecay,
)
from growthloop.models.attribution.shapley import ShapleyAttribution

__all__ = [
    "MODELS",
    "AttributionModel",
    "EncodedPaths",
    "FirstTouch",
    "LastNonDirect",
    "LastTouch",
    "Linear",
    "MarkovAttribution",
    "PositionBased",
    "ShapleyAttribution",
    "TimeDecay",
    "build_chain",
    "compare_models",
    "encode_paths",
    "make_model",
    "removal_effects",
]
