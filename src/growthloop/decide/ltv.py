"""LTV economics: LTV:CAC and payback by channel, market and cohort; the five-driver view.

**LTV:CAC and payback** (``ltv_cac``). Each customer's value curve runs month by month
(30-day months) from the first purchase: the value of the orders actually placed while
the data cover that month, then, beyond the observation end, the model's expected
purchases (``conditional_expected_purchases``, FHL 2005 eq. 10) times the expected order
value (Gamma-Gamma, FHL 2005 JMR); times ``margin``, discounted monthly at
``discount_rate`` from the first purchase. A group (acquisition channel, market, monthly
cohort of the first purchase, or any combination) gets the mean curve of its new
customers:

- ``ltv``: the mean curve at ``months`` (value per new customer over its first
  ``months`` months; ``realised_share`` of it is already observed);
- ``cac``: media spend (the catalog's ``spend`` KPI: ``ad_spend`` in the reporting
  currency) of the group's channel, market and month / its new customers. Credit goes
  to the buyer's acquisition channel (last touch before sign-up) until attribution
  provides better; channels without spend have ``cac`` 0 and no ratio;
- ``ltv_cac = ltv / cac``; ``payback_months``: the first month whose mean curve reaches
  ``cac`` (within ``max_payback_months``; none otherwise).

**Five drivers** (``five_drivers``, ``tornado``). Customer value driven by five
variables: acquisition cost, conversion, repeat purchasing, order value and lifetime.
``five_driver_ltv`` is the one place of that formula::

    LTV per sign-up = conversion x expected order value
                      x (1 + repurchases per year x lifetime) x margin
    LTV:CAC         = LTV per sign-up / cost per sign-up

a sign-up being an acquired user: ``conversion`` turns sign-ups into customers, who
place a first order and ``repurchases per year x lifetime`` repeat orders of mean value
``expected order value``. It is the textbook decomposition of customer value into
acquisition, retention and spend (Blattberg, Kim and Neslin 2008, ch. 5; Gupta and
Lehmann 2005). The drivers are named apart from the glossary's CAC, repurchase rate and
average order value (``growthloop.core.glossary``), which they are not. Values per
market come from the data:

- ``cost_per_signup``: spend / new users (``spend`` and ``new_users`` KPIs), a blended
  cost per sign-up (organic sign-ups included), ``glossary.cost_per_signup``;
- ``conversion``: the ``new_user_conversion`` KPI (first order within 30 days of sign-up)
  over sign-ups at least 30 days before the end of the data;
- ``expected_order_value``: the Gamma-Gamma population mean ``p gamma / (q - 1)``;
- ``lifetime`` (years): expected repeat purchases until drop-out over the mean purchase
  rate, ``((a + b - 1) / (a - 1)) / (r / alpha)`` for the BG/NBD (the simulator's
  ``lifetime_years_heuristic``), the mean lifetime ``beta / (s - 1)`` for the
  Pareto/NBD; capped at ``max_lifetime_years`` when the model's mean is infinite;
- ``repurchases_per_year``: repeat purchases per customer-year over that lifetime,
  ``E[X(L)] / L`` with ``E[X(t)]`` the model's expected purchases of a new customer (FHL
  2005 eq. 7; Fader and Hardie 2005 eq. 27), so ``repurchases per year x lifetime =
  E[X(L)]``.

The tornado (``driver_ranges``, ``tornado``) moves each driver, one at a time, from a
realistic low to a realistic high value and reports LTV:CAC at both ends, widest first,
with each driver's elasticity (``d ln LTV:CAC / d ln driver`` at the base: -1 for the
cost, 1 for conversion and order value, ``R / (1 + R)`` for repurchases and lifetime,
``R = repurchases per year x lifetime``). Equal relative moves cannot rank the drivers
(conversion and order value always tie, and so do repurchases and lifetime), so each
driver gets its own range, and the table says which:

- ``cost_per_signup``, ``conversion``, ``expected_order_value``: the spread across the
  market's months, the 10th and 90th percentiles of the monthly values (spend / new
  users, the ``new_user_conversion`` KPI, the ``average_order_value`` KPI relative to
  its all-period value, applied to the Gamma-Gamma mean); basis ``monthly P10-P90``;
- ``repurchases_per_year``, ``lifetime``: model estimates with no monthly value, so
  their 95 % confidence interval from a parametric bootstrap of the fitted parameters
  (log-normal draws with the fit's covariance); basis ``95 % interval``.

A uniform relative ``swing`` (``--swing 0.2``: -20 % and +20 %) remains for a what-if.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting your customers'
   the easy way", Marketing Science, 24(2), 275-284; and "RFM and CLV", Journal of
   Marketing Research, 42(4), 415-430.
.. [2] Blattberg, R. C., Kim, B.-D. and Neslin, S. A. (2008), Database Marketing,
   Springer, ch. 5 (customer lifetime value).
.. [3] Gupta, S. and Lehmann, D. R. (2005), Managing Customers as Investments, Wharton
   School Publishing (customer value from acquisition, retention and margin).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Mapping, Sequence

import ibis
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core import glossary
from growthloop.core.config import Config
from growthloop.core.errors import InputError
from growthloop.core.estimator import GrowthloopWarning
from growthloop.core.glossary import discount_factors
from growthloop.metrics import compile_kpi
from growthloop.metrics.customers import customer_summary, observation_end_of, value_orders
from growthloop.models.clv.segmented import (
    DEFAULT_DISCOUNT_RATE,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_MARGIN,
    CustomerValueModel,
    check_value_settings,
)
from growthloop.models.mle import MLEstimator

__all__ = [
    "DRIVERS",
    "LTV_DIMENSIONS",
    "MONTH_DAYS",
    "check_ltv_dimensions",
    "driver_ranges",
    "elasticity",
    "five_driver_ltv",
    "five_drivers",
    "lifetime_years",
    "ltv_cac",
    "ltv_report",
    "payback_month",
    "tornado",
    "value_curves",
    "value_summary",
]

#: Days in a month of the value curves.
MONTH_DAYS = 30
#: Dimensions ``ltv_cac`` can group by.
LTV_DIMENSIONS: tuple[str, ...] = ("channel", "market", "cohort")
#: The plan's five drivers, in the order of the formula's arguments.
DRIVERS: tuple[str, ...] = ("cost_per_signup", "conversion", "repurchases_per_year",
                            "expected_order_value", "lifetime")
#: Quantiles of the monthly values that bound a data driver's tornado range.
SPREAD_QUANTILES = (0.1, 0.9)
#: Fewest months with data for a monthly spread; fewer give no range.
MIN_SPREAD_MONTHS = 3
#: Basis of each kind of tornado range, as the output names it.
BASIS_MONTHS = "monthly P10-P90"
BASIS_INTERVAL = "95 % interval"
#: Parametric-bootstrap draws (and their seed) behind a model driver's interval.
N_DRAWS = 1_000
DRAW_SEED = 20_260_101


# --------------------------------------------------------------------------- value curves


def _realised_bins(backend: BaseBackend, cfg: Config, summary: pd.DataFrame,
                   months: int) -> np.ndarray:
    """Order value per customer (summary rows) and month since the first purchase day."""
    end = summary.attrs["observation_end"]
    o = value_orders(backend, cfg)
    day = o.order_ts.date()
    o = o.filter(day <= ibis.literal(end))
    first = o.group_by("user_id").aggregate(first_day=o.order_ts.date().min())
    j = o.join(first, "user_id")
    month = (j.order_ts.date().delta(j.first_day, unit="day") // MONTH_DAYS).name("month")
    j = j.mutate(month=month).filter(month < months)
    per = j.group_by(["user_id", "month"]).aggregate(value=j.value.sum().coalesce(0.0))
    df = per.execute()
    out = np.zeros((len(summary), months))
    pos = pd.Series(np.arange(len(summary)), index=summary.user_id.to_numpy())
    rows = pos.reindex(df.user_id.to_numpy()).to_numpy()
    ok = ~np.isnan(rows)
    np.add.at(out, (rows[ok].astype(np.int64), df.month.to_numpy()[ok].astype(np.int64)),
              df.value.to_numpy(np.float64)[ok])
    return out


def value_curves(
    backend: BaseBackend,
    cfg: Config,
    model: CustomerValueModel,
    summary: pd.DataFrame,
    *,
    months: int,
    margin: float = DEFAULT_MARGIN,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
) -> pd.DataFrame:
    """Cumulative discounted margin value of each customer by month since the first purchase.

    Month ``m`` (1-based) holds the value of the first ``m`` 30-day months: orders placed
    while observed, then the model's expected purchases times expected order value for
    the part of the month after the observation end; month ``m``'s value is discounted
    by ``(1 + discount_rate)^-m`` (``growthloop.core.glossary.discount_factors``).

    Returns
    -------
    pandas.DataFrame
        One row per summary row, columns ``1 .. months``; ``attrs["realised"]`` holds
        the same curves from observed orders only.
    """
    if not (isinstance(months, int) and months > 0):
        raise InputError(f"months must be a positive whole number; got {months!r}")
    check_value_settings(DEFAULT_HORIZON_DAYS, discount_rate, margin)
    realised = _realised_bins(backend, cfg, summary, months)
    predicted = np.zeros_like(realised)
    age = summary.days_since_first.to_numpy(np.float64)
    seg = model.segment_of(summary)
    for name in seg.unique():
        idx = np.flatnonzero((seg == name).to_numpy())
        p_model, s_model = model.models_for(name)
        part = summary.iloc[idx]
        x, tx, T = (part.frequency.to_numpy(np.float64), part.recency.to_numpy(np.float64),
                    part["T"].to_numpy(np.float64))
        eov = s_model.conditional_expected_average_profit(
            x, part.monetary_value.to_numpy(np.float64))
        eov = np.where(np.isfinite(eov), eov, np.nan)
        previous = np.zeros(len(idx))
        for m in range(1, months + 1):
            t = np.maximum(0.0, MONTH_DAYS * m - 1 - age[idx])
            current = (p_model.conditional_expected_purchases(t, x, tx, T)
                       if (t > 0).any() else np.zeros(len(idx)))
            predicted[idx, m - 1] = (current - previous) * eov
            previous = current
    discount = discount_factors(months, discount_rate)
    total = np.cumsum(margin * (realised + np.nan_to_num(predicted)) * discount, axis=1)
    out = pd.DataFrame(total, columns=range(1, months + 1), index=summary.index)
    out.attrs["realised"] = np.cumsum(margin * realised * discount, axis=1)
    return out


# --------------------------------------------------------------------------- LTV:CAC


def check_ltv_dimensions(by: Sequence[str]) -> list[str]:
    """``by`` as a list if it names one or more of ``LTV_DIMENSIONS`` once; else InputError."""
    dims = list(by)
    bad = [d for d in dims if d not in LTV_DIMENSIONS]
    if bad or not dims or len(set(dims)) != len(dims):
        raise InputError(
            f"unknown --by {','.join(dims) or '(none)'}; expected one or more of "
            f"{', '.join(LTV_DIMENSIONS)}, comma-separated"
        )
    return dims


def _spend(backend: BaseBackend, cfg: Config) -> pd.DataFrame:
    """Spend by month, market and channel (the catalog's ``spend`` KPI)."""
    df = compile_kpi("spend", backend, cfg, grain="month", by=["market", "channel"]).execute()
    return pd.DataFrame({
        "cohort": pd.to_datetime(df.period).dt.strftime("%Y-%m"),
        "market": df.market.astype(str), "channel": df.channel.astype(str),
        "spend": df.value.astype(np.float64),
    })


def payback_month(curve: np.ndarray, cac: float) -> float:
    """First month (1-based) whose cumulative value reaches ``cac``; 0 for no cost, NaN if
    never within the curve or the cost is unknown."""
    if not np.isfinite(cac):
        return math.nan
    if cac <= 0:
        return 0.0
    hit = np.flatnonzero(np.asarray(curve) >= cac)
    return float(hit[0] + 1) if hit.size else math.nan


def ltv_cac(
    backend: BaseBackend,
    cfg: Config,
    *,
    by: Sequence[str] = ("channel",),
    model: CustomerValueModel | None = None,
    summary: pd.DataFrame | None = None,
    months: int = 12,
    max_payback_months: int = 36,
    margin: float = DEFAULT_MARGIN,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
) -> pd.DataFrame:
    """LTV per new customer, CAC, LTV:CAC and payback months per group (module notes).

    Parameters
    ----------
    by : sequence of {"channel", "market", "cohort"}
        Grouping: acquisition channel, market, month of the first purchase.
    model, summary : optional
        A fitted ``CustomerValueModel`` and the ``customer_summary`` it was fitted on;
        by default the summary of all data and models fitted per market.
    months : int
        LTV horizon in 30-day months from the first purchase.
    max_payback_months : int
        How far the payback search looks.

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``new_customers``, ``spend``, ``cac``, ``ltv``,
        ``realised_share``, ``ltv_cac``, ``payback_months`` (NaN where undefined).
    """
    dims = check_ltv_dimensions(by)
    if not (isinstance(max_payback_months, int) and max_payback_months > 0):
        raise InputError(f"max_payback_months must be a positive whole number; got "
                         f"{max_payback_months!r}")
    if summary is None:
        summary = customer_summary(backend, cfg)
    if model is None:
        model = CustomerValueModel(by="market").fit(summary)
    horizon = max(months, max_payback_months)
    curves = value_curves(backend, cfg, model, summary, months=horizon, margin=margin,
                          discount_rate=discount_rate)
    realised = curves.attrs["realised"]
    keys = summary[dims].astype(str).reset_index(drop=True)
    arr = curves.to_numpy()
    groups = keys.groupby(dims, sort=True).indices
    rows = []
    for key, idx in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        mean = arr[idx].mean(axis=0)
        rows.append({**dict(zip(dims, key, strict=True)), "new_customers": len(idx),
                     "ltv": mean[months - 1],
                     "realised_share": (realised[idx, months - 1].mean() / mean[months - 1]
                                        if mean[months - 1] > 0 else math.nan),
                     "_curve": mean})
    value = pd.DataFrame(rows)
    spend = _spend(backend, cfg).groupby(dims, as_index=False).spend.sum()
    out = value.merge(spend, on=dims, how="outer")
    out["new_customers"] = out.new_customers.fillna(0).astype(np.int64)
    out["spend"] = out.spend.fillna(0.0)
    out["cac"] = glossary.cac(out.spend, out.new_customers)
    out["ltv_cac"] = np.where(out.cac > 0, glossary.ratio(out.ltv, out.cac), np.nan)
    out["payback_months"] = [
        payback_month(c, cac) if isinstance(c, np.ndarray) else math.nan
        for c, cac in zip(out._curve, out.cac, strict=True)]
    out = out.sort_values(dims, kind="stable").reset_index(drop=True)
    out.attrs.update(months=months, margin=margin, discount_rate=discount_rate,
                     currency=cfg.reporting_currency, max_payback_months=max_payback_months)
    return out[[*dims, "new_customers", "spend", "cac", "ltv", "realised_share", "ltv_cac",
                "payback_months"]]


# --------------------------------------------------------------------------- five drivers


def five_driver_ltv(cost_per_signup: float | np.ndarray, conversion: float | np.ndarray,
                    repurchases_per_year: float | np.ndarray,
                    expected_order_value: float | np.ndarray, lifetime: float | np.ndarray,
                    margin: float | np.ndarray = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """LTV per sign-up and LTV:CAC from the five drivers (module notes).

    ``LTV = conversion * expected_order_value * (1 + repurchases_per_year * lifetime) *
    margin`` per sign-up, and ``LTV:CAC = LTV / cost_per_signup`` (both per sign-up, so the
    ratio is LTV per customer over CAC); ``lifetime`` in years. NaN where the cost is 0.

    References
    ----------
    .. [1] Blattberg, Kim and Neslin (2008), ch. 5; Gupta and Lehmann (2005).
    """
    ltv = (np.asarray(conversion, dtype=np.float64)
           * np.asarray(expected_order_value, np.float64)
           * (1.0 + np.asarray(repurchases_per_year, np.float64)
              * np.asarray(lifetime, np.float64))
           * np.asarray(margin, np.float64))
    cost = np.asarray(cost_per_signup, dtype=np.float64)
    return ltv, np.where(cost > 0, glossary.ratio(ltv, cost), np.nan)


def lifetime_years(purchase_model: object, *, max_years: float = 10.0) -> tuple[float, bool]:
    """Expected customer lifetime in years from a fitted purchase model, and whether it was
    capped at ``max_years`` (see the module notes for the definitions)."""
    params = purchase_model.params_  # type: ignore[attr-defined]
    if {"a", "b"} <= set(params):  # BG/NBD
        r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
        days = (a + b - 1) / (a - 1) / (r / alpha) if a > 1 else math.inf
    else:  # Pareto/NBD
        s, beta = params["s"], params["beta"]
        days = beta / (s - 1) if s > 1 else math.inf
    years = days / 365.0
    return (min(years, max_years), years > max_years)


def _kpi_months(backend: BaseBackend, cfg: Config, name: str, *, end: dt.date | None = None,
                ) -> pd.DataFrame:
    """``market``, ``period`` (month), ``numerator`` and ``denominator`` of a KPI."""
    return compile_kpi(name, backend, cfg, grain="month", by=["market"], end=end).execute()


def _kpi_totals(backend: BaseBackend, cfg: Config, name: str, *, end: dt.date | None = None,
                ) -> pd.DataFrame:
    df = _kpi_months(backend, cfg, name, end=end)
    return df.groupby("market")[["numerator", "denominator"]].sum()


def _conversion_end(backend: BaseBackend, cfg: Config) -> dt.date:
    """Sign-ups counted by the conversion driver: at least 30 days before the data end."""
    _, last = observation_end_of(backend, cfg)
    return last - dt.timedelta(days=29)


def five_drivers(
    backend: BaseBackend,
    cfg: Config,
    *,
    model: CustomerValueModel | None = None,
    summary: pd.DataFrame | None = None,
    margin: float = DEFAULT_MARGIN,
    max_lifetime_years: float = 10.0,
) -> pd.DataFrame:
    """The five drivers, LTV per acquired user and LTV:CAC per market (module notes).

    ``model`` must be fitted per market (the default fits one).

    Returns
    -------
    pandas.DataFrame
        ``market``, the ``DRIVERS`` columns, ``margin``, ``new_users``, ``spend``,
        ``repurchases`` (``E[X(lifetime)]``), ``ltv`` and ``ltv_cac``.
    """
    check_value_settings(DEFAULT_HORIZON_DAYS, DEFAULT_DISCOUNT_RATE, margin)
    if model is None:
        summary = summary if summary is not None else customer_summary(backend, cfg)
        model = CustomerValueModel(by="market").fit(summary)
    if model.by != "market":
        raise InputError("the five-driver view needs models fitted per market (by='market')")
    users = _kpi_totals(backend, cfg, "new_users").numerator
    spend = _kpi_totals(backend, cfg, "spend").numerator
    conv = _kpi_totals(backend, cfg, "new_user_conversion", end=_conversion_end(backend, cfg))
    rows = []
    capped = []
    for market in sorted(model.customers_):
        p_model, s_model = model.models_for(market)
        p, q, gam = (s_model.params_[k] for k in ("p", "q", "gamma"))
        life, was_capped = lifetime_years(p_model, max_years=max_lifetime_years)
        if was_capped:
            capped.append(market)
        repurchases = float(p_model.expected_purchases(365.0 * life))
        n_users = float(users.get(market, 0.0))
        row = {
            "market": market,
            "cost_per_signup": glossary.cost_per_signup(float(spend.get(market, 0.0)),
                                                        n_users),
            "conversion": (glossary.conversion_rate(conv.numerator[market],
                                                    conv.denominator[market])
                           if market in conv.index else math.nan),
            "repurchases_per_year": repurchases / life,
            "expected_order_value": p * gam / (q - 1) if q > 1 else math.nan,
            "lifetime": life, "margin": margin, "new_users": n_users,
            "spend": float(spend.get(market, 0.0)), "repurchases": repurchases,
        }
        row["ltv"], row["ltv_cac"] = (float(v) for v in five_driver_ltv(
            **{k: row[k] for k in DRIVERS}, margin=margin))
        rows.append(row)
    if capped:
        warnings.warn(
            f"market {', '.join(capped)}: the fitted model has an infinite mean lifetime "
            f"(BG/NBD a <= 1 or Pareto/NBD s <= 1); lifetime capped at {max_lifetime_years:g} "
            "years",
            GrowthloopWarning,
            stacklevel=2,
        )
    return pd.DataFrame(rows)


def _repeat_drivers(purchase_model: MLEstimator, max_years: float) -> np.ndarray:
    """(lifetime, repurchases per year) of a purchase model, as in ``five_drivers``."""
    life, _ = lifetime_years(purchase_model, max_years=max_years)
    return np.array([life, float(purchase_model.expected_purchases(365.0 * life)) / life])


def _repeat_intervals(purchase_model: MLEstimator, max_years: float) -> np.ndarray | None:
    """95 % intervals of (lifetime, repurchases per year), rows, from ``N_DRAWS``
    parametric-bootstrap draws of the fitted parameters (log-normal with the fit's
    covariance on the log scale, as the Wald intervals of ``to_frame``; seeded, so the
    output is reproducible). Draws, not the delta method: the lifetime's ``1 / (a - 1)``
    is far from linear near ``a = 1``. None without a covariance."""
    cov = np.asarray(getattr(purchase_model, "cov_", np.nan), dtype=np.float64)
    if cov.ndim != 2 or not np.all(np.isfinite(cov)):
        return None
    names = purchase_model.param_names
    theta = np.array([purchase_model.params_[k] for k in names])
    log_cov = cov / np.outer(theta, theta)
    rng = np.random.default_rng(DRAW_SEED)
    z = rng.multivariate_normal(np.zeros(len(theta)), log_cov, size=N_DRAWS, method="eigh")
    # a fit that barely identifies a parameter (log-scale se in the tens) would give draws
    # of 0 or inf; bounded at e^+-30 they stay valid and the interval shows it as wide
    draws = theta * np.exp(np.clip(z, -30.0, 30.0))
    values = np.array([_repeat_drivers(type(purchase_model).from_params(
        **dict(zip(names, d, strict=True))), max_years) for d in draws])
    return np.quantile(values, [0.025, 0.975], axis=0).T


def _monthly_spread(values: pd.Series) -> tuple[float, float] | None:
    """(P10, P90) of finite monthly values, None for fewer than ``MIN_SPREAD_MONTHS``."""
    v = values[np.isfinite(values)]
    if len(v) < MIN_SPREAD_MONTHS:
        return None
    lo, hi = np.quantile(v.to_numpy(np.float64), SPREAD_QUANTILES)
    return float(lo), float(hi)


def driver_ranges(
    backend: BaseBackend,
    cfg: Config,
    drivers: pd.DataFrame,
    model: CustomerValueModel,
    *,
    max_lifetime_years: float = 10.0,
) -> pd.DataFrame:
    """Each driver's realistic low and high value per market (module notes).

    ``drivers`` is ``five_drivers`` output and ``model`` the per-market fit it came from.

    Returns
    -------
    pandas.DataFrame
        ``market``, ``driver``, ``low_value``, ``high_value``, ``basis`` (``monthly
        P10-P90`` or ``95 % interval``), ``months`` (months behind a monthly spread).
        A driver without enough data keeps its base value at both ends, with a basis
        that says why.
    """
    def monthly(name: str, end: dt.date | None = None) -> pd.DataFrame:
        df = _kpi_months(backend, cfg, name, end=end)
        return df[df.denominator.isna() | (df.denominator > 0)]

    spend = monthly("spend").set_index(["market", "period"]).numerator
    users = monthly("new_users").set_index(["market", "period"]).numerator
    cost = pd.Series(glossary.cost_per_signup(spend.reindex(users.index, fill_value=0.0),
                                              users), index=users.index).dropna()
    conv = monthly("new_user_conversion", _conversion_end(backend, cfg))
    aov = monthly("average_order_value")
    rows = []
    for d in drivers.itertuples(index=False):
        m = d.market
        c = conv[conv.market == m]
        a = aov[aov.market == m]
        a_all = glossary.ratio(a.numerator.sum(), a.denominator.sum()) if len(a) else math.nan
        spreads = {
            "cost_per_signup": (cost[cost.index.get_level_values(0) == m], 1.0),
            "conversion": (glossary.conversion_rate(c.numerator, c.denominator), 1.0),
            "expected_order_value": (glossary.average_order_value(a.numerator, a.denominator),
                                     d.expected_order_value / a_all if a_all else math.nan),
        }
        for k, (values, scale) in spreads.items():
            spread = _monthly_spread(pd.Series(np.asarray(values, np.float64)) * scale)
            base = float(getattr(d, k))
            lo, hi = spread if spread is not None else (base, base)
            basis = BASIS_MONTHS if spread else f"under {MIN_SPREAD_MONTHS} months: no range"
            rows.append({"market": m, "driver": k, "low_value": min(lo, base),
                         "high_value": max(hi, base), "basis": basis,
                         "months": int(np.isfinite(np.asarray(values, np.float64)).sum())})
        intervals = _repeat_intervals(model.models_for(m)[0], max_lifetime_years)
        for i, k in enumerate(("lifetime", "repurchases_per_year")):
            base = float(getattr(d, k))
            lo, hi = (base, base) if intervals is None else intervals[i]
            rows.append({"market": m, "driver": k, "low_value": float(lo),
                         "high_value": float(hi),
                         "basis": BASIS_INTERVAL if intervals is not None
                         else "no interval: the fit has no covariance", "months": 0})
    return pd.DataFrame(rows, columns=["market", "driver", "low_value", "high_value",
                                       "basis", "months"])


def _swing_ranges(drivers: pd.DataFrame, swing: float | Mapping[str, float]) -> pd.DataFrame:
    """``driver_ranges`` rows for a relative swing of every driver (or one per driver)."""
    swings = dict.fromkeys(DRIVERS, swing) if not isinstance(swing, Mapping) else dict(swing)
    if set(swings) != set(DRIVERS):
        raise InputError(f"swing must be one number or one per driver of {', '.join(DRIVERS)}; "
                         f"got {sorted(swings)}")
    for k, v in swings.items():
        if not (isinstance(v, int | float) and 0 < v < 1):
            raise InputError(f"swing for {k} must be a share in (0, 1), e.g. 0.2; got {v!r}")
    return pd.DataFrame([{"market": d["market"], "driver": k,
                          "low_value": float(d[k]) * (1 - swings[k]),
                          "high_value": float(d[k]) * (1 + swings[k]),
                          "basis": f"+-{swings[k]:.0%} given", "months": 0}
                         for _, d in drivers.iterrows() for k in DRIVERS])


def elasticity(base: Mapping[str, float], driver: str, margin: float = 1.0) -> float:
    """``d ln LTV:CAC / d ln driver`` at ``base`` (the five drivers), by a central
    difference through ``five_driver_ltv`` (NaN where LTV:CAC is not positive)."""
    h = 1e-4
    ends = [float(five_driver_ltv(**{**base, driver: base[driver] * (1 + s)},
                                  margin=margin)[1]) for s in (h, -h)]
    if not all(np.isfinite(ends)) or min(ends) <= 0:
        return math.nan
    return (math.log(ends[0]) - math.log(ends[1])) / (math.log1p(h) - math.log1p(-h))


def tornado(drivers: pd.DataFrame,
            ranges: pd.DataFrame | float | Mapping[str, float] = 0.2) -> pd.DataFrame:
    """LTV:CAC with each driver at its low and high value, per market, widest first.

    Parameters
    ----------
    drivers : pandas.DataFrame
        ``five_drivers`` output (``market``, the ``DRIVERS`` columns and ``margin``).
    ranges : pandas.DataFrame, float or mapping
        ``driver_ranges`` output (each driver's own range), or a relative move of every
        driver (0.2 is -20 % and +20 %), or one move per driver name.

    Returns
    -------
    pandas.DataFrame
        ``market``, ``driver``, ``base_value``, ``low_value``, ``high_value``, ``basis``,
        ``elasticity``, ``base_ltv_cac``, ``ltv_cac_low`` (driver at its low value),
        ``ltv_cac_high``, ``range`` (``|high - low|``) and ``rank`` (1 = moves LTV:CAC
        most).
    """
    missing = [c for c in ("market", *DRIVERS, "margin") if c not in drivers.columns]
    if missing:
        raise InputError(f"drivers table has no column {', '.join(missing)}")
    if not isinstance(ranges, pd.DataFrame):
        ranges = _swing_ranges(drivers, ranges)
    bounds = ranges.set_index(["market", "driver"])
    rows = []
    for _, d in drivers.iterrows():
        base = {k: float(d[k]) for k in DRIVERS}
        margin = float(d["margin"])
        _, base_ratio = five_driver_ltv(**base, margin=margin)
        for k in DRIVERS:
            if (d["market"], k) not in bounds.index:
                raise InputError(f"ranges have no row for market {d['market']}, driver {k}")
            b = bounds.loc[(d["market"], k)]
            ends = [float(five_driver_ltv(**{**base, k: float(v)}, margin=margin)[1])
                    for v in (b.low_value, b.high_value)]
            rows.append({"market": d["market"], "driver": k, "base_value": base[k],
                         "low_value": float(b.low_value), "high_value": float(b.high_value),
                         "basis": str(b.basis), "elasticity": elasticity(base, k, margin),
                         "base_ltv_cac": float(base_ratio), "ltv_cac_low": ends[0],
                         "ltv_cac_high": ends[1], "range": abs(ends[1] - ends[0])})
    out = pd.DataFrame(rows)
    if out.empty:
        return out.assign(rank=pd.Series(dtype=np.int64))
    # exact ties (equal relative swings of conversion and order value) keep DRIVERS order
    out["_key"] = -out["range"].round(10)
    out = out.sort_values(["market", "_key"], kind="stable").drop(columns="_key")
    out["rank"] = out.groupby("market").cumcount() + 1
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- summary


def value_summary(backend: BaseBackend, cfg: Config) -> dict[str, pd.DataFrame]:
    """What the demo prints: tier sizes per market and LTV:CAC per acquisition channel.

    Fits per market on all the data with the default settings, in memory (nothing is
    written, so a read-only warehouse will do).

    Returns
    -------
    dict
        ``"tiers"``: ``market``, ``segment`` (tier), ``customers``, ``share``, ``clv``,
        ``clv_mean`` (``segment_report`` rows of the value tiers, ``all`` included);
        ``"ltv_cac"``: ``ltv_cac(by=("channel",))``;
        ``"parameters"``: the fitted parameters side by side.
    """
    from growthloop.decide.tags import TagSettings, segment_report, tag_customers

    summary = customer_summary(backend, cfg)
    model = CustomerValueModel(by="market").fit(summary)
    scores = model.score(summary)
    end = summary.attrs["observation_end"]
    tags = tag_customers(summary, scores, TagSettings(), as_of=end,
                         model_version=model.version(), tagged_on=end)
    report = segment_report(tags)
    tiers = report[report.dimension == "value_tier"].drop(columns="dimension")
    return {
        "tiers": tiers.reset_index(drop=True),
        "ltv_cac": ltv_cac(backend, cfg, by=("channel",), model=model, summary=summary),
        "parameters": model.side_by_side(),
    }


def ltv_report(backend: BaseBackend, cfg: Config, *, by: Sequence[str] = ("channel",),
               months: int = 12, margin: float = DEFAULT_MARGIN,
               discount_rate: float = DEFAULT_DISCOUNT_RATE, with_tornado: bool = False,
               tornado_swing: float | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """What ``growthloop ltv`` shows: ``ltv_cac`` by ``by`` with models fitted per market
    on all the data (nothing is written), and ``with_tornado`` the five drivers and their
    tornado over each driver's own range (``driver_ranges``), or over +-``tornado_swing``
    for every driver when given."""
    dims = check_ltv_dimensions(by)
    check_value_settings(DEFAULT_HORIZON_DAYS, discount_rate, margin)
    if tornado_swing is not None and not (isinstance(tornado_swing, int | float)
                                          and 0 < tornado_swing < 1):
        raise InputError(f"--swing {tornado_swing!r}: expected a share in (0, 1), e.g. 0.2")
    summary = customer_summary(backend, cfg)
    model = CustomerValueModel(by="market").fit(summary)
    table = ltv_cac(backend, cfg, by=dims, model=model, summary=summary, months=months,
                    margin=margin, discount_rate=discount_rate)
    if not with_tornado and tornado_swing is None:
        return table, None, None
    drivers = five_drivers(backend, cfg, model=model, margin=margin)
    ranges = (driver_ranges(backend, cfg, drivers, model) if tornado_swing is None
              else tornado_swing)
    return table, drivers, tornado(drivers, ranges)
