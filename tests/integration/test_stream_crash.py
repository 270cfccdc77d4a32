"""A stream worker killed mid-stream (kill -9) delivers everything exactly once after a restart."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.support.stream import (
    KAFKA_PARTNERS,
    REPO,
    Renovation,
    TopicFollower,
    delivered,
    isolated,
    renovation,
    stream_command,
    stream_env,
    wait_until,
)
from wijkbrug.ledger import Ledger
from wijkbrug.settings import Settings

pytestmark = pytest.mark.kafka


def _kill_at_new_deliveries(env: dict[str, str], followers: list[TopicFollower]) -> int:
    """Start ``wijkbrug stream``, kill -9 it as soon as the partner topics grow; their size."""
    before = sum(f.end_total() for f in followers)
    run = subprocess.Popen(stream_command(), env=env, cwd=REPO, stderr=subprocess.PIPE)
    try:
        wait_until(
            lambda: run.poll() is not None or sum(f.end_total() for f in followers) > before,
            60,
            "deliveries from this run",
            every_s=0.005,
        )
        assert run.poll() is None, run.communicate()[1].decode()
    finally:
        run.kill()
        run.wait()
    return sum(f.end_total() for f in followers)


@pytest.fixture(scope="module")
def whole(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Renovation:
    """The whole synthetic renovation (432 homes) exported today (the CLI's clock is real)."""
    base = Settings(kafka_bootstrap=kafka_bootstrap, kafka_request_timeout_ms=15_000)
    return renovation(base, tmp_path_factory.getbasetemp(), small=False)


def test_kill_9_at_two_points_then_a_restart_delivers_every_event_exactly_once(
    settings: Settings, whole: Renovation, tmp_path: Path
) -> None:
    settings = whole.copy_to(isolated(settings, tmp_path / "state"))
    # What a clean reference run delivers from the same records on the same (real) clock.
    expected = {p: sorted(ids) for p, ids in whole.reference(None).items()}
    total = sum(len(ids) for ids in expected.values())

    followers = [TopicFollower(settings, f"deliver.{p}") for p in KAFKA_PARTNERS]
    env = stream_env(settings)
    on_topics: list[int] = []
    try:
        # 1: as the first deliveries reach a partner topic; 2: after a restart (that first
        # waits out the killed member's session), as soon as the partner topics grow again.
        for _ in range(2):
            on_topics.append(_kill_at_new_deliveries(env, followers))
    finally:
        for follower in followers:
            follower.close()

    final = subprocess.run(
        stream_command("--until-idle", "2"), env=env, cwd=REPO, capture_output=True, timeout=120
    )
    assert final.returncode == 0, final.stderr.decode()
    assert 0 < on_topics[0] < total, f"the first kill came mid-stream: {on_topics} of {total}"

    rows = Ledger(settings.ledger()).rows()
    triples = Counter((r["event_id"], r["partner"], r["channel"]) for r in rows)
    assert max(triples.values()) == 1, "the ledger never holds a delivery twice"
    for partner in KAFKA_PARTNERS:
        ids = [r.event_id for r in delivered(settings, partner)]
        kafka = [r for r in rows if r["partner"] == partner and r["channel"] == "kafka"]
        assert {r["status"] for r in kafka} == {"delivered"}, f"{partner}: all delivered"
        assert len(ids) == len(set(ids)), f"{partner}: an event twice on the partner topic"
        assert sorted(ids) == sorted(r["event_id"] for r in kafka), f"{partner}: topic == ledger"
        assert sorted(ids) == expected[partner], f"{partner}: == the clean reference run"
