"""Per-record cost of a connector's hot path, against the reference validator in the same run.

    .venv/bin/python benchmarks/connector_hot_path.py [--rows N]

Measures, on the synthetic planning export: read+map+validate+encode (wijkbrug's path:
jsonschema-rs validator, orjson, the CloudEvents Kafka binding), and as the baseline the
`jsonschema` reference validator alone on the same event data. Prints microseconds per record and
the ratio; no broker involved (see tests/integration for the broker).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from connectors.planning import PlanningConnector
from jsonschema import Draft7Validator

from wijkbrug import schemas
from wijkbrug.connector import Context, SourceFile, process
from wijkbrug.partners import load_partners
from wijkbrug.synth import write_dataset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10, help="passes over the export")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(Path(tmp), seed=7)
        data = (Path(tmp) / "planning.csv").read_bytes()
    connector = PlanningConnector()
    context = Context(date(2026, 11, 28), load_partners(), datetime.now(UTC))
    source = SourceFile("planning.csv", "0" * 64)

    start = time.perf_counter()
    records = 0
    events = []
    for _ in range(args.repeat):
        for result in process(connector, connector.read(data), source, set(), context):
            records += 1
            for event in result.events:
                event.to_kafka()
            events.extend(result.events)
    ours = (time.perf_counter() - start) / records * 1e6

    reference = Draft7Validator(schemas.latest("renovation.milestone").document)
    payloads = [e.data for e in events]
    start = time.perf_counter()
    for payload in payloads:
        reference.validate(payload)
    baseline = (time.perf_counter() - start) / len(payloads) * 1e6

    print(f"records                                   {records}")
    print(f"read+map+validate+encode (wijkbrug)       {ours:8.1f} us/record")
    print(f"jsonschema reference validation alone     {baseline:8.1f} us/record")
    print(f"ratio baseline/wijkbrug                   {baseline / ours:8.2f}x")


if __name__ == "__main__":
    main()
