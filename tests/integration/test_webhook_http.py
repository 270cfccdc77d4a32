"""WebhookClient against a real partner endpoint: a local HTTP server in its own thread."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.webhook_server import PartnerWebhookServer
from wijkbrug.webhook import PostResult, WebhookClient

SECRET = b"whsec-integration-5f1c0a7e9b2d"
KEY_ID = "overvecht-2025-01"


@pytest.fixture
def partner() -> Iterator[PartnerWebhookServer]:
    with PartnerWebhookServer(SECRET) as server:
        yield server
    assert server.errors == []  # no handler crashed


@pytest.fixture
def client(partner: PartnerWebhookServer) -> Iterator[WebhookClient]:
    with WebhookClient(partner.url, SECRET, KEY_ID, timeout_s=2.0) as webhook:
        yield webhook


def event(event_id: str, **data: object) -> bytes:
    return json.dumps({"id": event_id, "type": "nl.wijkbrug.signal", "data": data}).encode()


def assert_no_leak(result: PostResult, *extra: str) -> None:
    assert result.error is not None
    for needle in (SECRET.decode(), "/hook", "whsec", *extra):
        assert needle not in result.error


def test_post_is_received_verified_and_acknowledged(
    partner: PartnerWebhookServer, client: WebhookClient
) -> None:
    body = event("e-1", category="schulden", unit="VHE-0042")
    result = client.post(body, "e-1")
    assert result == PostResult(ok=True, retryable=False, status=200, error=None)
    [delivery] = partner.wait_for(1, timeout_s=2)
    assert delivery == {
        "event_id": "e-1",
        "body": json.loads(body),
        "raw": body,
        "key_id": KEY_ID,
    }
    assert partner.bad_signatures == 0


def test_many_posts_arrive_in_order_over_one_connection(
    partner: PartnerWebhookServer, client: WebhookClient
) -> None:
    ids = [f"e-{n}" for n in range(50)]
    results = [client.post(event(i, n=n), i) for n, i in enumerate(ids)]
    assert all(r.ok for r in results)
    assert [d["event_id"] for d in partner.wait_for(50, timeout_s=2)] == ids
    assert partner.connections == 1  # keep-alive: the client reuses its connection


def test_duplicate_delivery_is_ok_and_stored_once(
    partner: PartnerWebhookServer, client: WebhookClient
) -> None:
    body = event("e-dup")
    first, second = client.post(body, "e-dup"), client.post(body, "e-dup")
    assert first.ok and second.ok and second.status == 200
    assert partner.duplicates == 1
    assert len(partner.wait_for(1, timeout_s=2)) == 1


def test_partner_down_is_retryable_with_its_retry_after_and_recovers(
    partner: PartnerWebhookServer, client: WebhookClient
) -> None:
    partner.set_down(True)
    result = client.post(event("e-down"), "e-down")
    assert result == PostResult(
        ok=False, retryable=True, status=503, error="HTTP 503", retry_after_s=1
    )
    assert partner.refused == 1 and partner.received == []
    partner.set_down(False)
    assert client.post(event("e-down"), "e-down").ok  # the next attempt gets through
    assert [d["event_id"] for d in partner.wait_for(1, timeout_s=2)] == ["e-down"]


def test_slow_partner_times_out_retryably_and_the_retry_is_a_duplicate(
    partner: PartnerWebhookServer,
) -> None:
    partner.set_delay(5.0)  # far beyond the client's timeout; stop() cuts it short
    with WebhookClient(partner.url, SECRET, KEY_ID, timeout_s=0.2) as slow:
        started = time.monotonic()
        result = slow.post(event("e-slow"), "e-slow")
        elapsed = time.monotonic() - started
        assert result == PostResult(ok=False, retryable=True, status=None, error="timeout")
        assert elapsed < 1.0
        # The partner stored it before it got around to answering: the classic lost ack.
        partner.wait_for(1, timeout_s=2)
        partner.set_delay(0)
        assert slow.post(event("e-slow"), "e-slow").ok
    assert partner.duplicates == 1 and len(partner.received) == 1


def test_closed_port_is_a_retryable_connection_error() -> None:
    with socket.socket() as held:  # bound, never listening: the port refuses connections
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        url = f"http://127.0.0.1:{port}/hook?token=tok-999"
        with WebhookClient(url, SECRET, KEY_ID, timeout_s=0.5) as nowhere:
            result = nowhere.post(event("e-x"), "e-x")
    assert result == PostResult(ok=False, retryable=True, status=None, error="connection refused")
    assert_no_leak(result, "tok-999")


def test_bad_request_is_not_retryable(partner: PartnerWebhookServer, client: WebhookClient) -> None:
    not_json = client.post(b"{not json", "e-400")
    wrong_id = client.post(event("e-other"), "e-400")  # body id and idempotency key disagree
    for result in (not_json, wrong_id):
        assert (result.ok, result.retryable, result.status) == (False, False, 400)
        assert result.error == "HTTP 400"
        assert_no_leak(result, "not json")
    assert partner.bad_requests == 2 and partner.received == []


def test_wrong_secret_or_stale_clock_is_401_and_not_retryable(
    partner: PartnerWebhookServer,
) -> None:
    wrong = WebhookClient(partner.url, b"whsec-someone-else", KEY_ID, timeout_s=2)
    stale = WebhookClient(partner.url, SECRET, KEY_ID, timeout_s=2, clock=lambda: time.time() - 900)
    try:
        for webhook in (wrong, stale):
            result = webhook.post(event("e-401"), "e-401")
            assert result == PostResult(ok=False, retryable=False, status=401, error="HTTP 401")
            assert_no_leak(result, "someone")
    finally:
        wrong.close()
        stale.close()
    assert partner.bad_signatures == 2 and partner.received == []


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {"Retry-After": "7"}, PostResult(False, True, 429, "HTTP 429", 7.0)),
        (500, {"Retry-After": "7"}, PostResult(False, True, 500, "HTTP 500", None)),
        (409, {}, PostResult(True, False, 409, None, None)),
        (204, {}, PostResult(True, False, 204, None, None)),
        (404, {}, PostResult(False, False, 404, "HTTP 404", None)),
        (302, {"Location": "http://elsewhere.example/"}, PostResult(False, False, 302, "HTTP 302")),
    ],
)
def test_statuses_over_the_wire(
    partner: PartnerWebhookServer,
    client: WebhookClient,
    status: int,
    headers: dict[str, str],
    expected: PostResult,
) -> None:
    partner.force_status(status, headers)
    assert client.post(event("e-s"), "e-s") == expected


def test_failures_log_origin_and_event_id_only(
    partner: PartnerWebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    partner.set_down(True)
    with (
        caplog.at_level(logging.DEBUG, logger="wijkbrug.webhook"),
        WebhookClient(partner.url + "?token=tok-777", SECRET, KEY_ID, timeout_s=2) as webhook,
    ):
        assert not webhook.post(event("e-log", name="J. de Vries"), "e-log").ok
    assert "e-log" in caplog.text and "HTTP 503" in caplog.text
    assert partner.url.rsplit("/", 1)[0] in caplog.text  # scheme://host:port
    for needle in ("/hook", "tok-777", SECRET.decode(), "de Vries"):
        assert needle not in caplog.text


def test_a_closed_client_answers_instead_of_raising(partner: PartnerWebhookServer) -> None:
    webhook = WebhookClient(partner.url, SECRET, KEY_ID)
    webhook.close()
    assert webhook.post(event("e-c"), "e-c") == PostResult(False, True, None, "client error")


def test_wait_for_reports_what_arrived(
    partner: PartnerWebhookServer, client: WebhookClient
) -> None:
    client.post(event("e-only"), "e-only")
    with pytest.raises(AssertionError, match=r"expected 2 deliveries.*got 1.*e-only"):
        partner.wait_for(2, timeout_s=0.05)


def test_tls_to_a_plain_http_endpoint_is_a_retryable_tls_error(
    partner: PartnerWebhookServer,
) -> None:
    url = partner.url.replace("http://", "https://") + "?token=tok-555"
    with WebhookClient(url, SECRET, KEY_ID, timeout_s=1) as webhook:
        result = webhook.post(event("e-tls"), "e-tls")
    assert result == PostResult(ok=False, retryable=True, status=None, error="tls error")
    assert_no_leak(result, "tok-555")
