"""Planting faulty records (and, in the planning, exact duplicates) into a clean dataset.

Faulty records are *extra* records next to the valid ones: each is a copy of a valid record
with a fresh identity (a new id, or in the planning a different identity tuple) and exactly one
fault. The valid records are the same with and without faults.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from random import Random
from typing import Any, TypeVar

from wijkbrug.synth.dates import add_days, add_months, format_date, workday
from wijkbrug.synth.formats import dumps
from wijkbrug.synth.identity import invalid_bsn
from wijkbrug.synth.manifest import Entry
from wijkbrug.synth.timeline import PlanRow
from wijkbrug.synth.visits import Visit

T = TypeVar("T")

#: (kind, reason code) per file, planted round-robin.
PLANNING_FAULTS: tuple[tuple[str, str], ...] = (
    ("postcode_malformed", "postcode.format"),
    ("planned_date_impossible", "date.invalid"),
    ("realised_in_2099", "date.future"),
    ("milestone_unknown", "code.unknown"),
    ("column_missing", "csv.field_count"),
    ("house_number_with_letter", "huisnummer.invalid"),
)
VISIT_FAULTS: tuple[tuple[str, str], ...] = (
    ("line_truncated", "json.invalid"),
    ("bsn_fails_elfproef", "bsn.elfproef"),
    ("signal_category_unknown", "code.unknown"),
    ("partner_unknown", "partner.unknown"),
    ("partner_aggregates_only", "partner.aggregates_only"),
    ("visit_date_impossible", "date.invalid"),
)
CONSENT_FAULTS: tuple[tuple[str, str], ...] = (
    ("partner_unknown", "partner.unknown"),
    ("status_unknown", "code.unknown"),
    ("valid_until_impossible", "date.invalid"),
    ("valid_until_before_start", "date.order"),
)
FEEDBACK_FAULTS: tuple[tuple[str, str], ...] = (
    ("line_truncated", "json.invalid"),
    ("kind_unknown", "code.unknown"),
    ("partner_unknown", "partner.unknown"),
    ("date_impossible", "date.invalid"),
)
UNKNOWN_PARTNER = "politie"
AGGREGATES_ONLY_PARTNER = "wijkaanpak-monitoring"


def _rng(seed: int, count: int, name: str) -> Random:
    return Random(f"wijkbrug/{seed}/faults/{count}/{name}")


def _bases(
    items: list[T], count: int, rng: Random, fits: Callable[[int, T], bool], taken: set[int]
) -> list[tuple[int, int]]:
    """Up to ``count`` pairs (i, index): distinct indices spread evenly over ``items``.

    The i-th index must satisfy ``fits(i, item)``; ``taken`` indices are skipped, and the
    chosen ones are added to it.
    """
    n = len(items)
    chosen: list[tuple[int, int]] = []
    for i in range(count):
        lo, hi = i * n // count, max(i * n // count, (i + 1) * n // count - 1)
        start = rng.randint(lo, hi) if n else 0
        for step in range(n):
            index = (start + step) % n
            if index not in taken and fits(i, items[index]):
                chosen.append((i, index))
                taken.add(index)
                break
    return chosen


def _assemble(valid: list[T], extras: list[tuple[int, Entry[T]]]) -> list[Entry[T]]:
    """The valid records with each extra entry inserted after the record at its index."""
    after: dict[int, list[Entry[T]]] = {}
    for index, entry in extras:
        after.setdefault(index, []).append(entry)
    entries: list[Entry[T]] = []
    for index, payload in enumerate(valid):
        entries.append(Entry(payload))
        entries.extend(after.get(index, []))
    return entries


def _impossible(day: date) -> str:
    """30 February of the year of ``day``, as ``yyyy-mm-dd``."""
    return f"{day.year}-02-30"


# --- planning.csv ----------------------------------------------------------------------------


def _planning_fault(kind: str, row: PlanRow, occurrence: int) -> list[str]:
    moved = replace(row, planned=workday(add_days(row.planned, 7)), realised=None).fields()
    fields = row.fields()
    postcode = row.unit.postcode
    if kind == "postcode_malformed":
        # '356 AB' (a digit short) or 'AB3562' (letters first)
        moved[6] = (
            f"{postcode[:3]} {postcode[4:]}"
            if occurrence % 2 == 0
            else (postcode[4:] + postcode[:4])
        )
        return moved
    if kind == "planned_date_impossible":
        fields[9] = f"31-2-{row.planned.year}"
        return fields
    if kind == "realised_in_2099":
        future = date(2099, row.planned.month, min(row.planned.day, 28))
        fields[10] = format_date(future, row.realised_style)
        return fields
    if kind == "milestone_unknown":
        fields[8] = "sloop"
        return fields
    if kind == "column_missing":
        return moved[:-1]
    if kind == "house_number_with_letter":
        moved[4] = f"{row.unit.number}a"
        return moved
    raise ValueError(kind)


def _planning_fits(kind: str, row: PlanRow, single: Counter[tuple[str, str]]) -> bool:
    if single[(row.unit.vhe, row.milestone)] != 1:
        return False
    if kind == "planned_date_impossible":
        return row.realised is not None
    if kind == "column_missing":
        return row.remark == ""
    if kind == "house_number_with_letter":
        return row.unit.addition == ""
    return True


def plant_planning(rows: list[PlanRow], count: int, seed: int) -> list[Entry[list[str]]]:
    """Planning rows plus ``count`` faulty rows and ``count`` exact duplicates."""
    valid = [row.fields() for row in rows]
    if count == 0:
        return _assemble(valid, [])
    rng = _rng(seed, count, "planning")
    single = Counter((row.unit.vhe, row.milestone) for row in rows)
    taken: set[int] = set()

    def fits(i: int, row: PlanRow) -> bool:
        return _planning_fits(PLANNING_FAULTS[i % len(PLANNING_FAULTS)][0], row, single)

    extras: list[tuple[int, Entry[list[str]]]] = []
    for i, index in _bases(rows, count, rng, fits, taken):
        kind, reason = PLANNING_FAULTS[i % len(PLANNING_FAULTS)]
        payload = _planning_fault(kind, rows[index], i // len(PLANNING_FAULTS))
        extras.append((index, Entry(payload, (kind, reason))))
    for _, index in _bases(rows, count, rng, lambda _i, _r: True, taken):
        later = min(len(rows) - 1, index + rng.randint(1, 40))
        extras.append((later, Entry(list(valid[index]), duplicate=True)))
    return _assemble(valid, extras)


# --- home_visits.jsonl -----------------------------------------------------------------------


def _visit_fault(kind: str, visit: Visit, registration_id: str, rng: Random) -> str:
    record: dict[str, Any] = copy.deepcopy(visit.record)
    record["registratie_id"] = registration_id
    if kind == "line_truncated":
        text = dumps(record)
        return text[: len(text) // 2]
    if kind == "bsn_fails_elfproef":
        resident = record["bewoner"]
        ordered = {key: resident[key] for key in ("naam", "telefoon", "geboortedatum")}
        ordered["bsn"] = invalid_bsn(rng)
        if "taal" in resident:
            ordered["taal"] = resident["taal"]
        record["bewoner"] = ordered
    elif kind == "signal_category_unknown":
        record["signalen"][0]["categorie"] = "onbekend"
    elif kind in ("partner_unknown", "partner_aggregates_only"):
        partner = UNKNOWN_PARTNER if kind == "partner_unknown" else AGGREGATES_ONLY_PARTNER
        if record["toestemmingen"]:
            record["toestemmingen"][0]["partner"] = partner
        else:
            record["toestemmingen"].append(
                {
                    "partner": partner,
                    "doel": "informeren",
                    "categorieen": [record["signalen"][0]["categorie"]],
                    "geldig_tot": add_months(visit.day, 6).isoformat(),
                }
            )
    elif kind == "visit_date_impossible":
        record["bezoekdatum"] = _impossible(visit.day)
    else:
        raise ValueError(kind)
    return dumps(record)


def plant_visits(visits: list[Visit], count: int, seed: int) -> list[Entry[str]]:
    """Visit lines plus ``count`` faulty ones, each with a fresh registratie_id."""
    valid = [dumps(visit.record) for visit in visits]
    rng = _rng(seed, count, "home_visits")
    used = Counter(visit.day.year for visit in visits)
    extras: list[tuple[int, Entry[str]]] = []
    for i, index in _bases(visits, count, rng, lambda _, v: bool(v.record["signalen"]), set()):
        kind, reason = VISIT_FAULTS[i % len(VISIT_FAULTS)]
        visit = visits[index]
        used[visit.day.year] += 1
        registration_id = f"HB-{visit.day.year}-{used[visit.day.year]:06d}"
        extras.append(
            (index, Entry(_visit_fault(kind, visit, registration_id, rng), (kind, reason)))
        )
    return _assemble(valid, extras)


# --- consents.csv ----------------------------------------------------------------------------


def _consent_fault(kind: str, row: list[str], consent_id: str, rng: Random) -> list[str]:
    fields = list(row)
    fields[0] = consent_id
    start = date.fromisoformat(fields[7])
    if kind == "partner_unknown":
        fields[4] = UNKNOWN_PARTNER
    elif kind == "status_unknown":
        fields[1] = "misschien"
    elif kind == "valid_until_impossible":
        fields[8] = _impossible(date(start.year + 1, 1, 1))
    elif kind == "valid_until_before_start":
        fields[8] = add_days(start, -rng.randint(30, 180)).isoformat()
    else:
        raise ValueError(kind)
    return fields


def plant_consents(
    rows: list[list[str]], count: int, seed: int, next_number: int
) -> list[Entry[list[str]]]:
    """Registry rows plus ``count`` faulty ``gegeven`` rows with fresh toestemming_ids.

    A faulty row goes after the last row of its mutatiedatum, so the file stays sorted.
    """
    rng = _rng(seed, count, "consents")
    extras: list[tuple[int, Entry[list[str]]]] = []
    for i, index in _bases(rows, count, rng, lambda _, r: r[1] == "gegeven", set()):
        kind, reason = CONSENT_FAULTS[i % len(CONSENT_FAULTS)]
        fields = _consent_fault(kind, rows[index], f"TST-{next_number + i:06d}", rng)
        last = index
        while last + 1 < len(rows) and rows[last + 1][9] == rows[index][9]:
            last += 1
        extras.append((last, Entry(fields, (kind, reason))))
    return _assemble(rows, extras)


# --- feedback.jsonl --------------------------------------------------------------------------


def _feedback_fault(kind: str, record: dict[str, Any], feedback_id: str) -> str:
    faulty = dict(record, terugmelding_id=feedback_id)
    if kind == "line_truncated":
        text = dumps(faulty)
        return text[: len(text) // 2]
    if kind == "kind_unknown":
        faulty["soort"] = "onbekend"
    elif kind == "partner_unknown":
        faulty["partner"] = UNKNOWN_PARTNER
    elif kind == "date_impossible":
        faulty["datum"] = _impossible(date.fromisoformat(record["datum"]))
    else:
        raise ValueError(kind)
    return dumps(faulty)


def plant_feedback(records: list[dict[str, Any]], count: int, seed: int) -> list[Entry[str]]:
    """Feedback lines plus ``count`` faulty ones with fresh terugmelding_ids."""
    valid = [dumps(record) for record in records]
    rng = _rng(seed, count, "feedback")
    extras: list[tuple[int, Entry[str]]] = []
    for i, index in _bases(records, count, rng, lambda _i, _r: True, set()):
        kind, reason = FEEDBACK_FAULTS[i % len(FEEDBACK_FAULTS)]
        line = _feedback_fault(kind, records[index], f"TM-{len(records) + 1 + i:06d}")
        extras.append((index, Entry(line, (kind, reason))))
    return _assemble(valid, extras)
