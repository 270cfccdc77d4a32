"""The ``wijkbrug`` command: synthetic data, connectors, topics and what is on them."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from wijkbrug.reasons import REASONS
from wijkbrug.settings import Settings

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

    held = commands.add_parser("quarantine", help="toon de records in quarantaine, met redenen")
    held.add_argument("--connector", choices=sorted(CONNECT_HELP), default=None)
    held.add_argument(
        "--raw",
        action="store_true",
        help="toon ook het ruwe record (kan persoonsgegevens bevatten)",
    )

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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "synth":
        from wijkbrug.synth import write_dataset

        manifest = write_dataset(args.out, seed=args.seed, as_of=args.as_of, faults=args.faults)
        for name, info in manifest.as_dict()["files"].items():
            print(
                f"{args.out / name}: {info['records']} records, {info['faulty']} met fouten, "
                f"{info['duplicates']} dubbel"
            )
        return 0
    settings = Settings()
    if args.command == "connect":
        return _connect(args, settings)
    if args.command == "quarantine":
        from wijkbrug.report import quarantine_listing

        print(quarantine_listing(settings, args.connector, args.raw))
        return 0
    return _topics(args, settings)


if __name__ == "__main__":
    sys.exit(main())
