from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from connectors.home_visits import HomeVisitsConnector

from tests.unit.helpers import run
from wijkbrug.units import Unit, register_from_milestones

UNITS = {"40010001": Unit("CPX-OV-031", frozenset({"H0000001"}))}
VISIT: dict[str, Any] = {
    "registratie_id": "HB-2026-000001",
    "bezoekdatum": "2026-03-04",
    "vhe": "40010001",
    "huurdernummer": "H0000001",
    "medewerker": "Sanne Verhoeven",
    "bewoner": {
        "naam": "Yusuf Yılmaz",
        "telefoon": "06-12345678",
        "geboortedatum": "1961-05-02",
        "bsn": "111222333",
        "taal": "tr",
    },
    "signalen": [
        {"categorie": "schulden", "urgentie": "hoog", "toelichting": "Achterstand huur"},
        {"categorie": "eenzaamheid", "urgentie": "normaal", "toelichting": None},
        {"categorie": "ggz", "urgentie": "normaal", "toelichting": "Somber"},
        {"categorie": "ggz", "urgentie": "laag", "toelichting": ""},
    ],
    "toestemmingen": [
        {
            "partner": "buurtteam-overvecht",
            "doel": "warme_overdracht",
            "categorieen": ["schulden", "opvoeding"],
            "geldig_tot": "2026-12-31",
        },
        {
            "partner": "gemeente-werk-inkomen",
            "doel": "doorverwijzing",
            "categorieen": ["schulden"],
            "geldig_tot": "2026-09-30",
        },
        {
            "partner": "dock",
            "doel": "informeren",
            "categorieen": ["eenzaamheid"],
            "geldig_tot": "2026-03-03",
        },  # expired before the visit
    ],
}


def _line(visit: dict[str, Any]) -> bytes:
    return orjson.dumps(visit) + b"\n"


def _events(visit: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    _, [result] = run(HomeVisitsConnector(), _line(visit), units=UNITS)
    assert result.outcome == "published", result.reasons
    by_name: dict[str, list[dict[str, Any]]] = {}
    for event in result.events:
        by_name.setdefault(event.name, []).append(event.data)
    return by_name


def test_only_signals_a_valid_consent_covers_are_published_person_level() -> None:
    events = _events(VISIT)
    [signal] = events["signal.consented"]
    assert signal["category"] == "schulden"
    assert [c["partner"] for c in signal["consents"]] == [
        "buurtteam-overvecht",
        "gemeente-werk-inkomen",
    ]
    assert (
        signal["consents"][0]["consent_ref"]
        == "HB-2026-000001/buurtteam-overvecht/warme_overdracht"
    )
    assert signal["resident"]["bsn"] == "111222333" and signal["complex"] == "CPX-OV-031"


def test_every_other_signal_becomes_a_deidentified_count() -> None:
    events = _events(VISIT)
    counts = {c["category"]: c for c in events["signal.count"]}
    # eenzaamheid: DOCK's consent expired the day before the visit; ggz: nobody consented.
    assert counts == {
        "eenzaamheid": {
            "complex": "CPX-OV-031",
            "iso_week": "2026-W10",
            "category": "eenzaamheid",
            "count": 1,
        },
        "ggz": {"complex": "CPX-OV-031", "iso_week": "2026-W10", "category": "ggz", "count": 2},
    }
    assert events["visit.count"] == [
        {"complex": "CPX-OV-031", "iso_week": "2026-W10", "count": 1, "with_signal": True}
    ]


def test_counts_carry_no_unit_and_are_keyed_by_complex() -> None:
    _, [result] = run(HomeVisitsConnector(), _line(VISIT), units=UNITS)
    for event in result.events:
        if event.name.endswith(".count"):
            assert event.key == "CPX-OV-031" and event.subject is None
            assert "40010001" not in orjson.dumps(event.data).decode()


def test_a_visit_without_any_consent_publishes_nothing_person_level() -> None:
    visit = copy.deepcopy(VISIT) | {"toestemmingen": []}
    events = _events(visit)
    assert "signal.consented" not in events
    assert sum(c["count"] for c in events["signal.count"]) == 4


@pytest.mark.parametrize(
    "change, code",
    [
        (lambda v: v["bewoner"].update(bsn="123456789"), "bsn.elfproef"),
        (lambda v: v["signalen"][0].update(categorie="onbekend"), "code.unknown"),
        (lambda v: v["toestemmingen"][0].update(partner="politie"), "partner.unknown"),
        (
            lambda v: v["toestemmingen"][0].update(partner="wijkaanpak-monitoring"),
            "partner.aggregates_only",
        ),
        (lambda v: v.update(bezoekdatum="2026-02-30"), "date.invalid"),
        (lambda v: v.update(bezoekdatum="2099-01-01"), "date.future"),
        (lambda v: v.update(vhe="49999999"), "vhe.unknown"),
        (lambda v: v.update(huurdernummer="H0000002"), "huurder.mismatch"),
        (lambda v: v["bewoner"].pop("naam"), "field.missing"),
        (lambda v: v.update(signalen="schulden"), "field.type"),
        (lambda v: v["bewoner"].update(telefoon="bel mij"), "telefoon.format"),
    ],
)
def test_a_bad_visit_is_quarantined_as_a_whole(change, code: str) -> None:
    visit = copy.deepcopy(VISIT)
    change(visit)
    _, [result] = run(HomeVisitsConnector(), _line(visit), units=UNITS)
    assert result.outcome == "quarantined"
    assert code in {r.code for r in result.reasons}
    assert [e.name for e in result.events] == ["quarantine.record"]


def test_a_broken_line_does_not_stop_the_run() -> None:
    data = (
        _line(VISIT)
        + b'{"registratie_id": "HB-2026-0000\n'
        + b"[1, 2]\n\n"
        + _line(copy.deepcopy(VISIT) | {"registratie_id": "HB-2026-000002"})
    )
    summary, results = run(HomeVisitsConnector(), data, units=UNITS)
    assert (summary.read, summary.published, summary.quarantined) == (4, 2, 2)
    assert [r.record.line for r in results] == [1, 2, 3, 5]
    assert summary.quarantine_reasons == {"json.invalid": 2}


def test_event_ids_are_stable_per_registration_and_signal() -> None:
    first = [e.id for e in run(HomeVisitsConnector(), _line(VISIT), units=UNITS)[1][0].events]
    again = [e.id for e in run(HomeVisitsConnector(), _line(VISIT), units=UNITS)[1][0].events]
    other = copy.deepcopy(VISIT) | {"registratie_id": "HB-2026-000009"}
    moved = [e.id for e in run(HomeVisitsConnector(), _line(other), units=UNITS)[1][0].events]
    assert first == again and not set(first) & set(moved)


def test_the_unit_register_keeps_every_tenant_a_home_was_listed_with() -> None:
    milestones = [
        {"unit_id": "1", "complex": "A", "tenant_number": "H1"},
        {"unit_id": "1", "complex": "A", "tenant_number": "H2"},  # a new tenant after a move
        {"unit_id": "2", "complex": "B", "tenant_number": None},  # vacant
    ]
    assert register_from_milestones(milestones) == {
        "1": Unit("A", frozenset({"H1", "H2"})),
        "2": Unit("B", frozenset()),
    }
