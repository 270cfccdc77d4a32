"""The stream's ledger writer process lives and dies with its worker, and says when it is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stream import isolated, wait_until
from wijkbrug import kafka_client
from wijkbrug import writer as writer_module
from wijkbrug.ledger import Delivery, Ledger
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics
from wijkbrug.writer import ProcessWriter, WriterFailed

pytestmark = pytest.mark.kafka


def _gone(pid: int) -> bool:
    """The process has ended (reaped, or a zombie waiting for its new parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _delivery(event: str, channel: str) -> Delivery:
    return Delivery(
        event_id=event,
        partner="dock",
        channel=channel,
        kind="signal",
        event_type="signal.consented",
        purpose="doorverwijzing",
        consent_id="TST-000001",
        contract_version="2026.11-1",
        key_id="dock-20261129-aaaaaa",
        unit_partition=0,
        subject="s" * 26,
        bsn_subject=None,
        fields=("category",),
        payload=b'{"event_id": "%s"}' % event.encode(),
    )


def test_a_batch_is_written_then_sent_and_the_barrier_waits_for_both(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path)
    ledger = Ledger(settings.ledger())
    kafka_client.ensure_topics(settings, [load_topics()["deliver.dock"]])
    writer = ProcessWriter(settings)
    try:
        first = writer.submit([_delivery("e1", "kafka"), _delivery("e1", "webhook")], [])
        second = writer.submit([_delivery("e2", "kafka")], [])
        writer.wait_written(first)
        assert writer.written() >= first
        writer.barrier()
        assert writer.written() == second
        outcome = writer.take()
        assert (outcome.inserted, dict(outcome.delivered), outcome.unsent) == (
            3,
            {"dock": 2},
            False,
        )
        statuses = {(r["event_id"], r["channel"]): r["status"] for r in ledger.rows()}
        assert statuses == {
            ("e1", "kafka"): "delivered",
            ("e1", "webhook"): "queued",
            ("e2", "kafka"): "delivered",
        }
        # The same batch again (a restart read it again): nothing inserted, nothing sent twice.
        writer.submit([_delivery("e1", "kafka"), _delivery("e1", "webhook")], [])
        writer.barrier()
        assert (writer.take().inserted, len(ledger.rows())) == (0, 3)
    finally:
        writer.close()
        ledger.close()


def test_a_writer_that_dies_stops_its_worker_with_an_error(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path)
    Ledger(settings.ledger()).close()  # the worker creates the tables before its writer starts
    writer = ProcessWriter(settings)
    try:
        os.kill(writer.pid, signal.SIGKILL)
        wait_until(lambda: _gone(writer.pid), 10, "the writer to end")
        with pytest.raises(WriterFailed):
            writer.submit([_delivery("e1", "kafka")], [])
            writer.barrier()
    finally:
        writer.close()


def test_the_writer_dies_with_its_worker_on_kill_9(settings: Settings, tmp_path: Path) -> None:
    settings = isolated(settings, tmp_path)
    Ledger(settings.ledger()).close()
    script = (
        "import sys, time\n"
        "from wijkbrug.settings import Settings\n"
        "from wijkbrug.writer import ProcessWriter\n"
        "writer = ProcessWriter(Settings.model_validate_json(sys.argv[1]))\n"
        "print(writer.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script, settings.model_dump_json()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        child = int(worker.stdout.readline())
        assert not _gone(child)
        worker.kill()
        worker.wait(10)
        wait_until(lambda: _gone(child), 10, "the writer to end with its worker")
    finally:
        if worker.poll() is None:
            worker.kill()


def test_a_failing_writer_logs_one_json_line_in_its_workers_format_without_values(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path)  # log_format json, whatever the environment says
    Ledger(settings.ledger()).close()
    to_child, to_child_w = os.pipe()
    from_child_r, from_child = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "wijkbrug.writer", str(to_child), str(from_child)],
        pass_fds=(to_child, from_child),
        stderr=subprocess.PIPE,
        env=os.environ | {"WIJKBRUG_LOG_FORMAT": "text"},
    )
    os.close(to_child)
    os.close(from_child)
    with os.fdopen(to_child_w, "wb", buffering=0) as out, os.fdopen(from_child_r, "rb") as back:
        writer_module._send(out, ("settings", settings))
        assert writer_module._recv(back) == ("ready",)
        # No event id: the ledger refuses the row, and the database error quotes its values.
        bad = _delivery("e1", "kafka")._replace(event_id=None, purpose="bsn-111222333")
        writer_module._send(out, ("batch", 1, [bad], []))
        assert writer_module._recv(back) == ("error", "IntegrityError")
        assert child.wait(30) == 1
    assert child.stderr is not None
    lines = child.stderr.read().decode().splitlines()
    child.stderr.close()
    assert len(lines) == 1, lines
    line = json.loads(lines[0])
    assert (line["level"], line["logger"]) == ("ERROR", "wijkbrug.writer")
    assert line["message"] == "ledger writer failed: IntegrityError"
    assert line["exc_type"] == "IntegrityError" and line["exc_where"]
    assert "111222333" not in lines[0]
