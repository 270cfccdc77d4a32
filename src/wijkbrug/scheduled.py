"""What the scheduled DAGs call: a run's interval in, counts and paths out (no Airflow here).

The DAG files in ``dags/`` only declare schedules, assets and task wiring; each task calls one
function of this module with its data interval and run id. Settings come from the environment
(``WIJKBRUG_*``), as on every wijkbrug command. Results are JSON-ready (they travel as XCom)
and hold counts and paths only: nothing personal reaches Airflow's database or its logs.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from wijkbrug.settings import Settings

log = logging.getLogger(__name__)

Period = Literal["week", "month"]
#: Airflow run ids (``scheduled__2026-03-10T02:00:00+00:00``) as wijkbrug run ids.
_NOT_ALLOWED = re.compile(r"[^0-9A-Za-z._-]+")


def run_label(run_id: str) -> str:
    """An Airflow run id as wijkbrug accepts it: ``[0-9A-Za-z._-]``, alphanumeric first."""
    label = _NOT_ALLOWED.sub("-", run_id).lstrip("._-")[:128].rstrip("-")
    return label or "run"


def sync_night(start: datetime, end: datetime, run_id: str) -> dict[str, Any]:
    """Run the nightly partner sync for [``start``, ``end``); counts and paths of the result."""
    from wijkbrug.nightly import run_night

    result = run_night(Settings(), start, end, run_id=run_label(run_id))
    drops = {
        partner: {
            "parquet": str(drop.parquet),
            "manifest": str(drop.manifest),
            "rows": drop.rows,
            "sha256": drop.sha256,
        }
        for partner, drop in sorted(result.drops.items())
    }
    return {
        "interval": [result.interval[0].isoformat(), result.interval[1].isoformat()],
        "events": result.events,
        "new_deliveries": result.new_deliveries,
        "quarantined": result.quarantined,
        "drops": drops,
        "summary": str(result.summary) if result.summary else None,
        "data_docs": str(result.data_docs) if result.data_docs else None,
    }


def log_night(night: dict[str, Any]) -> None:
    """The night's counts and files in the task log, for the operators (no record values)."""
    start, end = night["interval"]
    log.info(
        "nacht %s - %s: %d events, %d nieuwe leveringen, %d in quarantaine",
        start,
        end,
        night["events"],
        night["new_deliveries"],
        night["quarantined"],
    )
    for partner, drop in night["drops"].items():
        log.info("levering %s: %d regels in %s", partner, drop["rows"], drop["parquet"])
    if night["summary"]:
        log.info("validatie-samenvatting voor stewards: %s", night["summary"])


def monitoring_dir(settings: Settings) -> Path:
    """``WIJKBRUG_MONITORING_DIR``, else ``monitoring/`` in the state dir."""
    given = os.environ.get("WIJKBRUG_MONITORING_DIR")
    return Path(given) if given else settings.state_dir / "monitoring"


def period_label(period: Period, end: datetime, timezone: str) -> str:
    """The reporting period a run closes, named by the interval's last local day:
    ``2026-W10`` (ISO week) or ``2026-03``."""
    last = (end - timedelta(microseconds=1)).astimezone(ZoneInfo(timezone)).date()
    if period == "week":
        year, week, _ = last.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{last.year}-{last.month:02d}"
    raise ValueError(f"period must be week or month, not {period!r}")


def build_monitoring(end: datetime, *, period: Period, threshold: int) -> dict[str, Any]:
    """The monitoring Parquet file and dashboard of every event published before ``end``,
    in a folder of their own per period: ``<monitoring dir>/<period>/<label>/``."""
    from wijkbrug.monitoring import run
    from wijkbrug.monitoring.aggregates import FIELDS
    from wijkbrug.nightly.sync import events_passed

    settings = Settings()
    out_dir = monitoring_dir(settings) / period / period_label(period, end, settings.timezone)
    events = events_passed(settings, list(FIELDS), None, end)
    output = run(events, out_dir, period=period, threshold=threshold, timezone=settings.timezone)
    suppressed = int(output.table["suppressed"].sum())
    log.info(
        "monitoring %s: %d events, %d cellen (%d onderdrukt), drempel %d; %s",
        out_dir.name,
        len(events),
        len(output.table),
        suppressed,
        threshold,
        output.dashboard_path,
    )
    return {
        "period": period,
        "label": out_dir.name,
        "events": len(events),
        "cells": len(output.table),
        "suppressed": suppressed,
        "parquet": str(output.parquet_path),
        "dashboard": str(output.dashboard_path),
    }
