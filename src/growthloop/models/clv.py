"""Customer lifetime value: the RFM summary in the engine, compression, CLV, summary files.

The pipeline is: ``rfm_summary`` (an Ibis expression, so the heavy lifting runs in DuckDB,
Spark or any Ibis backend) gives one row per customer with frequency, recency, T and
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

import datetime as dt
from pathlib import Path
from typing import Any, Protocol

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from growthloop.errors import InputError
from growthloop.models.base import as_rft, as_vector, as_weights, unique_rows

__all__ = [
    "PERIODS_PER_MONTH",
    "compress",
    "customer_lifetime_value",
    "read_summary",
    "rfm_summary",
]

#: Model time units per discounting period (a month), as in lifetimes.
PERIODS_PER_MONTH: dict[str, float] = {"H": 30 * 24.0, "D": 30.0, "W": 4.345, "M": 1.0}
_UNIT_DAYS = {"D": 1, "W": 7}


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
    x, tx, t_end = as_rft(frequency, recency, T)
    w = as_weights(weights, len(x))
    (ux, utx, uT), inverse, counts = unique_rows(x, tx, t_end)
    total = np.bincount(inverse, weights=w, minlength=len(counts))
    return ux, utx, uT, total


# --------------------------------------------------------------------------- RFM summary


def _end_date(observation_end: Any) -> dt.date:
    if isinstance(observation_end, dt.datetime):
        return observation_end.date()
    if isinstance(observation_end, dt.date):
        return observation_end
    try:
        return pd.Timestamp(observation_end).date()
    except (TypeError, ValueError):
        raise InputError(
            f"observation_end must be a date, a datetime or an ISO date string like "
            f"'2025-06-30'; got {observation_end!r}"
        ) from None


def rfm_summary(
    orders: ir.Table,
    observation_end: dt.date | dt.datetime | str,
    *,
    time_unit: str = "D",
    value_col: str = "amount",
    customer_col: str = "user_id",
) -> ir.Table:
    """Per-customer frequency, recency, T and monetary value, as an Ibis expression.

    Follows lifetimes' ``summary_data_from_transaction_data``: orders are grouped into
    purchase periods (days or weeks; several orders in one period count once, with
    their values summed); ``frequency`` is the number of periods after the first,
    ``recency`` the time from the first to the last period, ``T`` the time from the first
    period to the period of ``observation_end``, in ``time_unit``; ``monetary_value`` is
    the mean value of the repeat periods (0 when frequency is 0). Cancelled orders and
    orders after the day of ``observation_end`` are left out.

    Parameters
    ----------
    orders : ibis.Table
        The canonical ``orders`` table (``order_ts``, ``status``, a customer column and a
        value column), on any backend.
    observation_end : date, datetime or str
        Last day of observation (the whole day counts).
    time_unit : {"D", "W"}
        Days or weeks (weeks start on Monday, as ``date_trunc('week')``).
    value_col : str
        Column with the order value, already in the reporting currency.
    customer_col : str
        Column identifying the customer.

    Returns
    -------
    ibis.Table
        Columns ``customer_col``, ``frequency`` (int64), ``recency``, ``T`` and
        ``monetary_value`` (float64); one row per customer with an order.

    References
    ----------
    .. [1] lifetimes, ``utils.summary_data_from_transaction_data``.
    """
    if time_unit not in _UNIT_DAYS:
        raise InputError(
            f"time_unit must be one of {', '.join(map(repr, _UNIT_DAYS))}; got {time_unit!r}"
        )
    missing = [c for c in (customer_col, "order_ts", "status", value_col)
               if c not in orders.columns]
    if missing:
        raise InputError(
            f"the orders table has no column {', '.join(map(repr, missing))}; expected the "
            f"canonical orders table with {customer_col!r}, 'order_ts', 'status' and the "
            f"value column {value_col!r}"
        )
    end = _end_date(observation_end)
    unit_days = _UNIT_DAYS[time_unit]

    def period(day: ir.DateValue) -> ir.DateValue:
        return day.truncate("W") if time_unit == "W" else day

    day = orders.order_ts.date()
    kept = orders.filter(orders.status != "cancelled", day <= ibis.literal(end))
    per = kept.group_by(
        [kept[customer_col], period(kept.order_ts.date()).name("period")]
    ).aggregate(value=kept[value_col].sum().coalesce(0.0))
    cust = per.group_by(customer_col).aggregate(
        periods=per.period.count(),
        first=per.period.min(),
        last=per.period.max(),
        total=per.value.sum(),
        first_value=per.value.argmin(per.period),
    )
    end_period = period(ibis.literal(end))
    frequency = (cust.periods - 1).cast("int64")
    return cust.select(
        cust[customer_col],
        frequency.name("frequency"),
        (cust["last"].delta(cust["first"], unit="day").cast("float64") / unit_days)
        .name("recency"),
        (end_period.delta(cust["first"], unit="day").cast("float64") / unit_days).name("T"),
        ibis.cases(
            (frequency > 0, (cust.total - cust.first_value).cast("float64") / frequency),
            else_=0.0,
        ).name("monetary_value"),
    )


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

    ``CLV = sum_{k=1}^{horizon} margin * E[spend] * (E[Y(k u)] - E[Y((k-1) u)]) /
    (1 + discount_rate)^k`` where ``u`` is one month in the model's time unit,
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
    for k in range(1, horizon + 1):
        current = purchase_model.conditional_expected_purchases(k * step, ux, utx, uT)
        value += (current - previous) / (1 + discount_rate) ** k
        previous = current
    spend = spend_model.conditional_expected_average_profit(x, m)
    return margin * spend * value[inverse]


# --------------------------------------------------------------------------- files


_REQUIRED = ("frequency", "recency", "T")


def read_summary(path: str | Path) -> pd.DataFrame:
    """Read a lifetimes-style customer summary (CSV or Parquet) and validate it.

    The file has a customer id (a ``customer_id`` column, else the first column) and
    ``frequency``, ``recency``, ``T`` and optionally ``monetary_value``. Every problem
    raises ``InputError`` naming the file, the 1-based data row (the header excluded),
    the field, the value and what was expected.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (str), ``frequency`` (int64), ``recency``, ``T`` and, when
        present, ``monetary_value`` (float64).
    """
    path = Path(path)
    raw = _read_raw(path)
    if raw.shape[1] == 0 or (len(raw) == 0 and not set(_REQUIRED) & set(raw.columns)):
        raise InputError(
            f"{path}: the file is empty; expected a header with a customer id, frequency, "
            "recency and T, and one row per customer"
        )
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: missing column {', '.join(map(repr, missing))}; found "
            f"{', '.join(map(repr, raw.columns))}, expected a customer id, 'frequency', "
            "'recency', 'T' and optionally 'monetary_value'"
        )
    if len(raw) == 0:
        raise InputError(f"{path}: the file has a header but no customers")
    id_col = "customer_id" if "customer_id" in raw.columns else raw.columns[0]
    if id_col in (*_REQUIRED, "monetary_value"):
        raise InputError(
            f"{path}: the first column is {id_col!r}; expected a customer id first (or a "
            "'customer_id' column)"
        )
    out = pd.DataFrame({"customer_id": raw[id_col].astype(str)})
    repeated = out.customer_id.duplicated()
    if repeated.any():
        i = int(np.flatnonzero(repeated.to_numpy())[0])
        raise InputError(
            f"{_where(path, i + 1, id_col, out.customer_id.iloc[i])} appears twice; expected "
            "one row per customer"
        )
    fields = [*_REQUIRED, *(["monetary_value"] if "monetary_value" in raw.columns else [])]
    for field in fields:
        out[field] = _numbers(path, raw[field], field)
    _check_rows(path, out)
    out["frequency"] = out["frequency"].astype(np.int64)
    return out


def _read_raw(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None
    raise InputError(f"{path}: unknown file type {suffix!r}; expected .csv or .parquet")


def _where(path: Path, row: int, field: str, value: Any) -> str:
    return f"{path}: row {row}, field {field!r}: value {value!r}"


def _numbers(path: Path, column: pd.Series, field: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce").astype(np.float64)
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{_where(path, i + 1, field, column.iloc[i])} is not a number; expected a "
            f"finite number in every row"
        )
    return values


def _check_rows(path: Path, df: pd.DataFrame) -> None:
    checks: list[tuple[str, np.ndarray, str]] = []
    for field in df.columns[1:]:
        checks.append((field, df[field].to_numpy() < 0, "a value >= 0"))
    x = df["frequency"].to_numpy()
    checks.append(("frequency", x != np.round(x), "a whole number of repeat purchases"))
    checks.append((
        "recency", df["recency"].to_numpy() > df["T"].to_numpy(),
        "recency <= T (the time from the first purchase to the end of observation)",
    ))
    checks.append((
        "recency", (x == 0) & (df["recency"].to_numpy() != 0),
        "recency 0 when frequency is 0 (no repeat purchase)",
    ))
    first = [(int(np.flatnonzero(bad)[0]), field, expected)
             for field, bad, expected in checks if bad.any()]
    if first:
        i, field, expected = min(first, key=lambda item: item[0])
        value = df[field].iloc[i]
        raise InputError(
            f"{_where(path, i + 1, field, _plain(value))}; expected {expected}"
            + (f" (T is {_plain(df['T'].iloc[i])})" if expected.startswith("recency <=")
               else "")
        )


def _plain(value: Any) -> Any:
    f = float(value)
    return int(f) if f.is_integer() else f
