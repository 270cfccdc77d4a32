"""Delivery channels: the partner's own Kafka topic and its webhook, both sending from the ledger.

A channel implements one method, :meth:`Channel.write`: send these queued deliveries, in order,
and say which left. :func:`drain` around it is shared: consent is checked once more as a
delivery leaves, and the outcome is written to the ledger. The nightly file drop is the third
channel (Airflow).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from wijkbrug import kafka_client
from wijkbrug.ledger import Ledger, Outgoing
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics
from wijkbrug.webhook import Backoff, WebhookClient

if TYPE_CHECKING:
    from wijkbrug.delivery import Planner
    from wijkbrug.keys import KeyStore

log = logging.getLogger(__name__)

MaySend = Callable[[str | None, str], bool]
SOURCE = "urn:wijkbrug:stream"


@dataclass
class WriteResult:
    """What a write achieved: ids that left, failures, and when to try again."""

    delivered: list[int] = field(default_factory=list)
    failed: list[tuple[int, str, bool]] = field(default_factory=list)  # id, error, permanent
    retry_after_s: float | None = None


class Channel(ABC):
    """A way deliveries leave wijkbrug."""

    name: ClassVar[str]

    @abstractmethod
    def write(self, rows: list[Outgoing]) -> WriteResult:
        """Send ``rows`` in order; stop at a failure that a retry may cure."""


def drain(channel: Channel, ledger: Ledger, rows: list[Outgoing], may_send: MaySend) -> WriteResult:
    """Send queued rows through ``channel``; record the outcome. Consent ended -> cancelled."""
    allowed, stopped = [], []
    for row in rows:
        (allowed if may_send(row.consent_id, row.kind) else stopped).append(row)
    ledger.cancel([r.id for r in stopped], "toestemming niet meer geldig bij verzending")
    claimed = ledger.claim([r.id for r in allowed])
    allowed = [r for r in allowed if r.id in claimed]  # not cancelled by another worker meanwhile
    if not allowed:
        return WriteResult()
    try:
        result = channel.write(allowed)
    except BaseException:
        ledger.requeue([r.id for r in allowed])
        raise
    ledger.mark_delivered(result.delivered)
    done = {*result.delivered, *(f[0] for f in result.failed)}
    ledger.requeue([r.id for r in allowed if r.id not in done])
    for row_id, error, permanent in result.failed:
        due = None
        if not permanent and result.retry_after_s is not None:
            due = datetime.now(UTC) + timedelta(seconds=result.retry_after_s)
        ledger.mark_failed_attempt(row_id, error, due, permanent=permanent)
    return result


def delivery_headers(event_id: str, kind: str) -> list[tuple[str, bytes]]:
    """CloudEvents binary-mode headers of a delivery on a partner topic; id = the event id."""
    return [
        ("ce_id", event_id.encode()),
        ("ce_source", SOURCE.encode()),
        ("ce_type", f"nl.wijkbrug.delivery.{kind}".encode()),
        ("ce_specversion", b"1.0"),
        ("content-type", b"application/json"),
    ]


def produce_delivery(
    publisher: kafka_client.Publisher,
    topic: str,
    event_id: str,
    kind: str,
    unit_partition: int,
    payload: bytes,
) -> None:
    """One delivery onto a partner topic: keyed by its unit's partition (so a partner reads a
    unit's deliveries in order), CloudEvents headers naming the event."""
    key = f"p{unit_partition}".encode()
    publisher.send_raw(topic, key, payload, delivery_headers(event_id, kind))


def partner_topics(settings: Settings) -> dict[str, str]:
    """Partner -> the physical name of its own topic ``deliver.<partner>``."""
    return {
        name.removeprefix("deliver."): spec.physical(settings.topic_prefix)
        for name, spec in load_topics().items()
        if name.startswith("deliver.")
    }


class KafkaTopicChannel(Channel):
    """The partner's own topic ``deliver.<partner>``, keyed by the unit's partition."""

    name = "kafka"

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        publisher: kafka_client.Publisher,
        may_send: MaySend,
        stats: Any,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.publisher = publisher
        self.may_send = may_send
        self.stats = stats
        self._topics = partner_topics(settings)

    def topic(self, partner: str) -> str:
        return self._topics[partner]

    def write(self, rows: list[Outgoing]) -> WriteResult:
        for row in rows:
            produce_delivery(
                self.publisher,
                self.topic(row.partner),
                row.event_id,
                row.kind,
                row.unit_partition,
                row.payload,
            )
        self.publisher.flush()  # raises if the broker did not acknowledge
        return WriteResult(delivered=[row.id for row in rows])

    def send(self, partitions: set[int]) -> int:
        """Send everything queued for ``partitions``; after a failure, reconcile first."""
        sent = 0
        while partitions:
            rows = self.ledger.outbox(self.name, partitions, limit=5000)
            if not rows:
                break
            try:
                result = drain(self, self.ledger, rows, self.may_send)
            except kafka_client.KafkaError as error:
                log.warning("partner topic send failed (%s); will retry", type(error).__name__)
                self.reconcile(partitions)
                break
            delivered = set(result.delivered)
            for row in rows:
                if row.id in delivered:
                    self.stats.delivered[(row.partner, self.name)] += 1
            sent += len(result.delivered)
        return sent

    def reconcile(self, partitions: set[int]) -> int:
        """Mark queued rows that a crash left unmarked but did reach the partner topic.

        Kafka is the record of what the broker acknowledged: a row still queued whose event id
        is on the partner topic was sent before a crash and must not be sent again.
        """
        rows = self.ledger.outbox(self.name, partitions, limit=1_000_000)
        if not rows:
            return 0
        found: list[int] = []
        for partner in sorted({row.partner for row in rows}):
            ids = kafka_client.event_ids_on(self.settings, self.topic(partner))
            found += [r.id for r in rows if r.partner == partner and r.event_id in ids]
        self.ledger.mark_delivered(found)
        if found:
            log.info("reconciled %d deliveries already on partner topics", len(found))
        return len(found)


class WebhookChannel(Channel):
    """HTTP POST to the partner's endpoint, signed, one delivery at a time, in order."""

    name = "webhook"

    def __init__(self, client: WebhookClient, pause: threading.Event | None = None) -> None:
        self.client = client
        self.pause = pause or threading.Event()

    def write(self, rows: list[Outgoing]) -> WriteResult:
        result = WriteResult()
        for row in rows:
            if self.pause.is_set():
                break  # partitions are moving to another worker: hand over promptly
            answer = self.client.post(row.payload, row.event_id)
            if answer.ok:
                result.delivered.append(row.id)
                continue
            result.failed.append((row.id, answer.error or "fout", not answer.retryable))
            if answer.retryable:
                result.retry_after_s = answer.retry_after_s
                break  # keep the order: the rest waits behind this one
        return result


class _Sender(threading.Thread):
    """One partner's webhook: its own thread, so a slow or absent partner holds up no one."""

    def __init__(
        self, dispatcher: WebhookDispatcher, partner: str, channel: WebhookChannel
    ) -> None:
        super().__init__(name=f"webhook-{partner}", daemon=True)
        self.dispatcher = dispatcher
        self.partner = partner
        self.channel = channel
        self.wake = threading.Event()
        self.busy = threading.Lock()
        self.idle = threading.Event()
        self.backoff = Backoff()
        self.rng = random.Random()

    def run(self) -> None:
        d = self.dispatcher
        attempt = 0
        while not d.halt.is_set():
            with self.busy:
                rows = d.ledger.outbox(
                    self.channel.name, d.owned(), partner=self.partner, limit=200
                )
                if not rows:
                    result = None
                else:
                    self.idle.clear()
                    try:
                        result = drain(self.channel, d.ledger, rows, d.may_send)
                    except Exception:  # the sender must survive anything and keep the backlog
                        log.exception("webhook %s: send round failed", self.partner)
                        result = WriteResult(failed=[(rows[0].id, "interne fout", False)])
                    d.stats.delivered[(self.partner, self.channel.name)] += len(result.delivered)
            if result is None:
                self.idle.set()
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            if result.failed and not result.failed[-1][2]:  # retryable: back off, then again
                d.stats.webhook_retries[self.partner] += 1
                delay = self.backoff.delay(attempt, self.rng)
                delay = max(delay, result.retry_after_s or 0.0)
                attempt += 1
                d.halt.wait(delay)
            else:
                attempt = 0


class WebhookDispatcher:
    """The webhook senders of every partner whose contract has the channel and an address."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        store: KeyStore,
        planner: Planner,
        owned: Callable[[], set[int]],
        may_send: MaySend,
        stats: Any,
    ) -> None:
        self.ledger = ledger
        self.owned = owned
        self.may_send = may_send
        self.stats = stats
        self.halt = threading.Event()
        self.pausing = threading.Event()
        self.senders: list[_Sender] = []
        for contract in planner.contracts.values():
            if "webhook" not in contract.channels:
                continue
            url = settings.webhook_urls.get(contract.partner)
            if not url:
                log.warning(
                    "webhook %s: no address configured; its deliveries wait in the ledger",
                    contract.partner,
                )
                continue
            key = store.current(contract.partner, "webhook")
            client = WebhookClient(
                url, key.secret, key.key_id, timeout_s=settings.webhook_timeout_s
            )
            channel = WebhookChannel(client, self.pausing)
            self.senders.append(_Sender(self, contract.partner, channel))

    def start(self) -> None:
        for sender in self.senders:
            if not sender.is_alive():
                sender.start()

    def wake(self) -> None:
        for sender in self.senders:
            sender.wake.set()

    def quiesce(self) -> None:
        """Wait for sends in flight to finish (before partitions move to another worker)."""
        self.pausing.set()
        try:
            for sender in self.senders:
                with sender.busy:
                    pass
        finally:
            self.pausing.clear()

    def drained(self) -> bool:
        owned = self.owned()
        return all(
            sender.idle.is_set()
            and not self.ledger.outbox("webhook", owned, partner=sender.partner, limit=1)
            for sender in self.senders
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        self.halt.set()
        self.pausing.set()
        self.wake()
        deadline = time.monotonic() + timeout_s
        for sender in self.senders:
            if sender.is_alive():
                sender.join(max(0.0, deadline - time.monotonic()))
            sender.channel.client.close()
