"""The project file ``growthloop.toml`` and its pydantic models.

Errors name the key, the bad value and what is allowed, e.g.
``growthloop.toml: markets[2].currency = 'EURO': expected an ISO 4217 code such as USD, EUR``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from growthloop.errors import ConfigError
from growthloop.metrics.definitions import KPI
from growthloop.schema import CURRENCIES

__all__ = [
    "DEFAULT_TOML",
    "Channel",
    "Config",
    "Market",
    "Privacy",
    "load_config",
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
    pseudonymise: bool = True
    key_env: str = Field(default="GROWTHLOOP_PSEUDONYM_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$")
    min_group_size: int = Field(default=10, ge=1)


class Config(_Strict):
    """The whole project file."""

    reporting_currency: str = "USD"
    warehouse: str = ".growthloop/warehouse.duckdb"
    markets: list[Market] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    privacy: Privacy = Privacy()
    kpis: list[KPI] = Field(default_factory=list)

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


DEFAULT_TOML = """\
# growthloop project file. Every key is documented here; `growthloop init` wrote it.

# Currency every report converts money into, with the day's rate from fx_rates.
reporting_currency = "USD"

# The embedded DuckDB warehouse, relative to this file.
warehouse = ".growthloop/warehouse.duckdb"

# Privacy: identifiers of people are replaced at ingest by HMAC-SHA256(key, id).
# The key is read from the environment variable named by key_env and never stored.
[privacy]
pseudonymise = true
key_env = "GROWTHLOOP_PSEUDONYM_KEY"
# Groups smaller than this are suppressed in shared reports.
min_group_size = 10

# Markets: storefronts selling to one or more countries, each with its own currency.
# region is one of: South-East Asia, Europe, Latin America, North America, Other.
[[markets]]
code = "ID"
name = "Indonesia"
region = "South-East Asia"
currency = "IDR"

[[markets]]
code = "TH"
name = "Thailand"
region = "South-East Asia"
currency = "THB"

[[markets]]
code = "SG"
name = "Singapore"
region = "South-East Asia"
currency = "SGD"
countries = ["MY"]

[[markets]]
code = "DE"
name = "Germany"
region = "Europe"
currency = "EUR"
countries = ["AT", "CH"]

[[markets]]
code = "FR"
name = "France"
region = "Europe"
currency = "EUR"
countries = ["BE"]

[[markets]]
code = "BR"
name = "Brazil"
region = "Latin America"
currency = "BRL"

[[markets]]
code = "MX"
name = "Mexico"
region = "Latin America"
currency = "MXN"

[[markets]]
code = "US"
name = "United States"
region = "North America"
currency = "USD"
countries = ["CA"]

# Channels: kind is paid, owned, organic or referral; precise = true marks
# targeted traffic, counted by the precise-traffic-share KPI (plan target >= 45 %).
[[channels]]
name = "live_commerce"
label = "Live commerce"
kind = "paid"
precise = true

[[channels]]
name = "social_ads"
label = "Social ads"
kind = "paid"
precise = true

[[channels]]
name = "search_ads"
label = "Search ads"
kind = "paid"
precise = true

[[channels]]
name = "short_video"
label = "Short video and content"
kind = "owned"
precise = false

[[channels]]
name = "referral"
label = "Referral and social fission"
kind = "referral"
precise = false

[[channels]]
name = "email_crm"
label = "Email and CRM"
kind = "owned"
precise = true

[[channels]]
name = "organic"
label = "Organic and direct"
kind = "organic"
precise = false
"""


def default_config() -> Config:
    """The configuration ``growthloop init`` writes, parsed."""
    return parse_config(DEFAULT_TOML, "default growthloop.toml")
