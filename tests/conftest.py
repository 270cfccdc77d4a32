"""Shared fixtures: one real Kafka broker per test session, fresh topics per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wijkbrug.settings import Settings

REPO = Path(__file__).resolve().parents[1]


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
