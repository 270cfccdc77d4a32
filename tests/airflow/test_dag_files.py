"""Every DAG file imports cleanly, and the timetables give each run the interval it owns."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pendulum

from tests.airflow.conftest import DAGS

DAG_IDS = {"nightly_partner_sync", "monitoring_aggregates", "steward_review"}
TZ = "Europe/Amsterdam"


def test_airflow_cli_parses_every_dag_file_without_import_errors(airflow_db: None) -> None:
    # -l: parse the files here, as the DAG processor would, not the errors recorded in the DB
    # (the CLI still wants a migrated DB to start).
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "dags", "list-import-errors", "-l", "-o", "plain"],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No data found" in result.stdout, result.stdout


def test_dagbag_has_the_three_dags_and_no_import_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == DAG_IDS
    for dag in bag.dags.values():
        assert dag.max_active_runs == 1, dag.dag_id
        assert all(task.retries >= 1 or task.task_id == "steward_decision" for task in dag.tasks)


def _core_timetable(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    return coerce_to_core_timetable(bag.dags[dag_id].timetable)


def _scheduled(timetable, since: pendulum.DateTime, count: int) -> list:
    """The data intervals the scheduler gives the first ``count`` runs from ``since``."""
    from airflow.timetables.base import TimeRestriction

    restriction = TimeRestriction(earliest=since, latest=None, catchup=True)
    intervals, last = [], None
    for _ in range(count):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        last = info.data_interval
        intervals.append(last)
    return intervals


def test_nightly_runs_each_own_one_night_from_03_00_amsterdam_time_dst_included() -> None:
    timetable = _core_timetable("nightly_partner_sync")
    # Across both DST changes of 2026 (29 March, 25 October): 23 and 25 hour nights.
    for first, odd_night in (("2026-03-26", 23.0), ("2026-10-22", 25.0)):
        nights = _scheduled(timetable, pendulum.parse(first, tz=TZ), 5)
        for night, following in itertools.pairwise(nights):
            assert night.end == following.start  # no gap, no overlap
        for night in nights:
            start, end = night.start.in_tz(TZ), night.end.in_tz(TZ)
            assert (start.hour, start.minute, end.hour, end.minute) == (3, 0, 3, 0)
            assert end.date() - start.date() == timedelta(days=1)
        hours = [(n.end - n.start).total_seconds() / 3600 for n in nights]
        assert sorted(hours) == sorted([24.0] * 4 + [odd_night])

    # A manual run (and dag.test) gets the last complete night, never an empty interval.
    for moment in ("2026-03-29T12:00", "2026-10-25T12:00", "2026-06-30T02:59"):
        night = timetable.infer_manual_data_interval(run_after=pendulum.parse(moment, tz=TZ))
        assert night.end - night.start >= timedelta(hours=23), moment


def test_monitoring_runs_each_own_one_iso_week_monday_to_monday() -> None:
    timetable = _core_timetable("monitoring_aggregates")
    weeks = _scheduled(timetable, pendulum.parse("2026-03-20", tz=TZ), 4)
    for week in weeks:
        start, end = week.start.in_tz(TZ), week.end.in_tz(TZ)
        assert start.isoweekday() == 1 and (start.hour, start.minute) == (0, 0)
        assert end.date() - start.date() == timedelta(days=7)
    assert [w.end for w in weeks[:-1]] == [w.start for w in weeks[1:]]
    manual = timetable.infer_manual_data_interval(run_after=pendulum.parse("2026-04-01", tz=TZ))
    assert manual.start.in_tz(TZ).date().isoformat() == "2026-03-23"
    assert manual.end.in_tz(TZ).date().isoformat() == "2026-03-30"


def test_a_plain_cron_string_would_give_no_interval_which_is_why_we_do_not_use_one() -> None:
    """The pitfall the timetables avoid: Airflow 3 reads ``"0 3 * * *"`` as a trigger."""
    from airflow.sdk import DAG
    from airflow.serialization.encoders import coerce_to_core_timetable

    trigger = coerce_to_core_timetable(
        DAG("plain_cron", schedule="0 3 * * *", start_date=pendulum.datetime(2026, 1, 1)).timetable
    )
    run = trigger.infer_manual_data_interval(run_after=pendulum.parse("2026-06-30", tz=TZ))
    assert run.start == run.end
    for dag_id in ("nightly_partner_sync", "monitoring_aggregates"):
        assert type(_core_timetable(dag_id)).__name__ == "CronDataIntervalTimetable"


def test_dag_files_import_no_domain_module_while_parsing() -> None:
    """Parsing stays fast and never fails on a missing domain module: no nightly, monitoring,
    GX or pandas import at the top of a DAG file (those are imported inside the tasks)."""
    code = (
        "import json, runpy, sys\n"
        "heavy = ('wijkbrug.nightly', 'wijkbrug.monitoring', 'wijkbrug.scheduled',"
        " 'wijkbrug.quarantine_cli', 'wijkbrug.quarantine_desk', 'great_expectations', 'pandas')\n"
        "found = {}\n"
        f"for path in {sorted(str(DAGS / f'{d}.py') for d in DAG_IDS)!r}:\n"
        "    runpy.run_path(path)\n"
        "    found[path] = [m for m in heavy if m in sys.modules]\n"
        "print(json.dumps(found))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(found) == len(DAG_IDS)
    assert all(modules == [] for modules in found.values()), found
