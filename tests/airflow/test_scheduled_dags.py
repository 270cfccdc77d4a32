"""nightly_partner_sync and monitoring_aggregates run for real: dag.test() on the test broker.

Each test copies a small synthetic renovation (published once per session by the connectors)
onto its own topics now, then runs the DAG for the interval that holds now: the night
(03:00-03:00 Amsterdam) or the ISO week, as the timetable gives it to a run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pendulum
import pyarrow.parquet as pq
import pytest

from tests.airflow.conftest import copy_renovation, load_dag, run_summary
from wijkbrug.settings import Settings

pytestmark = pytest.mark.kafka
TZ = "Europe/Amsterdam"
ZONE = ZoneInfo(TZ)


def run_covering_now(dag: Any, ahead: timedelta, **kwargs: Any) -> tuple[Any, datetime]:
    """``dag.test()`` for the interval that holds the current moment.

    ``dag.test`` gives a run the last complete interval before its logical date, so a logical
    date one interval ahead gives the interval now lies in.
    """
    return dag.test(logical_date=pendulum.now(TZ) + ahead, **kwargs), datetime.now(UTC)


def copied_inside(
    run: Any, published: tuple[datetime, datetime], what: str
) -> tuple[datetime, datetime]:
    start, end = run.data_interval_start, run.data_interval_end
    if not (start <= published[0] and published[1] < end):
        pytest.skip(f"the data was published across the {what} boundary; run again")
    return start, end


def asset_events(uri_prefix: str, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """The run's asset events for assets whose URI starts with ``uri_prefix``: uri -> extras."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri, AssetEvent.extra)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri.startswith(uri_prefix), AssetEvent.source_run_id == run_id)
        ).all()
    found: dict[str, list[dict[str, Any]]] = {}
    for uri, extra in rows:
        found.setdefault(uri, []).append(extra)
    return found


def test_nightly_partner_sync_drops_each_partners_night_and_announces_it(
    airflow_db: None, wijkbrug_env: Settings, renovation_today: Settings
) -> None:
    before = datetime.now(UTC)
    assert copy_renovation(renovation_today, wijkbrug_env) > 0
    dag = load_dag("nightly_partner_sync")
    run, after = run_covering_now(dag, timedelta(days=1))
    states = run_summary(run)
    assert run.state == "success", states
    assert states == {"sync": "success", "report": "success"}
    start, end = copied_inside(run, (before, after), "night")
    local = start.astimezone(ZONE), end.astimezone(ZONE)
    assert [(t.hour, t.minute) for t in local] == [(3, 0), (3, 0)]
    assert local[1].date() - local[0].date() == timedelta(days=1)

    drops = sorted((wijkbrug_env.state_dir / "drops").rglob("*.parquet"))
    assert drops, "no partner drop written"
    rows = {path: pq.read_metadata(path).num_rows for path in drops}
    assert sum(rows.values()) > 0
    manifests = [
        json.loads(p.read_text()) for p in (wijkbrug_env.state_dir / "drops").rglob("*.json")
    ]
    assert manifests and all(
        m["data_interval"] == {"start": start.isoformat(), "end": end.isoformat()}
        for m in manifests
    ), manifests[:1]

    # One asset event per partner drop, with counts and a checksum, never a record.
    partners = {path.relative_to(wijkbrug_env.state_dir / "drops").parts[0] for path in drops}
    events = asset_events("wijkbrug://drops/", run.run_id)
    assert set(events) == {f"wijkbrug://drops/{partner}" for partner in partners}
    for uri, extras in events.items():
        (extra,) = extras
        assert set(extra) == {"rows", "sha256", "manifest"}
        manifest = json.loads(Path(extra["manifest"]).read_text())
        assert (manifest["rows"], manifest["sha256"]) == (extra["rows"], extra["sha256"]), uri


def test_monitoring_aggregates_writes_the_weeks_table_and_dashboard(
    airflow_db: None,
    wijkbrug_env: Settings,
    renovation_today: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WIJKBRUG_MONITORING_DIR", str(tmp_path / "monitoring"))
    before = datetime.now(UTC)
    copy_renovation(renovation_today, wijkbrug_env)
    dag = load_dag("monitoring_aggregates")
    run, after = run_covering_now(dag, timedelta(days=7), run_conf={"threshold": 3})
    states = run_summary(run)
    assert run.state == "success", states
    start, end = copied_inside(run, (before, after), "week")
    local = start.astimezone(ZONE), end.astimezone(ZONE)
    assert local[0].isoweekday() == 1 and (local[0].hour, local[0].minute) == (0, 0)
    assert local[1].date() - local[0].date() == timedelta(days=7)

    year, week, _ = local[0].date().isocalendar()
    folder = tmp_path / "monitoring" / "week" / f"{year}-W{week:02d}"
    table = pq.read_table(folder / "monitoring.parquet")
    assert table.num_rows > 0
    about = json.loads(table.schema.metadata[b"wijkbrug.monitoring"])
    assert (about["period"], about["threshold"]) == ("week", 3)
    assert "<html" in (folder / "index.html").read_text(encoding="utf-8").lower()
    assert asset_events("wijkbrug://monitoring/dashboard", run.run_id)
