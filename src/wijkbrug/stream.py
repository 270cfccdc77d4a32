"""The stream worker: raw topics -> schema check -> consent gate -> contract -> ledger -> channels.

One worker is one member of the consumer group over the raw topics; several share the
partitions. Per poll batch, :meth:`StreamWorker.checkpoint` is the one place the order of
effects is decided: quarantine acknowledged, the batch handed to the ledger writer
(:mod:`wijkbrug.writer`), and only once the writer says it is in the ledger (the outbox) are
the batch's Kafka offsets committed. The writer then sends the batch's partner-topic rows; the
webhook senders send from the ledger. A crash at any point loses nothing (the ledger or the
uncommitted offsets still have it) and delivers nothing twice (the ledger is unique on event
id, partner and channel, and rows are claimed before they leave).

Everything else that changes the ledger's deliveries (a consent event, a take-over, a
revocation, the worker's own sends from the outbox) first waits for the writer to be idle
(:meth:`~wijkbrug.writer.ProcessWriter.barrier`), so it sees every batch before it.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from wijkbrug import kafka_client
from wijkbrug.channels import KafkaTopicChannel, WebhookDispatcher
from wijkbrug.delivery import Incoming, Planner
from wijkbrug.events import Event, EventError, decode, event_id
from wijkbrug.kafka_client import Record
from wijkbrug.keys import KeyStore
from wijkbrug.ledger import Ledger
from wijkbrug.metrics import LAG_EVERY_S, MetricsServer, StreamMetrics
from wijkbrug.partner_contract import load_contracts
from wijkbrug.pipeline import DeliveryPipeline, KeyAccess, Stats
from wijkbrug.reasons import Reason
from wijkbrug.schemas import SchemaViolation
from wijkbrug.settings import Settings
from wijkbrug.topics import TopicSpec, load_topics
from wijkbrug.writer import BatchWriter, InlineWriter, ProcessWriter, WriterFailed

log = logging.getLogger(__name__)

RAW_TOPICS = ("raw.renovation.milestone", "raw.signal")
SOURCE = "urn:wijkbrug:stream"
#: However quiet the stream, the worker sends what is queued in the ledger for its partitions
#: at least this often (rows another worker queued for them, a send that failed).
OUTBOX_SWEEP_S = 5.0
#: /healthz says ok only if the worker completed a step at most this long ago.
HEALTHY_STEP_S = 30.0


def build_planner(settings: Settings, keys: KeyAccess) -> Planner:
    topics = load_topics()
    partitions = {topics[name].partitions for name in RAW_TOPICS}
    if len(partitions) != 1:
        raise ValueError(f"raw topics {RAW_TOPICS} must have one partition count (co-partitioned)")
    count = partitions.pop()
    return Planner(load_contracts(), keys, lambda unit: kafka_client.partition_for(unit, count))


def delivery_topics(planner: Planner) -> list[TopicSpec]:
    topics = load_topics()
    return [
        topics[f"deliver.{c.partner}"] for c in planner.contracts.values() if "kafka" in c.channels
    ]


def _freeze_state() -> None:
    """Move what exists now (consents, contacts, milestones: state kept for the worker's life)
    out of the cyclic GC's reach. Full collections, triggered by each batch's allocations,
    otherwise scan all of it again: 4 of them cost 0.44 s of a 5.9 s benchmark run."""
    gc.collect()
    gc.freeze()


class StreamWorker:
    """One stream worker; :meth:`run` until ``stop`` is set, or step it from a test."""

    def __init__(
        self,
        settings: Settings,
        *,
        ledger: Ledger | None = None,
        keys: KeyStore | None = None,
        clock: Callable[[], datetime] | None = None,
        group_id: str | None = None,
        writer: str | None = None,
    ) -> None:
        """``writer``: ``process`` or ``inline`` (see :mod:`wijkbrug.writer`); default from
        ``settings.stream_writer``."""
        self.settings = settings
        self.ledger = ledger or Ledger(settings.ledger(), checkpoint_in_background=True)
        store = keys or KeyStore(settings.keys_path(), generate=settings.generate_keys)
        self.keys = KeyAccess(store)
        self.planner = build_planner(settings, self.keys)
        self.pipeline = DeliveryPipeline(
            self.planner, self.ledger, self.keys, clock=clock, timezone=settings.timezone
        )
        self.stats = self.pipeline.stats
        self.metrics = StreamMetrics(
            self.stats,
            channels={
                c.partner: [name for name in c.channels if name in self.planner.channels]
                for c in self.planner.contracts.values()
            },
            backlog=lambda: self.ledger.backlog("webhook", self.owned()),
            health=self.health,
            partitions=lambda: len(self.owned()),
        )
        self._metrics_server: MetricsServer | None = None
        self.group_id = group_id or settings.stream_group
        self.stop = threading.Event()
        self._owned: set[int] = set()
        self._taking_over: set[int] = set()
        #: Per raw topic and partition, the next offset this worker has seen (remembered).
        self._known: dict[str, dict[int, int]] = {}
        self._owned_lock = threading.Lock()
        topics = load_topics()
        self._raw = [topics[name].physical(settings.topic_prefix) for name in RAW_TOPICS]
        self._carries = {
            topics[name].physical(settings.topic_prefix): topics[name].event_types
            for name in RAW_TOPICS
        }
        self._consent_topic = topics["consent"].physical(settings.topic_prefix)
        self._quarantine = topics["quarantine"]
        kafka_client.ensure_topics(
            settings,
            [
                *(topics[n] for n in (*RAW_TOPICS, "consent", "quarantine")),
                *delivery_topics(self.planner),
            ],
        )
        self.publisher = kafka_client.Publisher(settings)
        #: Batches handed to the writer whose offsets are not committed yet, oldest first.
        self._uncommitted: list[tuple[int, list[Record]]] = []
        #: Send from the outbox at the end of the step (after a barrier); reconcile first.
        self._outbox_due = False
        self._reconcile_due = False
        self._swept_at = time.monotonic()
        self.kafka_channel = KafkaTopicChannel(
            settings, self.ledger, self.publisher, self.pipeline.may_send, self.stats
        )
        self.webhooks = WebhookDispatcher(
            settings,
            self.ledger,
            store,
            self.planner,
            self.owned,
            self.pipeline.may_send,
            self.stats,
        )
        self._tail = kafka_client.TopicTail(settings, self._consent_topic)
        self._catch_up()
        self._group = kafka_client.GroupConsumer(
            settings,
            self._raw,
            self.group_id,
            on_assigned=self._assigned,
            on_revoked=self._revoked,
        )
        # Last: a worker that fails to start leaves no writer process behind.
        if (writer or settings.stream_writer) == "process":
            self.writer: InlineWriter | ProcessWriter = ProcessWriter(settings)
        else:
            self.writer = InlineWriter(BatchWriter(settings, self.ledger, self.publisher))

    # -- ownership -------------------------------------------------------------------------

    def owned(self) -> set[int]:
        with self._owned_lock:
            return set(self._owned)

    def _assigned(self, partitions: set[int]) -> None:
        # Called inside poll() on the client's network thread: only note it; step() takes over.
        self._taking_over |= partitions

    def _take_over(self) -> None:
        """Newly assigned partitions: learn what their previous owner saw, settle the partner
        topics after a crash, then send from the ledger for them."""
        partitions, self._taking_over = self._taking_over, set()
        self.writer.barrier()
        self._remember(partitions)  # what others processed since this worker last looked
        self.kafka_channel.reconcile(partitions)
        with self._owned_lock:
            self._owned |= partitions
        self._outbox_due = True
        self.webhooks.wake()
        _freeze_state()

    def _revoked(self, partitions: set[int]) -> None:
        # A rebalance within one poll can revoke what was assigned but not yet taken over.
        self._taking_over -= partitions
        with self._owned_lock:
            self._owned -= partitions
        try:
            self.writer.barrier()  # nothing of this worker's is still leaving for them
        except WriterFailed:
            log.error("ledger writer gone while partitions were revoked; nothing is leaving")
        self.webhooks.quiesce()

    # -- consent ---------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """State rebuilt from Kafka (no second source of truth): what the raw topics say of
        contacts and milestones, then the consent topic folded to its end, then acted on."""
        self._remember(None)
        withdrawals = []
        for record in self._tail.catch_up():
            try:
                name, ident, _, data = decode(record.headers, record.value)
            except (EventError, SchemaViolation):
                continue  # the consent connector validates; a bad consent record grants nothing
            withdrawal = self.pipeline.consent_event(name, data, ident, act=False)
            if withdrawal is not None:
                withdrawals.append(withdrawal)
        self.pipeline.settle(withdrawals)
        log.info("consent state: %d consents", len(self.pipeline.consents))
        _freeze_state()

    def _remember(self, partitions: set[int] | None) -> None:
        """Contacts and milestones from the raw topics (``partitions``: only those), from
        where this worker's knowledge of each partition ends (``_known``) to the end."""
        for physical in self._raw:
            known = self._known.setdefault(physical, {})
            for record in kafka_client.read_topic(
                self.settings, physical, partitions=partitions, start=known
            ):
                known[record.partition] = record.offset + 1
                try:
                    event = Incoming(*decode(record.headers, record.value))
                except (EventError, SchemaViolation):
                    continue  # the stream quarantines it when it reads it as a member
                self.pipeline.remember(event)

    def _consent_record(self, record: Record) -> None:
        try:
            name, ident, _, data = decode(record.headers, record.value)
        except (EventError, SchemaViolation):
            return
        self.pipeline.consent_event(name, data, ident)
        self.webhooks.wake()

    def follow_consents(self) -> None:
        """Apply new consent events; a withdrawal stops deliveries and retracts at once."""
        records = self._tail.poll(0)
        if not records:
            return
        self.writer.barrier()  # the ledger has every batch planned before these consents
        self._fold_writer()
        for record in records:
            self._consent_record(record)
        self._outbox_due = True

    # -- the raw topics --------------------------------------------------------------------

    def step(self, timeout_ms: int = 100) -> int:
        """One round: follow consents, process a batch, checkpoint, send. Returns records read."""
        self.follow_consents()
        records = self._group.poll(timeout_ms)
        if self._taking_over:
            self._take_over()
        if records:
            deliveries, held, quarantine = self.process(records)
            self.checkpoint(records, deliveries, held, quarantine)
        else:
            self._commit_written(every=True)
        if self._outbox_due or time.monotonic() - self._swept_at > OUTBOX_SWEEP_S:
            self.send_outbox()
        now = time.monotonic()
        if now - self.metrics.lag_at >= LAG_EVERY_S:
            self._refresh_lag()
        self.metrics.stepped_at = now
        return len(records)

    def send_outbox(self) -> None:
        """Send what is queued in the ledger for the owned partitions (not the writer's batches:
        releases and retractions, rows of a failed send, rows another worker queued)."""
        self.writer.barrier()
        self._fold_writer()
        owned = self.owned()
        if self._reconcile_due:
            self.kafka_channel.reconcile(owned)
            self._reconcile_due = False
        self._outbox_due = False
        self._swept_at = time.monotonic()
        self.kafka_channel.send(owned)

    def process(self, records: list[Record]) -> tuple[list, list, list[Event]]:
        """Pure per record: plan each event; bad records become quarantine events."""
        deliveries: list = []
        held: list = []
        quarantine: list[Event] = []
        for record in records:
            known = self._known.setdefault(record.topic, {})
            known[record.partition] = max(known.get(record.partition, 0), record.offset + 1)
            try:
                name, ident, when, data = decode(record.headers, record.value)
                if name not in self._carries.get(record.topic, ()):
                    raise EventError("event type does not belong on this topic")
                plan = self.pipeline.plan(Incoming(name, ident, when, data))
            except (EventError, SchemaViolation) as error:
                code = "schema.invalid" if isinstance(error, SchemaViolation) else "event.invalid"
                quarantine.append(self._quarantine_event(record, code, error))
                continue
            except Exception:  # a bug must neither stop the stream nor lose the record
                log.exception("record %s:%d not processed", record.topic, record.offset)
                quarantine.append(self._quarantine_event(record, "processing.error", None))
                continue
            deliveries += plan.deliveries
            held += plan.held
        return deliveries, held, quarantine

    def checkpoint(self, records: list[Record], deliveries: list, held: list, quarantine: list):
        """The commit ordering, in one place: quarantine -> ledger (the writer) -> offsets.

        The offsets of a batch are committed once the writer has it in the ledger: at once
        inline; with a writer process, after the next batch is planned, so the two overlap."""
        quarantine_topic = self._quarantine
        for event in quarantine:
            self.publisher.send(quarantine_topic, event)
        self.publisher.flush()
        self.stats.quarantined += len(quarantine)
        self._uncommitted.append((self.writer.submit(deliveries, held), records))
        self._commit_written(every=False)

    def flush(self) -> None:
        """Until every batch handed to the writer is in the ledger, committed and sent."""
        self._commit_written(every=True)
        self.writer.barrier()
        self._fold_writer()

    def _commit_written(self, *, every: bool) -> None:
        """Commit the offsets of the batches the writer has in the ledger; wait for all of them
        (``every``) or for all but the newest."""
        if not self._uncommitted:
            self._fold_writer()
            return
        wait_for = len(self._uncommitted) - (1 if every else 2)
        if wait_for >= 0:
            self.writer.wait_written(self._uncommitted[wait_for][0])
        written = self.writer.written()
        done = [records for batch, records in self._uncommitted if batch <= written]
        self._uncommitted = self._uncommitted[len(done) :]
        if done:
            self.metrics.written(done)  # the latency histogram: now they are in the ledger
            try:
                self._group.commit([record for records in done for record in records])
            except kafka_client.CommitFailedError:
                # The group rebalanced meanwhile: the new owner reads these records again and
                # finds them in the ledger. Nothing is lost, nothing is sent twice.
                log.warning("offset commit refused after a rebalance; the new owner resumes")
        self._fold_writer()

    def _fold_writer(self) -> None:
        """What the writer reports, into the stats; new rows wake the webhook senders."""
        outcome = self.writer.take()
        stats = self.stats
        stats.queued += outcome.inserted
        stats.held += outcome.held
        for partner, count in outcome.delivered.items():
            stats.delivered[(partner, self.kafka_channel.name)] += count
        if outcome.unsent:
            self._outbox_due = self._reconcile_due = True
        if outcome.inserted:
            self.webhooks.wake()

    def _quarantine_event(self, record: Record, code: str, error: Exception | None) -> Event:
        value = record.value or b""
        digest = hashlib.sha256(value).hexdigest()
        field = getattr(error, "path", None) or None
        return Event(
            name="quarantine.record",
            source=SOURCE,
            id=event_id(SOURCE, record.topic, record.partition, record.offset),
            key=(record.key or b"onbekend").decode(errors="replace"),
            time=self.pipeline.clock(),
            data={
                "connector": "stream",
                "source_file": record.topic,
                "source_sha256": digest,
                "line": record.offset + 1,
                "reasons": [Reason(code, field).as_dict()],
                "raw": value.decode(errors="replace")[:65536],
            },
        )

    # -- running ---------------------------------------------------------------------------

    def lag(self) -> int:
        """Records behind the end on the owned partitions (asks the broker; kept for metrics)."""
        lag = self._group.lag()
        self.metrics.set_lag(lag, time.monotonic())
        return lag

    def _refresh_lag(self) -> None:
        try:
            self.lag()
        except kafka_client.KafkaError as error:  # metrics only: the next step asks again
            log.warning("consumer lag not read (%s)", type(error).__name__)
            self.metrics.lag_at = time.monotonic()

    def health(self) -> dict[str, Any]:
        """For /healthz: ok while steps complete (within HEALTHY_STEP_S) and the ledger writer
        lives. Counts and ages only."""
        stepped = self.metrics.stepped_at
        age = None if stepped is None else time.monotonic() - stepped
        writer = self.writer.alive()
        stepping = age is not None and age <= HEALTHY_STEP_S
        return {
            "status": "ok" if stepping and writer else "degraded",
            "last_step_s": None if age is None else round(age, 3),
            "writer_alive": writer,
            "partitions": len(self.owned()),
            "consumer_lag": self.metrics.lag,
        }

    def serve_metrics(self, port: int, host: str = "") -> int:
        """Serve /metrics and /healthz on ``port`` (0: a free one) until :meth:`close`;
        returns the port."""
        if self._metrics_server is None:
            self._metrics_server = MetricsServer(
                self.metrics.registry, self.health, host=host, port=port
            )
            log.info("metrics on port %d: /metrics, /healthz", self._metrics_server.port)
        return self._metrics_server.port

    @property
    def metrics_port(self) -> int | None:
        """The port /metrics is served on (None: not served)."""
        return None if self._metrics_server is None else self._metrics_server.port

    def idle(self) -> bool:
        """Nothing left to read and nothing queued for the partitions this worker owns."""
        owned = self.owned()
        return (
            bool(owned)
            and not self._uncommitted
            and self.lag() == 0
            and not self.ledger.outbox("kafka", owned, limit=1)
            and self.webhooks.drained()
        )

    def run(self, *, until_idle_s: float | None = None, max_s: float | None = None) -> Stats:
        """Run until :attr:`stop` is set (SIGTERM), or idle for ``until_idle_s`` seconds.
        With ``settings.metrics_port``, serves /metrics and /healthz meanwhile."""
        self.webhooks.start()
        started = idle_since = time.monotonic()
        try:
            if self.settings.metrics_port is not None:
                self.serve_metrics(self.settings.metrics_port, self.settings.metrics_host)
            while not self.stop.is_set():
                busy = self.step() > 0
                if busy or (until_idle_s is not None and not self.idle()):
                    idle_since = time.monotonic()
                now = time.monotonic()
                if until_idle_s is not None and now - idle_since >= until_idle_s:
                    break
                if max_s is not None and now - started >= max_s:
                    break
            self.flush()
            self.send_outbox()
        finally:
            self.close()
        return self.stats

    def close(self) -> None:
        """Drain: stop serving metrics and the webhook senders, leave the group, flush and close
        everything."""
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None
        self.webhooks.stop()
        self._group.close()
        self.writer.close()
        self._tail.close()
        self.publisher.flush()
        self.publisher.close()
        self.ledger.close()
