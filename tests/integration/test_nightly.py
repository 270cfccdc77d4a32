"""The nightly partner sync against the real broker: Parquet drops that match the ledger, once."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from tests.support.stream import RawPublisher, Renovation, consent_withdrawn, isolated, renovation
from wijkbrug import kafka_client
from wijkbrug.events import Event, decode, event_id
from wijkbrug.keys import KeyStore
from wijkbrug.ledger import DELIVERED, Ledger, deliveries
from wijkbrug.nightly import run_night
from wijkbrug.nightly.reading import read_events
from wijkbrug.nightly.sync import SOURCE as NIGHTLY_SOURCE
from wijkbrug.nightly.sync import events_passed
from wijkbrug.partner_contract import load_contracts
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics

pytestmark = pytest.mark.kafka

FILE_PARTNERS = sorted(
    c.partner for c in load_contracts().values() if "file" in c.channels and c.person_level
)


@pytest.fixture(scope="module")
def whole(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Renovation:
    base = Settings(kafka_bootstrap=kafka_bootstrap, kafka_request_timeout_ms=15_000)
    return renovation(base, tmp_path_factory.getbasetemp(), small=False)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def night_of(whole: Renovation, settings: Settings, tmp_path: Path) -> tuple[Settings, tuple]:
    """The renovation copied onto this test's topics inside one interval of its own."""
    start = _now() - timedelta(seconds=1)
    test = isolated(settings, tmp_path / "state")
    whole.copy_to(test)
    return test, (start, _now() + timedelta(seconds=1))


def file_bytes(result) -> dict[str, bytes]:
    return {p: d.parquet.read_bytes() for p, d in result.drops.items()}


def test_a_night_gives_every_partner_its_file_matching_the_ledger_and_a_rerun_is_identical(
    whole: Renovation, settings: Settings, tmp_path: Path
) -> None:
    test, (start, end) = night_of(whole, settings, tmp_path)
    first = run_night(test, start, end, run_id="nacht-1")
    assert sorted(first.drops) == FILE_PARTNERS
    assert first.new_deliveries == first.delivered > 0
    assert first.quarantined == 0, first.reasons

    ledger = Ledger(test.ledger())
    try:
        rows = ledger.rows(deliveries.c.channel == "file")
    finally:
        ledger.close()
    assert {r["status"] for r in rows} == {DELIVERED}
    for partner, dropped in first.drops.items():
        manifest = json.loads(dropped.manifest.read_text())
        assert manifest["sha256"] == hashlib.sha256(dropped.parquet.read_bytes()).hexdigest()
        assert manifest["rows"] == dropped.rows == pq.read_metadata(dropped.parquet).num_rows
        assert manifest["data_interval"] == {"start": start.isoformat(), "end": end.isoformat()}
        # An independent reader sees exactly the ledger's deliveries, with their consent ids.
        found = duckdb.execute(
            "SELECT event_id, consent_id, contract_version, key_id FROM read_parquet(?)",
            [str(dropped.parquet)],
        ).fetchall()
        ledgered = {
            (r["event_id"], r["consent_id"], r["contract_version"], r["key_id"])
            for r in rows
            if r["partner"] == partner
        }
        assert set(found) == ledgered and len(found) == len(ledgered)

    # Nothing person-level in the clear: no tenant number of the night appears in any file.
    tenants = {
        e.data["tenant_number"]
        for e in read_events(test, ["signal.consented", "renovation.milestone"], start, end)
        if e.data.get("tenant_number")
    }
    for dropped in first.drops.values():
        values = pq.read_table(dropped.parquet).column("data").to_pylist()
        assert not any(tenant in value for value in values for tenant in tenants)

    # Re-run, after a key rotation too: the same bytes, no new ledger rows.
    KeyStore(test.keys_path()).rotate("dock", "pseudonym")
    again = run_night(test, start, end, run_id="nacht-1-opnieuw")
    assert again.new_deliveries == 0
    assert file_bytes(again) == file_bytes(first)


def test_batch_faults_are_quarantined_left_out_and_a_steward_can_accept_them(
    whole: Renovation,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from wijkbrug.cli import main

    test, (start, _) = night_of(whole, settings, tmp_path)
    events = read_events(test, ["renovation.milestone"], start, None)
    started = next(
        e for e in events if e.data["milestone"] == "renovatie_gestart" and e.data["tenant_number"]
    )
    # The same unit "delivered" a week before it was started: impossible order.
    data = dict(started.data)
    day = datetime.fromisoformat(data["realised_date"] or data["planned_date"]) - timedelta(7)
    data |= {
        "milestone": "renovatie_opgeleverd",
        "status": "gerealiseerd",
        "planned_date": day.date().isoformat(),
        "realised_date": day.date().isoformat(),
    }
    planted = Event(
        name="renovation.milestone",
        source="urn:wijkbrug:connector:planning",
        id="planted-order-fault",
        key=data["unit_id"],
        subject=data["unit_id"],
        data=data,
    )
    publisher = RawPublisher(test)
    publisher.publish(planted)
    publisher.close()
    end = _now() + timedelta(seconds=1)

    result = run_night(test, start, end, run_id="nacht-fout")
    assert result.quarantined >= 1 and sum(result.reasons.values()) >= 1
    for dropped in result.drops.values():
        ids = pq.read_table(dropped.parquet).column("event_id").to_pylist()
        assert "planted-order-fault" not in ids
    quarantine = load_topics()["quarantine"].physical(test.topic_prefix)
    records = [decode(r.headers, r.value)[3] for r in kafka_client.read_topic(test, quarantine)]
    nightly = [d for d in records if d["connector"] == "nightly"]
    assert any(orjson.loads(d["raw"])["milestone"] == "renovatie_opgeleverd" for d in nightly)
    for d in nightly:  # the record fetched again by its offset is the one that failed
        assert hashlib.sha256(d["raw"].encode()).hexdigest() == d["source_sha256"]
    # Run again: the quarantine record is not published twice.
    run_night(test, start, end, run_id="nacht-fout-opnieuw")
    again = [r for r in kafka_client.read_topic(test, quarantine)]
    assert len(again) == len(records)

    # Monitoring leaves out what the night held back.
    passed = {e.id for e in events_passed(test, ["renovation.milestone"], start, None)}
    assert "planted-order-fault" not in passed

    # A steward accepts the planted record as it is: the next re-run lets it through.
    raw = load_topics()["raw.renovation.milestone"].physical(test.topic_prefix)
    (held,) = [
        r
        for r in kafka_client.read_topic(test, raw)
        if ("ce_id", b"planted-order-fault") in r.headers
    ]
    quarantine_id = event_id(NIGHTLY_SOURCE, held.topic, held.partition, held.offset)
    monkeypatch.setenv("WIJKBRUG_KAFKA_BOOTSTRAP", test.kafka_bootstrap)
    monkeypatch.setenv("WIJKBRUG_TOPIC_PREFIX", test.topic_prefix)
    monkeypatch.setenv("WIJKBRUG_STATE_DIR", str(test.state_dir))
    assert main(["quarantine", "list", "--connector", "nightly"]) == 0
    listing = capsys.readouterr().out
    assert quarantine_id[:8] in listing and data["tenant_number"] not in listing
    reason = "opleverdatum klopt volgens de aannemer"
    assert main(["quarantine", "release", quarantine_id, "--reason", reason]) == 0
    accepted = run_night(test, start, end, run_id="nacht-fout-vrijgegeven")
    assert accepted.quarantined == result.quarantined - 1
    passed = {e.id for e in events_passed(test, ["renovation.milestone"], start, None)}
    assert "planted-order-fault" in passed


def test_a_withdrawal_leaves_the_resident_out_of_a_rerun_and_retracts_in_the_next_night(
    whole: Renovation, settings: Settings, tmp_path: Path
) -> None:
    test, (start, end) = night_of(whole, settings, tmp_path)
    first = run_night(test, start, end, run_id="nacht-1", validate=False)
    ledger = Ledger(test.ledger())
    try:
        rows = ledger.rows(deliveries.c.channel == "file", deliveries.c.partner == "dock")
    finally:
        ledger.close()
    consent_id = rows[0]["consent_id"]
    sent_under = {r["event_id"] for r in rows if r["consent_id"] == consent_id}
    given = next(
        e
        for e in read_events(test, ["consent.given"], start, end)
        if e.data["consent_id"] == consent_id
    )
    withdrawal = consent_withdrawn(
        Event(
            name=given.name,
            source="urn:wijkbrug:connector:consents",
            id=given.id,
            key=consent_id,
            data=given.data,
        ),
        datetime.now(UTC).date(),
    )
    second_start = end  # the next night
    assert _now() >= end
    publisher = RawPublisher(test)
    publisher.publish(withdrawal)
    publisher.close()
    second_end = _now() + timedelta(seconds=2)

    rerun = run_night(test, start, end, run_id="nacht-1-opnieuw", validate=False)
    assert rerun.withheld >= len(sent_under) and rerun.new_deliveries == 0
    ids = set(pq.read_table(rerun.drops["dock"].parquet).column("event_id").to_pylist())
    assert not ids & sent_under
    assert first.drops["dock"].rows == rerun.drops["dock"].rows + len(sent_under)

    nxt = run_night(test, second_start, second_end, run_id="nacht-2", validate=False)
    table = pq.read_table(nxt.drops["dock"].parquet).to_pylist()
    (retraction,) = [r for r in table if r["kind"] == "retraction"]
    assert set(json.loads(retraction["data"])["delete_event_ids"]) == sent_under


def test_the_nightly_command_writes_the_drops_and_says_where(
    whole: Renovation,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from wijkbrug.cli import main

    test, (start, end) = night_of(whole, settings, tmp_path)
    monkeypatch.setenv("WIJKBRUG_KAFKA_BOOTSTRAP", test.kafka_bootstrap)
    monkeypatch.setenv("WIJKBRUG_TOPIC_PREFIX", test.topic_prefix)
    monkeypatch.setenv("WIJKBRUG_STATE_DIR", str(test.state_dir))
    args = ["nightly", "--start", start.isoformat(), "--end", end.isoformat(), "--no-validation"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for partner in FILE_PARTNERS:
        (line,) = [x for x in out.splitlines() if x.strip().startswith(partner)]
        path = Path(line.split()[-1])
        assert path.is_file() and path.is_relative_to(test.state_dir / "drops" / partner)
        assert int(line.split()[1]) == pq.read_metadata(path).num_rows
