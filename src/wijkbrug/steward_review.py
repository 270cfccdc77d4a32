"""The steward review the ``steward_review`` DAG runs when records pile up in quarantine.

Three steps, each named by record ids, counts and reason codes only, never by a value:

- :func:`quarantine_payload` is the watcher's filter: it turns one record of the quarantine
  topic into what Airflow stores as the asset event (no ``raw``: that may be personal data);
- :func:`summarise` reads the open quarantine (the topic minus the steward audit trail) and
  what earlier reviews already saw; :func:`is_spike` decides whether to ask the stewards;
- :func:`record_decision` appends the stewards' answer to ``steward_reviews.jsonl`` in the
  state dir, which is also how the next review knows which records are new.

The spike is decided here, on durable state, and not in the Kafka trigger: the shared-stream
trigger acknowledges a record it passes over as soon as it reads the next one, so a count kept
in the triggerer's memory would be lost on a restart while its records are already committed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson

from wijkbrug.reasons import REASONS

if TYPE_CHECKING:  # the DAG file imports this module while parsing: keep it light
    from wijkbrug.settings import Settings

log = logging.getLogger(__name__)

REVIEWS_FILE = "steward_reviews.jsonl"
#: The stewards' options in the Airflow form, and what each means in the decision file.
OPTIONS: Mapping[str, str] = {
    "Oppakken": "taken",
    "Geen actie nodig": "no_action",
    "Escaleren": "escalated",
}
#: Chosen when nobody answers in time (HITL ``defaults``).
DEFAULT_OPTION = "Escaleren"
_KEYS = ("connector", "source_file", "source_sha256", "line", "reasons")


def quarantine_payload(value: bytes | str | None) -> dict[str, Any] | None:
    """The asset-event payload for one quarantine record's value; None if it is none.

    Keeps where the record came from and why it is held; drops ``raw``. The record is named
    by ``source_sha256`` and ``line`` (its CloudEvents id travels in the headers, which the
    shared stream does not pass on).
    """
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or any(key not in data for key in _KEYS):
        return None
    reasons = data["reasons"] if isinstance(data["reasons"], list) else []
    return {
        "connector": str(data["connector"]),
        "source_file": str(data["source_file"]),
        "source_sha256": str(data["source_sha256"]),
        "line": data["line"],
        "reasons": sorted({str(r.get("code")) for r in reasons if isinstance(r, dict)}),
    }


@dataclass(frozen=True, slots=True)
class QuarantineSummary:
    """The open quarantine as stewards see it: counts, codes and ids, no values."""

    total: int  # records on the quarantine topic
    open: int  # neither released nor rejected
    new: int  # open and not seen by an earlier steward review
    by_connector: dict[str, int]  # open records per connector
    by_reason: dict[str, int]  # open records per reason code
    oldest: str | None  # local date of the oldest open record
    open_ids: list[str]  # quarantine record ids (event ids) of the open records
    triggered_by: int = 0  # asset events (quarantine records) that started this run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuarantineSummary:
        return cls(**data)


def reviews_path(settings: Settings) -> Path:
    return settings.state_dir / REVIEWS_FILE


def reviewed_ids(settings: Settings) -> set[str]:
    """Every record id an earlier steward review was asked about."""
    path = reviews_path(settings)
    if not path.exists():
        return set()
    seen: set[str] = set()
    for line in path.read_bytes().splitlines():
        if line.strip():
            seen.update(orjson.loads(line).get("record_ids", []))
    return seen


def summarise(settings: Settings, *, triggered_by: int = 0) -> QuarantineSummary:
    """Read the quarantine topic and the audit trail: what is open, and what is new."""
    from wijkbrug.quarantine_audit import AuditTrail
    from wijkbrug.quarantine_desk import read_quarantine
    from wijkbrug.quarantine_review import reviews

    records = read_quarantine(settings)
    decided = reviews(AuditTrail.read_only(settings.ledger()))
    still_open = [r for r in records if r.id not in decided]
    seen = reviewed_ids(settings)
    zone = ZoneInfo(settings.timezone)
    summary = QuarantineSummary(
        total=len(records),
        open=len(still_open),
        new=sum(1 for r in still_open if r.id not in seen),
        by_connector=dict(sorted(Counter(r.connector for r in still_open).items())),
        by_reason=dict(
            sorted(Counter(code.code for r in still_open for code in r.reasons).items())
        ),
        oldest=min(r.time for r in still_open).astimezone(zone).date().isoformat()
        if still_open
        else None,
        open_ids=[r.id for r in still_open],
        triggered_by=triggered_by,
    )
    log.info(
        "quarantaine: %d records, %d open, %d nieuw sinds de vorige beoordeling",
        summary.total,
        summary.open,
        summary.new,
    )
    return summary


def is_spike(summary: QuarantineSummary, threshold: int) -> bool:
    """Ask the stewards when at least ``threshold`` open records are new to them."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    return summary.new >= threshold


def subject(summary: QuarantineSummary) -> str:
    return f"Quarantaine: {summary.new} nieuwe records wachten op beoordeling"


def body(summary: QuarantineSummary) -> str:
    """The Dutch request in Markdown: counts per connector and reason, no record values."""
    lines = [
        f"Er staan **{summary.open} records open** in quarantaine, waarvan **{summary.new} "
        "nieuw** sinds de vorige beoordeling.",
    ]
    if summary.oldest:
        lines.append(f"Het oudste open record is van {summary.oldest}.")
    lines += ["", "| Bron | Open |", "|---|---:|"]
    lines += [f"| {name} | {count} |" for name, count in summary.by_connector.items()]
    lines += ["", "| Reden | Records |", "|---|---:|"]
    lines += [
        f"| {REASONS.get(code, code)} (`{code}`) | {count} |"
        for code, count in summary.by_reason.items()
    ]
    lines += [
        "",
        "Bekijk de records met `wijkbrug quarantine list`; persoonsgegevens blijven gemaskeerd "
        "tot u ze met een reden onthult. Kies hieronder wat er met deze melding gebeurt: "
        "**Oppakken** (u beoordeelt de records), **Geen actie nodig** of **Escaleren** "
        "(naar de privacy officer en de bronhouder).",
    ]
    return "\n".join(lines)


def record_decision(
    settings: Settings,
    summary: QuarantineSummary,
    response: Mapping[str, Any] | None,
    *,
    run_id: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Append the stewards' decision on this review to the decision file; return the entry.

    ``response`` is the Human-in-the-loop task's result (``chosen_options``, ``responded_by_
    user``, ``responded_at``); None when the task was set to success without an answer.
    """
    chosen = list((response or {}).get("chosen_options") or [])
    user = (response or {}).get("responded_by_user") or None
    entry = {
        "run_id": run_id,
        "recorded_at": (now or datetime.now(UTC)).isoformat(),
        "decision": OPTIONS.get(chosen[0], "unknown") if chosen else "none",
        "option": chosen[0] if chosen else None,
        # Who decided: a steward's account, for accountability, as in the audit trail.
        "responded_by": user.get("name") or user.get("id") if isinstance(user, Mapping) else None,
        "open": summary.open,
        "new": summary.new,
        "by_reason": summary.by_reason,
        "record_ids": summary.open_ids,
    }
    path = reviews_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        handle.write(orjson.dumps(entry) + b"\n")
    log.info(
        "besluit stewards: %s over %d open records (%d nieuw); vastgelegd in %s",
        entry["decision"],
        summary.open,
        summary.new,
        path,
    )
    return entry
