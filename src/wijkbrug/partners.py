"""The partner registry (partners/registry.yaml): who wijkbrug knows and who may get person data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from wijkbrug.paths import data_dir


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    name: str
    person_level: bool


@cache
def load_partners() -> dict[str, Partner]:
    """All partners by id, validated: unique ids, a name, an explicit person_level flag."""
    path = data_dir("partners") / "registry.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    partners: dict[str, Partner] = {}
    for entry in doc["partners"]:
        missing = {"id", "name", "person_level"} - entry.keys()
        if missing:
            raise ValueError(f"{path}: partner entry misses {sorted(missing)}")
        if entry["id"] in partners:
            raise ValueError(f"{path}: partner {entry['id']!r} listed twice")
        if not isinstance(entry["person_level"], bool):
            raise ValueError(f"{path}: person_level of {entry['id']!r} must be true or false")
        partners[entry["id"]] = Partner(entry["id"], entry["name"], entry["person_level"])
    return partners
