"""A real Kafka broker for the test session, started with the project's own scripts/kafka.sh."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka.sh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class TestBroker:
    """A running broker: where to reach it, and how to stop it."""

    __test__ = False  # not a pytest test class
    bootstrap: str
    env: dict[str, str]

    def stop(self) -> None:
        subprocess.run(
            ["bash", str(SCRIPT), "stop"],
            env=self.env,
            check=False,
            capture_output=True,
            timeout=60,
        )


def start_test_broker(run_dir: Path) -> TestBroker:
    """Start a broker on two free ports with its data in ``run_dir``; the jar cache is shared."""
    port, controller = _free_port(), _free_port()
    while controller == port:
        controller = _free_port()
    env = os.environ | {
        "WIJKBRUG_KAFKA_PORT": str(port),
        "WIJKBRUG_KAFKA_CONTROLLER_PORT": str(controller),
        "WIJKBRUG_KAFKA_RUN_DIR": str(run_dir),
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), "start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Kafka did not start:\n{result.stdout}\n{result.stderr}")
    return TestBroker(f"127.0.0.1:{port}", env)
