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
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson

from wijkbrug import quarantine_desk as desk
from wijkbrug.quarantine_desk import STATUS_NL, Refused
from wijkbrug.settings import Settings

if TYPE_CHECKING:
    from wijkbrug.quarantine_review import AuditEntry, HeldRecord, Review

log = logging.getLogger(__name__)

CONNECTOR_NAMES = ("consents", "feedback", "home-visits", "nightly", "planning", "stream")
#: Audit actions (see wijkbrug.quarantine_review) as stewards read them.
ACTION_NL = {"reveal": "onthuld", "release": "vrijgegeven", "reject": "afgewezen"}
STEWARD_ENV = "WIJKBRUG_STEWARD"
MISSING_REASON = "geef een reden met --reason"


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


def _steward(args: argparse.Namespace) -> str:
    """Who: ``--steward``, else $WIJKBRUG_STEWARD, else the OS user."""
    given = getattr(args, "steward", None) or os.environ.get(STEWARD_ENV)
    if given and given.strip():
        return given.strip()[:120]
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


# -- presenting -------------------------------------------------------------------------------


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
        desk.clock(settings, entry.at),
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
    records = desk.read_quarantine(settings)
    states = reviews(desk.entries(settings))
    shorts = short_ids(r.id for r in records)
    chosen = [
        r
        for r in records
        if (args.connector is None or r.connector == args.connector)
        and (args.all or r.id not in states)
    ]
    if args.reveal:
        views = desk.reveal(settings, chosen, _steward(args), args.reason, missing=MISSING_REASON)
    else:
        views = {r.id: view(r, policy_for(r)) for r in chosen}
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
            f"{shorts[record.id]}  {status}{desk.clock(settings, record.time)}  "
            f"{record.connector:<11}  {record.where}  {_reasons_text(record)}"
        )
        if show_raw:
            print(_indented(views[record.id].raw))
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.quarantine_review import policy_for, view

    _check_reveal(args)
    record, short = desk.find(desk.read_quarantine(settings), args.id)
    if args.reveal:
        shown = desk.reveal(settings, [record], _steward(args), args.reason)[record.id]
    else:
        shown = view(record, policy_for(record))
    history = desk.entries(settings, record.id)
    state = desk.review_of(history, record.id)
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
    decided = f" door {state.steward} op {desk.clock(settings, state.at)}: {state.reason}"
    lines = [
        f"Record in quarantaine {short}",
        f"  {'id':<16}{record.id}",
        f"  {'status':<16}{STATUS_NL[state.status]}{decided if state.steward else ''}",
        f"  {'in quarantaine':<16}{desk.clock(settings, record.time)}",
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


def _release(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.quarantine_review import FixError, parse_fix

    try:
        fixes = [parse_fix(text) for text in args.fix]
    except FixError as error:
        raise Refused(str(error)) from None
    record, short = desk.find(desk.read_quarantine(settings), args.id)
    done = desk.release(
        settings, record, short, fixes, _steward(args), args.reason, today=args.today,
        missing=MISSING_REASON,
    )  # fmt: skip
    release, fields = done.release, done.fields
    if release.refused:
        if args.json:
            reasons = [r.as_dict() for r in release.reasons]
            outcome = {"id": record.id, "short_id": short, "released": False, "status": "open"}
            _print_json(outcome | {"fields": fields, "reasons": reasons})
        else:
            print(f"niet vrijgegeven: {short} ({record.where}) voldoet nog niet; blijft open")
            for reason_ in release.reasons:
                print(f"  {_reason_text(reason_.code, reason_.field)}")
        return 1
    if args.json:
        events = [{"id": e.id, "type": e.name, "key": e.key} for e in release.events]
        outcome = {"id": record.id, "short_id": short, "released": True, "status": "released"}
        _print_json(
            outcome
            | {"fields": fields, "duplicate": release.duplicate, "events": events}
            | {"topics": done.per_topic}
        )
        return 0
    fixed = f", gecorrigeerd: {', '.join(fields)}" if fields else ""
    print(f"vrijgegeven: {short} ({record.where}){fixed}")
    if release.duplicate:
        print("  alle gebeurtenissen van dit record waren al gepubliceerd: niets nieuws")
    for topic, count in done.per_topic.items():
        print(f"  gebeurtenissen op {topic:<30}{count:>6}")
    for event in release.events:
        print(f"    {event.id}  {event.name}")
    return 0


def _reject(args: argparse.Namespace, settings: Settings) -> int:
    record, short = desk.find(desk.read_quarantine(settings), args.id)
    desk.reject(settings, record, short, _steward(args), args.reason, missing=MISSING_REASON)
    if args.json:
        _print_json({"id": record.id, "short_id": short, "status": "rejected"})
    else:
        print(f"afgewezen: {short} ({record.where})")
    return 0


# -- the trail --------------------------------------------------------------------------------


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.quarantine_review import short_ids

    entries = desk.entries(settings)
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
