"""One night of the nightly partner sync without Kafka, against pyarrow alone on the same data.

    .venv/bin/python benchmarks/nightly.py [--events N] [--no-ledger] [--stage STAGE]

Data: ``N`` night events (default 1,000,000) and four weeks of history (``2/3 N``), built in
memory by :func:`wijkbrug.nightly.benchdata.night` from the validation sample's builders: six
night events per home (a milestone, a consented signal, two counts, a consent, feedback), a
tenant per home, consents spread over the partners with file drops (most signals reach a partner,
every renovation start is a buurtteam alert), a few withdrawn or unrecorded consents.

Each part runs in a fresh subprocess, so its peak memory (``ru_maxrss``) is its own. The
pipeline's data is built in a subprocess of its own too and handed over as Kafka would hand it
to ``run_night``: one record per line of a file (CloudEvents binary-mode headers and the JSON
value), so the pipeline's peak is that of reading a night, not of building one. Building is
timed apart and is not part of any total.

1. Baseline: the night's events as an Arrow table (id, type, time, ``data`` as JSON text),
   written to Parquet (zstd) and read back, with pyarrow alone.
2. The pipeline as :func:`wijkbrug.nightly.sync.run_night` runs it, without the broker: the
   night's records read with :func:`~wijkbrug.nightly.reading.read_from` and the history's
   with :func:`~wijkbrug.nightly.history.read_history`, as ``run_night`` reads them
   (decoding with the schema check, strings shared by
   :class:`~wijkbrug.nightly.reading.Strings`, each night event's origin kept), validation
   (:func:`~wijkbrug.validation.validate_night`, GX suites, Data Docs, summary), columnar
   planning and pseudonymisation (:class:`~wijkbrug.nightly.columnar.ColumnarPlanner`), the
   Parquet drop and manifest per partner. Then, as a stage of its own, the ledger: the
   :class:`~wijkbrug.ledger.Delivery` rows and their enqueue into a temporary SQLite ledger.

Printed: wall time per stage, the total (decode + validation + planning + drops) and its
ratio to the baseline, the total with the ledger, and each subprocess's peak memory. Targets:
total < 60 s, pipeline peak < 2 GiB. Exits 0 whatever the figures (a measurement, not a
test); a missed target prints a ``MISS:`` line above the last line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

END = datetime(2026, 3, 10, 6, tzinfo=UTC)
TARGET_S = 60.0
TARGET_PEAK_GIB = 2.0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _rss_mib() -> float:
    """Resident memory now (Linux); the peak is the high-water mark of these."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _build(events: int) -> tuple[Any, float]:
    from wijkbrug.nightly.benchdata import night

    start = time.perf_counter()
    built = night(max(1, events // 6), END)
    return built, time.perf_counter() - start


NIGHT_FILES = ("night", "history")


def build(events: int, work: Path) -> dict[str, Any]:
    """The synthetic night as the broker would hand it over: one record a line, per part."""
    import pickle

    import orjson

    from wijkbrug import schemas

    built, build_s = _build(events)
    for part, held in zip(NIGHT_FILES, (built.events, built.history), strict=True):
        with (work / f"{part}.jsonl").open("wb") as out:
            for offset, event in enumerate(held):
                schema = schemas.latest(event.name)
                headers = [
                    ("ce_id", event.id),
                    ("ce_type", schema.event_type),
                    ("ce_specversion", "1.0"),
                    ("ce_dataschema", schema.uri),
                    ("ce_time", event.time.isoformat()),
                ]
                value = orjson.dumps(event.data).decode()
                out.write(orjson.dumps([event.name, offset, headers, value]) + b"\n")
    with (work / "interval.pickle").open("wb") as out:
        pickle.dump(built.interval, out)
    with (work / "consents.pickle").open("wb") as out:
        pickle.dump(built.consents, out)
    return {"build_s": build_s, "peak_mib": _peak_mib()}


def _records(path: Path) -> Any:
    """The records of one part, as :class:`~wijkbrug.kafka_client.Record` (topic = type)."""
    import orjson

    from wijkbrug.kafka_client import Record

    with path.open("rb") as lines:
        for line in lines:
            name, offset, headers, value = orjson.loads(line)
            yield Record(
                name, 0, offset, None, [(k, v.encode()) for k, v in headers], value.encode(), 0
            )


def baseline(events: int, work: Path) -> dict[str, Any]:
    """pyarrow alone: the night's events to a table, to Parquet and back."""
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    built, build_s = _build(events)
    night = built.events
    del built
    out: dict[str, Any] = {"build_s": build_s, "events": len(night)}
    start = time.perf_counter()
    table = pa.table(
        {
            "event_id": pa.array([e.id for e in night], pa.string()),
            "event_type": pa.array([e.name for e in night], pa.string()),
            "occurred_at": pa.array([e.time for e in night], pa.timestamp("us", tz="UTC")),
            "data": pa.array([orjson.dumps(e.data).decode() for e in night], pa.string()),
        }
    )
    out["table_s"] = time.perf_counter() - start
    path = work / "baseline.parquet"
    start = time.perf_counter()
    pq.write_table(table, path, compression="zstd", use_dictionary=True)
    out["write_s"] = time.perf_counter() - start
    del table
    start = time.perf_counter()
    back = pq.read_table(path)
    out["read_s"] = time.perf_counter() - start
    out["rows"] = back.num_rows
    out["bytes"] = path.stat().st_size
    out["total_s"] = out["table_s"] + out["write_s"] + out["read_s"]
    out["peak_mib"] = _peak_mib()
    return out


def pipeline(events: int, work: Path, ledger: bool) -> dict[str, Any]:
    """Reading, validation, columnar planning, the drops, and (apart) the ledger."""
    import pickle

    from wijkbrug.delivery import DELIVERABLE
    from wijkbrug.keys import KeyStore
    from wijkbrug.ledger import Ledger
    from wijkbrug.nightly import drop
    from wijkbrug.nightly.columnar import ColumnarPlanner
    from wijkbrug.nightly.heap import keep_out_of_gc, use_system_heap_for_arrow
    from wijkbrug.nightly.history import read_history
    from wijkbrug.nightly.reading import read_from
    from wijkbrug.nightly.sync import NIGHT_EVENTS
    from wijkbrug.partner_contract import load_contracts
    from wijkbrug.pipeline import KeyAccess
    from wijkbrug.validation import units_from_planning, validate_night

    use_system_heap_for_arrow()  # as run_night
    with (work / "interval.pickle").open("rb") as stored:
        interval = pickle.load(stored)
    out: dict[str, Any] = {"built_peak_mib": _peak_mib()}
    stages: dict[str, float] = {}

    # The file stands in for the broker: what turning its lines into records costs is the
    # stand-in's, measured on a pass of its own and taken off the decode stage.
    start = time.perf_counter()
    for part in NIGHT_FILES:
        for _ in _records(work / f"{part}.jsonl"):
            pass
    source_s = time.perf_counter() - start
    start = time.perf_counter()
    night = read_from(_records(work / "night.jsonl"), NIGHT_EVENTS, hold=DELIVERABLE)
    history = read_history(_records(work / "history.jsonl"), NIGHT_EVENTS)
    stages["decode"] = time.perf_counter() - start - source_s
    keep_out_of_gc()  # as run_night
    out["source_s"] = source_s
    out["events"] = night.count
    out["read_rss_mib"] = _rss_mib()

    start = time.perf_counter()
    units = history.units | units_from_planning(night.events)
    outcome = validate_night(
        night_block=night.take_block(),  # taken, not kept: as run_night
        history_block=history.take_block(),
        units=units,
        run_id="bench",
        interval=interval,
        out_dir=work / "report",
    )
    stages["validation"] = time.perf_counter() - start
    out["failed"] = len(outcome.failed)
    out["validated_peak_mib"] = _peak_mib()
    out["validated_rss_mib"] = _rss_mib()

    # The consent state after validation, as run_night folds it (not timed: it stands in for
    # folding the consent topic).
    start = time.perf_counter()
    with (work / "consents.pickle").open("rb") as stored:
        consents = pickle.load(stored)
    out["consents_s"] = time.perf_counter() - start
    start = time.perf_counter()
    keys = KeyAccess(KeyStore(work / "keys"))
    contracts = load_contracts()
    contacts = history.contacts
    del history  # as run_night: planning needs only the contacts
    planner = ColumnarPlanner(contracts, keys, lambda unit: sum(map(ord, unit)) % 6)
    today = interval[1].date()
    plan = planner.plan(night.events, consents, today, contacts, set(outcome.failed))
    stages["planning"] = time.perf_counter() - start
    out["held"] = plan.held

    start = time.perf_counter()
    rows: dict[str, int] = {}
    for contract in contracts.values():
        if "file" in contract.channels and contract.person_level:
            table = plan.file_table(contract.partner)
            dropped = drop.write(work / "drops", contract.partner, "2026-03-09", interval, table)
            rows[contract.partner] = dropped.rows
    stages["drops"] = time.perf_counter() - start
    out["rows"] = rows
    out["pipeline_peak_mib"] = _peak_mib()

    if ledger:
        start = time.perf_counter()
        deliveries = plan.deliveries()
        stages["ledger rows"] = time.perf_counter() - start
        start = time.perf_counter()
        book = Ledger(f"sqlite:///{work}/ledger.sqlite")
        try:
            out["enqueued"] = book.enqueue(deliveries)
        finally:
            book.close()
        stages["ledger enqueue"] = time.perf_counter() - start
    out["stages"] = stages
    out["peak_mib"] = _peak_mib()
    return out


def _child(args: argparse.Namespace) -> None:
    work = Path(args.work)
    if args.stage == "baseline":
        result = baseline(args.events, work)
    elif args.stage == "build":
        result = build(args.events, work)
    else:
        result = pipeline(args.events, work, not args.no_ledger)
    print("RESULT " + json.dumps(result))


def _run(stage: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--stage", stage, "--events", str(args.events)]
    command += ["--work", str(work)]
    if args.no_ledger:
        command.append("--no-ledger")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    sys.stderr.write(done.stderr[-4000:])
    raise SystemExit(f"the {stage} subprocess failed (exit {done.returncode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="night events")
    parser.add_argument("--no-ledger", action="store_true", help="skip the ledger stage")
    parser.add_argument(
        "--stage", choices=("baseline", "build", "pipeline"), help=argparse.SUPPRESS
    )
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        _child(args)
        return
    with tempfile.TemporaryDirectory(prefix="wijkbrug-nightly-bench-") as tmp:
        _main(args, Path(tmp))


def _main(args: argparse.Namespace, work: Path) -> None:
    print(f"nightly sync, {args.events:,} night events (+ history), no broker")
    base = _run("baseline", args, work)
    print(
        f"baseline (pyarrow alone, {base['events']:,} events, {base['bytes'] / 2**20:.0f} MiB "
        f"Parquet): table {base['table_s']:.2f} s, write {base['write_s']:.2f} s, "
        f"read {base['read_s']:.2f} s = {base['total_s']:.2f} s; "
        f"peak {base['peak_mib']:.0f} MiB (data built in {base['build_s']:.1f} s)"
    )
    made = _run("build", args, work)
    run = _run("pipeline", args, work)
    stages = run["stages"]
    print(
        f"pipeline: data built in {made['build_s']:.1f} s ({made['peak_mib']:.0f} MiB, "
        f"another process) and read from a file ({run['built_peak_mib']:.0f} MiB at the start; "
        f"file lines to records {run['source_s']:.1f} s and loading the consent state "
        f"{run['consents_s']:.1f} s, not counted)"
    )
    for name, seconds in stages.items():
        print(f"  {name:<15} {seconds:7.2f} s  {seconds / run['events'] * 1e6:6.1f} us/event")
    total = stages["decode"] + stages["validation"] + stages["planning"] + stages["drops"]
    ledger = stages.get("ledger rows", 0.0) + stages.get("ledger enqueue", 0.0)
    print(
        f"  rows per partner: {run['rows']}; held {run['held']}; failed validation "
        f"{run['failed']}; ledger rows {run.get('enqueued', 'skipped')}"
    )
    print(
        f"  peak memory: {run['validated_peak_mib']:.0f} MiB after validation, "
        f"{run['pipeline_peak_mib']:.0f} MiB after the drops, {run['peak_mib']:.0f} MiB in all; "
        f"resident {run['read_rss_mib']:.0f} MiB after reading, "
        f"{run['validated_rss_mib']:.0f} MiB after validation"
    )
    print(
        f"total (decode + validation + planning + drops): {total:.2f} s; "
        f"with the ledger {total + ledger:.2f} s"
    )
    ratio = total / base["total_s"] if base["total_s"] else float("inf")
    peak = run["pipeline_peak_mib"] / 1024
    if total >= TARGET_S:
        print(f"MISS: total {total:.1f} s >= {TARGET_S:.0f} s")
    if peak >= TARGET_PEAK_GIB:
        print(f"MISS: peak memory {peak:.2f} GiB >= {TARGET_PEAK_GIB:.0f} GiB")
    print(
        f"ratio pipeline/baseline: {ratio:.1f}x ({total:.1f} s vs {base['total_s']:.1f} s; "
        f"target total < {TARGET_S:.0f} s); peak {peak:.2f} GiB "
        f"(target < {TARGET_PEAK_GIB:.0f} GiB)"
    )


if __name__ == "__main__":
    main()
