"""validate_night end to end with Great Expectations: the suites of expectations/ catch each
planted fault, name failing rows by event id only, and give the same verdicts on a re-run.

Two nights are validated once per module (a clean one and one with every fault planted);
tests only read their outcomes and output folders. Tests that need their own run write to
their own ``tmp_path``.
"""

from __future__ import annotations

import gc
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wijkbrug.delivery import Incoming
from wijkbrug.nightly.history import digest
from wijkbrug.reasons import Reason
from wijkbrug.validation import ValidationOutcome, validate_night
from wijkbrug.validation.frames import row_block, rows
from wijkbrug.validation.gx_runner import SuiteError, context_root
from wijkbrug.validation.sample import (
    consent_given,
    feedback,
    milestone,
    programme,
    quarantine,
    signal,
    signal_count,
)

END = datetime(2026, 3, 3, 4, tzinfo=UTC)
NIGHT = END - timedelta(hours=5)
BEFORE = END - timedelta(days=12)
WEEK = "2026-W10"
#: Invented personal values planted in the faulty night; none may reach any output file.
PERSONAL = {
    "name": "Xandra Qwertyma-Plooij",
    "bsn": "123456782",
    "phone": "06-98765432",
    "birth_date": "1948-07-19",
    "note": "Schuld bij de Qwertybank, zoon in detentie",
    "remark": "Sleutel bij mevrouw Zwiebeltje op nummer 7",
    "tenant": "HQ-771234",
    "street": "Qwertylaan",
}
RESIDENT = {
    "name": PERSONAL["name"],
    "phone": PERSONAL["phone"],
    "birth_date": PERSONAL["birth_date"],
    "bsn": PERSONAL["bsn"],
    "language": "nl",
}


@dataclass(frozen=True)
class Night:
    events: list[Incoming]
    history: list[Incoming]
    units: set[str]
    faults: dict[str, list[Incoming]]
    last_seen: dict[str, datetime]


def personal_milestone(unit: str, name: str, at: datetime, **dates: str) -> Incoming:
    return milestone(
        unit,
        name,
        at,
        tenant=PERSONAL["tenant"],
        remark=PERSONAL["remark"],
        street=PERSONAL["street"],
        **dates,
    )


def faulty_night() -> Night:
    """A clean programme plus one planted fault per rule, personal values on failing rows."""
    base = programme(60, END)
    events = [e for e in base.night if e.name != "consent.given"]  # consents go stale
    history = list(base.history)
    units = set(base.units) | {f"67069000{n:02d}" for n in range(1, 8)}
    u = sorted(units - base.units)

    visits = [milestone(unit, "huisbezoek_vooraf", BEFORE, realised="2026-01-10") for unit in u[:3]]
    started_before = milestone(u[0], "renovatie_gestart", BEFORE, realised="2026-02-20")
    delivered_before = milestone(u[2], "renovatie_opgeleverd", BEFORE, realised="2026-02-10")
    history += [*visits, started_before, delivered_before]
    order = [
        personal_milestone(u[0], "renovatie_opgeleverd", NIGHT, realised="2026-02-10"),
        personal_milestone(u[1], "terug_in_woning", NIGHT, realised="2026-03-02"),
        personal_milestone(u[2], "renovatie_gestart", NIGHT, realised="2026-02-20"),
    ]
    no_visit = [personal_milestone(u[3], "renovatie_gestart", NIGHT, realised="2026-03-02")]
    vacant = milestone(u[4], "renovatie_gestart", NIGHT, realised="2026-03-02", tenant=None)

    unknown = [
        signal("9999000001", "schulden", "2026-03-02", NIGHT, registration="HB-X1",
               resident=RESIDENT, note=PERSONAL["note"], tenant=PERSONAL["tenant"]),
    ]  # fmt: skip
    twice = feedback(u[5], "2026-03-02", NIGHT, note=PERSONAL["note"])
    redelivered_old = feedback(u[6], "2026-02-20", BEFORE, note=PERSONAL["note"])
    redelivered = feedback(u[6], "2026-02-20", NIGHT, note=PERSONAL["note"])
    history.append(redelivered_old)
    duplicates = [twice, Incoming(twice.name, twice.id, NIGHT + timedelta(minutes=1), twice.data)]
    duplicates.append(redelivered)

    bad_code = milestone(u[5], "renovatie_gestart", NIGHT, realised="2026-03-02")
    bad_code = Incoming(bad_code.name, bad_code.id, NIGHT, bad_code.data | {"milestone": "sloop"})
    bad_date = feedback(u[4], "2026-13-01", NIGHT)
    several = signal("9999000002", "taal", "2026-03-02", NIGHT, registration="HB-X2",
                     ident=base.history[2].id, resident=RESIDENT)  # fmt: skip

    stale_consent = consent_given(u[0], "2026-02-26", END - timedelta(hours=30))
    history.append(stale_consent)
    drift = signal_count("schulden", 400, WEEK, NIGHT, registration="HB-drift")
    raw = ";".join(PERSONAL.values())
    events += [*order, *no_visit, vacant, *unknown, *duplicates, bad_code, bad_date, several]
    events += [drift, quarantine("home-visits", raw, NIGHT)]
    faults = {
        "milestone.order": order,
        "huisbezoek.missing": no_visit,
        "vhe.unknown": [*unknown, several],
        "event.duplicate": [twice, redelivered, several],
        "code.unknown": [bad_code],
        "date.invalid": [bad_date],
    }
    seen = {"urn:wijkbrug:connector:planning": NIGHT}
    return Night(events, history, units, faults, seen)


def validate(night: Night, out_dir: Path, **options) -> ValidationOutcome:
    return validate_night(
        night.events,
        history=night.history,
        units=night.units,
        run_id="2026-03-03",
        interval=(END - timedelta(hours=12), END),
        out_dir=out_dir,
        last_seen=night.last_seen,
        **options,
    )


@pytest.fixture(scope="module")
def faulty() -> Night:
    return faulty_night()


@pytest.fixture(scope="module")
def faulty_run(faulty: Night, tmp_path_factory: pytest.TempPathFactory) -> ValidationOutcome:
    return validate(faulty, tmp_path_factory.mktemp("faulty"))


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> ValidationOutcome:
    base = programme(60, END)
    night = Night(base.night, base.history, base.units, {}, {})
    return validate(night, tmp_path_factory.mktemp("clean"))


def failing(outcome: ValidationOutcome, suite: str, column: str, kind: str = "") -> set[str]:
    (expectation,) = [
        e for e in outcome.suite(suite).expectations if e.column == column and kind in e.type
    ]
    assert expectation.success is not bool(expectation.failing)
    return set(expectation.failing)


def codes(outcome: ValidationOutcome, event: Incoming) -> set[str]:
    return {reason.code for reason in outcome.failed.get(event.id, ())}


def test_a_clean_night_passes_every_suite(clean_run: ValidationOutcome) -> None:
    assert clean_run.success
    assert clean_run.failed == {}
    assert len(clean_run.passed) == 360
    assert [s.suite for s in clean_run.suites] == [
        "nacht_kolommen",
        "nacht_batchregels",
        "versheid",
        "signaalmix",
    ]
    assert all(s.success and s.evaluated == s.successful for s in clean_run.suites)
    assert clean_run.drift["status"] == "geslaagd"
    assert {f["status"] for f in clean_run.freshness} == {"vers"}


def test_milestones_out_of_order_fail_the_nights_rows_only(
    faulty: Night, faulty_run: ValidationOutcome
) -> None:
    order = faulty.faults["milestone.order"]
    assert failing(faulty_run, "nacht_batchregels", "order_ok") == {e.id for e in order}
    for event in order:
        assert Reason("milestone.order", "realised_date") in faulty_run.failed[event.id]
    history_ids = {e.id for e in faulty.history} - {e.id for e in faulty.events}
    assert not history_ids & (set(faulty_run.passed) | set(faulty_run.failed))


def test_units_outside_the_project_fail(faulty: Night, faulty_run: ValidationOutcome) -> None:
    unknown = {e.id for e in faulty.faults["vhe.unknown"]}
    assert failing(faulty_run, "nacht_batchregels", "unit_known") == unknown
    assert all(Reason("vhe.unknown", "unit_id") in faulty_run.failed[i] for i in unknown)


def test_duplicate_ids_in_the_night_and_ids_delivered_before_fail(
    faulty: Night, faulty_run: ValidationOutcome
) -> None:
    twice, redelivered, several = faulty.faults["event.duplicate"]
    assert failing(faulty_run, "nacht_batchregels", "event_id") == {twice.id}
    assert failing(faulty_run, "nacht_batchregels", "id_new") == {redelivered.id, several.id}
    assert {twice.id, redelivered.id} <= set(faulty_run.failed)
    assert twice.id not in faulty_run.passed


def test_a_started_occupied_home_without_a_previsit_fails(
    faulty: Night, faulty_run: ValidationOutcome
) -> None:
    (no_visit,) = faulty.faults["huisbezoek.missing"]
    assert failing(faulty_run, "nacht_batchregels", "previsit_ok") == {no_visit.id}
    assert codes(faulty_run, no_visit) == {"huisbezoek.missing"}


def test_plain_column_checks_catch_unknown_codes_and_impossible_dates(
    faulty: Night, faulty_run: ValidationOutcome
) -> None:
    (bad_code,), (bad_date,) = faulty.faults["code.unknown"], faulty.faults["date.invalid"]
    assert failing(faulty_run, "nacht_kolommen", "milestone") == {bad_code.id}
    assert failing(faulty_run, "nacht_kolommen", "event_date") == {bad_date.id}
    assert codes(faulty_run, bad_code) == {"code.unknown"}
    assert codes(faulty_run, bad_date) == {"date.invalid"}


def test_a_row_failing_several_rules_lists_every_reason(
    faulty: Night, faulty_run: ValidationOutcome
) -> None:
    several = faulty.faults["event.duplicate"][2]
    assert faulty_run.failed[several.id] == (
        Reason("event.duplicate", "event_id"),
        Reason("vhe.unknown", "unit_id"),
    )


def test_only_planted_faults_fail_and_ids_are_sorted(
    faulty: Night, faulty_run: ValidationOutcome
) -> None:
    planted = {e.id for events in faulty.faults.values() for e in events}
    assert set(faulty_run.failed) == planted
    assert list(faulty_run.failed) == sorted(planted)
    assert list(faulty_run.passed) == sorted({e.id for e in faulty.events} - planted)
    assert not faulty_run.success


def test_a_connector_silent_for_over_26_hours_fails_freshness(
    faulty_run: ValidationOutcome,
) -> None:
    assert not faulty_run.suite("versheid").success
    assert failing(faulty_run, "versheid", "age_hours", "between") == {"consents"}
    assert failing(faulty_run, "versheid", "age_hours", "not_be_null") == set()
    ages = {f["connector"]: (f["uren_geleden"], f["status"]) for f in faulty_run.freshness}
    assert ages["consents"] == (30.0, "verouderd")
    assert ages["planning"][1] == ages["feedback"][1] == "vers"


def test_a_shifted_signal_mix_fails_the_drift_check(faulty_run: ValidationOutcome) -> None:
    drift = faulty_run.suite("signaalmix")
    assert not drift.success
    assert drift.expectations[0].observed_value > faulty_run.drift["drempel_kl"]
    assert faulty_run.drift["status"] == "mislukt"
    assert faulty_run.drift["signalen_nacht"] == 120 + 400 + 2


def test_too_few_signals_leave_the_drift_unjudged(tmp_path: Path) -> None:
    small = programme(5, END)
    outcome = validate(Night(small.night, small.history, small.units, {}, {}), tmp_path)
    assert [s.suite for s in outcome.suites] == ["nacht_kolommen", "nacht_batchregels", "versheid"]
    assert set(outcome.skipped) == {"signaalmix"}
    assert outcome.drift["status"] == "niet beoordeeld"
    assert outcome.success


def test_no_personal_value_reaches_data_docs_results_or_summary(
    faulty_run: ValidationOutcome,
) -> None:
    out_dir = faulty_run.summary_html.parents[1]
    files = [p for p in out_dir.rglob("*") if p.is_file()]
    pages = [p for p in files if "validations" in p.parts and p.suffix == ".html"]
    assert faulty_run.data_docs.is_file() and len(pages) == 4
    assert faulty_run.summary_json in files and faulty_run.summary_html in files
    texts = {path: path.read_bytes().decode("utf-8", errors="replace") for path in files}
    for path, text in texts.items():
        for kind, value in PERSONAL.items():
            assert value not in text, f"{kind} in {path.relative_to(out_dir)}"
    results = "".join(text for path, text in texts.items() if path.suffix == ".json")
    assert all(event_id in results for event_id in faulty_run.failed)  # named by id instead


def test_the_summary_reports_what_failed_and_links_the_data_docs(
    faulty_run: ValidationOutcome,
) -> None:
    doc = json.loads(faulty_run.summary_json.read_text(encoding="utf-8"))
    per_reason = {r["code"]: r["gebeurtenissen"] for r in doc["quarantaine"]["per_reden"]}
    assert per_reason == {
        "code.unknown": 1,
        "date.invalid": 1,
        "event.duplicate": 3,
        "huisbezoek.missing": 1,
        "milestone.order": 3,
        "vhe.unknown": 2,
    }
    assert doc["quarantaine"]["gebeurtenissen"] == len(faulty_run.failed)
    assert {f["suite"] for f in doc["mislukt"]} == {
        "nacht_kolommen",
        "nacht_batchregels",
        "versheid",
        "signaalmix",
    }
    link = faulty_run.summary_html.parent / doc["data_docs"]
    assert link.resolve() == faulty_run.data_docs.resolve()
    assert doc["data_docs"] in faulty_run.summary_html.read_text(encoding="utf-8")


def assert_same_verdicts(again: ValidationOutcome, first: ValidationOutcome) -> None:
    """The same passed and failed events, and a byte-identical summary."""
    assert again.passed == first.passed
    assert again.failed == first.failed
    assert again.summary_json.read_bytes() == first.summary_json.read_bytes()


def test_re_running_the_night_in_any_order_gives_the_same_verdicts(
    faulty: Night, faulty_run: ValidationOutcome, tmp_path: Path
) -> None:
    shuffled = Night(faulty.events[::-1], faulty.history[::-1], faulty.units, {}, faulty.last_seen)
    again = validate(shuffled, tmp_path)
    assert_same_verdicts(again, faulty_run)


def test_a_history_read_as_frame_rows_gives_the_same_verdicts(
    faulty: Night, faulty_run: ValidationOutcome, tmp_path: Path
) -> None:
    history = digest(reversed(faulty.history), chunk=3)  # any order, several chunks
    without = Night(faulty.events, [], faulty.units, {}, faulty.last_seen)
    again = validate(without, tmp_path, history_block=history.block)
    assert_same_verdicts(again, faulty_run)


def test_a_night_read_as_frame_rows_gives_the_same_verdicts(
    faulty: Night, faulty_run: ValidationOutcome, tmp_path: Path
) -> None:
    shuffled = list(reversed(faulty.events))  # any order, several chunks
    parts = [
        part for at in range(0, len(shuffled), 3) for part in rows(shuffled[at : at + 3], True)
    ]
    without = Night([], faulty.history, faulty.units, {}, faulty.last_seen)
    again = validate(without, tmp_path, night_block=row_block(parts))
    assert_same_verdicts(again, faulty_run)


def test_great_expectations_lets_the_validated_frames_go(faulty_run: ValidationOutcome) -> None:
    gc.collect()
    batches = [o for o in gc.get_objects() if type(o).__name__ == "PandasBatchData"]
    assert batches == [], "GX's project manager kept the last context and its batches"


def test_the_suites_are_read_from_the_expectations_files(
    faulty: Night, faulty_run: ValidationOutcome, tmp_path: Path
) -> None:
    root = tmp_path / "expectations"
    shutil.copytree(context_root(), root)
    path = root / "suites" / "nacht_batchregels.json"
    suite = json.loads(path.read_text(encoding="utf-8"))
    suite["expectations"] = [
        e for e in suite["expectations"] if e["kwargs"]["column"] != "unit_known"
    ]
    path.write_text(json.dumps(suite), encoding="utf-8")
    edited = validate(faulty, tmp_path / "out", gx_root=root)
    (unknown, several) = faulty.faults["vhe.unknown"]
    assert unknown.id in faulty_run.failed and unknown.id in edited.passed
    assert codes(edited, several) == {"event.duplicate"}
    assert edited.suite("nacht_batchregels").evaluated == 4


def test_a_checkpoint_that_would_copy_values_is_refused(faulty: Night, tmp_path: Path) -> None:
    root = tmp_path / "expectations"
    shutil.copytree(context_root(), root)
    path = root / "checkpoints" / "nacht.json"
    checkpoint = json.loads(path.read_text(encoding="utf-8"))
    checkpoint["result_format"]["exclude_unexpected_values"] = False
    path.write_text(json.dumps(checkpoint), encoding="utf-8")
    with pytest.raises(SuiteError, match="event_id only"):
        validate(faulty, tmp_path / "out", gx_root=root)
    assert not (tmp_path / "out" / "data_docs").exists()


def test_nothing_is_written_into_the_repositorys_context(faulty_run: ValidationOutcome) -> None:
    root = context_root()
    assert not faulty_run.data_docs.is_relative_to(root)
    generated = [
        p for p in root.rglob("*") if p.name == ".ge_store_backend_id" or p.suffix == ".html"
    ]
    assert generated == []
    assert {p.name for p in root.iterdir()} <= {
        ".gitignore",
        "README.md",
        "great_expectations.yml",
        "suites",
        "validation_definitions",
        "checkpoints",
    }


def test_an_empty_night_fails_only_freshness(tmp_path: Path) -> None:
    empty = validate(Night([], [], set(), {}, {}), tmp_path)
    assert empty.passed == () and empty.failed == {}
    assert [(s.suite, s.success, s.rows) for s in empty.suites] == [
        ("nacht_kolommen", True, 0),
        ("nacht_batchregels", True, 0),
        ("versheid", False, 4),
    ]
    assert {f["status"] for f in empty.freshness} == {"verouderd"}
    assert not empty.success and empty.summary_html.is_file()


@pytest.mark.parametrize(
    ("run_id", "interval", "message"),
    [
        ("../elders", (END - timedelta(hours=12), END), "run_id"),
        ("2026-03-03", (datetime(2026, 3, 2, 16), datetime(2026, 3, 3, 4)), "timezone-aware"),
        ("2026-03-03", (END, END - timedelta(hours=12)), "ends before"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    run_id: str, interval: tuple[datetime, datetime], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        validate_night([], units=set(), run_id=run_id, interval=interval, out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_suite_naming_a_column_wijkbrug_does_not_provide_fails_loudly(
    faulty: Night, tmp_path: Path
) -> None:
    root = tmp_path / "expectations"
    shutil.copytree(context_root(), root)
    path = root / "suites" / "nacht_kolommen.json"
    suite = json.loads(path.read_text(encoding="utf-8"))
    suite["expectations"][0]["kwargs"]["column"] = "bsn"  # personal: never in the frame
    path.write_text(json.dumps(suite), encoding="utf-8")
    with pytest.raises(SuiteError, match='column "bsn"'):
        validate(faulty, tmp_path / "out", gx_root=root)
