"""Event schemas (schemas/<event name>/v<N>.json): loaded once, compiled with jsonschema-rs.

The event name (``renovation.milestone``) is the CloudEvents type without the ``nl.wijkbrug.``
prefix; the schema version travels in the event's ``dataschema`` URN.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from wijkbrug.paths import data_dir

TYPE_PREFIX = "nl.wijkbrug."
_VERSION_FILE = re.compile(r"^v(\d+)\.json$")


@dataclass(frozen=True, slots=True)
class EventSchema:
    name: str
    version: int
    uri: str
    document: dict[str, Any]
    path: Path

    @property
    def event_type(self) -> str:
        return TYPE_PREFIX + self.name


class SchemaViolation(ValueError):
    """Event data does not match its schema; ``path`` says where, without quoting the value."""

    def __init__(self, name: str, path: str, rule: str) -> None:
        super().__init__(f"{name}: {path or 'data'} violates '{rule}'")
        self.path = path


def _discover(root: Path) -> dict[str, dict[int, EventSchema]]:
    found: dict[str, dict[int, EventSchema]] = {}
    for path in sorted(root.glob("*/v*.json")):
        match = _VERSION_FILE.match(path.name)
        if not match:
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        name, version = path.parent.name, int(match.group(1))
        expected = f"urn:wijkbrug:schema:{name}:{version}"
        if document.get("$id") != expected:
            raise ValueError(f"{path}: $id must be {expected!r}")
        found.setdefault(name, {})[version] = EventSchema(name, version, expected, document, path)
    return found


@cache
def all_schemas() -> dict[str, dict[int, EventSchema]]:
    """Every schema version, by event name then version number."""
    return _discover(data_dir("schemas"))


def latest(name: str) -> EventSchema:
    """The newest version of an event's schema: the one producers write."""
    versions = all_schemas()[name]
    return versions[max(versions)]


@cache
def by_uri(uri: str) -> EventSchema:
    """The schema a ``dataschema`` URN names (remembered: every record asks; an unknown URN
    raises and is not remembered)."""
    _, _, _, name, version = uri.split(":")
    return all_schemas()[name][int(version)]


@cache
def _compiled(uri: str) -> Any:
    """The schema's validator (its draft from ``$schema``); formats are checked, not annotations."""
    return jsonschema_rs.validator_for(by_uri(uri).document, validate_formats=True)


def validate(schema: EventSchema, data: Any) -> None:
    """Raise :class:`SchemaViolation` unless ``data`` matches ``schema``."""
    try:
        _compiled(schema.uri).validate(data)
    except jsonschema_rs.ValidationError as exc:
        # Its message quotes the offending value; keep only the path and the rule (keyword).
        keyword = exc.schema_path[-1] if exc.schema_path else None
        raise SchemaViolation(
            schema.name,
            ".".join(map(str, exc.instance_path)),
            keyword if isinstance(keyword, str) else "schema",
        ) from None


def _types(node: dict[str, Any]) -> set[str] | None:
    value = node.get("type")
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


def compatibility_problems(old: dict[str, Any], new: dict[str, Any], at: str = "") -> list[str]:
    """Why a consumer on schema ``new`` could not read every event valid under ``old``.

    Conservative: a change it cannot prove safe (a new pattern, say) is reported too.
    An empty list means backward compatible.
    """
    where = at or "(root)"
    problems: list[str] = []
    old_types, new_types = _types(old), _types(new)
    if new_types is not None and (old_types is None or not old_types <= new_types):
        problems.append(f"{where}: type narrowed from {old_types} to {new_types}")
    if "enum" in new and ("enum" not in old or not set(old["enum"]) <= set(new["enum"])):
        problems.append(f"{where}: enum lost values {set(old.get('enum', [])) - set(new['enum'])}")
    for key in ("pattern", "format", "const"):
        if key in new and new.get(key) != old.get(key):
            problems.append(f"{where}: {key} changed")
    for key in ("maxLength", "maximum", "maxItems"):
        if key in new and (key not in old or new[key] < old[key]):
            problems.append(f"{where}: {key} lowered")
    for key in ("minLength", "minimum", "minItems"):
        if key in new and (key not in old or new[key] > old[key]):
            problems.append(f"{where}: {key} raised")
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    if newly_required:
        problems.append(f"{where}: newly required {sorted(newly_required)}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    if new.get("additionalProperties") is False:
        if old.get("additionalProperties") is not False:
            problems.append(f"{where}: closed a content model that was open")
        for name in sorted(set(old_props) - set(new_props)):
            problems.append(f"{where}.{name}: property removed")
    for name in sorted(set(old_props) & set(new_props)):
        problems += compatibility_problems(old_props[name], new_props[name], f"{at}.{name}")
    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        problems += compatibility_problems(old["items"], new["items"], f"{at}[]")
    for key in ("oneOf", "anyOf"):
        if key in old or key in new:
            for index, branch in enumerate(old.get(key, [old])):
                if all(compatibility_problems(branch, b) for b in new.get(key, [new])):
                    problems.append(f"{where}: {key} branch {index} no longer accepted")
    return problems
