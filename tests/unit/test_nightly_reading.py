"""Reading a night: decoded data shares one copy of each string value; records become events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from wijkbrug.delivery import Incoming
from wijkbrug.events import Event
from wijkbrug.kafka_client import Record
from wijkbrug.nightly.reading import Origin, Strings, read_from
from wijkbrug.validation import frames, sample


def test_equal_strings_become_one_object_and_the_data_stays_equal() -> None:
    strings = Strings()
    raw = b'{"unit_id": "6706000001", "tags": ["taal", "schulden"], "address": {"postcode": "3563AB", "house_number": 4, "addition": null}, "ok": true}'
    first, second = (strings.share(orjson.loads(raw)) for _ in range(2))
    assert first == second == orjson.loads(raw)
    assert first["unit_id"] is second["unit_id"]
    assert first["tags"][1] is second["tags"][1]
    assert first["address"]["postcode"] is second["address"]["postcode"]
    assert first["address"] is not second["address"], "containers are not shared: only strings"


def test_values_other_than_strings_pass_unchanged() -> None:
    strings = Strings()
    assert strings.share(4) == 4
    assert strings.share(None) is None
    assert strings.share(1.5) == 1.5
    assert strings.share([]) == []


def _record(event: Incoming, offset: int, value: bytes | None = None) -> Record:
    """A binary-mode record of ``event`` as the raw topic holds it."""
    message = Event(
        event.name, "urn:wijkbrug:connector:planning", event.id, "k", event.data, time=event.time
    ).to_kafka()
    headers = [(k, v.encode() if isinstance(v, str) else v) for k, v in message.headers.items()]
    return Record("raw", 0, offset, b"k", headers, value or message.value, 0)


def test_read_from_keeps_the_first_of_an_id_counts_the_undecodable_and_sorts() -> None:
    at = datetime(2026, 3, 9, 20, tzinfo=UTC)
    late = sample.milestone("6706000002", "renovatie_gestart", at + timedelta(hours=1))
    early = sample.milestone("6706000001", "renovatie_gestart", at)
    again = sample.milestone("6706000002", "renovatie_gestart", at, ident=late.id)
    records = [
        _record(late, 0),
        _record(early, 1),
        _record(again, 2),  # the same id once more: the first one read stands
        _record(early, 3, value=b"{not json"),
    ]
    read = read_from(records, ["renovation.milestone"])
    assert [e.id for e in read.events] == [early.id, late.id]
    assert read.events[1].time == late.time
    assert read.undecodable == 1
    assert read.origins([late.id, early.id, "elders"]) == {
        late.id: Origin("raw", 0, 0),
        early.id: Origin("raw", 0, 1),
    }
    assert read_from(records, ["signal.consented"]).events == []


def test_held_types_stay_events_and_every_event_becomes_frame_rows() -> None:
    """A night validates all its events and plans only deliverable ones: those it holds."""
    at = datetime(2026, 3, 9, 20, tzinfo=UTC)
    visits = sample.visit_count("2026-W11", at + timedelta(hours=2))
    late = sample.milestone("6706000002", "renovatie_gestart", at + timedelta(hours=1))
    early = sample.milestone("6706000001", "renovatie_gestart", at)
    records = [_record(visits, 0), _record(late, 1), _record(early, 2)]
    names = ["renovation.milestone", "visit.count"]
    read = read_from(records, names, hold={"renovation.milestone"})
    assert [e.id for e in read.events] == [early.id, late.id]
    assert read.events[0].data["milestone"] is read.events[1].data["milestone"], "shared"
    assert read.count == 3
    assert read.origins([visits.id]) == {visits.id: Origin("raw", 0, 0)}
    block = read.take_block()
    assert read.block is None, "taken, not kept: validation lets it go"
    held_all = read_from(records, names)
    assert held_all.block is None and len(held_all.events) == 3
    expected = frames.event_frame(held_all.events)
    assert frames.event_frame((), night_block=block).equals(expected)
