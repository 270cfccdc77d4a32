"""The stream worker in integration tests: data, hand-made raw events, partner topics, workers.

Everything here talks to the real broker. The expected outcomes are computed from the source
files or from what the tests published themselves, never from the worker's own state.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from connectors.consent_registry import ConsentRegistryConnector
from connectors.home_visits import HomeVisitsConnector
from connectors.planning import PlanningConnector
from kafka import KafkaConsumer, TopicPartition

from tests.support.topics import read_back
from wijkbrug import kafka_client
from wijkbrug.events import Event, event_id
from wijkbrug.runner import run_file
from wijkbrug.settings import Settings
from wijkbrug.synth import write_dataset
from wijkbrug.topics import load_topics, topic_for

REPO = Path(__file__).resolve().parents[2]
#: Partners whose contract lists the kafka channel: they have a ``deliver.<partner>`` topic.
KAFKA_PARTNERS = ("buurtteam-overvecht", "dock")
RAW_PARTITIONS = load_topics()["raw.signal"].partitions
CONSENTS_SOURCE = "urn:wijkbrug:connector:consents"
PLANNING_SOURCE = "urn:wijkbrug:connector:planning"
VISITS_SOURCE = "urn:wijkbrug:connector:home-visits"


def noon(day: date) -> Callable[[], datetime]:
    """A worker clock fixed at noon (UTC) of ``day``: the delivery day, whatever today is."""
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return lambda: moment


def wait_until(
    condition: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.02
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


# -- source files ---------------------------------------------------------------------------


def _read_delimited(data: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(data, newline=""), delimiter=";"))
    return rows[0], [row for row in rows[1:] if row]


def _write_delimited(header: list[str], rows: list[list[str]], line_end: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator=line_end)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_subset(out: Path, *, seed: int, as_of: date, per_partner: int = 6) -> Path:
    """A small synthetic renovation: the households of the latest few consents per partner
    that are valid on ``as_of`` (their renovation is still ahead: alerts), plus a few households
    without any consent, with all their planning rows, visits and registry rows. Written as the
    source systems export them."""
    full = out / "full"
    write_dataset(full, seed=seed, as_of=as_of)
    consents = registry_consents(full / "consents.csv")
    chosen: list[str] = []
    per: dict[str, int] = {}
    for consent in reversed(consents.values()):  # the latest visits: renovation ahead
        if consent.valid_on(as_of) and per.get(consent.partner, 0) < per_partner:
            per[consent.partner] = per.get(consent.partner, 0) + 1
            if consent.unit not in chosen:
                chosen.append(consent.unit)
    header, planning = _read_delimited((full / "planning.csv").read_bytes().decode("cp1252"))
    vhe = header.index("vhe")
    with_consent = {c.unit for c in consents.values()}
    spare = [u for u in dict.fromkeys(row[vhe] for row in planning) if u not in with_consent]
    units = {*chosen, *spare[:per_partner]}

    subset = out / "subset"
    subset.mkdir(parents=True, exist_ok=True)
    rows = [row for row in planning if row[vhe] in units]
    (subset / "planning.csv").write_bytes(_write_delimited(header, rows, "\r\n").encode("cp1252"))
    visits = [
        line
        for line in (full / "home_visits.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("vhe") in units
    ]
    (subset / "home_visits.jsonl").write_text("".join(v + "\n" for v in visits), "utf-8")
    header, registry = _read_delimited((full / "consents.csv").read_text(encoding="utf-8"))
    unit_column = header.index("vhe")
    kept = [row for row in registry if row[unit_column] in units]
    (subset / "consents.csv").write_text(_write_delimited(header, kept, "\n"), "utf-8")
    return subset


def publish_sources(settings: Settings, directory: Path, today: date) -> None:
    """Planning, home visits and consents onto the raw and consent topics (the connectors)."""
    runs = [
        (PlanningConnector(), "planning.csv"),
        (HomeVisitsConnector(), "home_visits.jsonl"),
        (ConsentRegistryConnector(), "consents.csv"),
    ]
    for connector, name in runs:
        summary = run_file(connector, directory / name, settings, today=today, progress=False)
        assert summary.quarantined == 0, (name, summary.quarantine_reasons)


def copy_sources(
    source: Settings,
    target: Settings,
    names: Iterable[str] = ("raw.renovation.milestone", "raw.signal", "consent"),
) -> int:
    """Copy topics (by default the stream's inputs) to ``target``'s prefix, record for record
    (same keys, headers and so partitions, same order per partition), published now: the same
    input for a second run."""
    kafka_client.ensure_topics(target)  # every topic, as the connectors' runs leave them
    publisher = kafka_client.Publisher(target)
    copied = 0
    try:
        for name in names:
            for record in kafka_client.read_topic(source, source.topic_prefix + name):
                publisher.send_raw(
                    target.topic_prefix + name, record.key, record.value, record.headers
                )
                copied += 1
        publisher.flush()
    finally:
        publisher.close()
    return copied


#: Published sources and reference runs, once per test session (see :func:`renovation`).
_SESSION: dict[tuple[Any, ...], Any] = {}
#: The export day of the small synthetic renovation, and its delivery day.
SMALL_AS_OF = date(2026, 6, 30)


@dataclass(frozen=True, slots=True)
class Renovation:
    """Synthetic source files, published once by the real connectors on a prefix of their own.

    A test takes its own copy of the published topics (:func:`copy_sources`): the same
    records, without paying for the connectors again. ``day`` is the export day.
    """

    source: Settings
    directory: Path
    day: date

    def copy_to(self, settings: Settings) -> Settings:
        copy_sources(self.source, settings)
        return settings

    def reference(self, delivery_day: date | None) -> dict[str, set[str]]:
        """What one clean worker delivers per partner topic from these records (run once per
        session on the source prefix; ``None``: the real clock, as the CLI has it)."""
        key = ("reference", self.source.topic_prefix, delivery_day)
        if key not in _SESSION:
            state = self.directory.parent / f"{self.directory.name}-reference-{delivery_day}"
            worker_for(isolated(self.source, state), delivery_day).run(until_idle_s=0.5, max_s=60)
            _SESSION[key] = {
                p: {r.event_id for r in delivered(self.source, p)} for p in KAFKA_PARTNERS
            }
        return {p: set(ids) for p, ids in _SESSION[key].items()}


def renovation(settings: Settings, basetemp: Path, *, small: bool) -> Renovation:
    """The small renovation (:func:`write_subset`, exported on SMALL_AS_OF) or the whole one
    (432 homes, exported today on the residents' calendar: the CLI's clock is real)."""
    day = SMALL_AS_OF if small else datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    key = ("renovation", settings.kafka_bootstrap, small, day)
    if key not in _SESSION:
        name = f"stream-{'small' if small else 'whole'}-{uuid.uuid4().hex[:8]}"
        if small:
            directory = write_subset(basetemp / name, seed=11, as_of=day)
        else:
            directory = basetemp / name
            write_dataset(directory, seed=5, as_of=day)
        source = settings.model_copy(update={"topic_prefix": f"{name}."})
        publish_sources(source, directory, day)
        _SESSION[key] = Renovation(source, directory, day)
    return _SESSION[key]


@dataclass(frozen=True, slots=True)
class RegistryConsent:
    """One consent as the registry export says, folded by hand (independent of wijkbrug)."""

    consent_id: str
    tenant: str
    unit: str
    partner: str
    purpose: str
    categories: frozenset[str]
    valid_from: date
    valid_until: date
    ended_on: date | None
    registration: str | None = None

    def valid_on(self, day: date) -> bool:
        if self.ended_on is not None and self.ended_on <= day:
            return False
        return self.valid_from <= day <= self.valid_until


def registry_consents(path: Path) -> dict[str, RegistryConsent]:
    """Every consent of a registry CSV export by id, its end (withdrawn/expired) applied."""
    given: dict[str, dict[str, str]] = {}
    ended: dict[str, date] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            if row["status"] == "gegeven":
                given[row["toestemming_id"]] = row
            else:
                day = date.fromisoformat(row["mutatiedatum"])
                previous = ended.get(row["toestemming_id"])
                ended[row["toestemming_id"]] = day if previous is None else min(previous, day)
    return {
        cid: RegistryConsent(
            consent_id=cid,
            tenant=row["huurdernummer"],
            unit=row["vhe"],
            partner=row["partner"],
            purpose=row["doel"],
            categories=frozenset(filter(None, row["categorieen"].split("|"))),
            valid_from=date.fromisoformat(row["ingangsdatum"]),
            valid_until=date.fromisoformat(row["geldig_tot"]),
            ended_on=ended.get(cid),
            registration=row["registratie_id"] or None,
        )
        for cid, row in given.items()
    }


def raw_events(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every event on the raw topics by event id: ``{"type", "data", "partition", "offset"}``."""
    found: dict[str, dict[str, Any]] = {}
    for name in ("raw.signal", "raw.renovation.milestone"):
        for record in read_back(settings, name):
            headers = dict(record.headers)
            found[headers["ce_id"].decode()] = {
                "type": headers["ce_type"].decode(),
                "data": orjson.loads(record.value),
                "topic": name,
                "partition": record.partition,
                "offset": record.offset,
            }
    return found


# -- partner topics -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivered:
    """One record on a partner topic: its CloudEvents id and the envelope it carries."""

    event_id: str
    envelope: dict[str, Any]
    partition: int
    offset: int
    raw: bytes


def _delivered(record: Any) -> Delivered:
    headers = dict(record.headers)
    return Delivered(
        headers["ce_id"].decode(),
        orjson.loads(record.value),
        record.partition,
        record.offset,
        record.value,
    )


def delivered(settings: Settings, partner: str) -> list[Delivered]:
    """Everything now on ``deliver.<partner>``."""
    return [_delivered(r) for r in read_back(settings, f"deliver.{partner}")]


class TopicFollower:
    """A plain consumer on every partition of a topic from the start, collecting as it goes."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.name = settings.topic_prefix + topic
        self.records: list[Delivered] = []
        self._consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )
        partitions = wait_until(
            lambda: self._consumer.partitions_for_topic(self.name), 30, f"topic {self.name}"
        )
        tps = [TopicPartition(self.name, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        self._consumer.seek_to_beginning(*tps)

    def poll(self, timeout_ms: int = 20) -> list[Delivered]:
        fresh = [_delivered(r) for batch in self._consumer.poll(timeout_ms).values() for r in batch]
        self.records += fresh
        return fresh

    def wait(self, condition: Callable[[list[Delivered]], Any], timeout_s: float, what: str):
        """Read on until ``condition(records)`` holds; return its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            value = condition(self.records)
            if value:
                return value
            if time.monotonic() > deadline:
                ids = [(d.envelope.get("kind"), d.event_id) for d in self.records]
                raise AssertionError(f"{self.name}: timed out waiting for {what}; have {ids}")

    def wait_for_event(self, event: str, timeout_s: float = 10) -> Delivered:
        return self.wait(
            lambda records: next((r for r in records if r.event_id == event), None),
            timeout_s,
            f"event {event}",
        )

    def end_total(self) -> int:
        tps = list(self._consumer.assignment())
        return sum(self._consumer.end_offsets(tps).values())

    def close(self) -> None:
        self._consumer.close()


# -- hand-made raw events -------------------------------------------------------------------


def units_on_one_partition(
    count: int, partition: int | None = None, start: int = 70000000
) -> list[str]:
    """``count`` unit numbers whose events land on one raw partition (``partition``, or the
    first one found): their events are read in the order they were published."""
    units: list[str] = []
    number = start
    while len(units) < count:
        unit = str(number)
        found = kafka_client.partition_for(unit, RAW_PARTITIONS)
        if partition is None:
            partition = found
        if found == partition:
            units.append(unit)
        number += 1
    return units


@dataclass(frozen=True, slots=True)
class Household:
    """A synthetic household for hand-made events."""

    unit: str
    tenant: str
    name: str = "Synthetische Bewoner"
    phone: str = "06-12345678"
    street: str = "Theemsdreef"
    number: int = 12
    postcode: str = "3562AB"
    complex: str = "CPX-OV-031"


def consent_given(
    household: Household,
    consent_id: str,
    partner: str,
    purpose: str,
    categories: Iterable[str],
    day: date,
    registration: str | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
) -> Event:
    """A consent given 30 days before ``day`` and valid for half a year (unless told)."""
    valid_from = valid_from or day - timedelta(days=30)
    data = {
        "consent_id": consent_id,
        "tenant_number": household.tenant,
        "unit_id": household.unit,
        "partner": partner,
        "purpose": purpose,
        "registration_id": registration,
        "categories": sorted(categories),
        "valid_from": valid_from.isoformat(),
        "valid_until": (valid_until or day + timedelta(days=180)).isoformat(),
        "recorded_on": valid_from.isoformat(),
    }
    return Event(
        name="consent.given",
        source=CONSENTS_SOURCE,
        id=event_id(CONSENTS_SOURCE, consent_id, "gegeven", data["recorded_on"]),
        key=consent_id,
        subject=household.unit,
        data=data,
    )


def consent_withdrawn(given: Event, day: date) -> Event:
    data = {k: given.data[k] for k in ("consent_id", "tenant_number", "unit_id", "partner")}
    data |= {
        "purpose": given.data["purpose"],
        "registration_id": given.data["registration_id"],
        "withdrawn_on": day.isoformat(),
    }
    return Event(
        name="consent.withdrawn",
        source=CONSENTS_SOURCE,
        id=event_id(CONSENTS_SOURCE, data["consent_id"], "ingetrokken", data["withdrawn_on"]),
        key=data["consent_id"],
        subject=given.data["unit_id"],
        data=data,
    )


def milestone(
    household: Household, name: str, planned: date, realised: date | None = None
) -> Event:
    data = {
        "project": "THEMA-DREVEN",
        "complex": household.complex,
        "unit_id": household.unit,
        "address": {
            "street": household.street,
            "house_number": household.number,
            "addition": None,
            "postcode": household.postcode,
        },
        "tenant_number": household.tenant,
        "milestone": name,
        "planned_date": planned.isoformat(),
        "realised_date": realised.isoformat() if realised else None,
        "status": "gerealiseerd" if realised else "gepland",
        "remark": "Vrije tekst van de planner",
    }
    identity = (household.unit, name, data["planned_date"], data["realised_date"])
    return Event(
        name="renovation.milestone",
        source=PLANNING_SOURCE,
        id=event_id(PLANNING_SOURCE, *identity),
        key=household.unit,
        subject=household.unit,
        data=data,
    )


def signal(
    household: Household,
    registration: str,
    index: int,
    category: str,
    visit: date,
    consents: Iterable[tuple[str, str, Iterable[str]]],
) -> Event:
    """A consented signal of a visit; ``consents`` are (partner, purpose, categories)."""
    refs = [
        {
            "consent_ref": f"{registration}/{partner}/{purpose}",
            "partner": partner,
            "purpose": purpose,
            "categories": sorted(categories),
            "valid_until": (visit + timedelta(days=180)).isoformat(),
        }
        for partner, purpose, categories in consents
    ]
    data = {
        "registration_id": registration,
        "visit_date": visit.isoformat(),
        "unit_id": household.unit,
        "complex": household.complex,
        "tenant_number": household.tenant,
        "registered_by": "Medewerker Een",
        "resident": {
            "name": household.name,
            "phone": household.phone,
            "birth_date": "1981-06-15",
            "bsn": "111222333",
            "language": "nl",
        },
        "signal_index": index,
        "category": category,
        "urgency": "normaal",
        "note": "Vrije tekst van de bezoeker",
        "consents": refs,
    }
    return Event(
        name="signal.consented",
        source=VISITS_SOURCE,
        id=event_id(VISITS_SOURCE, registration, "signal", index),
        key=household.unit,
        subject=household.unit,
        data=data,
    )


class RawPublisher:
    """Publishes hand-made events to the topic of their type and waits for the broker's ack."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._publisher = kafka_client.Publisher(settings)

    def publish(self, *events: Event) -> float:
        """Send and flush; returns time.monotonic() just before sending."""
        started = time.monotonic()
        for event in events:
            event.validate()
            self._publisher.send(topic_for(event.name), event)
        self._publisher.flush()
        return started

    def publish_raw(self, topic: str, key: bytes, value: bytes, headers: list) -> None:
        self._publisher.send_raw(self.settings.topic_prefix + topic, key, value, headers)
        self._publisher.flush()

    def close(self) -> None:
        self._publisher.close()


# -- workers --------------------------------------------------------------------------------


def isolated(settings: Settings, state_dir: Path, **update: Any) -> Settings:
    """A test's settings: its own topic prefix (the fixture's), state dir (ledger, keys) and
    consumer group, so nothing is shared with another test on the same broker."""
    prefix = update.get("topic_prefix", settings.topic_prefix)
    values = {"state_dir": state_dir, "stream_group": f"{prefix}stream", **update}
    return settings.model_copy(update=values)


def worker_for(settings: Settings, day: date | None, **kwargs: Any) -> Any:
    """A stream worker on ``settings`` whose delivery day is ``day`` (None: the real clock)."""
    from wijkbrug.stream import StreamWorker

    kwargs.setdefault("group_id", settings.stream_group)
    return StreamWorker(settings, clock=noon(day) if day else None, **kwargs)


class WorkerThread:
    """``StreamWorker.run()`` in a thread of its own, as the CLI runs it; stopped via ``stop``."""

    def __init__(self, worker: Any, **run_kwargs: Any) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, kwargs=run_kwargs, daemon=True)

    def _run(self, **kwargs: Any) -> None:
        try:
            self.worker.run(**kwargs)
        except BaseException as error:  # reported by stop()
            self.error = error

    def start(self) -> WorkerThread:
        self._thread.start()
        return self

    def owned(self) -> set[int]:
        return self.worker.owned()

    def wait_assigned(self, timeout_s: float = 30) -> set[int]:
        return wait_until(self.owned, timeout_s, "the worker's partition assignment")

    def stop(self, timeout_s: float = 30) -> None:
        self.worker.stop.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the worker did not stop"
        if self.error is not None:
            raise AssertionError("the worker thread failed") from self.error

    def __enter__(self) -> WorkerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the command line ----------------------------------------------------------------------


def stream_command(*args: str) -> list[str]:
    """``wijkbrug stream`` as a child process: the real command line."""
    return [sys.executable, "-m", "wijkbrug.cli", "stream", *args]


def stream_env(settings: Settings) -> dict[str, str]:
    return os.environ | {
        "WIJKBRUG_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "WIJKBRUG_TOPIC_PREFIX": settings.topic_prefix,
        "WIJKBRUG_STATE_DIR": str(settings.state_dir),
        "WIJKBRUG_STREAM_GROUP": settings.stream_group,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def committed_offsets(settings: Settings, group: str) -> dict[tuple[str, int], int]:
    """The group's committed offsets per (logical raw topic, partition)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        found = {}
        for name in ("raw.signal", "raw.renovation.milestone"):
            physical = settings.topic_prefix + name
            for p in sorted(consumer.partitions_for_topic(physical) or []):
                offset = consumer.committed(TopicPartition(physical, p))
                found[(name, p)] = offset or 0
        return found
    finally:
        consumer.close()
