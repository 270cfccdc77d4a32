from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wijkbrug.events import Event, event_id, from_kafka, header_identity
from wijkbrug.schemas import SchemaViolation

DATA = {"complex": "CPX-OV-031", "iso_week": "2026-W10", "category": "ggz", "count": 2}


def _event(**changes) -> Event:
    fields = dict(
        name="signal.count",
        source="urn:wijkbrug:connector:home-visits",
        id=event_id("urn:wijkbrug:connector:home-visits", "HB-1", "ggz"),
        key="CPX-OV-031",
        data=DATA,
        time=datetime(2026, 3, 4, 9, tzinfo=UTC),
    )
    return Event(**(fields | changes))


def test_event_ids_are_deterministic_and_separate_sources() -> None:
    assert event_id("urn:a", "x", 1) == event_id("urn:a", "x", 1)
    assert event_id("urn:a", "x", 1) != event_id("urn:b", "x", 1)
    assert event_id("urn:a", "ab", "c") != event_id("urn:a", "a", "bc")


def test_binary_content_mode_round_trip() -> None:
    message = _event().to_kafka()
    assert message.key == "CPX-OV-031"
    assert message.headers["content-type"] == b"application/json"
    assert message.headers["ce_type"] == b"nl.wijkbrug.signal.count"
    assert message.headers["ce_dataschema"] == b"urn:wijkbrug:schema:signal.count:1"
    assert message.headers["ce_time"] == b"2026-03-04T09:00:00Z"
    headers = list(message.headers.items())
    back = from_kafka(headers, message.key.encode(), message.value)
    assert back.get_id() == _event().id and back.get_data() == DATA
    assert back.get_specversion() == "1.0"
    assert header_identity(headers) == ("urn:wijkbrug:connector:home-visits", _event().id)


def test_subject_travels_only_when_set() -> None:
    assert "ce_subject" not in _event().to_kafka().headers
    assert _event(subject="CPX").to_kafka().headers["ce_subject"] == b"CPX"


def test_schema_violation_names_the_path_not_the_value() -> None:
    with pytest.raises(SchemaViolation) as error:
        _event(data=DATA | {"iso_week": "secret-value-42"}).validate()
    assert error.value.path == "iso_week"
    assert "secret-value-42" not in str(error.value)
    with pytest.raises(SchemaViolation):
        _event(data=DATA | {"unit_id": "40010001"}).validate()  # closed content model
