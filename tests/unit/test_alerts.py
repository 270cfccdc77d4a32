"""Milestone alerts in Dutch: what happens, when, where, on what the buurtteam may act."""

from __future__ import annotations

from datetime import date

import pytest

from wijkbrug.alerts import TEXTS, dutch_date, milestone_alert
from wijkbrug.codes import MILESTONES

MILESTONE = {
    "complex": "CPX-OV-031",
    "unit_id": "pseudo-unit",
    "tenant_number": "pseudo-tenant",
    "address": {"street": "Teststraat", "house_number": 12, "addition": "B", "postcode": "3563AB"},
    "milestone": "verhuisd_logeerwoning",
    "planned_date": "2026-03-14",
    "realised_date": None,
    "status": "gepland",
}
CONTACT = {"name": "Test Bewoner", "phone": "06-00000000"}


def test_every_milestone_has_a_text() -> None:
    assert set(TEXTS) == set(MILESTONES)


def test_dutch_date() -> None:
    assert dutch_date(date(2026, 3, 14)) == "14 maart 2026"
    assert dutch_date(date(2026, 12, 1)) == "1 december 2026"


def test_planned_move_alert_reads_as_dutch_and_states_the_facts() -> None:
    alert = milestone_alert(
        MILESTONE, purpose="doorverwijzing", categories=["schulden", "taal"], contact=CONTACT
    )
    assert alert["title"] == (
        "Verhuizing naar logeerwoning gepland: Teststraat 12B, 3563AB (complex CPX-OV-031)"
    )
    body = alert["body"]
    assert "Datum: gepland op 14 maart 2026" in body
    assert "Woning: Teststraat 12B, 3563AB" in body
    assert "logeerwoning" in body
    assert "U mag handelen op: schulden, taalbarrière" in body
    assert alert["date"] == "2026-03-14"
    assert alert["language"] == "nl"


def test_contact_details_only_for_a_warm_handover() -> None:
    referral = milestone_alert(
        MILESTONE, purpose="doorverwijzing", categories=["taal"], contact=CONTACT
    )
    assert referral["contact"] is None
    assert "Test Bewoner" not in referral["body"]
    assert "06-00000000" not in referral["body"]
    handover = milestone_alert(
        MILESTONE, purpose="warme_overdracht", categories=["taal"], contact=CONTACT
    )
    assert handover["contact"] == CONTACT
    assert "Contact: Test Bewoner, 06-00000000" in handover["body"]


def test_realised_renovation_says_the_final_visit_follows() -> None:
    data = {
        **MILESTONE,
        "milestone": "renovatie_opgeleverd",
        "status": "gerealiseerd",
        "realised_date": "2026-05-02",
    }
    alert = milestone_alert(data, purpose="informeren", categories=[], contact=None)
    assert alert["title"].startswith("Renovatie opgeleverd: afrondend huisbezoek volgt")
    assert "gerealiseerd op 2 mei 2026" in alert["body"]
    assert "geen signalen gedeeld" in alert["body"]


@pytest.mark.parametrize("address", ["CPX-OV-031", None])
def test_a_generalised_or_missing_address_names_only_the_complex(address: object) -> None:
    data = {**MILESTONE, "address": address}
    alert = milestone_alert(data, purpose="informeren", categories=[], contact=None)
    assert "complex CPX-OV-031" in alert["title"]
    assert "Teststraat" not in alert["body"]
