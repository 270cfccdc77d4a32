"""Stream worker throughput and end-to-end latency, against a raw passthrough in the same run.

    .venv/bin/python benchmarks/stream.py [--events N] [--rate R] [--seconds S]
                                          [--bootstrap HOST:PORT] [--ledger-url URL] [--profile]
                                          [--writer process|inline]

Needs a broker (``bash scripts/kafka.sh start``). Every run uses its own topic prefix
(``bench<hex>.``), consumer groups and a temporary state folder (keys, SQLite ledger), and
deletes its topics at the end (``--keep-topics`` keeps them).

Data: a population of households (432 flats, as the Thema-dreven) with consents for the
partners (``consent.given`` on the consent topic), then ``renovation.milestone`` and
``signal.consented`` events, built as the connectors build them (schema-valid, CloudEvents
binary mode through :class:`wijkbrug.kafka_client.Publisher`). Most are deliverable on the
worker's (fixed) delivery day; milestones fall inside the alert horizon, so buurtteam alerts
are made. Webhook addresses are left empty: webhook rows stay queued in the ledger and only the
partner topics (``deliver.<partner>``, the Kafka channel) are measured.

1. Throughput. N events are pre-loaded on the raw topics; then, each from its first record
   to its last, (a) a passthrough with the same client and the same wrappers (a
   :class:`~wijkbrug.kafka_client.GroupConsumer` over the raw topics, every record produced
   unchanged by a :class:`~wijkbrug.kafka_client.Publisher`, flush, commit, per batch) and
   (b) a :class:`~wijkbrug.stream.StreamWorker` stepped until every event is planned, in the
   ledger, committed, and its Kafka deliveries acknowledged; then (a) once more, as this
   machine's speed drifts. Group join time is excluded (reported apart), and so is the
   worker's take-over of its first partitions (reading their history, which a passthrough
   has none of). Printed: events/s,
   the ratio worker / mean passthrough (and the same by CPU time per event), and where the
   worker's time goes per event (wall time per stage of ``step()``).
2. Latency. A load generator (own process) publishes R events/s for S seconds like a
   connector does; the worker (this process, warm) delivers; a probe (own process) reads the
   partner topics. Latency = probe receipt wall time - generator ``send()`` wall time, matched
   on the event id (``ce_id`` of the partner record = the raw event id). Printed for alerts
   and for every partner-topic delivery: p50/p95/p99/max, and the achieved offered rate.

Exits 0 whatever the figures (a measurement, not a test); targets that are missed say MISS.
A consumer whose group join hangs (kafka-python 3.0.12, see ``JOIN_TIMEOUT_S``) is replaced by
a fresh one; the output says so.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import logging
import multiprocessing as mp
import os
import pstats
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from wijkbrug import kafka_client
from wijkbrug.codes import SIGNAL_CATEGORIES, URGENCIES
from wijkbrug.delivery import ALERT_HORIZON
from wijkbrug.events import SOURCE_PREFIX, Event, event_id
from wijkbrug.settings import Settings
from wijkbrug.stream import RAW_TOPICS, StreamWorker
from wijkbrug.topics import TopicSpec, load_topics

PLANNING = SOURCE_PREFIX + "planning"
HOME_VISITS = SOURCE_PREFIX + "home-visits"
CONSENTS = SOURCE_PREFIX + "consents"

HOUSEHOLDS = 432  # the Thema-dreven
STREETS = ("Tigrisdreef", "Gangesdreef", "Eufraatdreef", "Amazonedreef", "Nijldreef", "Donaudreef")
ALERT_MILESTONES = (  # partners/contracts/buurtteam-overvecht.yaml
    "verhuisd_logeerwoning",
    "renovatie_gestart",
    "renovatie_opgeleverd",
    "terug_in_woning",
    "afrondend_huisbezoek",
)
OTHER_MILESTONES = ("huisbezoek_vooraf", "planning_gecommuniceerd", "berging_leeg")
#: Per partner: share of households that consented, purposes (weights), categories to draw from.
CONSENT_MIX: dict[str, tuple[float, dict[str, float], tuple[str, ...]]] = {
    "buurtteam-overvecht": (
        0.9,
        {"doorverwijzing": 0.7, "informeren": 0.15, "warme_overdracht": 0.15},
        SIGNAL_CATEGORIES,
    ),
    "dock": (
        0.5,
        {"doorverwijzing": 0.8, "warme_overdracht": 0.2},
        ("eenzaamheid", "dagbesteding", "taal", "renovatiestress", "opvoeding"),
    ),
    "gemeente-werk-inkomen": (
        0.3,
        {"doorverwijzing": 1.0},
        ("schulden", "armoede", "werkloosheid"),
    ),
    "bewonersverbinders": (0.3, {"doorverwijzing": 1.0}, ("eenzaamheid", "taal", "dagbesteding")),
}
PASSTHROUGH = "bench.passthrough"
ALERT_TYPE = "nl.wijkbrug.delivery.alert"
PROFILE_SORT, PROFILE_LINES = "tottime", 30  # --profile: the functions with most own time


# -- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Household:
    unit: str
    complex: str
    tenant: str | None  # None: an empty flat (milestones still come, nobody to deliver to)
    address: dict[str, Any]
    registration: str
    name: str
    consents: tuple[dict[str, Any], ...]  # consent.given data


def population(run: str, today: date, seed: int = 7) -> list[Household]:
    rng = random.Random(seed)
    households = []
    for i in range(HOUSEHOLDS):
        unit = f"1{i:05d}"
        tenant = None if rng.random() < 0.02 else f"H{2_000_000 + i}"
        registration = f"BZ-{run}-{i}"
        consents = []
        for partner, (share, purposes, categories) in CONSENT_MIX.items():
            if tenant is None or rng.random() >= share:
                continue
            purpose = rng.choices(list(purposes), weights=list(purposes.values()))[0]
            chosen = rng.sample(categories, k=rng.randint(min(2, len(categories)), len(categories)))
            consents.append(
                {
                    "consent_id": f"T-{run}-{i}-{partner}",
                    "tenant_number": tenant,
                    "unit_id": unit,
                    "partner": partner,
                    "purpose": purpose,
                    "registration_id": registration,
                    "categories": sorted(chosen),
                    "valid_from": (today - timedelta(days=120)).isoformat(),
                    "valid_until": (today + timedelta(days=365)).isoformat(),
                    "recorded_on": (today - timedelta(days=110)).isoformat(),
                }
            )
        households.append(
            Household(
                unit=unit,
                complex=f"TD{1 + i % 6}",
                tenant=tenant,
                address={
                    "street": STREETS[i % len(STREETS)],
                    "house_number": 1 + i // len(STREETS),
                    "addition": None,
                    "postcode": f"356{3 + i % 4}{chr(65 + i % 26)}{chr(65 + (i // 26) % 26)}",
                },
                registration=registration,
                name=f"Bewoner {i}",
                consents=tuple(consents),
            )
        )
    return households


def consent_events(households: list[Household], now: datetime) -> list[Event]:
    return [
        Event(
            name="consent.given",
            source=CONSENTS,
            id=event_id(CONSENTS, c["consent_id"], "gegeven", c["recorded_on"]),
            key=c["consent_id"],
            subject=h.unit,
            time=now,
            data=c,
        )
        for h in households
        for c in h.consents
    ]


class EventFactory:
    """Milestones and consented signals as the planning and home-visit connectors make them."""

    def __init__(
        self, households: list[Household], run: str, today: date, signal_share: float, seed: int
    ) -> None:
        self.households = households
        self.with_consent = [h for h in households if h.consents]
        self.run = run
        self.today = today
        self.signal_share = signal_share
        self.rng = random.Random(seed)

    def make(self, seq: int) -> Event:
        if self.rng.random() < self.signal_share:
            return self.signal(seq)
        return self.milestone(seq)

    def milestone(self, seq: int) -> Event:
        rng = self.rng
        h = rng.choice(self.households)
        milestone = rng.choice(ALERT_MILESTONES if rng.random() < 0.8 else OTHER_MILESTONES)
        # Inside the alert horizon: recent (realised) or coming up (planned).
        offset = rng.randint(-(ALERT_HORIZON.days // 2), 30)
        day = (self.today + timedelta(days=offset)).isoformat()
        realised = offset <= 0 and rng.random() < 0.7
        return Event(
            name="renovation.milestone",
            source=PLANNING,
            id=event_id(PLANNING, self.run, "milestone", seq),
            key=h.unit,
            subject=h.unit,
            data={
                "project": "Thema-dreven",
                "complex": h.complex,
                "unit_id": h.unit,
                "address": h.address,
                "tenant_number": h.tenant,
                "milestone": milestone,
                "planned_date": day,
                "realised_date": day if realised else None,
                "status": "gerealiseerd" if realised else "gepland",
                "remark": "sleutel bij de buren" if rng.random() < 0.1 else None,
            },
        )

    def signal(self, seq: int) -> Event:
        rng = self.rng
        h = rng.choice(self.with_consent)
        category = rng.choice(sorted({c for consent in h.consents for c in consent["categories"]}))
        covering = [c for c in h.consents if category in c["categories"]]
        return Event(
            name="signal.consented",
            source=HOME_VISITS,
            id=event_id(HOME_VISITS, self.run, "signal", seq),
            key=h.unit,
            subject=h.unit,
            data={
                "registration_id": h.registration,
                "visit_date": (self.today - timedelta(days=rng.randint(0, 10))).isoformat(),
                "unit_id": h.unit,
                "complex": h.complex,
                "tenant_number": h.tenant,
                "registered_by": "Woonconsulent 3",
                "resident": {
                    "name": h.name,
                    "phone": f"06{20_000_000 + int(h.unit):08d}",
                    "birth_date": f"19{40 + int(h.unit) % 60}-0{1 + int(h.unit) % 9}-15",
                    "bsn": f"{100_000_000 + int(h.unit) * 7:09d}",
                    "language": rng.choice(("nl", "nl", "nl", "ar", "tr", "en")),
                },
                "signal_index": seq % 7,
                "category": category,
                "urgency": rng.choice(URGENCIES),
                "note": "Bewoner maakt zich zorgen over de verhuizing."
                if rng.random() < 0.3
                else None,
                "consents": [
                    {
                        "consent_ref": f"{h.registration}/{c['partner']}/{c['purpose']}",
                        "partner": c["partner"],
                        "purpose": c["purpose"],
                        "categories": c["categories"],
                        "valid_until": c["valid_until"],
                    }
                    for c in covering
                ],
            },
        )


def publish(settings: Settings, events: list[Event]) -> float:
    """Publish (validated) events as a connector does; returns the seconds it took."""
    topics = load_topics()
    by_name = {"renovation.milestone": "raw.renovation.milestone", "signal.consented": "raw.signal"}
    by_name["consent.given"] = "consent"
    publisher = kafka_client.Publisher(settings)
    start = time.perf_counter()
    try:
        for i, event in enumerate(events, 1):
            event.validate()
            publisher.send(topics[by_name[event.name]], event)
            if i % 2000 == 0:
                publisher.flush()
        publisher.flush()
    finally:
        publisher.close()
    return time.perf_counter() - start


# -- setup -------------------------------------------------------------------------------------


def make_settings(args: argparse.Namespace, prefix: str, state: Path) -> Settings:
    return Settings(
        kafka_bootstrap=args.bootstrap,
        topic_prefix=prefix,
        state_dir=state,
        key_dir=state / "keys",
        ledger_url=args.ledger_url or f"sqlite:///{state / 'ledger.sqlite'}",
        generate_keys=True,
        webhook_urls={},
        stream_writer=getattr(args, "writer", "process"),
    )


def passthrough_spec() -> TopicSpec:
    raw = load_topics()[RAW_TOPICS[0]]
    return TopicSpec(
        name=PASSTHROUGH,
        description="benchmark: raw records copied unchanged",
        event_types=(),
        partitions=raw.partitions,
        replication_factor=raw.replication_factor,
        config={"cleanup.policy": "delete"},
    )


def delete_topics(settings: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","))
    try:
        mine = [t for t in admin.list_topics() if t.startswith(settings.topic_prefix)]
        if mine:
            admin.delete_topics(mine)
    except Exception as error:  # cleanup only
        print(f"(could not delete the benchmark topics: {type(error).__name__})", file=sys.stderr)
    finally:
        admin.close()


# -- throughput --------------------------------------------------------------------------------


@dataclass
class Timing:
    events: int
    seconds: float  # first record received -> last record done
    join_s: float  # start -> first record received (group join, initial rebalance delay)
    cpu_s: float  # process CPU time over ``seconds`` (all threads, incl. the client's I/O)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class JoinTimeout(TimeoutError):
    """No record within ``JOIN_TIMEOUT_S`` of the first poll: the group join hung."""


#: kafka-python 3.0.12 now and then never completes a group join (a core at 100 %, no
#: assignment, no error; here in about one join in four). After this long without a first
#: record the consumer is closed and a fresh one tried, up to ``JOIN_ATTEMPTS`` times.
JOIN_TIMEOUT_S = 15.0
JOIN_ATTEMPTS = 4


def run_passthrough(settings: Settings, expected: int, group: str, stall_s: float = 60.0) -> Timing:
    """Raw consume-and-produce: every record unchanged, flush, commit, per batch."""
    gc.collect()
    consumer = kafka_client.GroupConsumer(
        settings,
        [load_topics()[name].physical(settings.topic_prefix) for name in RAW_TOPICS],
        group,
        on_assigned=lambda _: None,
        on_revoked=lambda _: None,
    )
    publisher = kafka_client.Publisher(settings)
    topic = passthrough_spec().physical(settings.topic_prefix)
    begun = time.perf_counter()
    first = cpu0 = None
    done = 0
    deadline = begun + JOIN_TIMEOUT_S
    try:
        while done < expected:
            records = consumer.poll(100)
            if not records:
                if time.perf_counter() > deadline:
                    if first is None:
                        raise JoinTimeout(f"passthrough: no assignment in {JOIN_TIMEOUT_S:.0f} s")
                    raise TimeoutError(f"passthrough stalled at {done}/{expected}")
                continue
            if first is None:
                first, cpu0 = time.perf_counter(), time.process_time()
            for r in records:
                publisher.send_raw(topic, r.key, r.value, r.headers)
            publisher.flush()
            consumer.commit(records)
            done += len(records)
            deadline = time.perf_counter() + stall_s
        end, cpu1 = time.perf_counter(), time.process_time()
    finally:
        consumer.close()
        publisher.close()
    assert first is not None and cpu0 is not None
    return Timing(done, end - first, first - begun, cpu1 - cpu0)


def cpu_seconds(worker: StreamWorker) -> float:
    """CPU seconds of this process and of the worker's ledger writer process, if it has one."""
    total = time.process_time()
    pid = getattr(worker.writer, "pid", None)
    if pid is not None:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


class Stages:
    """Wall time per stage of :meth:`StreamWorker.step`, by wrapping the instance's methods
    (per batch, except ``plan``: per event). Each bucket is exclusive: a wrapped call's time
    leaves out the wrapped calls inside it; ``other`` is the remainder."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.first_records_at: float | None = None
        self.first_cpu = 0.0
        #: Under load (latency phase): per record, raw-topic CreateTime -> worker poll (s),
        #: and per step its duration (s) and records.
        self.lags: list[float] | None = None
        self.steps: list[tuple[float, int]] | None = None
        self.busy: Counter[str] = Counter()  # stage seconds within those steps
        #: Wall and CPU seconds of partition take-over (part of joining: not counted).
        self.take_over_s = self.take_over_cpu_s = 0.0
        self._nested: list[float] = []  # per wrapped call under way: time of calls inside it

    def wrap(self, owner: object, method: str, bucket: str) -> None:
        inner = getattr(owner, method)
        seconds, calls, nested = self.seconds, self.calls, self._nested

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            nested.append(0.0)
            try:
                return inner(*args, **kwargs)
            finally:
                took = time.perf_counter() - start
                seconds[bucket] += took - nested.pop()
                calls[bucket] += 1
                if nested:
                    nested[-1] += took

        setattr(owner, method, timed)

    def instrument(self, worker: StreamWorker) -> None:
        group = worker._group
        poll = group.poll

        def timed_poll(timeout_ms: int) -> list:
            start = time.perf_counter()
            records = poll(timeout_ms)
            now = time.perf_counter()
            if self.first_records_at is not None:
                self.seconds["poll (fetch)"] += now - start
            elif records:  # the clock starts here, as for the passthrough (group join excluded)
                self.first_records_at = now
                self.first_cpu = cpu_seconds(worker)
                self.seconds.clear()  # what ran before (joining, reconcile) is not counted
            self.calls["poll (fetch)"] += 1
            if self.lags is not None:
                wall = time.time()
                self.lags += [wall - r.timestamp_ms / 1e3 for r in records]
            return records

        group.poll = timed_poll  # type: ignore[method-assign]
        step = worker.step

        def timed_step(timeout_ms: int = 100) -> int:
            before = Counter(self.seconds) if self.steps is not None else None
            start = time.perf_counter()
            n = step(timeout_ms)
            if self.steps is not None and before is not None and n:
                self.steps.append((time.perf_counter() - start, n))
                self.busy.update(self.seconds)
                self.busy.subtract(before)
            return n

        worker.step = timed_step  # type: ignore[method-assign]
        take_over = worker._take_over

        def timed_take_over() -> None:
            # Runs after the poll that brought the first records: it belongs to the join
            # (catching up on the partitions' history), not to the throughput.
            start, cpu = time.perf_counter(), cpu_seconds(worker)
            take_over()
            if self.first_records_at is not None:
                self.take_over_s += time.perf_counter() - start
                self.take_over_cpu_s += cpu_seconds(worker) - cpu

        worker._take_over = timed_take_over  # type: ignore[method-assign]
        self.wrap(worker, "follow_consents", "consent topic tail")
        self.wrap(worker, "process", "decode+validate")
        self.wrap(worker.pipeline, "plan", "plan")
        self.wrap(worker, "checkpoint", "checkpoint")
        self.wrap(worker, "send_outbox", "channel send")
        for method in ("enqueue", "hold"):
            self.wrap(worker.ledger, method, f"ledger {method}")
        for method in ("outbox", "claim", "mark_delivered", "requeue", "cancel"):
            self.wrap(worker.ledger, method, "ledger outbox+mark")
        self.wrap(group, "commit", "offset commit")
        self.wrap(worker.writer, "submit", "writer hand-over")
        for method in ("wait_written", "barrier"):
            self.wrap(worker.writer, method, "writer wait")
        self.wrap(worker.kafka_channel, "write", "produce+ack partner topics")

    def table(
        self, total_s: float, events: int, seconds: Counter[str] | None = None
    ) -> list[tuple[str, float]]:
        """Exclusive stages, microseconds per event (or step), largest first."""
        s = self.seconds if seconds is None else seconds
        names = {
            "poll (fetch)": "poll (fetch, Record copies)",
            "consent topic tail": "consent topic tail",
            "decode+validate": "decode+validate",
            "plan": "plan (consent gate, contract, alert)",
            "ledger enqueue": "ledger enqueue (worker's own)",
            "ledger hold": "ledger hold (worker's own)",
            "offset commit": "offset commit",
            "checkpoint": "checkpoint rest (quarantine flush)",
            "writer hand-over": "writer: hand batch over (pickle, pipe)",
            "writer wait": "writer: wait for ledger write / idle",
            "ledger outbox+mark": "ledger outbox+mark (worker's own sends)",
            "produce+ack partner topics": "produce+ack (worker's own sends)",
            "channel send": "outbox send rest",
        }
        rows = {label: s[bucket] for bucket, label in names.items()}
        rows["other (step loop)"] = total_s - sum(s[bucket] for bucket in names)
        return [(k, v / events * 1e6) for k, v in sorted(rows.items(), key=lambda kv: -kv[1])]


def run_worker(
    worker: StreamWorker, expected: int, profile: bool, stall_s: float = 60.0
) -> tuple[Timing, Stages, str | None]:
    gc.collect()
    stages = Stages()
    stages.instrument(worker)
    stats = worker.stats
    profiler = cProfile.Profile() if profile else None
    begun = time.perf_counter()
    deadline = begun + JOIN_TIMEOUT_S
    if profiler:
        profiler.enable()
    try:
        while stats.events_in + stats.quarantined < expected:
            if worker.step():
                deadline = time.perf_counter() + stall_s
            if time.perf_counter() > deadline:
                if stages.first_records_at is None:
                    raise JoinTimeout(f"worker: no assignment in {JOIN_TIMEOUT_S:.0f} s")
                raise TimeoutError(f"worker stalled at {stats.events_in}/{expected}")
        worker.flush()  # the writer's last batches: in the ledger, committed, acknowledged
        end, cpu1 = time.perf_counter(), cpu_seconds(worker)
    finally:
        if profiler:
            profiler.disable()
    left = worker.ledger.outbox("kafka", worker.owned(), limit=1)
    assert not left, "the last step left Kafka deliveries queued"
    first = stages.first_records_at or begun
    timing = Timing(
        stats.events_in + stats.quarantined,
        end - first - stages.take_over_s,
        first - begun + stages.take_over_s,
        cpu1 - stages.first_cpu - stages.take_over_cpu_s,
    )
    text = None
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(PROFILE_SORT).print_stats(PROFILE_LINES)
        text = out.getvalue()
    return timing, stages, text


# -- latency -----------------------------------------------------------------------------------


def generator_main(
    bootstrap: str,
    prefix: str,
    run: str,
    today_iso: str,
    signal_share: float,
    rate: float,
    seconds: float,
    first_seq: int,
    built: Any,
    go: Any,
    results: Any,
) -> None:
    """Own process: build the events, then publish them at ``rate`` like a connector."""
    quiet_logs()
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    today = date.fromisoformat(today_iso)
    factory = EventFactory(population(run, today), run, today, signal_share, seed=first_seq)
    events = [factory.make(first_seq + i) for i in range(int(rate * seconds))]
    for event in events:
        event.validate()
    topics = load_topics()
    where = {"renovation.milestone": topics["raw.renovation.milestone"]}
    where["signal.consented"] = topics["raw.signal"]
    publisher = kafka_client.Publisher(settings)
    for spec in where.values():  # topic metadata now, not on the first paced send
        publisher._producer.partitions_for(spec.physical(prefix))
    sent: dict[str, tuple[float, str]] = {}
    late = []
    built.set()
    go.wait()
    t0 = time.perf_counter()
    wall0 = time.time() - t0  # wall = wall0 + perf_counter(): one clock, no jumps
    for i, event in enumerate(events):
        due = t0 + i / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
            now = time.perf_counter()
        late.append(now - due)
        sent[event.id] = (wall0 + now, event.name)
        publisher.send(where[event.name], event)
    last = time.perf_counter()
    publisher.flush()
    publisher.close()
    late.sort()
    results.put(
        {
            "sent": sent,
            "offered_rate": len(events) / (last - t0) if last > t0 else 0.0,
            "late_p99_ms": late[int(0.99 * (len(late) - 1))] * 1e3 if late else 0.0,
        }
    )


def probe_main(
    bootstrap: str, topics: list[str], ready: Any, stop: Any, expected: Any, results: Any
) -> None:
    """Own process: read the partner topics from their current end; receipt time per record."""
    quiet_logs()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t))]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)  # resolve now, before the load starts
    ready.set()
    seen: list[tuple[str, str, str, float, int]] = []
    deadline = None
    while True:
        for batch in consumer.poll(timeout_ms=50).values():
            now = time.time()
            for m in batch:
                headers = dict(m.headers or [])
                seen.append(
                    (
                        m.topic,
                        headers["ce_id"].decode(),
                        headers["ce_type"].decode(),
                        now,
                        m.timestamp,
                    )
                )
        if stop.is_set():
            deadline = deadline or time.monotonic() + 30
            if len(seen) >= expected.value or time.monotonic() > deadline:
                break
    consumer.close()
    results.put(seen)


def run_latency(
    worker: StreamWorker,
    stages: Stages,
    args: argparse.Namespace,
    settings: Settings,
    run: str,
    today: date,
    first_seq: int,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")  # no fork of a process with client threads
    ready, built, go, stop = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Event()
    expected = ctx.Value("q", 1 << 62)
    gen_out, probe_out = ctx.Queue(), ctx.Queue()
    topics = load_topics()
    partner_topics = [
        spec.physical(settings.topic_prefix)
        for name, spec in topics.items()
        if name.startswith("deliver.")
    ]
    probe = ctx.Process(
        target=probe_main,
        args=(settings.kafka_bootstrap, partner_topics, ready, stop, expected, probe_out),
        daemon=True,
    )
    generator = ctx.Process(
        target=generator_main,
        args=(
            settings.kafka_bootstrap,
            settings.topic_prefix,
            run,
            today.isoformat(),
            args.signal_share,
            args.rate,
            args.seconds,
            first_seq,
            built,
            go,
            gen_out,
        ),
        daemon=True,
    )
    probe.start()
    generator.start()
    stats = worker.stats
    delivered0 = sum(n for (_, channel), n in stats.delivered.items() if channel == "kafka")
    events0 = stats.events_in + stats.quarantined
    wait_until = time.monotonic() + 60
    while not (ready.is_set() and built.is_set()):  # the worker stays in its group meanwhile
        worker.step(50)
        if time.monotonic() > wait_until:
            raise TimeoutError("the probe or the load generator did not start")
    stages.lags, stages.steps = [], []
    stages.busy.clear()
    go.set()
    offered = int(args.rate * args.seconds)
    deadline = time.monotonic() + args.seconds + 120
    result: dict[str, Any] | None = None
    while True:
        worker.step()
        if result is None and not gen_out.empty():
            result = gen_out.get()
        if result is not None and stats.events_in + stats.quarantined - events0 >= offered:
            break
        if time.monotonic() > deadline:
            print("(latency phase: the worker did not catch up in time)", file=sys.stderr)
            break
    steps, lags = stages.steps, stages.lags
    stages.steps = stages.lags = None
    worker.step(0)
    worker.flush()
    delivered = sum(n for (_, channel), n in stats.delivered.items() if channel == "kafka")
    expected.value = delivered - delivered0
    stop.set()
    seen = probe_out.get(timeout=60)
    if result is None:
        result = gen_out.get(timeout=60)
    generator.join(10)
    probe.join(10)
    sent = result["sent"]
    alerts, all_ = [], []
    create = []
    for _topic, ce_id, ce_type, received, created_ms in seen:
        if ce_id not in sent:
            continue
        latency = received - sent[ce_id][0]
        all_.append(latency)
        create.append(created_ms / 1e3 - sent[ce_id][0])
        if ce_type == ALERT_TYPE:
            alerts.append(latency)
    return {
        "offered": len(sent),
        "offered_rate": result["offered_rate"],
        "late_p99_ms": result["late_p99_ms"],
        "deliveries": len(all_),
        "expected": expected.value,
        "alerts": alerts,
        "all": all_,
        "to_send": create,
        "to_poll": lags,
        "steps": steps,
        "per_step": stages.table(sum(d for d, _ in steps), max(1, len(steps)), stages.busy),
    }


# -- report ------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def latency_row(label: str, values: list[float]) -> str:
    ms = [v * 1e3 for v in values]
    cells = (
        "".join(f"{pct(ms, q):9.1f}" for q in (50, 95, 99))
        + f"{max(ms, default=float('nan')):9.1f}"
    )
    return f"  {label:<38}{len(ms):>7}{cells}"


def with_retry(what: str, attempt: Callable[[int], Any]) -> Any:
    """Run ``attempt(n)``; after a hung group join, again with a fresh consumer and group."""
    for n in range(JOIN_ATTEMPTS):
        try:
            return attempt(n)
        except JoinTimeout as error:
            if n + 1 == JOIN_ATTEMPTS:
                raise
            print(f"  ({error}: the kafka-python group join hung; {what} again, fresh group)")
    raise AssertionError("unreachable")


def quiet_logs() -> None:
    """The expected warnings (no webhook address) and the noise of closing a hung consumer."""
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def print_throughput(
    passthroughs: list[Timing],
    timing: Timing,
    stages: Stages,
    worker: StreamWorker,
    catch_up_s: float,
) -> float:
    s = worker.stats
    counts = worker.ledger.counts()
    kafka = sum(n for (_, channel), n in s.delivered.items() if channel == "kafka")
    alerts = sum(
        r["count"]
        for r in counts
        if r["channel"] == "kafka" and r["kind"] == "alert" and r["status"] == "delivered"
    )
    baseline = sum(t.rate for t in passthroughs) / len(passthroughs)
    ratio = timing.rate / baseline if baseline else 0.0
    print()
    print("throughput (first record received -> last one done; group join excluded)")
    header = f"{'events':>8}{'seconds':>9}{'events/s':>10}{'CPU us/event':>14}{'join s':>8}"
    print(f"  {'':<34}{header}")
    before, after = passthroughs
    rows = (("passthrough, before the worker", before), ("stream worker", timing))
    for label, t in (*rows, ("passthrough, after the worker", after)):
        print(
            f"  {label:<34}{t.events:>8}{t.seconds:>9.2f}{t.rate:>10,.0f}"
            f"{t.cpu_s / t.events * 1e6:>14.0f}{t.join_s:>8.2f}"
        )
    cpu = sum(t.cpu_s / t.events for t in passthroughs) / len(passthroughs)
    print(
        f"  ratio worker/passthrough {ratio:.2f} (passthrough: mean of before and after); "
        f"by CPU time per event {cpu / (timing.cpu_s / timing.events):.2f}"
    )
    print(
        f"  worker: {s.events_in} planned, {s.quarantined} quarantined, {s.held} held, "
        f"{s.refused} partner refusals; ledger rows {sum(r['count'] for r in counts)}; "
        f"partner-topic records {kafka} ({alerts} alerts)"
    )
    print(f"  worker start-up (consent + raw topic catch-up) {catch_up_s:.1f} s, not counted")
    print(f"  worker wall time per event, by stage (us, {len(worker.owned())} partitions):")
    for label, us in stages.table(timing.seconds, timing.events):
        print(f"    {label:<42}{us:>8.1f}")
    return ratio


def print_latency(latency: dict[str, Any], args: argparse.Namespace) -> float:
    print()
    print(
        f"latency at {args.rate:,.0f} events/s offered for {args.seconds:g} s "
        f"(connector send() -> partner-topic record received)"
    )
    print(
        f"  offered {latency['offered']} events at {latency['offered_rate']:,.0f}/s "
        f"(pacing late p99 {latency['late_p99_ms']:.1f} ms); partner-topic records "
        f"{latency['deliveries']} of {latency['expected']} the worker sent"
    )
    print(f"  {'ms':<38}{'n':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    print(latency_row("alerts (buurtteam)", latency["alerts"]))
    print(latency_row("all partner-topic deliveries", latency["all"]))
    print(latency_row("  of which up to the worker's send()", latency["to_send"]))
    print(latency_row("raw event -> worker poll (per event)", latency["to_poll"]))
    durations = [d for d, _ in latency["steps"]]
    sizes = [float(n) for _, n in latency["steps"]]
    print(
        f"  worker under load: {len(sizes)} steps with records; records/step p50 "
        f"{pct(sizes, 50):.0f}, max {max(sizes, default=0):.0f}; step duration p50 "
        f"{pct(durations, 50) * 1e3:.0f} ms, p99 {pct(durations, 99) * 1e3:.0f} ms; in steps "
        f"with records {sum(durations):.1f} s of the {args.seconds:g} s offered"
    )
    print("  worker wall time per step under load, by stage (ms, steps with records):")
    for label, us in latency["per_step"]:
        print(f"    {label:<42}{us / 1e3:>8.1f}")
    return pct(latency["alerts"], 99) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="throughput phase: events")
    parser.add_argument("--rate", type=float, default=1000.0, help="latency phase: events/s")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="latency phase: duration (0: skip it)"
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    parser.add_argument("--signal-share", type=float, default=0.4, help="signals among events")
    parser.add_argument("--ledger-url", help="SQLAlchemy URL (default: SQLite in a temp dir)")
    parser.add_argument("--profile", action="store_true", help="cProfile the worker phase")
    parser.add_argument(
        "--writer",
        choices=("process", "inline"),
        default="process",
        help="the worker's ledger writer: a child process (default, as deployed) or inline",
    )
    parser.add_argument("--keep-topics", action="store_true", help="do not delete the topics")
    args = parser.parse_args()
    quiet_logs()

    run = secrets.token_hex(4)
    prefix = f"bench{run}."
    state = Path(tempfile.mkdtemp(prefix="wijkbrug-bench-"))
    settings = make_settings(args, prefix, state)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    households = population(run, today)
    try:
        kafka_client.ensure_topics(settings, [*load_topics().values(), passthrough_spec()])
        consents = consent_events(households, now)
        publish(settings, consents)
        consent_count = len(consents)
        factory = EventFactory(households, run, today, args.signal_share, seed=1)
        events = [factory.make(seq) for seq in range(args.events)]
        load_s = publish(settings, events)
        kinds = Counter(e.name for e in events)
        del events, consents[:]  # not the measured code's garbage-collector load
        ledger = settings.ledger().split(":")[0]
        print(
            f"stream benchmark  run {run}  broker {args.bootstrap}  ledger {ledger}  "
            f"writer {args.writer}"
        )
        print(
            f"  {len(households)} households, {consent_count} consents; {args.events} events "
            f"({kinds['renovation.milestone']} milestones, {kinds['signal.consented']} signals), "
            f"pre-loaded at {args.events / load_s:,.0f}/s; delivery day {today}"
        )
        print("  webhook channel excluded (no addresses: webhook rows stay queued in the ledger)")

        def passthrough(when: str) -> Timing:
            return with_retry(
                "the passthrough",
                lambda n: run_passthrough(settings, args.events, f"{prefix}pass-{when}{n}"),
            )

        before = passthrough("before")
        worker: StreamWorker | None = None
        catch_up_s = 0.0

        def attempt(n: int) -> tuple[Timing, Stages, str | None]:
            nonlocal worker, catch_up_s
            if worker is not None:
                worker.close()
            built = time.perf_counter()
            worker = StreamWorker(settings, clock=lambda: now, group_id=f"{prefix}stream{n}")
            catch_up_s = time.perf_counter() - built
            return run_worker(worker, args.events, args.profile)

        try:
            timing, stages, profile = with_retry("the worker", attempt)
            assert worker is not None
            # The worker between two passthroughs: this machine's speed drifts (shared vCPUs).
            after = passthrough("after")
            ratio = print_throughput([before, after], timing, stages, worker, catch_up_s)
            if profile:
                print()
                print("cProfile of the worker phase (main thread), by own time:")
                print(profile)
            latency = None
            if args.seconds > 0:
                latency = run_latency(
                    worker, stages, args, settings, run, today, first_seq=args.events
                )
        finally:
            if worker is not None:
                worker.close()
        alert_p99 = print_latency(latency, args) if latency else float("nan")

        print()
        if ratio < 0.5:
            print(f"MISS: the worker reaches {ratio:.3f} of the passthrough's events/s (>= 0.50)")
        if latency and not alert_p99 < 1000:
            print(f"MISS: alert p99 {alert_p99:.0f} ms at {args.rate:,.0f}/s (target < 1000 ms)")
        if latency and latency["deliveries"] < latency["expected"]:
            print("MISS: the probe did not see every partner-topic record the worker sent")
        print(
            f"ratio worker/passthrough: {ratio:.2f} (target >= 0.50); "
            f"alert p99: {alert_p99:.0f} ms (target < 1000 ms)"
        )
    finally:
        if not args.keep_topics:
            delete_topics(settings)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
