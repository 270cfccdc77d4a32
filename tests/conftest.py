"""Shared fixtures: one real Kafka broker per test session, fresh topics per test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

# -- Airflow: configured before anything imports it ------------------------------------------
# Airflow reads its configuration once, at import time, and would otherwise use ~/airflow. Each
# pytest session gets an AIRFLOW_HOME of its own (metadata DB, logs); only the Airflow tests
# migrate the DB (fixture ``airflow_db`` in tests/airflow/conftest.py). No UNIT_TEST_MODE: it
# loads Airflow's unit_tests.cfg (examples on, cron data intervals forced), hiding what we test.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="wijkbrug-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ |= {
    "AIRFLOW_HOME": _AIRFLOW_HOME,
    "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[1] / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    # The steward_review watcher's record filter is a dotted path: resolved only when allowed.
    "AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST": "wijkbrug.steward_review.quarantine_payload",
}

import pytest  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

from wijkbrug.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# No per-example deadline (a loaded CI machine must not turn slowness into failures); in CI the
# examples are derandomised, so a red build is reproducible and never a roll of the dice.
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The broker the tests talk to: ``WIJKBRUG_KAFKA_BOOTSTRAP`` if set, else one we start."""
    given = os.environ.get("WIJKBRUG_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    from tests.support.broker import start_test_broker

    broker = start_test_broker(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def settings(kafka_bootstrap: str) -> Settings:
    """Settings on the test broker with a topic prefix of this test's own: no shared state."""
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        kafka_request_timeout_ms=15_000,
    )


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic renovation with six planted faults per file (read-only for tests)."""
    from wijkbrug.synth import write_dataset

    out = tmp_path_factory.mktemp("synth")
    write_dataset(out, seed=11, faults=6)
    return out


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server for the test session (``WIJKBRUG_TEST_DATABASE_URL`` if set)."""
    from tests.support.postgres import postgres_session

    yield from postgres_session(tmp_path_factory)
