"""Daily exchange rates into the reporting currency.

Each currency's log rate follows a mean-reverting random walk (discrete
Ornstein-Uhlenbeck) around a realistic base rate, so a year of rates moves a few
per cent like real ones. ``rate`` is reporting-currency units per one local unit;
the reporting currency itself is always 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DAILY_VOLATILITY", "USD_PER_UNIT", "FxRates", "simulate_fx", "usd_per_unit"]

# Approximate US dollars per one unit of currency (2024-2025 levels).
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0, "IDR": 6.2e-5, "THB": 0.028, "SGD": 0.74, "EUR": 1.08, "BRL": 0.19,
    "MXN": 0.055, "MYR": 0.22, "PHP": 0.018, "VND": 4.0e-5, "GBP": 1.27, "JPY": 0.0067,
    "CNY": 0.14, "HKD": 0.128, "TWD": 0.031, "KRW": 0.00074, "INR": 0.012, "AUD": 0.66,
    "NZD": 0.60, "CAD": 0.74, "CHF": 1.13, "SEK": 0.095, "NOK": 0.093, "DKK": 0.145,
    "PLN": 0.25, "CZK": 0.043, "HUF": 0.0027, "TRY": 0.03, "ZAR": 0.055, "AED": 0.272,
    "SAR": 0.267, "ARS": 0.0011, "CLP": 0.0011, "COP": 0.00025, "PEN": 0.27,
}
DAILY_VOLATILITY: dict[str, float] = {
    "USD": 0.0, "IDR": 0.004, "THB": 0.004, "SGD": 0.0025, "EUR": 0.004, "BRL": 0.008,
    "MXN": 0.007,
}
DEFAULT_VOLATILITY = 0.005
MEAN_REVERSION = 0.02


def usd_per_unit(currency: str) -> float:
    """Base rate in USD per unit; 1.0 for a currency without a listed rate."""
    return USD_PER_UNIT.get(currency, 1.0)


@dataclass(frozen=True)
class FxRates:
    """``rates[i, d]``: reporting units per unit of ``currencies[i]`` on day ``d``."""

    currencies: tuple[str, ...]
    rates: np.ndarray
    base: dict[str, float]
    volatility: dict[str, float]

    def index(self, currency: str) -> int:
        return self.currencies.index(currency)

    def indices(self, currencies: Sequence[str]) -> np.ndarray:
        """Row of each of ``currencies`` in ``rates``."""
        return np.asarray([self.index(c) for c in currencies])

    def to_local(self, amount: np.ndarray, row: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Reporting-currency ``amount`` in the currency of ``rates`` row ``row`` on ``day``."""
        return amount / self.rates[row, day]


def simulate_fx(rng: np.random.Generator, currencies: Sequence[str], reporting: str,
                days: int) -> FxRates:
    """Daily rates of ``currencies`` (the reporting currency added, sorted) over ``days``.

    log(rate_t / base) = (1 - k) log(rate_{t-1} / base) + sigma * eps_t, eps_t ~ N(0, 1).
    """
    cur = tuple(sorted(set(currencies) | {reporting}))
    rep = usd_per_unit(reporting)
    rates = np.ones((len(cur), days))
    base: dict[str, float] = {}
    vol: dict[str, float] = {}
    eps = rng.standard_normal((len(cur), days + 1))
    for i, c in enumerate(cur):
        base[c] = usd_per_unit(c) / rep
        vol[c] = 0.0 if c == reporting else DAILY_VOLATILITY.get(c, DEFAULT_VOLATILITY)
        if c == reporting:
            continue
        x = np.empty(days)
        prev = eps[i, 0] * vol[c] / np.sqrt(2 * MEAN_REVERSION)  # stationary start
        for d in range(days):
            prev = (1.0 - MEAN_REVERSION) * prev + vol[c] * eps[i, d + 1]
            x[d] = prev
        rates[i] = base[c] * np.exp(x)
    return FxRates(currencies=cur, rates=rates, base=base, volatility=vol)
