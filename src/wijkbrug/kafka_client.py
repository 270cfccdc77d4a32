"""The one place that speaks kafka-python: producer, consumer, admin, and the id scan.

Everything else in wijkbrug talks in events, topics and offsets, never in client classes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kafka import (
    ConsumerRebalanceListener,
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    OffsetAndMetadata,
    TopicPartition,
)
from kafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import MemberState

from wijkbrug import kafka_join_fix
from wijkbrug.events import Event, header_identity
from wijkbrug.settings import Settings
from wijkbrug.topics import TopicSpec, load_topics

log = logging.getLogger(__name__)
kafka_join_fix.apply()

__all__ = [
    "CommitFailedError",
    "GroupConsumer",
    "KafkaError",
    "Publisher",
    "TopicTail",
    "ensure_topics",
    "known_event_ids",
    "partition_for",
    "read_offsets",
    "read_topic",
]


@lru_cache(maxsize=1 << 16)
def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner puts ``key`` on (murmur2, as the Java client).
    Remembered: kafka-python's murmur2 is pure Python (about 5 us a key), and a project has a
    few thousand units that recur in every batch."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def _common(settings: Settings) -> dict[str, object]:
    return {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "client_id": settings.kafka_client_id,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "bootstrap_timeout_ms": settings.kafka_bootstrap_timeout_ms,
    }


def ensure_topics(settings: Settings, specs: Iterable[TopicSpec] | None = None) -> list[str]:
    """Create the declared topics that do not exist yet; return the physical names created.

    Existing topics are left as they are: changing partitions or configs is an operator's act.
    """
    specs = list(load_topics().values() if specs is None else specs)
    admin = KafkaAdminClient(**_common(settings))
    try:
        existing = set(admin.list_topics())
        wanted = {
            spec.physical(settings.topic_prefix): {
                "num_partitions": spec.partitions,
                "replication_factor": settings.topic_replication_factor or spec.replication_factor,
                "configs": spec.config,
            }
            for spec in specs
            if spec.physical(settings.topic_prefix) not in existing
        }
        if wanted:
            # Another process may create them at the same moment: that is fine too.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted, wait_for_metadata=True)
        return sorted(wanted)
    finally:
        admin.close()


#: Producer batch size per partition. kafka-python's 16 KiB default fills a batch every ~18
#: deliveries of ~900 bytes, and each full batch wakes the client's I/O thread, which then
#: contends for the GIL with the thread still appending: measured here, 116-120 us a record at
#: 16 KiB against 57-63 us at 128 KiB (one flush per 415 records over 12 partitions). Well
#: under the broker's 1 MiB ``max.message.bytes``.
BATCH_BYTES = 256 * 1024


class Publisher:
    """A producer that waits for the broker's acknowledgement of every event it sends."""

    def __init__(self, settings: Settings) -> None:
        self._prefix = settings.topic_prefix
        self._producer = KafkaProducer(
            **_common(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            batch_size=BATCH_BYTES,
        )
        self._pending: list[FutureRecordMetadata] = []

    def send(self, topic: TopicSpec, event: Event) -> None:
        message = event.to_kafka()
        key = message.key.encode() if isinstance(message.key, str) else message.key
        future = self._producer.send(
            topic.physical(self._prefix),
            key=key,
            value=message.value,
            headers=list(message.headers.items()),
        )
        self._pending.append(future)

    def send_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """Send a prepared record to a physical topic (delivery channels, passthrough)."""
        self._pending.append(self._producer.send(topic, key=key, value=value, headers=headers))

    def flush(self) -> int:
        """Wait until every sent event is acknowledged; raise the first failure."""
        self._producer.flush()
        pending, self._pending = self._pending, []
        for future in pending:
            future.get()  # raises the KafkaError the broker or client reported
        return len(pending)

    def close(self) -> None:
        self._producer.close()


@dataclass(frozen=True, slots=True)
class Record:
    """A record as read back: topic, partition, offset, key, headers, value."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes
    timestamp_ms: int


def _record(m: object) -> Record:
    return Record(
        m.topic,  # type: ignore[attr-defined]
        m.partition,  # type: ignore[attr-defined]
        m.offset,  # type: ignore[attr-defined]
        m.key,  # type: ignore[attr-defined]
        list(m.headers or []),  # type: ignore[attr-defined]
        m.value,  # type: ignore[attr-defined]
        m.timestamp,  # type: ignore[attr-defined]
    )


class _Listener(ConsumerRebalanceListener):
    def __init__(
        self, on_assigned: Callable[[set[int]], None], on_revoked: Callable[[set[int]], None]
    ):
        self._assigned, self._revoked = on_assigned, on_revoked

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._assigned({tp.partition for tp in assigned})

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._revoked({tp.partition for tp in revoked})


SESSION_TIMEOUT_MS = 10_000
#: A member still joining after this long starts over (see ``GroupConsumer._watch_rebalance``).
STUCK_REBALANCE_S = 2 * SESSION_TIMEOUT_MS / 1000


class GroupConsumer:
    """A consumer group member over co-partitioned topics that commits only when told to.

    The topics share their partition count and are keyed by unit, so the group's range
    assignment gives one member partition ``p`` of every topic: the units on ``p`` are its own.
    """

    def __init__(
        self,
        settings: Settings,
        topics: list[str],
        group_id: str,
        *,
        on_assigned: Callable[[set[int]], None],
        on_revoked: Callable[[set[int]], None],
        max_records: int = 2000,
        stuck_after_s: float = STUCK_REBALANCE_S,
    ) -> None:
        self._settings, self._topics, self._group_id = settings, topics, group_id
        self._on_assigned, self._on_revoked = on_assigned, on_revoked
        self._listener = _Listener(self._assigned, self._revoked)
        self._max_records = max_records
        self._stuck_after_s = stuck_after_s
        #: When this member began (re)joining the group: it gave up its partitions then.
        self._joining_since: float | None = time.monotonic()
        self.restarts = 0
        self._consumer = self._join()

    def _assigned(self, partitions: set[int]) -> None:
        self._joining_since = None
        self._on_assigned(partitions)

    def _revoked(self, partitions: set[int]) -> None:
        self._joining_since = time.monotonic()  # kafka-python revokes just before it rejoins
        self._on_revoked(partitions)

    def _join(self) -> KafkaConsumer:
        consumer = KafkaConsumer(
            **_common(self._settings),
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_records,
            fetch_max_wait_ms=20,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=1_000,
        )
        # Metadata first: without it the first JoinGroup assigns nothing, and kafka-python can
        # lose the rebalance the metadata then triggers, leaving the member without partitions.
        for topic in self._topics:
            consumer.partitions_for_topic(topic)
        consumer.subscribe(self._topics, listener=self._listener)
        return consumer

    def assignment(self) -> set[int]:
        return {tp.partition for tp in self._consumer.assignment()}

    def poll(self, timeout_ms: int) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=timeout_ms)
        self._watch_rebalance()
        return [_record(m) for messages in batches.values() for m in messages]

    def rebalancing(self) -> bool:
        """Whether this member is not (yet, or no longer) a stable member of its group."""
        return self._consumer.group_metadata().state is not MemberState.STABLE

    def _watch_rebalance(self) -> None:
        """A member still (re)joining after ``stuck_after_s`` starts over as a new member.

        kafka-python 3.0 can leave a member waiting for a join it never completes (seen in about
        one in ten loaded runs of the two-worker stream test, cause not found): its session
        expires, the group goes on without it, and it would own nothing for good. Offsets are
        committed only after the ledger, so the new member resumes where the group left off.
        """
        since = self._joining_since
        if since is None or time.monotonic() - since <= self._stuck_after_s:
            return
        log.warning(
            "group %s: still joining after %.0f s; rejoining as a new member",
            self._group_id,
            time.monotonic() - since,
        )
        self._consumer.close(autocommit=False)
        self._consumer = self._join()
        self._joining_since = time.monotonic()
        self.restarts += 1

    def commit(self, records: list[Record]) -> None:
        """Commit, per partition, the offset after the last of ``records``."""
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            if tp not in offsets or offsets[tp].offset <= r.offset:
                offsets[tp] = OffsetAndMetadata(r.offset + 1, "", -1)
        if offsets:
            self._consumer.commit(offsets)

    def lag(self) -> int:
        """Records behind the end, over the assigned partitions (for metrics and the demo)."""
        assigned = list(self._consumer.assignment())
        if not assigned:
            return 0
        ends = self._consumer.end_offsets(assigned)
        return sum(max(0, ends[tp] - self._consumer.position(tp)) for tp in assigned)

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class TopicTail:
    """Every partition of one topic, from the beginning, without a group: materialised state."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._consumer = KafkaConsumer(
            **_common(settings), enable_auto_commit=False, group_id=None, fetch_max_wait_ms=20
        )
        partitions = self._consumer.partitions_for_topic(topic) or set()
        self._tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._consumer.assign(self._tps)
        self._consumer.seek_to_beginning(*self._tps)

    def poll(self, timeout_ms: int = 0) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=timeout_ms)
        return [_record(m) for messages in batches.values() for m in messages]

    def catch_up(self, stall_s: float = 30.0) -> Iterator[Record]:
        """Every record up to the end as it is now."""
        ends = self._consumer.end_offsets(self._tps)
        deadline = time.monotonic() + stall_s
        while any(self._consumer.position(tp) < ends[tp] for tp in self._tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"catching up: no progress for {stall_s:.0f} s")
            records = self.poll(200)
            if records:
                deadline = time.monotonic() + stall_s
            yield from records

    def close(self) -> None:
        self._consumer.close()


def read_topic(
    settings: Settings,
    topic: str,
    stall_s: float = 30.0,
    partitions: set[int] | None = None,
    start: dict[int, int] | None = None,
) -> Iterator[Record]:
    """Every record now on a physical topic, from the beginning up to its current end.

    Reads without a consumer group (nothing is committed), so it can run at any time;
    ``partitions`` limits it to those, ``start`` begins a partition at an offset. Raises
    TimeoutError when no progress is made for ``stall_s`` seconds.
    """
    consumer = KafkaConsumer(**_common(settings), enable_auto_commit=False, group_id=None)
    try:
        found = consumer.partitions_for_topic(topic) or set()
        tps = [
            TopicPartition(topic, p) for p in sorted(found) if partitions is None or p in partitions
        ]
        if not tps:
            return
        firsts, ends = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        begin = {tp: max(firsts[tp], (start or {}).get(tp.partition, 0)) for tp in tps}
        yield from _read_range(consumer, topic, begin, ends, stall_s)
    finally:
        consumer.close()


def _read_range(
    consumer: KafkaConsumer,
    topic: str,
    begin: dict[TopicPartition, int],
    stop: dict[TopicPartition, int],
    stall_s: float,
    keep: Callable[[Any], bool] = lambda _: True,
) -> Iterator[Record]:
    """The records from ``begin`` up to ``stop`` (exclusive) per partition that ``keep``."""
    wanted = [tp for tp in begin if begin[tp] < stop[tp]]
    if not wanted:
        return
    consumer.assign(wanted)
    for tp in wanted:
        consumer.seek(tp, begin[tp])
    remaining = set(wanted)
    deadline = time.monotonic() + stall_s
    while remaining:
        if time.monotonic() > deadline:
            raise TimeoutError(f"reading {topic}: no progress for {stall_s:.0f} s")
        for tp, messages in consumer.poll(timeout_ms=500).items():
            deadline = time.monotonic() + stall_s
            for m in messages:
                if m.offset < stop[tp] and keep(m):
                    yield _record(m)
        remaining = {tp for tp in remaining if consumer.position(tp) < stop[tp]}


def read_offsets(
    settings: Settings, topic: str, offsets: dict[int, set[int]], stall_s: float = 30.0
) -> Iterator[Record]:
    """The records of a physical topic at the given offsets per partition (gone ones skipped)."""
    consumer = KafkaConsumer(**_common(settings), enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(offsets) if offsets[p]]
        if not tps:
            return
        firsts, ends = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        begin = {tp: max(firsts[tp], min(offsets[tp.partition])) for tp in tps}
        stop = {tp: min(ends[tp], max(offsets[tp.partition]) + 1) for tp in tps}
        yield from _read_range(
            consumer, topic, begin, stop, stall_s, keep=lambda m: m.offset in offsets[m.partition]
        )
    finally:
        consumer.close()


def read_interval(
    settings: Settings,
    topic: str,
    start_ms: int | None,
    end_ms: int | None,
    stall_s: float = 30.0,
) -> Iterator[Record]:
    """The records of a physical topic whose timestamp lies in [``start_ms``, ``end_ms``).

    Offsets come from the broker's time index (``offsets_for_times``), so a re-run or a
    backfill of an interval reads the same records, whatever arrived since. ``start_ms`` None
    reads from the beginning, ``end_ms`` None up to the current end. Records within the offset
    range are also filtered on their own timestamp (a producer may set CreateTime out of order).
    """
    consumer = KafkaConsumer(**_common(settings), enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return
        ends = consumer.end_offsets(tps)
        firsts = consumer.beginning_offsets(tps)
        after_end = consumer.offsets_for_times({tp: end_ms for tp in tps}) if end_ms else {}
        starts = consumer.offsets_for_times({tp: start_ms for tp in tps}) if start_ms else {}
        stop = {tp: after_end[tp].offset if after_end.get(tp) else ends[tp] for tp in tps}
        begin = {tp: starts[tp].offset if starts.get(tp) else firsts[tp] for tp in tps}
        if start_ms is not None:  # nothing at or after start_ms: the partition has none
            begin = {tp: begin[tp] if starts.get(tp) else ends[tp] for tp in tps}

        def inside(m: Any) -> bool:
            return (start_ms is None or m.timestamp >= start_ms) and (
                end_ms is None or m.timestamp < end_ms
            )

        yield from _read_range(consumer, topic, begin, stop, stall_s, inside)
    finally:
        consumer.close()


def known_event_ids(settings: Settings, topics: Iterable[TopicSpec], source: str) -> set[str]:
    """Ids of the events from ``source`` already on the topics: the connectors' dedup memory.

    Kafka is the only record of what was published, so a crash between publish and any local
    bookkeeping cannot cause a duplicate. Only headers are read; values are never decoded.
    """
    ids: set[str] = set()
    for spec in topics:
        for record in read_topic(settings, spec.physical(settings.topic_prefix)):
            identity = header_identity(record.headers)
            if identity and identity[0] == source:
                ids.add(identity[1])
    return ids


def event_ids_on(settings: Settings, topic: str) -> set[str]:
    """The ``ce_id`` of every record now on a physical topic (headers only)."""
    ids: set[str] = set()
    for record in read_topic(settings, topic):
        for name, value in record.headers:
            if name == "ce_id":
                ids.add(value.decode())
    return ids
