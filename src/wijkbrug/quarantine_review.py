"""Reviewing quarantined records, the pure core: masking, corrections, release, review status.

A steward sees a raw record with its personal fields masked (config/personal_fields.yaml) unless
they reveal it; corrects fields by name; and releases the record through the same mapping and
validation a connector run applies (decision 7: a corrected record gets the ids the original
would have had), or rejects it. A record's review status is its latest release or reject entry in
the steward audit trail. No I/O here: :mod:`wijkbrug.quarantine_desk` reads the quarantine topic
and the audit trail, publishes, and writes the trail.

Errors (:class:`FixError`) name fields, never values: a correction can be a BSN.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import PurePath
from typing import Any

import orjson
import yaml

from wijkbrug.codes import CONSENT_COLUMNS, PLANNING_COLUMNS
from wijkbrug.connector import Connector, Context, SourceFile, process
from wijkbrug.events import SOURCE_PREFIX, Event, event_id
from wijkbrug.paths import data_dir
from wijkbrug.reasons import Reason
from wijkbrug.schemas import SchemaViolation, latest, validate

MASK = "•••"
#: The quarantine records of the stream worker (raw-topic events it held back).
STREAM = "stream"
#: Records held back from raw topics, not from a source file: the stream worker's (a record it
#: could not read) and the nightly sync's (a batch rule failed). Both keep the event's data.
RAW_TOPIC_CONNECTORS = (STREAM, "nightly")
#: File suffixes of JSON Lines sources (the consent registry exports either CSV or JSON Lines).
JSON_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
#: Delimited sources: the column order of their export (the quarantine record keeps no header).
COLUMNS: Mapping[str, tuple[str, ...]] = {"planning": PLANNING_COLUMNS, "consents": CONSENT_COLUMNS}

OPEN, RELEASED, REJECTED = "open", "released", "rejected"
REVEAL, RELEASE, REJECT = "reveal", "release", "reject"
#: Audit actions that decide a record, and the status each leaves it in.
DECISIONS: Mapping[str, str] = {RELEASE: RELEASED, REJECT: REJECTED}


class FixError(ValueError):
    """A correction cannot be applied; the message names the field, never a value."""


# -- quarantined records ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldRecord:
    """A quarantine record as read from the quarantine topic."""

    id: str
    time: datetime
    key: str
    connector: str
    source_file: str
    source_sha256: str
    line: int
    reasons: tuple[Reason, ...]
    raw: str

    @classmethod
    def from_event(cls, id: str, time: datetime, key: str, data: Mapping[str, Any]) -> HeldRecord:
        """From a ``quarantine.record`` event's id, time, Kafka key and (schema-valid) data."""
        return cls(
            id=id,
            time=time,
            key=key,
            connector=data["connector"],
            source_file=data["source_file"],
            source_sha256=data["source_sha256"],
            line=data["line"],
            reasons=tuple(Reason(r["code"], r["field"]) for r in data["reasons"]),
            raw=data["raw"],
        )

    @property
    def where(self) -> str:
        return f"{self.source_file}:{self.line}"


# -- which fields are personal ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldPolicy:
    """What a steward sees of one source format: only ``public`` fields unmasked.

    Paths join nested keys with ``.`` and leave list positions out. ``columns`` is the column
    order of a delimited source, None for JSON.
    """

    public: frozenset[str]
    personal: frozenset[str]
    columns: tuple[str, ...] | None = None

    def shown(self, path: str) -> bool:
        return path in self.public

    def known(self, path: str) -> bool:
        return path in self.public or path in self.personal


@cache
def load_policies() -> dict[str, FieldPolicy]:
    """Per connector, the reviewed field lists of config/personal_fields.yaml."""
    path = data_dir("config") / "personal_fields.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    policies = {}
    for connector, entry in doc.items():
        public, personal = frozenset(entry["public"]), frozenset(entry["personal"])
        if both := sorted(public & personal):
            raise ValueError(f"{path}: {connector}: both public and personal: {both}")
        policies[connector] = FieldPolicy(public, personal)
    return policies


def is_delimited(connector: str, source_file: str) -> bool:
    """Whether a connector's source file is delimited text (else JSON)."""
    if connector not in COLUMNS:
        return False
    return connector != "consents" or PurePath(source_file).suffix.lower() not in JSON_SUFFIXES


def policy_for(record: HeldRecord) -> FieldPolicy:
    """The field policy of a record's source format; an unknown connector shows nothing."""
    connector = STREAM if record.connector in RAW_TOPIC_CONNECTORS else record.connector
    policy = load_policies().get(connector, FieldPolicy(frozenset(), frozenset()))
    if is_delimited(record.connector, record.source_file):
        return replace(policy, columns=COLUMNS[record.connector])
    return policy


# -- masking ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class View:
    """A record as a steward sees it: raw text and fields, masked unless revealed.

    ``fields`` is None when the raw record cannot be read as fields (truncated JSON, a CSV row
    with the wrong number of columns). ``hidden`` lists the (path, value) pairs that masking
    hides, so free text a steward types can be checked for them.
    """

    raw: str
    fields: tuple[tuple[str, str], ...] | None
    hidden: tuple[tuple[str, str], ...]


def _hides(value: Any) -> bool:
    """Empty values are shown: that a field is empty is no personal data, and often the fault."""
    return value is not None and value != "" and value != [] and value != {}


def _leaves(value: Any, parts: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple, Any]]:
    """Every scalar (and empty container) of a JSON value with its path parts."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*parts, str(key)))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, (*parts, index))
    else:
        yield parts, value


def policy_path(path: str) -> str:
    """``signalen.0.toelichting`` -> ``signalen.toelichting``: list positions left out."""
    return ".".join(part for part in path.split(".") if not part.isdigit())


def _cells(raw: str) -> list[list[str]] | None:
    try:
        return list(csv.reader(io.StringIO(raw, newline=""), delimiter=";"))
    except csv.Error:
        return None


def _row_text(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue().rstrip("\n")


def _columns_of(raw: str, columns: tuple[str, ...]) -> dict[str, str] | None:
    rows = _cells(raw)
    if rows is None or len(rows) != 1 or len(rows[0]) != len(columns):
        return None
    return dict(zip(columns, rows[0], strict=True))


def _json_object(raw: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def record_fields(record: HeldRecord, policy: FieldPolicy) -> dict[str, Any] | None:
    """The raw record as fields (a CSV row by its columns, a JSON object), None if unreadable."""
    if policy.columns is not None:
        return _columns_of(record.raw, policy.columns)
    return _json_object(record.raw)


def _mask_delimited(raw: str, policy: FieldPolicy) -> tuple[str, list[tuple[str, str]]]:
    columns = policy.columns or ()
    rows = _cells(raw)
    if rows is None:
        return MASK, [("", raw)]
    readable = len(rows) == 1 and len(rows[0]) == len(columns)
    hidden: list[tuple[str, str]] = []
    masked_rows = []
    for row in rows:
        masked = []
        for index, cell in enumerate(row):
            name = columns[index] if readable else ""
            if _hides(cell) and not policy.shown(name):
                hidden.append((name, cell))
                cell = MASK
            masked.append(cell)
        masked_rows.append(masked)
    return _row_text(masked_rows), hidden


#: JSON text as tokens: strings (a truncated one runs to the end), punctuation, blanks, words.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[{}\[\]:,]|\s+|[^\s{}\[\]:,"]+', re.DOTALL)


@dataclass(slots=True)
class _Frame:
    array: bool
    path: str
    key: str | None = None
    expect_key: bool = False


def _token_text(token: str) -> str:
    if token.startswith('"'):
        try:
            return str(json.loads(token))
        except ValueError:
            return token.strip('"')
    return token


def _mask_json_text(raw: str, policy: FieldPolicy) -> tuple[str, list[tuple[str, str]]]:
    """Mask the values of JSON text by the path of their key, tolerating broken JSON.

    Works token by token, so a truncated line (``json.invalid``) is masked as well as a whole
    one, and the text keeps its layout. A value whose key is not known to be public is masked;
    so is everything outside an object.
    """
    tokens = _JSON_TOKEN.findall(raw)
    out: list[str] = []
    hidden: list[tuple[str, str]] = []
    stack: list[_Frame] = []

    def owner() -> str:
        if not stack:
            return ""
        frame = stack[-1]
        if frame.array:
            return frame.path
        name = frame.key if frame.key is not None else "?"
        return f"{frame.path}.{name}" if frame.path else name

    def followed_by_colon(index: int) -> bool:
        for token in tokens[index + 1 :]:
            if not token.isspace():
                return token == ":"
        return False

    for index, token in enumerate(tokens):
        frame = stack[-1] if stack else None
        if token.isspace() or token == ":":
            out.append(token)
        elif token in ("{", "["):
            stack.append(_Frame(array=token == "[", path=owner(), expect_key=token == "{"))
            out.append(token)
        elif token in ("}", "]"):
            if stack:
                stack.pop()
            out.append(token)
        elif token == ",":
            if frame is not None and not frame.array:
                frame.key, frame.expect_key = None, True
            out.append(token)
        elif (
            frame is not None
            and not frame.array
            and frame.expect_key
            and token.startswith('"')
            and followed_by_colon(index)
        ):
            frame.key, frame.expect_key = _token_text(token), False
            out.append(token)
        else:
            path = owner()
            if token in ("null", '""') or policy.shown(path):
                out.append(token)
            else:
                hidden.append((path, _token_text(token)))
                out.append(f'"{MASK}"')  # a masked number too: whole JSON stays JSON
    return "".join(out), hidden


def _shown_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def view(record: HeldRecord, policy: FieldPolicy, *, reveal: bool = False) -> View:
    """The record as a steward sees it: personal values masked, or all shown with ``reveal``."""
    if policy.columns is not None:
        masked, hidden = _mask_delimited(record.raw, policy)
    else:
        masked, hidden = _mask_json_text(record.raw, policy)
    document = record_fields(record, policy)
    fields = None
    if document is not None:
        fields = []
        for parts, value in _leaves(document):
            path = ".".join(map(str, parts))
            secret = _hides(value) and not policy.shown(policy_path(path))
            fields.append((path, MASK if secret and not reveal else _shown_value(value)))
        fields = tuple(fields)
    return View(record.raw if reveal else masked, fields, tuple(hidden))


def _digits(text: str) -> str:
    return re.sub(r"[\s.()+-]", "", text)


def values_named(text: str, hidden: Iterable[tuple[str, str]], minimum: int = 5) -> list[str]:
    """The fields whose hidden values occur in ``text``: a steward's reason names no values.

    Values shorter than ``minimum`` characters are not checked (a house number would match
    every line number); digits are compared without spaces, dashes and dots (phone numbers).
    """
    folded = text.casefold()
    compact = _digits(folded)
    named = set()
    for path, value in hidden:
        value = value.strip().casefold()
        if len(value) < minimum:
            continue
        digits = _digits(value)
        if value in folded or (digits.isdigit() and len(digits) >= 6 and digits in compact):
            named.add(path or "(record)")
    return sorted(named)


# -- corrections ------------------------------------------------------------------------------

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.(?:\d+|[A-Za-z_][A-Za-z0-9_]*))*$")


@dataclass(frozen=True, slots=True)
class Fix:
    """One correction: a field path (``bewoner.bsn``, ``signalen.0.categorie``) and its value."""

    field: str
    value: Any


def parse_fix(text: str) -> Fix:
    """``FIELD=VALUE`` (the value as text) or ``FIELD:=JSON`` (a number, null, a list...)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise FixError("--fix verwacht VELD=WAARDE of VELD:=JSON")
    as_json = name.endswith(":")
    name = name.removesuffix(":").strip()
    if not _FIELD.match(name):
        raise FixError("--fix: ongeldige veldnaam (letters, cijfers, _ en . tussen de delen)")
    if not as_json:
        return Fix(name, value)
    try:
        return Fix(name, json.loads(value))
    except ValueError:
        raise FixError(f"--fix {name}: waarde na := is geen geldige JSON") from None


def _check_fixes(fixes: Sequence[Fix], policy: FieldPolicy) -> None:
    seen: set[str] = set()
    for fix in fixes:
        if fix.field in seen:
            raise FixError(f"veld {fix.field} staat meer dan eens in --fix")
        seen.add(fix.field)
        if not policy.known(policy_path(fix.field)):
            raise FixError(f"onbekend veld: {fix.field} (zie config/personal_fields.yaml)")


def _set(document: dict[str, Any], fix: Fix) -> None:
    parts = fix.field.split(".")
    node: Any = document
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise FixError(f"veld {fix.field}: {where} bestaat niet in de lijst")
            key: Any = int(part)
        elif isinstance(node, dict):
            if part.isdigit():
                raise FixError(f"veld {fix.field}: {where} is geen lijst")
            key = part
            if not last and key not in node:
                node[key] = {}
        else:
            raise FixError(f"veld {fix.field}: {'.'.join(parts[:depth])} is geen object of lijst")
        if last:
            node[key] = fix.value
        else:
            node = node[key]


def apply_fixes(record: HeldRecord, policy: FieldPolicy, fixes: Sequence[Fix]) -> str:
    """The raw record with ``fixes`` applied, in its source format (a CSV row or a JSON line)."""
    if not fixes:
        return record.raw
    _check_fixes(fixes, policy)
    if policy.columns is not None:
        row = _columns_of(record.raw, policy.columns)
        if row is None:
            raise FixError("record is niet in kolommen te lezen; wijs het af en corrigeer de bron")
        for fix in fixes:
            if fix.field not in row:
                raise FixError(f"veld {fix.field} is geen kolom van dit bestand")
            if not isinstance(fix.value, str):
                raise FixError(f"veld {fix.field}: een kolom krijgt tekst (VELD=WAARDE)")
            row[fix.field] = fix.value
        return _row_text([list(row.values())])
    document = _json_object(record.raw)
    if document is None:
        raise FixError("record is geen leesbaar JSON-object; wijs het af en corrigeer de bron")
    for fix in fixes:
        _set(document, fix)
    return json.dumps(document, ensure_ascii=False)


# -- release ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Release:
    """What releasing a record comes to: events to publish, or why it still fails.

    ``duplicate``: every event of the corrected record was published before (a re-run of the
    source after the fault was fixed there); releasing it publishes nothing.
    """

    events: tuple[Event, ...] = ()
    reasons: tuple[Reason, ...] = ()
    duplicate: bool = False

    @property
    def refused(self) -> bool:
        return bool(self.reasons)


def _source_bytes(policy: FieldPolicy, raw: str) -> bytes:
    header = ";".join(policy.columns) + "\n" if policy.columns is not None else ""
    return (header + raw + "\n").encode("utf-8")


def release_connector_record(
    connector: Connector,
    record: HeldRecord,
    policy: FieldPolicy,
    fixes: Sequence[Fix],
    known_ids: set[str],
    context: Context,
) -> Release:
    """The corrected record through its connector's own reading, mapping and validation.

    The record is read as a one-record source file of its format and classified by
    :func:`wijkbrug.connector.process` exactly as in a run, with the run's context (unit
    register, partners, today) and the ids already on the topics.
    """
    records = list(connector.read(_source_bytes(policy, apply_fixes(record, policy, fixes))))
    if len(records) != 1:
        code = "csv.field_count" if policy.columns is not None else "json.invalid"
        return Release(reasons=(Reason(code),))
    source = SourceFile(record.source_file, record.source_sha256)
    corrected = replace(records[0], line=record.line)
    [result] = process(connector, [corrected], source, known_ids, context)
    if result.outcome == "quarantined":
        return Release(reasons=tuple(result.reasons))
    return Release(events=tuple(result.events), duplicate=result.outcome == "duplicate")


#: Per event type on a raw topic: the connector that publishes it and its source identity in
#: the event data (decision 7), exactly as the connector derives the event id.
STREAM_IDENTITY: Mapping[str, tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]] = {
    "renovation.milestone": (
        "planning",
        lambda d: (d["unit_id"], d["milestone"], d["planned_date"], d["realised_date"]),
    ),
    "signal.consented": (
        "home-visits",
        lambda d: (d["registration_id"], "signal", d["signal_index"]),
    ),
}


def raw_topic_of(record: HeldRecord, prefix: str) -> str | None:
    """The logical raw topic a stream record was read from (its ``source_file``)."""
    if record.connector not in RAW_TOPIC_CONNECTORS or not record.source_file.startswith(prefix):
        return None
    return record.source_file[len(prefix) :]


def stream_source(event_name: str) -> str:
    """The CloudEvents source of a raw-topic event type: the connector that publishes it."""
    return SOURCE_PREFIX + STREAM_IDENTITY[event_name][0]


def release_stream_record(
    record: HeldRecord,
    policy: FieldPolicy,
    fixes: Sequence[Fix],
    event_types: Sequence[str],
    known_ids: set[str],
    now: datetime,
) -> Release:
    """The corrected raw-topic event, checked against its schema, with its source-identity id.

    ``event_types`` are those the raw topic carries; the event goes out under the source of the
    connector that publishes that type, with the id that connector gives the record.
    """
    data = _json_object(apply_fixes(record, policy, fixes))
    if data is None:
        return Release(reasons=(Reason("event.invalid"),))
    reasons: list[Reason] = []
    for name in event_types:
        if name not in STREAM_IDENTITY:
            continue
        try:
            validate(latest(name), data)
        except SchemaViolation as violation:
            reasons.append(Reason("schema.invalid", violation.path or None))
            continue
        source = stream_source(name)
        unit = data["unit_id"]
        event = Event(
            name=name,
            source=source,
            id=event_id(source, *STREAM_IDENTITY[name][1](data)),
            key=unit,
            subject=unit,
            time=now,
            data=data,
        )
        if event.id in known_ids:
            return Release(duplicate=True)
        known_ids.add(event.id)
        return Release(events=(event,))
    return Release(reasons=tuple(reasons) or (Reason("event.invalid"),))


# -- review status ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the steward audit trail. ``fields`` are names only, never values."""

    at: datetime
    steward: str
    action: str
    quarantine_id: str
    connector: str
    source_file: str
    line: int
    reason: str
    fields: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Review:
    """A record's review status and, once decided, by whom, when and why."""

    status: str = OPEN
    steward: str | None = None
    at: datetime | None = None
    reason: str | None = None


def reviews(entries: Iterable[AuditEntry]) -> dict[str, Review]:
    """Per quarantine id: its latest release or reject entry (in trail order); absent = open."""
    decided: dict[str, Review] = {}
    for entry in entries:
        status = DECISIONS.get(entry.action)
        if status is not None:
            decided[entry.quarantine_id] = Review(status, entry.steward, entry.at, entry.reason)
    return decided


# -- short ids --------------------------------------------------------------------------------


def _hex(identifier: str) -> str:
    return identifier.replace("-", "").lower()


def short_ids(ids: Iterable[str], minimum: int = 8) -> dict[str, str]:
    """The shortest prefix (at least ``minimum`` hex digits) that tells every id apart."""
    full = {identifier: _hex(identifier) for identifier in ids}
    length = minimum
    while len({h[:length] for h in full.values()}) < len(set(full.values())):
        length += 1
    return {identifier: h[:length] for identifier, h in full.items()}


def resolve(prefix: str, ids: Iterable[str]) -> str:
    """The one id that starts with ``prefix`` (dashes and case ignored); LookupError if none or
    several do."""
    wanted = _hex(prefix.strip())
    if len(wanted) < 4 or not re.fullmatch(r"[0-9a-f]+", wanted):
        raise LookupError("geef minstens 4 tekens van het id (0-9, a-f)")
    matches = sorted({i for i in ids if _hex(i).startswith(wanted)})
    if not matches:
        raise LookupError("geen record in quarantaine met dit id")
    if len(matches) > 1:
        raise LookupError(f"{len(matches)} records hebben dit begin; geef meer tekens van het id")
    return matches[0]
