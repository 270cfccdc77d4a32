"""A partner's nightly drop: one Parquet file (pyarrow, zstd) and its manifest.

Deterministic by construction, so a re-run or a backfill of a night writes byte-identical files:
rows sorted, no clock anywhere in them, the manifest's keys sorted. The file is written next to
its final name and renamed into place, so a partner never picks up half a file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wijkbrug.ledger import Delivery

#: The columns every partner's file has; ``data`` is what the contract lets through, as JSON
#: (sorted keys), since its fields differ per event type and per partner.
SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC")),
        pa.field("purpose", pa.string()),
        pa.field("consent_id", pa.string()),
        pa.field("contract_version", pa.string(), nullable=False),
        pa.field("key_id", pa.string()),
        pa.field("data", pa.string(), nullable=False),
    ]
)
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class PartnerDrop:
    """What was written for one partner and night."""

    partner: str
    parquet: Path
    manifest: Path
    rows: int
    sha256: str


def row(delivery: Delivery) -> dict[str, Any]:
    """One file row from a planned delivery's envelope (the bytes the stream would send)."""
    envelope = orjson.loads(delivery.payload)
    occurred = envelope.get("occurred_at")
    if delivery.kind == "retraction":
        data = {k: envelope[k] for k in ("delete_event_ids", "withdrawn_on", "message")}
    else:
        data = envelope["data"]
    return {
        "event_id": delivery.event_id,
        "kind": delivery.kind,
        "event_type": delivery.event_type,
        "occurred_at": datetime.fromisoformat(occurred) if occurred else None,
        "purpose": delivery.purpose,
        "consent_id": delivery.consent_id,
        "contract_version": delivery.contract_version,
        "key_id": delivery.key_id,
        "data": orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode(),
    }


def table(deliveries: Sequence[Delivery]) -> pa.Table:
    """The partner's rows, retractions last, otherwise by event time and id."""
    rows = sorted(
        (row(d) for d in deliveries),
        key=lambda r: (r["kind"] == "retraction", r["occurred_at"] is None, r["occurred_at"] or 0,
                       r["event_id"]),
    )  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _write_atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write(
    folder: Path,
    partner: str,
    night: str,
    interval: tuple[datetime, datetime],
    data: pa.Table,
) -> PartnerDrop:
    """Write ``<folder>/<partner>/<night>/``: the Parquet file of ``data`` (a :data:`SCHEMA`
    table, see :func:`table`) and its manifest."""
    target = folder / partner / night
    parquet = target / f"wijkbrug-{partner}-{night}.parquet"
    _write_atomic(
        parquet,
        lambda tmp: pq.write_table(data, tmp, compression="zstd", use_dictionary=True),
    )
    digest = hashlib.sha256(parquet.read_bytes()).hexdigest()
    kinds = {c["values"]: c["counts"] for c in pc.value_counts(data["kind"]).to_pylist()}
    manifest = {
        "partner": partner,
        "night": night,
        "data_interval": {"start": interval[0].isoformat(), "end": interval[1].isoformat()},
        "file": parquet.name,
        "format": "parquet",
        "compression": "zstd",
        "rows": data.num_rows,
        "rows_by_kind": kinds,
        "sha256": digest,
        "bytes": parquet.stat().st_size,
        "schema": [{"name": f.name, "type": str(f.type)} for f in SCHEMA],
        "contract_versions": sorted(set(pc.unique(data["contract_version"]).to_pylist())),
        "key_ids": sorted(k for k in pc.unique(data["key_id"]).to_pylist() if k),
    }
    manifest_path = target / MANIFEST
    text = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
    _write_atomic(manifest_path, lambda tmp: tmp.write_bytes(text))
    return PartnerDrop(partner, parquet, manifest_path, data.num_rows, digest)
