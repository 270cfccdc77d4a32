"""Reading a topic back with a plain kafka-python consumer: no wijkbrug code in between."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from wijkbrug.settings import Settings


def read_back(settings: Settings, topic: str) -> list[ConsumerRecord]:
    """Every record now on the (prefixed) topic; an empty list if it does not exist."""
    name = settings.topic_prefix + topic
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(
                    r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)]
                )
        return records
    finally:
        consumer.close()


def end_offset_total(settings: Settings, topic: str) -> int:
    """How many records have been written to the topic (sum of its partitions' end offsets)."""
    name = settings.topic_prefix + topic
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or []]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()
