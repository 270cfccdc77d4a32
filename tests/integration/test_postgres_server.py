"""The throw-away PostgreSQL server of tests/support/postgres.py really runs and answers SQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.postgres import SCRIPT, start_test_postgres


def test_start_query_stop(tmp_path: Path) -> None:
    server = start_test_postgres(tmp_path)
    try:
        assert server.url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/wijkbrug"
        engine = create_engine(server.url)
        try:
            with engine.connect() as connection:
                assert connection.execute(text("select 1")).scalar_one() == 1
                assert connection.execute(text("select current_database()")).scalar_one() == (
                    "wijkbrug"
                )
                assert connection.execute(text("show fsync")).scalar_one() == "off"
                assert connection.execute(text("show listen_addresses")).scalar_one() == (
                    "127.0.0.1"
                )
        finally:
            engine.dispose()
        print(f"postgres start took {server.start_seconds:.2f} s")
    finally:
        server.stop()
    status = subprocess.run(
        ["bash", str(SCRIPT), "status", str(server.directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 1, status.stdout + status.stderr
