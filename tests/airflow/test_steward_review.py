"""steward_review: the quarantine watcher loses no record, and a spike asks the stewards."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.airflow.conftest import load_dag, run_summary
from tests.airflow.quarantine import committed, positions, publish_quarantine
from tests.airflow.shared_stream import WatcherHarness
from wijkbrug.settings import Settings
from wijkbrug.steward_review import (
    QuarantineSummary,
    body,
    quarantine_payload,
    record_decision,
    reviews_path,
)

pytestmark = pytest.mark.kafka

PERSONAL = ("Synthetische Bewoner", "06-12345678", "Theemsdreef", "3562AB")


def watcher_trigger() -> Any:
    """The trigger of the DAG's quarantine asset watcher, as the DAG processor registers it."""
    dag = load_dag("steward_review")
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    return watcher.trigger


def lines_of(payloads: list[dict[str, Any]]) -> list[int]:
    return [payload["line"] for payload in payloads]


def test_the_watcher_loses_no_quarantine_record_when_the_triggerer_dies_before_storing(
    wijkbrug_env: Settings, kafka_conn: str
) -> None:
    """N records, a triggerer that stores only some of the events it fired and then dies, a
    restarted triggerer: every record ends up stored at least once.

    Why none is lost, the one commit point: ``KafkaSharedStreamProducer.advance`` calls
    ``consumer.commit(offset + 1, asynchronous=False)`` for a partition only through the
    leading run of records that are *resolved*: the filter moved past the record (or rejected
    it) and every trigger event it yielded for it is confirmed stored. Confirmed stored means:
    ``TriggerRunnerSupervisor.handle_events`` returned from ``Trigger.submit_event`` (the
    asset event committed in the metadata DB), only then queued the event's persist seq, the
    next state sync carried it back (``events_persisted``) and the runner passed it to
    ``SharedStreamManager.confirm_persisted``. Nothing else commits: the connection has
    ``enable.auto.commit`` false (the producer refuses to start otherwise) and closing the
    consumer does not commit. So at any crash every record below the committed offset has its
    event stored, and the restarted consumer of the same group reads every record from there.
    """
    n, stored_first = 30, 12
    publish_quarantine(wijkbrug_env, range(1, n + 1))
    where = positions(wijkbrug_env)
    assert len(where) == n
    by_partition: dict[int, list[int]] = {}
    for line, (partition, _) in sorted(where.items(), key=lambda item: item[1]):
        by_partition.setdefault(partition, []).append(line)
    assert len(by_partition) > 1  # the lanes (partitions) commit independently

    def commit_point(stored: set[int]) -> dict[int, int]:
        """Per partition, the offset after the leading run of stored records."""
        points = {}
        for partition, lines in by_partition.items():
            count = 0
            while count < len(lines) and lines[count] in stored:
                count += 1
            points[partition] = count
        return points

    async def offsets() -> dict[int, int]:
        found = await asyncio.to_thread(committed, wijkbrug_env, kafka_conn)
        return {p: found.get(p, 0) for p in by_partition}

    async def commits_reach(
        harness: WatcherHarness, wanted: dict[int, int], *, store: bool
    ) -> None:
        """Run until the group's commits are ``wanted``; ``store``: store events as they fire
        (the supervisor's sync), else store nothing more."""
        deadline = asyncio.get_running_loop().time() + 60
        while (found := await offsets()) != wanted:
            if store:
                harness.store()
            harness.check()
            assert asyncio.get_running_loop().time() < deadline, (found, wanted)
            await asyncio.sleep(0.05)

    async def scenario() -> tuple[list[int], list[int], list[int], dict[int, int]]:
        trigger = watcher_trigger()
        first, second = WatcherHarness(trigger), WatcherHarness(trigger)
        try:
            first.start()
            await first.wait(lambda: len(first.outbox) == n, 60, "an event for every record")
            assert first.store(limit=stored_first) == stored_first
            expected = commit_point(set(lines_of(first.stored)))
            assert 0 < sum(expected.values()) < n
            # The commit follows the stores: exactly the stored prefix of each partition.
            await commits_reach(first, expected, store=False)
            # Five more are stored and the triggerer dies at once: their commit may or may
            # not have happened; the rest were fired and never stored.
            first.store(limit=5)
            lost = await first.crash()
            assert len(lost) == n - stored_first - 5
            after_crash = await offsets()
            stored_prefix = commit_point(set(lines_of(first.stored)))
            for partition in by_partition:
                assert expected[partition] <= after_crash[partition] <= stored_prefix[partition]

            second.start()  # the restarted triggerer: same trigger, same consumer group
            ends = {p: len(lines) for p, lines in by_partition.items()}
            await commits_reach(second, ends, store=True)
            await second.stop()
        finally:
            for harness in (first, second):
                await harness.crash()
        return (
            lines_of(first.stored),
            [event.payload["line"] for event in lost],
            lines_of(second.stored),
            after_crash,
        )

    first_stored, lost, second_stored, at_crash = asyncio.run(scenario())

    # None lost: every record is stored at least once over both triggerer lives.
    assert set(first_stored) | set(second_stored) == set(range(1, n + 1))
    # Everything fired but not stored came again, and the restart resumed at the commit:
    # it re-read exactly the records at or after each partition's committed offset.
    assert set(lost) <= set(second_stored)
    from_commit = {line for p, lines in by_partition.items() for line in lines[at_crash[p] :]}
    assert set(second_stored) == from_commit
    # At-least-once: stored before the crash but not yet committed means stored twice.
    committed_lines = {line for p, lines in by_partition.items() for line in lines[: at_crash[p]]}
    assert set(first_stored) & set(second_stored) == set(first_stored) - committed_lines


def test_the_watcher_payload_keeps_codes_and_lines_and_drops_the_raw_record() -> None:
    from tests.airflow.quarantine import quarantine_record

    event = quarantine_record(7, "bsn.elfproef")
    payload = quarantine_payload(orjson.dumps(event.data))
    assert payload == {
        "connector": "planning",
        "source_file": "planning.csv",
        "source_sha256": event.data["source_sha256"],
        "line": 7,
        "reasons": ["bsn.elfproef"],
    }
    assert not any(value in orjson.dumps(payload).decode() for value in PERSONAL)
    assert quarantine_payload(b"not json") is None
    assert quarantine_payload(b'{"connector": "planning"}') is None


def test_the_apply_function_must_be_on_the_callback_allowlist() -> None:
    from wijkbrug.kafka_triggers import resolve_apply_function

    assert resolve_apply_function("wijkbrug.steward_review.quarantine_payload") is (
        quarantine_payload
    )
    with pytest.raises(ValueError, match="callback_allowlist"):
        resolve_apply_function("os.system")


def _entries(settings: Settings) -> list[dict[str, Any]]:
    path = reviews_path(settings)
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_a_spike_asks_the_stewards_once_and_records_the_decision(
    airflow_db: None, wijkbrug_env: Settings
) -> None:
    publish_quarantine(wijkbrug_env, range(1, 5))
    dag = load_dag("steward_review")

    # The Human-in-the-loop task is marked success: dag.test() would wait for a human forever.
    run = dag.test(mark_success_pattern="steward_decision", run_conf={"threshold": 3})
    states = run_summary(run)
    assert run.state == "success", states
    assert states == {
        "summarise": "success",
        "spike": "success",
        "steward_decision": "success",
        "record": "success",
    }
    (entry,) = _entries(wijkbrug_env)
    assert (entry["open"], entry["new"], entry["decision"]) == (4, 4, "none")
    assert len(entry["record_ids"]) == 4
    assert entry["by_reason"] == {"vhe.format": 4}

    # One more record is no spike: those four were reviewed, so the run ends at the spike check.
    publish_quarantine(wijkbrug_env, range(5, 6))
    run = dag.test(mark_success_pattern="steward_decision", run_conf={"threshold": 3})
    states = run_summary(run)
    assert run.state == "success", states
    assert states["spike"] == "success"
    assert states["steward_decision"] == states["record"] == "skipped"
    assert len(_entries(wijkbrug_env)) == 1


def test_the_stewards_request_is_dutch_counts_only_and_their_answer_is_recorded(
    tmp_path: Path,
) -> None:
    summary = QuarantineSummary(
        total=9,
        open=7,
        new=5,
        by_connector={"planning": 7},
        by_reason={"bsn.elfproef": 4, "vhe.format": 3},
        oldest="2026-03-02",
        open_ids=[f"id-{i}" for i in range(7)],
    )
    text = body(summary)
    assert "**7 records open**" in text and "**5 nieuw**" in text
    assert "BSN voldoet niet aan de elfproef" in text
    settings = Settings(state_dir=tmp_path)
    response = {
        "chosen_options": ["Oppakken"],
        "params_input": {},
        "responded_by_user": {"id": "7", "name": "steward-a"},
    }
    entry = record_decision(settings, summary, response, run_id="asset_triggered__1")
    assert entry["decision"] == "taken" and entry["responded_by"] == "steward-a"
    assert _entries(settings)[0]["record_ids"] == summary.open_ids


def test_the_human_in_the_loop_form_renders_the_summary_in_dutch() -> None:
    """The form's subject and body come from the summarise task's XCom (templated)."""
    from wijkbrug.steward_review import OPTIONS, subject

    summary = QuarantineSummary(3, 3, 3, {"planning": 3}, {"vhe.format": 3}, None, ["a", "b", "c"])
    review = {"subject": subject(summary), "body": body(summary)}

    class TaskInstance:
        def xcom_pull(self, task_ids: str) -> dict[str, Any]:
            assert task_ids == "summarise"
            return review

    task = load_dag("steward_review").get_task("steward_decision")
    task.render_template_fields({"ti": TaskInstance()})
    assert task.subject == "Quarantaine: 3 nieuwe records wachten op beoordeling"
    assert task.body == review["body"]
    assert task.options == list(OPTIONS) and task.defaults == ["Escaleren"]
