"""A connector killed mid-run loses nothing and duplicates nothing when it runs again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.topics import end_offset_total, read_back
from wijkbrug.events import header_identity
from wijkbrug.settings import Settings
from wijkbrug.synth import write_dataset

pytestmark = pytest.mark.kafka


def _big_planning_export(tmp_path: Path, renovations: int) -> Path:
    """Several synthetic renovations in one export (different seeds, different units)."""
    rows: list[bytes] = []
    header = b""
    for seed in range(renovations):
        out = tmp_path / f"seed{seed}"
        write_dataset(out, seed=seed)
        header, *body = (out / "planning.csv").read_bytes().splitlines(keepends=True)
        rows += body
    path = tmp_path / "planning.csv"
    path.write_bytes(header + b"".join(rows))
    return path


def _milestones_on_topic(settings: Settings) -> list[str]:
    """Event ids of every record now on the milestone topic."""
    return [header_identity(r.headers)[1] for r in read_back(settings, "raw.renovation.milestone")]


def _connect(settings: Settings, path: Path, *extra: str) -> subprocess.Popen[str]:
    env = os.environ | {
        "WIJKBRUG_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "WIJKBRUG_TOPIC_PREFIX": settings.topic_prefix,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wijkbrug.cli",
            "connect",
            "planning",
            str(path),
            "--json",
            "--no-progress",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_mid_run_then_rerun_publishes_every_event_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    path = _big_planning_export(tmp_path, renovations=8)
    run = _connect(settings, path)
    deadline = time.monotonic() + 120
    while (
        end_offset_total(settings, "raw.renovation.milestone") == 0
    ):  # await the first acknowledged batch
        assert run.poll() is None, run.stderr.read()
        assert time.monotonic() < deadline, "no events appeared"
    run.send_signal(signal.SIGKILL)
    run.wait()
    after_crash = len(_milestones_on_topic(settings))

    rerun = _connect(settings, path)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    ids = _milestones_on_topic(settings)
    expected = sum(1 for line in path.read_bytes().splitlines()[1:] if line.strip())
    assert 0 < after_crash < expected, "the first run was cut off part-way"
    assert len(ids) == expected, "every valid row is on the topic"
    assert len(set(ids)) == len(ids), "and none of them twice"
    summary = json.loads(out.splitlines()[-1])
    assert (summary["duplicates"], summary["published"]) == (after_crash, expected - after_crash)
