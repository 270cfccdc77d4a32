"""A real partner webhook endpoint for tests: stdlib HTTP server on 127.0.0.1, own thread.

It behaves like a careful partner: it checks the signature with :func:`wijkbrug.webhook.verify`
(401 if missing or wrong), requires an ``Idempotency-Key`` (400 without one, or when the JSON
body's ``id`` disagrees with it), accepts each key once and answers 200 to repeats without
storing them again. It can be taken down (503 with ``Retry-After: 1``), slowed down, or made to
answer a fixed status. Tests block on :meth:`PartnerWebhookServer.wait_for`, never on sleeps.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wijkbrug.keys import KeyStore
from wijkbrug.partner_contract import load_contracts
from wijkbrug.webhook import IDEMPOTENCY_HEADER, KEY_ID_HEADER, SIGNATURE_HEADER, verify

PATH = "/hook"
MAX_BODY = 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    partner: PartnerWebhookServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's FQDN; 127.0.0.1 needs no lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is part of the tests; anything else is a bug here.
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self.partner._note_error(None)
        else:
            self.partner._note_error(repr(error))
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client can reuse its connection
    server: _Server
    timeout = 10  # idle keep-alive connections end on their own

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet, and no paths or keys in test output

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.partner._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.partner._track(self.connection, open_=False)

    def do_POST(self) -> None:
        partner = self.server.partner
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            self._answer(411 if length is None else 413, close=True)
            return
        raw = self.rfile.read(int(length))
        status, extra = partner._handle(self.path, self.headers, raw)
        if partner._pause():  # the partner was stopped while it was being slow
            self.close_connection = True
            return
        self._answer(status, extra)

    def do_GET(self) -> None:
        self._answer(405, {"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _answer(
        self, status: int, headers: dict[str, str] | None = None, close: bool = False
    ) -> None:
        body = json.dumps({"status": status}).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


class PartnerWebhookServer:
    """A partner's webhook endpoint at :attr:`url`, verifying with ``secret``."""

    def __init__(self, secret: bytes, *, tolerance_s: int = 300) -> None:
        self._secret = secret
        self._tolerance_s = tolerance_s
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._down = False
        self._delay_s = 0.0
        self._forced: tuple[int, dict[str, str]] | None = None
        self._accepted: set[str] = set()
        self._open: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        self.duplicates = 0
        self.bad_signatures = 0
        self.bad_requests = 0
        self.requests = 0
        self.connection_errors = 0
        self.connections = 0  # TCP connections accepted (1 for many posts = connection reuse)
        self.errors: list[str] = []  # handler exceptions other than hung-up clients
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.partner = self
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}{PATH}"

    def __repr__(self) -> str:
        return f"PartnerWebhookServer({self.url})"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PartnerWebhookServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.01},
                name="partner-webhook",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still being delayed get no answer; open connections close."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        with self._cond:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> PartnerWebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ---------------------------------------------------------------------------

    def set_down(self, down: bool) -> None:
        """While down, every POST gets 503 with ``Retry-After: 1`` and counts in :attr:`refused`."""
        with self._cond:
            self._down = down

    def set_delay(self, seconds: float) -> None:
        """A slow partner: wait ``seconds`` before answering (after storing the delivery)."""
        with self._cond:
            self._delay_s = seconds

    def force_status(self, status: int | None, headers: dict[str, str] | None = None) -> None:
        """Answer every POST with ``status`` (and ``headers``) without storing; None to stop."""
        with self._cond:
            self._forced = None if status is None else (status, dict(headers or {}))

    def wait_for(self, count: int, timeout_s: float) -> list[dict[str, Any]]:
        """Block until ``count`` deliveries are accepted; the deliveries so far (a copy)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout=timeout_s):
                raise AssertionError(
                    f"expected {count} deliveries within {timeout_s}s, got {len(self.received)}: "
                    f"{[r['event_id'] for r in self.received]} ({self._counts()})"
                )
            return list(self.received)

    def _counts(self) -> str:
        return (
            f"requests={self.requests} refused={self.refused} duplicates={self.duplicates} "
            f"bad_signatures={self.bad_signatures} bad_requests={self.bad_requests}"
        )

    # -- called from handler threads ---------------------------------------------------------

    def _handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, str]]:
        with self._cond:
            self.requests += 1
            if urlsplit(path).path != PATH:
                return 404, {}
            if self._forced is not None:
                return self._forced
            if self._down:
                self.refused += 1
                return 503, {"Retry-After": "1"}
            signature = headers.get(SIGNATURE_HEADER)
            now = int(time.time())
            if not signature or not verify(
                self._secret, raw, signature, now=now, tolerance_s=self._tolerance_s
            ):
                self.bad_signatures += 1
                return 401, {}
            event_id = headers.get(IDEMPOTENCY_HEADER)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if (
                not event_id
                or not isinstance(body, dict)
                or body.get("event_id", body.get("id", event_id)) != event_id
            ):
                self.bad_requests += 1
                return 400, {}
            if event_id in self._accepted:
                self.duplicates += 1
                return 200, {}
            self._accepted.add(event_id)
            self.received.append(
                {
                    "event_id": event_id,
                    "body": body,
                    "raw": raw,
                    "key_id": headers.get(KEY_ID_HEADER),
                }
            )
            self._cond.notify_all()
            return 200, {}

    def _pause(self) -> bool:
        """Be slow if asked to; True if the server was stopped meanwhile."""
        with self._cond:
            delay = self._delay_s
        return self._stopping.wait(delay) if delay > 0 else self._stopping.is_set()

    def _track(self, conn: socket.socket, *, open_: bool) -> None:
        with self._cond:
            if open_:
                self.connections += 1
                self._open.add(conn)
            else:
                self._open.discard(conn)

    def _note_error(self, error: str | None) -> None:
        with self._cond:
            if error is None:
                self.connection_errors += 1
            else:
                self.errors.append(error)


#: Every partner whose contract has the webhook channel.
WEBHOOK_PARTNERS = tuple(
    sorted(c.partner for c in load_contracts().values() if "webhook" in c.channels)
)


@contextlib.contextmanager
def partner_servers(keys: Path) -> Iterator[dict[str, PartnerWebhookServer]]:
    """A real endpoint per webhook partner, verifying with the secret the worker will sign with
    (the key store ``keys``, made before the worker starts). On leaving: no server saw an error,
    a bad signature or a bad request."""
    store = KeyStore(keys)
    servers = {
        partner: PartnerWebhookServer(store.current(partner, "webhook").secret).start()
        for partner in WEBHOOK_PARTNERS
    }
    yield servers
    for server in servers.values():
        server.stop()
    for partner, server in servers.items():
        assert server.errors == [], partner
        assert server.bad_signatures == server.bad_requests == 0, partner
