"""Canonical tables: columns, types, validation rules and natural keys.

This module is the one place that says what a valid row of each table is.
Ingest compiles these rules to SQL, the simulator writes these columns, the
warehouse creates these tables and ``docs/data-model.md`` is generated from
them (``growthloop.core.schema.data_model_markdown``).

Timestamps are stored in UTC without a zone; money is stored in its original
currency (ISO 4217) and converted to the reporting currency with the day's FX
rate (``growthloop.core.money``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

__all__ = [
    "CURRENCIES",
    "DEVICES",
    "ERASED",
    "EVENT_TYPES",
    "ORDER_STATUSES",
    "REFERRAL_MECHANISMS",
    "TABLES",
    "Check",
    "Column",
    "Table",
    "arrow_schema",
    "data_model_markdown",
    "erasure_rule",
    "table",
]

# ISO 4217 active currency codes.
CURRENCIES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)

EVENT_TYPES: tuple[str, ...] = (
    "session_start",
    "page_view",
    "product_view",
    "add_to_cart",
    "checkout",
    "purchase",
    "refund",
    "content_view",
    "content_complete",
    "live_interaction",
    "share",
)
ORDER_STATUSES: tuple[str, ...] = (
    "placed",
    "paid",
    "shipped",
    "delivered",
    "returned",
    "cancelled",
)
REFERRAL_MECHANISMS: tuple[str, ...] = ("share", "group_buy", "points")
DEVICES: tuple[str, ...] = ("app", "mobile_web", "desktop", "tablet", "other")

# Values that come from the project file rather than from this module.
MARKET = "market"  # a configured market code
CHANNEL = "channel"  # a configured channel name
CURRENCY = "currency"  # an ISO 4217 code
COUNTRY = "country"  # two upper-case letters (ISO 3166-1 alpha-2)

#: Tombstone written by erasure into a required link column (``Column.link``) that pointed
#: at the erased person, e.g. ``referrals.inviter_id``; a nullable one becomes NULL instead.
#: It is not a pseudonym (those are 64 hex digits) and no person can be erased by it.
ERASED = "(erased)"

_ARROW = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "JSON": pa.string(),
}


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    ``allowed`` is either a tuple of literal values or one of the names
    ``market``, ``channel``, ``currency``, ``country`` resolved against the
    project configuration. ``personal`` marks identifiers of a person, which
    are pseudonymised at ingest and matched by erasure.

    A personal column either says whose row it is (an *owner* column) or, with
    ``link``, points at another person than the row's owner (a *link*, e.g.
    ``users.referrer_id``). Erasing a person removes the rows they own and unlinks
    them from everyone else's rows: a link (or a later owner column, see
    ``Table.owner_columns``) holding the person's identifier becomes NULL where the
    column is nullable, else ``ERASED``. A link never makes erasure remove a row.
    """

    name: str
    dtype: str
    required: bool
    description: str
    allowed: tuple[str, ...] | str | None = None
    minimum: float | None = None
    maximum: float | None = None
    personal: bool = False
    link: bool = False

    def __post_init__(self) -> None:
        if self.link and not self.personal:
            raise ValueError(f"column {self.name!r}: a link must be personal")

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.dtype]

    @property
    def sql_type(self) -> str:
        return "VARCHAR" if self.dtype == "JSON" else self.dtype


@dataclass(frozen=True)
class Check:
    """A rule across columns: ``bad`` is a SQL condition true for an invalid row."""

    bad: str
    reason: str


@dataclass(frozen=True)
class Table:
    """One canonical table.

    Whose row it is, for erasure: a row belongs to the person in its first non-empty
    owner column (``owner_columns``, in column order), e.g. an event to its
    ``user_id``, or to its ``anonymous_id`` when the user is not logged in. The values
    of the later owner columns on a person's own rows are that person's identifiers
    too (the anonymous ids they used), so their rows go as well, and such a value in
    someone else's row is unlinked. A table without owner columns but with links
    (``referrals``) holds relationships, not anyone's rows: erasure only unlinks.
    ``erasure_rule`` says it in words for ``docs/data-model.md``.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def personal_columns(self) -> list[str]:
        """Every column holding a person's identifier (owner columns and links)."""
        return [c.name for c in self.columns if c.personal]

    @property
    def owner_columns(self) -> list[str]:
        """The personal columns that say whose row it is, first the one that decides."""
        return [c.name for c in self.columns if c.personal and not c.link]

    @property
    def link_columns(self) -> list[str]:
        """The personal columns that point at another person (``Column.link``)."""
        return [c.name for c in self.columns if c.link]


C = Column
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "users",
            "One row per registered user (customer).",
            (
                C("user_id", "VARCHAR", True, "User identifier (pseudonymised at ingest).",
                  personal=True),
                C("signup_ts", "TIMESTAMP", True, "Registration time, UTC."),
                C("market", "VARCHAR", True, "Storefront market code the user signed up in.",
                  allowed=MARKET),
                C("country", "VARCHAR", True, "Country of residence, ISO 3166-1 alpha-2.",
                  allowed=COUNTRY),
                C("acquisition_channel", "VARCHAR", True,
                  "Channel of the touch that brought the sign-up.", allowed=CHANNEL),
                C("acquisition_campaign", "VARCHAR", False,
                  "Campaign of that touch, if any."),
                C("referrer_id", "VARCHAR", False,
                  "User who invited this user (referral sign-ups), pseudonymised; a link:"
                  " empty once that user is erased.",
                  personal=True, link=True),
                C("consent_analytics", "BOOLEAN", True,
                  "Consent to behavioural analytics: without it the user's sessions are"
                  " left out of attribution journeys (docs/privacy.md)."),
                C("consent_marketing", "BOOLEAN", True,
                  "Consent to marketing contact and targeted audiences: without it the"
                  " user is in no export of people's scores or tags."),
                C("consent_personalisation", "BOOLEAN", True,
                  "Consent to personalised recommendations: without it no prediction"
                  " about the user (CLV score, value tier) is exported."),
            ),
            key=("user_id",),
            checks=(Check("referrer_id = user_id", "referrer_id equals user_id"),),
        ),
        Table(
            "events",
            "Behaviour events from web, app and social touch points.",
            (
                C("event_id", "VARCHAR", True, "Unique event identifier."),
                C("user_id", "VARCHAR", False,
                  "Logged-in user, pseudonymised; empty for anonymous traffic. Whose event"
                  " it is.", personal=True),
                C("anonymous_id", "VARCHAR", False,
                  "Device or cookie identifier, pseudonymised. Whose event it is when"
                  " user_id is empty.", personal=True),
                C("session_id", "VARCHAR", True, "Session the event belongs to."),
                C("event_ts", "TIMESTAMP", True, "Event time, UTC."),
                C("event_type", "VARCHAR", True, "What happened.", allowed=EVENT_TYPES),
                C("market", "VARCHAR", True, "Storefront market code.", allowed=MARKET),
                C("channel", "VARCHAR", False,
                  "Channel of the touch that started the session.", allowed=CHANNEL),
                C("campaign", "VARCHAR", False, "Campaign of that touch."),
                C("device", "VARCHAR", False, "Device class.", allowed=DEVICES),
                C("product_id", "VARCHAR", False, "Product viewed, carted or bought."),
                C("value", "DOUBLE", False,
                  "Money value of the event (cart, purchase or refund amount).", minimum=0),
                C("currency", "VARCHAR", False, "ISO 4217 currency of value.",
                  allowed=CURRENCY),
                C("properties", "JSON", False, "Free-form JSON object of extra properties."),
            ),
            key=("event_id",),
            checks=(
                Check("user_id IS NULL AND anonymous_id IS NULL",
                      "neither user_id nor anonymous_id is given"),
                Check("value IS NOT NULL AND currency IS NULL",
                      "value is given without a currency"),
            ),
        ),
        Table(
            "orders",
            "One row per order, amount in the order's own currency.",
            (
                C("order_id", "VARCHAR", True, "Unique order identifier."),
                C("user_id", "VARCHAR", True, "Buyer, pseudonymised.", personal=True),
                C("order_ts", "TIMESTAMP", True, "Time the order was placed, UTC."),
                C("market", "VARCHAR", True, "Storefront market code.", allowed=MARKET),
                C("currency", "VARCHAR", True, "ISO 4217 currency of amount.",
                  allowed=CURRENCY),
                C("amount", "DOUBLE", True, "Order value in currency, after discounts.",
                  minimum=0),
                C("status", "VARCHAR", True, "Latest order status.", allowed=ORDER_STATUSES),
                C("delivered_ts", "TIMESTAMP", False,
                  "Delivery time, UTC; empty until delivered."),
            ),
            key=("order_id",),
            checks=(Check("delivered_ts < order_ts", "delivered_ts is before order_ts"),),
        ),
        Table(
            "ad_spend",
            "Daily media spend per market, channel and campaign.",
            (
                C("date", "DATE", True, "Day of the spend."),
                C("market", "VARCHAR", True, "Market code.", allowed=MARKET),
                C("channel", "VARCHAR", True, "Channel name.", allowed=CHANNEL),
                C("campaign", "VARCHAR", True, "Campaign name."),
                C("spend", "DOUBLE", True, "Spend in currency.", minimum=0),
                C("currency", "VARCHAR", True, "ISO 4217 currency of spend.",
                  allowed=CURRENCY),
                C("impressions", "BIGINT", False, "Ad impressions served.", minimum=0),
                C("clicks", "BIGINT", False, "Ad clicks.", minimum=0),
            ),
            key=("date", "market", "channel", "campaign"),
            checks=(Check("clicks > impressions", "clicks exceed impressions"),),
        ),
        Table(
            "referrals",
            "Successful invitations: an existing user brought a new user. A row is the"
            " relationship of two people, not either one's: erasing one of them keeps it"
            " with that side tombstoned (both sides once both are erased), so everyone"
            " else's invitations sent and received still count.",
            (
                C("inviter_id", "VARCHAR", True,
                  f"Inviting user, pseudonymised; a link: `{ERASED}` once that user is erased.",
                  personal=True, link=True),
                C("invitee_id", "VARCHAR", True,
                  f"Invited user, pseudonymised; a link: `{ERASED}` once that user is erased.",
                  personal=True, link=True),
                C("referral_ts", "TIMESTAMP", True, "Time the invitee signed up, UTC."),
                C("mechanism", "VARCHAR", True, "Referral mechanism.",
                  allowed=REFERRAL_MECHANISMS),
            ),
            key=("inviter_id", "invitee_id"),
            checks=(Check("inviter_id = invitee_id", "inviter_id equals invitee_id"),),
        ),
        Table(
            "surveys",
            "Survey answers; NPS asks 'how likely are you to recommend us' on 0-10.",
            (
                C("response_id", "VARCHAR", True, "Unique response identifier."),
                C("user_id", "VARCHAR", True, "Respondent, pseudonymised.", personal=True),
                C("response_ts", "TIMESTAMP", True, "Time of the answer, UTC."),
                C("market", "VARCHAR", True, "Market code.", allowed=MARKET),
                C("survey", "VARCHAR", True, "Survey name, 'nps' for Net Promoter Score."),
                C("score", "INTEGER", True, "Answer on the 0-10 scale.", minimum=0,
                  maximum=10),
            ),
            key=("response_id",),
        ),
        Table(
            "experiment_assignments",
            "Which variant of which experiment each unit was assigned to.",
            (
                C("experiment_id", "VARCHAR", True, "Experiment name."),
                C("unit_id", "VARCHAR", True, "Assigned unit (a user), pseudonymised.",
                  personal=True),
                C("variant", "VARCHAR", True, "Variant name, e.g. control or treatment."),
                C("assigned_ts", "TIMESTAMP", True, "Time of first exposure, UTC."),
            ),
            key=("experiment_id", "unit_id"),
        ),
        Table(
            "identities",
            "Links of a device's anonymous id to a user (Segment identify and alias calls),"
            " so a person's browsing on every device joins their profile.",
            (
                C("link_id", "VARCHAR", True, "The identify or alias message's id."),
                C("user_id", "VARCHAR", True, "The user, pseudonymised.", personal=True),
                C("anonymous_id", "VARCHAR", True,
                  "The anonymous id linked to the user (an alias's previousId),"
                  " pseudonymised.", personal=True),
                C("linked_ts", "TIMESTAMP", True, "When the link was made, UTC."),
                C("source", "VARCHAR", True, "The call that made it.",
                  allowed=("identify", "alias")),
            ),
            key=("link_id",),
        ),
        Table(
            "fx_rates",
            "Daily exchange rates into the reporting currency.",
            (
                C("date", "DATE", True, "Day the rate applies to."),
                C("currency", "VARCHAR", True, "ISO 4217 currency converted from.",
                  allowed=CURRENCY),
                C("rate", "DOUBLE", True,
                  "Units of reporting currency per one unit of currency.", minimum=0),
            ),
            key=("date", "currency"),
            checks=(Check("rate = 0", "rate is zero"),),
        ),
    )
}
del C


def table(name: str) -> Table:
    """Return the canonical table called ``name`` or raise a ``KeyError`` listing them."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(
            f"unknown table {name!r}; expected one of: {', '.join(TABLES)}"
        ) from None


def arrow_schema(name: str) -> pa.Schema:
    """Arrow schema of a canonical table, in column order."""
    return pa.schema(
        [pa.field(c.name, c.arrow_type, nullable=not c.required) for c in table(name).columns]
    )


def _rule_text(c: Column) -> str:
    rules = []
    if c.allowed == MARKET:
        rules.append("a configured market code")
    elif c.allowed == CHANNEL:
        rules.append("a configured channel name")
    elif c.allowed == CURRENCY:
        rules.append("ISO 4217 code")
    elif c.allowed == COUNTRY:
        rules.append("ISO 3166-1 alpha-2 code")
    elif isinstance(c.allowed, tuple):
        rules.append("one of " + ", ".join(f"`{v}`" for v in c.allowed))
    if c.minimum is not None:
        rules.append(f">= {c.minimum:g}")
    if c.maximum is not None:
        rules.append(f"<= {c.maximum:g}")
    if c.dtype == "TIMESTAMP" or c.dtype == "DATE":
        rules.append("between 2000-01-01 and tomorrow")
    if c.dtype == "JSON":
        rules.append("a JSON object")
    if c.personal:
        rules.append("pseudonymised")
    if c.link:
        rules.append("link (erasure: " + ("NULL" if not c.required else f"`{ERASED}`") + ")")
    return "; ".join(rules)


def _names(cols: list[str]) -> str:
    quoted = [f"`{c}`" for c in cols]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def erasure_rule(t: Table) -> str:
    """What erasing a person does to table ``t``, in words (from its owner and link columns)."""
    owners, links = t.owner_columns, t.link_columns
    if not owners and not links:
        return "Erasure: no column holds a person's identifier; erasure leaves the table as it is."
    if owners:
        first, *later = owners
        text = f"Erasure: a row belongs to the person in `{first}`"
        text += "".join(f", or, where that is empty, to the one in `{c}`" for c in later)
        text += "; erasing the person removes it."
        if later:
            text += (f" The {_names(later)} values on a person's own rows are the person's"
                     " too: erasing them also removes the rows of those values and empties"
                     " such a value in someone else's row.")
    else:
        text = ("Erasure: no column says whose row it is; a row belongs to the relationship,"
                " and erasing a person never removes it.")
    for required in (False, True):
        cols = [c for c in links if t.column(c).required == required]
        if cols:
            to = f"`{ERASED}`" if required else "empty (NULL)"
            text += (f" {_names(cols)} {'is a link' if len(cols) == 1 else 'are links'} to"
                     f" another person: erasing that person sets it to {to}.")
    return text


def data_model_markdown() -> str:
    """The column-by-column reference of every table, as written to docs/data-model.md."""
    out = [
        "# Data model",
        "",
        "Generated from `src/growthloop/schema.py` by `growthloop schema --markdown`;"
        " a test keeps this file equal to it.",
        "",
        "Timestamps are UTC. Money keeps its original amount and ISO 4217 currency;"
        " reports convert it with the day's rate in `fx_rates`"
        " (the latest rate on or before the day, at most 7 days old).",
        "Identifiers marked *pseudonymised* are replaced at ingest by"
        " HMAC-SHA256(key, id) in hex when pseudonymisation is on;"
        " the key comes from an environment variable and is never stored.",
        "Rows that break a rule go to the `quarantine` table with the file, the row"
        " number and the reason; the rest of the file loads.",
        "`growthloop erase` removes every row that belongs to the person (see *Erasure* under"
        " each table), and unlinks them from other people's rows without removing those:"
        " a *link* column holding the person becomes empty where it may be, else the"
        f" tombstone `{ERASED}`. All of it happens in one transaction.",
        "",
    ]
    for t in TABLES.values():
        out += [f"## `{t.name}`", "", t.description, "",
                f"Natural key: {', '.join(f'`{k}`' for k in t.key)} (re-loading a row with"
                " a key already present adds nothing).", "",
                "| column | type | required | meaning | rule |",
                "| --- | --- | --- | --- | --- |"]
        for c in t.columns:
            out.append(
                f"| `{c.name}` | {c.dtype} | {'yes' if c.required else 'no'} |"
                f" {c.description} | {_rule_text(c)} |"
            )
        if t.checks:
            out += ["", "Rows are also rejected when: "
                    + "; ".join(ch.reason for ch in t.checks) + "."]
        out += ["", erasure_rule(t)]
        out.append("")
    out += [
        "## `quarantine`",
        "",
        "Rows that failed validation, kept so nothing is silently lost.",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
        "| `table_name` | VARCHAR | Canonical table the row was meant for. |",
        "| `file` | VARCHAR | Source file path. |",
        "| `row_number` | BIGINT | 1-based data row in the file (CSV: header excluded). |",
        "| `reason` | VARCHAR | Every rule the row broke, separated by `; `. |",
        "| `record` | VARCHAR | The row as JSON, identifiers pseudonymised. |",
        "| `person_ids` | VARCHAR[] | Pseudonymised person identifiers found in the row. |",
        "| `loaded_at` | TIMESTAMP | When the load ran, UTC. |",
        "",
        "Erasure: a quarantined row follows the rule of its table, read from `record`: it is"
        " removed when it belongs to the person (or when its owner cannot be read), else the"
        " person is unlinked in `record` and dropped from `person_ids`.",
        "",
        "## `loads`",
        "",
        "One row per ingest of a file: `load_id`, `table_name`, `file`, `file_sha256`,"
        " `rows_read`, `rows_loaded`, `rows_duplicate`, `rows_quarantined`, `loaded_at`.",
        "",
        "## `customer_scores`",
        "",
        "Customer-value predictions, one row per customer (a user with an order not"
        " cancelled), written by `growthloop clv fit` (`growthloop.decide.scores`);"
        " each fit replaces the previous scores in one transaction. Erasure removes a"
        " person's row. Money is in the reporting currency, times in days.",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
        "| `user_id` | VARCHAR | The customer (pseudonymised as in `orders`). |",
        "| `segment_by` | VARCHAR | What the models were fitted per: `market`, `channel`"
        " or `all`. |",
        "| `segment` | VARCHAR | The segment whose models scored the customer (`all` when"
        " its own was too small to fit). |",
        "| `frequency` | BIGINT | Repeat purchase occasions (after the first) up to"
        " `observation_end`. |",
        "| `recency` | DOUBLE | Days from the first to the last purchase. |",
        "| `T` | DOUBLE | Days from the first purchase to the end of `observation_end`. |",
        "| `monetary_value` | DOUBLE | Mean value of the repeat purchases (0 without"
        " one). |",
        "| `p_alive` | DOUBLE | Probability that the customer is still active (BG/NBD or"
        " Pareto/NBD). |",
        "| `expected_purchases` | DOUBLE | Expected repeat purchases in the next"
        " `horizon_days`. |",
        "| `expected_order_value` | DOUBLE | Expected value of a future order"
        " (Gamma-Gamma). |",
        "| `clv` | DOUBLE | Expected value of the next `horizon_days` (in whole 30-day"
        " months), discounted monthly at `discount_rate`, times `margin`. |",
        "| `horizon_days` | INTEGER | Prediction horizon in days. |",
        "| `discount_rate` | DOUBLE | Monthly discount rate used for `clv`. |",
        "| `margin` | DOUBLE | Share of order value counted as profit in `clv`. |",
        "| `currency` | VARCHAR | Reporting currency of the money columns. |",
        "| `observation_end` | DATE | Last day of the orders the models saw. |",
        "| `model_version` | VARCHAR | `<models>/<growthloop version>/<hash of the fitted"
        " parameters>`, e.g. `bgnbd-gg/0.1.0/3f2a9c81d0e4`. |",
        "| `fit_date` | DATE | Day the models were fitted, UTC. |",
        "",
        "## `user_tags`",
        "",
        "Tags per customer, one row per customer in `customer_scores`, written with the"
        " scores and by `growthloop segments` (`growthloop.decide.tags`); replaced as a"
        " whole. Erasure removes a person's row.",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
        "| `user_id` | VARCHAR | The customer (pseudonymised). |",
        "| `market` | VARCHAR | The user's market (else the market of the first order). |",
        "| `channel` | VARCHAR | The user's acquisition channel (`unknown` without"
        " one). |",
        "| `orders` | BIGINT | Purchase occasions up to `as_of`. |",
        "| `total_value` | DOUBLE | Value of those orders, reporting currency. |",
        "| `days_since_last` | INTEGER | Days from the last purchase to `as_of`. |",
        "| `clv` | DOUBLE | Predicted value from `customer_scores`. |",
        "| `value_tier` | VARCHAR | `vip`, `high`, `medium` or `low` by `clv` (default: top"
        " 5 %, next 15 %, next 30 %, the rest). |",
        "| `high_value` | BOOLEAN | `value_tier` is `vip` or `high`. |",
        "| `rfm_recency` | INTEGER | Recency quintile score, 5 = most recent. |",
        "| `rfm_frequency` | INTEGER | Frequency quintile score, 5 = most orders. |",
        "| `rfm_monetary` | INTEGER | Monetary quintile score (total value), 5 ="
        " highest. |",
        "| `rfm_score` | VARCHAR | The three scores as one code, e.g. `545`. |",
        "| `rfm_segment` | VARCHAR | `champions`, `loyal`, `potential_loyalist`, `new`,"
        " `promising`, `need_attention`, `about_to_sleep`, `at_risk`, `cant_lose` or"
        " `hibernating` (recency x frequency grid). |",
        "| `lifecycle_stage` | VARCHAR | `new`, `active`, `reactivated`, `at_risk` or"
        " `churned` (rules in `growthloop.decide.tags.LifecycleRules`). |",
        "| `as_of` | DATE | Day the tags describe (the scores' `observation_end`). |",
        "| `model_version` | VARCHAR | Version of the scores the tags used. |",
        "| `tagged_on` | DATE | Day the tags were computed, UTC. |",
        "",
        "## `audience_members`",
        "",
        "The members of each audience (`[[audiences]]` in growthloop.toml) per built"
        " version, written by `growthloop audiences build` (`growthloop.decide.audiences`):"
        " the tagged customers the audience's filter selects, with marketing and"
        " personalisation consent only. A build whose definition and members equal the"
        " latest version's writes nothing; the last 10 versions are kept. Erasure removes a"
        " person's rows.",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
        "| `audience` | VARCHAR | The audience's name. |",
        "| `version` | INTEGER | The build: 1, 2, ... per audience. |",
        "| `user_id` | VARCHAR | The member (pseudonymised). |",
        "| `market` | VARCHAR | The member's market (from `user_tags`). |",
        "| `as_of` | DATE | Day the tags describe. |",
        "| `built_at` | TIMESTAMP | When the version was built, UTC. |",
        "",
        "## `audience_versions`",
        "",
        "One row per built version of an audience: `audience`, `version`, `definition` (its"
        " filter as JSON), `size` (members), `people_left_out` (selected by the filter but"
        " without consent), `as_of`, `tags_version` (the tags' `model_version`) and"
        " `built_at`. Counts, no person's data.",
        "",
        "## `trigger_state`",
        "",
        "The current members of each lifecycle trigger (`growthloop triggers run`,"
        " `growthloop.decide.triggers`): the state the next run compares with. Erasure"
        " removes a person's rows.",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
        "| `trigger` | VARCHAR | The trigger's name (`win_back`, `vip_care`,"
        " `second_purchase` or one of `[[triggers]]`). |",
        "| `user_id` | VARCHAR | The member (pseudonymised). |",
        "| `market` | VARCHAR | The member's market. |",
        "| `reason` | VARCHAR | Why they entered: the tag values that matched. |",
        "| `run_id` | VARCHAR | The run they entered at. |",
        "| `entered_at` | TIMESTAMP | When they entered, UTC. |",
        "| `as_of` | DATE | Day of the tags they entered on. |",
        "",
        "## `trigger_changes`",
        "",
        "Who entered and who left each lifecycle trigger at each run, a list for"
        " messaging: only people with marketing and personalisation consent enter, and a"
        " withdrawal of consent makes them leave. A run that finds no change writes"
        " nothing. Erasure removes a person's rows.",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
        "| `trigger` | VARCHAR | The trigger's name. |",
        "| `user_id` | VARCHAR | The person (pseudonymised). |",
        "| `change` | VARCHAR | `enter` or `leave`. |",
        "| `reason` | VARCHAR | A sentence: the tag values that made them enter (e.g."
        " `lifecycle_stage is at_risk and high_value is true`), or the condition no longer"
        " met, `consent withdrawn` or `no longer tagged` when they leave. |",
        "| `run_id` | VARCHAR | The run that recorded it. |",
        "| `changed_at` | TIMESTAMP | When the run recorded it, UTC. |",
        "| `as_of` | DATE | Day of the tags the run read. |",
        "",
        "## `uplift_scores`",
        "",
        "Per-person uplift (the predicted effect of an experiment's treatment on the person),"
        " written by the uplift models; audience filters read the latest `model_version`"
        " of an experiment (`where.uplift`). Erasure removes a person's rows.",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
        "| `model_version` | VARCHAR | The uplift model that scored. |",
        "| `experiment_id` | VARCHAR | The experiment of the registry whose treatment is"
        " scored. |",
        "| `user_id` | VARCHAR | The person (pseudonymised). |",
        "| `uplift` | DOUBLE | Predicted treatment effect on the person. |",
        "| `uplift_low` | DOUBLE | Lower end of its interval. |",
        "| `uplift_high` | DOUBLE | Upper end of its interval. |",
        "| `scored_at` | TIMESTAMP | When the person was scored, UTC. |",
        "",
        "## Marketing-mix fits: `mmm_models`, `mmm_channels`, `mmm_curves`,"
        " `mmm_contributions`",
        "",
        "Written by `growthloop mmm fit` and `growthloop budget`"
        " (`growthloop.warehouse.media_store`); each fit appends its rows under its"
        " `model_version` (`mmm-<method>/<growthloop version>/<hash of the data range"
        " and the point estimate>`) in one transaction, and the last 10 fits are kept."
        " Aggregates per market, channel and period: no person's data. Money is in the"
        " reporting currency; spend and outcomes are per period of the fit's grain.",
        "",
        "| table | column | meaning |",
        "| --- | --- | --- |",
        "| `mmm_models` | `model_version`, `fitted_at` | The fit and when (UTC). |",
        "| `mmm_models` | `target`, `money` | The outcome KPI; whether it is money. |",
        "| `mmm_models` | `method`, `grain_days` | `map` or `nuts`; 1 (daily) or 7"
        " (weekly). |",
        "| `mmm_models` | `first_period`, `last_period` | First days of the first and"
        " last periods fitted. |",
        "| `mmm_models` | `level`, `currency`, `diagnostics` | Interval level; reporting"
        " currency; the fit's diagnostics as JSON (R2, WAPE, R-hat, divergences,"
        " seconds). |",
        "| `mmm_channels` | `market`, `channel`, `spend` | The pair and its spend over the"
        " fit. |",
        "| `mmm_channels` | `contribution`, `contribution_share` | Outcome the pair's"
        " spend caused over the fit, and its share of the market's outcome. |",
        "| `mmm_channels` | `per_spend`, `per_spend_low`, `per_spend_high` | Contribution"
        " per unit of spend (ROAS for money) and its interval. |",
        "| `mmm_channels` | `marginal_per_spend`, `marginal_low`, `marginal_high` | The"
        " same for the next 1 % of spend. |",
        "| `mmm_channels` | `roi`, `roi_low`, `roi_high` | ROAS - 1 (money outcomes;"
        " NULL for counts). |",
        "| `mmm_channels` | `cost_per_outcome` | Spend per incremental outcome (counts;"
        " NULL for money). |",
        "| `mmm_channels` | `alpha`, `half_life_days` | Adstock carry-over per period"
        " and its half-life in days. |",
        "| `mmm_curves` | `draw` | 0: the point estimate; 1..n: posterior draws. |",
        "| `mmm_curves` | `market`, `channel`, `ceiling`, `half_spend`, `shape` | The"
        " steady-state response `ceiling * s^shape / (s^shape + half_spend^shape)` per"
        " period at a constant spend `s`. |",
        "| `mmm_curves` | `alpha`, `carry` | Carry-over, and the adstock past spend"
        " leaves after the last period. |",
        "| `mmm_curves` | `current` | Spend per period now (mean of the last 4"
        " periods; draw 0 only). |",
        "| `mmm_contributions` | `market`, `channel`, `period`, `spend`,"
        " `contribution` | Each fitted period's spend and the outcome it caused (point"
        " estimate). |",
        "",
        "## `budget_plans`",
        "",
        "One row per market and channel per step of the re-allocation loop (`growthloop"
        " budget --cadence`, `growthloop.decide.loop`), replacing a step of the same"
        " `as_of`, `cadence` and `target`: `current` and `planned` spend per week and"
        " `change_share`; `observed` (the target credited to the channel), `expected`"
        " (the model's expectation), `performance` (their ratio) and `z`; `shifted` and"
        " `shift_since` for a flagged shift; `reason` (why the spend moves);"
        " `model_version`; `created_at`.",
        "",
        "## `experiment_results`",
        "",
        "One row per metric x segment (`all` or a market) x variant of each analysis"
        " (`growthloop experiment analyze`, `growthloop.decide.experiments`), replacing"
        " an analysis of the same experiment and `as_of`: the verdict and its reason, the"
        " units and means of control and variant, the relative `lift` with its interval"
        " and p-value, the CUPED figures and variance reduction, `chance_to_win`, `risk`,"
        " the always-valid interval and p-value (`seq_*`), `p_adjusted` and the"
        " sample-ratio check's `srm_p`. Aggregates only.",
        "",
        "## `knowledge`",
        "",
        "The knowledge base (`growthloop kb`, `growthloop.decide.knowledge`): one row per"
        " concluded experiment (`kind` = `experiment`, written by `experiment analyze`)"
        " or strategy note (`note`, `kb add`): `entry_id` (`kb-` and a hash of the"
        " content), `title`, `hypothesis`, `decision`, `metric`, the relative `effect`"
        " and its interval (`effect_low`, `effect_high`), `markets` (comma-separated;"
        " empty for all), `start_date`, `end_date`, `experiment_id`, `owner`, `notes`,"
        " `created_at`. Text about strategies, no person's data.",
        "",
    ]
    return "\n".join(out)
