"""Customer value from the warehouse: per-customer summaries, models per segment, scores.

The pipeline runs the heavy part in the engine and the models on sufficient statistics:

1. ``value_orders``: orders not cancelled, valued in the reporting currency with the day's
   FX rate (``growthloop.money.to_reporting``). Returned orders stay: a return does not
   undo the purchase occasion the models count, and its value is gross (put the expected
   return share into ``margin``).
2. ``customer_summary``: one row per customer with the lifetimes-style ``frequency``,
   ``recency``, ``T`` and ``monetary_value`` (``growthloop.models.rfm_summary``; times in
   days), the customer's market, acquisition channel and first-order month, and the facts
   the tags need (occasions, total value, days since the last purchase, the gap before it).
3. ``CustomerValueModel``: a BG/NBD (or Pareto/NBD) and a Gamma-Gamma model per market or
   acquisition channel, their parameters side by side.
4. ``CustomerValueModel.score``: per customer P(alive), expected purchases over a horizon,
   expected order value and CLV with a monthly discount rate and a margin.
5. ``update_scores``: all of it, writing ``customer_scores`` and ``user_tags`` in one
   transaction with the model version and the fit date, replacing what was there.

Purchase occasions are calendar days by default (several orders on one day count once,
lifetimes' convention, right when a day's orders are one shopping trip). With
``occasions="order"`` every order counts and times are exact to the second; use it when
orders are independent purchases, as in the simulator: merging same-day orders thins the
heaviest buyers and biases the purchase-rate scale ``alpha`` upwards (about +15 % on the
simulated shop).

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting your customers'
   the easy way: an alternative to the Pareto/NBD model", Marketing Science, 24(2),
   275-284.
.. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: using
   iso-value curves for customer base analysis", Journal of Marketing Research, 42(4),
   415-430.
.. [3] Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987), "Counting your
   customers: who are they and what will they do next?", Management Science, 33(1), 1-24.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop import __version__
from growthloop.config import Config
from growthloop.errors import InputError
from growthloop.models import (
    BGNBD,
    AssumptionWarning,
    GammaGamma,
    GrowthloopWarning,
    ParetoNBD,
    customer_lifetime_value,
    rfm_summary,
)
from growthloop.models.base import Estimator
from growthloop.money import missing_rates, to_reporting
from growthloop.value._charts import write_html
from growthloop.value._store import insert_frame

__all__ = [
    "DEFAULT_DISCOUNT_RATE",
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_MARGIN",
    "POOLED",
    "PURCHASE_MODELS",
    "SCORE_COLUMNS",
    "SEGMENT_DIMENSIONS",
    "CustomerValueModel",
    "ScoreRun",
    "check_segment_dimension",
    "check_value_settings",
    "customer_summary",
    "fit_chart",
    "horizon_months",
    "observation_end_of",
    "parse_day",
    "read_scores",
    "scores_frame",
    "update_scores",
    "value_orders",
    "write_scores",
]

#: Dimensions the models can be fitted per.
SEGMENT_DIMENSIONS: tuple[str, ...] = ("market", "channel")
#: Purchase models by the name the CLI uses.
PURCHASE_MODELS: dict[str, type[Estimator]] = {"bgnbd": BGNBD, "pareto": ParetoNBD}
#: Name of the segment of a pooled fit (all customers).
POOLED = "all"
DEFAULT_HORIZON_DAYS = 365
#: Monthly, as ``growthloop.models.customer_lifetime_value`` (about 12.7 % a year).
DEFAULT_DISCOUNT_RATE = 0.01
#: Share of order value that is profit; 1 gives revenue CLV.
DEFAULT_MARGIN = 1.0
#: Segments with fewer customers, or fewer repeat buyers than ``MIN_REPEAT_BUYERS``, are
#: scored with the pooled models.
MIN_CUSTOMERS = 100
MIN_REPEAT_BUYERS = 20

#: Columns of ``customer_scores``, in table order.
SCORE_COLUMNS: tuple[str, ...] = (
    "user_id", "segment_by", "segment", "frequency", "recency", "T", "monetary_value",
    "p_alive", "expected_purchases", "expected_order_value", "clv", "horizon_days",
    "discount_rate", "margin", "currency", "observation_end", "model_version", "fit_date",
)

Occasions = Literal["day", "order"]


# --------------------------------------------------------------------------- summaries


def check_segment_dimension(by: str | None) -> str | None:
    """``by`` if it is a dimension the models can be fitted per (or None); else InputError."""
    if by is not None and by not in SEGMENT_DIMENSIONS:
        raise InputError(
            f"unknown --by {by!r}; expected one of {', '.join(SEGMENT_DIMENSIONS)} (or none "
            "for one model over all customers)"
        )
    return by


def value_orders(backend: BaseBackend, cfg: Config) -> ir.Table:
    """Orders not cancelled with ``value`` in the reporting currency (an Ibis expression).

    Columns: ``order_id``, ``user_id``, ``order_ts``, ``status``, ``market``, ``value``
    (NULL where no FX rate applies: ``customer_summary`` warns about those).
    """
    o = backend.table("orders")
    o = o.filter(o.status != "cancelled")
    o = to_reporting(o, backend.table("fx_rates"), cfg.reporting_currency)
    return o.select("order_id", "user_id", "order_ts", "status", "market",
                    value=o.amount_reporting)


def parse_day(value: dt.date | dt.datetime | str, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{what} {value!r} is not a date; expected YYYY-MM-DD") from None


def observation_end_of(backend: BaseBackend, cfg: Config) -> tuple[dt.date, dt.date]:
    """First and last day with an order that is not cancelled; InputError without any."""
    o = value_orders(backend, cfg)
    row = o.aggregate(first=o.order_ts.min(), last=o.order_ts.max()).execute()
    first, last = row["first"].iloc[0], row["last"].iloc[0]
    if first is None or pd.isna(first):
        raise InputError(
            "the warehouse has no orders that are not cancelled, so there is nothing to fit; "
            "load orders with `growthloop ingest orders FILE`"
        )
    return pd.Timestamp(first).date(), pd.Timestamp(last).date()


def _exact_summary(orders: ir.Table, end: dt.date) -> ir.Table:
    """``rfm_summary``'s columns with every order an occasion and times to the second."""
    stop = ibis.literal(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
    kept = orders.filter(orders.order_ts < stop)
    secs = kept.order_ts.epoch_seconds().cast("float64")
    kept = kept.mutate(_s=secs)
    cust = kept.group_by("user_id").aggregate(
        n=kept.count(), first=kept._s.min(), last=kept._s.max(),
        total=kept.value.sum().coalesce(0.0), first_value=kept.value.argmin(kept._s),
    )
    frequency = (cust.n - 1).cast("int64")
    stop_s = stop.epoch_seconds().cast("float64")
    return cust.select(
        "user_id",
        frequency.name("frequency"),
        ((cust["last"] - cust["first"]) / 86400.0).name("recency"),
        ((stop_s - cust["first"]) / 86400.0).name("T"),
        ibis.cases(
            (frequency > 0, (cust.total - cust.first_value.coalesce(0.0)) / frequency),
            else_=0.0,
        ).name("monetary_value"),
    )


def customer_summary(
    backend: BaseBackend,
    cfg: Config,
    *,
    observation_end: dt.date | dt.datetime | str | None = None,
    occasions: Occasions = "day",
) -> pd.DataFrame:
    """One row per customer: the models' statistics, segments and facts for the tags.

    Parameters
    ----------
    backend : ibis backend
        The warehouse (any Ibis backend with the canonical tables).
    cfg : Config
        The project (reporting currency).
    observation_end : date or str, optional
        Last day of orders to use (the whole day counts); default the last order's day.
    occasions : {"day", "order"}
        What a purchase is: a calendar day with orders (lifetimes' convention) or each
        order, timed to the second (see the module notes).

    Returns
    -------
    pandas.DataFrame
        ``user_id``, ``market``, ``channel``, ``cohort`` (first-order month, ``YYYY-MM``),
        ``frequency``, ``recency``, ``T`` (days), ``monetary_value`` (mean repeat value,
        reporting currency), ``orders`` (purchase days), ``total_value``,
        ``first_day``, ``last_day``, ``days_since_first``, ``days_since_last`` and
        ``last_gap_days`` (days between the last two purchase days; NaN with one),
        sorted by ``user_id``.
    """
    if occasions not in ("day", "order"):
        raise InputError(f"occasions must be 'day' or 'order'; got {occasions!r}")
    first_day, last_day = observation_end_of(backend, cfg)
    end = last_day if observation_end is None else parse_day(observation_end,
                                                            "observation_end")
    if end < first_day:
        raise InputError(
            f"observation_end {end} is before the first order ({first_day}); choose a day "
            f"between {first_day} and {last_day}"
        )
    orders = value_orders(backend, cfg)
    _warn_missing_rates(backend, cfg, end)
    if occasions == "day":
        rfm = rfm_summary(orders, end, value_col="value", time_unit="D")
    else:
        rfm = _exact_summary(orders, end)

    day = orders.order_ts.date()
    kept = orders.filter(day <= ibis.literal(end))
    days = kept.group_by([kept.user_id, day.name("day")]).aggregate(
        value=kept.value.sum().coalesce(0.0), o_market=kept.market.min())
    w = ibis.window(group_by=days.user_id, order_by=days.day)
    days = days.mutate(gap=days.day.delta(days.day.lag().over(w), unit="day"))
    facts = days.group_by("user_id").aggregate(
        orders=days.count(), total_value=days.value.sum(), first_day=days.day.min(),
        last_day=days.day.max(), first_market=days.o_market.argmin(days.day),
        last_gap_days=days.gap.argmax(days.day),
    )
    u = backend.table("users")
    j = facts.left_join(u.select("user_id", "market", "acquisition_channel"),
                        facts.user_id == u.user_id)
    facts = j.select(
        "user_id", "orders", "total_value", "first_day", "last_day", "last_gap_days",
        market=ibis.coalesce(j.market, j.first_market),
        channel=ibis.coalesce(j.acquisition_channel, ibis.literal("unknown")),
        cohort=j.first_day.strftime("%Y-%m"),
    )
    both = rfm.join(facts, "user_id")
    df = both.execute().sort_values("user_id", kind="stable").reset_index(drop=True)
    if df.empty:
        raise InputError(
            f"no customer has an order on or before {end}; choose a later observation end"
        )
    end_ts = pd.Timestamp(end)
    df["first_day"] = pd.to_datetime(df["first_day"]).dt.date
    df["last_day"] = pd.to_datetime(df["last_day"]).dt.date
    df["days_since_first"] = (end_ts - pd.to_datetime(df["first_day"])).dt.days
    df["days_since_last"] = (end_ts - pd.to_datetime(df["last_day"])).dt.days
    df["last_gap_days"] = df["last_gap_days"].astype("float64")
    df["frequency"] = df["frequency"].astype(np.int64)
    df["orders"] = df["orders"].astype(np.int64)
    df.attrs["observation_end"] = end
    df.attrs["occasions"] = occasions
    df.attrs["currency"] = cfg.reporting_currency
    cols = ["user_id", "market", "channel", "cohort", "frequency", "recency", "T",
            "monetary_value", "orders", "total_value", "first_day", "last_day",
            "days_since_first", "days_since_last", "last_gap_days"]
    out = df[cols]
    out.attrs.update(df.attrs)
    return out


def _warn_missing_rates(backend: BaseBackend, cfg: Config, end: dt.date) -> None:
    o = backend.table("orders")
    o = o.filter(o.status != "cancelled", o.order_ts.date() <= ibis.literal(end))
    miss = missing_rates(o, backend.table("fx_rates"), cfg.reporting_currency).execute()
    if len(miss):
        parts = [f"{r.currency} ({r.rows} orders, {pd.Timestamp(r.first_day).date()} to "
                 f"{pd.Timestamp(r.last_day).date()})" for r in miss.itertuples()]
        warnings.warn(
            "orders without a usable FX rate count as purchases with value 0: "
            + ", ".join(parts) + "; load fx_rates for those days",
            GrowthloopWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------- models


def horizon_months(horizon_days: int) -> int:
    """Whole 30-day months nearest ``horizon_days`` (at least 1): CLV's discounting grid."""
    return max(1, round(horizon_days / 30))


def check_value_settings(horizon_days: Any, discount_rate: Any, margin: Any) -> None:
    """InputError unless the horizon, monthly discount rate and margin are usable."""
    if not (isinstance(horizon_days, int | np.integer) and not isinstance(horizon_days, bool)
            and horizon_days > 0):
        raise InputError(f"horizon must be a positive whole number of days; got "
                         f"{horizon_days!r}")
    if not (isinstance(discount_rate, int | float) and math.isfinite(discount_rate)
            and 0 <= discount_rate < 1):
        raise InputError(f"discount rate must be a monthly rate in [0, 1), e.g. 0.01; got "
                         f"{discount_rate!r}")
    if not (isinstance(margin, int | float) and math.isfinite(margin) and 0 < margin <= 1):
        raise InputError(f"margin must be a share of order value in (0, 1]; got {margin!r}")


class CustomerValueModel:
    """A purchase model and a Gamma-Gamma spend model per segment of customers.

    Follows the estimator habits of ``growthloop.models``: settings in ``__init__``,
    ``fit(summary)`` returns ``self``, learned attributes end in ``_``.

    Parameters
    ----------
    by : {"market", "channel"} or None
        Fit one pair of models per value of this column of the summary; None fits one
        pair over all customers.
    model : {"bgnbd", "pareto"}
        The purchase model: BG/NBD (Fader, Hardie and Lee 2005) or Pareto/NBD
        (Schmittlein, Morrison and Colombo 1987).
    min_customers, min_repeat_buyers : int
        A segment with fewer customers or repeat buyers is scored with models fitted
        on all customers, with a warning.

    Attributes
    ----------
    purchase_ : dict
        Segment -> fitted purchase model (``"all"``: the pooled fit, when one was needed).
    spend_ : dict
        Segment -> fitted ``GammaGamma``.
    customers_ : dict
        Segment -> customers in it.
    pooled_segments_ : tuple of str
        Segments scored with the pooled models.
    """

    def __init__(self, *, by: str | None = None, model: str = "bgnbd",
                 min_customers: int = MIN_CUSTOMERS,
                 min_repeat_buyers: int = MIN_REPEAT_BUYERS) -> None:
        self.by = by
        self.model = model
        self.min_customers = min_customers
        self.min_repeat_buyers = min_repeat_buyers

    def _check(self) -> None:
        check_segment_dimension(self.by)
        if self.model not in PURCHASE_MODELS:
            raise InputError(f"unknown purchase model {self.model!r}; expected one of "
                             f"{', '.join(PURCHASE_MODELS)}")

    def segment_of(self, summary: pd.DataFrame) -> pd.Series:
        """Each customer's segment (``"all"`` for a pooled model)."""
        if self.by is None:
            return pd.Series(POOLED, index=summary.index)
        if self.by not in summary.columns:
            raise InputError(f"the summary has no column {self.by!r} to fit per segment; "
                             f"found {', '.join(map(str, summary.columns))}")
        return summary[self.by].astype(str)

    def fit(self, summary: pd.DataFrame) -> CustomerValueModel:
        """Fit per segment on a ``customer_summary`` frame (or any frame with its columns).

        References
        ----------
        .. [1] Fader, Hardie and Lee (2005), Marketing Science, eq. (6) (BG/NBD);
           JMR, the Gamma-Gamma submodel.
        """
        self._check()
        missing = [c for c in ("frequency", "recency", "T", "monetary_value")
                   if c not in summary.columns]
        if missing:
            raise InputError(f"the summary has no column {', '.join(map(repr, missing))}; "
                             "expected frequency, recency, T and monetary_value")
        if len(summary) == 0:
            raise InputError("no customers to fit: the summary is empty; check the "
                             "observation period")
        seg = self.segment_of(summary)
        purchase: dict[str, Estimator] = {}
        spend: dict[str, GammaGamma] = {}
        customers: dict[str, int] = {}
        small: list[str] = []
        for name in sorted(seg.unique()):
            part = summary[seg == name]
            customers[name] = len(part)
            repeat = int((part.frequency > 0).sum())
            if self.by is not None and (len(part) < self.min_customers
                                        or repeat < self.min_repeat_buyers):
                small.append(name)
                continue
            purchase[name], spend[name] = self._fit_pair(part, name)
        if small:
            warnings.warn(
                f"{self.by} {', '.join(small)}: fewer than {self.min_customers} customers "
                f"or {self.min_repeat_buyers} repeat buyers, too few to fit their own "
                f"models; scored with models fitted on all customers",
                GrowthloopWarning,
                stacklevel=2,
            )
        pooled = small
        if pooled:
            purchase[POOLED], spend[POOLED] = self._fit_pair(summary, POOLED)
        self.purchase_ = purchase
        self.spend_ = spend
        self.customers_ = customers
        self.pooled_segments_ = tuple(sorted(pooled))
        return self

    @classmethod
    def from_models(cls, purchase: Mapping[str, Estimator], spend: Mapping[str, GammaGamma],
                    *, by: str | None = None, model: str = "bgnbd") -> CustomerValueModel:
        """A fitted model from given per-segment models (published parameters, a fit kept
        elsewhere); segment ``"all"`` scores segments without their own models."""
        out = cls(by=by, model=model)
        out._check()
        if set(purchase) != set(spend) or not purchase:
            raise InputError("purchase and spend models must be given for the same segments")
        out.purchase_ = dict(purchase)
        out.spend_ = dict(spend)
        out.customers_ = dict.fromkeys(purchase, 0)
        out.pooled_segments_ = ()
        return out

    def _fit_pair(self, part: pd.DataFrame, name: str) -> tuple[Estimator, GammaGamma]:
        where = "" if name == POOLED else f" ({self.by} {name})"
        x, m = part.frequency.to_numpy(), part.monetary_value.to_numpy()
        free = (x > 0) & (m <= 0)
        if free.any():
            warnings.warn(
                f"{int(free.sum())} repeat buyers{where} have repeat purchases worth 0 (free "
                "orders, or orders without an FX rate); the Gamma-Gamma model of order value "
                "is fitted without them",
                GrowthloopWarning,
                stacklevel=3,
            )
        try:
            p_model = PURCHASE_MODELS[self.model]().fit(x, part.recency.to_numpy(),
                                                        part["T"].to_numpy())
            s_model = GammaGamma().fit(x[~free], m[~free])
        except InputError as e:
            raise InputError(f"{e}{where}") from None
        return p_model, s_model

    # -- results -----------------------------------------------------------------------

    def check_fitted(self) -> None:
        if not hasattr(self, "purchase_"):
            from growthloop.models import NotFittedError

            raise NotFittedError("this CustomerValueModel is not fitted yet: call fit(summary)")

    def parameters(self) -> pd.DataFrame:
        """Every fitted parameter: segment, model, parameter, estimate, standard error, 95 %
        interval, with the fit's log-likelihood, customers and convergence."""
        self.check_fitted()
        rows = []
        for seg in self.purchase_:
            for m in (self.purchase_[seg], self.spend_[seg]):
                frame = m.to_frame()
                for p, r in frame.iterrows():
                    rows.append({
                        "segment": seg, "model": m.model_name, "parameter": p,
                        "estimate": r.estimate, "std_error": r.std_error,
                        "ci_low": r.ci_low, "ci_high": r.ci_high,
                        "log_likelihood": m.loglik_, "customers": m.n_customers_,
                        "converged": m.converged_,
                    })
        return pd.DataFrame(rows)

    def side_by_side(self) -> pd.DataFrame:
        """Estimates with a parameter per row and a segment per column."""
        p = self.parameters()
        wide = p.pivot(index=["model", "parameter"], columns="segment", values="estimate")
        order = [(m.model_name, k) for m in (next(iter(self.purchase_.values())),
                                             next(iter(self.spend_.values())))
                 for k in m.param_names]
        return wide.reindex(order)

    def version(self) -> str:
        """``<purchase model>-gg/<growthloop version>/<hash of by and the parameters>``."""
        self.check_fitted()
        doc = {"by": self.by, "model": self.model,
               "params": {seg: {**self.purchase_[seg].params_, **{
                   f"gg_{k}": v for k, v in self.spend_[seg].params_.items()}}
                   for seg in sorted(self.purchase_)}}
        text = json.dumps(doc, sort_keys=True, default=lambda v: float(f"{v:.12g}"))
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return f"{self.model}-gg/{__version__}/{digest}"

    def models_for(self, segment: str) -> tuple[Estimator, GammaGamma]:
        """The (purchase, spend) models that score customers of ``segment``."""
        self.check_fitted()
        key = segment if segment in self.purchase_ else POOLED
        if key not in self.purchase_:
            raise InputError(f"segment {segment!r} was not in the data the models were "
                             f"fitted on; refit including it")
        return self.purchase_[key], self.spend_[key]

    def score(
        self,
        summary: pd.DataFrame,
        *,
        horizon_days: int = DEFAULT_HORIZON_DAYS,
        discount_rate: float = DEFAULT_DISCOUNT_RATE,
        margin: float = DEFAULT_MARGIN,
    ) -> pd.DataFrame:
        """Per customer: P(alive), expected purchases and value over the horizon.

        - ``p_alive``: BG/NBD, Fader, Hardie and Lee (2008) eq. (2); Pareto/NBD, Fader and
          Hardie (2005) eq. (37).
        - ``expected_purchases``: expected repeat purchases in the next ``horizon_days``
          (BG/NBD: FHL 2005 eq. 10).
        - ``expected_order_value``: the Gamma-Gamma conditional mean order value, FHL
          (2005, JMR); Fader and Hardie (2013) eq. (5).
        - ``clv``: ``growthloop.models.customer_lifetime_value`` over
          ``horizon_months(horizon_days)`` months, discounted at the monthly
          ``discount_rate``, times ``margin``.

        Returns
        -------
        pandas.DataFrame
            ``user_id`` (when the summary has it), ``segment``, ``frequency``, ``recency``,
            ``T``, ``monetary_value``, ``p_alive``, ``expected_purchases``,
            ``expected_order_value`` and ``clv``, in the summary's row order.
        """
        self.check_fitted()
        check_value_settings(horizon_days, discount_rate, margin)
        seg = self.segment_of(summary)
        n = len(summary)
        cols = {k: np.full(n, np.nan) for k in ("p_alive", "expected_purchases",
                                                 "expected_order_value", "clv")}
        used = np.empty(n, dtype=object)
        for name in seg.unique():
            idx = np.flatnonzero((seg == name).to_numpy())
            part = summary.iloc[idx]
            p_model, s_model = self.models_for(name)
            used[idx] = name if name in self.purchase_ else POOLED
            x, tx, T = (part.frequency.to_numpy(np.float64), part.recency.to_numpy(np.float64),
                        part["T"].to_numpy(np.float64))
            m = part.monetary_value.to_numpy(np.float64)
            cols["p_alive"][idx] = p_model.probability_alive(x, tx, T)
            cols["expected_purchases"][idx] = p_model.conditional_expected_purchases(
                float(horizon_days), x, tx, T)
            eov = s_model.conditional_expected_average_profit(x, m)
            clv = customer_lifetime_value(
                p_model, s_model, x, tx, T, m, horizon=horizon_months(horizon_days),
                discount_rate=discount_rate, margin=margin, time_unit="D")
            bad = ~np.isfinite(eov)
            if bad.any():
                observed = float(np.mean(m[x > 0])) if (x > 0).any() else math.nan
                warnings.warn(
                    f"Gamma-Gamma q = {s_model.params_['q']:.3g} <= 1 for segment {name}: "
                    "the expected order value of customers without a repeat purchase is "
                    f"infinite under the model; using the repeat buyers' mean {observed:.2f} "
                    "for them. Check for extreme order values",
                    AssumptionWarning,
                    stacklevel=2,
                )
                eov[bad] = observed
                clv[bad] = margin * observed * customer_lifetime_value(
                    p_model, _UnitSpend(), x[bad], tx[bad], T[bad], m[bad],
                    horizon=horizon_months(horizon_days), discount_rate=discount_rate,
                    margin=1.0, time_unit="D")
            cols["expected_order_value"][idx] = eov
            cols["clv"][idx] = clv
        out = pd.DataFrame(index=summary.index)
        if "user_id" in summary.columns:
            out["user_id"] = summary["user_id"].to_numpy()
        out["segment"] = used
        for c in ("frequency", "recency", "T", "monetary_value"):
            out[c] = summary[c].to_numpy()
        for k, v in cols.items():
            out[k] = v
        return out.reset_index(drop=True)


class _UnitSpend:
    """A spend model predicting 1 per order: CLV with it is discounted purchases."""

    def conditional_expected_average_profit(self, frequency: Any,
                                            monetary_value: Any) -> np.ndarray:
        return np.ones(np.shape(frequency))


def fit_chart(model: CustomerValueModel, path: str | Path,
              horizon_days: int = DEFAULT_HORIZON_DAYS) -> Path:
    """Expected repeat purchases of a new customer over ``horizon_days`` per segment (FHL
    2005 eq. 7; Pareto/NBD eq. 27), one line per segment, as a standalone HTML file."""
    import plotly.graph_objects as go

    model.check_fitted()
    check_value_settings(horizon_days, DEFAULT_DISCOUNT_RATE, DEFAULT_MARGIN)
    t = np.linspace(0.0, float(horizon_days), 121)
    fig = go.Figure()
    for seg, p_model in model.purchase_.items():
        fig.add_trace(go.Scatter(x=t, y=p_model.expected_purchases(t), mode="lines",
                                 name=seg))
    fig.update_layout(
        title=f"Expected repeat purchases of a new customer ({model.model}, by "
              f"{model.by or 'all customers'})",
        xaxis_title="days since the first purchase", yaxis_title="repeat purchases",
        template="plotly_white")
    return write_html(fig, path)


# --------------------------------------------------------------------------- warehouse


@dataclass(frozen=True)
class ScoreRun:
    """What ``update_scores`` fitted and wrote."""

    summary: pd.DataFrame
    model: CustomerValueModel
    scores: pd.DataFrame  # the rows written to customer_scores
    tags: pd.DataFrame  # the rows written to user_tags
    model_version: str
    fit_date: dt.date
    observation_end: dt.date


def scores_frame(
    scores: pd.DataFrame, *, by: str | None, horizon_days: int, discount_rate: float,
    margin: float, currency: str, observation_end: dt.date, model_version: str,
    fit_date: dt.date,
) -> pd.DataFrame:
    """``CustomerValueModel.score`` output with the metadata columns of ``customer_scores``."""
    out = scores.copy()
    out["segment_by"] = by or POOLED
    out["horizon_days"] = int(horizon_days)
    out["discount_rate"] = float(discount_rate)
    out["margin"] = float(margin)
    out["currency"] = currency
    out["observation_end"] = observation_end.isoformat()
    out["model_version"] = model_version
    out["fit_date"] = fit_date.isoformat()
    return out[list(SCORE_COLUMNS)]


def write_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame) -> int:
    """Replace ``customer_scores`` with ``scores`` (a ``scores_frame``); rows written.

    Call inside ``growthloop.warehouse.transaction`` to make it atomic with other writes;
    ``update_scores`` does.
    """
    con.execute("DELETE FROM customer_scores")
    insert_frame(con, "customer_scores", scores, SCORE_COLUMNS,
            {"frequency": "BIGINT", "horizon_days": "INTEGER", "observation_end": "DATE",
             "fit_date": "DATE"})
    return len(scores)


def read_scores(backend: BaseBackend) -> pd.DataFrame:
    """The ``customer_scores`` table; InputError when it is empty."""
    df = backend.table("customer_scores").execute()
    if df.empty:
        raise InputError("there are no customer scores yet; run `growthloop clv fit` first")
    return df


def update_scores(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    *,
    by: str | None = None,
    model: str = "bgnbd",
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    margin: float = DEFAULT_MARGIN,
    observation_end: dt.date | str | None = None,
    occasions: Occasions = "day",
    fit_date: dt.date | None = None,
    tag_settings: Any = None,
) -> ScoreRun:
    """Fit per segment, score every customer, tag them, and write both tables atomically.

    ``customer_scores`` and ``user_tags`` are replaced as a whole in one transaction: a
    failure leaves the previous scores and tags in place. ``fit_date`` defaults to today
    (UTC); ``tag_settings`` is a ``growthloop.value.tags.TagSettings`` (default rules).
    """
    from growthloop.value.tags import TagSettings, tag_customers, write_tags
    from growthloop.warehouse import ibis_backend, transaction

    check_segment_dimension(by)
    check_value_settings(horizon_days, discount_rate, margin)
    backend = ibis_backend(con)
    summary = customer_summary(backend, cfg, observation_end=observation_end,
                               occasions=occasions)
    fitted = CustomerValueModel(by=by, model=model).fit(summary)
    version = fitted.version()
    day = fit_date or dt.datetime.now(dt.UTC).date()
    end = summary.attrs["observation_end"]
    scored = fitted.score(summary, horizon_days=horizon_days, discount_rate=discount_rate,
                          margin=margin)
    rows = scores_frame(scored, by=by, horizon_days=horizon_days,
                        discount_rate=discount_rate, margin=margin,
                        currency=cfg.reporting_currency, observation_end=end,
                        model_version=version, fit_date=day)
    tags = tag_customers(summary, scored, tag_settings or TagSettings(), as_of=end,
                         model_version=version, tagged_on=day)
    with transaction(con):
        write_scores(con, rows)
        write_tags(con, tags)
    return ScoreRun(summary=summary, model=fitted, scores=rows, tags=tags,
                    model_version=version, fit_date=day, observation_end=end)
