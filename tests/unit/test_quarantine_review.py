"""The steward's review core: masking, corrections, release through the connector, status."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from connectors.consent_registry import ConsentRegistryConnector
from connectors.home_visits import HomeVisitsConnector
from connectors.partner_feedback import PartnerFeedbackConnector
from connectors.planning import PlanningConnector

from tests.unit.helpers import context, run
from wijkbrug import quarantine_review as review
from wijkbrug.codes import CONSENT_COLUMNS, PLANNING_COLUMNS
from wijkbrug.events import SOURCE_PREFIX, event_id
from wijkbrug.quarantine_review import MASK, AuditEntry, Fix, FixError, HeldRecord
from wijkbrug.reasons import Reason
from wijkbrug.schemas import latest
from wijkbrug.units import register_from_milestones

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
VISITS_SOURCE = SOURCE_PREFIX + "home-visits"
PLANNING_SOURCE = SOURCE_PREFIX + "planning"

#: What the brief calls personal (names, phone, e-mail, BSN, birth date, address, tenant
#: number, free text), per source format: stated here independently of the reviewed YAML.
PERSONAL: dict[str, set[str]] = {
    "planning": {"straat", "huisnummer", "toevoeging", "postcode", "huurdernummer", "opmerking"},
    "home-visits": {
        "huurdernummer",
        "medewerker",
        "bewoner.naam",
        "bewoner.telefoon",
        "bewoner.geboortedatum",
        "bewoner.bsn",
        "signalen.toelichting",
    },
    "consents": {"huurdernummer"},
    "feedback": {"huurdernummer", "toelichting"},
    "stream": {
        "tenant_number",
        "address.street",
        "address.house_number",
        "address.addition",
        "address.postcode",
        "remark",
        "registered_by",
        "resident.name",
        "resident.phone",
        "resident.birth_date",
        "resident.bsn",
        "note",
    },
}
#: Values shorter than this are not looked for as substrings (a house number is in every date).
LONG = 5


def held(connector: str, raw: str, source_file: str = "bron.jsonl", line: int = 2) -> HeldRecord:
    return HeldRecord(
        id=str(uuid.uuid4()),
        time=NOW,
        key="40010001",
        connector=connector,
        source_file=source_file,
        source_sha256="0" * 64,
        line=line,
        reasons=(Reason("field.missing", "vhe"),),
        raw=raw,
    )


def leaf_paths(value: Any, parts: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(path without list positions, value) of every leaf of a JSON value."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaf_paths(item, (*parts, key))
    elif isinstance(value, list) and value:
        for item in value:
            yield from leaf_paths(item, parts)
    else:
        yield ".".join(parts), value


def schema_paths(node: dict[str, Any], parts: tuple[str, ...] = ()) -> Iterator[str]:
    if "properties" in node:
        for key, child in node["properties"].items():
            yield from schema_paths(child, (*parts, key))
    elif "items" in node and isinstance(node["items"], dict) and "properties" in node["items"]:
        yield from schema_paths(node["items"], parts)
    else:
        yield ".".join(parts)


# -- the synthetic sources, as records ---------------------------------------------------------


def _csv_rows(path: Path, encoding: str) -> list[tuple[str, dict[str, str] | None]]:
    """(raw line, fields by header) per data line; None where the column count is off."""
    lines = path.read_bytes().decode(encoding).splitlines()
    header = next(csv.reader([lines[0]], delimiter=";"))
    rows = []
    for line in lines[1:]:
        cells = next(csv.reader([line], delimiter=";"))
        fields = dict(zip(header, cells, strict=True)) if len(cells) == len(header) else None
        rows.append((line, fields))
    return rows


def _json_lines(path: Path) -> list[tuple[str, Any]]:
    result = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            result.append((line, json.loads(line)))
        except ValueError:
            result.append((line, None))
    return result


@pytest.fixture(scope="module")
def sources(dataset: Path) -> dict[str, list[tuple[HeldRecord, Any]]]:
    """Every record of every synthetic source as a quarantine record of its connector, with
    its fields parsed independently (None for a broken record)."""
    consents_csv = _csv_rows(dataset / "consents.csv", "utf-8")
    consents_json = [
        (orjson.dumps(f | {"categorieen": f["categorieen"].split("|")}).decode(), None)
        for _, f in consents_csv
        if f is not None
    ]
    records: dict[str, list[tuple[HeldRecord, Any]]] = {
        "planning": [
            (held("planning", raw, "planning.csv"), fields)
            for raw, fields in _csv_rows(dataset / "planning.csv", "cp1252")
        ],
        "home-visits": [
            (held("home-visits", raw, "home_visits.jsonl"), fields)
            for raw, fields in _json_lines(dataset / "home_visits.jsonl")
        ],
        "consents": [(held("consents", raw, "consents.csv"), f) for raw, f in consents_csv]
        + [(held("consents", raw, "consents.jsonl"), json.loads(raw)) for raw, _ in consents_json],
        "feedback": [
            (held("feedback", raw, "feedback.jsonl"), fields)
            for raw, fields in _json_lines(dataset / "feedback.jsonl")
        ],
    }
    stream = []
    planning = (dataset / "planning.csv").read_bytes()
    _, results = run(PlanningConnector(), planning)
    milestones = [e.data for r in results for e in r.events if e.name == "renovation.milestone"]
    _, visits = run(
        HomeVisitsConnector(),
        (dataset / "home_visits.jsonl").read_bytes(),
        units=register_from_milestones(milestones),
    )
    signals = [e.data for r in visits for e in r.events if e.name == "signal.consented"]
    assert milestones and signals
    for topic, data in [("raw.renovation.milestone", d) for d in milestones[:300]] + [
        ("raw.signal", d) for d in signals[:300]
    ]:
        stream.append((held("stream", orjson.dumps(data).decode(), topic), data))
    records["stream"] = stream
    return records


# -- the reviewed field lists ------------------------------------------------------------------


def test_every_field_of_every_source_format_is_classified_once() -> None:
    policies = review.load_policies()
    assert set(policies) == {"planning", "home-visits", "consents", "feedback", "stream"}
    for name, policy in policies.items():
        assert not policy.public & policy.personal, name
        assert PERSONAL[name] <= policy.personal, f"{name}: personal fields shown"
    for name, columns in (("planning", PLANNING_COLUMNS), ("consents", CONSENT_COLUMNS)):
        unclassified = [c for c in columns if not policies[name].known(c)]
        assert unclassified == [], name
    stream = policies["stream"]
    for event in ("renovation.milestone", "signal.consented"):
        paths = set(schema_paths(latest(event).document))
        assert paths and {p for p in paths if not stream.known(p)} == set(), event


def test_every_field_the_synthetic_json_sources_carry_is_classified(sources) -> None:
    for name in ("home-visits", "feedback", "consents"):
        policy = review.load_policies()[name]
        seen = {
            path
            for _, fields in sources[name]
            if isinstance(fields, dict)
            for path, value in leaf_paths(fields)
            if value not in ([], {})  # an empty list holds nothing to classify
        }
        assert seen and {p for p in seen if not policy.known(p)} == set(), name


# -- masking -----------------------------------------------------------------------------------


def _assert_masked(record: HeldRecord, fields: dict[str, Any], personal: set[str]) -> None:
    """Every non-empty personal value masked, every public one shown as it was."""
    policy = review.policy_for(record)
    shown = review.view(record, policy)
    if policy.columns is not None:
        [cells] = csv.reader(io.StringIO(shown.raw, newline=""), delimiter=";")
        masked: Any = dict(zip(policy.columns, cells, strict=True))
    else:
        masked = orjson.loads(shown.raw)
    before, after = list(leaf_paths(fields)), list(leaf_paths(masked))
    assert [p for p, _ in before] == [p for p, _ in after], "masking keeps the layout"
    assert [p for p, _ in before] == [review.policy_path(p) for p, _ in shown.fields]
    for (path, value), (_, raw_value), (_, field_value) in zip(
        before, after, shown.fields, strict=True
    ):
        if path in personal and value not in (None, ""):
            assert (raw_value, field_value) == (MASK, MASK), (record.connector, path)
            if len(str(value)) >= LONG:
                assert str(value) not in shown.raw, (record.connector, path)
        elif policy.shown(path):
            assert raw_value == value, "public fields stay readable"
            assert field_value == json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("connector", ["planning", "home-visits", "consents", "feedback", "stream"])
def test_masking_hides_every_personal_field_of_each_raw_format(sources, connector: str) -> None:
    checked = 0
    for record, fields in sources[connector]:
        if isinstance(fields, dict):
            _assert_masked(record, fields, PERSONAL[connector])
            checked += 1
    assert checked > 20


_PERSONAL_JSON = re.compile(
    r'"(?:naam|telefoon|bsn|geboortedatum|huurdernummer|medewerker|toelichting)":\s*"([^"]*)'
)


@pytest.mark.parametrize("connector", ["home-visits", "feedback"])
def test_a_truncated_json_line_is_masked_too(sources, connector: str) -> None:
    broken = [record for record, fields in sources[connector] if fields is None]
    assert broken, "the synthetic data plants truncated lines"
    for record in broken:
        values = [v for v in _PERSONAL_JSON.findall(record.raw) if len(v) >= LONG]
        assert values, "the truncated line holds personal data"
        shown = review.view(record, review.policy_for(record))
        assert shown.fields is None
        assert not [v for v in values if v in shown.raw]
        assert '"vhe": "' in shown.raw and MASK in shown.raw, "layout and public fields stay"


def test_a_csv_row_with_a_column_missing_is_masked_whole(sources) -> None:
    broken = [record for record, fields in sources["planning"] if fields is None]
    assert broken, "the synthetic planning has a row with a column missing"
    for record in broken:
        shown = review.view(record, review.policy_for(record))
        cells = next(csv.reader([shown.raw], delimiter=";"))
        assert set(cells) <= {MASK, ""} and MASK in cells
        assert shown.fields is None


def test_an_unknown_field_is_masked_until_it_is_reviewed() -> None:
    raw = json.dumps({"terugmelding_id": "TM-1", "email": "a.bewoner@example.nl", "vhe": "4001"})
    shown = review.view(held("feedback", raw), review.policy_for(held("feedback", raw)))
    assert "a.bewoner@example.nl" not in shown.raw
    assert dict(shown.fields)["email"] == MASK
    assert dict(shown.fields)["terugmelding_id"] == '"TM-1"'
    assert ("email", "a.bewoner@example.nl") in shown.hidden


def test_reveal_shows_the_record_as_it_was() -> None:
    raw = '{"vhe": "40010001", "bewoner": {"naam": "Fatima El Amrani", "bsn": "111222333"}}'
    record = held("home-visits", raw)
    shown = review.view(record, review.policy_for(record), reveal=True)
    assert shown.raw == raw
    assert dict(shown.fields)["bewoner.bsn"] == '"111222333"'
    assert ("bewoner.naam", "Fatima El Amrani") in shown.hidden


def test_empty_personal_fields_show_that_they_are_empty() -> None:
    raw = '{"vhe": "40010001", "huurdernummer": "", "bewoner": {"naam": null}}'
    shown = review.view(held("home-visits", raw), review.policy_for(held("home-visits", raw)))
    assert dict(shown.fields) == {
        "vhe": '"40010001"',
        "huurdernummer": '""',
        "bewoner.naam": "null",
    }


def test_a_reason_that_quotes_a_hidden_value_is_caught() -> None:
    hidden = [("bewoner.bsn", "111222333"), ("bewoner.telefoon", "06-12345678"), ("x", "12")]
    assert review.values_named("BSN 111222333 klopt niet", hidden) == ["bewoner.bsn"]
    assert review.values_named("nummer 06 1234 5678 gebeld", hidden) == ["bewoner.telefoon"]
    assert review.values_named("elfproef faalt, bron gecorrigeerd", hidden) == []
    assert review.values_named("regel 12", hidden) == [], "short values are not checked"
    names = [("bewoner.naam", "Fatima El Amrani")]
    assert review.values_named("gebeld met fatima el amrani", names) == ["bewoner.naam"]


# -- corrections -------------------------------------------------------------------------------


def test_fixes_are_parsed_as_text_or_as_json() -> None:
    assert review.parse_fix("bewoner.bsn=012345678") == Fix("bewoner.bsn", "012345678")
    assert review.parse_fix("toevoeging=") == Fix("toevoeging", "")
    assert review.parse_fix("signal_index:=2") == Fix("signal_index", 2)
    assert review.parse_fix("signalen.0.toelichting:=null") == Fix("signalen.0.toelichting", None)
    assert review.parse_fix("opmerking=a=b") == Fix("opmerking", "a=b")


@pytest.mark.parametrize("text", ["111222333", "=x", "bewoner..bsn=1", "0abc=1", "a b=1"])
def test_a_malformed_fix_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(FixError) as error:
        review.parse_fix(text)
    assert "111222333" not in str(error.value) and "a b" not in str(error.value)


def test_a_fix_with_broken_json_names_the_field_not_the_value() -> None:
    with pytest.raises(FixError, match=r"bewoner\.bsn") as error:
        review.parse_fix("bewoner.bsn:=11122[")
    assert "11122[" not in str(error.value)


PLANNING_ROW = (
    "THEMA-DREVEN;CPX-OV-031;40010004;Theemsdreef;105;;356 AB;H0000004;huisbezoek_vooraf;5-1-2026;;"
)


def test_a_csv_fix_replaces_the_named_column_only() -> None:
    record = held("planning", PLANNING_ROW, "planning.csv")
    policy = review.policy_for(record)
    fixed = review.apply_fixes(record, policy, [Fix("postcode", "3563AB"), Fix("toevoeging", "a")])
    assert fixed == PLANNING_ROW.replace("356 AB", "3563AB").replace("105;;", "105;a;")
    assert review.apply_fixes(record, policy, []) == PLANNING_ROW


def test_a_json_fix_sets_nested_fields_and_list_items() -> None:
    visit = {"bewoner": {"naam": "X", "bsn": "1"}, "signalen": [{"categorie": "onbekend"}]}
    record = held("home-visits", json.dumps(visit))
    fixes = [
        Fix("bewoner.bsn", "111222333"),
        Fix("signalen.0.categorie", "schulden"),
        Fix("bezoekdatum", "2026-03-04"),
    ]
    fixed = json.loads(review.apply_fixes(record, review.policy_for(record), fixes))
    assert fixed == {
        "bewoner": {"naam": "X", "bsn": "111222333"},
        "signalen": [{"categorie": "schulden"}],
        "bezoekdatum": "2026-03-04",
    }


@pytest.mark.parametrize(
    "connector, raw, fixes, named",
    [
        ("home-visits", '{"vhe": "1"}', [Fix("wachtwoord", "111222333")], "wachtwoord"),
        ("home-visits", '{"vhe": "1"}', [Fix("vhe", "2"), Fix("vhe", "111222333")], "vhe"),
        ("home-visits", '{"signalen": []}', [Fix("signalen.0.categorie", "x")], "signalen.0"),
        ("home-visits", '{"bewoner": "111222333"}', [Fix("bewoner.bsn", "1")], "bewoner"),
        ("planning", "a;b", [Fix("postcode", "111222333")], None),
        ("planning", PLANNING_ROW, [Fix("postcode", 111222333)], "postcode"),
        ("home-visits", '{"vhe": "1", "bsn', [Fix("vhe", "111222333")], None),
    ],
)
def test_a_fix_that_cannot_apply_says_which_field_never_the_value(
    connector: str, raw: str, fixes: list[Fix], named: str | None
) -> None:
    record = held(connector, raw, "planning.csv" if connector == "planning" else "b.jsonl")
    with pytest.raises(FixError) as error:
        review.apply_fixes(record, review.policy_for(record), fixes)
    assert "111222333" not in str(error.value)
    if named:
        assert named in str(error.value)


# -- release through the connector -------------------------------------------------------------

UNIT = {"vhe": "40010001", "huurdernummer": "H0000001"}
VISIT = {
    "registratie_id": "HB-2026-000009",
    "bezoekdatum": "2026-03-04",
    **UNIT,
    "medewerker": "Sanne Verhoeven",
    "bewoner": {"naam": "Yusuf Yılmaz", "telefoon": "06-12345678", "geboortedatum": "1961-05-02"},
    "signalen": [{"categorie": "schulden", "urgentie": "hoog", "toelichting": "Huur"}],
    "toestemmingen": [
        {
            "partner": "politie",
            "doel": "doorverwijzing",
            "categorieen": ["schulden"],
            "geldig_tot": "2026-12-31",
        }
    ],
}
MILESTONE_ROWS = "project;complex;vhe;straat;huisnummer;toevoeging;postcode;huurdernummer;mijlpaal;gepland;gerealiseerd;opmerking\nTHEMA-DREVEN;CPX-OV-031;40010001;Theemsdreef;101;;3563AB;H0000001;huisbezoek_vooraf;5-1-2026;;\n"


def _units() -> dict:
    _, results = run(PlanningConnector(), MILESTONE_ROWS.encode())
    return register_from_milestones(e.data for r in results for e in r.events)


def _quarantined(connector, data: bytes, units=None) -> HeldRecord:
    _, [result] = run(connector, data, units=units)
    assert result.outcome == "quarantined"
    [event] = result.events
    return HeldRecord.from_event(event.id, event.time, event.key, event.data)


def test_a_corrected_record_publishes_the_events_its_source_identity_gives() -> None:
    record = _quarantined(HomeVisitsConnector(), orjson.dumps(VISIT), _units())
    assert [r.code for r in record.reasons] == ["partner.unknown"]
    fix = [Fix("toestemmingen.0.partner", "buurtteam-overvecht")]
    release = review.release_connector_record(
        HomeVisitsConnector(), record, review.policy_for(record), fix, set(), context(_units())
    )
    assert not release.refused and not release.duplicate
    by_name = {e.name: e for e in release.events}
    assert set(by_name) == {"signal.consented", "visit.count"}
    signal = by_name["signal.consented"]
    assert signal.id == event_id(VISITS_SOURCE, "HB-2026-000009", "signal", 0)
    assert signal.data["consents"][0]["partner"] == "buurtteam-overvecht"
    assert by_name["visit.count"].id == event_id(
        VISITS_SOURCE, "HB-2026-000009", "visit.count", None
    )
    corrected = dict(
        VISIT, toestemmingen=[dict(VISIT["toestemmingen"][0], partner="buurtteam-overvecht")]
    )
    _, [direct] = run(HomeVisitsConnector(), orjson.dumps(corrected), units=_units())
    assert [e.id for e in release.events] == [e.id for e in direct.events], (
        "the same ids as if the source had been right"
    )


def test_a_correction_that_still_breaks_a_rule_is_refused_with_every_reason() -> None:
    record = _quarantined(HomeVisitsConnector(), orjson.dumps(VISIT), _units())
    fix = [
        Fix("toestemmingen.0.partner", "wijkaanpak-monitoring"),
        Fix("bezoekdatum", "2026-02-30"),
    ]
    release = review.release_connector_record(
        HomeVisitsConnector(), record, review.policy_for(record), fix, set(), context(_units())
    )
    assert release.refused and release.events == ()
    assert {(r.code, r.field) for r in release.reasons} == {
        ("partner.aggregates_only", "partner"),
        ("date.invalid", "bezoekdatum"),
    }


def test_a_record_already_published_since_is_released_without_new_events() -> None:
    record = _quarantined(
        PlanningConnector(), (MILESTONE_ROWS.replace("3563AB", "356 AB")).encode()
    )
    fix = [Fix("postcode", "3563AB")]
    policy = review.policy_for(record)
    assert policy.columns == PLANNING_COLUMNS
    first = review.release_connector_record(
        PlanningConnector(), record, policy, fix, set(), context()
    )
    [event] = first.events
    assert event.id == event_id(
        PLANNING_SOURCE, "40010001", "huisbezoek_vooraf", "2026-01-05", None
    )
    assert event.data["address"]["postcode"] == "3563AB"
    again = review.release_connector_record(
        PlanningConnector(), record, policy, fix, {event.id}, context()
    )
    assert again.duplicate and again.events == () and not again.refused


def test_a_visit_to_an_unknown_unit_is_released_as_is_once_the_planning_is_in() -> None:
    visit = dict(VISIT, toestemmingen=[])
    record = _quarantined(HomeVisitsConnector(), orjson.dumps(visit), units={})
    assert [r.code for r in record.reasons] == ["vhe.unknown"]
    policy = review.policy_for(record)
    before = review.release_connector_record(
        HomeVisitsConnector(), record, policy, [], set(), context({})
    )
    assert [r.code for r in before.reasons] == ["vhe.unknown"]
    after = review.release_connector_record(
        HomeVisitsConnector(), record, policy, [], set(), context(_units())
    )
    assert [e.name for e in after.events] == ["visit.count", "signal.count"]


def test_a_consent_row_is_released_through_its_own_format() -> None:
    header = ";".join(CONSENT_COLUMNS)
    row = "TST-000009;gegeven;H0000001;40010001;politie;informeren;schulden;2026-03-04;2026-12-31;2026-03-04;"
    for connector, data, name in (
        (ConsentRegistryConnector(), f"{header}\n{row}\n", "consents.csv"),
        (
            ConsentRegistryConnector(json_lines=True),
            json.dumps(dict(zip(CONSENT_COLUMNS, row.split(";"), strict=True))) + "\n",
            "consents.jsonl",
        ),
    ):
        record = replace_source(_quarantined(connector, data.encode()), name)
        fix = [Fix("partner", "dock")]
        release = review.release_connector_record(
            connector, record, review.policy_for(record), fix, set(), context()
        )
        [event] = release.events
        assert event.name == "consent.given" and event.data["partner"] == "dock"
        assert event.id == event_id(
            SOURCE_PREFIX + "consents", "TST-000009", "gegeven", "2026-03-04"
        )


def replace_source(record: HeldRecord, source_file: str) -> HeldRecord:
    from dataclasses import replace

    return replace(record, source_file=source_file)


def test_feedback_is_released_through_its_connector() -> None:
    line = {
        "terugmelding_id": "TM-000009",
        "partner": "politie",
        **UNIT,
        "datum": "2026-03-10",
        "soort": "contact_gelegd",
        "toelichting": "Gebeld",
        "registratie_id": "HB-2026-000009",
    }
    record = _quarantined(PartnerFeedbackConnector(), orjson.dumps(line))
    release = review.release_connector_record(
        PartnerFeedbackConnector(),
        record,
        review.policy_for(record),
        [Fix("partner", "dock")],
        set(),
        context(),
    )
    [event] = release.events
    assert event.id == event_id(
        SOURCE_PREFIX + "feedback", "TM-000009", "contact_gelegd", "2026-03-10"
    )


def test_an_unreadable_record_stays_refused_when_released_as_is() -> None:
    record = held("home-visits", '{"registratie_id": "HB-1", "bew', "v.jsonl")
    release = review.release_connector_record(
        HomeVisitsConnector(), record, review.policy_for(record), [], set(), context()
    )
    assert [r.code for r in release.reasons] == ["json.invalid"]


# -- release of a raw-topic event the stream held back -----------------------------------------


def _stream_record(data: dict[str, Any], topic: str = "t.raw.renovation.milestone") -> HeldRecord:
    return held("stream", json.dumps(data), topic)


def _milestone() -> Any:
    _, [result] = run(PlanningConnector(), MILESTONE_ROWS.encode())
    [event] = result.events
    return event


def _signal() -> Any:
    visit = dict(VISIT, toestemmingen=[dict(VISIT["toestemmingen"][0], partner="dock")])
    visit["signalen"] = [{"categorie": "eenzaamheid", "urgentie": "laag", "toelichting": None}] * 2
    visit["toestemmingen"][0]["categorieen"] = ["eenzaamheid"]
    _, [result] = run(HomeVisitsConnector(), orjson.dumps(visit), units=_units())
    signals = [e for e in result.events if e.name == "signal.consented"]
    assert len(signals) == 2
    return signals[1]


@pytest.mark.parametrize(
    "make, topic", [(_milestone, "raw.renovation.milestone"), (_signal, "raw.signal")]
)
def test_a_corrected_stream_event_gets_the_id_its_connector_gives_it(make, topic: str) -> None:
    original = make()
    broken = json.loads(json.dumps(original.data))
    broken["complex"] = ""
    record = _stream_record(broken, "t." + topic)
    assert review.raw_topic_of(record, "t.") == topic
    policy = review.policy_for(record)
    types = (original.name,)
    refused = review.release_stream_record(record, policy, [], types, set(), NOW)
    assert [(r.code, r.field) for r in refused.reasons] == [("schema.invalid", "complex")]
    fix = [Fix("complex", original.data["complex"])]
    release = review.release_stream_record(record, policy, fix, types, set(), NOW)
    [event] = release.events
    assert (event.id, event.source, event.key) == (original.id, original.source, original.key)
    assert event.data == original.data
    again = review.release_stream_record(record, policy, fix, types, {original.id}, NOW)
    assert again.duplicate and not again.events


def test_a_stream_record_that_is_no_event_is_refused() -> None:
    record = held("stream", "\x00geen json{", "t.raw.signal")
    release = review.release_stream_record(
        record, review.policy_for(record), [], ("signal.consented",), set(), NOW
    )
    assert [r.code for r in release.reasons] == ["event.invalid"]
    assert review.raw_topic_of(record, "ander.") is None


# -- review status and ids ---------------------------------------------------------------------


def entry(action: str, record: str, minutes: int, steward: str = "anna") -> AuditEntry:
    return AuditEntry(
        at=NOW + timedelta(minutes=minutes),
        steward=steward,
        action=action,
        quarantine_id=record,
        connector="planning",
        source_file="planning.csv",
        line=2,
        reason=f"{action} door {steward}",
    )


def test_status_is_the_latest_release_or_reject_and_reveals_do_not_count() -> None:
    trail = [
        entry("reveal", "a", 1),
        entry("reveal", "b", 2),
        entry("release", "b", 3, "bram"),
        entry("reject", "c", 4),
        entry("reveal", "c", 5, "bram"),
        entry("release", "d", 6),
        entry("reject", "d", 7, "bram"),
    ]
    states = review.reviews(trail)
    assert "a" not in states, "a reveal leaves a record open"
    assert (states["b"].status, states["b"].steward, states["b"].reason) == (
        "released",
        "bram",
        "release door bram",
    )
    assert states["c"].status == "rejected" and states["c"].steward == "anna"
    assert states["d"].status == "rejected", "the latest decision counts"
    assert review.reviews([]) == {}


def test_short_ids_are_unique_and_resolve_back() -> None:
    ids = [str(uuid.uuid4()) for _ in range(50)]
    twin = ids[0][:9] + ("0" if ids[0][9] != "0" else "1") + ids[0][10:]
    ids.append(twin)  # shares the first 9 hex digits with ids[0]
    shorts = review.short_ids(ids)
    assert len(set(shorts.values())) == len(ids)
    assert {len(s) for s in shorts.values()} == {9}
    for identifier, short in shorts.items():
        assert review.resolve(short, ids) == identifier
        assert review.resolve(identifier, ids) == identifier
        assert review.resolve(short.upper(), ids) == identifier
    assert set(review.short_ids(ids[:5]).values()) == {i.replace("-", "")[:8] for i in ids[:5]}
    with pytest.raises(LookupError, match="meer tekens"):
        review.resolve(ids[0][:8], ids)
    with pytest.raises(LookupError, match="geen record"):
        review.resolve("ffffffffffff", ["00000000-0000-0000-0000-000000000000"])
    with pytest.raises(LookupError, match="minstens 4"):
        review.resolve("ab", ids)
