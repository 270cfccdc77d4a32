"""A real PostgreSQL server for tests, started with the project's own scripts/postgres.sh.

Never skips: when PostgreSQL is neither found nor installable, starting raises RuntimeError.

As root the server runs as the ``postgres`` OS user, which cannot enter pytest's 0700 temp
folders; the cluster then lives in a fresh ``/tmp/wijkbrug-pg-*`` folder, removed by ``stop()``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"
DATABASE = "wijkbrug"
# Use an existing server instead of starting one (e.g. in CI with a service container).
URL_ENV = "WIJKBRUG_TEST_DATABASE_URL"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server: where to reach it, how long it took to start, and how to stop it."""

    __test__ = False  # not a pytest test class
    url: str
    port: int
    directory: Path
    start_seconds: float
    _remove_directory: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Fast shutdown; removes the cluster folder when this module made it outside tmp_dir."""
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(self.directory)],
            check=False,
            capture_output=True,
            timeout=60,
        )
        if self._remove_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def _cluster_dir(tmp_dir: Path) -> tuple[Path, bool]:
    """Where the cluster lives, and whether ``stop()`` must remove it."""
    if os.name == "posix" and os.geteuid() == 0:
        # /tmp is world-traversable; pytest's basetemp (/tmp/pytest-of-root, 0700) is not.
        return Path(tempfile.mkdtemp(prefix="wijkbrug-pg-", dir="/tmp")), True
    path = tmp_dir / "postgres"
    path.mkdir(parents=True, exist_ok=True)
    return path, False


def start_test_postgres(tmp_dir: Path, *, attempts: int = 3) -> PostgresServer:
    """Start a throw-away server on a free 127.0.0.1 port with database ``wijkbrug``.

    Retries on another port when the free port was taken in between (a race with other
    processes). Raises RuntimeError with the script's output when PostgreSQL cannot be found,
    installed or started.
    """
    if not SCRIPT.is_file():
        raise RuntimeError(f"{SCRIPT} is missing")
    directory, remove = _cluster_dir(tmp_dir)
    failures: list[str] = []
    for _ in range(attempts):
        port = _free_port()
        began = time.perf_counter()
        result = subprocess.run(
            ["bash", str(SCRIPT), "start", str(directory), str(port)],
            capture_output=True,
            text=True,
            timeout=900,  # a first run may install the postgresql package
            check=False,
        )
        elapsed = time.perf_counter() - began
        if result.returncode == 0:
            url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
            return PostgresServer(url, port, directory, elapsed, remove)
        failures.append(f"$ postgres.sh start {directory} {port}\n{result.stdout}{result.stderr}")
        if "already in use" not in result.stderr:
            break
    if remove:
        shutil.rmtree(directory, ignore_errors=True)
    raise RuntimeError("PostgreSQL did not start:\n" + "\n".join(failures))


def postgres_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Body of a session fixture: ``$WIJKBRUG_TEST_DATABASE_URL`` if set, else a server we start
    (and stop at the end of the session). Yields the SQLAlchemy URL."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    server = start_test_postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield server.url
    finally:
        server.stop()
