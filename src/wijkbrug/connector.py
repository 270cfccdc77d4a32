"""The shared base of every connector: read -> map -> validate -> publish -> summarise.

A connector only says how to read its source format into records and how to map one record to
events; this module owns the rest. :func:`process` is pure (no I/O): it classifies every record
as published, duplicate or quarantined. :func:`run_file` is the edge that reads the file, asks
Kafka what was published before, publishes and waits for the broker's acknowledgements.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from wijkbrug.events import SOURCE_PREFIX, Event, event_id
from wijkbrug.partners import Partner, load_partners
from wijkbrug.reasons import Reason
from wijkbrug.rules import RuleError
from wijkbrug.schemas import SchemaViolation
from wijkbrug.topics import TopicSpec, topic_for
from wijkbrug.units import Unit

log = logging.getLogger(__name__)

QUARANTINE_EVENT = "quarantine.record"
UNKNOWN_UNIT = "onbekend"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One data record as read: where it starts, its raw text, its fields (None if unparseable)."""

    line: int
    raw: str
    fields: dict[str, Any] | None
    error: Reason | None = None


class Rejected(Exception):
    """A record breaks one or more rules; it goes to quarantine with every reason found."""

    def __init__(self, reasons: Iterable[Reason]) -> None:
        self.reasons = list(reasons)
        super().__init__(", ".join(r.code for r in self.reasons))


class Checks:
    """Collects every rule a record breaks, so the steward sees all reasons at once."""

    def __init__(self) -> None:
        self.reasons: list[Reason] = []

    def __call__(self, field_name: str, parse: Callable[..., Any], *args: Any) -> Any:
        """Run ``parse(*args)``; on a :class:`RuleError` note the reason and return None.

        A parser that trips over a value of the wrong JSON type (a list where a date belongs)
        raises TypeError or AttributeError: that is the record's fault, ``field.type``.
        """
        try:
            return parse(*args)
        except RuleError as error:
            self.reasons.append(Reason(error.code, field_name))
        except (TypeError, AttributeError):
            self.reasons.append(Reason("field.type", field_name))
        return None

    def parse(
        self,
        fields: dict[str, Any],
        name: str,
        parse: Callable[..., Any],
        *args: Any,
        required: bool = True,
    ) -> Any:
        """Parse text field ``name`` with ``parse(value, *args)``; blank counts as missing."""
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.reasons.append(Reason("field.missing", name))
            return None
        if not isinstance(value, str):
            self.reasons.append(Reason("field.type", name))
            return None
        return self(name, parse, value, *args)

    def fail(self, code: str, field_name: str | None = None) -> None:
        self.reasons.append(Reason(code, field_name))

    def done(self) -> None:
        """Raise :class:`Rejected` if any rule was broken."""
        if self.reasons:
            raise Rejected(self.reasons)


@dataclass(frozen=True, slots=True)
class Context:
    """What mapping may depend on besides the record: the date, the partners, the run time."""

    today: date
    partners: dict[str, Partner]
    now: datetime
    #: The unit register (vhe -> Unit), for connectors whose source lacks the complex.
    units: Mapping[str, Unit] = field(default_factory=dict)


class Connector(ABC):
    """A source system: how to read its format and map one record to events."""

    name: ClassVar[str]
    #: The event names this connector publishes (besides quarantine records).
    event_names: ClassVar[tuple[str, ...]]
    #: Whether mapping needs the unit register (read from the milestone topic).
    needs_units: ClassVar[bool] = False

    @property
    def source(self) -> str:
        return SOURCE_PREFIX + self.name

    @abstractmethod
    def read(self, data: bytes) -> Iterator[SourceRecord]:
        """Every non-blank data record of a file, in order."""

    @abstractmethod
    def map(self, record: SourceRecord, context: Context) -> list[Event]:
        """The events of one valid record; raise :class:`Rejected` for an invalid one."""

    def unit_of(self, record: SourceRecord) -> str:
        """The unit a (possibly invalid) record is about, for the quarantine record's key."""
        value = (record.fields or {}).get("vhe")
        return value.strip() if isinstance(value, str) and value.strip() else UNKNOWN_UNIT

    def topics(self) -> list[TopicSpec]:
        """The topics this connector publishes to, quarantine included."""
        names = (*self.event_names, QUARANTINE_EVENT)
        return list({topic_for(n).name: topic_for(n) for n in names}.values())


Outcome = Literal["published", "duplicate", "quarantined"]


@dataclass(slots=True)
class Result:
    """What happened to one record: its outcome, the events to send, the reasons if quarantined."""

    record: SourceRecord
    outcome: Outcome
    events: list[Event] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SourceFile:
    name: str
    sha256: str


def quarantine_event(
    connector: Connector,
    source: SourceFile,
    record: SourceRecord,
    reasons: list[Reason],
    now: datetime,
) -> Event:
    """The quarantine record for a rejected source record. Same raw record, same id."""
    digest = hashlib.sha256(record.raw.encode("utf-8")).hexdigest()
    unit = connector.unit_of(record)
    return Event(
        name=QUARANTINE_EVENT,
        source=connector.source,
        id=event_id(connector.source, "quarantine", digest),
        key=unit,
        subject=None if unit == UNKNOWN_UNIT else unit,
        time=now,
        data={
            "connector": connector.name,
            "source_file": source.name,
            "source_sha256": source.sha256,
            "line": record.line,
            "reasons": [r.as_dict() for r in reasons],
            "raw": record.raw[:65536],
        },
    )


def _events_of(connector: Connector, record: SourceRecord, context: Context) -> list[Event]:
    """The schema-valid events of one record; :class:`Rejected` with every reason if none."""
    if record.error is not None:
        raise Rejected([record.error])
    try:
        events = connector.map(record, context)
    except Rejected:
        raise
    except Exception as error:  # a bug must neither stop the run nor lose the record
        log.error(
            "%s: record on line %d not processed: %s",
            connector.name,
            record.line,
            type(error).__name__,
        )  # not the message: it may quote the record's values
        raise Rejected([Reason("processing.error")]) from None
    for event in events:
        try:
            event.validate()
        except SchemaViolation as violation:
            raise Rejected([Reason("schema.invalid", violation.path or None)]) from None
    return events


def process(
    connector: Connector,
    records: Iterable[SourceRecord],
    source: SourceFile,
    known_ids: set[str],
    context: Context,
) -> Iterator[Result]:
    """Classify every record; ``known_ids`` grows with what this run publishes.

    A record is *quarantined* when it cannot be read or mapped or an event breaks its schema,
    a *duplicate* when all its events were published before, else *published* (its new events
    are in ``Result.events``; a quarantined record's one event is its quarantine record, sent
    only the first time that raw record is seen).
    """
    for record in records:
        try:
            events = _events_of(connector, record, context)
        except Rejected as rejected:
            event = quarantine_event(connector, source, record, rejected.reasons, context.now)
            event.validate()  # a quarantine record that breaks its schema is a bug: fail loudly
            events = [event]
            outcome: Outcome = "quarantined"
            reasons = rejected.reasons
        else:
            outcome, reasons = "published", []
        fresh = [e for e in {e.id: e for e in events}.values() if e.id not in known_ids]
        known_ids.update(e.id for e in fresh)
        if outcome == "published" and not fresh:
            outcome = "duplicate"
        yield Result(record, outcome, fresh, reasons)


@dataclass(slots=True)
class Summary:
    """The run summary a steward reads: counts per outcome, events per topic, reasons."""

    connector: str
    source_file: str
    dry_run: bool
    read: int = 0
    published: int = 0
    duplicates: int = 0
    quarantined: int = 0
    events_published: Counter[str] = field(default_factory=Counter)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    quarantined_lines: list[int] = field(default_factory=list)

    def add(self, result: Result) -> None:
        self.read += 1
        if result.outcome == "published":
            self.published += 1
        elif result.outcome == "duplicate":
            self.duplicates += 1
        else:
            self.quarantined += 1
            self.quarantined_lines.append(result.record.line)
            self.quarantine_reasons.update(r.code for r in result.reasons)
        for event in result.events:
            self.events_published[topic_for(event.name).name] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "source_file": self.source_file,
            "dry_run": self.dry_run,
            "read": self.read,
            "published": self.published,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "events_published": dict(sorted(self.events_published.items())),
            "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
            "quarantined_lines": self.quarantined_lines,
        }


def make_context(today: date | None = None, units: Mapping[str, Unit] | None = None) -> Context:
    """A context for now; 'today' is the date in the Netherlands."""
    now = datetime.now(UTC)
    return Context(
        today=today or now.astimezone(AMSTERDAM).date(),
        partners=load_partners(),
        now=now,
        units=units or {},
    )


def read_source(path: Path) -> tuple[bytes, SourceFile]:
    data = path.read_bytes()
    return data, SourceFile(path.name, hashlib.sha256(data).hexdigest())
