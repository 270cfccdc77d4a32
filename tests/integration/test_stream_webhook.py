"""The stream worker's webhook channel against real partner endpoints (local HTTP servers)."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.support.stream import (
    KAFKA_PARTNERS,
    SMALL_AS_OF,
    Household,
    RawPublisher,
    Renovation,
    TopicFollower,
    WorkerThread,
    committed_offsets,
    consent_given,
    delivered,
    isolated,
    raw_events,
    renovation,
    signal,
    wait_until,
    worker_for,
)
from tests.support.webhook_server import WEBHOOK_PARTNERS, PartnerWebhookServer, partner_servers
from wijkbrug.ledger import Ledger, deliveries
from wijkbrug.settings import Settings

pytestmark = pytest.mark.kafka

AS_OF = SMALL_AS_OF
DAY = date(2026, 3, 10)


@pytest.fixture(scope="module")
def small(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Renovation:
    """A small synthetic renovation (about 40 homes) exported on AS_OF, published once."""
    base = Settings(kafka_bootstrap=kafka_bootstrap, kafka_request_timeout_ms=15_000)
    return renovation(base, tmp_path_factory.getbasetemp(), small=True)


@pytest.fixture
def partners(tmp_path: Path) -> Iterator[dict[str, PartnerWebhookServer]]:
    with partner_servers(tmp_path / "keys") as servers:
        yield servers


def test_a_partner_down_gets_everything_once_and_in_order_when_it_is_back(
    settings: Settings, small: Renovation, tmp_path: Path, partners: dict[str, PartnerWebhookServer]
) -> None:
    urls = {p: server.url for p, server in partners.items()}
    settings = small.copy_to(isolated(settings, tmp_path, webhook_urls=urls))
    ends: dict[tuple[str, int], int] = defaultdict(int)
    for event in raw_events(settings).values():
        place = (event["topic"], event["partition"])
        ends[place] = max(ends[place], event["offset"] + 1)
    for server in partners.values():
        server.set_down(True)
    ledger = Ledger(settings.ledger())

    def webhook_rows() -> list[dict]:
        return ledger.rows(deliveries.c.channel == "webhook")

    def every_partner_tried() -> bool:
        rows = webhook_rows()
        return bool(rows) and all(
            any(r["attempts"] > 0 for r in rows if r["partner"] == partner)
            for partner in {r["partner"] for r in rows}
        )

    worker = worker_for(settings, AS_OF)
    with WorkerThread(worker) as running:
        running.wait_assigned()
        wait_until(
            lambda: all(
                offset >= ends.get(place, 0)
                for place, offset in committed_offsets(settings, settings.stream_group).items()
            ),
            20,
            "the worker to commit the raw topics to their end (ledger written before)",
            every_s=0.05,
        )
        wait_until(every_partner_tried, 15, "every partner to have been tried")
        rows = webhook_rows()
        assert {r["status"] for r in rows} == {"queued"}, "nothing delivered while down"
        assert all(server.received == [] for server in partners.values())
        by_partner = defaultdict(list)
        for row in rows:
            by_partner[row["partner"]].append(row)
        assert set(by_partner) == set(WEBHOOK_PARTNERS), "the data has work for every partner"
        for partner, queued in by_partner.items():
            assert queued[0]["attempts"] > 0, f"{partner}: the oldest delivery was attempted"
            assert partners[partner].refused >= queued[0]["attempts"]

        for server in partners.values():
            server.set_down(False)
        for partner, queued in by_partner.items():
            partners[partner].wait_for(len(queued), timeout_s=20)
        wait_until(
            lambda: {r["status"] for r in webhook_rows()} == {"delivered"},
            10,
            "the ledger to show every webhook delivery delivered",
        )

    assert len(webhook_rows()) == len(rows), "nothing new was planned meanwhile"
    for partner, queued in by_partner.items():
        server = partners[partner]
        arrived = [d["event_id"] for d in server.received]
        assert len(arrived) == len(set(arrived)), f"{partner}: an event arrived twice"
        assert server.duplicates == 0, f"{partner}: no timeouts, so no retries of a success"
        assert sorted(arrived) == sorted(r["event_id"] for r in queued), partner
        sha = {
            r["event_id"]: r["payload_sha256"]
            for r in ledger.rows(deliveries.c.partner == partner, deliveries.c.channel == "webhook")
        }
        for d in server.received:
            assert hashlib.sha256(d["raw"]).hexdigest() == sha[d["event_id"]], "what left"
        unit_of = {d["event_id"]: d["body"]["data"]["unit_id"] for d in server.received}
        in_ledger_order: dict[str, list[str]] = defaultdict(list)
        for row in queued:  # ledger id order
            in_ledger_order[unit_of[row["event_id"]]].append(row["event_id"])
        in_arrival_order: dict[str, list[str]] = defaultdict(list)
        for event_id in arrived:
            in_arrival_order[unit_of[event_id]].append(event_id)
        assert in_arrival_order == in_ledger_order, f"{partner}: per unit, in ledger order"
        assert any(len(ids) > 1 for ids in in_ledger_order.values()), "units with several"
    for partner in KAFKA_PARTNERS:  # one payload per partner, whichever channel carries it
        on_topic = {r.event_id: r.raw for r in delivered(settings, partner)}
        assert on_topic == {d["event_id"]: d["raw"] for d in partners[partner].received}


def test_a_slow_partner_holds_up_neither_another_partner_nor_the_kafka_channel(
    settings: Settings, tmp_path: Path, partners: dict[str, PartnerWebhookServer]
) -> None:
    slow, fast = partners["buurtteam-overvecht"], partners["dock"]
    slow.set_delay(1.5)
    settings = isolated(
        settings,
        tmp_path,
        webhook_timeout_s=5.0,
        webhook_urls={"buurtteam-overvecht": slow.url, "dock": fast.url},
    )
    home = Household("75000001", "H7500001")
    categories = ["eenzaamheid", "taal"]
    consents = [
        consent_given(home, f"TST-S-{n}", partner, "doorverwijzing", categories, DAY, "HB-S")
        for n, partner in enumerate(KAFKA_PARTNERS)
    ]
    refs = [(partner, "doorverwijzing", categories) for partner in KAFKA_PARTNERS]
    signals = [
        signal(home, "HB-S", n, category, DAY - timedelta(days=3), refs)
        for n, category in enumerate(categories)
    ]
    ids = sorted(s.id for s in signals)
    worker = worker_for(settings, DAY)
    followers = {p: TopicFollower(settings, f"deliver.{p}") for p in KAFKA_PARTNERS}
    publisher = RawPublisher(settings)
    try:
        with WorkerThread(worker) as running:
            running.wait_assigned()
            publisher.publish(*consents)
            wait_until(lambda: worker.pipeline.consents.get("TST-S-1"), 10, "the consents")
            started = publisher.publish(*signals)
            fast.wait_for(len(ids), timeout_s=5)
            for follower in followers.values():
                follower.wait(lambda r: len(r) >= len(ids), 5, "the kafka deliveries")
            elapsed = time.monotonic() - started
            in_progress = len(slow.received)
            assert elapsed < 1.0, f"the others took {elapsed:.2f} s: held up by the slow one?"
            assert in_progress < len(ids), "the slow partner was still busy meanwhile"
            slow.wait_for(len(ids), timeout_s=15)
    finally:
        for follower in followers.values():
            follower.close()
        publisher.close()
    for server in (slow, fast):
        arrived = [d["event_id"] for d in server.received]
        assert sorted(arrived) == ids and server.duplicates == 0
    for partner in KAFKA_PARTNERS:
        assert sorted(r.event_id for r in delivered(settings, partner)) == ids
