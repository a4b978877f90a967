"""Customer-value models per segment: a purchase model and a Gamma-Gamma model per
market or acquisition channel, fitted on ``growthloop.metrics.customers.customer_summary``.

``CustomerValueModel.score`` gives each customer P(alive), expected purchases over a
horizon, expected order value and CLV with a monthly discount rate and a margin.

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

import hashlib
import json
import math
import warnings
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from growthloop import __version__
from growthloop.core.errors import AssumptionWarning, GrowthloopWarning, InputError
from growthloop.core.estimator import Estimator
from growthloop.models.clv.bgnbd import BGNBD
from growthloop.models.clv.gamma_gamma import GammaGamma
from growthloop.models.clv.pareto_nbd import ParetoNBD
from growthloop.models.clv.value import customer_lifetime_value
from growthloop.models.mle import MLEstimator

__all__ = [
    "DEFAULT_DISCOUNT_RATE",
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_MARGIN",
    "POOLED",
    "PURCHASE_MODELS",
    "SEGMENT_DIMENSIONS",
    "CustomerValueModel",
    "ValueSettings",
    "check_segment_dimension",
    "check_value_settings",
    "horizon_months",
]

#: Dimensions the models can be fitted per.
SEGMENT_DIMENSIONS: tuple[str, ...] = ("market", "channel")
#: Purchase models by the name the CLI uses.
PURCHASE_MODELS: dict[str, type[MLEstimator]] = {"bgnbd": BGNBD, "pareto": ParetoNBD}
#: Name of the segment of a pooled fit (all customers).
POOLED = "all"
DEFAULT_HORIZON_DAYS = 365
#: Monthly, as ``growthloop.models.clv.customer_lifetime_value`` (about 12.7 % a year).
DEFAULT_DISCOUNT_RATE = 0.01
#: Share of order value that is profit; 1 gives revenue CLV.
DEFAULT_MARGIN = 1.0
#: Segments with fewer customers, or fewer repeat buyers than ``MIN_REPEAT_BUYERS``, are
#: scored with the pooled models.
MIN_CUSTOMERS = 100
MIN_REPEAT_BUYERS = 20


def check_segment_dimension(by: str | None) -> str | None:
    """``by`` if it is a dimension the models can be fitted per (or None); else InputError."""
    if by is not None and by not in SEGMENT_DIMENSIONS:
        raise InputError(
            f"unknown --by {by!r}; expected one of {', '.join(SEGMENT_DIMENSIONS)} (or none "
            "for one model over all customers)"
        )
    return by


def horizon_months(horizon_days: int) -> int:
    """Whole 30-day months nearest ``horizon_days`` (at least 1): CLV's discounting grid."""
    return max(1, round(horizon_days / 30))


class ValueSettings(BaseModel):
    """The horizon, monthly discount rate and margin of a CLV, validated (pydantic)."""

    model_config = ConfigDict(strict=True, frozen=True)

    horizon_days: Annotated[int, Field(gt=0)]
    discount_rate: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
    margin: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


_SETTING_RULES = {
    "horizon_days": "horizon must be a positive whole number of days",
    "discount_rate": "discount rate must be a monthly rate in [0, 1), e.g. 0.01",
    "margin": "margin must be a share of order value in (0, 1]",
}


def check_value_settings(horizon_days: Any, discount_rate: Any, margin: Any) -> ValueSettings:
    """The settings if the horizon, monthly discount rate and margin are usable; else an
    InputError naming the setting, its value and the rule."""
    given = {"horizon_days": int(horizon_days) if isinstance(horizon_days, np.integer)
             else horizon_days, "discount_rate": discount_rate, "margin": margin}
    try:
        return ValueSettings(**given)
    except ValidationError as e:
        field = str(e.errors()[0]["loc"][0])
        raise InputError(f"{_SETTING_RULES[field]}; got {given[field]!r}") from None


class CustomerValueModel(Estimator):
    """A purchase model and a Gamma-Gamma spend model per segment of customers.

    A ``growthloop.core.estimator.Estimator``: settings in ``__init__``, ``fit(summary)``
    returns ``self``, learned attributes end in ``_``.

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

    fitted_attribute: ClassVar[str] = "purchase_"
    fit_signature: ClassVar[str] = "fit(summary)"

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
        purchase: dict[str, MLEstimator] = {}
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
    def from_models(cls, purchase: Mapping[str, MLEstimator], spend: Mapping[str, GammaGamma],
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

    def _fit_pair(self, part: pd.DataFrame, name: str) -> tuple[MLEstimator, GammaGamma]:
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
            from growthloop.core.estimator import NotFittedError

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

    def models_for(self, segment: str) -> tuple[MLEstimator, GammaGamma]:
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
        - ``clv``: ``growthloop.models.clv.customer_lifetime_value`` over
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
