"""Weekly monitoring aggregates: a Parquet table and a Dutch dashboard per reporting period.

Each run's data interval is one ISO week (Monday 00:00 to Monday 00:00, Amsterdam time); the
run reads every event published before the interval's end, aggregates per week or month with
small-cell suppression, and writes ``monitoring.parquet`` and ``index.html`` to
``<WIJKBRUG_MONITORING_DIR or state dir/monitoring>/<period>/<2026-W10 | 2026-03>/``. Period and
suppression threshold are DAG params (defaults from ``WIJKBRUG_MONITORING_PERIOD`` and
``WIJKBRUG_MONITORING_THRESHOLD``). The work is ``wijkbrug.scheduled``'s.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task

TIMEZONE = "Europe/Amsterdam"
DASHBOARD = Asset("wijkbrug://monitoring/dashboard")


@dag(
    dag_id="monitoring_aggregates",
    schedule=CronDataIntervalTimetable("0 0 * * 1", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 5, tz=TIMEZONE),
    catchup=False,  # each run covers all history up to its end; backfill a past week by hand
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=15)},
    params={
        "period": Param(
            os.environ.get("WIJKBRUG_MONITORING_PERIOD", "week"),
            enum=["week", "month"],
            description="Aggregeren per ISO-week of per maand.",
        ),
        "threshold": Param(
            int(os.environ.get("WIJKBRUG_MONITORING_THRESHOLD", "10")),
            type="integer",
            minimum=1,
            description="Cellen met minder dan dit aantal worden onderdrukt.",
        ),
    },
    tags=["wijkbrug", "monitoring"],
    doc_md=__doc__,
)
def monitoring_aggregates() -> None:
    @task(outlets=[DASHBOARD], execution_timeout=timedelta(hours=1))
    def aggregate(params=None, data_interval_end=None) -> dict[str, Any]:
        """Aggregate, suppress and write the period's Parquet file and dashboard."""
        from wijkbrug.scheduled import build_monitoring

        return build_monitoring(
            data_interval_end, period=params["period"], threshold=int(params["threshold"])
        )

    aggregate()


monitoring_aggregates()
