"""The stream worker's /metrics and /healthz against the real broker, the ledger as the truth."""

from __future__ import annotations

import http.client
import json
import os
import signal as signals
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.stream import (
    RAW_PARTITIONS,
    SMALL_AS_OF,
    Renovation,
    WorkerThread,
    copy_sources,
    isolated,
    raw_events,
    renovation,
    stream_command,
    stream_env,
    wait_until,
    worker_for,
)
from tests.support.webhook_server import WEBHOOK_PARTNERS, PartnerWebhookServer, partner_servers
from wijkbrug import stream
from wijkbrug.ledger import Ledger
from wijkbrug.metrics import LATENCY_BUCKETS
from wijkbrug.settings import Settings
from wijkbrug.writer import WriterFailed

pytestmark = pytest.mark.kafka

AS_OF = SMALL_AS_OF
#: A partner that only takes webhooks: down at first, so it has a backlog and retries.
DOWN = "bewonersverbinders"
LAG = "wijkbrug_stream_consumer_lag"
LATENCY = "wijkbrug_stream_record_to_ledger_seconds"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def small(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Renovation:
    """A small synthetic renovation (about 40 homes) exported on AS_OF, published once."""
    base = Settings(kafka_bootstrap=kafka_bootstrap, kafka_request_timeout_ms=15_000)
    return renovation(base, tmp_path_factory.getbasetemp(), small=True)


@pytest.fixture
def partners(tmp_path: Path) -> Iterator[dict[str, PartnerWebhookServer]]:
    with partner_servers(tmp_path / "keys") as servers:
        yield servers


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    status, body = get(port, "/healthz")
    return status, json.loads(body)


def scrape(port: int) -> Samples:
    status, body = get(port, "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def per_label(samples: Samples, name: str) -> dict[tuple[str, ...], float]:
    """The samples of ``name`` by their label values (in label-name order), zeros left out."""
    return {
        tuple(value for _, value in labels): v
        for (n, labels), v in samples.items()
        if n == name and v
    }


def test_a_running_workers_metrics_equal_its_ledger_and_its_health_follows_its_writer(
    settings: Settings, small: Renovation, tmp_path: Path, partners: dict[str, PartnerWebhookServer]
) -> None:
    partners[DOWN].set_down(True)
    urls = {p: server.url for p, server in partners.items()}
    published_from = time.time()
    settings = small.copy_to(isolated(settings, tmp_path, webhook_urls=urls, metrics_port=0))
    raw = len(raw_events(settings))
    ledger = Ledger(settings.ledger())
    worker = worker_for(settings, AS_OF)  # the writer in a child process, as `wijkbrug stream`
    running = WorkerThread(worker).start()
    try:
        port = wait_until(lambda: worker.metrics_port, 30, "the metrics server (run() starts it)")
        running.wait_assigned()
        status, health = wait_until(
            lambda: (answer := healthz(port))[0] == 200 and answer, 30, "healthz 200"
        )
        assert health["writer_alive"] is True and health["partitions"] == RAW_PARTITIONS

        # A partner that is down: its backlog is what the ledger holds for it, its sender retries.
        def partner_down_seen() -> bool:
            found = scrape(port)
            retried = found[("wijkbrug_stream_webhook_retries_total", (("partner", DOWN),))]
            backlog = found[("wijkbrug_stream_webhook_backlog", (("partner", DOWN),))]
            waiting = [
                r
                for r in ledger.rows()
                if (r["partner"], r["channel"]) == (DOWN, "webhook")
                and r["status"] in ("queued", "sending")
            ]
            return found.get((LAG, ())) == 0 and retried >= 2 and 0 < backlog == len(waiting)

        wait_until(partner_down_seen, 30, f"{DOWN}'s retries and backlog", every_s=0.2)
        partners[DOWN].set_down(False)

        def ledger_settled() -> bool:
            rows = ledger.rows()
            return bool(rows) and not any(r["status"] in ("queued", "sending") for r in rows)

        wait_until(ledger_settled, 60, "every delivery sent", every_s=0.2)
        in_ledger = Counter(
            (r["partner"], r["channel"]) for r in ledger.rows() if r["status"] == "delivered"
        )
        assert {channel for _, channel in in_ledger} == {"kafka", "webhook"}
        seen: list[Samples] = []

        def counted() -> bool:
            seen[:] = [scrape(port)]
            delivered = per_label(seen[0], "wijkbrug_stream_delivered_total")
            by_channel = {(p, c): n for (c, p), n in delivered.items()}
            backlog = per_label(seen[0], "wijkbrug_stream_webhook_backlog")
            return by_channel == in_ledger and seen[0].get((LAG, ())) == 0 and not backlog

        try:
            wait_until(counted, 15, "delivered as in the ledger, no lag, no backlog", every_s=0.2)
        except AssertionError:
            delivered = per_label(seen[0], "wijkbrug_stream_delivered_total")
            assert {(p, c): n for (c, p), n in delivered.items()} == in_ledger
            raise
        found = seen[0]
        elapsed = time.time() - published_from
        assert found[("wijkbrug_stream_events_in_total", ())] == raw
        assert found[("wijkbrug_stream_quarantined_total", ())] == 0
        assert found[("wijkbrug_stream_assigned_partitions", ())] == RAW_PARTITIONS
        assert all(
            found[("wijkbrug_stream_webhook_backlog", (("partner", p),))] == 0
            for p in WEBHOOK_PARTNERS
        ), "every webhook partner has a backlog series, now at 0"
        for partner, server in partners.items():  # each failed round is one refused POST
            retries = found[("wijkbrug_stream_webhook_retries_total", (("partner", partner),))]
            assert retries == server.refused, partner
        assert partners[DOWN].refused >= 2

        # One observation per record read, each at most as old as the test's copy of it.
        assert found[(LATENCY + "_count", ())] == raw
        assert found[(LATENCY + "_bucket", (("le", "+Inf"),))] == raw
        assert 0 < found[(LATENCY + "_sum", ())] <= raw * elapsed
        bound = min((b for b in LATENCY_BUCKETS if b >= elapsed), default=None)
        if bound is not None:
            assert found[(LATENCY + "_bucket", (("le", repr(bound)),))] == raw
        buckets = [found[(LATENCY + "_bucket", (("le", repr(b)),))] for b in LATENCY_BUCKETS]
        assert buckets == sorted(buckets), "cumulative"

        status, health = healthz(port)
        assert status == 200 and health["consumer_lag"] == 0

        # The ledger writer dies: unhealthy until the worker stops, then nobody answers.
        os.kill(worker.writer.pid, signals.SIGKILL)

        def not_healthy() -> str | None:
            try:
                status, health = healthz(port)
            except (ConnectionRefusedError, ConnectionResetError, http.client.HTTPException):
                return "unreachable"
            if status == 503:
                assert health["writer_alive"] is False, health
                return "503"
            return None

        wait_until(not_healthy, 15, "healthz to fail after the writer was killed")
        with pytest.raises(AssertionError, match="worker thread failed") as failed:
            running.stop()
        assert isinstance(failed.value.__cause__, WriterFailed)
        with pytest.raises(ConnectionRefusedError):
            healthz(port)  # the server stopped with the worker
    finally:
        worker.stop.set()  # if the test failed before the writer was killed
        ledger.close()


def test_health_needs_recent_steps_and_a_live_writer_and_the_lag_is_the_brokers(
    settings: Settings, small: Renovation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = small.copy_to(isolated(settings, tmp_path))
    raw = len(raw_events(settings))
    worker = worker_for(settings, AS_OF)  # stepped here, writer process
    try:
        port = worker.serve_metrics(0, host="127.0.0.1")
        status, health = healthz(port)
        assert (status, health["last_step_s"]) == (503, None), "no step yet"

        def stepped_to_idle() -> bool:
            worker.step()
            return worker.idle()  # asks the broker for the lag, too

        wait_until(stepped_to_idle, 60, "the worker to deliver everything", every_s=0)
        assert healthz(port)[0] == 200
        assert scrape(port)[(LAG, ())] == 0

        # The raw records once more: the broker's end moves, the worker has not read them.
        copy_sources(small.source, settings, names=("raw.renovation.milestone", "raw.signal"))
        assert worker.lag() == raw
        assert scrape(port)[(LAG, ())] == raw

        def lag_zero_again() -> bool:
            worker.step()  # refreshes the gauge itself every LAG_EVERY_S
            return scrape(port)[(LAG, ())] == 0

        wait_until(lag_zero_again, 60, "the lag gauge back at 0", every_s=0)

        monkeypatch.setattr(stream, "HEALTHY_STEP_S", 1.0)
        status, health = wait_until(
            lambda: (answer := healthz(port))[0] == 503 and answer, 10, "503 without steps"
        )
        assert health["last_step_s"] > 1.0 and health["writer_alive"] is True
        worker.step()
        assert healthz(port)[0] == 200, "a step makes it healthy again"

        monkeypatch.setattr(stream, "HEALTHY_STEP_S", 30.0)
        os.kill(worker.writer.pid, signals.SIGKILL)
        status, health = wait_until(
            lambda: (answer := healthz(port))[0] == 503 and answer, 10, "503 without a writer"
        )
        assert health["writer_alive"] is False and health["last_step_s"] < 30
    finally:
        worker.close()


def test_the_stream_command_serves_metrics_on_the_port_it_is_given_and_logs_json(
    settings: Settings, small: Renovation, tmp_path: Path
) -> None:
    settings = small.copy_to(isolated(settings, tmp_path))
    raw = len(raw_events(settings))
    env = stream_env(settings)
    env.pop("WIJKBRUG_LOG_FORMAT", None)  # the default
    env["WIJKBRUG_METRICS_PORT"] = "1"  # overridden by --metrics-port (port 1 would fail)
    command = stream_command("--metrics-port", "0")
    command.insert(command.index("stream"), "-v")
    child = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:

        def port_logged() -> int | None:
            for line in list(lines):
                doc = json.loads(line)
                if doc["message"].startswith("metrics on port "):
                    return int(doc["message"].split()[3].rstrip(":"))
            return None

        port = wait_until(port_logged, 60, "the worker to log its metrics port", every_s=0.05)
        wait_until(lambda: healthz(port)[0] == 200, 60, "a first step completed", every_s=0.1)
        wait_until(
            lambda: scrape(port).get(("wijkbrug_stream_events_in_total", ())) == raw,
            60,
            "every raw event counted",
            every_s=0.2,
        )
    finally:
        child.send_signal(signals.SIGTERM)
        child.wait(60)
        reader.join(10)
        out = child.stdout.read()  # type: ignore[union-attr]
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    assert child.returncode == 0, lines[-5:]
    assert out.startswith("stream: ")
    docs = [json.loads(line) for line in lines]  # every line of stderr is one JSON object
    assert docs and all({"time", "level", "logger", "message"} <= doc.keys() for doc in docs)
    assert any(d["logger"] == "wijkbrug" and d["message"].startswith("signal 15") for d in docs)
