from __future__ import annotations

import orjson
import pytest
from connectors.consent_registry import ConsentRegistryConnector
from connectors.partner_feedback import PartnerFeedbackConnector

from tests.unit.helpers import run

HEADER = "toestemming_id;status;huurdernummer;vhe;partner;doel;categorieen;ingangsdatum;geldig_tot;mutatiedatum;registratie_id"
GIVEN = "TST-000001;gegeven;H0000001;40010001;buurtteam-overvecht;warme_overdracht;schulden|ggz;4-3-2026;31-12-2026;4-3-2026;HB-2026-000001"
WITHDRAWN = "TST-000001;ingetrokken;H0000001;40010001;buurtteam-overvecht;warme_overdracht;;4-3-2026;31-12-2026;1-5-2026;HB-2026-000001"
EXPIRED = "TST-000001;verlopen;H0000001;40010001;buurtteam-overvecht;warme_overdracht;;;;1-1-2027;"


def test_consent_changes_map_to_their_event_types_keyed_by_consent() -> None:
    data = "\n".join([HEADER, GIVEN, WITHDRAWN]).encode()
    summary, results = run(ConsentRegistryConnector(), data)
    assert summary.published == 2
    given, withdrawn = (r.events[0] for r in results)
    assert (given.name, withdrawn.name) == ("consent.given", "consent.withdrawn")
    assert given.key == withdrawn.key == "TST-000001"
    assert given.data["categories"] == ["ggz", "schulden"]
    assert given.data["valid_until"] == "2026-12-31"
    assert withdrawn.data["withdrawn_on"] == "2026-05-01"


def test_json_lines_give_the_same_events_as_csv() -> None:
    keys = HEADER.split(";")
    record = dict(zip(keys, GIVEN.split(";"), strict=True)) | {"categorieen": ["schulden", "ggz"]}
    _, [from_json] = run(ConsentRegistryConnector(json_lines=True), orjson.dumps(record))
    _, [from_csv] = run(ConsentRegistryConnector(), f"{HEADER}\n{GIVEN}\n".encode())
    assert from_json.events[0].id == from_csv.events[0].id
    assert from_json.events[0].data == from_csv.events[0].data


@pytest.mark.parametrize(
    "row, code",
    [
        (GIVEN.replace("buurtteam-overvecht", "politie"), "partner.unknown"),
        (GIVEN.replace("buurtteam-overvecht", "wijkaanpak-monitoring"), "partner.aggregates_only"),
        (GIVEN.replace(";gegeven;", ";misschien;"), "code.unknown"),
        (GIVEN.replace("31-12-2026", "31-13-2026"), "date.invalid"),
        (GIVEN.replace("31-12-2026", "1-1-2026"), "date.order"),
        (GIVEN.replace("schulden|ggz", ""), "field.missing"),
        (GIVEN.replace("schulden|ggz", "schulden|roddel"), "code.unknown"),
        (EXPIRED, "date.future"),
    ],
)
def test_bad_consent_rows_are_quarantined(row: str, code: str) -> None:
    _, [result] = run(ConsentRegistryConnector(), f"{HEADER}\n{row}\n".encode())
    assert result.outcome == "quarantined"
    assert code in {r.code for r in result.reasons}


FEEDBACK = {
    "terugmelding_id": "TM-000001",
    "partner": "dock",
    "vhe": "40010001",
    "huurdernummer": "H0000001",
    "datum": "2026-03-20",
    "soort": "contact_gelegd",
    "toelichting": None,
    "registratie_id": "HB-2026-000001",
}


def test_feedback_maps_and_bad_feedback_is_quarantined() -> None:
    bad_kind = FEEDBACK | {"terugmelding_id": "TM-2", "soort": "onbekend"}
    bad_partner = FEEDBACK | {"terugmelding_id": "TM-3", "partner": "politie"}
    data = b"\n".join(orjson.dumps(x) for x in (FEEDBACK, bad_kind, bad_partner)) + b"\n{oops\n"
    summary, results = run(PartnerFeedbackConnector(), data)
    assert (summary.read, summary.published, summary.quarantined) == (4, 1, 3)
    assert results[0].events[0].data["kind"] == "contact_gelegd"
    assert results[0].events[0].key == "40010001"
    assert dict(summary.quarantine_reasons) == {
        "code.unknown": 1,
        "partner.unknown": 1,
        "json.invalid": 1,
    }
