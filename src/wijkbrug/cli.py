"""The ``wijkbrug`` command: synthetic data, connectors, the stream, keys, ledger and topics."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from wijkbrug import logs, quarantine_cli
from wijkbrug.reasons import REASONS
from wijkbrug.settings import Settings
from wijkbrug.web import cli as web_cli

if TYPE_CHECKING:
    from wijkbrug.connector import Connector

log = logging.getLogger("wijkbrug")

CONNECT_HELP = {
    "planning": "renovatieplanning-export (CSV, ;-gescheiden)",
    "home-visits": "huisbezoekregistraties (JSON Lines)",
    "consents": "mutaties uit het toestemmingenregister (CSV of JSON Lines)",
    "feedback": "terugmeldingen van partners (JSON Lines)",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wijkbrug",
        description="wijkbrug: de databrug tussen de partners van Samen voor Overvecht.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="meer logregels (INFO)")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser(
        "synth", help="schrijf een synthetische renovatie van de Thema-dreven"
    )
    synth.add_argument("--seed", type=int, default=7)
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=date(2026, 6, 30),
        help="de dag waarop de exports gemaakt zijn (standaard 2026-06-30)",
    )
    synth.add_argument(
        "--faults", type=int, default=0, help="zoveel foute records per bestand (voor tests)"
    )

    connect = commands.add_parser(
        "connect", help="publiceer de gebeurtenissen van een bronbestand op Kafka"
    )
    kinds = connect.add_subparsers(dest="connector", required=True)
    for name, text in CONNECT_HELP.items():
        kind = kinds.add_parser(name, help=text)
        kind.add_argument("path", type=Path)
        kind.add_argument(
            "--dry-run", action="store_true", help="controleer en tel, publiceer niets"
        )
        kind.add_argument(
            "--json",
            action="store_true",
            help="samenvatting ook als JSON-object op de laatste regel",
        )
        kind.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="datum waartegen gerealiseerde data getoetst worden (standaard: vandaag)",
        )
        kind.add_argument("--no-progress", action="store_true", help="geen voortgangsbalk")

    quarantine_cli.add_parser(commands)

    nightly = commands.add_parser(
        "nightly", help="nachtelijke levering: Parquet-bestanden per partner voor één interval"
    )
    nightly.add_argument(
        "--start", type=datetime.fromisoformat, required=True, help="begin (ISO 8601, met zone)"
    )
    nightly.add_argument(
        "--end", type=datetime.fromisoformat, required=True, help="einde, exclusief (ISO 8601)"
    )
    nightly.add_argument("--run-id", default="handmatig", help="naam van de run in de rapporten")
    nightly.add_argument("--no-validation", action="store_true", help="sla GX-validatie over")

    stream = commands.add_parser(
        "stream", help="lever gebeurtenissen in realtime aan partners (consumer group)"
    )
    stream.add_argument("--group", default=None, help="consumer group (standaard wijkbrug-stream)")
    stream.add_argument(
        "--until-idle",
        type=float,
        default=None,
        metavar="SECONDEN",
        help="stop als er zo lang niets te doen was (demo, tests)",
    )
    stream.add_argument("--max-seconds", type=float, default=None, metavar="SECONDEN")
    stream.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="POORT",
        help="serveer /metrics (Prometheus) en /healthz op deze poort (0: een vrije poort; "
        "standaard WIJKBRUG_METRICS_PORT)",
    )

    keys = commands.add_parser("keys", help="pseudonimiseringssleutels per partner")
    key_actions = keys.add_subparsers(dest="action", required=True)
    rotate = key_actions.add_parser("rotate", help="begin een nieuwe sleutel voor een partner")
    rotate.add_argument("partner")
    rotate.add_argument("--kind", choices=["pseudonym", "webhook", "ledger"], default="pseudonym")
    listing = key_actions.add_parser("list", help="toon sleutel-id's (nooit de sleutels)")
    listing.add_argument("--kind", choices=["pseudonym", "webhook", "ledger"], default="pseudonym")

    inzage = commands.add_parser(
        "inzage", help="inzageverzoek (AVG art. 15): alle leveringen over een bewoner"
    )
    who = inzage.add_mutually_exclusive_group(required=True)
    who.add_argument("--huurder", help="huurdernummer")
    who.add_argument("--bsn", help="burgerservicenummer")
    inzage.add_argument("--json", action="store_true", help="als JSON, voor systemen")

    commands.add_parser("deliveries", help="leveringen per partner en kanaal, uit het grootboek")
    web_cli.add_parser(commands)

    receiver = commands.add_parser(
        "webhook-receiver",
        help="voorbeeld-ontvanger voor partners: controleert handtekeningen, bewaart leveringen",
    )
    receiver.add_argument("--host", default="127.0.0.1")
    receiver.add_argument("--port", type=int, default=8787)
    receiver.add_argument("--out", type=Path, required=True, help="map voor <partner>.jsonl")

    topics = commands.add_parser("topics", help="de Kafka-topics uit config/topics.yaml")
    topics.add_argument(
        "action",
        choices=["ensure", "list", "report"],
        help="ensure: maak ontbrekende aan; list: toon; report: wat erop staat",
    )
    return parser


def _connector(name: str, path: Path) -> Connector:
    from connectors import CONNECTORS

    cls = CONNECTORS[name]
    if name == "consents":
        return cls(json_lines=path.suffix.lower() in {".jsonl", ".ndjson", ".json"})
    return cls()


def _print_summary(summary: dict) -> None:
    print(
        f"{summary['connector']}: {summary['source_file']}"
        + ("  (proefdraai: niets gepubliceerd)" if summary["dry_run"] else "")
    )
    for label, key in (
        ("gelezen", "read"),
        ("gepubliceerd", "published"),
        ("al eerder gepubliceerd", "duplicates"),
        ("in quarantaine", "quarantined"),
    ):
        print(f"  {label:<24}{summary[key]:>8}")
    for topic, count in summary["events_published"].items():
        print(f"  gebeurtenissen op {topic:<30}{count:>8}")
    for code, count in summary["quarantine_reasons"].items():
        print(f"  reden {code:<24}{count:>6}  {REASONS[code]}")
    if summary["quarantined_lines"]:
        lines = ", ".join(map(str, summary["quarantined_lines"][:20]))
        more = " ..." if len(summary["quarantined_lines"]) > 20 else ""
        print(f"  regels in quarantaine: {lines}{more}")


def _connect(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.formats import SourceFormatError
    from wijkbrug.kafka_client import KafkaError
    from wijkbrug.runner import run_file

    if not args.path.is_file():
        print(f"wijkbrug: bestand niet gevonden: {args.path}", file=sys.stderr)
        return 2
    connector = _connector(args.connector, args.path)
    try:
        summary = run_file(
            connector,
            args.path,
            settings,
            dry_run=args.dry_run,
            progress=False if args.no_progress else None,
            today=args.today,
        )
    except SourceFormatError as error:
        print(f"wijkbrug: {args.path.name} is niet te lezen: {error}", file=sys.stderr)
        return 2
    except (KafkaError, TimeoutError) as error:
        print(
            f"wijkbrug: Kafka ({settings.kafka_bootstrap}) faalde: {type(error).__name__}",
            file=sys.stderr,
        )
        return 1
    result = summary.as_dict()
    _print_summary(result)
    if args.json:
        print(orjson.dumps(result).decode())
    return 0


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug import kafka_client, report
    from wijkbrug.topics import load_topics

    if args.action == "list":
        for spec in load_topics().values():
            print(
                f"{spec.physical(settings.topic_prefix):<32} {spec.partitions:>3}  "
                f"{spec.config.get('cleanup.policy', 'delete'):<8} {spec.description}"
            )
    elif args.action == "ensure":
        created = kafka_client.ensure_topics(settings)
        print(f"topics: {len(created)} aangemaakt" + (f": {', '.join(created)}" if created else ""))
    else:
        print(report.topics_report(settings))
    return 0


def _stream(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from sqlalchemy.exc import SQLAlchemyError

    from wijkbrug.kafka_client import KafkaError
    from wijkbrug.report import stream_summary
    from wijkbrug.stream import StreamWorker
    from wijkbrug.writer import WriterFailed

    if args.metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": args.metrics_port})
    try:
        worker = StreamWorker(settings, group_id=args.group)
    except (KafkaError, TimeoutError) as error:
        print(f"wijkbrug: Kafka ({settings.kafka_bootstrap}) faalde: {type(error).__name__}",
              file=sys.stderr)  # fmt: skip
        return 1
    except SQLAlchemyError as error:
        print(f"wijkbrug: grootboek niet bereikbaar: {type(error).__name__}", file=sys.stderr)
        return 1

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: draining and stopping", signum)
        worker.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        stats = worker.run(until_idle_s=args.until_idle, max_s=args.max_seconds)
    except (KafkaError, TimeoutError, SQLAlchemyError, WriterFailed) as error:
        # Offsets are committed only after the ledger write: a restart resumes where this stopped.
        print(f"wijkbrug: stream gestopt door {type(error).__name__}; herstart hervat zonder "
              "verlies", file=sys.stderr)  # fmt: skip
        return 1
    print(stream_summary(stats))
    return 0


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug import keys_cli
    from wijkbrug.keys import KeyStore, KeyStoreError

    store = KeyStore(settings.keys_path(), generate=settings.generate_keys)
    try:
        if args.action == "rotate":
            print(keys_cli.rotate(store, args.partner, args.kind))
        else:
            print(keys_cli.listing(store, keys_cli.partners_for(args.kind), args.kind))
    except KeyStoreError as error:
        print(f"wijkbrug: {error}", file=sys.stderr)
        return 2
    return 0


def _inzage(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug import inzage
    from wijkbrug.keys import KeyStore
    from wijkbrug.ledger import Ledger
    from wijkbrug.pipeline import KeyAccess

    keys = KeyAccess(KeyStore(settings.keys_path(), generate=settings.generate_keys))
    ledger = Ledger(settings.ledger())
    try:
        rows = inzage.subject_access(ledger, keys.subjects, tenant=args.huurder, bsn=args.bsn)
    finally:
        ledger.close()
    who = f"huurder {args.huurder}" if args.huurder else "BSN (opgegeven door verzoeker)"
    print(inzage.as_json(rows) if args.json else inzage.as_text(rows, who))
    return 0


def _receiver(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading

    from wijkbrug.keys import KeyStore
    from wijkbrug.receiver import serve

    store = KeyStore(settings.keys_path(), generate=settings.generate_keys)
    server = serve(store, args.out, args.host, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"webhook-ontvanger op http://{args.host}:{args.port}/<partner>, bewaart in {args.out}")
    sys.stdout.flush()
    stop.wait()
    server.shutdown()
    return 0


def _nightly(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.nightly import run_night

    result = run_night(
        settings, args.start, args.end, run_id=args.run_id, validate=not args.no_validation
    )
    print(f"nacht {result.night}: {result.events} gebeurtenissen, {result.delivered} geleverd")
    print(f"  nieuw in het grootboek {result.new_deliveries}, in quarantaine {result.quarantined}")
    for partner, drop in sorted(result.drops.items()):
        print(f"  {partner:<24}{drop.rows:>7} rijen  {drop.parquet}")
    if result.summary:
        print(f"  validatierapport: {result.summary}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    logs.configure(settings.log_format, logging.INFO if args.verbose else logging.WARNING)
    # kafka-python logs an in-flight metadata refresh cancelled by close() as an error.
    logging.getLogger("kafka.cluster").setLevel(logging.CRITICAL)
    if args.command == "synth":
        from wijkbrug.synth import write_dataset

        manifest = write_dataset(args.out, seed=args.seed, as_of=args.as_of, faults=args.faults)
        for name, info in manifest.as_dict()["files"].items():
            print(
                f"{args.out / name}: {info['records']} records, {info['faulty']} met fouten, "
                f"{info['duplicates']} dubbel"
            )
        return 0
    if args.command == "connect":
        return _connect(args, settings)
    if args.command == "stream":
        return _stream(args, settings)
    if args.command == "nightly":
        return _nightly(args, settings)
    if args.command == "keys":
        return _keys(args, settings)
    if args.command == "inzage":
        return _inzage(args, settings)
    if args.command == "webhook-receiver":
        return _receiver(args, settings)
    if args.command == "deliveries":
        from wijkbrug.ledger import Ledger
        from wijkbrug.report import deliveries_report

        ledger = Ledger(settings.ledger())
        try:
            print(deliveries_report(ledger))
        finally:
            ledger.close()
        return 0
    if args.command == "quarantine":
        return quarantine_cli.run(args, settings)
    if args.command == "web":
        return web_cli.run(args, settings)
    return _topics(args, settings)


if __name__ == "__main__":
    sys.exit(main())
