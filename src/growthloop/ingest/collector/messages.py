"""Segment HTTP tracking API messages turned into ``events`` and ``identities`` rows.

The message shapes are Segment's (https://segment.com/docs/connections/sources/catalog/
libraries/server/http-api/): ``track``, ``page``, ``screen``, ``identify`` and ``alias``,
each with ``messageId``, ``anonymousId`` and/or ``userId``, ``timestamp``, ``sentAt``,
``context`` and ``properties`` or ``traits``. A message is checked against the same rules
as a file row of ``events`` (``growthloop.core.schema``; ``growthloop.ingest.rules`` runs
them again when the journal is folded into the warehouse), so a bad one is refused at
once with the message's index, the field, its value and what was expected.

- The event type: a ``track`` event named as in ``EVENT_TYPES`` (``add_to_cart``) or by
  Segment's e-commerce spec (``Product Added``, ``Order Completed``: ``SEGMENT_EVENTS``);
  ``page`` and ``screen`` are page views.
- Clock skew: a client's clock may be wrong, so the event time is Segment's
  ``receivedAt - (sentAt - timestamp)``: the client's delay, measured on its own clock,
  before the server's receipt (the message's ``sentAt``, else the batch's).
- The market is ``context.market`` or ``properties.market``, else the write key's; the
  session ``context.session_id`` / ``properties.session_id``, else (set when folded, from
  the pseudonymised id) the person's 30-minute window (``SESSION_MINUTES``); the device
  ``context.device.type`` when it is one of ``DEVICES``; money ``properties.revenue`` (or
  ``value``) with ``currency``.
- ``identify`` (and a ``track`` or ``page`` carrying both ids) links an anonymous id to a
  user: an ``identities`` row; ``alias`` links ``previousId`` to ``userId``. Traits are
  not kept: they are personal data the analyses do not need.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from growthloop.core.config import Config
from growthloop.core.schema import CURRENCIES, DEVICES, EVENT_TYPES

__all__ = ["LIMITS", "SEGMENT_EVENTS", "SESSION_MINUTES", "Batch", "Message", "MessageError",
           "RawBatch", "Rules", "decode_error", "decode_message", "read_message", "utc_time"]

#: Segment's payload limits, in bytes: a call, one message, a batch request.
LIMITS = {"call": 32 * 1024, "message": 32 * 1024, "batch": 500 * 1024}
SESSION_MINUTES = 30
#: Segment e-commerce spec names (lower case) to event types.
SEGMENT_EVENTS = {
    "session started": "session_start", "products searched": "page_view",
    "product list viewed": "page_view", "product viewed": "product_view",
    "product clicked": "product_view", "product added": "add_to_cart",
    "checkout started": "checkout", "payment info entered": "checkout",
    "order completed": "purchase", "order refunded": "refund",
    "content viewed": "content_view", "video content started": "content_view",
    "content completed": "content_complete", "video content completed": "content_complete",
    "live interaction": "live_interaction", "product shared": "share",
    "cart shared": "share",
}
_TYPES = ("track", "page", "screen", "identify", "alias")
_TYPE_SET = frozenset(_TYPES)
_EARLIEST = datetime(2000, 1, 1)


@dataclass(frozen=True)
class MessageError(Exception):
    """A message that breaks a rule: which (its index in the call), which field, the
    value and what was expected."""

    index: int
    field: str
    value: Any
    expected: str

    def as_dict(self) -> dict[str, Any]:
        shown = self.value if isinstance(self.value, int | float | bool) or self.value is None \
            else str(self.value)[:60]
        return {"index": self.index, "field": self.field, "value": shown,
                "expected": self.expected}

    def __str__(self) -> str:
        return (f"message {self.index}: {self.field} = {self.value!r:.60}: "
                f"expected {self.expected}")


@dataclass(frozen=True)
class Rules:
    """What the project allows (markets, channels), read once for the server."""

    markets: frozenset[str]
    channels: frozenset[str]

    @classmethod
    def of(cls, cfg: Config) -> Rules:
        return cls(frozenset(cfg.market_codes), frozenset(cfg.channel_names))


_TS_HINT = "an ISO-8601 time such as 2026-05-01T12:00:00Z"


def utc_time(v: str) -> datetime:
    """An ISO-8601 time as naive UTC (a time without an offset is UTC); ValueError."""
    if v[-1:] == "Z":  # the common case, and much faster than converting a zone
        return datetime.fromisoformat(v[:-1])
    t = datetime.fromisoformat(v)
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t


def _ts(v: Any, i: int, field: str) -> datetime:
    if type(v) is not str:
        raise MessageError(i, field, v, _TS_HINT)
    try:
        return utc_time(v)
    except ValueError:
        raise MessageError(i, field, v, _TS_HINT) from None


def _id(v: Any, i: int, field: str) -> str | None:
    if type(v) is str:
        if 0 < len(v) <= 200:
            return v
        if not v:
            return None
    elif v is None:
        return None
    elif type(v) is int:
        return str(v)
    raise MessageError(i, field, v, "a string of 1 to 200 characters")


def _event_type(name: Any, i: int) -> str:
    t = _EVENTS.get(name) if type(name) is str else None
    if t is None:
        t = SEGMENT_EVENTS.get(name.lower()) if type(name) is str else None
    if t is None:
        raise MessageError(i, "event", name, "one of " + ", ".join(EVENT_TYPES)
                           + " or a Segment e-commerce event such as 'Order Completed'")
    return t


_EVENTS = {e: e for e in EVENT_TYPES}
_DEVICES = frozenset(DEVICES)
_ONE_DAY = timedelta(days=1)


class _Device(msgspec.Struct, gc=False):
    type: Any = None


class _Campaign(msgspec.Struct, gc=False):
    name: str | None = None


class _Context(msgspec.Struct, gc=False):
    market: str | None = None
    channel: str | None = None
    campaign: _Campaign | None = None
    device: _Device | None = None
    session_id: str | int | None = None


class _Properties(msgspec.Struct, gc=False):
    revenue: float | None = None
    value: float | None = None
    currency: str | None = None
    market: str | None = None
    channel: str | None = None
    campaign: str | None = None
    session_id: str | int | None = None
    product_id: Any = None


class Message(msgspec.Struct, gc=False):
    """The fields of a Segment message the collector reads (others are kept as sent)."""

    type: str | None = None
    messageId: Any = None  # noqa: N815 - Segment's names
    userId: Any = None  # noqa: N815
    anonymousId: Any = None  # noqa: N815
    previousId: Any = None  # noqa: N815
    timestamp: Any = None
    sentAt: Any = None  # noqa: N815
    event: Any = None
    context: _Context | None = None
    properties: _Properties | None = None
    writeKey: str | None = None  # noqa: N815


class Batch(msgspec.Struct, gc=False):
    batch: list[Message]
    sentAt: Any = None  # noqa: N815
    writeKey: str | None = None  # noqa: N815


class RawBatch(msgspec.Struct, gc=False):
    batch: list[msgspec.Raw]
    sentAt: Any = None  # noqa: N815
    writeKey: str | None = None  # noqa: N815


_MESSAGE = msgspec.json.Decoder(Message)
_BATCH = msgspec.json.Decoder(Batch)
_RAW_BATCH = msgspec.json.Decoder(RawBatch)
_PATH = re.compile(r"at `\$((?:\.\w+|\[\d+\])*)`")


def decode_error(e: msgspec.ValidationError | msgspec.DecodeError, i: int,
                 raw: bytes) -> MessageError:
    """A decoding error of message ``i`` (its JSON ``raw``) as a ``MessageError``."""
    text = str(e)
    m = _PATH.search(text)
    path = m.group(1).lstrip(".") if m else ""
    value: Any = None
    try:
        value = orjson.loads(raw)
        for part in re.findall(r"\w+|\[\d+\]", path):
            value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        value = None
    expected = text.split(" - at ")[0].replace("Expected ", "").replace("`", "")
    return MessageError(i, path or "message", value,
                        expected if m else f"a JSON object ({text})")


def decode_message(raw: bytes, i: int) -> Message:
    """One message from its JSON; ``MessageError`` naming the field when it is not one."""
    try:
        return _MESSAGE.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise decode_error(e, i, raw) from None


def read_message(msg: Message, i: int, received: datetime, batch_sent: datetime | None,
                 rules: Rules, key_market: str | None, kind: str | None = None,
                 *, build: bool = True) -> tuple[str, dict[str, Any] | None]:
    """Check one message and (``build``) turn it into ``("event", events row)`` or
    ``("identity", identities row)``; without ``build`` only the kind is returned. An
    event's ``properties`` are the caller's to add (the message as sent).

    ``received`` is the server's UTC receipt time (naive), ``batch_sent`` the batch's
    ``sentAt``; ``kind`` the call's type for a single-message endpoint (the message's
    ``type`` must then agree when given). Raises ``MessageError``.
    """
    t = msg.type if msg.type is not None else kind
    if t not in _TYPE_SET or (kind is not None and t != kind):
        raise MessageError(i, "type", t, f"{kind!r}" if kind else "one of " + ", ".join(_TYPES))
    # the common cases inline (a string id, a UTC time): this runs for every message
    mid = msg.messageId
    if type(mid) is not str or not 0 < len(mid) <= 200:
        mid = _id(mid, i, "messageId")
        if mid is None:
            raise MessageError(i, "messageId", msg.messageId,
                               "a unique message id (Segment's libraries set one)")
    user = msg.userId
    if user is not None and (type(user) is not str or not 0 < len(user) <= 200):
        user = _id(user, i, "userId")
    anon = msg.anonymousId
    if anon is not None and (type(anon) is not str or not 0 < len(anon) <= 200):
        anon = _id(anon, i, "anonymousId")
    if user is None and anon is None:
        raise MessageError(i, "userId", None, "a userId or an anonymousId")
    sent_at = _ts(msg.sentAt, i, "sentAt") if msg.sentAt is not None else batch_sent
    ts_raw = msg.timestamp
    if ts_raw is None:
        ts = received
    else:
        try:
            ts = datetime.fromisoformat(ts_raw[:-1]) if type(ts_raw) is str \
                and ts_raw[-1:] == "Z" else _ts(ts_raw, i, "timestamp")
        except ValueError:
            ts = _ts(ts_raw, i, "timestamp")  # raises, naming the field
        if sent_at is not None:
            ts = received - (sent_at - ts)
        if ts < _EARLIEST or ts > received + _ONE_DAY:
            raise MessageError(i, "timestamp", ts_raw,
                               f"a time between {_EARLIEST:%Y-%m-%d} and tomorrow (UTC)")
    if t == "alias" or t == "identify":
        other = _id(msg.previousId, i, "previousId") if t == "alias" else anon
        if other is None or user is None:
            field = ("previousId" if t == "alias" else "anonymousId") if other is None \
                else "userId"
            raise MessageError(i, field, None, "both previousId and userId" if t == "alias"
                               else "both userId and anonymousId (an identify links them)")
        if not build:
            return "identity", None
        return "identity", {"link_id": mid, "anonymous_id": other, "user_id": user,
                            "linked_ts": ts.isoformat(sep=" ", timespec="microseconds"),
                            "source": t}
    ctx = msg.context or _NO_CONTEXT
    props = msg.properties or _NO_PROPERTIES
    event_type = "page_view" if t != "track" else _event_type(msg.event, i)
    market = ctx.market or props.market or key_market
    if market not in rules.markets:
        raise MessageError(i, "context.market", market, "a configured market: "
                           + ", ".join(sorted(rules.markets)))
    channel = props.channel or ctx.channel
    if channel is not None and channel not in rules.channels:
        raise MessageError(i, "properties.channel", channel, "a configured channel: "
                           + ", ".join(sorted(rules.channels)))
    campaign = ctx.campaign.name if ctx.campaign is not None else props.campaign
    device = ctx.device.type if ctx.device is not None else None
    if device is not None and device not in _DEVICES:
        device = "other"
    value = props.revenue if props.revenue is not None else props.value
    currency = props.currency
    if value is not None:
        if value < 0 or not math.isfinite(value):
            raise MessageError(i, "properties.revenue", value, "a finite number >= 0")
        if currency is None:
            raise MessageError(i, "properties.currency", None,
                               "the ISO 4217 currency of revenue")
    if currency is not None and currency not in CURRENCIES:
        raise MessageError(i, "properties.currency", currency,
                           "an ISO 4217 currency code such as USD, EUR, IDR")
    session = ctx.session_id or props.session_id
    if not build:
        return "event", None
    product = props.product_id
    return "event", {
        "event_id": mid, "user_id": user, "anonymous_id": anon,
        "session_id": None if session is None else str(session),  # None: set when folded
        "event_ts": ts.isoformat(sep=" ", timespec="microseconds"),
        "event_type": event_type, "market": market, "channel": channel,
        "campaign": campaign, "device": device,
        "product_id": None if product is None else str(product),
        "value": value, "currency": currency,
    }


_NO_CONTEXT = _Context()
_NO_PROPERTIES = _Properties()
