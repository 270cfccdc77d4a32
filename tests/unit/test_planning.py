from __future__ import annotations

import pytest
from connectors.planning import PlanningConnector

from tests.unit.helpers import fixture, run
from wijkbrug.formats import SourceFormatError

HEADER = "project;complex;vhe;straat;huisnummer;toevoeging;postcode;huurdernummer;mijlpaal;gepland;gerealiseerd;opmerking"
ROW = "THEMA-DREVEN;CPX-OV-031;40010001;Theemsdreef;101;;3563 ab;H0000001;berging_leeg;1-3-2026;{real};"


@pytest.mark.parametrize("name", ["stranger_planning_cp1252.csv", "stranger_planning_utf8bom.csv"])
def test_a_strangers_export_gives_exact_counts(name: str) -> None:
    summary, results = run(PlanningConnector(), fixture(name))
    assert (summary.read, summary.published, summary.duplicates, summary.quarantined) == (
        17,
        7,
        2,
        8,
    )
    assert summary.quarantined_lines == [13, 14, 15, 16, 17, 18, 19, 20]
    assert dict(summary.quarantine_reasons) == {
        "postcode.format": 1,
        "date.invalid": 1,
        "date.future": 1,
        "code.unknown": 1,
        "csv.field_count": 1,
        "field.missing": 1,
        "huisnummer.invalid": 1,
        "date.missing": 1,
    }
    milestones = [e.data for r in results for e in r.events if e.name == "renovation.milestone"]
    assert {m["address"]["postcode"] for m in milestones} == {"3563AB", "3563AC", "3563AD"}
    assert any(m["remark"] == 'Bewoner zegt: "lukt niet alleen"' for m in milestones)
    assert any(m["remark"] == "Twee regels:\ntweede regel van de opmerking" for m in milestones)
    assert any(m["address"]["street"] == "Café Renéedreef" for m in milestones)
    assert milestones[-1]["milestone"] == "afrondend_huisbezoek"


def test_both_encodings_give_the_same_events() -> None:
    ids = [
        [e.id for r in run(PlanningConnector(), fixture(name))[1] for e in r.events]
        for name in ("stranger_planning_cp1252.csv", "stranger_planning_utf8bom.csv")
    ]
    assert ids[0] == ids[1]


def test_a_valid_row_maps_to_one_milestone() -> None:
    _, [result] = run(PlanningConnector(), f"{HEADER}\n{ROW.format(real='2-3-2026')}\n".encode())
    [event] = result.events
    assert event.key == "40010001" and event.subject == "40010001"
    assert event.data == {
        "project": "THEMA-DREVEN",
        "complex": "CPX-OV-031",
        "unit_id": "40010001",
        "address": {
            "street": "Theemsdreef",
            "house_number": 101,
            "addition": None,
            "postcode": "3563AB",
        },
        "tenant_number": "H0000001",
        "milestone": "berging_leeg",
        "planned_date": "2026-03-01",
        "realised_date": "2026-03-02",
        "status": "gerealiseerd",
        "remark": None,
    }


def test_realising_a_planned_milestone_is_a_new_event() -> None:
    data = f"{HEADER}\n{ROW.format(real='')}\n{ROW.format(real='2-3-2026')}\n".encode()
    summary, results = run(PlanningConnector(), data)
    assert summary.published == 2
    assert [r.events[0].data["status"] for r in results] == ["gepland", "gerealiseerd"]


def test_a_second_run_publishes_nothing_new() -> None:
    data = fixture("stranger_planning_cp1252.csv")
    known: set[str] = set()
    first, _ = run(PlanningConnector(), data, known)
    second, results = run(PlanningConnector(), data, known)
    assert first.published == 7
    assert (second.published, second.duplicates, second.quarantined) == (0, 9, 8)
    assert all(not r.events for r in results), "quarantine records are not sent twice either"


def test_every_reason_of_a_bad_row_is_reported_without_its_values() -> None:
    row = "THEMA;CPX;40010001;Theemsdreef;1a;;0000XX;H1;sloop;31-2-2026;1-1-2099;"
    _, [result] = run(PlanningConnector(), f"{HEADER}\n{row}\n".encode())
    assert result.outcome == "quarantined"
    assert {(r.code, r.field) for r in result.reasons} == {
        ("huisnummer.invalid", "huisnummer"),
        ("postcode.format", "postcode"),
        ("code.unknown", "mijlpaal"),
        ("date.invalid", "gepland"),
        ("date.future", "gerealiseerd"),
    }
    [quarantine] = result.events
    assert quarantine.data["line"] == 2 and quarantine.data["raw"] == row
    for reason in quarantine.data["reasons"]:
        assert "0000XX" not in reason["message"] and "2099" not in reason["message"]


def test_a_missing_column_rejects_the_whole_file() -> None:
    with pytest.raises(SourceFormatError, match="postcode"):
        list(PlanningConnector().read(HEADER.replace(";postcode", "").encode()))


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(SourceFormatError):
        list(PlanningConnector().read(b"\r\n\r\n"))


def test_neither_utf8_nor_cp1252_is_refused() -> None:
    with pytest.raises(SourceFormatError):
        list(PlanningConnector().read(HEADER.encode() + b"\n\x81\x8d\xff\n"))


def test_a_comma_separated_export_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(SourceFormatError, match="niet gescheiden door ';'"):
        list(PlanningConnector().read(HEADER.replace(";", ",").encode() + b"\n"))


def test_a_utf16_export_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(SourceFormatError, match="UTF-16"):
        list(PlanningConnector().read(f"{HEADER}\n".encode("utf-16")))


def test_a_repeated_header_from_concatenated_exports_is_skipped() -> None:
    data = f"{HEADER}\n{ROW.format(real='')}\n{HEADER.upper()}\n{ROW.format(real='2-3-2026')}\n"
    summary, results = run(PlanningConnector(), data.encode())
    assert (summary.read, summary.published, summary.quarantined) == (2, 2, 0)
    assert [r.record.line for r in results] == [2, 4]
