"""Stream metrics without a broker: what is collected, the latency buckets, the HTTP server."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.stream import Household, signal
from wijkbrug.delivery import Incoming, Planner
from wijkbrug.kafka_client import Record
from wijkbrug.keys import KeyStore
from wijkbrug.ledger import Ledger
from wijkbrug.metrics import BACKLOG_EVERY_S, MetricsServer, StreamMetrics
from wijkbrug.partner_contract import load_contracts
from wijkbrug.pipeline import DeliveryPipeline, KeyAccess, Stats
from wijkbrug.writer import InlineWriter

CHANNELS = {"dock": ["kafka", "webhook"], "bewonersverbinders": ["webhook"]}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(metrics: StreamMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(generate_latest(metrics.registry).decode())


def record(timestamp_ms: int) -> Record:
    return Record("raw.signal", 0, 0, b"k", [], b"{}", timestamp_ms)


def test_counters_are_read_from_the_stats_and_every_partner_series_exists_from_the_start() -> None:
    stats = Stats()
    backlog_calls = []

    def backlog() -> dict[str, int]:
        backlog_calls.append(1)
        return {"bewonersverbinders": 4}

    metrics = StreamMetrics(stats, channels=CHANNELS, backlog=backlog)
    first = scrape(metrics)
    assert first[("wijkbrug_stream_events_in_total", ())] == 0
    assert (
        first[("wijkbrug_stream_delivered_total", (("channel", "kafka"), ("partner", "dock")))] == 0
    )
    assert (
        "wijkbrug_stream_delivered_total",
        (("channel", "webhook"), ("partner", "bewonersverbinders")),
    ) in first
    assert (
        "wijkbrug_stream_delivered_total",
        (("channel", "kafka"), ("partner", "bewonersverbinders")),
    ) not in first
    assert first[("wijkbrug_stream_refused_total", (("partner", "dock"),))] == 0
    assert first[("wijkbrug_stream_webhook_retries_total", (("partner", "dock"),))] == 0
    assert first[("wijkbrug_stream_webhook_backlog", (("partner", "dock"),))] == 0
    assert first[("wijkbrug_stream_webhook_backlog", (("partner", "bewonersverbinders"),))] == 4
    assert not any(name == "wijkbrug_stream_consumer_lag" for name, _ in first), "not asked yet"

    stats.events_in += 10
    stats.quarantined += 2
    stats.delivered[("dock", "kafka")] += 6
    stats.delivered[("stranger", "webhook")] += 1  # a partner the seeds did not know
    stats.refused_by["dock"] += 3
    stats.webhook_retries["bewonersverbinders"] += 5
    metrics.set_lag(42, 0.0)
    second = scrape(metrics)
    assert second[("wijkbrug_stream_events_in_total", ())] == 10
    assert second[("wijkbrug_stream_quarantined_total", ())] == 2
    assert (
        second[("wijkbrug_stream_delivered_total", (("channel", "kafka"), ("partner", "dock")))]
        == 6
    )
    assert (
        second[
            ("wijkbrug_stream_delivered_total", (("channel", "webhook"), ("partner", "stranger")))
        ]
        == 1
    )
    assert second[("wijkbrug_stream_refused_total", (("partner", "dock"),))] == 3
    assert (
        second[("wijkbrug_stream_webhook_retries_total", (("partner", "bewonersverbinders"),))] == 5
    )
    assert second[("wijkbrug_stream_consumer_lag", ())] == 42
    assert len(backlog_calls) == 1, f"counted once per {BACKLOG_EVERY_S} s, however often scraped"


def test_several_workers_in_one_process_have_registries_of_their_own() -> None:
    one, two = StreamMetrics(Stats()), StreamMetrics(Stats())
    one.stats.events_in = 5
    assert scrape(one)[("wijkbrug_stream_events_in_total", ())] == 5
    assert scrape(two)[("wijkbrug_stream_events_in_total", ())] == 0
    assert REGISTRY.get_sample_value("wijkbrug_stream_events_in_total") is None


def test_latency_is_counted_per_record_in_buckets_of_seconds() -> None:
    metrics = StreamMetrics(Stats())
    now_ms = 1_800_000_000_000
    metrics.latency.observe_records(
        [
            [record(now_ms - 30), record(now_ms - 2_000)],
            [record(now_ms - 1_000_000), record(now_ms + 5_000), record(0)],
        ],
        now_ms,
    )
    found = scrape(metrics)
    name = "wijkbrug_stream_record_to_ledger_seconds"

    def bucket(le: str) -> float:
        return found[(name + "_bucket", (("le", le),))]

    assert bucket("0.01") == 1, "a producer clock ahead of ours counts as 0 s"
    assert bucket("0.025") == 1
    assert bucket("0.05") == 2
    assert bucket("1.0") == 2
    assert bucket("2.5") == 3
    assert bucket("300.0") == 3
    assert bucket("+Inf") == 4, "a record without a timestamp is not observed"
    assert found[(name + "_count", ())] == 4
    assert found[(name + "_sum", ())] == pytest.approx(0.03 + 2 + 1000)


def test_refusals_are_counted_per_partner(tmp_path: Path) -> None:
    keys = KeyAccess(KeyStore(tmp_path / "keys", generate=True))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    contracts = load_contracts()
    pipeline = DeliveryPipeline(
        Planner(contracts, keys, lambda unit: 0),
        ledger,
        keys,
        clock=lambda: datetime(2026, 3, 10, 12, tzinfo=UTC),
    )
    try:
        household = Household("70000001", "H7000001")
        for index in range(2):  # a signal without any consent: refused by every partner
            event = signal(household, "BZ-1", index, "schulden", date(2026, 3, 9), [])
            pipeline.plan(Incoming(event.name, event.id, datetime.now(UTC), event.data))
    finally:
        ledger.close()
    expected = {c.partner: 2 for c in contracts.values() if c.rule("signal.consented")}
    assert expected, "some contract takes signals"
    assert dict(pipeline.stats.refused_by) == expected
    assert pipeline.stats.refused == sum(expected.values())


# -- the HTTP server --------------------------------------------------------------------------


class Health:
    def __init__(self) -> None:
        self.report: dict[str, Any] | Exception = {"status": "ok", "checks": 1}

    def __call__(self) -> dict[str, Any]:
        if isinstance(self.report, Exception):
            raise self.report
        return self.report


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, StreamMetrics, Health]]:
    health = Health()
    metrics = StreamMetrics(Stats(), health=health)
    server = MetricsServer(metrics.registry, health, host="127.0.0.1", port=0)
    yield server, metrics, health
    server.close()


def get(port: int, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


def test_metrics_and_health_are_served_on_the_port_taken(
    served: tuple[MetricsServer, StreamMetrics, Health],
) -> None:
    server, metrics, health = served
    assert server.port > 0
    metrics.stats.events_in = 3
    status, content_type, body = get(server.port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    found = samples(body.decode())
    assert found[("wijkbrug_stream_events_in_total", ())] == 3
    assert found[("wijkbrug_stream_healthy", ())] == 1

    status, content_type, body = get(server.port, "/healthz")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"status": "ok", "checks": 1}

    health.report = {"status": "degraded", "writer_alive": False}
    status, _, body = get(server.port, "/healthz")
    assert status == 503 and json.loads(body)["writer_alive"] is False
    assert samples(get(server.port, "/metrics")[2].decode())[("wijkbrug_stream_healthy", ())] == 0

    health.report = RuntimeError("ledger row for bsn 111222333")
    status, _, body = get(server.port, "/healthz")
    assert status == 503
    assert json.loads(body) == {"status": "degraded", "error": "RuntimeError"}
    assert get(server.port, "/metrics")[0] == 500, "a failing collector fails the scrape only"
    health.report = {"status": "ok"}
    assert get(server.port, "/metrics")[0] == 200, "and the server goes on"
    assert get(server.port, "/other")[0] == 404


def test_a_closed_server_refuses_connections() -> None:
    metrics = StreamMetrics(Stats())
    server = MetricsServer(metrics.registry, lambda: {"status": "ok"}, host="127.0.0.1")
    port = server.port
    assert get(port, "/healthz")[0] == 200
    server.close()
    with pytest.raises(ConnectionRefusedError):
        get(port, "/healthz")


def test_an_inline_writer_is_always_alive() -> None:
    assert InlineWriter(lambda items, held: None).alive()  # type: ignore[arg-type]
