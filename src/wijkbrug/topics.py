"""The declarative topic list (config/topics.yaml): names, partitions, configs, event types."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import yaml

from wijkbrug import schemas
from wijkbrug.paths import data_dir


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as declared; ``name`` is logical, the settings' prefix makes it physical."""

    name: str
    description: str
    event_types: tuple[str, ...]
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)

    def physical(self, prefix: str) -> str:
        return prefix + self.name


@cache
def load_topics() -> dict[str, TopicSpec]:
    """Every topic by logical name; fails on unknown event types or a missing description."""
    path = data_dir("config") / "topics.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = doc.get("defaults", {})
    known = schemas.all_schemas()
    specs: dict[str, TopicSpec] = {}
    for entry in doc["topics"]:
        name = entry["name"]
        unknown = [t for t in entry.get("event_types", []) if t not in known]
        if unknown:
            raise ValueError(f"{path}: topic {name!r} names event types without schema: {unknown}")
        if not entry.get("description"):
            raise ValueError(f"{path}: topic {name!r} needs a description")
        specs[name] = TopicSpec(
            name=name,
            description=entry["description"],
            event_types=tuple(entry.get("event_types", [])),
            partitions=int(entry.get("partitions", defaults.get("partitions", 1))),
            replication_factor=int(
                entry.get("replication_factor", defaults.get("replication_factor", 1))
            ),
            config={k: str(v) for k, v in (entry.get("config") or {}).items()},
        )
    return specs


def topic_for(event_name: str) -> TopicSpec:
    """The one topic that carries an event type."""
    matches = [spec for spec in load_topics().values() if event_name in spec.event_types]
    if len(matches) != 1:
        raise LookupError(f"event type {event_name!r} is on {len(matches)} topics, expected 1")
    return matches[0]
