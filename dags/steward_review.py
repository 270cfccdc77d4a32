"""Steward review: asks the data stewards for a decision when quarantine records pile up.

Event-driven. An asset watcher on the ``quarantine`` topic (``WIJKBRUG_TOPIC_PREFIX`` +
``quarantine``) runs the Kafka provider's shared-stream trigger: one stored asset event per
quarantine record, its offset committed only after the event is stored. The payload keeps the
source, line and reason codes, never the raw record. Each run reads the open quarantine; if at
least ``threshold`` open records are new since the last review (a spike), the stewards get a
Dutch summary in a Human-in-the-loop form, and their answer is recorded in the state dir.

The watcher needs the triggerer, the Kafka connection ``WIJKBRUG_AIRFLOW_KAFKA_CONN`` (default
``wijkbrug_kafka``, with ``enable.auto.commit`` false and a ``group.id``), and
``wijkbrug.steward_review.quarantine_payload`` in ``[apache_kafka] callback_allowlist``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Asset, AssetWatcher, Param, dag, task

from wijkbrug.kafka_triggers import FilteredSharedStreamTrigger
from wijkbrug.steward_review import DEFAULT_OPTION, OPTIONS

QUARANTINE_TOPIC = os.environ.get("WIJKBRUG_TOPIC_PREFIX", "") + "quarantine"
QUARANTINE = Asset(
    "wijkbrug://quarantine",
    watchers=[
        AssetWatcher(
            name="quarantine_records",
            trigger=FilteredSharedStreamTrigger(
                topics=[QUARANTINE_TOPIC],
                apply_function="wijkbrug.steward_review.quarantine_payload",
                kafka_config_id=os.environ.get("WIJKBRUG_AIRFLOW_KAFKA_CONN", "wijkbrug_kafka"),
            ),
        )
    ],
)


@dag(
    dag_id="steward_review",
    schedule=[QUARANTINE],
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Amsterdam"),
    catchup=False,
    max_active_runs=1,  # one open question to the stewards at a time
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "threshold": Param(
            int(os.environ.get("WIJKBRUG_QUARANTINE_SPIKE_THRESHOLD", "10")),
            type="integer",
            minimum=1,
            description="Zoveel nieuwe open records in quarantaine maken een melding.",
        ),
    },
    tags=["wijkbrug", "stewards"],
    doc_md=__doc__,
)
def steward_review() -> None:
    @task
    def summarise(triggering_asset_events=None) -> dict[str, Any]:
        """Count the open quarantine and what is new since the last review (no values)."""
        from wijkbrug.settings import Settings
        from wijkbrug.steward_review import body, subject, summarise

        triggered = sum(len(events) for events in (triggering_asset_events or {}).values())
        summary = summarise(Settings(), triggered_by=triggered)
        return {"summary": summary.as_dict(), "subject": subject(summary), "body": body(summary)}

    @task.short_circuit
    def spike(review: dict[str, Any], params=None) -> bool:
        """A spike: enough new open records to ask the stewards; else the run ends here."""
        from wijkbrug.steward_review import QuarantineSummary, is_spike

        return is_spike(QuarantineSummary.from_dict(review["summary"]), int(params["threshold"]))

    decision = HITLOperator(
        task_id="steward_decision",
        subject="{{ ti.xcom_pull(task_ids='summarise')['subject'] }}",
        body="{{ ti.xcom_pull(task_ids='summarise')['body'] }}",
        options=list(OPTIONS),
        defaults=[DEFAULT_OPTION],
        response_timeout=timedelta(days=2),
        retries=0,
    )

    @task
    def record(review: dict[str, Any], ti=None, run_id=None) -> dict[str, Any]:
        """Record the stewards' decision (or its absence) with the records it covers."""
        from wijkbrug.settings import Settings
        from wijkbrug.steward_review import QuarantineSummary, record_decision

        response = ti.xcom_pull(task_ids="steward_decision")
        summary = QuarantineSummary.from_dict(review["summary"])
        entry = record_decision(Settings(), summary, response, run_id=run_id)
        return {key: entry[key] for key in ("decision", "open", "new")}

    review = summarise()
    spike(review) >> decision >> record(review)


steward_review()
