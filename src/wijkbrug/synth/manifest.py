"""The manifest: what each generated file holds, and where the planted faults are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """One record to write: its payload, and whether it is a planted fault or a duplicate."""

    payload: T
    #: (kind, reason code) of a planted fault.
    fault: tuple[str, str] | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class PlantedFault:
    """A faulty record: its physical line (header = line 1), its kind, the expected reason."""

    line: int
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class FileStats:
    """Record counts of one file; ``valid = records - duplicates - faulty``."""

    records: int
    duplicates: int
    faulty: int
    faults: tuple[PlantedFault, ...]

    @property
    def valid(self) -> int:
        return self.records - self.duplicates - self.faulty

    @classmethod
    def of(cls, entries: list[Entry[Any]], first_line: int) -> FileStats:
        """Stats of ``entries`` written one per line from ``first_line`` on."""
        faults = tuple(
            PlantedFault(first_line + index, entry.fault[0], entry.fault[1])
            for index, entry in enumerate(entries)
            if entry.fault
        )
        duplicates = sum(entry.duplicate for entry in entries)
        return cls(len(entries), duplicates, len(faults), faults)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "valid": self.valid,
            "duplicates": self.duplicates,
            "faulty": self.faulty,
            "faults": [{"line": f.line, "kind": f.kind, "reason": f.reason} for f in self.faults],
        }


@dataclass(frozen=True, slots=True)
class Manifest:
    """What :func:`wijkbrug.synth.write_dataset` wrote, as stored in ``manifest.json``."""

    seed: int
    as_of: date
    faults: int
    files: dict[str, FileStats]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "as_of": self.as_of.isoformat(),
            "faults": self.faults,
            "files": {name: stats.as_dict() for name, stats in self.files.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"
