"""The stewards' workspace mounted in Airflow 3's API server, signed in by Airflow's auth manager.

Airflow's own app (``airflow.api_fastapi.app.create_app``) loads the package's plugin through
its ``airflow.plugins`` entry point; users get a JWT from Airflow's simple auth manager, as its
login page gives them, and the workspace reads it from Airflow's ``_token`` cookie.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wijkbrug.settings import Settings

PASSWORDS = {"anna": "anna-airflow-wachtwoord", "vera": "vera-airflow-wachtwoord"}


@pytest.fixture
def airflow_app(
    airflow_db: None, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> TestClient:
    from airflow.api_fastapi.app import create_app, purge_cached_app

    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "anna:admin,vera:viewer")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    monkeypatch.setenv("WIJKBRUG_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("WIJKBRUG_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("WIJKBRUG_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("WIJKBRUG_WEB_AIRFLOW_ROLES", json.dumps({"anna": "steward"}))
    purge_cached_app()
    return TestClient(create_app())


def _signed_in(client: TestClient, name: str) -> None:
    answer = client.post("/auth/token", json={"username": name, "password": PASSWORDS[name]})
    assert answer.status_code == 201, answer.text
    client.cookies.set("_token", answer.json()["access_token"])


def test_the_workspace_is_in_airflows_menu_and_signs_in_through_airflow(
    airflow_app: TestClient,
) -> None:
    for token in (None, "niet-door-airflow-getekend"):
        if token:
            airflow_app.cookies.set("_token", token)
        refused = airflow_app.get("/wijkbrug/leveringen", follow_redirects=False)
        assert "Uitloggen" not in refused.text, "nobody is signed in without Airflow's token"
        if refused.status_code == 303:  # Airflow's own login, or the workspace's pointer to it
            assert (
                "login" in refused.headers["location"] or "inloggen" in refused.headers["location"]
            )
        else:
            assert refused.status_code in (401, 403)

    _signed_in(airflow_app, "anna")
    page = airflow_app.get("/wijkbrug/leveringen")
    assert page.status_code == 200 and "anna (data steward)" in page.text
    plugins = airflow_app.get("/api/v2/plugins").json()["plugins"]
    [ours] = [p for p in plugins if p["name"] == "wijkbrug"]
    assert [(v["name"], v["href"], v["destination"]) for v in ours["external_views"]] == [
        ("Werkplek stewards", "wijkbrug/", "nav")
    ], "the menu entry in Airflow's UI"

    _signed_in(airflow_app, "vera")
    page = airflow_app.get("/wijkbrug/leveringen")
    assert page.status_code == 200 and "vera (lezer)" in page.text, "unmapped users read only"
    assert airflow_app.get("/wijkbrug/inzage").status_code == 403
