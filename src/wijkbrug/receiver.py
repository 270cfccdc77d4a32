"""A reference webhook receiver, for partners and for the demo: verify, deduplicate, store.

``POST /<partner>`` with wijkbrug's signature header is checked against that partner's webhook
secret (from the same key store), deduplicated on the ``Idempotency-Key`` and appended to
``<out>/<partner>.jsonl``. A partner building its own endpoint can read this as the contract:
answer 2xx (or 409 for "already have it") only after the delivery is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

from wijkbrug.keys import KeyStore, KeyStoreError
from wijkbrug.partners import load_partners
from wijkbrug.webhook import IDEMPOTENCY_HEADER, KEY_ID_HEADER, SIGNATURE_HEADER, verify

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20


class Receiver(ThreadingHTTPServer):
    """The server: one key store, one output folder, the ids it has stored per partner."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: KeyStore, out: Path) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.out = out
        self.lock = threading.Lock()
        self.seen: dict[str, set[str]] = {}
        out.mkdir(parents=True, exist_ok=True)
        for path in out.glob("*.jsonl"):
            lines = path.read_bytes().splitlines()
            self.seen[path.stem] = {orjson.loads(line)["event_id"] for line in lines if line}

    def store_delivery(self, partner: str, event_id: str, body: bytes) -> bool:
        """Append unless stored before; False for a duplicate."""
        with self.lock:
            seen = self.seen.setdefault(partner, set())
            if event_id in seen:
                return False
            with (self.out / f"{partner}.jsonl").open("ab") as sink:
                sink.write(body.rstrip(b"\n") + b"\n")
            seen.add(event_id)
            return True


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("receiver: " + format, *args)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        partner = self.path.strip("/")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413)
            return
        body = self.rfile.read(length)
        if partner not in load_partners():
            self._answer(404)
            return
        try:
            key_id = self.headers.get(KEY_ID_HEADER) or ""
            key = self.server.store.get(partner, key_id, "webhook")
        except KeyStoreError:
            self._answer(401)
            return
        signature = self.headers.get(SIGNATURE_HEADER) or ""
        if not verify(key.secret, body, signature, now=int(time.time())):
            self._answer(401)
            return
        event_id = self.headers.get(IDEMPOTENCY_HEADER)
        if not event_id:
            self._answer(400)
            return
        self._answer(200 if self.server.store_delivery(partner, event_id, body) else 409)


def serve(store: KeyStore, out: Path, host: str = "127.0.0.1", port: int = 8787) -> Receiver:
    """A started receiver (in a background thread); ``shutdown()`` stops it."""
    server = Receiver((host, port), store, out)
    threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    return server
