"""The stream worker against the real broker: consent-gated, contract-shaped, once, in real time."""

from __future__ import annotations

import signal as signals
import subprocess
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.stream import (
    KAFKA_PARTNERS,
    REPO,
    SMALL_AS_OF,
    Household,
    RawPublisher,
    Renovation,
    TopicFollower,
    WorkerThread,
    committed_offsets,
    consent_given,
    consent_withdrawn,
    delivered,
    isolated,
    milestone,
    noon,
    raw_events,
    registry_consents,
    renovation,
    signal,
    stream_command,
    stream_env,
    units_on_one_partition,
    wait_until,
    worker_for,
)
from tests.support.webhook_server import PartnerWebhookServer
from wijkbrug.delivery import ALERT_HORIZON
from wijkbrug.events import Event
from wijkbrug.keys import KeyStore
from wijkbrug.ledger import Ledger, deliveries
from wijkbrug.partner_contract import load_contracts
from wijkbrug.settings import Settings
from wijkbrug.stream import StreamWorker

pytestmark = pytest.mark.kafka

#: The export day of the synthetic data and the delivery day of the worker that reads it.
AS_OF = SMALL_AS_OF
#: The delivery day of the tests with hand-made events.
DAY = date(2026, 3, 10)
BUURTTEAM = "buurtteam-overvecht"
#: What an alert adds to the milestone fields the contract lets through (delivery.Planner).
ALERT_KEYS = frozenset(
    {"title", "body", "milestone", "status", "date", "categories", "purpose", "contact"}
    | {"language"}
)


@pytest.fixture(scope="module")
def small(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Renovation:
    """A small synthetic renovation (about 40 homes) exported on AS_OF, published once."""
    base = Settings(kafka_bootstrap=kafka_bootstrap, kafka_request_timeout_ms=15_000)
    return renovation(base, tmp_path_factory.getbasetemp(), small=True)


@pytest.fixture(scope="module")
def whole(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Renovation:
    """The whole synthetic renovation (432 homes) exported today (the CLI's clock is real)."""
    base = Settings(kafka_bootstrap=kafka_bootstrap, kafka_request_timeout_ms=15_000)
    return renovation(base, tmp_path_factory.getbasetemp(), small=False)


def field_paths(data: dict[str, Any], allowed: frozenset[str] | set[str], prefix: str = ""):
    """The field paths of ``data``: a named path covers its whole value, others are walked."""
    for key, value in data.items():
        path = prefix + key
        if path not in allowed and isinstance(value, dict):
            yield from field_paths(value, allowed, path + ".")
        else:
            yield path


def event_day(data: dict[str, Any]) -> date:
    for key in ("visit_date", "realised_date", "planned_date"):
        if data.get(key):
            return date.fromisoformat(data[key])
    raise AssertionError("an event without a date")


def expected_deliveries(
    events: dict[str, dict[str, Any]], consents: dict[str, Any], partner: str, day: date
) -> set[str]:
    """Computed from the source files and the contract alone: what ``partner`` must get."""
    rules = load_contracts()[partner]
    expected = set()
    for ident, event in events.items():
        data, name = event["data"], event["type"].removeprefix("nl.wijkbrug.")
        rule = rules.rule(name)
        if rule is None or not data.get("tenant_number"):
            continue
        valid = [
            c
            for c in consents.values()
            if c.tenant == data["tenant_number"] and c.partner == partner and c.valid_on(day)
        ]
        if name == "signal.consented":
            ok = any(
                data["category"] in c.categories
                and rule.allows(c.purpose, category=data["category"])
                for c in valid
            )
        else:
            ok = any(rule.allows(c.purpose, milestone=data["milestone"]) for c in valid) and (
                rule.deliver_as != "alert" or event_day(data) >= day - ALERT_HORIZON
            )
        if ok:
            expected.add(ident)
    return expected


@pytest.mark.parametrize("writer", ["process", "inline"])
def test_end_to_end_every_delivery_is_consented_contracted_and_delivered_once(
    settings: Settings, small: Renovation, tmp_path: Path, writer: str
) -> None:
    settings = small.copy_to(isolated(settings, tmp_path))  # the connectors' output
    worker_for(settings, AS_OF, writer=writer).run(until_idle_s=0.5, max_s=60)

    consents = registry_consents(small.directory / "consents.csv")
    events = raw_events(settings)
    contracts = load_contracts()
    secrets = {e["data"]["tenant_number"] for e in events.values()} | {
        e["data"]["unit_id"] for e in events.values()
    }
    secrets |= {
        e["data"]["resident"]["bsn"]
        for e in events.values()
        if e["data"].get("resident", {}).get("bsn")
    }
    ledger = Ledger(settings.ledger())
    kinds: Counter[str] = Counter()
    for partner in KAFKA_PARTNERS:
        records = delivered(settings, partner)
        ids = [r.event_id for r in records]
        assert len(ids) == len(set(ids)), f"{partner}: an event id twice on the partner topic"
        assert set(ids) == expected_deliveries(events, consents, partner, AS_OF), partner
        rows = ledger.rows(deliveries.c.partner == partner, deliveries.c.channel == "kafka")
        assert {r["status"] for r in rows} == {"delivered"}
        assert sorted(r["event_id"] for r in rows) == sorted(ids), "ledger == partner topic"
        for record in records:
            envelope = record.envelope
            kinds[envelope["kind"]] += 1
            assert envelope["partner"] == partner
            assert envelope["event_id"] == record.event_id
            consent = consents[envelope["consent_id"]]
            source = events[record.event_id]["data"]
            assert consent.partner == partner and consent.valid_on(AS_OF)
            assert consent.tenant == source["tenant_number"], "the household's own consent"
            assert envelope["purpose"] == consent.purpose
            assert envelope["contract_version"] == contracts[partner].version
            if envelope["kind"] == "signal":
                assert source["category"] in consent.categories
            rule = contracts[partner].rule(envelope["event_type"])
            allowed = set(rule.transform(envelope["purpose"]).fields)
            if envelope["kind"] == "alert":
                allowed |= ALERT_KEYS
            extra = set(field_paths(envelope["data"], allowed)) - allowed
            assert not extra, f"{partner} got fields its contract does not name: {extra}"
            text = record.raw.decode()
            leaked = [s for s in secrets if s in text]
            assert not leaked, "tenant numbers, unit numbers and BSNs never leave in the clear"
    assert kinds["signal"] and kinds["alert"], kinds  # both kinds were exercised


def test_a_milestone_alert_reaches_the_buurtteam_within_a_second_in_dutch(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path)
    worker = worker_for(settings, DAY)
    follower = TopicFollower(settings, f"deliver.{BUURTTEAM}")
    publisher = RawPublisher(settings)
    households = {
        "informeren": Household("71000001", "H7100001", name="Fatima Yilmaz", phone="0611112222"),
        "warme_overdracht": Household(
            "71000002", "H7100002", name="Johan Bakker", phone="0633334444", number=14
        ),
    }
    try:
        with WorkerThread(worker) as running:
            running.wait_assigned()
            for n, (purpose, home) in enumerate(households.items()):
                registration = f"HB-RT-{n}"
                consent = consent_given(
                    home, f"TST-RT-{n}", BUURTTEAM, purpose, ["eenzaamheid"], DAY, registration
                )
                refs = [(BUURTTEAM, purpose, ["eenzaamheid"])]
                visit = signal(home, registration, 0, "eenzaamheid", DAY - timedelta(5), refs)
                publisher.publish(consent, visit)
                follower.wait_for_event(visit.id)  # the consent is known, the contact too
            for purpose, home in households.items():
                event = milestone(home, "renovatie_gestart", DAY + timedelta(days=3))
                started = publisher.publish(event)
                record = follower.wait_for_event(event.id, timeout_s=5)
                latency = time.monotonic() - started
                assert latency < 1.0, f"{purpose}: alert after {latency:.3f} s"
                alert = record.envelope
                data = alert["data"]
                assert (alert["kind"], alert["purpose"]) == ("alert", purpose)
                assert data["language"] == "nl"
                assert data["title"].startswith("Renovatie start")
                assert "gepland op 13 maart 2026" in data["body"]
                assert "Wat er gebeurt:" in data["body"] and "Toestemming voor:" in data["body"]
                assert "Vrije tekst" not in record.raw.decode(), "no free text"
                text = record.raw.decode()
                if purpose == "warme_overdracht":
                    assert data["contact"] == {"name": home.name, "phone": home.phone}
                    assert f"Contact: {home.name}, {home.phone}" in data["body"]
                    assert "Theemsdreef 14" in data["title"], "the address, for the visit"
                else:
                    assert data["contact"] is None
                    assert home.name not in text and home.phone not in text
                    assert home.street not in text, "the address is generalised to the complex"
                    assert "geen warme overdracht" in data["body"]
    finally:
        follower.close()
        publisher.close()


def test_no_consent_no_alert_and_a_consent_given_later_releases_it(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path)
    worker = worker_for(settings, DAY)
    follower = TopicFollower(settings, f"deliver.{BUURTTEAM}")
    publisher = RawPublisher(settings)
    ledger = Ledger(settings.ledger())
    unconsented_unit, marker_unit = units_on_one_partition(2)  # one partition: kept in order
    unconsented = Household(unconsented_unit, "H7200001", name="Karin Smit")
    marker = Household(marker_unit, "H7200002")
    expired = consent_given(
        unconsented, "TST-NC-1", BUURTTEAM, "doorverwijzing", ["schulden"], DAY,
        valid_from=DAY - timedelta(days=200), valid_until=DAY - timedelta(days=1),
    )  # fmt: skip
    other_partner = consent_given(
        unconsented, "TST-NC-2", "bewonersverbinders", "doorverwijzing", ["eenzaamheid"], DAY
    )
    marker_consent = consent_given(marker, "TST-NC-3", BUURTTEAM, "informeren", ["taal"], DAY)
    quiet = milestone(unconsented, "renovatie_gestart", DAY + timedelta(days=3))
    passed = milestone(marker, "renovatie_gestart", DAY + timedelta(days=3))
    try:
        with WorkerThread(worker) as running:
            running.wait_assigned()
            publisher.publish(expired, other_partner, marker_consent)
            wait_until(
                lambda: all(
                    worker.pipeline.consents.get(c) for c in ("TST-NC-1", "TST-NC-2", "TST-NC-3")
                ),
                10,
                "the worker to know the consents",
            )
            publisher.publish(quiet, passed)
            follower.wait_for_event(passed.id)  # the worker is past the unconsented milestone
            assert quiet.id not in {r.event_id for r in delivered(settings, BUURTTEAM)}
            rows = ledger.rows(deliveries.c.event_id == quiet.id)
            assert {(r["partner"], r["channel"]) for r in rows} == {
                ("bewonersverbinders", "webhook")
            }, "only the partner the household consented to (its webhook waits: no address)"

            # The registry records a buurtteam consent later: the upcoming milestone goes out.
            publisher.publish(
                consent_given(unconsented, "TST-NC-4", BUURTTEAM, "informeren", ["taal"], DAY)
            )
            alert = follower.wait_for_event(quiet.id).envelope
            assert (alert["kind"], alert["consent_id"]) == ("alert", "TST-NC-4")
    finally:
        follower.close()
        publisher.close()


def test_a_withdrawal_retracts_exactly_what_was_received_and_stops_delivery(
    settings: Settings, tmp_path: Path
) -> None:
    secret = KeyStore(tmp_path / "keys").current(BUURTTEAM, "webhook").secret
    server = PartnerWebhookServer(secret).start()
    settings = isolated(settings, tmp_path, webhook_urls={BUURTTEAM: server.url})
    worker = worker_for(settings, DAY)
    buurtteam = TopicFollower(settings, f"deliver.{BUURTTEAM}")
    dock = TopicFollower(settings, "deliver.dock")
    publisher = RawPublisher(settings)
    unit, marker_unit = units_on_one_partition(2)
    home, marker = Household(unit, "H7300001"), Household(marker_unit, "H7300002")
    withdrawn = consent_given(
        home, "TST-W-1", BUURTTEAM, "doorverwijzing", ["schulden"], DAY, "HB-W"
    )
    kept = consent_given(home, "TST-W-2", "dock", "doorverwijzing", ["eenzaamheid"], DAY, "HB-W")
    marker_consent = consent_given(marker, "TST-W-3", BUURTTEAM, "informeren", ["taal"], DAY)
    to_buurtteam = (BUURTTEAM, "doorverwijzing", ["schulden"])
    to_dock = ("dock", "doorverwijzing", ["eenzaamheid"])
    visit_day = DAY - timedelta(days=20)
    debts = signal(home, "HB-W", 0, "schulden", visit_day, [to_buurtteam])
    lonely = signal(home, "HB-W", 1, "eenzaamheid", visit_day, [to_dock])
    moving = milestone(home, "verhuisd_logeerwoning", DAY + timedelta(days=2))
    ledger = Ledger(settings.ledger())
    try:
        with WorkerThread(worker) as running:
            running.wait_assigned()
            publisher.publish(withdrawn, kept, marker_consent)
            wait_until(lambda: worker.pipeline.consents.get("TST-W-3"), 10, "the consents")
            publisher.publish(debts, lonely, moving)
            buurtteam.wait_for_event(debts.id)
            buurtteam.wait_for_event(moving.id)
            dock.wait_for_event(lonely.id)
            server.wait_for(2, timeout_s=10)
            received = {debts.id, moving.id}
            wait_until(
                lambda: (
                    {
                        (r["event_id"], r["channel"])
                        for r in ledger.rows(
                            deliveries.c.consent_id == "TST-W-1", deliveries.c.status == "delivered"
                        )
                    }
                    == {(e, c) for e in received for c in ("kafka", "webhook")}
                ),
                10,
                "both channels to have delivered under the consent",
            )

            withdrawal = consent_withdrawn(withdrawn, DAY)
            publisher.publish(withdrawal)
            notice = buurtteam.wait_for_event(withdrawal.id).envelope
            hooks = server.wait_for(3, timeout_s=10)

            # After the withdrawal: a late signal of the same visit, a new milestone; then a
            # marker on the same partition of each raw topic, to know the worker is past them.
            late = signal(home, "HB-W", 2, "schulden", visit_day, [to_buurtteam])
            late_marker = signal(home, "HB-W", 3, "eenzaamheid", visit_day, [to_dock])
            back = milestone(home, "terug_in_woning", DAY + timedelta(days=9))
            back_marker = milestone(marker, "renovatie_gestart", DAY + timedelta(days=4))
            publisher.publish(late, late_marker, back, back_marker)
            dock.wait_for_event(late_marker.id)
            buurtteam.wait_for_event(back_marker.id)
            hooks = server.wait_for(4, timeout_s=10)
    finally:
        for closing in (buurtteam, dock, publisher):
            closing.close()
        server.stop()

    assert back_marker.id in {h["event_id"] for h in hooks}
    assert notice["kind"] == "retraction" and notice["consent_id"] == "TST-W-1"
    assert notice["delete_event_ids"] == sorted(received)
    [by_webhook] = [h["body"] for h in hooks if h["body"]["kind"] == "retraction"]
    assert by_webhook["delete_event_ids"] == sorted(received)
    assert by_webhook["event_id"] == withdrawal.id
    retractions = ledger.rows(deliveries.c.kind == "retraction")
    assert sorted((r["partner"], r["channel"], r["event_id"]) for r in retractions) == [
        (BUURTTEAM, "kafka", withdrawal.id),
        (BUURTTEAM, "webhook", withdrawal.id),
    ], "one notice per partner and channel that received data under the consent, no more"
    assert [r.event_id for r in delivered(settings, BUURTTEAM)].count(withdrawal.id) == 1
    assert not [r for r in delivered(settings, "dock") if r.envelope["kind"] == "retraction"]
    marked = ledger.rows(deliveries.c.consent_id == "TST-W-1", deliveries.c.kind != "retraction")
    assert {r["retracted_by"] for r in marked} == {withdrawal.id}

    after = {late.id, back.id}
    assert not after & {r.event_id for r in delivered(settings, BUURTTEAM)}
    assert not after & {h["event_id"] for h in hooks}
    assert not ledger.rows(deliveries.c.event_id.in_(after), deliveries.c.partner == BUURTTEAM)
    assert ledger.held_count() == 0, "refused, not held: the registry knows the consent ended"


def test_a_bad_record_is_quarantined_and_the_stream_goes_on(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path)
    worker = worker_for(settings, DAY)
    buurtteam = TopicFollower(settings, f"deliver.{BUURTTEAM}")
    quarantine = TopicFollower(settings, "quarantine")
    publisher = RawPublisher(settings)
    home = Household("74000001", "H7400001")
    consent = consent_given(home, "TST-Q-1", BUURTTEAM, "informeren", ["taal"], DAY, "HB-Q")
    valid = signal(home, "HB-Q", 0, "taal", DAY, [(BUURTTEAM, "informeren", ["taal"])])
    broken = Event(
        name="signal.consented",
        source=valid.source,
        id="schema-broken-1",
        key=home.unit,
        data={"registration_id": "HB-Q", "category": "geen-categorie"},
    ).to_kafka()
    try:
        with WorkerThread(worker) as running:
            running.wait_assigned()
            publisher.publish(consent)
            # Garbage value and headers, then a CloudEvent whose data breaks the schema, then a
            # valid signal: all three keyed by the unit, so they are read in this order.
            garbage = [("ce_id", b"\xff\xfe"), ("ce_type", b"\x00"), ("x-junk", b"\x80")]
            publisher.publish_raw("raw.signal", home.unit.encode(), b"\x00\xffgeen json{", garbage)
            publisher.publish_raw(
                "raw.signal", home.unit.encode(), broken.value, list(broken.headers.items())
            )
            publisher.publish(valid)
            buurtteam.wait_for_event(valid.id)
            held = quarantine.wait(lambda r: len(r) >= 2 and r, 10, "two quarantine records")
            assert worker.stats.quarantined == 2
    finally:
        for follower in (buurtteam, quarantine):
            follower.close()
        publisher.close()
    records = sorted((r.envelope for r in held), key=lambda d: d["line"])
    raw_topic = settings.topic_prefix + "raw.signal"
    assert [(d["connector"], d["source_file"]) for d in records] == [("stream", raw_topic)] * 2
    assert [[r["code"] for r in d["reasons"]] for d in records] == [
        ["event.invalid"],
        ["schema.invalid"],
    ]
    assert records[0]["line"] < records[1]["line"], "line = the record's offset + 1"
    assert "geen-categorie" in records[1]["raw"], "the steward gets the raw record"


def test_an_event_on_the_wrong_raw_topic_is_quarantined_not_dropped(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path)
    worker = worker_for(settings, DAY)
    buurtteam = TopicFollower(settings, f"deliver.{BUURTTEAM}")
    publisher = RawPublisher(settings)
    home = Household("74000002", "H7400002")
    consent = consent_given(home, "TST-Q-2", BUURTTEAM, "informeren", ["taal"], DAY, "HB-Q2")
    valid = signal(home, "HB-Q2", 0, "taal", DAY, [(BUURTTEAM, "informeren", ["taal"])])
    misrouted = consent.to_kafka()  # a consent event, published on raw.signal by mistake
    try:
        with WorkerThread(worker) as running:
            running.wait_assigned()
            publisher.publish(consent)
            publisher.publish_raw(
                "raw.signal", home.unit.encode(), misrouted.value, list(misrouted.headers.items())
            )
            publisher.publish(valid)
            buurtteam.wait_for_event(valid.id)  # the worker is past the misrouted record
            quarantined = worker.stats.quarantined
    finally:
        buurtteam.close()
        publisher.close()
    assert quarantined == 1, "a record the topic does not carry is held back for a steward"


def test_two_workers_in_one_group_share_the_partitions_and_deliver_everything_once(
    settings: Settings, small: Renovation, tmp_path: Path
) -> None:
    shared = small.copy_to(isolated(settings, tmp_path))
    expected = {p: sorted(ids) for p, ids in small.reference(AS_OF).items()}
    assert all(expected.values())

    followers = {p: TopicFollower(shared, f"deliver.{p}") for p in KAFKA_PARTNERS}
    workers = [worker_for(shared, AS_OF) for _ in range(2)]  # one ledger, one key store
    running = [WorkerThread(w) for w in workers]
    try:
        for thread in running:
            thread.start()
        wait_until(lambda: all(t.owned() for t in running), 30, "both workers to own partitions")
        for partner, follower in followers.items():
            count = len(expected[partner])
            follower.wait(lambda r, n=count: len(r) >= n, 30, f"{count} deliveries")
        ledger = Ledger(shared.ledger())
        wait_until(
            lambda: (
                not ledger.rows(deliveries.c.channel == "kafka", deliveries.c.status != "delivered")
            ),
            10,
            "the ledger to show every kafka delivery delivered",
        )

        def shared_out() -> bool:  # a rebalance may be under way: wait until it settles
            owned[:] = [t.owned() for t in running]
            return bool(owned[0] and owned[1]) and owned[0] | owned[1] == set(range(6))

        owned: list[set[int]] = []
        wait_until(shared_out, 60, "the partitions shared out between both workers")
    finally:
        for thread in running:
            thread.stop()
        for follower in followers.values():
            follower.close()
    assert owned[0] and owned[1] and not owned[0] & owned[1], owned
    assert owned[0] | owned[1] == set(range(6)), "between them, every partition"
    for partner in KAFKA_PARTNERS:
        ids = [r.event_id for r in delivered(shared, partner)]
        assert sorted(ids) == expected[partner], f"{partner}: every expected event exactly once"
    sent = sum(n for w in workers for (_, channel), n in w.stats.delivered.items())
    assert sent == sum(len(v) for v in expected.values()), "each sent by one worker, once"


def test_partitions_revoked_before_they_were_taken_over_are_not_owned(
    settings: Settings, tmp_path: Path
) -> None:
    """Two rebalances inside one poll: assigned, revoked, then others assigned."""
    worker = worker_for(isolated(settings, tmp_path), DAY)
    try:
        worker._assigned({0, 1, 2})
        worker._revoked({0, 1, 2})  # kafka-python revokes all before each rejoin
        worker._assigned({3, 4, 5})
        worker._take_over()  # as step() does after the poll
        assert worker.owned() == {3, 4, 5}
    finally:
        worker.close()


def test_a_consent_after_a_handover_releases_the_alert_of_a_milestone_seen_before_it(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path)
    first, second = worker_for(settings, DAY), worker_for(settings, DAY)  # one group, one ledger
    follower = TopicFollower(settings, f"deliver.{BUURTTEAM}")
    publisher = RawPublisher(settings)
    leaving, staying = WorkerThread(first).start(), WorkerThread(second).start()
    try:
        wait_until(lambda: leaving.owned() and staying.owned(), 30, "both workers to own some")
        unit, marker_unit = units_on_one_partition(2, partition=min(leaving.owned()))
        home, marker = Household(unit, "H7600001"), Household(marker_unit, "H7600002")
        publisher.publish(consent_given(marker, "TST-H-1", BUURTTEAM, "informeren", ["taal"], DAY))
        wait_until(lambda: second.pipeline.consents.get("TST-H-1"), 10, "the marker's consent")
        seen = milestone(home, "renovatie_gestart", DAY + timedelta(days=3))
        passed = milestone(marker, "renovatie_gestart", DAY + timedelta(days=3))
        publisher.publish(seen, passed)  # no consent yet: refused, remembered by its owner
        follower.wait_for_event(passed.id)

        leaving.stop()  # a rolling restart: the other worker takes the partition over
        wait_until(lambda: staying.owned() == set(range(6)), 30, "the handover")
        publisher.publish(consent_given(home, "TST-H-2", BUURTTEAM, "informeren", ["taal"], DAY))
        wait_until(lambda: second.pipeline.consents.get("TST-H-2"), 10, "the late consent")
        later = milestone(marker, "terug_in_woning", DAY + timedelta(days=5))
        publisher.publish(later)
        follower.wait_for_event(later.id)  # a full step after the consent was acted on
    finally:
        staying.stop()
        follower.close()
        publisher.close()
    assert seen.id in {r.event_id for r in delivered(settings, BUURTTEAM)}, (
        "the consent makes the household's upcoming milestone deliverable (as with one worker)"
    )


def test_sigterm_drains_what_was_committed_and_a_restart_delivers_the_rest_once(
    settings: Settings, whole: Renovation, tmp_path: Path
) -> None:
    settings = whole.copy_to(isolated(settings, tmp_path))
    expected = whole.reference(None)  # a clean run, on the real clock as the CLI's

    follower = TopicFollower(settings, f"deliver.{BUURTTEAM}")
    env = stream_env(settings)
    stream = subprocess.Popen(
        stream_command(), env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        follower.wait(
            lambda r: stream.poll() is not None or any(d.envelope["kind"] == "signal" for d in r),
            60,
            "a first signal: the worker consumes the raw topics (and committed that batch)",
        )
        assert stream.poll() is None, stream.communicate()
        stream.send_signal(signals.SIGTERM)
        out, err = stream.communicate(timeout=30)
    finally:
        if stream.poll() is None:
            stream.kill()
        follower.close()
    assert stream.returncode == 0, err.decode()
    assert b"stream:" in out

    ledger = Ledger(settings.ledger())
    events = raw_events(settings)
    committed = committed_offsets(settings, settings.stream_group)
    consumed = {
        ident
        for ident, e in events.items()
        if e["offset"] < committed[(e["topic"], e["partition"])]
    }
    assert consumed, "the group committed what it processed"
    for partner in KAFKA_PARTNERS:
        ids = [r.event_id for r in delivered(settings, partner)]
        assert len(ids) == len(set(ids))
        assert expected[partner] & consumed <= set(ids), "consumed and committed -> delivered"
        rows = ledger.rows(deliveries.c.partner == partner, deliveries.c.channel == "kafka")
        assert {r["status"] for r in rows} <= {"delivered"}, "nothing left queued by the drain"
        assert sorted(r["event_id"] for r in rows) == sorted(ids)

    # While it is down, one more signal of a household with a valid buurtteam consent.
    consent = next(
        c
        for c in registry_consents(whole.directory / "consents.csv").values()
        if c.partner == BUURTTEAM and c.valid_on(whole.day) and c.registration
    )
    complex_ = next(
        e["data"]["complex"] for e in events.values() if e["data"]["unit_id"] == consent.unit
    )
    home = Household(consent.unit, consent.tenant, complex=complex_)
    category = min(consent.categories)
    late = signal(
        home, consent.registration, 99, category, whole.day - timedelta(days=1),
        [(BUURTTEAM, consent.purpose, consent.categories)],
    )  # fmt: skip
    publisher = RawPublisher(settings)
    publisher.publish(late)
    publisher.close()
    expected[BUURTTEAM].add(late.id)

    again = subprocess.run(
        stream_command("--until-idle", "2"), env=env, cwd=REPO, capture_output=True, timeout=120
    )
    assert again.returncode == 0, again.stderr.decode()
    for partner in KAFKA_PARTNERS:
        ids = [r.event_id for r in delivered(settings, partner)]
        assert len(ids) == len(set(ids)), f"{partner}: no duplicates after the restart"
        assert set(ids) == expected[partner], f"{partner}: nothing missing after the restart"
        rows = ledger.rows(deliveries.c.partner == partner, deliveries.c.channel == "kafka")
        assert {r["status"] for r in rows} == {"delivered"}
        assert sorted(r["event_id"] for r in rows) == sorted(ids)


def test_a_worker_gets_its_partitions_even_when_its_first_polls_are_short(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path)
    for start in range(3):  # the race is lost about 9 times in 10 here: three starts, to be sure
        worker = StreamWorker(  # as the CLI makes it
            settings, clock=noon(DAY), group_id=f"{settings.stream_group}-{start}"
        )
        try:
            deadline = time.monotonic() + 2
            while not worker.owned() and time.monotonic() < deadline:
                worker.step(timeout_ms=1)
            assert worker.owned(), f"start {start + 1}: no partition after 2 s"
        finally:
            worker.close()
