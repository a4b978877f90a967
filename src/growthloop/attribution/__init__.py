"""Effect attribution: credit conversions and revenue to the channels of each journey.

Journeys are built in the engine (``build_paths``: Ibis over the warehouse) and aggregated
to unique paths with conversion, null and value counts, or read from a user's file
(``read_paths``: the ChannelAttribution package's layout). Every model takes that table
and returns credits per channel (and market or period when the paths carry them):

- rule based (``rules``): ``FirstTouch``, ``LastTouch``, ``LastNonDirect``, ``Linear``,
  ``TimeDecay``, ``PositionBased``;
- ``MarkovAttribution``: removal effects of an order-k chain, solved exactly, with
  bootstrap intervals (Anderl et al. 2016);
- ``ShapleyAttribution``: exact Shapley values of conversion-rate coalition values
  (Shapley 1953; Dalessandro et al. 2012).

``compare_models``/``model_comparison`` lay all models side by side and
``channel_economics`` turns credits into ROI, ROAS and CAC against spend.

Examples
--------
>>> import pandas as pd
>>> from growthloop.attribution import MarkovAttribution
>>> paths = pd.DataFrame({"path": ["a > b", "b", "a"], "conversions": [1, 1, 0],
...                       "nulls": [0, 1, 1], "value": [10.0, 20.0, 0.0]})
>>> MarkovAttribution(n_bootstrap=0).fit(paths).credits_[["channel", "conversions"]]
  channel  conversions
0       a          0.5
1       b          1.5
"""

from growthloop.attribution.economics import (
    MODELS,
    channel_economics,
    compare_models,
    make_model,
    model_comparison,
)
from growthloop.attribution.journeys import (
    CONVERSIONS,
    PERIODS,
    build_paths,
    direct_channels,
    journey_touches,
)
from growthloop.attribution.markov import MarkovAttribution, build_chain, removal_effects
from growthloop.attribution.paths import (
    SEPARATOR,
    AttributionModel,
    EncodedPaths,
    encode_paths,
    read_paths,
    validate_paths,
)
from growthloop.attribution.rules import (
    FirstTouch,
    LastNonDirect,
    LastTouch,
    Linear,
    PositionBased,
    TimeDecay,
)
from growthloop.attribution.shapley import ShapleyAttribution

__all__ = [
    "CONVERSIONS",
    "MODELS",
    "PERIODS",
    "SEPARATOR",
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
    "build_paths",
    "channel_economics",
    "compare_models",
    "direct_channels",
    "encode_paths",
    "journey_touches",
    "make_model",
    "model_comparison",
    "read_paths",
    "removal_effects",
    "validate_paths",
]
