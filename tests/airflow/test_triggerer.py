"""The real ``airflow triggerer`` runs the steward_review watcher: killed before it could store
what it fired, restarted, it stores every quarantine record as an asset event."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import KAFKA_CONN, kafka_connection
from tests.airflow.quarantine import publish_quarantine
from wijkbrug.settings import Settings

pytestmark = pytest.mark.kafka

QUARANTINE_URI = "wijkbrug://quarantine/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)
    return value


class Triggerer:
    """``airflow triggerer`` in a process group of its own, its output in a file."""

    def __init__(self, log: Path) -> None:
        self.log = log
        airflow = Path(sys.executable).with_name("airflow")
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(airflow), "triggerer", "--capacity", "10"],
                env=os.environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL, timeout_s: float = 30) -> None:
        """Signal the whole group (the supervisor and its trigger runner child)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def register_watcher() -> None:
    """What the DAG processor does for an unpaused steward_review: the DAG and its asset in
    the DB, and the watcher's trigger row for the triggerer to pick up."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = next(b for b in manager.get_all_dag_bundles() if b.name == "dags-folder")
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
    sync_bag_to_db(bag, bundle.name, bundle.version)
    with create_session() as session:
        session.execute(
            update(DagModel).where(DagModel.dag_id == "steward_review").values(is_paused=False)
        )
    sync_bag_to_db(bag, bundle.name, bundle.version)  # the asset is active now: its watcher


def pause_all() -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).values(is_paused=True))
    # The next parse removes the watcher's trigger; nothing runs without a triggerer anyway.


def stored_lines(since: datetime) -> list[int]:
    """The ``line`` of every asset event the watcher stored for the quarantine asset."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        extras = session.scalars(
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == QUARANTINE_URI, AssetEvent.timestamp >= since)
        ).all()
    return [extra["payload"]["line"] for extra in extras]


@pytest.fixture
def watcher_env(
    airflow_db: None, wijkbrug_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    group = f"{wijkbrug_env.topic_prefix}steward-review"
    # A short session: a killed consumer's partitions go to its successor within seconds.
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{KAFKA_CONN.upper()}",
        kafka_connection(wijkbrug_env, group, **{"session.timeout.ms": 6000}),
    )
    # A dead triggerer's watcher moves to a live one once its heartbeat is this old.
    monkeypatch.setenv("AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC", "1")
    monkeypatch.setenv("AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD", "4")
    monkeypatch.setenv("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(free_port()))
    register_watcher()
    try:
        yield wijkbrug_env
    finally:
        pause_all()


def test_a_killed_triggerer_loses_no_record_it_fired_but_had_not_stored(
    watcher_env: Settings, tmp_path: Path
) -> None:
    """The deployed watcher in the real triggerer (trigger row from the DAG, classpath import,
    allowlist, connection, asset events in the DB), killed with SIGKILL in the middle of
    storing a burst: its supervisor stores each fired event in a transaction of its own, and
    an exclusive lock on the metadata DB, taken as soon as the first is stored, stops it there.
    The killed consumer committed nothing past what was stored (the commit waits for the
    supervisor's persist confirmation), so the triggerer that takes the watcher over reads
    the rest again: every record ends up an asset event, some twice (at least once).
    """
    n, since = 40, datetime.now(UTC)
    db = Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    first = Triggerer(tmp_path / "first.log")
    lock = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        wait_for(lambda: "trigger ID" in first.text(), 60, "the watcher to start")
        publish_quarantine(watcher_env, range(1, n + 1))
        wait_for(lambda: stored_lines(since), 60, "the first stored asset event")
        lock.execute("BEGIN EXCLUSIVE")  # the supervisor stores nothing more ...
        first.kill()  # ... and dies with the rest of the burst fired or fetched, not stored
    finally:
        if lock.in_transaction:
            lock.rollback()
        lock.close()
        first.kill()
    at_crash = stored_lines(since)
    assert 0 < len(at_crash) < n, f"the kill should fall inside the burst ({len(at_crash)})"

    second = Triggerer(tmp_path / "second.log")
    try:
        wait_for(
            lambda: set(stored_lines(since)) >= set(range(1, n + 1)), 90, "every record stored"
        )
    finally:
        second.kill(signal.SIGTERM)
    final = stored_lines(since)
    assert set(final) == set(range(1, n + 1))  # none lost
    assert len(final) >= n  # some may be stored twice: at least once, never lost
    for text in (first.text(), second.text()):
        assert "Synthetische Bewoner" not in text and "06-12345678" not in text
