"""Synthetic source files for the Thema-dreven renovation: planning, visits, consents, feedback.

Everything is invented (no real persons) and deterministic: the same ``seed``, ``as_of`` and
``faults`` give byte-identical files. Nothing depends on the clock; ``as_of`` is the export day.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from wijkbrug.codes import CONSENT_COLUMNS
from wijkbrug.synth.faults import plant_consents, plant_feedback, plant_planning, plant_visits
from wijkbrug.synth.formats import consents_bytes, jsonl_bytes, planning_bytes
from wijkbrug.synth.manifest import FileStats, Manifest, PlantedFault
from wijkbrug.synth.population import build_population
from wijkbrug.synth.registry import (
    build_consents,
    build_feedback,
    consent_rows,
)
from wijkbrug.synth.timeline import build_planning
from wijkbrug.synth.visits import build_visits

__all__ = ["FileStats", "Manifest", "PlantedFault", "write_dataset"]

PLANNING_FILE = "planning.csv"
VISITS_FILE = "home_visits.jsonl"
CONSENTS_FILE = "consents.csv"
FEEDBACK_FILE = "feedback.jsonl"
MANIFEST_FILE = "manifest.json"


def write_dataset(
    out_dir: Path, seed: int = 7, as_of: date = date(2026, 6, 30), faults: int = 0
) -> Manifest:
    """Write the four source files and ``manifest.json`` into ``out_dir``; return the manifest.

    ``faults`` faulty records are planted in each file (plus as many exact duplicate rows in
    the planning); 0 gives a clean dataset.
    """
    if faults < 0:
        raise ValueError("faults must be 0 or more")
    units = build_population(seed)
    rows = build_planning(units, seed, as_of)
    visits = build_visits(rows, seed)
    consents = build_consents(visits, seed)
    feedback = build_feedback(consents, seed, as_of)

    planning = plant_planning(rows, faults, seed)
    home_visits = plant_visits(visits, faults, seed)
    registry = plant_consents(consent_rows(consents, as_of), faults, seed, len(consents) + 1)
    reports = plant_feedback(feedback, faults, seed)

    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {
        PLANNING_FILE: (planning_bytes([e.payload for e in planning]), planning, 2),
        VISITS_FILE: (jsonl_bytes([e.payload for e in home_visits]), home_visits, 1),
        CONSENTS_FILE: (
            consents_bytes(CONSENT_COLUMNS, [e.payload for e in registry]),
            registry,
            2,
        ),
        FEEDBACK_FILE: (jsonl_bytes([e.payload for e in reports]), reports, 1),
    }
    files: dict[str, FileStats] = {}
    for name, (data, entries, first_line) in outputs.items():
        (out_dir / name).write_bytes(data)
        files[name] = FileStats.of(entries, first_line)
    manifest = Manifest(seed=seed, as_of=as_of, faults=faults, files=files)
    (out_dir / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return manifest
