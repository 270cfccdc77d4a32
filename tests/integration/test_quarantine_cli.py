"""``wijkbrug quarantine``: stewards review quarantined records against the real broker.

Every test quarantines its own records (the connectors over a synthetic subset with planted
faults, or the stream worker over a broken raw event) on a topic prefix of its own, and keeps
its audit trail in a state directory of its own.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from connectors.home_visits import HomeVisitsConnector
from connectors.planning import PlanningConnector
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.support.stream import (
    Household,
    RawPublisher,
    TopicFollower,
    WorkerThread,
    isolated,
    milestone,
    worker_for,
)
from tests.support.topics import end_offset_total, read_back
from wijkbrug.events import SOURCE_PREFIX, Event, event_id
from wijkbrug.quarantine_audit import AlreadyDecided, AuditTrail
from wijkbrug.quarantine_review import AuditEntry
from wijkbrug.reasons import REASONS
from wijkbrug.runner import run_file
from wijkbrug.settings import Settings

pytestmark = pytest.mark.kafka
TODAY = date(2026, 11, 28)
VISITS_SOURCE = SOURCE_PREFIX + "home-visits"
PLANNING_SOURCE = SOURCE_PREFIX + "planning"
MASK = "•••"
VALID_BSN = "111222333"  # passes the elfproef
INVALID_BSN = "123456789"  # does not
#: Personal values in a record's JSON text (also in a truncated line).
PERSONAL_JSON = re.compile(
    r'"(?:naam|telefoon|bsn|geboortedatum|huurdernummer|medewerker|toelichting)":\s*"([^"]*)'
)
PLANNING_PERSONAL = ("straat", "postcode", "huurdernummer", "opmerking")


# -- the synthetic sources ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """A small synthetic renovation: the planted faults and the homes they are about."""

    directory: Path
    #: Fault kind -> (source file, line) in these files.
    where: dict[str, tuple[str, int]]
    #: Fault kind -> the faulty visit (None for a truncated line).
    visits: dict[str, dict[str, Any] | None]
    #: Every personal value (5 characters or more) of the faulty records.
    secrets: frozenset[str]


@pytest.fixture(scope="module")
def sources(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Sources:
    """The synthetic dataset's faulty visits and planning rows, a few valid visits, and the
    planning of their homes: the connectors quarantine exactly the planted faults."""
    manifest = json.loads((dataset / "manifest.json").read_text())["files"]
    out = tmp_path_factory.mktemp("quarantine-sources")
    where: dict[str, tuple[str, int]] = {}
    visits: dict[str, dict[str, Any] | None] = {}
    secrets: set[str] = set()

    lines = (dataset / "home_visits.jsonl").read_text(encoding="utf-8").splitlines()
    faulty = {f["line"]: f["kind"] for f in manifest["home_visits.jsonl"]["faults"]}
    valid = [n for n in range(1, len(lines) + 1) if n not in faulty][:4]
    chosen = sorted([*faulty, *valid])
    units = set()
    for new, number in enumerate(chosen, start=1):
        line = lines[number - 1]
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if record is not None:
            units.add(record["vhe"])
        if number in faulty:
            where[faulty[number]] = ("home_visits.jsonl", new)
            visits[faulty[number]] = record
            secrets |= {v for v in PERSONAL_JSON.findall(line) if len(v) >= 5}
    (out / "home_visits.jsonl").write_text("".join(lines[n - 1] + "\n" for n in chosen), "utf-8")

    rows = (dataset / "planning.csv").read_bytes().decode("cp1252").split("\r\n")
    header = next(csv.reader([rows[0]], delimiter=";"))
    faulty = {f["line"]: f["kind"] for f in manifest["planning.csv"]["faults"]}
    kept = [rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        cells = next(csv.reader([row], delimiter=";")) if row else []
        if number in faulty:
            kept.append(row)
            where[faulty[number]] = ("planning.csv", len(kept))
            named = dict(zip(header, cells, strict=False))
            secrets |= {named[c] for c in PLANNING_PERSONAL if len(named.get(c, "")) >= 5}
        elif cells and cells[header.index("vhe")] in units:
            kept.append(row)
    (out / "planning.csv").write_bytes(("\r\n".join(kept) + "\r\n").encode("cp1252"))
    assert len(where) == 12 and len(secrets) > 30
    return Sources(out, where, visits, frozenset(secrets))


# -- a steward's desk --------------------------------------------------------------------------


@dataclass(frozen=True)
class Desk:
    """The quarantine of one test, and ``wijkbrug quarantine`` as a steward runs it."""

    settings: Settings
    state: Path

    def __call__(self, *args: str, steward: str | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIJKBRUG_")}
        env |= {
            "WIJKBRUG_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "WIJKBRUG_TOPIC_PREFIX": self.settings.topic_prefix,
            "WIJKBRUG_STATE_DIR": str(self.state),
            "WIJKBRUG_KAFKA_REQUEST_TIMEOUT_MS": "10000",
        }
        if steward is not None:
            env["WIJKBRUG_STEWARD"] = steward
        return subprocess.run(
            [sys.executable, "-m", "wijkbrug.cli", "quarantine", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def json(self, *args: str, steward: str | None = None) -> Any:
        result = self(*args, "--json", steward=steward)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def listing(self, *args: str) -> dict[tuple[str, int], dict[str, Any]]:
        """``list --json`` by (source file, line)."""
        return {(r["source_file"], r["line"]): r for r in self.json("list", *args)}

    def short(self, where: tuple[str, int]) -> str:
        return self.listing()[where]["short_id"]

    def audit_rows(self) -> list[dict[str, Any]]:
        """The steward_audit table as stored, read with plain sqlite3."""
        path = self.state / "ledger.sqlite"
        if not path.exists():
            return []
        with sqlite3.connect(path) as conn:
            conn.row_factory = sqlite3.Row
            try:
                return [dict(r) for r in conn.execute("SELECT * FROM steward_audit ORDER BY id")]
            except sqlite3.OperationalError:
                return []


@pytest.fixture
def desk(settings: Settings, tmp_path: Path, sources: Sources) -> Desk:
    """The planning, then the home visits (which need it), through the real connectors."""
    for connector, name in ((PlanningConnector(), "planning.csv"),
                            (HomeVisitsConnector(), "home_visits.jsonl")):  # fmt: skip
        run_file(connector, sources.directory / name, settings, today=TODAY, progress=False)
    return Desk(settings, tmp_path / "state")


def leaks(sources: Sources, *outputs: Any) -> list[str]:
    text_ = "\n".join(map(str, outputs))
    return sorted(secret for secret in sources.secrets if secret in text_)


# -- list ----------------------------------------------------------------------------------------


def test_list_shows_every_open_record_masked_with_its_reasons(desk: Desk, sources: Sources) -> None:
    default = desk()
    listed = desk("list")
    raw = desk("list", "--raw")
    machine = desk("list", "--raw", "--json")
    for result in (default, listed, raw, machine):
        assert result.returncode == 0, result.stderr
    assert default.stdout == listed.stdout, "`quarantine` alone is `quarantine list`"
    rows = listed.stdout.strip().splitlines()
    assert len(rows) == 12
    records = json.loads(machine.stdout)
    assert sorted((r["source_file"], r["line"]) for r in records) == sorted(sources.where.values())
    shorts = [r["short_id"] for r in records]
    assert len(set(shorts)) == 12 and all(len(s) >= 8 for s in shorts)
    assert all(r["id"].replace("-", "").startswith(r["short_id"]) for r in records)
    for record in records:
        [row] = [row for row in rows if row.startswith(record["short_id"] + " ")]
        assert f"{record['source_file']}:{record['line']} " in row
        for reason in record["reasons"]:
            assert reason["code"] in row and REASONS[reason["code"]] in row
        assert record["status"] == "open" and MASK in record["raw"]
    file_, line = sources.where["bsn_fails_elfproef"]
    [bsn] = [r for r in records if (r["source_file"], r["line"]) == (file_, line)]
    assert [r["code"] for r in bsn["reasons"]] == ["bsn.elfproef"]
    assert raw.stdout.count(MASK) > 50
    assert leaks(sources, default, raw, machine) == []
    assert len(desk("list", "--connector", "planning").stdout.strip().splitlines()) == 6
    assert desk.json("audit") == [], "a masked listing is no reveal"


# -- show and reveal ---------------------------------------------------------------------------


def test_a_reveal_needs_a_reason_shows_the_values_and_is_logged(
    desk: Desk, sources: Sources
) -> None:
    visit = sources.visits["bsn_fails_elfproef"]
    short = desk.short(sources.where["bsn_fails_elfproef"])
    bsn, name = visit["bewoner"]["bsn"], visit["bewoner"]["naam"]

    masked = desk("show", short)
    assert masked.returncode == 0, masked.stderr
    assert "bsn.elfproef (bsn): BSN voldoet niet aan de elfproef" in masked.stdout
    assert re.search(r"bewoner\.bsn\s+•••", masked.stdout)
    assert f'"{visit["registratie_id"]}"' in masked.stdout, "public fields are shown"
    assert leaks(sources, masked.stdout, masked.stderr) == []

    unreasoned = desk("show", short, "--reveal")
    assert unreasoned.returncode == 2 and "--reason" in unreasoned.stderr
    quoted = desk("show", short, "--reveal", "--reason", f"BSN {bsn} nakijken")
    assert quoted.returncode == 2 and "bewoner.bsn" in quoted.stderr
    assert bsn not in quoted.stdout + quoted.stderr
    assert desk.audit_rows() == [], "nothing shown, nothing logged"

    revealed = desk("show", short, "--reveal", "--reason", "elfproef nakijken", "--steward", "anna")
    assert revealed.returncode == 0, revealed.stderr
    assert bsn in revealed.stdout and name in revealed.stdout
    [row] = desk.audit_rows()
    assert (row["steward"], row["action"], row["reason"]) == ("anna", "reveal", "elfproef nakijken")
    assert row["line"] == sources.where["bsn_fails_elfproef"][1]

    listed = desk("list", "--connector", "home-visits", "--reveal", "--reason", "weekcontrole",
                  steward="bram")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert bsn in listed.stdout, "a revealing listing shows the raw records as they are"
    reveals = [r for r in desk.audit_rows() if r["steward"] == "bram"]
    assert len(reveals) == 6 and {r["action"] for r in reveals} == {"reveal"}
    assert desk.listing()[sources.where["bsn_fails_elfproef"]]["status"] == "open"
    again = desk("show", short)
    assert "Audittrail" in again.stdout and "onthuld" in again.stdout
    assert leaks(sources, again.stdout, desk("audit").stdout, desk.audit_rows()) == []


# -- release -------------------------------------------------------------------------------------


def _on(settings: Settings, topic: str, source: str) -> dict[str, dict[str, Any]]:
    """Events on a topic from ``source``, by id."""
    found = {}
    for record in read_back(settings, topic):
        headers = dict(record.headers)
        if headers["ce_source"].decode() == source:
            found[headers["ce_id"].decode()] = orjson.loads(record.value)
    return found


def test_a_release_with_a_fix_publishes_through_the_connector_and_closes_the_record(
    desk: Desk, sources: Sources
) -> None:
    where = sources.where["partner_unknown"]
    registration = sources.visits["partner_unknown"]["registratie_id"]
    short = desk.short(where)
    before = _on(desk.settings, "raw.signal", VISITS_SOURCE)
    assert not [d for d in before.values() if d["registration_id"] == registration]

    fix = "toestemmingen.0.partner=buurtteam-overvecht"
    result = desk("release", short, "--fix", fix, "--reason", "partner verkeerd gekozen in app",
                  "--today", TODAY.isoformat(), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["released"] and outcome["fields"] == ["toestemmingen.0.partner"]
    released = {e["id"] for e in outcome["events"]}

    signals = {
        ident: data
        for ident, data in _on(desk.settings, "raw.signal", VISITS_SOURCE).items()
        if data["registration_id"] == registration
    }
    assert signals, "the corrected visit's consented signals are published"
    for ident, data in signals.items():
        assert ident == event_id(VISITS_SOURCE, registration, "signal", data["signal_index"])
        assert data["consents"][0]["partner"] == "buurtteam-overvecht"
    counts = _on(desk.settings, "raw.monitoring.count", VISITS_SOURCE)
    visit_count = event_id(VISITS_SOURCE, registration, "visit.count", None)
    assert visit_count in counts
    assert set(signals) | {visit_count} <= released
    assert released <= set(signals) | set(counts)

    assert where not in desk.listing(), "a released record is no longer open"
    closed = desk.listing("--all")[where]
    assert (closed["status"], closed["reviewed_by"]) == ("released", getpass.getuser())
    [entry] = desk.json("audit")
    assert entry["action"] == "release" and entry["fields"] == ["toestemmingen.0.partner"]
    assert set(entry["event_ids"]) == released

    published = end_offset_total(desk.settings, "raw.signal")
    for again in (("release", short, "--reason", "nog eens"), ("reject", short, "--reason", "x")):
        refused = desk(*again)
        assert refused.returncode == 1 and "al vrijgegeven" in refused.stderr
    assert end_offset_total(desk.settings, "raw.signal") == published
    assert len(desk.audit_rows()) == 1


def test_a_release_whose_fix_is_still_invalid_is_refused_and_stays_open(
    desk: Desk, sources: Sources
) -> None:
    where = sources.where["bsn_fails_elfproef"]
    short = desk.short(where)
    topics = ("raw.signal", "raw.monitoring.count", "quarantine")
    ends = {t: end_offset_total(desk.settings, t) for t in topics}

    still = desk("release", short, "--fix", f"bewoner.bsn={INVALID_BSN}", "--reason", "typefout")
    assert still.returncode == 1
    assert "niet vrijgegeven" in still.stdout and "blijft open" in still.stdout
    assert "bsn.elfproef (bsn): BSN voldoet niet aan de elfproef" in still.stdout
    unknown = desk("release", short, "--fix", f"wachtwoord={INVALID_BSN}", "--reason", "x")
    assert unknown.returncode == 2 and "onbekend veld: wachtwoord" in unknown.stderr
    for result in (still, unknown):
        assert INVALID_BSN not in result.stdout + result.stderr
        assert leaks(sources, result.stdout, result.stderr) == []
    assert desk.listing()[where]["status"] == "open"
    assert desk.audit_rows() == []
    assert {t: end_offset_total(desk.settings, t) for t in topics} == ends, "nothing published"

    fixed = desk("release", short, "--fix", f"bewoner.bsn={VALID_BSN}", "--reason", "typefout",
                 "--today", TODAY.isoformat())  # fmt: skip
    assert fixed.returncode == 0, fixed.stderr
    assert "vrijgegeven" in fixed.stdout and "gecorrigeerd: bewoner.bsn" in fixed.stdout
    registration = sources.visits["bsn_fails_elfproef"]["registratie_id"]
    counts = _on(desk.settings, "raw.monitoring.count", VISITS_SOURCE)
    assert event_id(VISITS_SOURCE, registration, "visit.count", None) in counts
    assert where not in desk.listing()


# -- reject --------------------------------------------------------------------------------------


def test_a_reject_needs_a_reason_and_is_final(desk: Desk, sources: Sources) -> None:
    where = sources.where["line_truncated"]
    short = desk.short(where)
    assert desk("reject", short).returncode == 2, "argparse: --reason is required"
    blank = desk("reject", short, "--reason", "   ")
    assert blank.returncode == 2 and "reden" in blank.stderr
    as_is = desk("release", short, "--reason", "nog eens proberen")
    assert as_is.returncode == 1 and "json.invalid" in as_is.stdout, "still unreadable"
    assert desk.audit_rows() == [] and desk.listing()[where]["status"] == "open"

    reason = "regel afgekapt bij de export; bron opnieuw aangevraagd"
    rejected = desk("reject", short, "--reason", reason, "--steward", "carla")
    assert rejected.returncode == 0, rejected.stderr
    assert where not in desk.listing()
    closed = desk.listing("--all")[where]
    assert (closed["status"], closed["reviewed_by"], closed["review_reason"]) == (
        "rejected",
        "carla",
        reason,
    )
    assert re.search(rf"^{short}\s+afgewezen\s", desk("list", "--all").stdout, re.MULTILINE)
    for again in ("release", "reject"):
        refused = desk(again, short, "--reason", "toch")
        assert refused.returncode == 1 and "al afgewezen door carla" in refused.stderr
    [row] = desk.audit_rows()
    assert (row["action"], row["steward"], row["reason"]) == ("reject", "carla", reason)


# -- the trail -----------------------------------------------------------------------------------


def test_the_audit_trail_lists_who_did_what_and_why_and_holds_no_personal_value(
    desk: Desk, sources: Sources
) -> None:
    bsn_case, partner_case = sources.where["bsn_fails_elfproef"], sources.where["partner_unknown"]
    planning_case = sources.where["postcode_malformed"]
    shorts = {w: desk.short(w) for w in (bsn_case, partner_case, planning_case)}
    steps = [
        (("show", shorts[bsn_case], "--reveal", "--reason", "BSN vergelijken met bron"), "anna"),
        (("release", shorts[bsn_case], "--fix", f"bewoner.bsn={VALID_BSN}", "--reason",
          "BSN-typefout hersteld na belronde", "--today", TODAY.isoformat()), "bram"),
        (("release", shorts[planning_case], "--fix", "postcode=3563AB", "--fix", "opmerking=",
          "--reason", "postcode volgens BAG", "--today", TODAY.isoformat()), "anna"),
        (("reject", shorts[partner_case], "--reason", "dubbele registratie"), "carla"),
    ]  # fmt: skip
    outputs = []
    for args, steward in steps:
        result = desk(*args, steward=steward)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stderr)
    trail = desk.json("audit")
    assert [(e["action"], e["steward"], e["reason"]) for e in trail] == [
        ("reveal", "anna", "BSN vergelijken met bron"),
        ("release", "bram", "BSN-typefout hersteld na belronde"),
        ("release", "anna", "postcode volgens BAG"),
        ("reject", "carla", "dubbele registratie"),
    ]
    assert [e["fields"] for e in trail] == [[], ["bewoner.bsn"], ["postcode", "opmerking"], []]
    assert [bool(e["event_ids"]) for e in trail] == [False, True, True, False]
    assert [(e["source_file"], e["line"]) for e in trail] == [
        bsn_case,
        bsn_case,
        planning_case,
        partner_case,
    ]
    moments = [datetime.fromisoformat(e["at"]) for e in trail]
    assert moments == sorted(moments) and all(m.tzinfo for m in moments)
    assert datetime.now(UTC) - moments[0] < timedelta(minutes=10)
    printed = desk("audit").stdout
    for steward, action in (("anna", "onthuld"), ("bram", "vrijgegeven"), ("carla", "afgewezen")):
        assert re.search(rf"{steward}\s+{action}\s", printed)
    assert "velden: bewoner.bsn" in printed
    stored = desk.audit_rows()
    assert len(stored) == 4
    assert leaks(sources, printed, trail, stored, *outputs) == []
    assert not [r for r in stored if VALID_BSN in str(r) or "3563AB" in str(r)], (
        "corrected values are never stored"
    )


# -- a record the stream worker held back --------------------------------------------------------


def test_a_stream_record_is_released_onto_its_raw_topic_with_its_source_identity(
    settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(settings, tmp_path / "state")
    day = date(2026, 3, 10)
    home = Household("74000101", "H7400101", street="Kiangstraat", postcode="3562AB")
    good = milestone(home, "renovatie_gestart", day)
    broken = json.loads(json.dumps(good.data))
    broken["address"]["postcode"] = "3562 AB"  # breaks the schema's pattern
    # Another producer's id: the release gives the record the id its source identity gives it.
    bad = Event(good.name, good.source, "uit-een-andere-bron-1", good.key, broken, good.subject)
    kafka_message = bad.to_kafka()
    worker = worker_for(settings, day)
    quarantine = TopicFollower(settings, "quarantine")
    publisher = RawPublisher(settings)
    try:
        with WorkerThread(worker) as running:
            running.wait_assigned()
            publisher.publish_raw(
                "raw.renovation.milestone",
                home.unit.encode(),
                kafka_message.value,
                list(kafka_message.headers.items()),
            )
            quarantine.wait(lambda records: records, 20, "the quarantine record")
    finally:
        quarantine.close()
        publisher.close()

    desk = Desk(settings, settings.state_dir)
    listed = desk("list", "--connector", "stream", "--raw")
    assert listed.returncode == 0, listed.stderr
    [row, raw] = listed.stdout.strip().splitlines()
    assert "schema.invalid (address.postcode)" in row
    assert f"{settings.topic_prefix}raw.renovation.milestone:" in row
    for secret in (home.street, home.tenant, "3562 AB", good.data["remark"]):
        assert secret not in listed.stdout
    masked = json.loads(raw)
    assert masked["unit_id"] == home.unit and masked["address"]["street"] == MASK

    short = row.split()[0]
    result = desk("release", short, "--fix", "address.postcode=3562AB", "--reason", "spatie weg")
    assert result.returncode == 0, result.stderr
    published = _on(settings, "raw.renovation.milestone", PLANNING_SOURCE)
    assert set(published) == {bad.id, good.id}, "the id the planning connector gives the record"
    assert published[good.id] == good.data
    assert desk.listing() == {}


# -- the audit store on both databases -----------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def trail(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditTrail]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        server = request.getfixturevalue("postgres_url")
        schema = f"t{uuid.uuid4().hex[:10]}"  # a schema of this test's own
        from sqlalchemy import create_engine

        setup = create_engine(server)
        with setup.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        setup.dispose()
        url = f"{server}?options=-csearch_path%3D{schema}"
    book = AuditTrail(url)
    yield book
    book.close()


def _audit(action: str, record: str, steward: str = "anna", **extra: Any) -> AuditEntry:
    return AuditEntry(
        at=datetime.now(UTC),
        steward=steward,
        action=action,
        quarantine_id=record,
        connector="home-visits",
        source_file="home_visits.jsonl",
        line=7,
        reason=f"{action} door {steward}",
        **extra,
    )


def test_the_audit_store_is_append_only_with_one_decision_per_record(trail: AuditTrail) -> None:
    trail.append([_audit("reveal", "q1"), _audit("reveal", "q1", "bram")])
    trail.append([_audit("release", "q1", fields=("bewoner.bsn",), event_ids=("e1", "e2"))])
    with pytest.raises(AlreadyDecided):
        trail.append([_audit("reject", "q1", "bram")])
    trail.append([_audit("reject", "q2")])
    entries = trail.entries()
    assert [(e.action, e.quarantine_id, e.steward) for e in entries] == [
        ("reveal", "q1", "anna"),
        ("reveal", "q1", "bram"),
        ("release", "q1", "anna"),
        ("reject", "q2", "anna"),
    ]
    assert (entries[2].fields, entries[2].event_ids) == (("bewoner.bsn",), ("e1", "e2"))
    assert all(e.at.tzinfo is not None for e in entries)
    assert [e.action for e in trail.entries("q2")] == ["reject"]
    for statement in ("UPDATE steward_audit SET reason = 'x'", "DELETE FROM steward_audit"):
        with pytest.raises(DBAPIError), trail.engine.begin() as conn:
            conn.execute(text(statement))
    assert len(trail.entries()) == 4
