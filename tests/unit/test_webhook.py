"""Webhook building blocks without a network: signatures, status classification, backoff."""

from __future__ import annotations

import hashlib
import hmac
import pickle
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wijkbrug.webhook import (
    RETRY_AFTER_CAP_S,
    Backoff,
    PostResult,
    WebhookClient,
    classify_status,
    origin,
    parse_retry_after,
    sign,
    verify,
)

SECRET = b"whsec-unit-0123456789abcdef"
OTHER = b"whsec-unit-rotated-fedcba9876"
BODY = b'{"id":"e-1","type":"signal"}'
T = 1_760_000_000


# -- sign / verify ----------------------------------------------------------------------------


def test_sign_is_stripe_style_hmac_over_timestamp_dot_body() -> None:
    mac = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={mac}"


def test_round_trip() -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY, T), now=T)


@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=512), data=st.data())
def test_round_trip_and_any_tampered_byte_fails(secret: bytes, body: bytes, data) -> None:
    header = sign(secret, body, T)
    assert verify(secret, body, header, now=T)
    tampered = data.draw(st.binary(max_size=512).filter(lambda b: b != body), label="tampered")
    assert not verify(secret, tampered, header, now=T)


def test_tampered_body_fails() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify(SECRET, BODY.replace(b"signal", b"signaL"), header, now=T)
    assert not verify(SECRET, BODY + b" ", header, now=T)


def test_wrong_secret_fails() -> None:
    assert not verify(OTHER, BODY, sign(SECRET, BODY, T), now=T)


def test_timestamp_is_signed_too() -> None:
    forged = sign(SECRET, BODY, T).replace(f"t={T}", f"t={T + 1}")
    assert not verify(SECRET, BODY, forged, now=T)


@pytest.mark.parametrize(
    ("signed_at", "ok"),
    [
        (T - 300, True),  # exactly at the tolerance edge
        (T + 300, True),
        (T - 301, False),  # stale: a replay
        (T + 301, False),  # from the future
        (T - 86_400, False),
    ],
)
def test_tolerance_window(signed_at: int, ok: bool) -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY, signed_at), now=T, tolerance_s=300) is ok


def test_several_v1_entries_any_may_match_during_rotation() -> None:
    old, new = sign(OTHER, BODY, T), sign(SECRET, BODY, T)
    new_mac = new.split("v1=")[1]
    old_mac = old.split("v1=")[1]
    both = f"t={T},v1={old_mac},v1={new_mac}"
    assert verify(SECRET, BODY, both, now=T)
    assert verify(OTHER, BODY, both, now=T)
    assert verify(SECRET, BODY, f"t={T}, v1={new_mac}, v1={old_mac}", now=T)  # spaces, order
    assert verify(SECRET, BODY, f"v0=legacy,v1={new_mac},t={T}", now=T)  # unknown scheme ignored
    assert not verify(b"third-secret", BODY, both, now=T)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "v1=" + "0" * 64,  # no timestamp
        "t={t}",  # no signature
        "t={t},t={t},v1={mac}",  # two timestamps
        "t=-{t},v1={mac}",
        "t= {t}x,v1={mac}",
        "t={t},v1={mac_upper}",  # hex is lowercase
        "t={t},v1={mac}00",
        "t={t},v1=zz",
        "t={t},v1=ŝ{mac}",
        "t={t},v1={mac},junk",
    ],
)
def test_malformed_headers_are_rejected_without_raising(header: str) -> None:
    mac = sign(SECRET, BODY, T).split("v1=")[1]
    value = header.format(t=T, mac=mac, mac_upper=mac.upper())
    assert not verify(SECRET, BODY, value, now=T)


def test_empty_secret_never_signs_nor_verifies() -> None:
    with pytest.raises(ValueError):
        sign(b"", BODY, T)
    assert not verify(b"", BODY, f"t={T},v1={hmac.new(b'', BODY, 'sha256').hexdigest()}", now=T)


# -- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [
        (200, True, False),
        (201, True, False),
        (202, True, False),
        (204, True, False),
        (409, True, False),  # the partner already has this event: idempotent re-delivery
        (408, False, True),
        (425, False, True),
        (429, False, True),
        (500, False, True),
        (502, False, True),
        (503, False, True),
        (504, False, True),
        (400, False, False),
        (401, False, False),
        (403, False, False),
        (404, False, False),
        (410, False, False),
        (413, False, False),
        (422, False, False),
        (301, False, False),  # redirects are not followed: a misconfigured endpoint
        (302, False, False),
    ],
)
def test_status_classification(status: int, ok: bool, retryable: bool) -> None:
    result = classify_status(status)
    assert (result.ok, result.retryable, result.status) == (ok, retryable, status)
    assert result.error == (None if ok else f"HTTP {status}")
    assert result.retry_after_s is None


@pytest.mark.parametrize(
    ("status", "value", "expected"),
    [
        (503, "1", 1.0),
        (429, "120", 120.0),
        (429, " 7 ", 7.0),
        (429, "2.5", 2.5),
        (503, "86400", RETRY_AFTER_CAP_S),  # capped
        (503, "Wed, 21 Oct 2015 07:28:00 GMT", None),  # date form: our own backoff decides
        (503, "-5", None),
        (503, "soon", None),
        (503, "", None),
        (503, None, None),
        (500, "10", None),  # only 429 and 503 carry it
        (408, "10", None),
    ],
)
def test_retry_after(status: int, value: str | None, expected: float | None) -> None:
    assert classify_status(status, value).retry_after_s == expected


def test_parse_retry_after_cap() -> None:
    assert parse_retry_after("30", cap_s=10) == 10


def test_post_result_is_frozen() -> None:
    result = PostResult(ok=True, retryable=False, status=200, error=None, retry_after_s=None)
    with pytest.raises(AttributeError):
        result.ok = False  # type: ignore[misc]


# -- redaction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://partner.example/hooks/wijkbrug?token=abc", "https://partner.example:443"),
        ("http://user:pw@10.0.0.5:8080/p/a/t/h#frag", "http://10.0.0.5:8080"),
        ("https://[::1]:9443/x", "https://[::1]:9443"),
        ("http://Partner.Example/x", "http://partner.example:80"),
    ],
)
def test_origin_keeps_scheme_host_port_only(url: str, expected: str) -> None:
    assert origin(url) == expected


def test_client_repr_str_and_errors_never_show_secret_or_path() -> None:
    url = "https://partner.example/hooks/abc?token=tok-123"
    client = WebhookClient(url, SECRET, "key-2025-01")
    try:
        for shown in (repr(client), str(client), f"{client}", f"{client!r}"):
            assert SECRET.decode() not in shown
            assert "hooks" not in shown and "tok-123" not in shown
            assert "partner.example" in shown and "key-2025-01" in shown
        with pytest.raises(TypeError):
            pickle.dumps(client)
        assert not hasattr(client, "__dict__")  # no vars() to dump
    finally:
        client.close()


@pytest.mark.parametrize(
    ("url", "secret", "key_id"),
    [
        ("ftp://partner.example/hooks?token=tok-123", SECRET, "k1"),
        ("/hooks?token=tok-123", SECRET, "k1"),
        ("https://partner.example/hooks?token=tok-123", b"", "k1"),
        ("https://partner.example/hooks?token=tok-123", SECRET, "bad key\nid"),
    ],
)
def test_bad_configuration_is_refused_without_leaking(url: str, secret: bytes, key_id: str) -> None:
    with pytest.raises(ValueError) as info:
        WebhookClient(url, secret, key_id)
    assert "tok-123" not in str(info.value) and "hooks" not in str(info.value)


def test_event_id_must_be_header_safe() -> None:
    client = WebhookClient("http://127.0.0.1:9/hook", SECRET, "k1")
    try:
        for bad in ("", "a\r\nX-Injected: 1", "ë", "x" * 201):
            with pytest.raises(ValueError):
                client.post(BODY, bad)
    finally:
        client.close()


# -- backoff ----------------------------------------------------------------------------------

backoffs = st.builds(
    Backoff,
    base_s=st.floats(min_value=0, max_value=10, allow_nan=False),
    factor=st.floats(min_value=1, max_value=10, allow_nan=False),
    cap_s=st.floats(min_value=0, max_value=3600, allow_nan=False),
)


@given(backoff=backoffs, attempt=st.integers(min_value=0, max_value=10_000), seed=st.integers())
def test_delay_is_within_full_jitter_bounds(backoff: Backoff, attempt: int, seed: int) -> None:
    delay = backoff.delay(attempt, random.Random(seed))
    try:
        grown = backoff.base_s * backoff.factor**attempt
    except OverflowError:
        grown = float("inf") if backoff.base_s else 0.0
    assert 0 <= delay <= min(backoff.cap_s, grown)
    assert backoff.ceiling(attempt) == min(backoff.cap_s, grown)


@given(backoff=backoffs, attempt=st.integers(min_value=0, max_value=2_000))
def test_ceiling_grows_until_the_cap(backoff: Backoff, attempt: int) -> None:
    assert backoff.ceiling(attempt) <= backoff.ceiling(attempt + 1) <= backoff.cap_s


def test_default_schedule_doubles_from_half_a_second_to_a_minute() -> None:
    backoff = Backoff()
    assert [backoff.ceiling(n) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.ceiling(10**6) == 60  # no overflow however long a partner is down


def test_jitter_spreads_over_the_whole_window_and_is_reproducible() -> None:
    backoff = Backoff()
    samples = [backoff.delay(3, random.Random(seed)) for seed in range(2_000)]
    assert min(samples) < 0.1 and max(samples) > 3.9  # window [0, 4]
    assert 1.8 < sum(samples) / len(samples) < 2.2
    assert backoff.delay(5, random.Random(42)) == backoff.delay(5, random.Random(42))
    assert 0 <= backoff.delay(2) <= 2  # the module's own generator without an rng


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_s": -1},
        {"cap_s": -1},
        {"factor": 0.5},
        {"base_s": float("nan")},
        {"cap_s": float("inf")},
    ],
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_attempt_starts_at_zero() -> None:
    with pytest.raises(ValueError):
        Backoff().delay(-1)
