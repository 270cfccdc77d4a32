"""Airflow test harness: a migrated metadata DB, wijkbrug settings in the environment, DAGs.

The Airflow environment itself (AIRFLOW_HOME per session, dags folder, no examples, SQLite DB,
callback allowlist) is set at the top of tests/conftest.py, before anything imports Airflow.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.stream import copy_sources
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics

pytest.importorskip("airflow.providers.apache.kafka", reason="needs the airflow extra")

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
#: The Kafka connection the steward_review watcher uses (its default name).
KAFKA_CONN = "wijkbrug_kafka"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The session's metadata DB (SQLite in its AIRFLOW_HOME), created once (~4 s)."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="session")
def renovation_today(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small synthetic renovation exported today, published once by the real connectors on
    a prefix of its own; a test copies it onto its own topics (:func:`copy_renovation`)."""
    from tests.support.stream import publish_sources, write_subset

    day = datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    base = tmp_path_factory.mktemp("renovation-today")
    source = Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"airflow-{uuid.uuid4().hex[:8]}.",
        kafka_request_timeout_ms=15_000,
        state_dir=base / "state",
    )
    publish_sources(source, write_subset(base, seed=11, as_of=day), day)
    return source


def copy_renovation(source: Settings, target: Settings) -> int:
    """Every raw and consent record of ``source`` onto ``target``'s topics, published now
    (same keys, headers and so partitions): inside the interval of a run that covers now."""
    names = [name for name in load_topics() if name.startswith("raw.") or name == "consent"]
    return copy_sources(source, target, names)


@pytest.fixture
def wijkbrug_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """This test's broker, topic prefix and state dir as the DAGs read them: from WIJKBRUG_*."""
    state = tmp_path / "state"
    monkeypatch.setenv("WIJKBRUG_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("WIJKBRUG_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("WIJKBRUG_STATE_DIR", str(state))
    monkeypatch.setenv("WIJKBRUG_KAFKA_REQUEST_TIMEOUT_MS", str(settings.kafka_request_timeout_ms))
    monkeypatch.setenv("WIJKBRUG_GENERATE_KEYS", "true")
    return settings.model_copy(update={"state_dir": state})


def kafka_connection(settings: Settings, group: str, **config: Any) -> str:
    """``AIRFLOW_CONN_WIJKBRUG_KAFKA``: the watcher's consumer group, never auto-committing."""
    extra: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **config,
    }
    return json.dumps({"conn_type": "kafka", "extra": extra})


@pytest.fixture
def kafka_conn(wijkbrug_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The watcher's Kafka connection on this test's broker, with a consumer group of its own."""
    group = f"{wijkbrug_env.topic_prefix}steward-review"
    monkeypatch.setenv(f"AIRFLOW_CONN_{KAFKA_CONN.upper()}", kafka_connection(wijkbrug_env, group))
    yield group


def load_dag(dag_id: str) -> Any:
    """Parse ``dags/<dag_id>.py`` now (the environment as the test set it), retries off.

    ``dag.test()`` waits out a retry delay like the scheduler would; a test wants the failure.
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[dag_id]
    for task in dag.tasks:
        task.retries = 0
    return dag


def run_summary(run: Any) -> dict[str, str]:
    """Task id -> state of a finished ``dag.test()`` run (for assertion messages)."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
