"""Operational metrics and health over HTTP: Prometheus text on ``/metrics``, JSON on ``/healthz``.

Two reusable pieces, and the stream worker's own metrics:

- :class:`MetricsServer` serves a :class:`~prometheus_client.CollectorRegistry` on
  ``GET /metrics`` and a health callable on ``GET /healthz`` (200 when it says ``ok``, 503
  otherwise), from a :class:`~http.server.ThreadingHTTPServer` in a daemon thread. Another
  process (the web workspace) builds its own registry and health and serves them the same way,
  or puts :func:`exposition` behind a route of its own.
- :class:`StreamMetrics` is one stream worker's: a registry of its own (tests run several
  workers in one process), collected when Prometheus scrapes. The counters are read from the
  pipeline's :class:`~wijkbrug.pipeline.Stats` at that moment, so the hot path counts nothing
  a second time; the latency histogram is filled once per committed batch; the consumer lag is
  asked of the broker by the worker's own thread every few seconds (the Kafka consumer is not
  thread-safe); the webhook backlog is one grouped count in the ledger, at most every few
  seconds.

Nothing here carries personal data: labels are partner and channel names, values are counts.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from wijkbrug.kafka_client import Record
    from wijkbrug.pipeline import Stats

log = logging.getLogger(__name__)

#: A health callable: a JSON-able dict whose ``status`` is ``"ok"`` (200) or anything else (503).
Health = Callable[[], dict[str, Any]]

PREFIX = "wijkbrug_stream_"
#: Upper bounds (seconds) of the latency histogram's buckets; +Inf is added.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: How often the worker asks the broker for its consumer lag (from its own thread).
LAG_EVERY_S = 2.0
#: The webhook backlog is counted in the ledger at most this often (scrapes in between reuse it).
BACKLOG_EVERY_S = 2.0


def exposition(registry: CollectorRegistry, accept: str = "") -> tuple[bytes, str]:
    """The registry as the scraper's ``Accept`` header asks (Prometheus text format 0.0.4
    unless it asks for a newer one or OpenMetrics): (body, content type)."""
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


class MetricsServer:
    """``GET /metrics`` and ``GET /healthz`` in a daemon thread; :meth:`close` stops it.

    ``host`` ``""`` listens on every interface (Prometheus scrapes from elsewhere); ``port`` 0
    takes a free port, then :attr:`port` says which."""

    def __init__(
        self,
        registry: CollectorRegistry,
        health: Health,
        *,
        host: str = "",
        port: int = 0,
        name: str = "metrics-http",
    ) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(registry, health))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler(registry: CollectorRegistry, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "wijkbrug"
        sys_version = ""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                try:
                    body, content_type = exposition(registry, self.headers.get("Accept", ""))
                    status = 200
                except Exception as error:  # a failing collector must not end the server
                    log.warning("metrics collection failed: %s", type(error).__name__)
                    body, content_type, status = b"collection failed\n", "text/plain", 500
            elif path == "/healthz":
                try:
                    report = health()
                except Exception as error:
                    log.warning("health check failed: %s", type(error).__name__)
                    report = {"status": "degraded", "error": type(error).__name__}
                status = 200 if report.get("status") == "ok" else 503
                body, content_type = orjson.dumps(report) + b"\n", "application/json"
            else:
                body, content_type, status = b"not found\n", "text/plain", 404
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """No access log: scrapes every few seconds would drown the worker's own lines."""

    return Handler


class LatencyHistogram:
    """Bucket counts filled a batch at a time (one lock per batch, a bisect per record)."""

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self._bounds_ms = [b * 1000.0 for b in self.bounds]
        self._counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)
        self._sum_ms = 0.0
        self._lock = threading.Lock()

    def observe_records(self, batches: Iterable[Sequence[Record]], now_ms: float) -> None:
        """One observation per record: ``now_ms`` minus its Kafka timestamp (not below 0)."""
        counts = [0] * len(self._counts)
        total = 0.0
        bounds, find = self._bounds_ms, bisect.bisect_left
        for records in batches:
            for record in records:
                stamp = record.timestamp_ms
                if stamp <= 0:
                    continue  # no timestamp (a very old message format): nothing to measure
                ms = now_ms - stamp
                if ms < 0.0:
                    ms = 0.0  # the producer's clock ahead of ours
                counts[find(bounds, ms)] += 1
                total += ms
        with self._lock:
            mine = self._counts
            for i, n in enumerate(counts):
                mine[i] += n
            self._sum_ms += total

    def snapshot(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative buckets as Prometheus has them (``le``, count) and the sum in seconds."""
        with self._lock:
            counts, total = list(self._counts), self._sum_ms
        buckets, running = [], 0
        for bound, n in zip((*map(_le, self.bounds), "+Inf"), counts, strict=True):
            running += n
            buckets.append((bound, running))
        return buckets, total / 1000.0


def _le(bound: float) -> str:
    return repr(float(bound))


class StreamMetrics:
    """A stream worker's metrics, in a registry of its own (:attr:`registry`).

    The worker calls :meth:`written` when it learns batches are in the ledger and
    :meth:`set_lag` when it asked the broker, and sets :attr:`stepped_at` after every step; the
    rest is read from ``stats`` and the callables when collected. ``channels`` (partner -> its
    stream channels) makes every partner's series exist from the start, at 0."""

    def __init__(
        self,
        stats: Stats,
        *,
        channels: Mapping[str, Iterable[str]] | None = None,
        backlog: Callable[[], Mapping[str, int]] | None = None,
        health: Health | None = None,
        partitions: Callable[[], int] | None = None,
    ) -> None:
        self.stats = stats
        self._channels = {partner: tuple(names) for partner, names in (channels or {}).items()}
        self._webhook_partners = [p for p, names in self._channels.items() if "webhook" in names]
        self.latency = LatencyHistogram()
        self._backlog = backlog
        self._health = health
        self._partitions = partitions
        self._backlog_cache: tuple[float, Mapping[str, int]] | None = None
        self._backlog_lock = threading.Lock()
        self.lag: int | None = None
        self.lag_at = float("-inf")
        #: time.monotonic() when the worker last completed a step (None: not yet).
        self.stepped_at: float | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # -- the worker's hooks (its own thread) ---------------------------------------------------

    def written(self, batches: Sequence[Sequence[Record]]) -> None:
        """These batches are in the ledger now: one latency observation per record."""
        self.latency.observe_records(batches, time.time() * 1000.0)

    def set_lag(self, lag: int, now: float) -> None:
        """The broker's answer, at ``now`` (time.monotonic()); asked every LAG_EVERY_S."""
        self.lag, self.lag_at = lag, now

    # -- collection (the HTTP thread) ----------------------------------------------------------

    def backlog(self) -> Mapping[str, int]:
        """Webhook rows per partner still to send, counted at most every BACKLOG_EVERY_S."""
        if self._backlog is None:
            return {}
        with self._backlog_lock:
            now = time.monotonic()
            cached = self._backlog_cache
            if cached is None or now - cached[0] >= BACKLOG_EVERY_S:
                counts = dict.fromkeys(self._webhook_partners, 0) | dict(self._backlog())
                cached = self._backlog_cache = (now, counts)
            return cached[1]

    def describe(self) -> list[Metric]:
        return []  # families are made at collection; nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        stats = self.stats
        for name, value, text in (
            ("events_in", stats.events_in, "Schema-valid raw events this worker planned."),
            ("quarantined", stats.quarantined, "Raw records this worker sent to quarantine."),
            ("queued", stats.queued, "Deliveries this worker wrote to the ledger as queued."),
            ("held", stats.held, "Events held until the registry records their consent."),
            ("cancelled", stats.cancelled, "Queued deliveries cancelled by a withdrawal."),
            ("retractions", stats.retractions, "Retractions queued after withdrawals."),
        ):
            yield CounterMetricFamily(PREFIX + name, text, value=value)
        refused = CounterMetricFamily(
            PREFIX + "refused",
            "Events a partner's contract covers that no consent valid on the delivery day "
            "allowed it to receive, per partner.",
            labels=["partner"],
        )
        for partner, count in sorted(({p: 0 for p in self._channels} | stats.refused_by).items()):
            refused.add_metric([partner], count)
        yield refused
        delivered = CounterMetricFamily(
            PREFIX + "delivered",
            "Deliveries marked delivered in the ledger by this worker (partner topic: the "
            "broker acknowledged; webhook: the partner answered 2xx or 409), per partner and "
            "channel.",
            labels=["partner", "channel"],
        )
        known = {(p, c): 0 for p, names in self._channels.items() for c in names}
        for (partner, channel), count in sorted((known | stats.delivered).items()):
            delivered.add_metric([partner, channel], count)
        yield delivered
        retries = CounterMetricFamily(
            PREFIX + "webhook_retries",
            "Webhook sends that failed with a retryable error (network, timeout, 429, 5xx) and "
            "are tried again after a backoff, per partner.",
            labels=["partner"],
        )
        seeded = dict.fromkeys(self._webhook_partners, 0)
        for partner, count in sorted((seeded | stats.webhook_retries).items()):
            retries.add_metric([partner], count)
        yield retries
        if self._backlog is not None:
            backlog = GaugeMetricFamily(
                PREFIX + "webhook_backlog",
                "Webhook deliveries in the ledger still to send (queued or being sent) for the "
                "partitions this worker owns, per partner; counted at most every "
                f"{BACKLOG_EVERY_S:g} s.",
                labels=["partner"],
            )
            for partner, count in sorted(self.backlog().items()):
                backlog.add_metric([partner], count)
            yield backlog
        if self.lag is not None:
            yield GaugeMetricFamily(
                PREFIX + "consumer_lag",
                "Records on this worker's assigned raw-topic partitions not read yet (end "
                f"offset minus position), asked of the broker every {LAG_EVERY_S:g} s.",
                value=self.lag,
            )
        if self._partitions is not None:
            yield GaugeMetricFamily(
                PREFIX + "assigned_partitions",
                "Raw-topic partitions this worker owns.",
                value=self._partitions(),
            )
        buckets, total = self.latency.snapshot()
        yield HistogramMetricFamily(
            PREFIX + "record_to_ledger_seconds",
            "Seconds from a raw record's Kafka timestamp (set when the connector produced it) "
            "to the moment this worker learned that the record's batch was written to the "
            "ledger (the outbox), just before its offsets are committed. Partner sends come "
            "after this; clocks of producer and worker are compared.",
            buckets=buckets,
            sum_value=total,
        )
        if self._health is not None:
            yield GaugeMetricFamily(
                PREFIX + "healthy",
                "1 when /healthz says ok (a step within the last 30 s, ledger writer alive).",
                value=1 if self._health().get("status") == "ok" else 0,
            )
