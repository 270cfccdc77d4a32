"""Monitoring aggregates for the neighbourhood programme, with small-cell suppression.

``run(events, out_dir)`` is the entry point for the monitoring DAG: it aggregates decoded
events per complex and period (:mod:`.aggregates`), suppresses small cells and whatever would
reveal them (:mod:`.suppression`), and writes ``monitoring.parquet`` for the programme team and
a static Dutch dashboard ``index.html`` (:mod:`.dashboard`). Both files hold published values
only and are byte-identical for the same events and parameters: nothing depends on the clock.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wijkbrug.monitoring.aggregates import Period, aggregate, sort_table
from wijkbrug.monitoring.dashboard import render
from wijkbrug.monitoring.suppression import TABLE_COLUMNS, suppress_counts, suppress_medians

if TYPE_CHECKING:
    from wijkbrug.delivery import Incoming

__all__ = ["MonitoringOutput", "Report", "build", "run", "write_parquet"]

log = logging.getLogger(__name__)

PARQUET_FILE = "monitoring.parquet"
DASHBOARD_FILE = "index.html"
SCHEMA_VERSION = 1
PARQUET_SCHEMA = pa.schema(
    [
        ("complex", pa.string()),
        ("period", pa.string()),
        ("measure", pa.string()),
        ("dimension", pa.string()),
        ("value", pa.float64()),
        ("suppressed", pa.bool_()),
        ("suppression", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class Report:
    """The published table and what the outputs say about it besides."""

    table: pd.DataFrame  # TABLE_COLUMNS, reading order; suppressed values are null
    period: Period
    threshold: int
    data_through: date | None  # local date of the newest event used


@dataclass(frozen=True, slots=True)
class MonitoringOutput:
    parquet_path: Path
    dashboard_path: Path
    table: pd.DataFrame


def build(
    events: Iterable[Incoming],
    *,
    period: Period = "week",
    threshold: int = 10,
    timezone: str = "Europe/Amsterdam",
) -> Report:
    """The published monitoring table from the events: pure, no files.

    Periods come from the calendar dates inside the events (already local); ``timezone`` only
    turns the newest event time into the "data through" date shown on the dashboard.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError("threshold must be a whole number of at least 1")
    zone = ZoneInfo(timezone)
    aggregates = aggregate(events, period)
    table = pd.concat(
        [
            suppress_counts(aggregates.counts, threshold),
            suppress_medians(aggregates.medians, threshold),
        ],
        ignore_index=True,
    )
    table = sort_table(table)
    latest = aggregates.latest_event
    through = latest.tz_convert(zone).date() if latest is not None else None
    log.info(
        "monitoring: %d cells for %d periods, %d suppressed (%d primary, %d secondary)",
        len(table),
        table["period"].nunique(),
        int(table["suppressed"].sum()),
        int((table["suppression"] == "primair").sum()),
        int((table["suppression"] == "secundair").sum()),
    )
    return Report(table, period, threshold, through)


def _metadata(report: Report) -> dict[bytes, bytes]:
    about = {
        "schema_version": SCHEMA_VERSION,
        "period": report.period,
        "threshold": report.threshold,
        "data_through": report.data_through.isoformat() if report.data_through else None,
    }
    return {b"wijkbrug.monitoring": json.dumps(about, sort_keys=True).encode()}


def write_parquet(report: Report, path: Path) -> None:
    """Published values only, zstd; deterministic: no pandas metadata, no clock."""
    table = report.table
    arrays = [
        pa.array(table[field.name].astype(object), type=field.type, from_pandas=True)
        for field in PARQUET_SCHEMA
    ]
    data = pa.table(arrays, schema=PARQUET_SCHEMA.with_metadata(_metadata(report)))
    _atomic(path, lambda tmp: pq.write_table(data, tmp, compression="zstd"))


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write via a temporary file in the same directory, then rename: never a half file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def run(
    events: Iterable[Incoming],
    out_dir: Path,
    *,
    period: Period = "week",
    threshold: int = 10,
    timezone: str = "Europe/Amsterdam",
) -> MonitoringOutput:
    """Aggregate, suppress and write ``monitoring.parquet`` and ``index.html`` into ``out_dir``."""
    report = build(events, period=period, threshold=threshold, timezone=timezone)
    out_dir.mkdir(parents=True, exist_ok=True)
    parquet_path, dashboard_path = out_dir / PARQUET_FILE, out_dir / DASHBOARD_FILE
    write_parquet(report, parquet_path)
    page = render(
        report.table, period=period, threshold=threshold, data_through=report.data_through
    )
    _atomic(dashboard_path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return MonitoringOutput(parquet_path, dashboard_path, report.table[TABLE_COLUMNS])
