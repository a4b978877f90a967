"""Validating the purchase model on a calibration / holdout split by date.

The models are fitted on the orders before ``holdout_from`` (the calibration period, as
if it were the present), then each calibration customer's expected repeat purchases in
the holdout period ``[holdout_from, holdout_to]`` (conditional expectation, FHL 2005 eq.
10) are compared with the purchases that customer actually made there. The comparison
is reported by calibration frequency bucket (FHL 2005, figure 5; Fader and Hardie's
"conditional expectations" plot) and summarised by error figures per segment:

- ``mae``, ``rmse``: mean absolute and root mean squared error per customer;
- ``bias``: mean of predicted minus actual per customer;
- ``relative_error``: (predicted total - actual total) / actual total;
- ``z``: (actual total - predicted total) / sqrt(predicted total). Purchases of one
  customer are over-dispersed relative to Poisson under the model (heterogeneity and
  drop-out), so this Poisson scale overstates ``|z|``: ``|z| < 3`` is a strict check
  that the totals agree within sampling error.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting your customers'
   the easy way: an alternative to the Pareto/NBD model", Marketing Science, 24(2),
   275-284, section 4 (calibration and holdout on CDNOW) and eq. (10).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.dates import parse_day
from growthloop.core.errors import InputError
from growthloop.metrics.customers import (
    Occasions,
    customer_summary,
    observation_end_of,
    value_orders,
)
from growthloop.models.clv.segmented import POOLED, CustomerValueModel, check_segment_dimension

__all__ = ["Validation", "frequency_buckets", "holdout_errors", "validate",
           "validation_table"]


@dataclass(frozen=True)
class Validation:
    """A calibration / holdout comparison (``validate``)."""

    calibration_end: dt.date
    holdout_from: dt.date
    holdout_to: dt.date
    holdout_days: int
    model: CustomerValueModel
    customers: pd.DataFrame  # per customer: segment, frequency, ..., predicted, actual
    table: pd.DataFrame  # by segment and frequency bucket
    errors: pd.DataFrame  # per segment


def frequency_buckets(frequency: np.ndarray | pd.Series, max_bucket: int = 7) -> pd.Series:
    """Labels ``"0"``, ``"1"``, ..., ``"<max_bucket>+"`` of calibration frequencies."""
    if max_bucket < 1:
        raise InputError(f"max_bucket must be at least 1; got {max_bucket}")
    f = np.asarray(frequency, dtype=np.int64)
    labels = [str(i) for i in range(max_bucket)] + [f"{max_bucket}+"]
    return pd.Series(pd.Categorical.from_codes(np.minimum(f, max_bucket), labels,
                                               ordered=True))


def _with_pooled(customers: pd.DataFrame) -> pd.DataFrame:
    if (customers.segment == POOLED).all():
        return customers
    return pd.concat([customers, customers.assign(segment=POOLED)], ignore_index=True)


def validation_table(customers: pd.DataFrame, max_bucket: int = 7) -> pd.DataFrame:
    """Predicted vs actual holdout purchases by segment and calibration frequency bucket.

    ``customers`` has ``segment``, ``frequency``, ``predicted`` and ``actual`` per customer;
    the result has ``segment``, ``bucket``, ``customers``, ``actual_mean``,
    ``predicted_mean``, ``actual_total`` and ``predicted_total`` (``all`` pools the
    segments).
    """
    c = _with_pooled(customers).assign(
        bucket=lambda d: frequency_buckets(d.frequency, max_bucket).to_numpy())
    g = c.groupby(["segment", "bucket"], observed=True, sort=True).agg(
        customers=("actual", "size"), actual_mean=("actual", "mean"),
        predicted_mean=("predicted", "mean"), actual_total=("actual", "sum"),
        predicted_total=("predicted", "sum"))
    out = g.reset_index()
    out["bucket"] = out.bucket.astype(str)
    return out


def holdout_errors(customers: pd.DataFrame) -> pd.DataFrame:
    """Error figures per segment (and ``all``): see the module notes."""
    rows = []
    for seg, d in _with_pooled(customers).groupby("segment", sort=True):
        err = d.predicted.to_numpy() - d.actual.to_numpy()
        actual, predicted = float(d.actual.sum()), float(d.predicted.sum())
        rows.append({
            "segment": seg, "customers": len(d), "actual_total": actual,
            "predicted_total": predicted,
            "relative_error": (predicted - actual) / actual if actual else np.nan,
            "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2))),
            "bias": float(np.mean(err)),
            "z": (actual - predicted) / np.sqrt(predicted) if predicted > 0 else np.nan,
        })
    return pd.DataFrame(rows)


def _holdout_counts(backend: BaseBackend, cfg: Config, start: dt.date, end: dt.date,
                    occasions: Occasions) -> pd.DataFrame:
    o = value_orders(backend, cfg)
    day = o.order_ts.date()
    h = o.filter(day >= ibis.literal(start), day <= ibis.literal(end))
    count = h.order_ts.date().nunique() if occasions == "day" else h.count()
    return h.group_by("user_id").aggregate(actual=count).execute()


def validate(
    backend: BaseBackend,
    cfg: Config,
    *,
    holdout_from: dt.date | str,
    holdout_to: dt.date | str | None = None,
    by: str | None = None,
    model: str = "bgnbd",
    occasions: Occasions = "day",
    max_bucket: int = 7,
) -> Validation:
    """Fit before ``holdout_from``, predict the holdout, compare with what happened.

    Parameters
    ----------
    holdout_from : date or str
        First day of the holdout period; the calibration period ends the day before. It
        must lie after the first order and on or before the last.
    holdout_to : date or str, optional
        Last day of the holdout period (default: the last order's day).
    by, model, occasions
        As for ``CustomerValueModel`` and ``customer_summary``.
    max_bucket : int
        Calibration frequencies from this up are one bucket (``"7+"``).
    """
    check_segment_dimension(by)
    first, last = observation_end_of(backend, cfg)
    start = parse_day(holdout_from, "holdout date")
    if not first < start <= last:
        raise InputError(
            f"holdout date {start} is outside the data: orders run from {first} to {last}; "
            f"choose a day after {first} and on or before {last}, leaving enough "
            "calibration time before it"
        )
    stop = last if holdout_to is None else parse_day(holdout_to, "holdout end")
    if not start <= stop <= last:
        raise InputError(
            f"holdout end {stop} must be between the holdout start {start} and the last "
            f"order day {last}"
        )
    cal_end = start - dt.timedelta(days=1)
    cal = customer_summary(backend, cfg, observation_end=cal_end, occasions=occasions)
    fitted = CustomerValueModel(by=by, model=model).fit(cal)
    days = (stop - start).days + 1
    seg = fitted.segment_of(cal)
    predicted = np.zeros(len(cal))
    used = np.empty(len(cal), dtype=object)
    for name in seg.unique():
        idx = np.flatnonzero((seg == name).to_numpy())
        p_model, _ = fitted.models_for(name)
        part = cal.iloc[idx]
        predicted[idx] = p_model.conditional_expected_purchases(
            float(days), part.frequency.to_numpy(np.float64),
            part.recency.to_numpy(np.float64), part["T"].to_numpy(np.float64))
        used[idx] = name
    actual = _holdout_counts(backend, cfg, start, stop, occasions)
    customers = pd.DataFrame({
        "user_id": cal.user_id.to_numpy(), "segment": used,
        "frequency": cal.frequency.to_numpy(), "recency": cal.recency.to_numpy(),
        "T": cal["T"].to_numpy(), "predicted": predicted,
    }).merge(actual, on="user_id", how="left")
    customers["actual"] = customers.actual.fillna(0).astype(np.int64)
    return Validation(
        calibration_end=cal_end, holdout_from=start, holdout_to=stop, holdout_days=days,
        model=fitted, customers=customers,
        table=validation_table(customers, max_bucket), errors=holdout_errors(customers),
    )


