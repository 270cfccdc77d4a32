"""Every schema is valid, versions stay backward compatible, codes and topics agree with them."""

from __future__ import annotations

import copy

import pytest
from jsonschema import Draft7Validator

from wijkbrug import codes, schemas
from wijkbrug.reasons import REASONS
from wijkbrug.topics import load_topics, topic_for

ALL = [s for versions in schemas.all_schemas().values() for s in versions.values()]
REQUIRED_EVENTS = {
    "renovation.milestone",
    "signal.consented",
    "consent.given",
    "consent.withdrawn",
    "consent.expired",
    "partner.feedback",
    "signal.count",
    "quarantine.record",
}


def test_the_required_event_types_have_schemas() -> None:
    assert set(schemas.all_schemas()) >= REQUIRED_EVENTS


@pytest.mark.parametrize("schema", ALL, ids=lambda s: f"{s.name}/v{s.version}")
def test_schema_is_valid_and_closed(schema: schemas.EventSchema) -> None:
    Draft7Validator.check_schema(schema.document)
    assert schema.document["additionalProperties"] is False
    assert schema.document.get("title") and schema.document.get("description")

    def closed(node: dict) -> None:
        if node.get("type") == "object" or "properties" in node:
            assert node.get("additionalProperties") is False, f"{schema.path}: open object"
        for child in node.get("properties", {}).values():
            closed(child)
        for key in ("items",):
            if isinstance(node.get(key), dict):
                closed(node[key])
        for branch in node.get("oneOf", []):
            closed(branch)

    closed(schema.document)


@pytest.mark.parametrize("name", sorted(schemas.all_schemas()))
def test_each_version_reads_what_the_previous_one_wrote(name: str) -> None:
    versions = schemas.all_schemas()[name]
    assert sorted(versions) == list(range(1, max(versions) + 1)), "versions are numbered 1..n"
    for version in range(2, max(versions) + 1):
        old, new = versions[version - 1].document, versions[version].document
        assert schemas.compatibility_problems(old, new) == []


def test_the_compatibility_check_catches_breaking_changes() -> None:
    old = schemas.latest("renovation.milestone").document
    assert schemas.compatibility_problems(old, old) == []
    widened = copy.deepcopy(old)
    widened["properties"]["milestone"]["enum"].append("sloop")
    widened["properties"]["note"] = {"type": ["string", "null"]}
    assert schemas.compatibility_problems(old, widened) == []
    breaking = {
        "enum narrowed": lambda s: s["properties"]["milestone"]["enum"].pop(),
        "property removed": lambda s: s["properties"].pop("remark"),
        "newly required": lambda s: (
            s["properties"].update(x={"type": "string"}),
            s["required"].append("x"),
        ),
        "type narrowed": lambda s: s["properties"]["remark"].update(type="string"),
        "maxLength lowered": lambda s: s["properties"]["remark"].update(maxLength=10),
        "nested removed": lambda s: s["properties"]["address"]["properties"].pop("addition"),
    }
    for label, change in breaking.items():
        new = copy.deepcopy(old)
        change(new)
        assert schemas.compatibility_problems(old, new), label
    either = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert schemas.compatibility_problems(either, either) == []
    assert schemas.compatibility_problems(either, {"oneOf": [{"type": "string"}]})


def test_schema_enums_match_the_code_lists() -> None:
    def enum(name: str, *path: str) -> list[str]:
        node = schemas.latest(name).document
        for step in path:
            node = node["properties"][step] if step != "[]" else node["items"]
        return node["enum"]

    assert enum("renovation.milestone", "milestone") == list(codes.MILESTONES)
    assert enum("signal.consented", "category") == list(codes.SIGNAL_CATEGORIES)
    assert enum("signal.consented", "urgency") == list(codes.URGENCIES)
    assert enum("consent.given", "purpose") == list(codes.PURPOSES)
    assert enum("consent.given", "categories", "[]") == list(codes.SIGNAL_CATEGORIES)
    assert enum("partner.feedback", "kind") == list(codes.FEEDBACK_KINDS)
    assert set(enum("quarantine.record", "reasons", "[]", "code")) == set(REASONS)
    assert set(codes.CONSENT_STATES.values()) == {
        "consent.given",
        "consent.withdrawn",
        "consent.expired",
    }


def test_every_event_type_is_on_exactly_one_topic() -> None:
    for name in schemas.all_schemas():
        assert topic_for(name).name in load_topics()


def test_the_consent_topic_is_compacted_and_raw_topics_expire() -> None:
    topics = load_topics()
    assert topics["consent"].config["cleanup.policy"] == "compact"
    assert int(topics["raw.signal"].config["retention.ms"]) > 0
