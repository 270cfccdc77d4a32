"""Events: CloudEvents 1.0 envelopes with deterministic ids, on Kafka in binary content mode.

Binary mode (CloudEvents Kafka protocol binding): attributes travel as ``ce_*`` headers, the
data as the JSON message value, ``content-type: application/json``. The message key is the unit
(verhuureenheid) for everything about one home, so one home's events stay in order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from wijkbrug import schemas

#: Namespace for deterministic event ids (uuid5 over source and record identity).
EVENT_ID_NAMESPACE = uuid.UUID("5d7f3f2e-7a8c-4f57-9a0e-2f1c6b7e9d41")
SOURCE_PREFIX = "urn:wijkbrug:connector:"


class OrjsonFormat(JSONFormat):
    """The SDK's JSON format with orjson for the data payload (the hot path)."""

    def write_data(self, data: Any, datacontenttype: str | None) -> bytes:
        if isinstance(data, dict):
            return orjson.dumps(data)
        return super().write_data(data, datacontenttype)

    def read_data(self, body: bytes, datacontenttype: str | None) -> Any:
        if body and (datacontenttype or "application/json") == "application/json":
            return orjson.loads(body)
        return super().read_data(body, datacontenttype)


FORMAT = OrjsonFormat()


def event_id(source: str, *identity: object) -> str:
    """A deterministic id: the same source record always gives the same event id."""
    name = source + "\x1f" + "\x1f".join("" if part is None else str(part) for part in identity)
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


@dataclass(frozen=True, slots=True)
class Event:
    """One event to publish: its CloudEvents attributes, its data, its topic and key."""

    name: str  # schema/event name, e.g. "renovation.milestone"
    source: str
    id: str
    key: str
    data: dict[str, Any]
    subject: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def schema(self) -> schemas.EventSchema:
        return schemas.latest(self.name)

    def validate(self) -> None:
        """Raise :class:`wijkbrug.schemas.SchemaViolation` unless the data matches its schema."""
        schemas.validate(self.schema, self.data)

    def to_kafka(self) -> KafkaMessage:
        """The Kafka message in CloudEvents binary content mode, keyed by ``key``."""
        schema = self.schema
        attributes = {
            "id": self.id,
            "source": self.source,
            "type": schema.event_type,
            "specversion": "1.0",
            "time": self.time,
            "datacontenttype": "application/json",
            "dataschema": schema.uri,
        }
        if self.subject is not None:
            attributes["subject"] = self.subject
        key = self.key
        return to_binary(CloudEvent(attributes, self.data), FORMAT, key_mapper=lambda _: key)


def from_kafka(headers: list[tuple[str, bytes]], key: bytes | None, value: bytes) -> CloudEvent:
    """Parse a binary-mode Kafka record (as a consumer sees it) into a CloudEvent."""
    return from_binary(KafkaMessage(dict(headers), key, value), FORMAT)


def header_identity(headers: list[tuple[str, bytes]]) -> tuple[str, str] | None:
    """``(source, id)`` of a record from its headers alone, without decoding the value."""
    source = event = None
    for name, value in headers:
        if name == "ce_source":
            source = value.decode()
        elif name == "ce_id":
            event = value.decode()
    return (source, event) if source and event else None


#: The CloudEvents attributes a wijkbrug record must carry (its headers ``ce_<name>``).
_REQUIRED = ("id", "type", "specversion", "dataschema")
_REQUIRED_SET = frozenset(_REQUIRED)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


class EventError(ValueError):
    """A record that is not a wijkbrug CloudEvent; the message never quotes the record."""


def decode(headers: list[tuple[str, bytes]], value: bytes | None) -> tuple[str, str, datetime, Any]:
    """``(event name, id, time, data)`` of a binary-mode record, its data checked by its schema.

    The hot path of the stream worker: headers are read directly and the value with orjson, as
    the CloudEvents Kafka binding lays them out. Raises :class:`EventError` or
    :class:`wijkbrug.schemas.SchemaViolation`.
    """
    try:
        attributes = {name[3:]: raw.decode() for name, raw in headers if name[:3] == "ce_"}
    except UnicodeDecodeError:
        bad = next(n for n, raw in headers if n[:3] == "ce_" and not _is_utf8(raw))
        raise EventError(f"header {bad} is not UTF-8") from None
    if not attributes.keys() >= _REQUIRED_SET:
        missing = [a for a in _REQUIRED if a not in attributes]
        raise EventError(f"CloudEvents attributes missing: {', '.join(missing)}")
    if attributes["specversion"] != "1.0":
        raise EventError("CloudEvents specversion is not 1.0")
    try:
        schema = schemas.by_uri(attributes["dataschema"])
    except (KeyError, ValueError):
        raise EventError("dataschema names no known schema") from None
    if attributes["type"] != schema.event_type:
        raise EventError("type does not match dataschema")
    try:
        data = orjson.loads(value or b"")
        when = datetime.fromisoformat(attributes.get("time") or "1970-01-01T00:00:00+00:00")
    except (orjson.JSONDecodeError, ValueError):
        raise EventError("value is not JSON or time is not RFC 3339") from None
    schemas.validate(schema, data)
    return schema.name, attributes["id"], when, data
