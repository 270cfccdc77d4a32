"""Quarantine records on the real broker, as a connector publishes them (hand-made, synthetic)."""

from __future__ import annotations

import hashlib

import orjson
from kafka import KafkaConsumer, TopicPartition

from tests.support.topics import read_back
from wijkbrug import kafka_client
from wijkbrug.connector import QUARANTINE_EVENT
from wijkbrug.events import Event, event_id
from wijkbrug.reasons import REASONS
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics

SOURCE = "urn:wijkbrug:connector:planning"
#: A synthetic raw planning row: what must never reach Airflow (payloads, logs, forms).
RAW = "CPX-OV-031;{unit};Theemsdreef;12;3562AB;H-{unit};Synthetische Bewoner;06-12345678"
SOURCE_SHA = hashlib.sha256(b"planning-export").hexdigest()


def quarantine_record(line: int, code: str = "vhe.format") -> Event:
    unit = str(70000000 + line)
    raw = RAW.format(unit=unit)
    return Event(
        name=QUARANTINE_EVENT,
        source=SOURCE,
        id=event_id(SOURCE, "quarantine", hashlib.sha256(raw.encode()).hexdigest()),
        key=unit,
        subject=unit,
        data={
            "connector": "planning",
            "source_file": "planning.csv",
            "source_sha256": SOURCE_SHA,
            "line": line,
            "reasons": [{"code": code, "field": "vhe", "message": REASONS[code]}],
            "raw": raw,
        },
    )


def publish_quarantine(settings: Settings, lines: range, code: str = "vhe.format") -> None:
    """Publish one quarantine record per line (acknowledged by the broker)."""
    kafka_client.ensure_topics(settings, [load_topics()["quarantine"]])
    publisher = kafka_client.Publisher(settings)
    try:
        for line in lines:
            event = quarantine_record(line, code)
            event.validate()
            publisher.send(load_topics()["quarantine"], event)
        publisher.flush()
    finally:
        publisher.close()


def positions(settings: Settings) -> dict[int, tuple[int, int]]:
    """Where each line's record is: line -> (partition, offset)."""
    return {
        orjson.loads(r.value)["line"]: (r.partition, r.offset)
        for r in read_back(settings, "quarantine")
    }


def committed(settings: Settings, group: str) -> dict[int, int]:
    """The consumer group's committed offset per partition of the quarantine topic (0: none)."""
    topic = settings.topic_prefix + "quarantine"
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in partitions}
    finally:
        consumer.close()
