"""The web workspace without a broker: users, roles, CSRF, production refusal, subject access."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from wijkbrug.keys import KeyStore
from wijkbrug.ledger import Delivery, Ledger
from wijkbrug.pipeline import KeyAccess
from wijkbrug.settings import Settings
from wijkbrug.web.app import _inside, build_app, create_app
from wijkbrug.web.users import Users, UsersError, check_password, hash_password, set_user

PASSWORD = "een-lang-wachtwoord"


def _settings(tmp_path: Path, **over: object) -> Settings:
    users = tmp_path / "users.json"
    if not users.exists():
        for name, role in (("anna", "steward"), ("vera", "viewer"), ("pim", "privacy")):
            set_user(users, name, role, PASSWORD)
    values = {"state_dir": tmp_path / "state", "web_users_file": users} | over
    return Settings(kafka_bootstrap="127.0.0.1:1", **values)


def _signed_in(settings: Settings, name: str) -> tuple[TestClient, str]:
    client = TestClient(build_app(settings))
    token = _token(client.get("/inloggen").text)
    answer = client.post(
        "/inloggen", data={"naam": name, "wachtwoord": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 200 and "Uitloggen" in answer.text
    return client, _token(answer.text)


def _token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_passwords_are_kept_as_salted_scrypt_hashes_and_checked() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("scrypt$") and first != second and PASSWORD not in first
    assert check_password(PASSWORD, first) and check_password(PASSWORD, second)
    assert not check_password(PASSWORD + "x", first)
    assert not check_password(PASSWORD, "plain-text")


def test_the_users_file_is_private_and_refuses_unknown_roles_and_plain_passwords(
    tmp_path: Path,
) -> None:
    path = tmp_path / "users.json"
    set_user(path, "anna", "steward", PASSWORD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Users.load(path).login("anna", PASSWORD).role == "steward"
    assert Users.load(path).login("anna", "fout") is None
    assert Users.load(path).login("niemand", PASSWORD) is None
    with pytest.raises(UsersError):
        set_user(path, "bob", "admin", PASSWORD)
    path.write_text(json.dumps({"users": {"bob": {"role": "steward", "password": PASSWORD}}}))
    with pytest.raises(UsersError, match="scrypt"):
        Users.load(path)
    with pytest.raises(UsersError):
        Users.load(tmp_path / "missing.json")


def test_production_refuses_to_start_without_users_or_session_key(tmp_path: Path) -> None:
    with pytest.raises(UsersError, match="SESSION_KEY"):
        build_app(_settings(tmp_path, production=True))
    with pytest.raises(UsersError, match="no users file"):
        build_app(_settings(tmp_path, production=True, web_users_file=tmp_path / "none.json"))
    assert build_app(_settings(tmp_path, production=True, web_session_key="k" * 32))
    assert build_app(_settings(tmp_path))  # development: a key of its own, kept 0600
    key = tmp_path / "state" / "web-session-key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_pages_need_a_sign_in_and_a_form_needs_its_csrf_token(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    anonymous = TestClient(build_app(settings))
    assert anonymous.get("/leveringen", follow_redirects=False).status_code == 303
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    refused = anonymous.post("/inloggen", data={"naam": "anna", "wachtwoord": PASSWORD})
    assert refused.status_code == 403, "no sign-in without the form's token"
    client, token = _signed_in(settings, "anna")
    assert client.get("/leveringen").status_code == 200
    assert client.post("/uitloggen", data={"csrf_token": "vervalst"}).status_code == 403
    assert client.post("/uitloggen", data={"csrf_token": token}).status_code == 200
    assert client.get("/leveringen", follow_redirects=False).status_code == 303
    seen = anonymous.get("/metrics").text
    assert 'wijkbrug_web_requests_total{route="/leveringen",status="303"} 1.0' in seen
    assert 'wijkbrug_web_requests_total{route="/inloggen",status="403"} 1.0' in seen
    seen = client.get("/metrics").text
    assert 'wijkbrug_web_requests_total{route="/leveringen",status="200"} 1.0' in seen
    assert 'wijkbrug_web_requests_total{route="/uitloggen",status="403"} 1.0' in seen


def test_only_a_privacy_officer_answers_a_subject_access_request(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    keys = KeyAccess(KeyStore(settings.keys_path(), generate=True))
    ledger = Ledger(settings.ledger())
    row = {
        "event_id": "e1",
        "partner": "dock",
        "channel": "kafka",
        "kind": "signal",
        "event_type": "signal.consented",
        "purpose": "doorverwijzing",
        "consent_id": "TST-000001",
        "contract_version": "2026.11-1",
        "key_id": "dock-1",
        "unit_partition": 0,
        "subject": keys.subject("huurder", "H7000001"),
        "bsn_subject": None,
        "fields": ("category", "visit_date"),
        "payload": b"{}",
    }
    ledger.enqueue([Delivery(**row)])  # type: ignore[arg-type]
    ledger.close()
    for name in ("anna", "vera"):
        client, token = _signed_in(settings, name)
        assert client.get("/inzage").status_code == 403
        denied = client.post("/inzage", data={"huurder": "H7000001", "csrf_token": token})
        assert denied.status_code == 403 and "dock" not in denied.text
    client, token = _signed_in(settings, "pim")
    answer = client.post("/inzage", data={"huurder": "H7000001", "csrf_token": token})
    assert answer.status_code == 200
    assert "1 levering(en)" in answer.text and "TST-000001" in answer.text
    assert "category, visit_date" in answer.text
    other = client.post("/inzage", data={"huurder": "H7000002", "csrf_token": token})
    assert "Geen leveringen" in other.text


def test_files_outside_the_report_folder_are_not_served(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    (settings.state_dir / "reports" / "n1").mkdir(parents=True)
    (settings.state_dir / "reports" / "n1" / "a.html").write_text("<p>rapport</p>")
    (settings.state_dir / "geheim.txt").write_text("niet voor de browser")
    client, _ = _signed_in(settings, "vera")
    assert client.get("/rapporten/n1/a.html").text == "<p>rapport</p>"
    for path in ("/rapporten/../geheim.txt", "/rapporten/%2e%2e/geheim.txt"):
        answer = client.get(path)
        assert answer.status_code == 404 and "niet voor de browser" not in answer.text
    with pytest.raises(HTTPException):  # the check itself, whatever a client normalises
        _inside(settings.state_dir / "reports", "../geheim.txt")


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    app = create_app(settings, Users.load(settings.web_users_file), "k" * 32)
    client = TestClient(app)
    token = _token(client.get("/inloggen").text)
    answers = [
        client.post("/inloggen", data={"naam": n, "wachtwoord": w, "csrf_token": token})
        for n, w in (("anna", "fout-wachtwoord"), ("niemand", PASSWORD))
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert all("Naam of wachtwoord klopt niet." in a.text for a in answers)
