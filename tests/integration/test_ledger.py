"""The ledger on both databases it supports: SQLite (embedded) and a real PostgreSQL server."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select, text

from wijkbrug.ledger import (
    CANCELLED,
    DELIVERED,
    FAILED,
    QUEUED,
    SENDING,
    Delivery,
    Ledger,
    payloads,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        server = request.getfixturevalue("postgres_url")
        schema = f"t{uuid.uuid4().hex[:10]}"  # a schema of this test's own: no shared state
        setup = Ledger(server, create=False)
        with setup.engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        setup.close()
        url = f"{server}?options=-csearch_path%3D{schema}"
    book = Ledger(url)
    yield book
    book.close()


def delivery(event: str, partner: str = "dock", channel: str = "kafka", **over: object) -> Delivery:
    values = {
        "event_id": event,
        "partner": partner,
        "channel": channel,
        "kind": "signal",
        "event_type": "signal.consented",
        "purpose": "doorverwijzing",
        "consent_id": "TST-000001",
        "contract_version": "2026.11-1",
        "key_id": "dock-20261129-aaaaaa",
        "unit_partition": 2,
        "subject": "s" * 26,
        "bsn_subject": None,
        "fields": ("category", "visit_date"),
        "payload": b'{"event_id": "%s"}' % event.encode(),
    }
    values.update(over)
    return Delivery(**values)  # type: ignore[arg-type]


def test_unique_on_event_partner_channel(ledger: Ledger) -> None:
    assert ledger.enqueue([delivery("e1"), delivery("e1", channel="webhook")]) == 2
    assert ledger.enqueue([delivery("e1"), delivery("e2")]) == 1  # e1 is there already
    assert ledger.enqueue([delivery("e1", partner="buurtteam-overvecht")]) == 1
    keys = [(r["event_id"], r["partner"], r["channel"]) for r in ledger.rows()]
    assert len(keys) == len(set(keys)) == 4


def test_enqueued_rows_read_back_as_written(ledger: Ledger) -> None:
    at = datetime(2026, 11, 29, 8, 30, 15, 123456, tzinfo=UTC)
    ledger.enqueue([delivery("e1")], now=at)
    (row,) = ledger.rows()
    assert row["created_at"].replace(tzinfo=UTC) == at  # SQLite keeps no zone; it is UTC
    assert (row["status"], row["attempts"], row["unit_partition"]) == (QUEUED, 0, 2)
    assert orjson.loads(row["fields"]) == ["category", "visit_date"]
    assert row["payload_sha256"] == hashlib.sha256(b'{"event_id": "e1"}').hexdigest()
    (outgoing,) = ledger.outbox("kafka", [2])
    assert outgoing.payload == b'{"event_id": "e1"}'


def test_outbox_in_order_per_channel_and_partition(ledger: Ledger) -> None:
    ledger.enqueue([delivery(f"e{i}", unit_partition=i % 2) for i in range(6)])
    ledger.enqueue([delivery("w1", channel="webhook")])
    assert [r.event_id for r in ledger.outbox("kafka", {0})] == ["e0", "e2", "e4"]
    assert [r.event_id for r in ledger.outbox("kafka", {0, 1}, limit=2)] == ["e0", "e1"]
    assert [r.event_id for r in ledger.outbox("webhook", {0, 1, 2})] == ["w1"]
    assert ledger.outbox("kafka", set()) == []


def test_delivered_keeps_the_digest_and_drops_the_payload(ledger: Ledger) -> None:
    ledger.enqueue([delivery("e1")])
    (row,) = ledger.outbox("kafka", {2})
    assert ledger.claim([row.id]) == {row.id}
    ledger.mark_delivered([row.id])
    (stored,) = ledger.rows()
    assert stored["status"] == DELIVERED
    assert stored["delivered_at"] is not None
    assert stored["payload_sha256"] == hashlib.sha256(b'{"event_id": "e1"}').hexdigest()
    assert ledger.payload(stored["payload_sha256"]) is None
    assert ledger.outbox("kafka", {2}) == []


def test_channels_share_one_payload_until_the_last_one_is_done(ledger: Ledger) -> None:
    ledger.enqueue([delivery("e1"), delivery("e1", channel="webhook"), delivery("e2")])
    digest = hashlib.sha256(b'{"event_id": "e1"}').hexdigest()
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(payloads)).scalar_one() == 2
    (kafka,) = [r for r in ledger.outbox("kafka", {2}) if r.event_id == "e1"]
    ledger.mark_delivered([kafka.id])
    assert ledger.payload(digest) == b'{"event_id": "e1"}'  # the webhook still needs it
    (webhook,) = ledger.outbox("webhook", {2})
    assert webhook.payload == b'{"event_id": "e1"}'
    ledger.cancel([webhook.id], "toestemming niet meer geldig")
    assert ledger.payload(digest) is None
    # A redelivered event adds nothing, and brings no payload back.
    assert ledger.enqueue([delivery("e1"), delivery("e1", channel="webhook")]) == 0
    assert ledger.payload(digest) is None


def test_a_row_cancelled_before_it_is_claimed_is_not_sent(ledger: Ledger) -> None:
    ledger.enqueue([delivery("e1"), delivery("e2")])
    first, second = ledger.outbox("kafka", {2})
    assert ledger.stop_under("TST-000001", "toestemming ingetrokken") == 2  # another worker
    assert ledger.claim([first.id, second.id]) == set()
    assert ledger.payload(hashlib.sha256(b'{"event_id": "e1"}').hexdigest()) is None
    ledger.enqueue([delivery("e3")])
    (third,) = ledger.outbox("kafka", {2})
    assert ledger.claim([third.id]) == {third.id}
    assert ledger.stop_under("TST-000001", "toestemming ingetrokken") == 0  # it is leaving
    assert [r["event_id"] for r in ledger.received_under("TST-000001")] == ["e3"]


def test_a_stream_batch_is_queued_held_and_its_kafka_rows_claimed_in_one_write(
    ledger: Ledger,
) -> None:
    held = {
        "event_id": "h1",
        "partner": "dock",
        "subject": "s" * 26,
        "event_name": "signal.consented",
        "event": b"{}",
        "reason": "toestemming.nog_niet_geregistreerd",
    }
    batch = [delivery("e1"), delivery("e1", channel="webhook"), delivery("e2")]
    inserted, claimed = ledger.write_batch(batch, [held], claim="kafka")
    assert inserted == 3
    assert ledger.held_count() == 1
    rows = {(r["event_id"], r["channel"]): r for r in ledger.rows()}
    assert sorted((event, partner) for _, event, partner in claimed) == [
        ("e1", "dock"),
        ("e2", "dock"),
    ]
    assert {row_id for row_id, _, _ in claimed} == {
        rows[("e1", "kafka")]["id"],
        rows[("e2", "kafka")]["id"],
    }
    statuses = {key: row["status"] for key, row in rows.items()}
    assert statuses == {
        ("e1", "kafka"): SENDING,
        ("e1", "webhook"): QUEUED,  # the webhook senders claim their own rows
        ("e2", "kafka"): SENDING,
    }
    # Read again after a crash: e1 was delivered meanwhile, e2 is still claimed (the take-over
    # reconciles it); only a row that is queued is claimed, and nothing is inserted twice.
    ledger.mark_delivered([rows[("e1", "kafka")]["id"]])
    again = [*batch, delivery("e3")]
    inserted, claimed = ledger.write_batch(again, [held], claim="kafka")
    assert inserted == 1
    assert [(event, partner) for _, event, partner in claimed] == [("e3", "dock")]
    assert ledger.held_count() == 1


def test_failed_attempts_are_counted_and_a_permanent_one_stops(ledger: Ledger) -> None:
    ledger.enqueue([delivery("e1", channel="webhook")])
    (row,) = ledger.outbox("webhook", {2})
    ledger.mark_failed_attempt(row.id, "HTTP 503", None, permanent=False)
    ledger.mark_failed_attempt(row.id, "HTTP 503", None, permanent=False)
    (again,) = ledger.outbox("webhook", {2})
    assert again.attempts == 2
    ledger.mark_failed_attempt(row.id, "HTTP 400", None, permanent=True)
    assert ledger.outbox("webhook", {2}) == []
    assert ledger.rows()[0]["status"] == FAILED


def test_a_withdrawal_stops_what_has_not_left_and_lists_what_has(ledger: Ledger) -> None:
    ledger.enqueue([delivery("left"), delivery("waiting"), delivery("other", consent_id="TST-2")])
    left = next(r for r in ledger.outbox("kafka", {2}) if r.event_id == "left")
    ledger.mark_delivered([left.id])
    assert ledger.stop_under("TST-000001", "toestemming ingetrokken") == 1
    received = ledger.received_under("TST-000001")
    assert [(r["event_id"], r["partner"], r["channel"]) for r in received] == [
        ("left", "dock", "kafka")
    ]
    status = {r["event_id"]: r["status"] for r in ledger.rows()}
    assert status == {"left": DELIVERED, "waiting": CANCELLED, "other": QUEUED}
    ledger.mark_retracted("TST-000001", "withdrawal-1")
    assert {r["event_id"]: r["retracted_by"] for r in ledger.rows()}["left"] == "withdrawal-1"


def test_held_events_wait_per_subject_and_partner(ledger: Ledger) -> None:
    row = {
        "event_id": "e1",
        "partner": "dock",
        "subject": "s1",
        "event_name": "signal.consented",
        "event": b"{}",
        "reason": "toestemming.nog_niet_geregistreerd",
    }
    ledger.hold([row])
    ledger.hold([row])  # holding again changes nothing
    assert ledger.held_count() == 1
    assert [r["event_id"] for r in ledger.held_for("s1", "dock")] == ["e1"]
    assert ledger.held_for("s1", "buurtteam-overvecht") == []
    ledger.unhold("e1", "dock")
    assert ledger.held_count() == 0


def test_a_background_checkpointer_moves_the_wal_into_the_database_and_stops(
    tmp_path: Path,
) -> None:
    plain, background = tmp_path / "plain.sqlite", tmp_path / "background.sqlite"
    sizes = {}
    for path, in_background in ((plain, False), (background, True)):
        book = Ledger(f"sqlite:///{path}", checkpoint_in_background=in_background)
        before = path.stat().st_size
        assert book.enqueue([delivery(f"e{i}") for i in range(2000)]) == 2000
        if in_background:
            assert book.checkpointer is not None
            assert book.checkpointer.wait_rounds(2, timeout_s=30)  # one began after the writes
        sizes[path] = (before, path.stat().st_size)
        thread = book.checkpointer._thread if book.checkpointer else None
        book.close()
        assert thread is None or not thread.is_alive()
    # Below SQLite's own checkpoint size, the rows stay in the WAL unless a thread moves them.
    assert sizes[plain][1] == sizes[plain][0]
    assert sizes[background][1] > sizes[background][0] + 2000 * 100
    again = Ledger(f"sqlite:///{background}")
    try:
        assert len(again.rows()) == 2000
    finally:
        again.close()


def test_times_are_stored_in_one_text_format(tmp_path: Path) -> None:
    book = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        book.enqueue([delivery("e1")], now=datetime(2026, 3, 1, 12, 30, tzinfo=UTC))
        (row,) = book.outbox("kafka", {2})
        book.mark_delivered([row.id], now=datetime(2026, 3, 1, 12, 31, tzinfo=UTC))
        with book.engine.connect() as conn:
            stored = conn.execute(text("SELECT created_at, delivered_at FROM deliveries")).one()
        assert tuple(stored) == ("2026-03-01 12:30:00.000000", "2026-03-01 12:31:00.000000")
        (read,) = book.rows()
        assert read["delivered_at"].replace(tzinfo=UTC) == datetime(2026, 3, 1, 12, 31, tzinfo=UTC)
    finally:
        book.close()
