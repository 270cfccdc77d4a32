"""The stewards' workspace in a real headless Chromium, against the real broker and stream.

Two milestones are quarantined by a running stream worker (a postcode that breaks the schema).
A viewer sees them masked and cannot act; a steward reveals one with a reason, rejects it, and
releases the other with a correction: both decisions are in the audit trail, and the corrected
milestone reaches the buurtteam's partner topic as an alert, which a privacy officer then finds
in an inzage request.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.browser import chromium, sign_in, workspace
from tests.support.stream import (
    Household,
    RawPublisher,
    TopicFollower,
    WorkerThread,
    consent_given,
    isolated,
    milestone,
    wait_until,
    worker_for,
)
from wijkbrug.events import Event
from wijkbrug.settings import Settings
from wijkbrug.web.users import set_user

pytestmark = pytest.mark.kafka
DAY = date(2026, 3, 10)
BUURTTEAM = "buurtteam-overvecht"
PASSWORDS = {
    "anna": "anna-steward-wachtwoord",
    "vera": "vera-lezer-wachtwoord",
    "pim": "pim-privacy-wachtwoord",
}


def _broken(home: Household, ident: str) -> tuple[Event, Event]:
    """A milestone as its source means it, and as it arrived: postcode "3562 AB"."""
    good = milestone(home, "renovatie_gestart", DAY + timedelta(days=3))
    data = json.loads(json.dumps(good.data))
    postcode = data["address"]["postcode"]
    data["address"]["postcode"] = f"{postcode[:4]} {postcode[4:]}"  # breaks the schema
    return good, Event(good.name, good.source, ident, good.key, data, good.subject)


def _open_record(chrome: WebDriver, base: str, unit: str) -> None:
    """From the quarantine list, the record about ``unit`` (the unit number is not masked)."""
    chrome.get(f"{base}/quarantaine?alle=1")
    links = chrome.find_elements(By.CSS_SELECTOR, "a[data-id]")
    for ident in [a.get_attribute("data-id") for a in links]:
        chrome.get(f"{base}/quarantaine/{ident}")
        if unit in chrome.find_element(By.ID, "ruw").text:
            return
    raise AssertionError(f"no quarantined record about unit {unit}")


def test_a_steward_releases_a_corrected_record_and_rejects_another_in_the_browser(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path / "state")
    users = tmp_path / "users.json"
    set_user(users, "anna", "steward", PASSWORDS["anna"])
    set_user(users, "vera", "viewer", PASSWORDS["vera"])
    set_user(users, "pim", "privacy", PASSWORDS["pim"])
    settings = settings.model_copy(update={"web_users_file": users})
    released_home = Household("74100101", "H7410101", street="Kiangstraat", postcode="3562AB")
    rejected_home = Household("74100102", "H7410102", street="Jangtsekiang", postcode="3563CD")
    good, bad = _broken(released_home, "andere-bron-1")
    _, other = _broken(rejected_home, "andere-bron-2")
    secrets = ("Kiangstraat", "Jangtsekiang", "H7410101", "H7410102", "3562 AB", "3563 CD")

    worker = worker_for(settings, DAY)
    quarantine = TopicFollower(settings, "quarantine")
    partner = TopicFollower(settings, f"deliver.{BUURTTEAM}")
    publisher = RawPublisher(settings)
    try:
        with WorkerThread(worker) as running:
            running.wait_assigned()
            consent = consent_given(
                released_home, "TST-WEB-1", BUURTTEAM, "informeren", ["eenzaamheid"], DAY
            )
            publisher.publish(consent)
            for event in (bad, other):
                message = event.to_kafka()
                publisher.publish_raw(
                    "raw.renovation.milestone",
                    event.key.encode(),
                    message.value,
                    list(message.headers.items()),
                )
            quarantine.wait(lambda records: len(records) >= 2, 30, "two quarantine records")

            with workspace(settings) as base, chromium() as chrome:
                # A viewer sees the records masked, and has nothing to act with.
                sign_in(chrome, base, "vera", PASSWORDS["vera"])
                _open_record(chrome, base, released_home.unit)
                page = chrome.page_source
                assert "persoonsgegevens gemaskeerd" in page
                assert not [s for s in secrets if s in page], "no personal value before a reveal"
                assert not chrome.find_elements(By.CSS_SELECTOR, "form.actie")
                record_url = chrome.current_url
                token = chrome.find_element(By.NAME, "csrf_token").get_attribute("value")
                cookie = chrome.get_cookie("wijkbrug_sessie")["value"]
                refused = httpx.post(
                    f"{record_url}/vrijgeven",
                    data={"csrf_token": token, "reden": "ik mag dit niet", "correcties": ""},
                    cookies={"wijkbrug_sessie": cookie},
                )
                assert refused.status_code == 403

                # The steward: reveal (with a reason), then reject that one.
                sign_in(chrome, base, "anna", PASSWORDS["anna"])
                _open_record(chrome, base, rejected_home.unit)
                assert "Jangtsekiang" not in chrome.page_source
                form = chrome.find_element(By.CSS_SELECTOR, "form[action$='/onthullen']")
                form.find_element(By.NAME, "reden").send_keys("adres controleren")
                form.find_element(By.CSS_SELECTOR, "button").click()
                wait_until(lambda: "onthuld; vastgelegd" in chrome.page_source, 20, "the reveal")
                assert "Jangtsekiang" in chrome.page_source
                form = chrome.find_element(By.CSS_SELECTOR, "form[action$='/afwijzen']")
                form.find_element(By.NAME, "reden").send_keys("dubbel aangeleverd")
                form.find_element(By.CSS_SELECTOR, "button").click()
                wait_until(lambda: "Afgewezen:" in chrome.page_source, 20, "the rejection")
                assert "afgewezen door anna" in chrome.find_element(By.ID, "status").text

                # ... and release the other, corrected.
                _open_record(chrome, base, released_home.unit)
                form = chrome.find_element(By.CSS_SELECTOR, "form[action$='/vrijgeven']")
                form.find_element(By.NAME, "correcties").send_keys("address.postcode=3562AB")
                form.find_element(By.NAME, "reden").send_keys("spatie in postcode weggehaald")
                form.find_element(By.CSS_SELECTOR, "button").click()
                wait_until(lambda: "Vrijgegeven:" in chrome.page_source, 30, "the release")
                assert "vrijgegeven door anna" in chrome.find_element(By.ID, "status").text

                chrome.get(f"{base}/audit")
                trail = chrome.find_element(By.ID, "audit").text
                assert "anna" in trail and "vrijgegeven (address.postcode)" in trail
                assert "spatie in postcode weggehaald" in trail
                assert "afgewezen" in trail and "dubbel aangeleverd" in trail
                assert "onthuld" in trail and "adres controleren" in trail
                assert "vera" not in trail, "the viewer's attempt changed nothing"
                assert not chrome.find_elements(By.LINK_TEXT, "Inzage"), "stewards: no inzage"

                alert = partner.wait_for_event(good.id, timeout_s=30)
                assert alert.envelope["kind"] == "alert"

                # The privacy officer finds that delivery in an inzage request.
                sign_in(chrome, base, "pim", PASSWORDS["pim"])
                chrome.find_element(By.LINK_TEXT, "Inzage").click()
                chrome.find_element(By.NAME, "huurder").send_keys(released_home.tenant)
                chrome.find_element(By.CSS_SELECTOR, "form.actie button").click()
                wait_until(lambda: chrome.find_elements(By.ID, "inzage"), 20, "the inzage answer")
                answer = chrome.find_element(By.ID, "inzage").text
                assert BUURTTEAM in answer and "TST-WEB-1" in answer and "alert" in answer
                assert rejected_home.tenant not in answer
    finally:
        quarantine.close()
        partner.close()
        publisher.close()
