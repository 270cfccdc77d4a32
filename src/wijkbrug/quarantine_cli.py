"""``wijkbrug quarantine``: data stewards review quarantined records, with an audit trail.

``list`` (also ``wijkbrug quarantine`` alone), ``show ID``, ``release ID [--fix ...]``,
``reject ID`` and ``audit``. This is the edge: it reads the quarantine topic and the audit trail,
publishes released records and writes the trail; what to show, how to correct and what a release
comes to are :mod:`wijkbrug.quarantine_review`'s. Nothing personal goes to the log, to an error
message or to the audit trail.

The heavy imports (connectors, schemas, Kafka) wait until a quarantine command runs: building
the parser is part of every ``wijkbrug`` command.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson

from wijkbrug.settings import Settings

if TYPE_CHECKING:
    from wijkbrug.connector import Connector
    from wijkbrug.quarantine_audit import AuditTrail
    from wijkbrug.quarantine_review import AuditEntry, Fix, HeldRecord, Release, Review

log = logging.getLogger(__name__)

CONNECTOR_NAMES = ("consents", "feedback", "home-visits", "nightly", "planning", "stream")
#: Review statuses and audit actions (see wijkbrug.quarantine_review) as stewards read them.
STATUS_NL = {"open": "open", "released": "vrijgegeven", "rejected": "afgewezen"}
ACTION_NL = {"reveal": "onthuld", "release": "vrijgegeven", "reject": "afgewezen"}
STEWARD_ENV = "WIJKBRUG_STEWARD"


class Refused(Exception):
    """The command cannot do what was asked; ``code`` is the exit status (1 or 2)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


# -- the command line -------------------------------------------------------------------------


def _steward_option(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--steward",
        default=default,
        metavar="NAAM",
        help=f"wie dit doet (standaard ${STEWARD_ENV}, anders de gebruikersnaam)",
    )


def _reveal_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--reveal",
        action="store_true",
        default=default,
        help="toon persoonsgegevens ongemaskeerd (vraagt --reason; komt in de audittrail)",
    )
    parser.add_argument(
        "--reason", default=default, metavar="REDEN", help="waarom (verplicht bij --reveal)"
    )
    parser.add_argument("--json", action="store_true", default=default, help="als JSON")
    _steward_option(parser, default)


def _list_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--connector", choices=CONNECTOR_NAMES, default=default)
    parser.add_argument(
        "--all",
        action="store_true",
        default=default,
        help="ook vrijgegeven en afgewezen records, met hun status",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        default=default,
        help="toon ook het ruwe record (persoonsgegevens gemaskeerd)",
    )
    _reveal_options(parser, default)


def _decision_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="het (korte) id uit 'list'")
    parser.add_argument(
        "--reason", required=True, metavar="REDEN", help="waarom (komt in de audittrail)"
    )
    parser.add_argument("--json", action="store_true", help="uitkomst als JSON")
    _steward_option(parser, None)


def add_parser(commands: Any) -> None:
    """Add ``quarantine`` and its actions to the ``wijkbrug`` subcommands."""
    held = commands.add_parser(
        "quarantine",
        help="records in quarantaine beoordelen: tonen, corrigeren en vrijgeven, afwijzen",
        description="Records in quarantaine beoordelen. Zonder actie: als 'list'.",
    )
    _list_options(held, None)
    actions = held.add_subparsers(dest="action", metavar="ACTIE")
    # `list`'s defaults are suppressed, so `quarantine --connector X list` keeps X.
    _list_options(
        actions.add_parser("list", help="open records met hun redenen (standaard)"),
        argparse.SUPPRESS,
    )
    show = actions.add_parser("show", help="één record volledig, persoonsgegevens gemaskeerd")
    show.add_argument("id", help="het (korte) id uit 'list'")
    _reveal_options(show, None)

    release = actions.add_parser(
        "release", help="corrigeer en publiceer opnieuw, via de gewone weg van de connector"
    )
    _decision_options(release)
    release.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="VELD=WAARDE",
        help="correctie, herhaalbaar; VELD:=JSON voor een getal, null of lijst; geneste "
        "velden met punten (bewoner.bsn, signalen.0.categorie)",
    )
    release.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="datum waartegen data getoetst worden (standaard: vandaag)",
    )
    _decision_options(actions.add_parser("reject", help="wijs een record af, met reden"))
    trail = actions.add_parser("audit", help="de audittrail: wie deed wat, wanneer en waarom")
    trail.add_argument("--json", action="store_true", help="als JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``wijkbrug quarantine``: 0 done; 1 refused, or Kafka or the database failed; 2 misuse."""
    from sqlalchemy.exc import SQLAlchemyError

    from wijkbrug.kafka_client import KafkaError

    handlers = {
        "list": _list,
        "show": _show,
        "release": _release,
        "reject": _reject,
        "audit": _audit,
    }
    try:
        return handlers[args.action or "list"](args, settings)
    except Refused as refused:
        print(f"wijkbrug: {refused}", file=sys.stderr)
        return refused.code
    except (KafkaError, TimeoutError) as error:
        print(
            f"wijkbrug: Kafka ({settings.kafka_bootstrap}) faalde: {type(error).__name__}",
            file=sys.stderr,
        )
        return 1
    except SQLAlchemyError as error:
        print(f"wijkbrug: audittrail niet bereikbaar: {type(error).__name__}", file=sys.stderr)
        return 1


# -- reading ----------------------------------------------------------------------------------


def read_quarantine(settings: Settings) -> list[HeldRecord]:
    """Every record on the quarantine topic once (by id), oldest first, then in file order."""
    from wijkbrug import kafka_client
    from wijkbrug.connector import QUARANTINE_EVENT
    from wijkbrug.events import EventError, decode
    from wijkbrug.quarantine_review import HeldRecord
    from wijkbrug.schemas import SchemaViolation
    from wijkbrug.topics import load_topics

    topic = load_topics()["quarantine"].physical(settings.topic_prefix)
    found: dict[str, HeldRecord] = {}
    skipped = 0
    for record in kafka_client.read_topic(settings, topic):
        try:
            name, ident, when, data = decode(record.headers, record.value)
        except (EventError, SchemaViolation):
            skipped += 1
            continue
        if name != QUARANTINE_EVENT:
            skipped += 1
            continue
        key = (record.key or b"").decode(errors="replace")
        found.setdefault(ident, HeldRecord.from_event(ident, when, key, data))
    if skipped:
        log.warning("%d records on %s are no quarantine records; skipped", skipped, topic)
    return sorted(found.values(), key=lambda r: (r.time, r.source_file, r.line, r.id))


def _trail(settings: Settings) -> AuditTrail:
    from wijkbrug.quarantine_audit import AuditTrail

    return AuditTrail(settings.ledger())


def _entries(settings: Settings, quarantine_id: str | None = None) -> list[AuditEntry]:
    """The trail, without creating a database where none is yet (nothing was reviewed)."""
    from wijkbrug.quarantine_audit import AuditTrail

    entries = AuditTrail.read_only(settings.ledger())
    return [e for e in entries if quarantine_id is None or e.quarantine_id == quarantine_id]


def _append(settings: Settings, entries: Iterable[AuditEntry]) -> None:
    trail = _trail(settings)
    try:
        trail.append(entries)
    finally:
        trail.close()


def _review(entries: Iterable[AuditEntry], quarantine_id: str) -> Review:
    from wijkbrug.quarantine_review import Review, reviews

    return reviews(entries).get(quarantine_id, Review())


def _steward(args: argparse.Namespace) -> str:
    """Who: ``--steward``, else $WIJKBRUG_STEWARD, else the OS user."""
    given = getattr(args, "steward", None) or os.environ.get(STEWARD_ENV)
    if given and given.strip():
        return given.strip()[:120]
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


def _reason(args: argparse.Namespace, hidden: Sequence[tuple[str, str]]) -> str:
    """The steward's reason: required, and naming fields rather than their values."""
    from wijkbrug.quarantine_review import values_named

    reason = (args.reason or "").strip()
    if not reason:
        raise Refused("geef een reden met --reason")
    named = values_named(reason, hidden)
    if named:
        raise Refused(
            f"de reden bevat een waarde uit het record ({', '.join(named)}); "
            "noem velden, geen waarden"
        )
    return reason


def _find(records: Sequence[HeldRecord], prefix: str) -> tuple[HeldRecord, str]:
    """The record an (abbreviated) id names, and its short id."""
    from wijkbrug.quarantine_review import resolve, short_ids

    try:
        wanted = resolve(prefix, [r.id for r in records])
    except LookupError as error:
        raise Refused(str(error)) from None
    record = next(r for r in records if r.id == wanted)
    return record, short_ids(r.id for r in records)[record.id]


def _entry(record: HeldRecord, action: str, steward: str, reason: str, **extra: Any) -> AuditEntry:
    from wijkbrug.quarantine_review import AuditEntry

    return AuditEntry(
        at=datetime.now(UTC),
        steward=steward,
        action=action,
        quarantine_id=record.id,
        connector=record.connector,
        source_file=record.source_file,
        line=record.line,
        reason=reason,
        **extra,
    )


# -- presenting -------------------------------------------------------------------------------


def _clock(settings: Settings, moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")


def _reason_text(code: str, field: str | None) -> str:
    from wijkbrug.reasons import REASONS

    return code + (f" ({field})" if field else "") + f": {REASONS.get(code, code)}"


def _reasons_text(record: HeldRecord) -> str:
    return "; ".join(_reason_text(r.code, r.field) for r in record.reasons)


def _indented(text: str, indent: str = "    ") -> str:
    return "\n".join(indent + line for line in text.splitlines() or [""])


def _record_dict(record: HeldRecord, short: str, state: Review) -> dict[str, Any]:
    return {
        "id": record.id,
        "short_id": short,
        "time": record.time.isoformat(),
        "connector": record.connector,
        "source_file": record.source_file,
        "source_sha256": record.source_sha256,
        "line": record.line,
        "key": record.key,
        "reasons": [r.as_dict() for r in record.reasons],
        "status": state.status,
        "reviewed_by": state.steward,
        "reviewed_at": state.at.isoformat() if state.at else None,
        "review_reason": state.reason,
    }


def _entry_dict(entry: AuditEntry, short: str) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "steward": entry.steward,
        "action": entry.action,
        "quarantine_id": entry.quarantine_id,
        "short_id": short,
        "connector": entry.connector,
        "source_file": entry.source_file,
        "line": entry.line,
        "reason": entry.reason,
        "fields": list(entry.fields),
        "event_ids": list(entry.event_ids),
    }


def _entry_text(entry: AuditEntry, settings: Settings, short: str | None = None) -> str:
    parts = [
        _clock(settings, entry.at),
        f"{entry.steward:<16}",
        f"{ACTION_NL.get(entry.action, entry.action):<11}",
    ]
    if short is not None:
        parts.append(f"{short}  {entry.connector:<11}  {entry.source_file}:{entry.line}")
    if entry.fields:
        parts.append(f"velden: {', '.join(entry.fields)}")
    if entry.action == "release":
        parts.append(f"gebeurtenissen: {len(entry.event_ids)}")
    parts.append(f"reden: {entry.reason}")
    return "  ".join(parts)


def _print_json(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


# -- list and show ----------------------------------------------------------------------------


def _check_reveal(args: argparse.Namespace) -> None:
    if args.reveal and not (args.reason or "").strip():
        raise Refused('--reveal vraagt een reden: --reveal --reason "..." (komt in de audittrail)')


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.quarantine_review import Review, policy_for, reviews, short_ids, view

    _check_reveal(args)
    records = read_quarantine(settings)
    states = reviews(_entries(settings))
    shorts = short_ids(r.id for r in records)
    chosen = [
        r
        for r in records
        if (args.connector is None or r.connector == args.connector)
        and (args.all or r.id not in states)
    ]
    views = {r.id: view(r, policy_for(r), reveal=bool(args.reveal)) for r in chosen}
    if args.reveal and chosen:
        reason = _reason(args, [pair for v in views.values() for pair in v.hidden])
        steward = _steward(args)
        _append(settings, [_entry(r, "reveal", steward, reason) for r in chosen])  # before showing
    show_raw = bool(args.raw or args.reveal)
    if args.json:
        rows = []
        for record in chosen:
            row = _record_dict(record, shorts[record.id], states.get(record.id, Review()))
            if show_raw:
                row |= {"raw": views[record.id].raw, "revealed": bool(args.reveal)}
            rows.append(row)
        _print_json(rows)
        return 0
    if not chosen:
        print("(geen records in quarantaine)" if args.all else "(geen open records in quarantaine)")
        return 0
    for record in chosen:
        status = ""
        if args.all:
            status = f"{STATUS_NL[states.get(record.id, Review()).status]:<13}"
        print(
            f"{shorts[record.id]}  {status}{_clock(settings, record.time)}  "
            f"{record.connector:<11}  {record.where}  {_reasons_text(record)}"
        )
        if show_raw:
            print(_indented(views[record.id].raw))
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.quarantine_review import policy_for, view

    _check_reveal(args)
    record, short = _find(read_quarantine(settings), args.id)
    shown = view(record, policy_for(record), reveal=bool(args.reveal))
    if args.reveal:
        reason = _reason(args, shown.hidden)
        _append(settings, [_entry(record, "reveal", _steward(args), reason)])  # before showing
    history = _entries(settings, record.id)
    state = _review(history, record.id)
    if args.json:
        row = _record_dict(record, short, state)
        row |= {
            "fields": None if shown.fields is None else dict(shown.fields),
            "raw": shown.raw,
            "revealed": bool(args.reveal),
            "audit": [_entry_dict(e, short) for e in history],
        }
        _print_json(row)
        return 0
    decided = f" door {state.steward} op {_clock(settings, state.at)}: {state.reason}"
    lines = [
        f"Record in quarantaine {short}",
        f"  {'id':<16}{record.id}",
        f"  {'status':<16}{STATUS_NL[state.status]}{decided if state.steward else ''}",
        f"  {'in quarantaine':<16}{_clock(settings, record.time)}",
        f"  {'connector':<16}{record.connector}",
        f"  {'bron':<16}{record.where}",
        f"  {'bron-sha256':<16}{record.source_sha256}",
        f"  {'sleutel':<16}{record.key}",
        "Redenen",
        *(f"  {_reason_text(r.code, r.field)}" for r in record.reasons),
        "Velden (onthuld; vastgelegd in de audittrail)"
        if args.reveal
        else 'Velden (persoonsgegevens gemaskeerd; --reveal --reason "..." toont ze)',
    ]
    if shown.fields is None:
        lines.append("  (niet in velden te lezen; zie het ruwe record)")
    else:
        width = max((len(path) for path, _ in shown.fields), default=0) + 2
        lines += [f"  {path:<{width}}{value}" for path, value in shown.fields]
    lines += ["Ruw record", _indented(shown.raw, "  ")]
    if history:
        lines += ["Audittrail", *(f"  {_entry_text(e, settings)}" for e in history)]
    print("\n".join(lines))
    return 0


# -- release and reject -----------------------------------------------------------------------


def connector_for(record: HeldRecord) -> Connector:
    """The connector that quarantined a record, set up for the record's source format."""
    from connectors import CONNECTORS

    from wijkbrug.quarantine_review import is_delimited

    cls = CONNECTORS.get(record.connector)
    if cls is None:
        raise Refused(f"onbekende connector: {record.connector}")
    if record.connector == "consents":
        return cls(json_lines=not is_delimited(record.connector, record.source_file))
    return cls()


def _still_open(record: HeldRecord, short: str, settings: Settings) -> None:
    state = _review(_entries(settings, record.id), record.id)
    if state.status != "open":
        raise Refused(
            f"{short} is al {STATUS_NL[state.status]} door {state.steward} op "
            f"{_clock(settings, state.at)}; een beoordeling is definitief",
            code=1,
        )


def _connector_release(
    record: HeldRecord, fixes: list[Fix], today: date | None, settings: Settings
) -> Release:
    """The record through its connector, with the context and dedup memory a run has."""
    from wijkbrug import kafka_client
    from wijkbrug.connector import make_context
    from wijkbrug.quarantine_review import policy_for, release_connector_record
    from wijkbrug.runner import unit_register

    connector = connector_for(record)
    known = kafka_client.known_event_ids(settings, connector.topics(), connector.source)
    units = unit_register(settings) if connector.needs_units else {}
    context = make_context(today, units)
    return release_connector_record(connector, record, policy_for(record), fixes, known, context)


def _stream_release(record: HeldRecord, fixes: list[Fix], settings: Settings) -> Release:
    """The corrected event, for the raw topic the stream worker read it from."""
    from wijkbrug import kafka_client
    from wijkbrug.quarantine_review import (
        STREAM_IDENTITY,
        policy_for,
        raw_topic_of,
        release_stream_record,
        stream_source,
    )
    from wijkbrug.topics import load_topics

    topics = load_topics()
    logical = raw_topic_of(record, settings.topic_prefix)
    if logical not in topics:
        raise Refused(f"{record.source_file} is geen raw topic van deze omgeving")
    spec = topics[logical]
    known: set[str] = set()
    for name in spec.event_types:
        if name in STREAM_IDENTITY:
            known |= kafka_client.known_event_ids(settings, [spec], stream_source(name))
    now = datetime.now(UTC)
    return release_stream_record(record, policy_for(record), fixes, spec.event_types, known, now)


def _publish(settings: Settings, release: Release) -> dict[str, int]:
    """Publish and wait for the broker's acknowledgement of every event; events per topic."""
    from wijkbrug import kafka_client
    from wijkbrug.topics import topic_for

    specs = {e.name: topic_for(e.name) for e in release.events}
    kafka_client.ensure_topics(settings, {s.name: s for s in specs.values()}.values())
    publisher = kafka_client.Publisher(settings)
    try:
        for event in release.events:
            publisher.send(specs[event.name], event)
        publisher.flush()
    finally:
        publisher.close()
    return dict(sorted(Counter(specs[e.name].name for e in release.events).items()))


def _release(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.quarantine_audit import AlreadyDecided
    from wijkbrug.quarantine_review import (
        RAW_TOPIC_CONNECTORS,
        FixError,
        parse_fix,
        policy_for,
        view,
    )

    try:
        fixes = [parse_fix(text) for text in args.fix]
    except FixError as error:
        raise Refused(str(error)) from None
    record, short = _find(read_quarantine(settings), args.id)
    hidden = [*view(record, policy_for(record)).hidden]
    hidden += [(f.field, str(f.value)) for f in fixes if f.value is not None]
    reason = _reason(args, hidden)
    _still_open(record, short, settings)
    try:
        if record.connector in RAW_TOPIC_CONNECTORS:
            release = _stream_release(record, fixes, settings)
        else:
            release = _connector_release(record, fixes, args.today, settings)
    except FixError as error:
        raise Refused(str(error)) from None
    fields = [f.field for f in fixes]
    if release.refused:
        log.info("release of %s refused: %s", short, [r.code for r in release.reasons])
        if args.json:
            reasons = [r.as_dict() for r in release.reasons]
            outcome = {"id": record.id, "short_id": short, "released": False, "status": "open"}
            _print_json(outcome | {"fields": fields, "reasons": reasons})
        else:
            print(f"niet vrijgegeven: {short} ({record.where}) voldoet nog niet; blijft open")
            for reason_ in release.reasons:
                print(f"  {_reason_text(reason_.code, reason_.field)}")
        return 1
    per_topic = _publish(settings, release) if release.events else {}
    ids = tuple(e.id for e in release.events)
    entry = _entry(record, "release", _steward(args), reason, fields=tuple(fields), event_ids=ids)
    try:
        _append(settings, [entry])
    except AlreadyDecided:
        raise Refused(
            f"{short} is intussen door een ander beoordeeld; de gebeurtenissen hebben vaste "
            "id's en tellen niet dubbel",
            code=1,
        ) from None
    log.info("%s released: %d events", short, len(ids))
    if args.json:
        events = [{"id": e.id, "type": e.name, "key": e.key} for e in release.events]
        outcome = {"id": record.id, "short_id": short, "released": True, "status": "released"}
        _print_json(
            outcome
            | {"fields": fields, "duplicate": release.duplicate, "events": events}
            | {"topics": per_topic}
        )
        return 0
    fixed = f", gecorrigeerd: {', '.join(fields)}" if fields else ""
    print(f"vrijgegeven: {short} ({record.where}){fixed}")
    if release.duplicate:
        print("  alle gebeurtenissen van dit record waren al gepubliceerd: niets nieuws")
    for topic, count in per_topic.items():
        print(f"  gebeurtenissen op {topic:<30}{count:>6}")
    for event in release.events:
        print(f"    {event.id}  {event.name}")
    return 0


def _reject(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.quarantine_audit import AlreadyDecided
    from wijkbrug.quarantine_review import policy_for, view

    record, short = _find(read_quarantine(settings), args.id)
    reason = _reason(args, view(record, policy_for(record)).hidden)
    _still_open(record, short, settings)
    try:
        _append(settings, [_entry(record, "reject", _steward(args), reason)])
    except AlreadyDecided:
        raise Refused(f"{short} is intussen door een ander beoordeeld", code=1) from None
    if args.json:
        _print_json({"id": record.id, "short_id": short, "status": "rejected"})
    else:
        print(f"afgewezen: {short} ({record.where})")
    return 0


# -- the trail --------------------------------------------------------------------------------


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.quarantine_review import short_ids

    entries = _entries(settings)
    shorts = short_ids(e.quarantine_id for e in entries)
    if args.json:
        _print_json([_entry_dict(e, shorts[e.quarantine_id]) for e in entries])
        return 0
    if not entries:
        print("(de audittrail is leeg)")
        return 0
    for entry in entries:
        print(_entry_text(entry, settings, shorts[entry.quarantine_id]))
    return 0
