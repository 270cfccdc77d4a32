"""Running a connector on a file against the real broker: the I/O edge of the connector base."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import orjson
from tqdm import tqdm

from wijkbrug import kafka_client
from wijkbrug.connector import (
    Connector,
    SourceRecord,
    Summary,
    make_context,
    process,
    read_source,
)
from wijkbrug.settings import Settings
from wijkbrug.topics import topic_for
from wijkbrug.units import Unit, register_from_milestones

log = logging.getLogger(__name__)

#: Wait for acknowledgements at least this often, so a long file never piles up unsent events.
FLUSH_EVERY = 2000


def unit_register(settings: Settings) -> dict[str, Unit]:
    """The unit register, from the milestones on Kafka (the planning export)."""
    spec = topic_for("renovation.milestone")
    records = kafka_client.read_topic(settings, spec.physical(settings.topic_prefix))
    return register_from_milestones(orjson.loads(record.value) for record in records)


def _with_progress(
    records: Iterable[SourceRecord], data: bytes, label: str
) -> Iterator[SourceRecord]:
    """Records, drawing a progress bar over the file's lines on stderr."""
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    with tqdm(total=lines, unit=" regels", desc=label, file=sys.stderr) as bar:
        for record in records:
            bar.update(record.line - bar.n)
            yield record
        bar.update(lines - bar.n)


def run_file(
    connector: Connector,
    path: Path,
    settings: Settings,
    *,
    dry_run: bool = False,
    progress: bool | None = None,
    today: date | None = None,
) -> Summary:
    """Read, validate and publish one source file; return what happened to every record.

    A file whose encoding or header is unreadable fails before anything is sent. Every sent
    event is acknowledged by the broker (acks=all) before the run reports success.
    """
    data, source = read_source(path)
    if not dry_run:
        kafka_client.ensure_topics(settings)
    known = kafka_client.known_event_ids(settings, connector.topics(), connector.source)
    units = unit_register(settings) if connector.needs_units else {}
    context = make_context(today, units)
    summary = Summary(connector.name, source.name, dry_run)
    records: Iterable[SourceRecord] = connector.read(data)
    if sys.stderr.isatty() if progress is None else progress:
        records = _with_progress(records, data, f"{connector.name}: {source.name}")
    publisher = None if dry_run else kafka_client.Publisher(settings)
    try:
        unacknowledged = 0
        for result in process(connector, records, source, known, context):
            summary.add(result)
            if publisher is None:
                continue
            for event in result.events:
                publisher.send(topic_for(event.name), event)
            unacknowledged += len(result.events)
            if unacknowledged >= FLUSH_EVERY:
                publisher.flush()
                unacknowledged = 0
        if publisher is not None:
            publisher.flush()
    finally:
        if publisher is not None:
            publisher.close()
    log.info("%s: %s", connector.name, summary.as_dict())
    return summary
