"""Consent: which people a person-level output may include. The one rule, for every output.

The ``users`` table holds three consents per person (``consent_analytics``,
``consent_marketing``, ``consent_personalisation``). A *use* is a kind of person-level
output or model; ``USES`` says which consents it needs:

- ``journeys``: the touch paths of attribution (``growthloop.metrics.journeys``), a
  person-level model of behaviour: a person's sessions count only with **analytics**
  consent. Their orders stay (contract and accounting), so a conversion of a person
  without it has no path and is credited to no channel.
- ``scores``: the per-person CLV export (``growthloop clv scores``), meant for action and a
  prediction about the person: **marketing** and **personalisation** consent.
- ``tags``: the per-person tags export (``growthloop segments --out``: value tier from the
  predicted CLV, RFM, lifecycle), meant for action: **marketing** and **personalisation**.

A person without a ``users`` row, or with a consent that is false or empty, has not
consented: consent is never assumed (GDPR Art. 7(1): the controller must be able to show
it). Aggregates (KPIs, customer summaries, the models fitted on them) do not go through
this rule; docs/privacy.md says what is kept at aggregate level and why. Every caller
reports the count of people left out (``ConsentReport``), never silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.errors import InputError

__all__ = ["PURPOSES", "USES", "ConsentReport", "Use", "consent_report", "consented_rows",
           "consenting", "keep_consenting"]

#: The consents of the ``users`` table, by purpose (column ``consent_<purpose>``).
PURPOSES: tuple[str, ...] = ("analytics", "marketing", "personalisation")


@dataclass(frozen=True)
class Use:
    """A person-level output or model and the consents it needs."""

    name: str
    purposes: tuple[str, ...]
    description: str

    @property
    def columns(self) -> list[str]:
        return [f"consent_{p}" for p in self.purposes]


USES: dict[str, Use] = {u.name: u for u in (
    Use("journeys", ("analytics",),
        "attribution journeys (a person's sessions as touch paths)"),
    Use("scores", ("marketing", "personalisation"),
        "the per-person CLV scores export"),
    Use("tags", ("marketing", "personalisation"),
        "the per-person tags export"),
    Use("uplift", ("marketing", "personalisation"),
        "the per-person uplift scores export"),
    Use("audiences", ("marketing", "personalisation"),
        "audiences and lifecycle triggers (lists for messaging)"),
)}


def _use(name: str) -> Use:
    if name not in USES:
        raise InputError(f"unknown consent use {name!r}; expected one of {', '.join(USES)}")
    return USES[name]


@dataclass(frozen=True)
class ConsentReport:
    """How many people an output left out for lack of the consents of ``use``."""

    use: str
    people_left_out: int

    @property
    def purposes(self) -> tuple[str, ...]:
        return USES[self.use].purposes

    def message(self) -> str:
        """One line for stderr: ``3 people left out of ...: no marketing consent``."""
        n = self.people_left_out
        who = "1 person" if n == 1 else f"{n:,} people"
        return (f"{who} left out of {USES[self.use].description}: no "
                f"{' or '.join(self.purposes)} consent")

    def as_dict(self) -> dict[str, object]:
        """The JSON field: the use, the consents it needs and the people left out."""
        return {"use": self.use, "requires": USES[self.use].columns,
                "people_left_out": self.people_left_out}


def consenting(backend: BaseBackend, use: str) -> ir.Table:
    """``user_id`` of every user with all the consents ``use`` needs (an Ibis table)."""
    u = backend.table("users")
    preds = [u[c].fill_null(False) for c in _use(use).columns]
    return u.filter(*preds).select("user_id")


def keep_consenting(t: ir.Table, backend: BaseBackend, use: str, column: str = "user_id"
                    ) -> ir.Table:
    """The rows of ``t`` whose person (``column``) has the consents of ``use``."""
    ok = consenting(backend, use)
    return t.semi_join(ok, t[column] == ok.user_id)


def consent_report(t: ir.Table, backend: BaseBackend, use: str, column: str = "user_id"
                   ) -> ConsentReport:
    """The people of ``t`` (distinct non-empty ``column``) that ``keep_consenting`` drops."""
    ok = consenting(backend, use)
    people = t.filter(t[column].notnull())
    gone = people.anti_join(ok, people[column] == ok.user_id)
    return ConsentReport(use, int(gone[column].nunique().execute()))


def consented_rows(df: pd.DataFrame, backend: BaseBackend, use: str,
                   column: str = "user_id") -> tuple[pd.DataFrame, ConsentReport]:
    """The rows of a frame whose person has the consents of ``use``, and the report."""
    ids = set(consenting(backend, use).execute().user_id)
    keep = df[column].isin(ids)
    report = ConsentReport(use, int(df.loc[~keep, column].nunique()))
    return df[keep].reset_index(drop=True), report
