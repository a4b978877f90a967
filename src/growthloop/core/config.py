"""The project file ``growthloop.toml`` and its pydantic models.

Errors name the key, the bad value and what is allowed, e.g.
``growthloop.toml: markets[2].currency = 'EURO': expected an ISO 4217 code such as USD, EUR``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from growthloop.core.errors import ConfigError
from growthloop.core.kpis import KPI
from growthloop.core.schema import CURRENCIES

__all__ = [
    "BOUNDS",
    "DEFAULT_TOML",
    "FILTER_COLUMNS",
    "Audience",
    "Channel",
    "Condition",
    "Config",
    "Decomposition",
    "ExperimentSpec",
    "Goal",
    "Market",
    "Privacy",
    "RiskRules",
    "Selection",
    "Trigger",
    "default_config",
    "default_toml",
    "load_config",
    "parse_condition",
    "parse_config",
]

ChannelKind = Literal["paid", "owned", "organic", "referral"]
Region = Literal["South-East Asia", "Europe", "Latin America", "North America", "Other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _currency(v: str) -> str:
    if v not in CURRENCIES:
        raise ValueError("expected an ISO 4217 code such as USD, EUR, IDR (upper case)")
    return v


class Market(_Strict):
    """A storefront: its code (ISO 3166-1 alpha-2 of its home country), region and currency."""

    code: str = Field(pattern=r"^[A-Z]{2}$")
    name: str = Field(min_length=1)
    region: Region
    currency: str
    countries: list[str] = Field(
        default_factory=list,
        description="Countries served from this storefront besides its own.",
    )

    _cur = field_validator("currency")(classmethod(lambda cls, v: _currency(v)))

    @field_validator("countries")
    @classmethod
    def _countries(cls, v: list[str]) -> list[str]:
        for c in v:
            if not re.fullmatch(r"[A-Z]{2}", c):
                raise ValueError(f"expected ISO 3166-1 alpha-2 codes like 'MY', got {c!r}")
        return v


class Channel(_Strict):
    """A marketing channel; ``precise`` marks targeted traffic (the precise-traffic KPI)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: ChannelKind
    precise: bool = False
    label: str = ""


class Privacy(_Strict):
    """Pseudonymisation, small-cell suppression and the default of ``--share``.

    ``min_group_size``: in output meant to be shared, a cell built from fewer people is
    shown as suppressed (``growthloop.report.privacy.suppress``); ``share_by_default``:
    whether commands produce that shared view without ``--share`` (``--no-share`` then
    gives the analyst's own view). See docs/privacy.md.
    """

    pseudonymise: bool = True
    key_env: str = Field(default="GROWTHLOOP_PSEUDONYM_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$")
    min_group_size: int = Field(default=10, ge=1)
    share_by_default: bool = False


class Goal(_Strict):
    """A KPI goal for a period with the plan's three acceptance tiers.

    ``period`` is a year (``2026``), a quarter (``2026-Q2``) or a month (``2026-05``);
    ``slice`` restricts the KPI (``{market = "ID"}``); ``direction`` defaults to the KPI's.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kpi: str
    period: str = Field(pattern=r"^\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$")
    slice: dict[str, str] = Field(default_factory=dict)
    direction: Literal["up", "down"] | None = None
    base: float
    target: float
    challenge: float

    @model_validator(mode="after")
    def _ordered(self) -> Goal:
        tiers = [self.base, self.target, self.challenge]
        up, down = tiers == sorted(tiers), tiers == sorted(tiers, reverse=True)
        want = self.direction
        if (want == "up" and not up) or (want == "down" and not down) or not (up or down):
            raise ValueError(
                "tiers must satisfy base <= target <= challenge (direction up) or "
                "base >= target >= challenge (direction down)")
        return self

    @property
    def good_direction(self) -> str:
        """``up`` when higher is better: given, or read from the order of the tiers."""
        if self.direction:
            return self.direction
        return "down" if self.challenge < self.base else "up"


class Decomposition(_Strict):
    """How an annual new-user goal splits into quarters, markets and channels."""

    goal: str
    quarterly_growth: float = Field(default=0.08, ge=0, le=1)
    market_shares: dict[str, float]
    channel_shares: dict[str, float]

    @model_validator(mode="after")
    def _shares(self) -> Decomposition:
        for what, shares in (("market_shares", self.market_shares),
                             ("channel_shares", self.channel_shares)):
            total = sum(shares.values())
            if abs(total - 1) > 1e-6 or any(v < 0 for v in shares.values()):
                raise ValueError(f"{what} must be non-negative and sum to 1 (they sum to "
                                 f"{total:g})")
        return self


class ExperimentSpec(_Strict):
    """One experiment of the registry (``[[experiments]]``).

    ``variants`` maps each variant to its share of the units (summing to 1), ``control``
    naming the one the others are compared with; ``primary``, ``secondary`` and
    ``guardrails`` are catalog KPIs measured per unit (``growthloop.metrics.experiments``);
    ``end`` is the day after the last counted. ``salt`` (default the id) seeds the
    deterministic assignment (``growthloop.models.experiments.assign``). ``planned_units``
    is the sample size the sequential test is tuned for, ``looks`` how many times the
    results are read (default: once a day from start to end).
    """

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    hypothesis: str = ""
    owner: str = ""
    unit: Literal["user"] = "user"
    variants: dict[str, float] = Field(default_factory=lambda: {"control": 0.5,
                                                                "treatment": 0.5})
    control: str = "control"
    primary: str
    secondary: list[str] = Field(default_factory=list)
    guardrails: list[str] = Field(default_factory=list)
    markets: list[str] = Field(default_factory=list)
    start: dt.date
    end: dt.date
    status: Literal["planned", "running", "concluded"] = "running"
    salt: str | None = None
    planned_units: int | None = Field(default=None, ge=4)
    looks: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        total = sum(self.variants.values())
        if len(self.variants) < 2 or abs(total - 1) > 1e-6 or any(
                v <= 0 for v in self.variants.values()):
            raise ValueError(f"variants must be two or more shares > 0 summing to 1 (they "
                             f"sum to {total:g})")
        if self.control not in self.variants:
            raise ValueError(f"control = {self.control!r}: expected one of the variants "
                             f"({', '.join(self.variants)})")
        if self.end <= self.start:
            raise ValueError(f"end = {self.end} must come after start = {self.start}")
        return self

    @property
    def metrics(self) -> list[str]:
        """Primary, secondary and guardrail KPIs, each once, in that order."""
        return list(dict.fromkeys([self.primary, *self.secondary, *self.guardrails]))


#: Columns an audience or trigger may filter on (``where``): the table holding each and
#: its kind. ``category``: a value or a list of values (``{in = [...]}``, ``{not_in =
#: [...]}``); ``flag``: true or false; ``number``: a number (equal to) or bounds
#: (``BOUNDS``); ``uplift``: ``{experiment = "...", above = 0}``, the person's latest
#: uplift score for that experiment, within the bounds. ``clv`` is the tags' copy of the
#: score.
FILTER_COLUMNS: dict[str, tuple[str, str]] = {
    "value_tier": ("user_tags", "category"),
    "rfm_segment": ("user_tags", "category"),
    "lifecycle_stage": ("user_tags", "category"),
    "market": ("user_tags", "category"),
    "channel": ("user_tags", "category"),
    "high_value": ("user_tags", "flag"),
    "days_since_last": ("user_tags", "number"),
    "clv": ("user_tags", "number"),
    "orders": ("user_tags", "number"),
    "total_value": ("user_tags", "number"),
    "p_alive": ("customer_scores", "number"),
    "expected_purchases": ("customer_scores", "number"),
    "uplift": ("uplift_scores", "uplift"),
}
#: Bounds of a number: ``min`` (>=), ``max`` (<=), ``above`` (>), ``below`` (<).
BOUNDS: tuple[str, ...] = ("min", "max", "above", "below")
_SET_OPS: tuple[str, ...] = ("in", "not_in")


class Condition(_Strict):
    """One parsed ``where`` entry: ``field`` and what its value must be.

    A category needs ``values`` (one of) and/or not ``exclude``; a flag equals ``flag``; a
    number equals ``equals`` or lies within the bounds; an uplift condition names its
    ``experiment`` and bounds the uplift.
    """

    field: str
    values: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    flag: bool | None = None
    equals: float | None = None
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    experiment: str | None = None

    @property
    def table(self) -> str:
        return FILTER_COLUMNS[self.field][0]

    @property
    def kind(self) -> str:
        return FILTER_COLUMNS[self.field][1]

    def describe(self) -> str:
        """What the value must be, in words: ``vip or high``, ``at least 60``."""
        parts: list[str] = []
        if self.values:
            parts.append(" or ".join(self.values))
        if self.exclude:
            parts.append("not " + " or ".join(self.exclude))
        if self.flag is not None:
            parts.append(str(self.flag).lower())
        if self.equals is not None:
            parts.append(f"{self.equals:g}")
        for word, v in (("at least", self.min), ("at most", self.max),
                        ("above", self.above), ("below", self.below)):
            if v is not None:
                parts.append(f"{word} {v:g}")
        text = ", ".join(parts)
        return f"{text} for experiment {self.experiment}" if self.experiment else text


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _texts(owner: str, field: str, v: Any) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items or not all(
            isinstance(i, str) and i for i in items):
        raise ValueError(f"{owner}: where.{field} = {v!r}: expected a value or a non-empty "
                         "list of values")
    return tuple(items)


def _bounds(owner: str, field: str, raw: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for op in BOUNDS:
        if op in raw:
            if not _is_number(raw[op]):
                raise ValueError(f"{owner}: where.{field}.{op} = {raw[op]!r}: expected a "
                                 "number")
            out[op] = float(raw[op])
    if not out:
        raise ValueError(f"{owner}: where.{field} = {raw!r}: expected at least one bound of "
                         f"{', '.join(BOUNDS)}")
    low = max((out[k] for k in ("min", "above") if k in out), default=None)
    high = min((out[k] for k in ("max", "below") if k in out), default=None)
    if low is not None and high is not None and (
            low > high or (low == high and ("above" in out or "below" in out))):
        raise ValueError(f"{owner}: where.{field} = {raw!r}: the bounds leave no value")
    return out


def parse_condition(owner: str, field: str, raw: Any) -> Condition:
    """One ``where`` entry of ``owner`` (``audience 'x'``) as a ``Condition``; ValueError
    naming the owner, the field, the value and what is allowed."""
    if "consent" in field.lower():
        raise ValueError(f"{owner}: where.{field} = {raw!r}: marketing consent is always "
                         "applied and cannot be filtered on or turned off")
    if field not in FILTER_COLUMNS:
        raise ValueError(f"{owner}: where.{field} = {raw!r}: unknown column; expected one "
                         f"of {', '.join(FILTER_COLUMNS)}")
    kind = FILTER_COLUMNS[field][1]
    allowed = {"category": _SET_OPS, "number": BOUNDS, "uplift": ("experiment", *BOUNDS)}
    if isinstance(raw, dict) and kind in allowed:
        for op in raw:
            if op not in allowed[kind]:
                raise ValueError(f"{owner}: where.{field}.{op} = {raw[op]!r}: unknown "
                                 f"operator; expected one of {', '.join(allowed[kind])}")
    if kind == "category":
        if isinstance(raw, dict):
            if not raw:
                raise ValueError(f"{owner}: where.{field} = {{}}: expected in or not_in")
            return Condition(
                field=field, values=_texts(owner, f"{field}.in", raw["in"]) if "in" in raw
                else (), exclude=_texts(owner, f"{field}.not_in", raw["not_in"])
                if "not_in" in raw else ())
        return Condition(field=field, values=_texts(owner, field, raw))
    if kind == "flag":
        if not isinstance(raw, bool):
            raise ValueError(f"{owner}: where.{field} = {raw!r}: expected true or false")
        return Condition(field=field, flag=raw)
    if kind == "number":
        if _is_number(raw):
            return Condition(field=field, equals=float(raw))
        if not isinstance(raw, dict):
            raise ValueError(f"{owner}: where.{field} = {raw!r}: expected a number or bounds "
                             f"({{min = ...}}; {', '.join(BOUNDS)})")
        return Condition(field=field, **_bounds(owner, field, raw))
    if not isinstance(raw, dict) or not isinstance(raw.get("experiment"), str) or not raw[
            "experiment"]:
        raise ValueError(f"{owner}: where.{field} = {raw!r}: expected {{experiment = "
                         "\"<id>\", above = 0} (an experiment id and bounds)")
    rest = {k: v for k, v in raw.items() if k != "experiment"}
    return Condition(field=field, experiment=raw["experiment"],
                     **_bounds(owner, field, rest))


class Selection(_Strict):
    """People chosen by their tags, scores and uplift: the common part of an audience and
    a lifecycle trigger. ``where`` maps a column (``FILTER_COLUMNS``) to its condition;
    ``markets`` keeps those markets only (empty: every market). Marketing consent is
    always applied on top (``growthloop.decide.audiences``): no key turns it off.
    """

    kind: ClassVar[str] = "selection"

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    where: dict[str, Any] = Field(default_factory=dict)
    markets: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _consent_stays(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if "consent" in str(key).lower():
                    raise ValueError(
                        f"{cls.kind} {data.get('name')!r}: {key} = {value!r}: marketing "
                        f"consent is always applied to {cls.kind}s and cannot be turned off")
        return data

    @model_validator(mode="after")
    def _where(self) -> Selection:
        self.conditions  # noqa: B018 - parses every entry, raising on the first bad one
        return self

    @property
    def owner(self) -> str:
        """How errors name it: ``audience 'dormant_vip'``."""
        return f"{self.kind} {self.name!r}"

    @property
    def conditions(self) -> tuple[Condition, ...]:
        """``where`` parsed, in the order written, then ``markets`` as a market filter."""
        out = [parse_condition(self.owner, f, v) for f, v in self.where.items()]
        if self.markets:
            out.append(Condition(field="market", values=tuple(self.markets)))
        return tuple(out)

    def definition(self) -> str:
        """The selection as canonical JSON (what a built version records)."""
        return json.dumps({"where": self.where, "markets": self.markets}, sort_keys=True)


class Audience(Selection):
    """A named audience (``[[audiences]]``), materialised by ``growthloop audiences build``
    and exported (people with marketing consent only, refused below the privacy group
    size)."""

    kind: ClassVar[str] = "audience"


class Trigger(Selection):
    """A lifecycle trigger (``[[triggers]]``): who enters and leaves it is recorded at each
    ``growthloop triggers run``; one of the built-in name replaces it, ``enabled = false``
    switches it off."""

    kind: ClassVar[str] = "trigger"

    enabled: bool = True


class RiskRules(_Strict):
    """Thresholds of the plan's risk monitors (``growthloop.decide.risks``).

    Trends are per week over the last ``trend_weeks`` complete weeks; money is in the
    reporting currency. ``cac_ceiling`` (None: trend only) caps the cost per new
    customer; a return rate above ``return_rate_ceiling`` or ``return_rate_rise`` x its
    level before alerts; fulfilment alerts when it takes ``fulfilment_days`` more than
    before; high-value churn warns above ``high_value_churn_warn`` and alerts above
    ``high_value_churn_alert`` (the plan's 8 % and 15 %); a festival whose lift fell by
    ``festival_lift_drop`` of last year's alerts.
    """

    trend_weeks: int = Field(default=8, ge=4)
    cac_ceiling: float | None = Field(default=None, gt=0)
    cac_trend: float = Field(default=0.03, gt=0)
    aov_trend: float = Field(default=-0.02, lt=0)
    return_rate_ceiling: float = Field(default=0.3, gt=0, le=1)
    return_rate_rise: float = Field(default=1.5, gt=1)
    fulfilment_days: float = Field(default=1.0, gt=0)
    high_value_churn_warn: float = Field(default=0.08, gt=0, lt=1)
    high_value_churn_alert: float = Field(default=0.15, gt=0, lt=1)
    festival_lift_drop: float = Field(default=0.5, gt=0, le=1)


class Config(_Strict):
    """The whole project file."""

    reporting_currency: str = "USD"
    warehouse: str = ".growthloop/warehouse.duckdb"
    markets: list[Market] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    privacy: Privacy = Privacy()
    kpis: list[KPI] = Field(default_factory=list)
    goals: list[Goal] = Field(default_factory=list)
    decomposition: Decomposition | None = None
    experiments: list[ExperimentSpec] = Field(default_factory=list)
    audiences: list[Audience] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)
    missing_fx: Literal["error", "skip"] = "error"
    risks: RiskRules = RiskRules()

    _cur = field_validator("reporting_currency")(classmethod(lambda cls, v: _currency(v)))

    @model_validator(mode="after")
    def _unique(self) -> Config:
        for what, names in (("markets", [m.code for m in self.markets]),
                            ("channels", [c.name for c in self.channels])):
            seen: set[str] = set()
            for i, n in enumerate(names):
                if n in seen:
                    key = "code" if what == "markets" else "name"
                    raise ValueError(f"{what}[{i}].{key} = {n!r} is a duplicate")
                seen.add(n)
        return self

    @model_validator(mode="after")
    def _experiments(self) -> Config:
        ids = [e.id for e in self.experiments]
        for i, e in enumerate(self.experiments):
            if e.id in ids[:i]:
                raise ValueError(f"experiments[{i}].id = {e.id!r} is a duplicate")
            for m in e.markets:
                if m not in self.market_codes:
                    raise ValueError(f"experiments[{i}].markets: {m!r} is not a configured "
                                     f"market; expected {', '.join(self.market_codes)}")
        return self

    @model_validator(mode="after")
    def _selections(self) -> Config:
        channels = [*self.channel_names, "unknown"]
        for what, items in (("audiences", self.audiences), ("triggers", self.triggers)):
            names = [a.name for a in items]
            for i, a in enumerate(items):
                if a.name in names[:i]:
                    raise ValueError(f"{what}[{i}].name = {a.name!r} is a duplicate")
                for m in a.markets:
                    if m not in self.market_codes:
                        raise ValueError(f"{what}[{i}].markets: {m!r} is not a configured "
                                         f"market; expected {', '.join(self.market_codes)}")
                for c in a.conditions:
                    known = {"market": self.market_codes, "channel": channels}.get(c.field)
                    for v in (*c.values, *c.exclude) if known else ():
                        if v not in known:
                            raise ValueError(
                                f"{what}[{i}]: {a.owner}: where.{c.field} = {v!r}: expected "
                                f"one of {', '.join(known)}")
        return self

    def audience(self, name: str) -> Audience:
        """The audience ``name``; ConfigError naming those configured."""
        for a in self.audiences:
            if a.name == name:
                return a
        have = ", ".join(a.name for a in self.audiences) or "none configured"
        raise ConfigError(f"audience {name!r} is not configured ([[audiences]] in "
                          f"growthloop.toml: {have})")

    def experiment(self, experiment_id: str) -> ExperimentSpec:
        """The registry's experiment ``experiment_id``; ConfigError naming those there are."""
        for e in self.experiments:
            if e.id == experiment_id:
                return e
        have = ", ".join(e.id for e in self.experiments) or "none registered"
        raise ConfigError(f"experiment {experiment_id!r} is not in the registry "
                          f"([[experiments]] in growthloop.toml: {have})")

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [g.name for g in self.goals]
        for i, g in enumerate(self.goals):
            if g.name in names[:i]:
                raise ValueError(f"goals[{i}].name = {g.name!r} is a duplicate")
            for dim, value in g.slice.items():
                if dim == "market" and value not in self.market_codes:
                    raise ValueError(f"goals[{i}].slice.market = {value!r}: expected one of "
                                     f"{', '.join(self.market_codes)}")
                if dim == "channel" and value not in self.channel_names:
                    raise ValueError(f"goals[{i}].slice.channel = {value!r}: expected one of "
                                     f"{', '.join(self.channel_names)}")
        d = self.decomposition
        if d is not None:
            if d.goal not in names:
                raise ValueError(f"decomposition.goal = {d.goal!r}: expected one of the goals "
                                 f"({', '.join(names) or 'none defined'})")
            for m in d.market_shares:
                if m not in self.market_codes:
                    raise ValueError(f"decomposition.market_shares.{m}: not a configured "
                                     f"market; expected {', '.join(self.market_codes)}")
            for c in d.channel_shares:
                if c not in self.channel_names:
                    raise ValueError(f"decomposition.channel_shares.{c}: not a configured "
                                     f"channel; expected {', '.join(self.channel_names)}")
        return self

    @property
    def market_codes(self) -> list[str]:
        return [m.code for m in self.markets]

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.channels]

    def market(self, code: str) -> Market:
        return next(m for m in self.markets if m.code == code)

    def channel(self, name: str) -> Channel:
        return next(c for c in self.channels if c.name == name)

    def warehouse_path(self, root: Path) -> Path:
        p = Path(self.warehouse)
        return p if p.is_absolute() else root / p


def _format_error(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ""
        for part in e["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key {loc!r}")
            continue
        if e["type"] == "missing":
            lines.append(f"{source}: {loc} is missing")
            continue
        if e["type"] == "literal_error":
            msg = "expected " + msg.removeprefix("Input should be ")
        elif e["type"] == "string_pattern_mismatch":
            msg = "expected a value matching " + msg.removeprefix("String should match pattern ")
        msg = msg.replace("Input should be ", "expected ")
        value = e.get("input")
        if not loc:
            lines.append(f"{source}: {msg}")
        elif isinstance(value, dict | list):
            lines.append(f"{source}: {loc}: {msg}")
        else:
            lines.append(f"{source}: {loc} = {value!r}: {msg}")
    return "\n".join(lines)


def parse_config(text: str, source: str = "growthloop.toml") -> Config:
    """Parse the text of a project file; raise ``ConfigError`` naming key, value and rule."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_error(source, e)) from None


def load_config(path: Path | str = "growthloop.toml") -> Config:
    """Read and validate a project file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such project file; run `growthloop init` to write one")
    return parse_config(path.read_text(encoding="utf-8"), str(path))


# The default project file: a commented template (package data) whose goals section
# starts at _GOALS_START. string.Template fills in ${year} and the new-user goal sizes;
# ${example} is "# " to leave the new-user goal and its decomposition commented out.
_TEMPLATE = resources.files("growthloop.core").joinpath("growthloop.toml").read_text(
    encoding="utf-8")
_GOALS_START = "\n# Goals:"
_DEFAULT_NEW_USERS = (4_500_000, 5_000_000, 5_500_000)

# The default project file without its goals (markets, channels, privacy).
DEFAULT_TOML = Template(_TEMPLATE.partition(_GOALS_START)[0]).substitute()


def default_toml(year: int, new_users: tuple[float, float, float] | None = None) -> str:
    """A complete default project file with the plan's KPI goals for ``year``.

    ``new_users`` (base, target, challenge) adds an annual new-user goal and its
    decomposition into quarters (+8 % each), markets and channels; without it they are
    left as a commented example, since their size depends on the platform.
    """
    base, target, challenge = new_users or _DEFAULT_NEW_USERS
    return Template(_TEMPLATE).substitute(
        year=year, example="# " if new_users is None else "", new_users_base=f"{base:g}",
        new_users_target=f"{target:g}", new_users_challenge=f"{challenge:g}")


def default_config() -> Config:
    """The configuration ``growthloop init`` writes (less its goals), parsed."""
    return parse_config(DEFAULT_TOML, "default growthloop.toml")
