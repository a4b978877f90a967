"""A/B experiments with a known true lift that really changes the treated units' behaviour.

- ``checkout_redesign``: users signing up in the window, 50/50; treatment multiplies the
  first-purchase conversion probability by (1 + lift).
- ``free_shipping_threshold``: users placing an order in the window (assigned at that
  first order), 50/50; treatment multiplies the value of their orders placed from the
  assignment to the window end by (1 + lift).
- ``winback_coupon``: customers with an order before the window, 50/50 at its start;
  treatment's effect differs by customer (``growthloop.simulate.winback``), each unit's
  true effect in ``truth_uplift.parquet``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["WINBACK", "Assignment", "Experiment", "assign_buyers", "assign_signups",
           "default_experiments", "registry_toml", "winback_experiment"]

#: What each simulated experiment is registered with: primary, secondary, guardrail
#: KPIs and its hypothesis.
REGISTRY = {
    "checkout_redesign": ("buyers", ["revenue"], ["average_order_value"],
                          "A one-page checkout turns more new users into buyers"),
    "free_shipping_threshold": ("revenue", ["average_order_value"], [],
                                "A lower free-shipping threshold raises what buyers spend"),
    "winback_coupon": ("buyers", ["revenue"], [],
                       "A win-back coupon brings lapsed customers back to buy"),
}
WINBACK = "winback_coupon"
_WINBACK_WINDOW = (0.78, 0.86)  # fractions of the horizon: after the free-shipping window


@dataclass(frozen=True)
class Experiment:
    name: str
    unit: str
    metric: str
    start_day: float
    end_day: float
    allocation: float  # share assigned to treatment
    lift: float  # true relative lift of the metric in treatment

    def truth(self) -> dict[str, object]:
        return {"unit": self.unit, "metric": self.metric, "window_days": [self.start_day,
                self.end_day], "allocation_treatment": self.allocation,
                "variants": ["control", "treatment"], "true_relative_lift": self.lift}


def default_experiments(days: int) -> tuple[Experiment, Experiment]:
    """Both experiments, their windows placed at fixed fractions of the horizon."""
    return (
        Experiment("checkout_redesign", "user (sign-up in window)",
                   "first-purchase conversion probability", round(0.25 * days), round(0.55 * days),
                   0.5, 0.12),
        Experiment("free_shipping_threshold", "user (ordering in window)",
                   "order value of orders placed from assignment to window end",
                   round(0.55 * days), round(0.75 * days), 0.5, 0.10),
    )


def winback_experiment(days: int, lift: float = math.nan) -> Experiment:
    """The win-back experiment of a ``days``-long world; ``lift`` its expected relative
    lift of the share of units buying in the window (known once the units are drawn)."""
    return Experiment(WINBACK, "customer (ordered before the window start)",
                      "probability of an order in the window",
                      round(_WINBACK_WINDOW[0] * days), round(_WINBACK_WINDOW[1] * days), 0.5,
                      lift)


@dataclass(frozen=True)
class Assignment:
    unit: np.ndarray  # user index
    treated: np.ndarray
    assigned_t: np.ndarray


def assign_signups(rng: np.random.Generator, exp: Experiment,
                   signup_t: np.ndarray) -> Assignment:
    """Users whose sign-up falls in the window, assigned at sign-up."""
    unit = np.flatnonzero((signup_t >= exp.start_day) & (signup_t < exp.end_day))
    treated = rng.random(len(unit)) < exp.allocation
    return Assignment(unit=unit, treated=treated, assigned_t=signup_t[unit])


def assign_buyers(rng: np.random.Generator, exp: Experiment, order_user: np.ndarray,
                  order_t: np.ndarray, n_users: int) -> tuple[Assignment, np.ndarray]:
    """Users ordering in the window, assigned at their first order there.

    Returns the assignment and each order's value multiplier.
    """
    in_window = (order_t >= exp.start_day) & (order_t < exp.end_day)
    first = np.full(n_users, np.inf)
    np.minimum.at(first, order_user[in_window], order_t[in_window])
    unit = np.flatnonzero(np.isfinite(first))
    treated = rng.random(len(unit)) < exp.allocation
    is_treated = np.zeros(n_users, bool)
    is_treated[unit[treated]] = True
    boosted = in_window & is_treated[order_user] & (order_t >= first[order_user])
    return (Assignment(unit=unit, treated=treated, assigned_t=first[unit]),
            np.where(boosted, 1.0 + exp.lift, 1.0))


def registry_toml(start: dt.date, days: int, *, winback: bool = False) -> str:
    """``[[experiments]]`` entries for the simulated experiments of a world that starts on
    ``start`` and lasts ``days`` (``winback``: with the win-back coupon): their windows,
    50/50 variants and catalog KPIs."""
    out = []
    for e in (*default_experiments(days), *((winback_experiment(days),) if winback else ())):
        primary, secondary, guardrails, hypothesis = REGISTRY[e.name]
        first = start + dt.timedelta(days=int(e.start_day))
        end = start + dt.timedelta(days=int(e.end_day) + 1)
        out.append("\n".join([
            "[[experiments]]", f'id = "{e.name}"', f'hypothesis = "{hypothesis}"',
            'owner = "growth"', f'primary = "{primary}"',
            f"secondary = {json.dumps(secondary)}", f"guardrails = {json.dumps(guardrails)}",
            f"start = {first.isoformat()}", f"end = {end.isoformat()}",
            'status = "concluded"', ""]))
    return "\n".join(out)
