"""Running a connector without a broker: the pure part of the connector base."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from wijkbrug.connector import Connector, Context, Result, SourceFile, Summary, process
from wijkbrug.partners import load_partners
from wijkbrug.units import Unit

TODAY = date(2026, 11, 28)


def context(units: dict[str, Unit] | None = None) -> Context:
    return Context(TODAY, load_partners(), datetime(2026, 11, 28, 12, tzinfo=UTC), units or {})


def run(
    connector: Connector,
    data: bytes,
    known: set[str] | None = None,
    units: dict[str, Unit] | None = None,
) -> tuple[Summary, list[Result]]:
    source = SourceFile("test-file", "0" * 64)
    summary = Summary(connector.name, source.name, dry_run=True)
    results = list(
        process(
            connector,
            connector.read(data),
            source,
            set() if known is None else known,
            context(units),
        )
    )
    for result in results:
        summary.add(result)
    return summary, results


def fixture(name: str) -> bytes:
    return (Path(__file__).parents[1] / "fixtures" / name).read_bytes()
