"""Nightly partner sync: each run owns one night and drops a Parquet file per partner.

The night is the run's data interval, 03:00 to 03:00 Amsterdam time (02:00 does not exist on
the last Sunday of March). Re-running or backfilling a night writes the same files and no new
deliveries, so nights the scheduler missed are caught up one at a time, in order, from
``WIJKBRUG_NIGHTLY_START`` (the first night to deliver, ISO date; set it to the go-live date
before unpausing). Older nights: ``airflow backfill create``. Every partner drop is an
asset event on ``wijkbrug://drops/<partner>`` (through the alias ``wijkbrug-drops``), so work
downstream can be scheduled on a partner's drop. The work is ``wijkbrug.scheduled``'s.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, AssetAlias, CronDataIntervalTimetable, dag, task

TIMEZONE = "Europe/Amsterdam"
FIRST_NIGHT = pendulum.parse(os.environ.get("WIJKBRUG_NIGHTLY_START", "2026-01-01"), tz=TIMEZONE)
#: The partner drops of a run: one asset event per drop, ``wijkbrug://drops/<partner>``.
DROPS = AssetAlias("wijkbrug-drops")


def drop_asset(partner: str) -> Asset:
    """The asset of a partner's nightly drop (schedule downstream DAGs on it)."""
    return Asset(f"wijkbrug://drops/{partner}")


@dag(
    dag_id="nightly_partner_sync",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone=TIMEZONE),
    start_date=FIRST_NIGHT,
    catchup=True,  # a missed night is still synced; max_active_runs keeps nights in order
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=10)},
    dagrun_timeout=timedelta(hours=6),
    tags=["wijkbrug", "partners"],
    doc_md=__doc__,
)
def nightly_partner_sync() -> None:
    @task(execution_timeout=timedelta(hours=2))
    def sync(data_interval_start=None, data_interval_end=None, run_id=None) -> dict[str, Any]:
        """Read, validate and deliver the night: a Parquet file and manifest per partner."""
        from wijkbrug.scheduled import sync_night

        return sync_night(data_interval_start, data_interval_end, run_id)

    @task(outlets=[DROPS])
    def report(night: dict[str, Any], outlet_events=None) -> None:
        """Log counts and paths; announce each partner's drop as an asset event."""
        from wijkbrug.scheduled import log_night

        log_night(night)
        for partner, drop in night["drops"].items():
            outlet_events[DROPS].add(
                drop_asset(partner),
                extra={
                    "rows": drop["rows"],
                    "sha256": drop["sha256"],
                    "manifest": drop["manifest"],
                },
            )

    report(sync())


nightly_partner_sync()
