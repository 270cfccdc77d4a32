"""The one place that speaks kafka-python: producer, consumer, admin, and the id scan.

Everything else in wijkbrug talks in events, topics and offsets, never in client classes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.producer.future import FutureRecordMetadata

from wijkbrug.events import Event, header_identity
from wijkbrug.settings import Settings
from wijkbrug.topics import TopicSpec, load_topics

log = logging.getLogger(__name__)

__all__ = ["KafkaError", "Publisher", "ensure_topics", "known_event_ids", "read_topic"]


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


class Publisher:
    """A producer that waits for the broker's acknowledgement of every event it sends."""

    def __init__(self, settings: Settings) -> None:
        self._prefix = settings.topic_prefix
        self._producer = KafkaProducer(
            **_common(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
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


def read_topic(settings: Settings, topic: str, stall_s: float = 30.0) -> Iterator[Record]:
    """Every record now on a physical topic, from the beginning up to its current end.

    Reads without a consumer group (nothing is committed), so it can run at any time. Raises
    TimeoutError when no progress is made for ``stall_s`` seconds.
    """
    consumer = KafkaConsumer(**_common(settings), enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > consumer.position(tp)}
        deadline = time.monotonic() + stall_s
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: no progress for {stall_s:.0f} s")
            for tp, messages in consumer.poll(timeout_ms=500).items():
                deadline = time.monotonic() + stall_s
                for m in messages:
                    if m.offset < ends[tp]:
                        yield Record(
                            m.topic,
                            m.partition,
                            m.offset,
                            m.key,
                            list(m.headers or []),
                            m.value,
                            m.timestamp,
                        )
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
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
