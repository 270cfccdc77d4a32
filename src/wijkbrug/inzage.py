"""Subject access (AVG art. 15): every delivery about one resident, from the ledger.

The ledger holds residents only as HMACs under its own key, so a request is answered by hashing
the tenant number (or BSN) the same way; a BSN also finds every delivery about the tenant(s) it
was registered with.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from wijkbrug.ledger import Ledger, deliveries

KIND_LABELS = {
    "signal": "signaal",
    "milestone": "mijlpaal",
    "alert": "melding",
    "retraction": "intrekking",
}
STATUS_LABELS = {
    "queued": "in wachtrij",
    "sending": "wordt verzonden",
    "delivered": "geleverd",
    "failed": "mislukt",
    "cancelled": "niet verzonden",
}


def subject_access(
    ledger: Ledger,
    subjects: Callable[[str, str], list[str]],
    *,
    tenant: str | None,
    bsn: str | None,
) -> list[dict[str, Any]]:
    """Ledger rows about the resident, oldest first, with ``fields`` as a list."""
    if not tenant and not bsn:
        raise ValueError("give a tenant number or a BSN")
    wanted = set(subjects("huurder", tenant)) if tenant else set()
    if bsn:
        hashed = subjects("bsn", bsn)
        wanted |= {r["subject"] for r in ledger.rows(deliveries.c.bsn_subject.in_(hashed))}
    if not wanted:
        return []
    rows = ledger.rows(deliveries.c.subject.in_(sorted(wanted)))
    for row in rows:
        row["fields"] = orjson.loads(row["fields"])
    return rows


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def as_json(rows: list[dict[str, Any]]) -> str:
    keep = (
        "event_id", "partner", "channel", "kind", "event_type", "purpose", "consent_id",
        "contract_version", "key_id", "fields", "status", "created_at", "delivered_at",
        "retracted_by", "payload_sha256",
    )  # fmt: skip
    return orjson.dumps(
        [{k: row[k] for k in keep} for row in rows],
        option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC,
    ).decode()


def as_text(rows: list[dict[str, Any]], who: str) -> str:
    """The Dutch report a privacy officer hands over (the resident is named by the asker)."""
    delivered = [r for r in rows if r["status"] in ("delivered", "sending")]
    partners = sorted({r["partner"] for r in delivered})
    lines = [
        f"Inzageverzoek (AVG art. 15): {who}",
        f"{len(delivered)} leveringen aan {len(partners)} partner(s)"
        + (f": {', '.join(partners)}" if partners else ""),
        "",
    ]
    if not rows:
        lines.append("Er is niets over deze bewoner geleverd.")
        return "\n".join(lines)
    for row in rows:
        lines.append(
            f"{_when(row['delivered_at'] or row['created_at'])}  {row['partner']:<24}"
            f"{row['channel']:<8}{KIND_LABELS.get(row['kind'], row['kind']):<11}"
            f"doel {row['purpose'] or '-':<17}toestemming {row['consent_id'] or '-':<12}"
            f"contract {row['contract_version']:<12}{STATUS_LABELS[row['status']]}"
        )
        lines.append(f"    velden: {', '.join(row['fields'])}")
        if row["key_id"]:
            lines.append(f"    pseudoniemsleutel: {row['key_id']}")
        if row["retracted_by"]:
            lines.append("    ingetrokken: de partner is gevraagd dit te verwijderen")
    return "\n".join(lines)
