"""Partner data-sharing contracts: the shipped files, every validation rule, and what leaves."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from wijkbrug.codes import MILESTONES, PURPOSES, SIGNAL_CATEGORIES
from wijkbrug.partner_contract import (
    FREE_TEXT,
    ContractError,
    EventRule,
    Transform,
    age_band,
    load_contracts,
    pc4,
)
from wijkbrug.partners import load_partners
from wijkbrug.paths import data_dir
from wijkbrug.schemas import latest, validate

SHIPPED = data_dir("partners") / "contracts"
REFERENCE = date(2026, 11, 28)
NEVER_LEAVES = {"registration_id", "registered_by", "consents"}


def pseudonym(value: str, field: str = "") -> str:
    return "PSEUDO-" + hashlib.sha256(f"{field}\x1f{value}".encode()).hexdigest()[:16]


# -- synthetic full records: every schema field filled with a distinctive marker value ----------

#: Values where a generic marker would not fit the schema (or a generaliser needs a real value).
MARKERS: dict[str, Any] = {
    "visit_date": "2026-03-17",
    "unit_id": "U7MARKunit",
    "tenant_number": "T-MARK-tenant",
    "resident.birth_date": "1958-08-23",  # 68 on REFERENCE
    "resident.bsn": "900000017",
    "resident.language": "tzm",
    "signal_index": 31337,
    "address.house_number": 98765,
    "address.postcode": "3563QX",
    "address.addition": "MARK-addition",
    "planned_date": "2026-04-21",
    "realised_date": "2026-05-19",
    "consents.valid_until": "2027-01-31",
    "consents.partner": "mark-consent-partner",
}


def _synthetic(node: dict[str, Any], path: str) -> Any:
    if path in MARKERS:
        return MARKERS[path]
    if "enum" in node:
        return node["enum"][0]
    types = node.get("type")
    types = {types} if isinstance(types, str) else set(types or ())
    if "object" in types:
        return {
            name: _synthetic(sub, f"{path}.{name}" if path else name)
            for name, sub in node["properties"].items()
        }
    if "array" in types:
        return [_synthetic(node["items"], path)]
    assert "string" in types, path
    return f"MARK-{path}"


def full_record(event: str) -> dict[str, Any]:
    record = _synthetic(latest(event).document, "")
    validate(latest(event), record)  # the builder covers the schema exactly
    return record


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf value by dotted path (list items share their list's path)."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, item in value.items():
            found |= leaves(item, f"{path}.{key}" if path else key)
        return found
    if isinstance(value, list):
        found = {}
        for item in value:
            found |= leaves(item, path)
        return found
    return {path: value}


def output_paths(out: dict[str, Any], fields: tuple[str, ...], prefix: str = "") -> set[str]:
    """The named paths ``out`` holds; fails on anything that is not a named path or its parent."""
    found: set[str] = set()
    for key, value in out.items():
        path = prefix + key
        if path in fields:
            found.add(path)
            continue
        assert any(f.startswith(path + ".") for f in fields), f"{path} is not named"
        assert value is None or isinstance(value, dict), f"{path} is not named"
        if isinstance(value, dict):
            found |= output_paths(value, fields, path + ".")
    return found


def get_path(data: dict[str, Any], path: str) -> Any:
    for name in path.split("."):
        data = data[name]
    return data


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for name in parents:
        data = data.setdefault(name, {})
    data[leaf] = value


GENERALISED = {
    "resident.birth_date": lambda record: "65-69",
    "address.postcode": lambda record: "3563",
    "address": lambda record: record["complex"],
}


def expected_output(transform: Transform, record: dict[str, Any]) -> dict[str, Any]:
    """What a transform must produce, computed independently of its implementation."""
    expected: dict[str, Any] = {}
    for path, action in transform.actions.items():
        value = get_path(record, path)
        if action == "pseudonymise":
            value = pseudonym(value, path)
        elif action == "generalise":
            value = GENERALISED[path](record)
        set_path(expected, path, value)
    return expected


def _cases() -> list[tuple[str, str, str]]:
    return [
        (partner, event, purpose)
        for partner, contract in load_contracts().items()
        for event, rule in contract.events.items()
        for purpose in rule.purposes
    ]


CASES = _cases()


def _rule(partner: str, event: str) -> EventRule:
    rule = load_contracts()[partner].rule(event)
    assert rule is not None
    return rule


# -- the shipped contracts ----------------------------------------------------------------------


def test_every_registry_partner_has_a_valid_contract() -> None:
    contracts = load_contracts()
    assert set(contracts) == set(load_partners())
    assert load_contracts() is contracts  # cached
    assert load_contracts(SHIPPED) == contracts
    for partner, contract in contracts.items():
        assert contract.partner == partner and contract.version
        assert contract.person_level is load_partners()[partner].person_level


def test_monitoring_gets_aggregates_only() -> None:
    monitoring = load_contracts()["wijkaanpak-monitoring"]
    assert not monitoring.person_level and monitoring.events == {}
    assert monitoring.channels == ("file",)
    assert monitoring.rule("signal.consented") is None


def test_what_each_partner_may_receive() -> None:
    contracts = load_contracts()
    assert set(contracts["buurtteam-overvecht"].events) == {
        "signal.consented",
        "renovation.milestone",
    }
    assert set(contracts["bewonersverbinders"].events) == {
        "signal.consented",
        "renovation.milestone",
    }
    assert set(contracts["gemeente-werk-inkomen"].events) == {"signal.consented"}
    assert set(contracts["dock"].events) == {"signal.consented"}
    buurtteam = _rule("buurtteam-overvecht", "signal.consented")
    assert all(buurtteam.allows(p, c) for p in PURPOSES for c in SIGNAL_CATEGORIES)
    alerts = _rule("buurtteam-overvecht", "renovation.milestone")
    assert alerts.deliver_as == "alert" and set(alerts.purposes) == set(PURPOSES)
    assert alerts.milestones is not None and alerts.milestones >= {
        "verhuisd_logeerwoning",
        "renovatie_gestart",
        "renovatie_opgeleverd",
        "terug_in_woning",
        "afrondend_huisbezoek",
    }
    milestones = _rule("bewonersverbinders", "renovation.milestone")
    assert milestones.deliver_as == "event"
    for purpose in milestones.purposes:
        assert milestones.transform(purpose).actions["address"] == "generalise"
        assert milestones.transform(purpose).actions["tenant_number"] == "pseudonymise"
        assert milestones.transform(purpose).actions["unit_id"] == "pseudonymise"
    gemeente = _rule("gemeente-werk-inkomen", "signal.consented")
    assert gemeente.allows("doorverwijzing", "schulden")
    assert not gemeente.allows("doorverwijzing", "eenzaamheid")
    assert not gemeente.allows("informeren", "ggz")


@pytest.mark.parametrize("partner, event, purpose", CASES)
def test_policy_of_the_shipped_contracts(partner: str, event: str, purpose: str) -> None:
    actions = _rule(partner, event).transform(purpose).actions
    assert not NEVER_LEAVES & set(actions)
    if "resident.bsn" in actions:
        assert (partner, purpose) == ("gemeente-werk-inkomen", "warme_overdracht")
    if purpose != "warme_overdracht":
        assert not {"resident.name", "resident.phone"} & set(actions)
        assert actions.get("address", "generalise") == "generalise"
        assert not {"address.street", "address.house_number", "address.addition"} & set(actions)
    assert actions.get("resident.birth_date", "generalise") == "generalise"
    assert actions.get("tenant_number", "pseudonymise") == "pseudonymise"
    assert actions.get("unit_id", "pseudonymise") == "pseudonymise"


def test_allows_checks_purpose_category_and_milestone() -> None:
    dock = _rule("dock", "signal.consented")
    assert dock.allows("warme_overdracht", "ggz")
    assert not dock.allows("informeren", "ggz")
    assert not dock.allows("warme_overdracht", "schulden")
    assert not dock.allows("warme_overdracht")  # a signal without a category never goes out
    assert not dock.allows("onbekend", "taal")
    alerts = _rule("buurtteam-overvecht", "renovation.milestone")
    assert alerts.allows("informeren", milestone="terug_in_woning")
    assert not alerts.allows("informeren", milestone="berging_leeg")
    assert not alerts.allows("informeren")
    assert not _rule("bewonersverbinders", "renovation.milestone").allows(
        "informeren", milestone="terug_in_woning"
    )


def test_transforms_are_compiled_once_per_purpose() -> None:
    rule = _rule("dock", "signal.consented")
    assert rule.transform("informeren") is rule.transform("informeren")
    with pytest.raises(KeyError, match="onbekend"):
        rule.transform("onbekend")


# -- contract tests: what leaves, for every partner, event and purpose --------------------------


@pytest.mark.parametrize("partner, event, purpose", CASES)
def test_exactly_the_named_fields_leave(partner: str, event: str, purpose: str) -> None:
    rule = _rule(partner, event)
    transform = rule.transform(purpose)
    assert transform.fields == tuple(
        path for path, acts in rule.fields.items() if acts[purpose] != "drop"
    )
    record = full_record(event)
    before = copy.deepcopy(record)
    out = transform(record, pseudonymise=pseudonym, reference_date=REFERENCE)
    assert record == before  # not mutated
    assert output_paths(out, transform.fields) == set(transform.fields)
    assert out == expected_output(transform, record)

    text = json.dumps(out)
    kept = {p for p, a in transform.actions.items() if a == "keep"}
    allowed = set(map(str, leaves(out).values()))  # e.g. the complex code an address became
    for path, marker in leaves(record).items():
        distinctive = isinstance(marker, str) and (marker.startswith("MARK-") or path in MARKERS)
        distinctive |= isinstance(marker, int) and marker > 9999
        if not distinctive or str(marker) in allowed:
            continue
        if not any(path == k or path.startswith(k + ".") for k in kept):
            assert str(marker) not in text, f"{path} leaked to {partner} under {purpose}"


@pytest.mark.parametrize("partner, event, purpose", CASES)
def test_free_text_leaves_only_for_warm_handover(partner: str, event: str, purpose: str) -> None:
    transform = _rule(partner, event).transform(purpose)
    out = transform(full_record(event), pseudonymise=pseudonym, reference_date=REFERENCE)
    for path in FREE_TEXT[event]:
        if purpose != "warme_overdracht":
            assert path not in transform.fields
            assert f"MARK-{path}" not in json.dumps(out)
        elif path in transform.fields:
            assert transform.actions[path] == "keep"


def test_none_stays_none_and_is_never_pseudonymised() -> None:
    calls: list[str] = []

    def spy(value: str, field: str = "") -> str:
        calls.append(value)
        return pseudonym(value, field)

    record = full_record("signal.consented")
    record["resident"] |= {"birth_date": None, "bsn": None, "phone": None}
    out = _rule("gemeente-werk-inkomen", "signal.consented").transform("warme_overdracht")(
        record, pseudonymise=spy, reference_date=REFERENCE
    )
    assert out["resident"]["birth_date"] is None and out["resident"]["bsn"] is None
    assert out["resident"]["phone"] is None
    assert sorted(calls) == sorted([record["tenant_number"], record["unit_id"]])

    milestone = full_record("renovation.milestone") | {"tenant_number": None}
    out = _rule("bewonersverbinders", "renovation.milestone").transform("doorverwijzing")(
        milestone, pseudonymise=pseudonym, reference_date=REFERENCE
    )
    assert out["tenant_number"] is None and out["address"] == milestone["complex"]


def test_a_kept_object_is_a_copy() -> None:
    record = full_record("renovation.milestone")
    out = _rule("buurtteam-overvecht", "renovation.milestone").transform("warme_overdracht")(
        record, pseudonymise=pseudonym, reference_date=REFERENCE
    )
    assert out["address"] == record["address"] and out["address"] is not record["address"]
    out["address"]["street"] = "changed"
    assert record["address"]["street"] == "MARK-address.street"


def test_a_wrong_shape_fails_closed_without_quoting_the_value() -> None:
    transform = _rule("dock", "signal.consented").transform("warme_overdracht")
    record = full_record("signal.consented") | {"resident": "Secret Person"}
    with pytest.raises(TypeError, match="resident") as error:
        transform(record, pseudonymise=pseudonym, reference_date=REFERENCE)
    assert "Secret" not in str(error.value)
    with pytest.raises(TypeError, match="tenant_number"):
        transform(
            full_record("signal.consented") | {"tenant_number": 12345},
            pseudonymise=pseudonym,
            reference_date=REFERENCE,
        )


def test_a_transform_with_overlapping_paths_is_refused() -> None:
    with pytest.raises(ValueError, match=r"address\.postcode"):
        Transform("renovation.milestone", {"address": "keep", "address.postcode": "keep"})
    with pytest.raises(ValueError, match=r"address\.postcode"):
        Transform("renovation.milestone", {"address.postcode": "keep", "address": "keep"})


# -- hypothesis: whatever the data, nothing unnamed leaves --------------------------------------

_DATES = st.dates(date(1900, 1, 1), REFERENCE).map(date.isoformat)
_SPECIAL = {
    "resident.birth_date": st.none() | _DATES,
    "address.postcode": st.from_regex(r"[1-9][0-9]{3}[A-Z]{2}", fullmatch=True),
}
_EXTRA = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2)


def _shaped(node: dict[str, Any], path: str = "") -> st.SearchStrategy[Any]:
    if path in _SPECIAL:
        return _SPECIAL[path]
    if "enum" in node:
        return st.sampled_from(node["enum"])
    types = node.get("type")
    types = {types} if isinstance(types, str) else set(types or ())
    options: list[st.SearchStrategy[Any]] = [st.none()] if "null" in types else []
    if "object" in types:
        optional = {
            name: _shaped(sub, f"{path}.{name}" if path else name)
            for name, sub in node["properties"].items()
        }
        shaped = st.fixed_dictionaries({}, optional=optional)
        options.append(st.tuples(shaped, _EXTRA).map(lambda pair: pair[1] | pair[0]))
    if "array" in types:
        options.append(st.lists(_shaped(node["items"], path), max_size=2))
    if "string" in types:
        options.append(st.text(max_size=12))
    if "integer" in types:
        options.append(st.integers())
    return st.one_of(options)


_SHAPES = {
    event: _shaped(latest(event).document) for event in ("signal.consented", "renovation.milestone")
}


@st.composite
def _case_and_record(draw: st.DrawFn) -> tuple[Transform, dict[str, Any]]:
    partner, event, purpose = draw(st.sampled_from(CASES))
    return _rule(partner, event).transform(purpose), draw(_SHAPES[event])


@given(_case_and_record())
def test_output_never_holds_an_unnamed_field(case: tuple[Transform, dict[str, Any]]) -> None:
    transform, record = case
    before = copy.deepcopy(record)
    out = transform(record, pseudonymise=pseudonym, reference_date=REFERENCE)
    assert output_paths(out, transform.fields) <= set(transform.fields)
    assert record == before


# -- age bands and PC4 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "born, on, band",
    [
        ("2026-11-28", date(2026, 11, 28), "0-4"),  # born today
        ("2021-11-29", date(2026, 11, 28), "0-4"),  # turns 5 tomorrow
        ("2021-11-28", date(2026, 11, 28), "5-9"),  # turns 5 today
        ("1991-06-16", date(2026, 6, 15), "30-34"),
        ("1991-06-15", date(2026, 6, 15), "35-39"),
        ("1937-11-29", date(2026, 11, 28), "85-89"),  # 88
        ("1936-11-29", date(2026, 11, 28), "85-89"),  # 89, turns 90 tomorrow
        ("1936-11-28", date(2026, 11, 28), "90+"),
        ("1916-01-01", date(2026, 11, 28), "90+"),  # 110
        ("2004-02-29", date(2024, 2, 28), "15-19"),  # leap day: 20 on 2024-02-29
        ("2004-02-29", date(2024, 2, 29), "20-24"),
        ("2004-02-29", date(2029, 2, 28), "20-24"),  # not a leap year: 25 on 1 March
        ("2004-02-29", date(2029, 3, 1), "25-29"),
    ],
)
def test_age_bands(born: str, on: date, band: str) -> None:
    assert age_band(born, on) == band


@pytest.mark.parametrize("born", ["1990-13-01", "1990-02-30", "", "geen datum", "2026-11-29"])
def test_bad_birth_dates_are_refused_without_quoting_them(born: str) -> None:
    with pytest.raises(ValueError) as error:
        age_band(born, REFERENCE)
    assert not born or born not in str(error.value)


@given(st.dates(date(1900, 1, 1), REFERENCE))
def test_every_age_falls_in_one_band(born: date) -> None:
    band = age_band(born.isoformat(), REFERENCE)
    age = (REFERENCE.year - born.year) - ((REFERENCE.month, REFERENCE.day) < (born.month, born.day))
    if age >= 90:
        assert band == "90+"
    else:
        low, high = map(int, band.split("-"))
        assert low <= age <= high and high - low == 4 and low % 5 == 0


@pytest.mark.parametrize(
    "postcode, digits",
    [
        ("3573AB", "3573"),
        ("3573 ab", "3573"),
        (" 3561XZ ", "3561"),
        ("3563", "3563"),
        ("9999ZZ", "9999"),
    ],
)
def test_pc4(postcode: str, digits: str) -> None:
    assert pc4(postcode) == digits


@pytest.mark.parametrize(
    "postcode", ["0573AB", "357AB", "35733AB", "", "ABCD12", "3573ABC", "٣٥٧٣AB"]
)
def test_bad_postcodes_are_refused_without_quoting_them(postcode: str) -> None:
    with pytest.raises(ValueError) as error:
        pc4(postcode)
    assert not postcode or postcode not in str(error.value)


# -- validation: every rule, on a copy of the shipped contracts with one change -----------------


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    for path in SHIPPED.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _edit(directory: Path, partner: str, change: Callable[[dict[str, Any]], object]) -> Path:
    path = directory / f"{partner}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _refused(directory: Path, *fragments: str) -> str:
    with pytest.raises(ContractError) as error:
        load_contracts(directory)
    message = str(error.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def _signal(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["events"]["signal.consented"]


def _milestone(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["events"]["renovation.milestone"]


def test_a_copy_of_the_shipped_contracts_loads(contracts: Path) -> None:
    assert load_contracts(contracts) == load_contracts()


BAD: list[tuple[str, str, Callable[[dict[str, Any]], object], tuple[str, ...]]] = [
    # (case id, partner, change, fragments the message must hold)
    ("version missing", "dock", lambda d: d.pop("version"), ("missing version",)),
    ("version not quoted", "dock", lambda d: d.update(version=2026.11), ("version", "quoted")),
    ("version empty", "dock", lambda d: d.update(version="  "), ("version", "non-empty")),
    ("typo in a key", "dock", lambda d: d.update(chanels=d.pop("channels")), ("chanels", "did you mean 'channels'")),
    ("reviewed not text", "dock", lambda d: d.update(reviewed=["x"]), ("reviewed", "free text")),
    ("no channels", "dock", lambda d: d.update(channels=[]), ("channels", "non-empty list")),
    ("unknown channel", "dock", lambda d: d.update(channels=["kafka", "email"]), ("channels", "unknown channel 'email'")),
    ("channel twice", "dock", lambda d: d.update(channels=["kafka", "kafka"]), ("channels", "twice")),
    ("person_level differs from registry", "dock", lambda d: d.update(person_level=False), ("person_level", "registry")),
    ("events not a mapping", "dock", lambda d: d.update(events=["signal.consented"]), ("events", "mapping")),
    ("event without schema", "dock", lambda d: d["events"].update({"signal.consentd": d["events"].pop("signal.consented")}), ("events.signal.consentd", "no schema", "did you mean 'signal.consented'")),
    ("event not person-level", "dock", lambda d: d["events"].update({"visit.count": d["events"].pop("signal.consented")}), ("events.visit.count", "not a person-level event")),
    ("consent event", "dock", lambda d: d["events"].update({"consent.given": d["events"].pop("signal.consented")}), ("events.consent.given", "not a person-level event")),
    ("unknown rule key", "dock", lambda d: _signal(d).update(deliver="alert"), ("events.signal.consented.deliver", "did you mean 'deliver_as'")),
    ("milestone filter on signals", "dock", lambda d: _signal(d).update(milestones=["renovatie_gestart"]), ("events.signal.consented.milestones", "unknown key")),
    ("rule without fields", "dock", lambda d: _signal(d).pop("fields"), ("events.signal.consented", "missing fields")),
    ("empty fields", "dock", lambda d: _signal(d).update(fields={}), ("events.signal.consented.fields", "at least one field")),
    ("unknown purpose", "dock", lambda d: _signal(d)["purposes"].update(doorverwijzen=["taal"]), ("purposes.doorverwijzen", "unknown purpose", "did you mean 'doorverwijzing'")),
    ("purposes as list for signals", "dock", lambda d: _signal(d).update(purposes=["informeren"]), ("events.signal.consented.purposes", "categories")),
    ("unknown category", "dock", lambda d: _signal(d)["purposes"].update(informeren=["schuld"]), ("purposes.informeren", "unknown category 'schuld'", "did you mean 'schulden'")),
    ("no categories", "dock", lambda d: _signal(d)["purposes"].update(informeren=[]), ("purposes.informeren", "non-empty list of categories")),
    ("category twice", "dock", lambda d: _signal(d)["purposes"].update(informeren=["taal", "taal"]), ("purposes.informeren", "twice")),
    ("all mixed with categories", "dock", lambda d: _signal(d)["purposes"].update(informeren=["all", "taal"]), ("purposes.informeren", "unknown category 'all'")),
    ("unknown milestone", "bewonersverbinders", lambda d: _milestone(d).update(milestones=["verhuisd"]), ("events.renovation.milestone.milestones", "unknown milestone 'verhuisd'")),
    ("milestone purposes as mapping", "bewonersverbinders", lambda d: _milestone(d).update(purposes={"doorverwijzing": ["taal"]}), ("events.renovation.milestone.purposes", "list of purposes")),
    ("unknown milestone purpose", "bewonersverbinders", lambda d: _milestone(d).update(purposes=["bellen"]), ("events.renovation.milestone.purposes", "unknown purpose 'bellen'")),
    ("bad deliver_as", "bewonersverbinders", lambda d: _milestone(d).update(deliver_as="sms"), ("events.renovation.milestone.deliver_as", "event, alert", "'sms'")),
    ("unknown field", "dock", lambda d: _signal(d)["fields"].update({"resident.shoe_size": "keep"}), ("fields.resident.shoe_size", "no such field in the signal.consented schema")),
    ("path through a scalar", "dock", lambda d: _signal(d)["fields"].update({"visit_date.year": "keep"}), ("fields.visit_date.year", "no such field")),
    ("path into an array", "dock", lambda d: _signal(d)["fields"].update({"consents.partner": "keep"}), ("fields.consents.partner", "no such field")),
    ("field of the other event", "dock", lambda d: _signal(d)["fields"].update({"address": "generalise"}), ("fields.address", "no such field in the signal.consented schema")),
    ("unknown action", "dock", lambda d: _signal(d)["fields"].update(complex="keepp"), ("fields.complex", "unknown action 'keepp'", "did you mean 'keep'")),
    ("unknown action in a purpose map", "dock", lambda d: _signal(d)["fields"].update(complex={"bewaar": ["informeren"]}), ("fields.complex", "unknown action 'bewaar'")),
    ("action not text", "dock", lambda d: _signal(d)["fields"].update(complex=["keep"]), ("fields.complex", "must be an action")),
    ("generalise without generaliser", "dock", lambda d: _signal(d)["fields"].update(visit_date="generalise"), ("fields.visit_date", "cannot generalise visit_date", "resident.birth_date")),
    ("pseudonymise a name", "dock", lambda d: _signal(d)["fields"].update({"resident.name": "pseudonymise"}), ("fields.resident.name", "cannot pseudonymise resident.name")),
    ("pseudonymise a non-identifier", "dock", lambda d: _signal(d)["fields"].update(complex="pseudonymise"), ("fields.complex", "cannot pseudonymise complex")),
    ("pseudonymise an object", "bewonersverbinders", lambda d: _milestone(d)["fields"].update(address="pseudonymise"), ("fields.address", "cannot pseudonymise address")),
    ("free text for every purpose", "dock", lambda d: _signal(d)["fields"].update(note="keep"), ("fields.note", "free text", "not for informeren")),
    ("free text for a referral", "dock", lambda d: _signal(d)["fields"].update(note={"keep": ["doorverwijzing", "warme_overdracht"]}), ("fields.note", "free text", "not for doorverwijzing")),
    ("free text pseudonymised", "dock", lambda d: _signal(d)["fields"].update(note={"pseudonymise": ["warme_overdracht"]}), ("fields.note", "cannot pseudonymise note")),
    ("free text generalised", "dock", lambda d: _signal(d)["fields"].update(note="generalise"), ("fields.note", "cannot generalise note")),
    ("planner remark kept", "buurtteam-overvecht", lambda d: _milestone(d)["fields"].update(remark={"keep": ["informeren"]}), ("renovation.milestone.fields.remark", "free text", "not for informeren")),
    ("purpose the rule does not grant", "bewonersverbinders", lambda d: _milestone(d)["fields"].update(address={"keep": ["informeren"]}), ("fields.address.keep", "'informeren' is not granted by this rule")),
    ("purpose in two actions", "dock", lambda d: _signal(d)["fields"].update({"resident.name": {"keep": ["warme_overdracht"], "drop": ["warme_overdracht"]}}), ("fields.resident.name", "'warme_overdracht'", "both keep and drop")),
    ("empty purpose list", "dock", lambda d: _signal(d)["fields"].update({"resident.name": {"keep": []}}), ("fields.resident.name.keep", "non-empty list of purposes")),
    ("object and its field", "buurtteam-overvecht", lambda d: _milestone(d)["fields"].update({"address.postcode": "generalise"}), ("renovation.milestone.fields", "address and address.postcode", "informeren")),
    ("events for an aggregates-only partner", "wijkaanpak-monitoring", lambda d: d.update(events={"signal.consented": {"purposes": {"informeren": ["taal"]}, "fields": {"category": "keep"}}}), ("wijkaanpak-monitoring", "events.signal.consented", "person_level: false")),
]  # fmt: skip


@pytest.mark.parametrize(
    "partner, change, fragments", [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_a_bad_contract_is_refused_with_a_clear_message(
    contracts: Path,
    partner: str,
    change: Callable[[dict[str, Any]], object],
    fragments: tuple[str, ...],
) -> None:
    path = _edit(contracts, partner, change)
    _refused(contracts, str(path), *fragments)


def test_all_is_shorthand_for_every_category(contracts: Path) -> None:
    _edit(contracts, "dock", lambda d: _signal(d)["purposes"].update(informeren=["all"]))
    rule = load_contracts(contracts)["dock"].rule("signal.consented")
    assert rule is not None and rule.purposes["informeren"] == frozenset(SIGNAL_CATEGORIES)


def test_a_field_can_differ_per_purpose(contracts: Path) -> None:
    _edit(
        contracts,
        "buurtteam-overvecht",
        lambda d: _milestone(d)["fields"].update(
            {
                "address": {"keep": ["warme_overdracht"]},
                "address.postcode": {"generalise": ["doorverwijzing"]},
            }
        ),
    )
    rule = load_contracts(contracts)["buurtteam-overvecht"].rule("renovation.milestone")
    assert rule is not None
    assert dict(rule.fields["address.postcode"]) == {
        "informeren": "drop",
        "doorverwijzing": "generalise",
        "warme_overdracht": "drop",
    }
    out = rule.transform("doorverwijzing")(
        full_record("renovation.milestone"), pseudonymise=pseudonym, reference_date=REFERENCE
    )
    assert out["address"] == {"postcode": "3563"}
    assert "address" not in rule.transform("informeren").fields


def test_file_name_must_equal_partner(contracts: Path) -> None:
    (contracts / "dock.yaml").rename(contracts / "welzijn.yaml")
    _refused(contracts, "welzijn.yaml", "'dock'", "must match")


def test_partner_must_be_in_the_registry(contracts: Path) -> None:
    text = (contracts / "dock.yaml").read_text(encoding="utf-8")
    (contracts / "docks.yaml").write_text(
        text.replace("partner: dock", "partner: docks"), encoding="utf-8"
    )
    _refused(
        contracts, "docks.yaml", "'docks' is not in partners/registry.yaml", "did you mean 'dock'"
    )


def test_every_registry_partner_needs_a_contract(contracts: Path) -> None:
    (contracts / "dock.yaml").unlink()
    _refused(contracts, str(contracts), "no contract for partner(s) dock")


def test_yml_files_are_refused(contracts: Path) -> None:
    (contracts / "dock.yaml").rename(contracts / "dock.yml")
    _refused(contracts, "dock.yml", ".yaml")


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path / "nowhere", "not found")


def test_a_key_given_twice_is_refused(contracts: Path) -> None:
    path = contracts / "dock.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("      note: {keep", "      note: drop\n      note: {keep"), encoding="utf-8"
    )
    _refused(contracts, str(path), "'note' is given twice", "line")


@pytest.mark.parametrize("text", ["- partner: dock\n", "partner: [dock\n", "just text\n", ""])
def test_a_file_that_is_not_a_contract_is_refused(contracts: Path, text: str) -> None:
    (contracts / "dock.yaml").write_text(text, encoding="utf-8")
    _refused(contracts, "dock.yaml")


def test_rules_read_the_codes_and_schemas_they_check() -> None:
    """The tables the loader checks against are the ones the connectors publish with."""
    assert set(MILESTONES) == set(
        latest("renovation.milestone").document["properties"]["milestone"]["enum"]
    )
    assert set(SIGNAL_CATEGORIES) == set(
        latest("signal.consented").document["properties"]["category"]["enum"]
    )
