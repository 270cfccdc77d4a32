"""The nightly partner sync: one data interval's raw events -> a Parquet drop per partner.

The same core as the stream: the consent state folded from the consent topic (as of the
interval's end), the partner contracts, the per-partner pseudonyms, the ledger. Steps:

1. read the interval's raw events from Kafka (by record timestamp) and, as context, what came
   before; fold the consent topic up to the interval's end;
2. validate the batch with the Great Expectations suites (:mod:`wijkbrug.validation`); failing
   rows go to the quarantine topic with their reasons and are left out;
3. plan the file deliveries of every partner whose contract has the ``file`` channel, plus a
   retraction notice for every withdrawal published in the interval;
4. ledger first (queued, unique on event, partner, channel), then claim, then write each
   partner's Parquet file and manifest, then mark delivered.

Re-running or backfilling a night reads the same records, pins each partner's pseudonym key to
the one the ledger recorded for that night, and so writes byte-identical files and no new
ledger rows. Only a consent withdrawn since then changes a re-run: the withdrawn resident's
rows are left out (a withdrawal stops deliveries, also old ones).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from wijkbrug import kafka_client
from wijkbrug.delivery import DELIVERABLE, Contacts, Planner
from wijkbrug.events import Event, event_id
from wijkbrug.keys import KeyStore, Pseudonymiser
from wijkbrug.ledger import DELIVERED, QUEUED, SENDING, Delivery, Ledger
from wijkbrug.nightly import drop, heap
from wijkbrug.nightly.columnar import ColumnarPlanner, NightPlan
from wijkbrug.nightly.history import History, read_history
from wijkbrug.nightly.reading import (
    ConsentsAt,
    Origin,
    Read,
    consents_at,
    fetch,
    read,
    read_records,
)
from wijkbrug.partner_contract import load_contracts
from wijkbrug.pipeline import KeyAccess
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics

if TYPE_CHECKING:
    from wijkbrug.validation import ValidationOutcome

log = logging.getLogger(__name__)

SOURCE = "urn:wijkbrug:nightly"
CHANNEL = "file"
#: Every event the nightly reads: what it delivers, and what validation needs as well.
NIGHT_EVENTS = (
    "renovation.milestone",
    "signal.consented",
    "signal.count",
    "visit.count",
    "partner.feedback",
    "consent.given",
    "consent.withdrawn",
    "consent.expired",
)


@dataclass(frozen=True)
class NightResult:
    """What one night's run did; counts and paths only, never personal data."""

    night: str
    interval: tuple[datetime, datetime]
    events: int
    undecodable: int
    drops: dict[str, drop.PartnerDrop]
    new_deliveries: int
    delivered: int
    withheld: int  # consent withdrawn since the night: left out
    held: int  # consent the registry had not recorded by the interval's end
    quarantined: int
    summary: Path | None = None
    data_docs: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)


class PinnedKeys:
    """The planner's keys, with each partner's pseudonym key pinned to the one a night used."""

    def __init__(self, access: KeyAccess, store: KeyStore, pinned: dict[str, str]) -> None:
        self.access, self.store, self.pinned = access, store, pinned
        self._pinned: dict[str, Pseudonymiser] = {}

    def pseudonymiser(self, partner: str) -> Callable[..., str]:
        key_id = self.pinned.get(partner)
        if key_id is None:
            return self.access.pseudonymiser(partner)
        if partner not in self._pinned:
            self._pinned[partner] = Pseudonymiser(self.store.get(partner, key_id, "pseudonym"))
        return self._pinned[partner]

    def subject(self, kind: str, value: str) -> str:
        return self.access.subject(kind, value)


def night_label(start: datetime, timezone: str) -> str:
    """The night's name: the residents' calendar date its interval starts on."""
    return start.astimezone(ZoneInfo(timezone)).date().isoformat()


def _planner(settings: Settings, keys: PinnedKeys) -> Planner:
    topics = load_topics()
    count = topics["raw.renovation.milestone"].partitions
    return Planner(
        load_contracts(),
        keys,
        lambda unit: kafka_client.partition_for(unit, count),
        channels=(CHANNEL,),
    )


def _validate(
    settings: Settings,
    night: Read,
    history: History,
    interval: tuple[datetime, datetime],
    run_id: str,
    report_dir: Path,
) -> ValidationOutcome:
    from wijkbrug.validation import units_from_planning, validate_night

    units = history.units | units_from_planning(night.events)
    return validate_night(
        # The block has every event's rows; taken, not kept, so it goes once the frame is made.
        () if night.block is not None else night.events,
        night_block=night.take_block(),
        history_block=history.take_block(),
        units=units,
        run_id=run_id,
        interval=interval,
        out_dir=report_dir,
    )


def _quarantine_id(origin: Origin) -> str:
    """The id of the quarantine record of a failing event: fixed by the record it came from."""
    return event_id(SOURCE, origin.topic, origin.partition, origin.offset)


def _accepted_by_steward(settings: Settings) -> set[str]:
    """Nightly quarantine records a steward released as they were (no corrections): their
    events pass a re-run of the night. A release with corrections published a corrected event
    instead, which its own night validates."""
    from wijkbrug.quarantine_audit import AuditTrail
    from wijkbrug.quarantine_review import DECISIONS, RELEASED

    latest = {}
    for entry in AuditTrail.read_only(settings.ledger()):
        if entry.connector == "nightly" and entry.action in DECISIONS:
            latest[entry.quarantine_id] = entry
    return {qid for qid, e in latest.items() if DECISIONS[e.action] == RELEASED and not e.fields}


def events_passed(
    settings: Settings, names: Sequence[str], start: datetime | None, end: datetime | None
) -> list:
    """The events published in [``start``, ``end``) less those a nightly run held back and no
    steward accepted as they were (monitoring counts what the partners could receive)."""
    found = read(settings, names, start, end)
    topic = load_topics()["quarantine"].physical(settings.topic_prefix)
    held = kafka_client.event_ids_on(settings, topic) - _accepted_by_steward(settings)
    origins = found.origins(e.id for e in found.events)
    return [e for e in found.events if _quarantine_id(origins[e.id]) not in held]


def _quarantine(settings: Settings, origins: dict[str, Origin], failed: dict) -> int:
    """Publish a quarantine record per failing event, once (ids follow the record)."""
    if not failed:
        return 0
    spec = load_topics()["quarantine"]
    physical = spec.physical(settings.topic_prefix)
    known = kafka_client.event_ids_on(settings, physical)
    publisher = kafka_client.Publisher(settings)
    sent = 0
    try:
        fresh = [i for i in sorted(failed) if _quarantine_id(origins[i]) not in known]
        records = fetch(settings, [origins[i] for i in fresh])
        for ident in fresh:
            record = records[origins[ident]]  # still there: the night was just read
            quarantine_id = _quarantine_id(origins[ident])
            value = record.value or b""
            publisher.send(
                spec,
                Event(
                    name="quarantine.record",
                    source=SOURCE,
                    id=quarantine_id,
                    key=(record.key or b"onbekend").decode(errors="replace"),
                    data={
                        "connector": "nightly",
                        "source_file": record.topic,
                        "source_sha256": hashlib.sha256(value).hexdigest(),
                        "line": record.offset + 1,
                        "reasons": [r.as_dict() for r in failed[ident]],
                        "raw": value.decode(errors="replace")[:65536],
                    },
                ),
            )
            sent += 1
        publisher.flush()
    finally:
        publisher.close()
    return sent


def _plan(
    planner: Planner,
    night: Read,
    contacts: Contacts,
    consents: ConsentsAt,
    excluded: set[str],
    today: datetime,
) -> NightPlan:
    """The night's file deliveries, planned column-wise (the same rows as ``Planner.plan``)."""
    columnar = ColumnarPlanner(planner.contracts, planner.keys, planner.partition_of)
    return columnar.plan(night.events, consents.state, today.date(), contacts, excluded)


def run_night(
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    run_id: str,
    drop_dir: Path | None = None,
    report_dir: Path | None = None,
    ledger: Ledger | None = None,
    keys: KeyStore | None = None,
    validate: bool = True,
) -> NightResult:
    """Sync the night [``start``, ``end``) to every partner with a file channel."""
    if not (start.tzinfo and end.tzinfo) or end <= start:
        raise ValueError("the interval needs time zones and a start before its end")
    heap.use_system_heap_for_arrow()
    zone = ZoneInfo(settings.timezone)
    night_name = night_label(start, settings.timezone)
    drop_dir = drop_dir or settings.state_dir / "drops"
    report_dir = report_dir or settings.state_dir / "reports" / night_name
    own_ledger = ledger is None
    ledger = ledger or Ledger(settings.ledger())
    store = keys or KeyStore(settings.keys_path(), generate=settings.generate_keys)
    try:
        # Validating, only what can be delivered is held as events; the rest as rows.
        hold = DELIVERABLE if validate else None
        night = read(settings, NIGHT_EVENTS, start, end, hold=hold)
        earlier = read_records(settings, NIGHT_EVENTS, None, start)
        history = read_history(earlier, NIGHT_EVENTS)
        heap.keep_out_of_gc()

        failed: dict = {}
        outcome = None
        if validate:
            outcome = _validate(settings, night, history, (start, end), run_id, report_dir)
            failed = dict(outcome.failed)
        contacts = history.contacts
        del history  # planning needs only the contacts
        accepted = _accepted_by_steward(settings)
        origins = night.origins(failed)
        failed = {i: r for i, r in failed.items() if _quarantine_id(origins[i]) not in accepted}
        quarantined = _quarantine(settings, origins, failed)

        # The consent state after validation: GX's working copies are gone by then.
        consents = consents_at(settings, end, since=start)
        now = consents_at(settings, None)
        withdrawn = {c.consent_id for c in now.state.all() if c.ended_by == "withdrawn"}
        del now
        access = KeyAccess(store)
        existing = ledger.statuses(CHANNEL, [e.id for e in night.events])
        pinned = _pinned_keys(ledger, existing)
        planner = _planner(settings, PinnedKeys(access, store, pinned))
        today = (end - timedelta(microseconds=1)).astimezone(zone)
        plan = _plan(planner, night, contacts, consents, set(failed), today)
        planned, held = plan.deliveries(), plan.held
        for withdrawal, _ in consents.withdrawals:
            received = ledger.received_under(withdrawal.consent.consent_id)
            file_rows = [r for r in received if r["channel"] == CHANNEL]
            planned += planner.retractions(withdrawal, file_rows)

        keep, stopped = [], []
        for d in planned:
            (keep if d.kind == "retraction" or d.consent_id not in withdrawn else stopped).append(d)
        new = ledger.enqueue(keep)
        rows = ledger.statuses(CHANNEL, {d.event_id for d in planned})
        # Queued by an earlier run of this night, withdrawn since: never sent.
        ledger.cancel(
            [found[0] for d in stopped if (found := rows.get((d.event_id, d.partner)))],
            "toestemming ingetrokken vóór de nachtelijke levering",
        )
        claimed = ledger.claim([row_id for row_id, status in rows.values() if status == QUEUED])
        leaving = [
            d for d in keep
            if (found := rows.get((d.event_id, d.partner)))
            and (found[0] in claimed or found[1] in (DELIVERED, SENDING))
        ]  # fmt: skip
        by_partner: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in leaving:
            by_partner[delivery.partner].append(delivery)
        drops = {}
        for contract in planner.contracts.values():
            if CHANNEL in contract.channels and contract.person_level:
                table = plan.file_table(contract.partner, by_partner.get(contract.partner, []))
                drops[contract.partner] = drop.write(
                    drop_dir, contract.partner, night_name, (start, end), table
                )
        ledger.mark_delivered([rows[(d.event_id, d.partner)][0] for d in leaving])
        for withdrawal, _ in consents.withdrawals:
            ledger.mark_retracted(withdrawal.consent.consent_id, withdrawal.event_id)
        reasons: dict[str, int] = defaultdict(int)
        for found in failed.values():
            for reason in found:
                reasons[reason.code] += 1
        result = NightResult(
            night=night_name,
            interval=(start, end),
            events=night.count,
            undecodable=night.undecodable,
            drops=drops,
            new_deliveries=new,
            delivered=len(leaving),
            withheld=len(stopped),
            held=held,
            quarantined=len(failed),
            summary=outcome.summary_html if outcome else None,
            data_docs=outcome.data_docs if outcome else None,
            reasons=dict(sorted(reasons.items())),
        )
        log.info(
            "nacht %s: %d gebeurtenissen, %d nieuw in het grootboek, %d geleverd, "
            "%d in quarantaine (%d nieuw gemeld)",
            night_name, result.events, new, len(leaving), len(failed), quarantined,
        )  # fmt: skip
        return result
    finally:
        heap.back_into_gc()
        if own_ledger:
            ledger.close()


def _pinned_keys(ledger: Ledger, existing: dict[tuple[str, str], tuple]) -> dict[str, str]:
    """Per partner, the pseudonym key a previous run of this night used (from the ledger)."""
    if not existing:
        return {}
    ids = [row_id for row_id, _ in existing.values()]
    from wijkbrug.ledger import deliveries

    pinned: dict[str, str] = {}
    for at in range(0, len(ids), 5000):
        for row in ledger.rows(deliveries.c.id.in_(ids[at : at + 5000])):
            if row["key_id"] and row["kind"] != "retraction":
                pinned.setdefault(row["partner"], row["key_id"])
    return pinned
