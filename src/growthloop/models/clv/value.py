"""Customer lifetime value: compression of the sufficient statistics, and CLV.

``growthloop.metrics.customers.rfm_summary`` (an Ibis expression, so the heavy lifting
runs in DuckDB, Spark or any Ibis backend) gives one row per customer with frequency, recency, T and
monetary value; ``compress`` reduces those to distinct (frequency, recency, T) triples
with counts, on which ``BGNBD`` / ``ParetoNBD`` fit in seconds for millions of customers;
``GammaGamma`` fits spend; ``customer_lifetime_value`` combines a purchase model and the
spend model into a discounted value per customer.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: using
   iso-value curves for customer base analysis", Journal of Marketing Research, 42(4),
   415-430.
.. [2] Davidson-Pilon, C. et al., lifetimes (MIT licence),
   ``lifetimes.utils.summary_data_from_transaction_data`` and
   ``GammaGammaFitter.customer_lifetime_value``: the conventions followed here.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from growthloop.core.errors import InputError
from growthloop.core.glossary import discount_factors
from growthloop.models.mle import as_rft, as_vector, distinct_rft, unique_rows

__all__ = ["PERIODS_PER_MONTH", "compress", "customer_lifetime_value"]

#: Model time units per discounting period (a month), as in lifetimes.
PERIODS_PER_MONTH: dict[str, float] = {"H": 30 * 24.0, "D": 30.0, "W": 4.345, "M": 1.0}


def compress(
    frequency: Any, recency: Any, T: Any, weights: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (frequency, recency, T) triples and how many customers share each.

    The BG/NBD and Pareto/NBD likelihoods depend on a customer only through these three
    numbers, so a fit on the triples weighted by their counts is the same fit; with
    times in whole days, ten million customers shrink to a few hundred thousand rows.

    Returns
    -------
    frequency, recency, T, weights : numpy.ndarray
        Sorted by frequency, recency, T; ``weights`` sums to the number of customers
        (or to the total of the ``weights`` given).
    """
    return distinct_rft(frequency, recency, T, weights)


# --------------------------------------------------------------------------- CLV


class PurchaseModel(Protocol):
    """A fitted model of repeat purchases (``BGNBD`` or ``ParetoNBD``)."""

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray: ...


class SpendModel(Protocol):
    """A fitted model of spend per transaction (``GammaGamma``)."""

    def conditional_expected_average_profit(
        self, frequency: Any, monetary_value: Any
    ) -> np.ndarray: ...


def customer_lifetime_value(
    purchase_model: PurchaseModel,
    spend_model: SpendModel,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    horizon: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    time_unit: str = "D",
) -> np.ndarray:
    """Discounted expected value of each customer over the next ``horizon`` months.

    ``CLV = sum_{k=1}^{horizon} margin * E[spend] * (E[Y(k u)] - E[Y((k-1) u)]) *
    (1 + discount_rate)^-k`` (``growthloop.core.glossary.discount_factors``) where ``u``
    is one month in the model's time unit,
    ``E[Y(t)]`` the purchase model's conditional expected purchases and ``E[spend]`` the
    spend model's conditional expected average profit: lifetimes'
    ``customer_lifetime_value`` with a margin.

    Parameters
    ----------
    purchase_model : BGNBD or ParetoNBD
        Fitted on data in ``time_unit``.
    spend_model : GammaGamma
        Fitted on the same customers' mean repeat spend.
    frequency, recency, T, monetary_value : array_like
        Per customer, as returned by ``rfm_summary``.
    horizon : int
        Months to sum over.
    discount_rate : float
        Monthly discount rate (0.01 is about 12.7 % a year).
    margin : float
        Share of spend that is profit, in [0, 1].
    time_unit : {"H", "D", "W", "M"}
        Time unit of recency and T (hours, days, weeks, months).

    Returns
    -------
    numpy.ndarray
        Value per customer, in the currency of ``monetary_value``.

    References
    ----------
    .. [1] Fader, Hardie and Lee (2005), JMR, "RFM and CLV", the discounted expected
       residual transactions times expected spend.
    .. [2] lifetimes, ``GammaGammaFitter.customer_lifetime_value``.
    """
    if time_unit not in PERIODS_PER_MONTH:
        raise InputError(
            f"time_unit must be one of {', '.join(map(repr, PERIODS_PER_MONTH))}; got "
            f"{time_unit!r}"
        )
    if not (isinstance(horizon, int | np.integer) and horizon > 0):
        raise InputError(f"horizon must be a positive whole number of months; got {horizon!r}")
    if not (np.isfinite(discount_rate) and discount_rate > -1):
        raise InputError(f"discount_rate must be a number > -1; got {discount_rate!r}")
    if not (np.isfinite(margin) and 0 <= margin <= 1):
        raise InputError(f"margin must be a share of spend between 0 and 1; got {margin!r}")
    x, tx, t_end = as_rft(frequency, recency, T)
    m = as_vector("monetary_value", monetary_value)
    if len(m) != len(x):
        raise InputError(
            f"monetary_value has length {len(m)} but there are {len(x)} customers; pass one "
            "value per customer"
        )
    (ux, utx, uT), inverse, _ = unique_rows(x, tx, t_end)
    step = PERIODS_PER_MONTH[time_unit]
    value = np.zeros(len(ux))
    previous = np.zeros(len(ux))
    factors = discount_factors(horizon, discount_rate)
    for k in range(1, horizon + 1):
        current = purchase_model.conditional_expected_purchases(k * step, ux, utx, uT)
        value += (current - previous) * factors[k - 1]
        previous = current
    spend = spend_model.conditional_expected_average_profit(x, m)
    return margin * spend * value[inverse]
