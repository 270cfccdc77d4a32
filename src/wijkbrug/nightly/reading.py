"""Reading a night from Kafka: the raw events of an interval, and consent state as of a moment.

Intervals are by record timestamp (the moment a connector published), looked up with the
broker's time index, so a re-run or a backfill reads exactly what it read the first time.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd

from wijkbrug import kafka_client
from wijkbrug.consent import CONSENT_EVENTS, ConsentState, Withdrawal
from wijkbrug.delivery import Incoming
from wijkbrug.events import EventError, decode
from wijkbrug.kafka_client import Record
from wijkbrug.nightly.heap import gc_paused
from wijkbrug.schemas import SchemaViolation
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics
from wijkbrug.validation import frames

#: Events per chunk made into frame rows.
CHUNK = 50_000


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def topics_for(names: Iterable[str]) -> list[str]:
    """The logical topics that carry the given event names."""
    wanted = set(names)
    return [t for t, spec in load_topics().items() if wanted & set(spec.event_types)]


class Origin(NamedTuple):
    """Where a night's event came from: enough to name its quarantine record and to fetch the
    record again (:func:`fetch`), without keeping a million record values in memory."""

    topic: str
    partition: int
    offset: int


@dataclass
class Read:
    """Decoded events with the record each came from; undecodable records only counted (the
    stream worker quarantines those as it reads them).

    ``events`` are the events held as objects, in order of time and id: all of them, or only
    the types a caller asked to hold (:func:`read_from`), the others then being in ``block`` as
    frame rows only. ``ids`` names every event read, in reading order; where each came from is
    kept in arrays beside it (13 bytes an event, where a dict of :class:`Origin` by event id
    took about 200): :meth:`origins` finds those asked for.
    """

    events: list[Incoming] = field(default_factory=list)
    undecodable: int = 0
    topics: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    block: pd.DataFrame | None = None
    _topic: array = field(default_factory=lambda: array("B"))
    _partition: array = field(default_factory=lambda: array("i"))
    _offset: array = field(default_factory=lambda: array("q"))

    @property
    def count(self) -> int:
        """How many events were read (held or not)."""
        return len(self.ids)

    def origins(self, ids: Iterable[str]) -> dict[str, Origin]:
        """Where the events ``ids`` came from (ids not read are left out)."""
        wanted = set(ids)
        return {
            ident: Origin(self.topics[self._topic[at]], self._partition[at], self._offset[at])
            for at, ident in enumerate(self.ids)
            if ident in wanted
        }

    def take_block(self) -> pd.DataFrame | None:
        """Hand the frame rows over and forget them (validation lets them go once used)."""
        block, self.block = self.block, None
        return block


class Strings:
    """One object per distinct string in the night's data (units, dates, categories, ...).

    JSON decoding makes a new string per value; a night repeats the same few thousand values a
    million times, so sharing them keeps a night's events in about two thirds of the memory.
    """

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def share(self, value: Any) -> Any:
        """``value`` (decoded JSON) with each string replaced by its shared copy."""
        kind = type(value)
        if kind is str:
            return self._seen.setdefault(value, value)
        if kind is dict:
            return {k: self.share(v) for k, v in value.items()}
        if kind is list:
            return [self.share(v) for v in value]
        return value


def read_records(
    settings: Settings, names: Iterable[str], start: datetime | None, end: datetime | None
) -> Iterator[Record]:
    for topic in topics_for(names):
        physical = load_topics()[topic].physical(settings.topic_prefix)
        yield from kafka_client.read_interval(settings, physical, _ms(start), _ms(end))


def read(
    settings: Settings,
    names: Iterable[str],
    start: datetime | None,
    end: datetime | None,
    *,
    hold: Collection[str] | None = None,
) -> Read:
    """Events named ``names`` published in [``start``, ``end``), in a stable order
    (``hold``: see :func:`read_from`)."""
    wanted = set(names)
    return read_from(read_records(settings, wanted, start, end), wanted, hold=hold)


class Decoder:
    """Records to events: decodable records of the wanted names, the first record of each id
    only (a redelivered event is read once); ``undecodable`` counts the others.

    ``share``: the event types whose data share their strings (:class:`Strings`), all if None.
    Sharing pays only for events that are kept; walking the data costs as much as decoding it.
    """

    def __init__(self, names: Iterable[str], share: Collection[str] | None = None) -> None:
        self.wanted = set(names)
        self.strings = Strings()
        self.share = share
        self.undecodable = 0
        self._seen: set[str] = set()

    def __call__(self, records: Iterable[Record]) -> Iterator[tuple[Incoming, Record]]:
        share = self.share
        for record in records:
            try:
                name, ident, when, data = decode(record.headers, record.value)
            except (EventError, SchemaViolation):
                self.undecodable += 1
                continue
            if name in self.wanted and ident not in self._seen:
                self._seen.add(ident)
                if share is None or name in share:
                    data = self.strings.share(data)
                yield Incoming(name, ident, when, data), record


def read_from(
    records: Iterable[Record],
    names: Iterable[str],
    *,
    hold: Collection[str] | None = None,
) -> Read:
    """:func:`read` on records already at hand (the benchmark's, from a file).

    ``hold``: only events of these types are kept as objects; every event becomes frame rows
    (:func:`wijkbrug.validation.frames.rows`, chunk by chunk) in ``Read.block`` instead. A night
    validates all of its events but plans only the deliverable ones: the rest need not be held.
    """
    decoder = Decoder(names, share=hold)
    events: list[Incoming] = []
    ids: list[str] = []
    topics: dict[str, int] = {}
    where = (array("B"), array("i"), array("q"))
    parts: list[pd.DataFrame] = []
    chunk: list[Incoming] = []
    with gc_paused():
        for event, record in decoder(records):
            ids.append(event.id)
            where[0].append(topics.setdefault(record.topic, len(topics)))
            where[1].append(record.partition)
            where[2].append(record.offset)
            if hold is None or event.name in hold:
                events.append(event)
            if hold is not None:
                chunk.append(event)
                if len(chunk) >= CHUNK:
                    parts += frames.rows(chunk, in_night=True)
                    chunk = []
        block = None
        if hold is not None:
            parts += frames.rows(chunk, in_night=True)
            block = frames.row_block(parts)
        events.sort(key=lambda event: (event.time, event.id))
    return Read(events, decoder.undecodable, list(topics), ids, block, *where)


def fetch(settings: Settings, origins: Iterable[Origin]) -> dict[Origin, Record]:
    """The records at ``origins``, read again from Kafka (the few a night quarantines)."""
    by_topic: dict[str, dict[int, set[int]]] = {}
    for origin in origins:
        by_topic.setdefault(origin.topic, {}).setdefault(origin.partition, set()).add(origin.offset)
    found: dict[Origin, Record] = {}
    for topic, offsets in by_topic.items():
        for record in kafka_client.read_offsets(settings, topic, offsets):
            found[Origin(record.topic, record.partition, record.offset)] = record
    return found


def read_events(
    settings: Settings,
    names: Iterable[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Incoming]:
    """Decoded events of the given names published in [``start``, ``end``) (None: open)."""
    return read(settings, names, start, end).events


@dataclass
class ConsentsAt:
    """Consent state folded up to a moment, and the withdrawals published in an interval."""

    state: ConsentState
    withdrawals: list[tuple[Withdrawal, datetime]]


def consents_at(
    settings: Settings, end: datetime | None, since: datetime | None = None
) -> ConsentsAt:
    """Fold the consent topic up to ``end`` (None: all of it). Withdrawals published at or
    after ``since`` are returned with their event time (the night's retraction notices)."""
    state = ConsentState()
    withdrawals: list[tuple[Withdrawal, datetime]] = []
    since_ms = _ms(since)
    with gc_paused():
        for record in read_records(settings, CONSENT_EVENTS, None, end):
            try:
                name, ident, when, data = decode(record.headers, record.value)
            except (EventError, SchemaViolation):
                continue  # the consent connector validates; a bad record grants nothing
            withdrawal = state.apply(name, data, ident)
            if withdrawal and since_ms is not None and record.timestamp_ms >= since_ms:
                withdrawals.append((withdrawal, when))
    return ConsentsAt(state, withdrawals)
