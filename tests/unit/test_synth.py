"""The synthetic dataset generator: deterministic, plausible, and its manifest tells the truth."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from wijkbrug.codes import (
    CONSENT_STATES,
    FEEDBACK_KINDS,
    MILESTONES,
    PURPOSES,
    SIGNAL_CATEGORIES,
    URGENCIES,
)
from wijkbrug.synth import write_dataset

AS_OF = date(2026, 6, 30)
FILES = ("planning.csv", "home_visits.jsonl", "consents.csv", "feedback.jsonl", "manifest.json")
PLANNING_HEADER = (
    "project;complex;vhe;straat;huisnummer;toevoeging;postcode;huurdernummer;mijlpaal;gepland;"
    "gerealiseerd;opmerking"
)
CONSENT_HEADER = (
    "toestemming_id;status;huurdernummer;vhe;partner;doel;categorieen;ingangsdatum;geldig_tot;"
    "mutatiedatum;registratie_id"
)
VISIT_KEYS = [
    "registratie_id",
    "bezoekdatum",
    "vhe",
    "huurdernummer",
    "medewerker",
    "bewoner",
    "signalen",
    "toestemmingen",
]
FEEDBACK_KEYS = [
    "terugmelding_id",
    "partner",
    "vhe",
    "huurdernummer",
    "datum",
    "soort",
    "toelichting",
    "registratie_id",
]
LANGUAGES = {"nl", "ar", "tr", "en", "pl", "so", "ti", "fa", "uk", "zh", "es"}
_DMY = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_POSTCODE = re.compile(r"^356[1-4][A-Z]{2}$")


def _partners() -> dict[str, bool]:
    path = Path(__file__).resolve().parents[2] / "partners" / "registry.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {p["id"]: p["person_level"] for p in doc["partners"]}


PARTNERS = _partners()
PERSON_LEVEL = {p for p, person_level in PARTNERS.items() if person_level}


# --- small independent validators -----------------------------------------------------------


def elfproef(bsn: str) -> bool:
    if len(bsn) != 9 or not bsn.isdigit() or set(bsn) == {"0"}:
        return False
    return sum(int(d) * w for d, w in zip(bsn, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True)) % 11 == 0


def parse_day(text: str) -> date | None:
    """d-m-yyyy (zeros optional) or yyyy-mm-dd; None when the format or the date is wrong."""
    if match := _YMD.match(text):
        y, m, d = map(int, match.groups())
    elif match := _DMY.match(text):
        d, m, y = map(int, match.groups())
    else:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


def iso_day(text: Any) -> date | None:
    return parse_day(text) if isinstance(text, str) and _YMD.match(text) else None


def planning_problems(row: list[str]) -> set[str]:
    if len(row) != 12:
        return {"csv.field_count"}
    f = dict(zip(PLANNING_HEADER.split(";"), row, strict=True))
    problems = set()
    if not _POSTCODE.match(re.sub(r"\s+", "", f["postcode"]).upper()) or (
        f["postcode"][-2:].upper() in {"SA", "SD", "SS"}
    ):
        problems.add("postcode.format")
    if not f["huisnummer"].isdigit():
        problems.add("huisnummer.invalid")
    if f["mijlpaal"] not in MILESTONES:
        problems.add("code.unknown")
    if parse_day(f["gepland"]) is None:
        problems.add("date.invalid")
    if f["gerealiseerd"]:
        realised = parse_day(f["gerealiseerd"])
        if realised is None:
            problems.add("date.invalid")
        elif realised > AS_OF:
            problems.add("date.future")
    return problems


def _partner_problem(partner: str) -> set[str]:
    if partner not in PARTNERS:
        return {"partner.unknown"}
    return set() if PARTNERS[partner] else {"partner.aggregates_only"}


def visit_problems(line: str) -> set[str]:
    try:
        visit = json.loads(line)
    except json.JSONDecodeError:
        return {"json.invalid"}
    problems = set()
    resident = visit["bewoner"]
    if "bsn" in resident and not elfproef(resident["bsn"]):
        problems.add("bsn.elfproef")
    for day in (visit["bezoekdatum"], resident["geboortedatum"]):
        if iso_day(day) is None:
            problems.add("date.invalid")
    for signal in visit["signalen"]:
        if signal["categorie"] not in SIGNAL_CATEGORIES or signal["urgentie"] not in URGENCIES:
            problems.add("code.unknown")
    for consent in visit["toestemmingen"]:
        problems |= _partner_problem(consent["partner"])
        if consent["doel"] not in PURPOSES or not set(consent["categorieen"]) <= set(
            SIGNAL_CATEGORIES
        ):
            problems.add("code.unknown")
        if iso_day(consent["geldig_tot"]) is None:
            problems.add("date.invalid")
    return problems


def consent_problems(row: list[str]) -> set[str]:
    if len(row) != 11:
        return {"csv.field_count"}
    f = dict(zip(CONSENT_HEADER.split(";"), row, strict=True))
    problems = _partner_problem(f["partner"])
    if f["status"] not in CONSENT_STATES or f["doel"] not in PURPOSES:
        problems.add("code.unknown")
    if f["categorieen"] and not set(f["categorieen"].split("|")) <= set(SIGNAL_CATEGORIES):
        problems.add("code.unknown")
    days = [iso_day(f[k]) for k in ("ingangsdatum", "geldig_tot", "mutatiedatum")]
    if None in days:
        problems.add("date.invalid")
    elif days[1] < days[0]:
        problems.add("date.order")
    return problems


def feedback_problems(line: str) -> set[str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return {"json.invalid"}
    problems = set()
    if record["partner"] not in PARTNERS:
        problems.add("partner.unknown")
    if record["soort"] not in FEEDBACK_KINDS:
        problems.add("code.unknown")
    if iso_day(record["datum"]) is None:
        problems.add("date.invalid")
    return problems


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    write_dataset(out, seed=7, as_of=AS_OF)
    return out


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faulty")
    write_dataset(out, seed=7, as_of=AS_OF, faults=6)
    return out


def planning_lines(folder: Path) -> list[str]:
    """Physical lines (header first) of the planning export."""
    return (folder / "planning.csv").read_bytes().decode("cp1252").split("\r\n")[:-1]


def csv_row(line: str) -> list[str]:
    return next(csv.reader([line], delimiter=";"))


def planning_rows(folder: Path) -> list[dict[str, str]]:
    header = PLANNING_HEADER.split(";")
    return [dict(zip(header, csv_row(line), strict=True)) for line in planning_lines(folder)[1:]]


def text_lines(folder: Path, name: str) -> list[str]:
    """Physical lines of a UTF-8, LF file (header included for CSV)."""
    data = (folder / name).read_bytes()
    assert b"\r" not in data and data.endswith(b"\n")
    return data.decode("utf-8").split("\n")[:-1]


def _records(folder: Path, name: str) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank data record."""
    lines = planning_lines(folder) if name == "planning.csv" else text_lines(folder, name)
    start = 2 if name.endswith(".csv") else 1
    return [(n, line) for n, line in enumerate(lines[start - 1 :], start=start) if line.strip()]


def visits(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text_lines(folder, "home_visits.jsonl")]


def consents(folder: Path) -> list[dict[str, str]]:
    lines = text_lines(folder, "consents.csv")
    header = lines[0].split(";")
    return [dict(zip(header, csv_row(line), strict=True)) for line in lines[1:]]


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_gives_same_bytes_other_seed_differs(clean: Path, tmp_path: Path) -> None:
    again = write_dataset(tmp_path / "again", seed=7, as_of=AS_OF)
    other = tmp_path / "other"
    write_dataset(other, seed=8, as_of=AS_OF)
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (clean / name).read_bytes(), name
    for name in FILES[:4]:
        assert (other / name).read_bytes() != (clean / name).read_bytes(), name
    assert again.as_dict() == manifest(clean)


def test_faults_leave_the_valid_records_untouched(clean: Path, faulty: Path) -> None:
    meta = manifest(faulty)["files"]
    for name in FILES[:4]:
        bad = {fault["line"] for fault in meta[name]["faults"]}
        seen: set[str] = set()
        kept = []
        for number, line in _records(faulty, name):
            if number not in bad and line not in seen:
                seen.add(line)
                kept.append(line)
        assert kept == [line for _, line in _records(clean, name)], name


# --- planning.csv ---------------------------------------------------------------------------


def test_planning_is_cp1252_crlf_with_the_exact_header(clean: Path) -> None:
    data = (clean / "planning.csv").read_bytes()
    assert data.startswith(PLANNING_HEADER.encode() + b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n") and data.endswith(b"\r\n")
    data.decode("cp1252")  # raises if not Windows-1252
    assert all(len(csv_row(line)) == 12 for line in planning_lines(clean)[1:])


def test_432_units_in_four_flats_with_plausible_addresses(clean: Path) -> None:
    rows = planning_rows(clean)
    units = {r["vhe"]: r for r in rows}
    assert len(units) == 432
    assert all(re.fullmatch(r"\d{8}", vhe) for vhe in units)
    assert len({r["complex"] for r in rows}) == 4
    assert {r["project"] for r in rows} == {"THEMA-DREVEN"}
    addresses = {(r["straat"], r["huisnummer"], r["toevoeging"]) for r in units.values()}
    assert len(addresses) == 432
    tenants = [r["huurdernummer"] for r in units.values()]
    assert all(re.fullmatch(r"H\d{7}", t) for t in tenants if t)
    assert 4 <= tenants.count("") <= 13
    assert len({t for t in tenants if t}) == len([t for t in tenants if t])
    written = {r["postcode"] for r in rows}
    assert any(" " in p for p in written) and any(p != p.upper() for p in written)
    for postcode in written:
        normal = re.sub(r"\s+", "", postcode).upper()
        assert _POSTCODE.match(normal) and normal[4:] not in {"SA", "SD", "SS"}


def test_every_unit_has_every_milestone_and_dates_are_plausible(clean: Path) -> None:
    rows = planning_rows(clean)
    per_unit: dict[str, list[str]] = {}
    styles: Counter[str] = Counter()
    for row in rows:
        assert not planning_problems(list(row.values()))
        per_unit.setdefault(row["vhe"], []).append(row["mijlpaal"])
        planned = parse_day(row["gepland"])
        assert planned is not None
        styles["iso" if _YMD.match(row["gepland"]) else "dmy"] += 1
        if row["gerealiseerd"]:
            realised = parse_day(row["gerealiseerd"])
            assert realised is not None and realised <= AS_OF
            assert abs((realised - planned).days) <= 10
    assert styles["iso"] and styles["dmy"] > styles["iso"]
    for milestones in per_unit.values():
        assert list(dict.fromkeys(milestones)) == list(MILESTONES)
    replanned = sum(len(m) > len(MILESTONES) for m in per_unit.values())
    assert 5 <= replanned <= 45
    stays_home = [r for r in rows if r["opmerking"] == "blijft thuis tijdens renovatie"]
    assert stays_home and all(
        r["mijlpaal"] == "verhuisd_logeerwoning" and not r["gerealiseerd"] for r in stays_home
    )
    assert any('"' in r["opmerking"] for r in rows) and any(";" in r["opmerking"] for r in rows)


# --- home_visits.jsonl ----------------------------------------------------------------------


def test_visits_follow_realised_home_visit_milestones(clean: Path) -> None:
    realised = {
        (r["vhe"], parse_day(r["gerealiseerd"]).isoformat()): r["huurdernummer"]
        for r in planning_rows(clean)
        if r["mijlpaal"] in ("huisbezoek_vooraf", "afrondend_huisbezoek")
        and r["gerealiseerd"]
        and r["huurdernummer"]
    }
    records = visits(clean)
    assert len(records) == len(realised)
    assert len({v["registratie_id"] for v in records}) == len(records)
    for visit in records:
        assert list(visit) == VISIT_KEYS
        assert realised[(visit["vhe"], visit["bezoekdatum"])] == visit["huurdernummer"]
        assert re.fullmatch(r"HB-\d{4}-\d{6}", visit["registratie_id"])
        assert not visit_problems(json.dumps(visit))


def test_residents_and_signals_are_plausible(clean: Path) -> None:
    records = visits(clean)
    residents = [v["bewoner"] for v in records]
    with_bsn = [r["bsn"] for r in residents if "bsn" in r]
    assert all(elfproef(bsn) for bsn in with_bsn)
    assert 0.5 <= len(with_bsn) / len(records) <= 0.7
    assert {r["taal"] for r in residents if "taal" in r} <= LANGUAGES
    assert all(
        re.fullmatch(r"(06-?\d{8}|06( \d\d){4}|\+31 ?6 ?\d{8})", r["telefoon"]) for r in residents
    )
    names = "".join(r["naam"] for r in residents)
    for script in (r"[\u0600-\u06ff]", r"[\u1200-\u137f]", r"[\u0400-\u04ff]", r"[\u4e00-\u9fff]"):
        assert re.search(script, names), script
    with_signals = [v for v in records if v["signalen"]]
    assert 0.45 <= len(with_signals) / len(records) <= 0.75
    assert all(1 <= len(v["signalen"]) <= 4 for v in with_signals)
    consented = [v for v in with_signals if v["toestemmingen"]]
    assert 0.4 <= len(consented) / len(with_signals) <= 0.7
    assert not any(v["toestemmingen"] for v in records if not v["signalen"])
    counts = Counter(s["categorie"] for v in records for s in v["signalen"])
    assert counts["schulden"] > counts["vervuiling"]


def test_consents_name_person_level_partners_and_valid_categories(clean: Path) -> None:
    uncovered = 0
    for visit in visits(clean):
        day = date.fromisoformat(visit["bezoekdatum"])
        pairs = [(c["partner"], c["doel"]) for c in visit["toestemmingen"]]
        assert len(set(pairs)) == len(pairs)
        for consent in visit["toestemmingen"]:
            assert consent["partner"] in PERSON_LEVEL
            assert consent["doel"] in PURPOSES
            assert consent["categorieen"] and set(consent["categorieen"]) <= set(SIGNAL_CATEGORIES)
            until = date.fromisoformat(consent["geldig_tot"])
            assert day + timedelta(days=180) <= until <= day + timedelta(days=366)
        covered = {c for consent in visit["toestemmingen"] for c in consent["categorieen"]}
        uncovered += sum(s["categorie"] not in covered for s in visit["signalen"])
    assert uncovered > 0


# --- consents.csv ---------------------------------------------------------------------------


def test_consent_registry_mirrors_the_visits(clean: Path) -> None:
    lines = text_lines(clean, "consents.csv")
    assert lines[0] == CONSENT_HEADER
    rows = consents(clean)
    assert [(r["mutatiedatum"], r["toestemming_id"]) for r in rows] == sorted(
        (r["mutatiedatum"], r["toestemming_id"]) for r in rows
    )
    given = {r["toestemming_id"]: r for r in rows if r["status"] == "gegeven"}
    assert len(given) == sum(r["status"] == "gegeven" for r in rows)
    expected = Counter(
        (
            v["registratie_id"],
            c["partner"],
            c["doel"],
            "|".join(c["categorieen"]),
            v["bezoekdatum"],
            c["geldig_tot"],
            v["vhe"],
            v["huurdernummer"],
        )
        for v in visits(clean)
        for c in v["toestemmingen"]
    )
    actual = Counter(
        (
            r["registratie_id"],
            r["partner"],
            r["doel"],
            r["categorieen"],
            r["ingangsdatum"],
            r["geldig_tot"],
            r["vhe"],
            r["huurdernummer"],
        )
        for r in given.values()
    )
    assert actual == expected
    assert all(r["mutatiedatum"] == r["ingangsdatum"] for r in given.values())
    ended: Counter[str] = Counter()
    for row in rows:
        assert not consent_problems(list(row.values()))
        if row["status"] == "gegeven":
            continue
        ended[row["toestemming_id"]] += 1
        first = given[row["toestemming_id"]]
        changed = date.fromisoformat(row["mutatiedatum"])
        assert row["categorieen"] == "" and changed <= AS_OF
        if row["status"] == "ingetrokken":
            assert changed > date.fromisoformat(first["ingangsdatum"])
        else:
            assert changed == date.fromisoformat(first["geldig_tot"]) + timedelta(days=1)
    assert set(ended.values()) == {1}
    statuses = Counter(r["status"] for r in rows)
    assert 0.03 <= statuses["ingetrokken"] / len(given) <= 0.15 and statuses["verlopen"]
    never_ended = [r for i, r in given.items() if i not in ended]
    assert all(date.fromisoformat(r["geldig_tot"]) >= AS_OF for r in never_ended)


# --- feedback.jsonl -------------------------------------------------------------------------


def test_feedback_follows_consented_visits(clean: Path) -> None:
    visit_by_id = {v["registratie_id"]: v for v in visits(clean)}
    records = [json.loads(line) for line in text_lines(clean, "feedback.jsonl")]
    assert records and len({r["terugmelding_id"] for r in records}) == len(records)
    for record in records:
        assert list(record) == FEEDBACK_KEYS
        assert not feedback_problems(json.dumps(record))
        visit = visit_by_id[record["registratie_id"]]
        assert record["partner"] in {c["partner"] for c in visit["toestemmingen"]}
        assert (record["vhe"], record["huurdernummer"]) == (visit["vhe"], visit["huurdernummer"])
        assert visit["bezoekdatum"] < record["datum"] <= AS_OF.isoformat()
    kinds = Counter(r["soort"] for r in records)
    assert kinds["contact_gelegd"] > kinds["geen_contact_mogelijk"] > 0
    assert kinds["warme_overdracht_afgerond"] > 0


# --- manifest and faults --------------------------------------------------------------------


_PROBLEMS = {
    "planning.csv": lambda line: planning_problems(csv_row(line)),
    "home_visits.jsonl": visit_problems,
    "consents.csv": lambda line: consent_problems(csv_row(line)),
    "feedback.jsonl": feedback_problems,
}


@pytest.mark.parametrize("which", ["clean", "faulty"])
def test_manifest_counts_match_the_files(which: str, request: pytest.FixtureRequest) -> None:
    folder: Path = request.getfixturevalue(which)
    meta = manifest(folder)
    assert (meta["seed"], meta["as_of"], meta["faults"]) == (
        7,
        AS_OF.isoformat(),
        6 if which == "faulty" else 0,
    )
    for name, stats in meta["files"].items():
        records = _records(folder, name)
        faults = {f["line"]: f["reason"] for f in stats["faults"]}
        found = {n: _PROBLEMS[name](line) for n, line in records}
        assert {n: p for n, p in found.items() if p} == {n: {r} for n, r in faults.items()}, name
        if name == "planning.csv":
            rows = [csv_row(line) for n, line in records if n not in faults]
            keys = [
                (r[2], r[8], parse_day(r[9]), parse_day(r[10]) if r[10] else None) for r in rows
            ]
        else:
            keys = [line for n, line in records if n not in faults]
        duplicates = len(keys) - len(set(keys))
        assert stats["records"] == len(records), name
        assert stats["duplicates"] == duplicates, name
        assert stats["faulty"] == len(faults) == len(stats["faults"]), name
        assert stats["valid"] == len(records) - duplicates - len(faults), name
        faulty_lines = [line for n, line in records if n in faults]
        assert len(set(faulty_lines)) == len(faulty_lines)


def test_six_faults_of_every_kind_are_planted(faulty: Path) -> None:
    files = manifest(faulty)["files"]
    assert {name: (s["faulty"], s["duplicates"]) for name, s in files.items()} == {
        "planning.csv": (6, 6),
        "home_visits.jsonl": (6, 0),
        "consents.csv": (6, 0),
        "feedback.jsonl": (6, 0),
    }
    reasons = {name: Counter(f["reason"] for f in s["faults"]) for name, s in files.items()}
    assert set(reasons["planning.csv"]) == {
        "postcode.format",
        "date.invalid",
        "date.future",
        "code.unknown",
        "csv.field_count",
        "huisnummer.invalid",
    }
    assert set(reasons["home_visits.jsonl"]) == {
        "json.invalid",
        "bsn.elfproef",
        "code.unknown",
        "partner.unknown",
        "partner.aggregates_only",
        "date.invalid",
    }
    assert set(reasons["consents.csv"]) == {
        "partner.unknown",
        "code.unknown",
        "date.invalid",
        "date.order",
    }
    assert set(reasons["feedback.jsonl"]) == {
        "json.invalid",
        "code.unknown",
        "partner.unknown",
        "date.invalid",
    }
    for stats in files.values():
        lines = [f["line"] for f in stats["faults"]]
        assert lines == sorted(lines) and lines[-1] - lines[0] > stats["records"] // 2
