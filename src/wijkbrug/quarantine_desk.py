"""What a data steward does with a quarantined record: read, reveal, release, reject.

The edge shared by ``wijkbrug quarantine`` and the web workspace: it reads the quarantine topic
and the audit trail, publishes released records through the normal path and writes the trail.
What to show, how to correct and what a release comes to are :mod:`wijkbrug.quarantine_review`'s.
Every state change and every reveal is in the audit trail (who, what, when, why) before it takes
effect; a reason names fields, never their values. Nothing personal goes to the log or to an
error message.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from wijkbrug.settings import Settings

if TYPE_CHECKING:
    from wijkbrug.connector import Connector
    from wijkbrug.quarantine_audit import AuditTrail
    from wijkbrug.quarantine_review import AuditEntry, Fix, HeldRecord, Release, Review, View

log = logging.getLogger(__name__)

#: Review statuses as stewards read them.
STATUS_NL = {"open": "open", "released": "vrijgegeven", "rejected": "afgewezen"}


class Refused(Exception):
    """The action cannot be done as asked; ``code`` is the command's exit status (1 or 2)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def clock(settings: Settings, moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")


def checked_reason(
    text: str | None, hidden: Sequence[tuple[str, str]], *, missing: str = "geef een reden"
) -> str:
    """The steward's reason: required, and naming fields rather than their values."""
    from wijkbrug.quarantine_review import values_named

    reason = (text or "").strip()
    if not reason:
        raise Refused(missing)
    named = values_named(reason, hidden)
    if named:
        raise Refused(
            f"de reden bevat een waarde uit het record ({', '.join(named)}); "
            "noem velden, geen waarden"
        )
    return reason[:500]


def read_quarantine(settings: Settings) -> list[HeldRecord]:
    """Every record on the quarantine topic once (by id), oldest first, then in file order."""
    from wijkbrug import kafka_client
    from wijkbrug.connector import QUARANTINE_EVENT
    from wijkbrug.events import EventError, decode
    from wijkbrug.quarantine_review import HeldRecord
    from wijkbrug.schemas import SchemaViolation
    from wijkbrug.topics import load_topics

    topic = load_topics()["quarantine"].physical(settings.topic_prefix)
    found: dict[str, HeldRecord] = {}
    skipped = 0
    for record in kafka_client.read_topic(settings, topic):
        try:
            name, ident, when, data = decode(record.headers, record.value)
        except (EventError, SchemaViolation):
            skipped += 1
            continue
        if name != QUARANTINE_EVENT:
            skipped += 1
            continue
        key = (record.key or b"").decode(errors="replace")
        found.setdefault(ident, HeldRecord.from_event(ident, when, key, data))
    if skipped:
        log.warning("%d records on %s are no quarantine records; skipped", skipped, topic)
    return sorted(found.values(), key=lambda r: (r.time, r.source_file, r.line, r.id))


def audit_trail(settings: Settings) -> AuditTrail:
    from wijkbrug.quarantine_audit import AuditTrail

    return AuditTrail(settings.ledger())


def entries(settings: Settings, quarantine_id: str | None = None) -> list[AuditEntry]:
    """The trail, without creating a database where none is yet (nothing was reviewed)."""
    from wijkbrug.quarantine_audit import AuditTrail

    entries = AuditTrail.read_only(settings.ledger())
    return [e for e in entries if quarantine_id is None or e.quarantine_id == quarantine_id]


def append(settings: Settings, new: Iterable[AuditEntry]) -> None:
    store = audit_trail(settings)
    try:
        store.append(new)
    finally:
        store.close()


def review_of(entries: Iterable[AuditEntry], quarantine_id: str) -> Review:
    from wijkbrug.quarantine_review import Review, reviews

    return reviews(entries).get(quarantine_id, Review())


def find(records: Sequence[HeldRecord], prefix: str) -> tuple[HeldRecord, str]:
    """The record an (abbreviated) id names, and its short id."""
    from wijkbrug.quarantine_review import resolve, short_ids

    try:
        wanted = resolve(prefix, [r.id for r in records])
    except LookupError as error:
        raise Refused(str(error)) from None
    record = next(r for r in records if r.id == wanted)
    return record, short_ids(r.id for r in records)[record.id]


def entry(record: HeldRecord, action: str, steward: str, reason: str, **extra: Any) -> AuditEntry:
    from wijkbrug.quarantine_review import AuditEntry

    return AuditEntry(
        at=datetime.now(UTC),
        steward=steward,
        action=action,
        quarantine_id=record.id,
        connector=record.connector,
        source_file=record.source_file,
        line=record.line,
        reason=reason,
        **extra,
    )


def connector_for(record: HeldRecord) -> Connector:
    """The connector that quarantined a record, set up for the record's source format."""
    from connectors import CONNECTORS

    from wijkbrug.quarantine_review import is_delimited

    cls = CONNECTORS.get(record.connector)
    if cls is None:
        raise Refused(f"onbekende connector: {record.connector}")
    if record.connector == "consents":
        return cls(json_lines=not is_delimited(record.connector, record.source_file))
    return cls()


def still_open(record: HeldRecord, short: str, settings: Settings) -> None:
    state = review_of(entries(settings, record.id), record.id)
    if state.status != "open":
        raise Refused(
            f"{short} is al {STATUS_NL[state.status]} door {state.steward} op "
            f"{clock(settings, state.at)}; een beoordeling is definitief",
            code=1,
        )


def connector_release(
    record: HeldRecord, fixes: list[Fix], today: date | None, settings: Settings
) -> Release:
    """The record through its connector, with the context and dedup memory a run has."""
    from wijkbrug import kafka_client
    from wijkbrug.connector import make_context
    from wijkbrug.quarantine_review import policy_for, release_connector_record
    from wijkbrug.runner import unit_register

    connector = connector_for(record)
    known = kafka_client.known_event_ids(settings, connector.topics(), connector.source)
    units = unit_register(settings) if connector.needs_units else {}
    context = make_context(today, units)
    return release_connector_record(connector, record, policy_for(record), fixes, known, context)


def stream_release(record: HeldRecord, fixes: list[Fix], settings: Settings) -> Release:
    """The corrected event, for the raw topic the stream worker read it from."""
    from wijkbrug import kafka_client
    from wijkbrug.quarantine_review import (
        STREAM_IDENTITY,
        policy_for,
        raw_topic_of,
        release_stream_record,
        stream_source,
    )
    from wijkbrug.topics import load_topics

    topics = load_topics()
    logical = raw_topic_of(record, settings.topic_prefix)
    if logical not in topics:
        raise Refused(f"{record.source_file} is geen raw topic van deze omgeving")
    spec = topics[logical]
    known: set[str] = set()
    for name in spec.event_types:
        if name in STREAM_IDENTITY:
            known |= kafka_client.known_event_ids(settings, [spec], stream_source(name))
    now = datetime.now(UTC)
    return release_stream_record(record, policy_for(record), fixes, spec.event_types, known, now)


def publish(settings: Settings, release: Release) -> dict[str, int]:
    """Publish and wait for the broker's acknowledgement of every event; events per topic."""
    from wijkbrug import kafka_client
    from wijkbrug.topics import topic_for

    specs = {e.name: topic_for(e.name) for e in release.events}
    kafka_client.ensure_topics(settings, {s.name: s for s in specs.values()}.values())
    publisher = kafka_client.Publisher(settings)
    try:
        for event in release.events:
            publisher.send(specs[event.name], event)
        publisher.flush()
    finally:
        publisher.close()
    return dict(sorted(Counter(specs[e.name].name for e in release.events).items()))


def reveal(
    settings: Settings,
    chosen: Sequence[HeldRecord],
    steward: str,
    reason: str | None,
    **kwargs: Any,
) -> dict[str, View]:
    """The records unmasked, after the reveal is in the audit trail (one entry per record)."""
    from wijkbrug.quarantine_review import policy_for, view

    views = {r.id: view(r, policy_for(r), reveal=True) for r in chosen}
    if chosen:
        text = checked_reason(reason, [pair for v in views.values() for pair in v.hidden], **kwargs)
        append(settings, [entry(r, "reveal", steward, text) for r in chosen])  # before showing
    return views


@dataclass
class Released:
    """What a release did: the connector's verdict, the corrected fields, events per topic."""

    release: Release
    fields: list[str]
    per_topic: dict[str, int] = field(default_factory=dict)


def release(
    settings: Settings,
    record: HeldRecord,
    short: str,
    fixes: list[Fix],
    steward: str,
    reason: str | None,
    *,
    today: date | None = None,
    **kwargs: Any,
) -> Released:
    """Correct and re-publish ``record`` through its normal path, then record the decision.

    A record that still does not pass stays open (``released.release.refused``): nothing is
    published and nothing is written to the trail."""
    from wijkbrug.quarantine_audit import AlreadyDecided
    from wijkbrug.quarantine_review import RAW_TOPIC_CONNECTORS, FixError, policy_for, view

    hidden = [*view(record, policy_for(record)).hidden]
    hidden += [(f.field, str(f.value)) for f in fixes if f.value is not None]
    text = checked_reason(reason, hidden, **kwargs)
    still_open(record, short, settings)
    try:
        if record.connector in RAW_TOPIC_CONNECTORS:
            outcome = stream_release(record, fixes, settings)
        else:
            outcome = connector_release(record, fixes, today, settings)
    except FixError as error:
        raise Refused(str(error)) from None
    done = Released(outcome, [f.field for f in fixes])
    if outcome.refused:
        log.info("release of %s refused: %s", short, [r.code for r in outcome.reasons])
        return done
    done.per_topic = publish(settings, outcome) if outcome.events else {}
    ids = tuple(e.id for e in outcome.events)
    decision = entry(record, "release", steward, text, fields=tuple(done.fields), event_ids=ids)
    try:
        append(settings, [decision])
    except AlreadyDecided:
        raise Refused(
            f"{short} is intussen door een ander beoordeeld; de gebeurtenissen hebben vaste "
            "id's en tellen niet dubbel",
            code=1,
        ) from None
    log.info("%s released: %d events", short, len(ids))
    return done


def reject(
    settings: Settings, record: HeldRecord, short: str, steward: str, reason: str | None, **kw: Any
) -> None:
    """Reject ``record`` for good, with the steward's reason in the trail."""
    from wijkbrug.quarantine_audit import AlreadyDecided
    from wijkbrug.quarantine_review import policy_for, view

    text = checked_reason(reason, view(record, policy_for(record)).hidden, **kw)
    still_open(record, short, settings)
    try:
        append(settings, [entry(record, "reject", steward, text)])
    except AlreadyDecided:
        raise Refused(f"{short} is intussen door een ander beoordeeld", code=1) from None
