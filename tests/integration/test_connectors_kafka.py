"""Connectors against the real broker: events read back by a plain consumer."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import orjson
import pytest
from connectors.consent_registry import ConsentRegistryConnector
from connectors.home_visits import HomeVisitsConnector
from connectors.partner_feedback import PartnerFeedbackConnector
from connectors.planning import PlanningConnector

from tests.support.topics import read_back
from wijkbrug.events import from_kafka
from wijkbrug.runner import run_file
from wijkbrug.settings import Settings

pytestmark = pytest.mark.kafka
FIXTURES = Path(__file__).parents[1] / "fixtures"
TODAY = date(2026, 11, 28)


def test_planning_events_land_keyed_by_unit_in_file_order(settings: Settings) -> None:
    summary = run_file(
        PlanningConnector(), FIXTURES / "stranger_planning_cp1252.csv", settings, today=TODAY
    )
    assert (summary.read, summary.published, summary.duplicates, summary.quarantined) == (
        17,
        7,
        2,
        8,
    )
    records = read_back(settings, "raw.renovation.milestone")
    assert len(records) == 7
    by_unit: dict[bytes, list] = defaultdict(list)
    for record in records:
        event = from_kafka(record.headers, record.key, record.value)
        assert record.key.decode() == event.get_data()["unit_id"] == event.get_subject()
        assert event.get_type() == "nl.wijkbrug.renovation.milestone"
        by_unit[record.key].append((record.partition, record.offset, event.get_data()))
    for events in by_unit.values():
        assert len({partition for partition, _, _ in events}) == 1, "one unit, one partition"
    unit_1 = [data["milestone"] for _, _, data in sorted(by_unit[b"40010001"])]
    assert unit_1 == [
        "huisbezoek_vooraf",
        "planning_gecommuniceerd",
        "berging_leeg",
        "berging_leeg",
    ], "a unit's events are in the order of the file"


def test_a_second_run_publishes_nothing_new(settings: Settings) -> None:
    path = FIXTURES / "stranger_planning_utf8bom.csv"
    run_file(PlanningConnector(), path, settings, today=TODAY)
    again = run_file(PlanningConnector(), path, settings, today=TODAY)
    assert (again.published, again.duplicates, again.quarantined) == (0, 9, 8)
    assert sum(again.events_published.values()) == 0
    assert len(read_back(settings, "raw.renovation.milestone")) == 7
    assert len(read_back(settings, "quarantine")) == 8


def test_quarantine_records_carry_reasons_and_source_lines(settings: Settings) -> None:
    run_file(PlanningConnector(), FIXTURES / "stranger_planning_cp1252.csv", settings, today=TODAY)
    records = read_back(settings, "quarantine")
    held = {}
    for record in records:
        data = from_kafka(record.headers, record.key, record.value).get_data()
        held[data["line"]] = data
    assert sorted(held) == [13, 14, 15, 16, 17, 18, 19, 20]
    assert [r["code"] for r in held[13]["reasons"]] == ["postcode.format"]
    assert held[13]["raw"].startswith("THEMA-DREVEN;CPX-OV-031;40010004;")
    assert held[13]["source_file"] == "stranger_planning_cp1252.csv"
    assert [r["code"] for r in held[18]["reasons"]] == ["field.missing"]
    assert {r.key for r in records if json.loads(r.value)["line"] == 18} == {b"onbekend"}


def test_dry_run_publishes_nothing(settings: Settings) -> None:
    summary = run_file(
        PlanningConnector(),
        FIXTURES / "stranger_planning_cp1252.csv",
        settings,
        dry_run=True,
        today=TODAY,
    )
    assert summary.published == 7 and summary.dry_run
    assert read_back(settings, "raw.renovation.milestone") == []


def test_the_synthetic_renovation_goes_through_every_connector(
    settings: Settings, dataset: Path
) -> None:
    manifest = json.loads((dataset / "manifest.json").read_text())["files"]
    runs = [
        (PlanningConnector(), "planning.csv"),
        (HomeVisitsConnector(), "home_visits.jsonl"),
        (ConsentRegistryConnector(), "consents.csv"),
        (PartnerFeedbackConnector(), "feedback.jsonl"),
    ]
    for connector, name in runs:
        summary = run_file(connector, dataset / name, settings, today=TODAY)
        expected = manifest[name]
        assert summary.read == expected["records"], name
        assert summary.quarantined == expected["faulty"], (name, summary.quarantine_reasons)
        assert summary.duplicates == expected["duplicates"], name
        assert summary.published == expected["valid"], name
        assert sorted(summary.quarantined_lines) == sorted(f["line"] for f in expected["faults"])
        by_line = {f["line"]: f["reason"] for f in expected["faults"]}
        for record in read_back(settings, "quarantine"):
            data = orjson.loads(record.value)
            if data["connector"] == connector.name:
                assert by_line[data["line"]] in {r["code"] for r in data["reasons"]}

    signals = read_back(settings, "raw.signal")
    assert signals, "the synthetic visits have consented signals"
    for record in signals:
        data = orjson.loads(record.value)
        assert data["consents"] and all(
            data["category"] in c["categories"] for c in data["consents"]
        )
    counts = [orjson.loads(r.value) for r in read_back(settings, "raw.monitoring.count")]
    assert all(
        set(c) <= {"complex", "iso_week", "category", "count", "with_signal"} for c in counts
    )
    consents = read_back(settings, "consent")
    assert {r.key for r in consents} and all(r.key.startswith(b"TST-") for r in consents)


def test_a_progress_bar_is_drawn_when_asked(settings: Settings, capsys) -> None:
    run_file(
        PlanningConnector(),
        FIXTURES / "stranger_planning_cp1252.csv",
        settings,
        dry_run=True,
        progress=True,
        today=TODAY,
    )
    err = capsys.readouterr().err
    assert "planning: stranger_planning_cp1252.csv" in err
    assert "100%" in err and "22/22" in err, "the bar ends at the file's last line"
