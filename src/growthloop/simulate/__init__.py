"""A simulated cross-border shop with known ground truth.

``simulate(out)`` writes the eight canonical tables of ``growthloop.core.schema`` (users,
events, orders, ad_spend, referrals, surveys, experiment_assignments, fx_rates) as
Parquet plus ``truth.json``, every parameter that generated them: media response
(adstock and Hill, Jin et al. 2017), referral virality, noisy-OR attribution,
BG/NBD repeat purchases and Gamma-Gamma order values (Fader, Hardie & Lee 2005),
funnel rates, NPS and experiment lifts; ``truth_uplift.parquet`` holds each unit's true
effect of the win-back coupon, an experiment whose effect differs by customer
(``simulate.winback``). Same seed, same bytes. ``Shock`` plants a change
of a media pair's effectiveness from a date on (``parse_shock`` reads
``channel:MARKET:YYYY-MM-DD:factor``), ``Risk`` one of a growth plan's risks in a market
from a date on (acquisition cost, fulfilment, returns, order value, churn of high-value
customers, a failed festival promotion; ``parse_risk`` reads
``KIND:MARKET[:CHANNEL]:YYYY-MM-DD:SIZE``), both recorded in truth.json.
"""

from growthloop.simulate.customers import (
    bgnbd_expected_repeats,
    bgnbd_prob_no_repeat,
    gamma_gamma_mean,
)
from growthloop.simulate.media import geometric_adstock, hill
from growthloop.simulate.risks import Risk, parse_risk
from growthloop.simulate.shocks import Shock, parse_shock
from growthloop.simulate.world import TABLE_FILES, simulate

__all__ = [
    "TABLE_FILES",
    "Risk",
    "Shock",
    "bgnbd_expected_repeats",
    "bgnbd_prob_no_repeat",
    "gamma_gamma_mean",
    "geometric_adstock",
    "hill",
    "parse_risk",
    "parse_shock",
    "simulate",
]
