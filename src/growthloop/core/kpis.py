"""How a KPI is declared: measures over a source, and the KPI built from them.

The same pydantic models read the built-in catalog and the ``[[kpis]]`` a user adds
to ``growthloop.toml``, so a user KPI has exactly the form of a built-in one::

    [[kpis]]
    name = "share_rate"
    description = "Sessions with a share / sessions."
    kind = "ratio"
    unit = "share"
    direction = "up"
    numerator = { source = "sessions", agg = "count", filter = { has_share = true } }
    denominator = { source = "sessions", agg = "count" }
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["KPI", "Filter", "Measure"]

Scalar = str | int | float | bool
Op = Literal["==", "!=", "<", "<=", ">", ">="]
Filter = dict[str, Scalar | list[Scalar] | dict[Op, Scalar]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measure(_Strict):
    """An aggregation over one source.

    ``agg`` is ``count`` (rows), ``count_distinct``, ``sum`` or ``mean`` of ``column``.
    ``filter`` keeps rows whose columns equal a value, are in a list, or compare
    (``{score = {">=" = 9}}``). ``cumulative`` turns a per-period count into the
    running total to the end of each period (``to_end``) or before its start
    (``before_start``), over all history.
    """

    source: str
    agg: Literal["count", "count_distinct", "sum", "mean"] = "count"
    column: str | None = None
    filter: Filter = Field(default_factory=dict)
    cumulative: Literal["to_end", "before_start"] | None = None

    @model_validator(mode="after")
    def _column_needed(self) -> Measure:
        if self.agg != "count" and not self.column:
            raise ValueError(f"agg = {self.agg!r} needs a column")
        if self.cumulative and self.agg not in ("count", "sum"):
            raise ValueError("cumulative measures must be a count or a sum")
        return self


class KPI(_Strict):
    """A KPI: a ratio of two measures, one measure, or the growth of another KPI.

    ``value = scale * numerator / denominator`` (ratio), ``scale * measure`` (value) or
    ``value(period) / value(previous period) - 1`` (growth, ``of`` names the KPI). A ratio
    KPI that reports a glossary number names its function (``glossary = "roi"``:
    ``growthloop.core.glossary.roi(numerator, denominator)``), so every route computes
    that number with the same function.
    ``maturity_days``: how long after a period its value keeps changing (a 30-day
    conversion window, returns arriving later); reviews do not judge younger periods.
    ``watch``: the daily alerts watch the KPI even when no goal names it
    (``growthloop.decide.alerts``).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    kind: Literal["ratio", "value", "growth"]
    unit: Literal["share", "ratio", "currency", "days", "count", "score", "growth"]
    direction: Literal["up", "down"]
    numerator: Measure | None = None
    denominator: Measure | None = None
    measure: Measure | None = None
    of: str | None = None
    scale: float = 1.0
    dimensions: list[str] | None = None
    formula: str = ""
    glossary: str | None = None
    maturity_days: int = Field(default=0, ge=0)
    watch: bool = False

    @model_validator(mode="after")
    def _shape(self) -> KPI:
        need = {"ratio": ("numerator", "denominator"), "value": ("measure",),
                "growth": ("of",)}[self.kind]
        for field in ("numerator", "denominator", "measure", "of"):
            given = getattr(self, field) is not None
            if field in need and not given:
                raise ValueError(f"kind = {self.kind!r} needs {field}")
            if field not in need and given:
                raise ValueError(f"kind = {self.kind!r} takes no {field}")
        if self.glossary is not None:
            from growthloop.core import glossary

            if self.kind != "ratio" or self.glossary not in glossary.__all__ or \
                    not self.glossary.islower():
                raise ValueError(f"glossary = {self.glossary!r}: expected the name of a "
                                 "growthloop.core.glossary function, on a ratio KPI")
        return self

    def evaluate(self, numerator: Any, denominator: Any) -> Any:
        """The ratio's value from its two measures (arrays or Ibis expressions)."""
        from growthloop.core import glossary

        combine = getattr(glossary, self.glossary or "ratio")
        value = combine(numerator, denominator)
        return value if self.scale == 1.0 else self.scale * value

    def measures(self) -> list[Measure]:
        return [m for m in (self.numerator, self.denominator, self.measure) if m is not None]
