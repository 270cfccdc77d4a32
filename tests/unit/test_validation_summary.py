"""The stewards' one-page summary: built from outcomes, rendered as Dutch HTML, no values."""

from __future__ import annotations

import json
from pathlib import Path

from wijkbrug.reasons import Reason
from wijkbrug.validation.results import ExpectationOutcome, SuiteOutcome
from wijkbrug.validation.summary import render_html, summary_document, write_summary


def expectation(reason: str, failing: tuple[str, ...], **over) -> ExpectationOutcome:
    fields = {
        "suite": "nacht_batchregels",
        "type": "expect_column_values_to_be_in_set",
        "column": "unit_known",
        "description": "De verhuureenheid staat in de eenhedenlijst <van het project>.",
        "reason": reason,
        "field": "unit_id",
        "success": not failing,
        "element_count": 10,
        "unexpected_count": len(failing),
        "observed_value": None,
        "failing": failing,
    }
    return ExpectationOutcome(**(fields | over))


def document(**over) -> dict:
    rows = SuiteOutcome(
        "nacht_batchregels",
        "Regels over meerdere gebeurtenissen heen.",
        10,
        False,
        (
            expectation("vhe.unknown", ("id-x-0001", "id-x-0002")),
            expectation("milestone.order", ("id-x-0002",), column="order_ok"),
            expectation("huisbezoek.missing", ()),
        ),
    )
    arguments = {
        "run_id": "2026-03-03",
        "interval": ("2026-03-02T16:00:00+00:00", "2026-03-03T04:00:00+00:00"),
        "rows": {"signal.consented": 4, "renovation.milestone": 6},
        "history_rows": 20,
        "suites": [rows],
        "skipped": {"signaalmix": "Verschuift de mix?"},
        "passed": 8,
        "failed": {
            "id-x-0001": (Reason("vhe.unknown", "unit_id"),),
            "id-x-0002": (
                Reason("milestone.order", "realised_date"),
                Reason("vhe.unknown", "unit_id"),
            ),
        },
        "freshness": [
            {
                "connector": "planning",
                "laatst_geleverd": "2026-03-03T01:00:00Z",
                "uren_geleden": 3.0,
                "status": "vers",
            },
        ],
        "drift": {"status": "niet beoordeeld", "toelichting": "te weinig signalen"},
        "data_docs": "../data_docs/index.html",
    }
    return summary_document(**(arguments | over))


def test_the_summary_counts_failures_per_expectation_and_quarantine_per_reason() -> None:
    doc = document()
    assert doc["gecontroleerd"]["rijen_totaal"] == 10
    assert [(f["reden"], f["rijen"]) for f in doc["mislukt"]] == [
        ("vhe.unknown", 2),
        ("milestone.order", 1),
    ]
    assert doc["quarantaine"]["gebeurtenissen"] == 2
    assert doc["quarantaine"]["doorgelaten"] == 8
    assert [(r["code"], r["gebeurtenissen"]) for r in doc["quarantaine"]["per_reden"]] == [
        ("milestone.order", 1),
        ("vhe.unknown", 2),
    ]
    statuses = {s["naam"]: s["status"] for s in doc["gecontroleerd"]["suites"]}
    assert statuses == {"nacht_batchregels": "mislukt", "signaalmix": "niet beoordeeld"}


def test_the_summary_lists_no_event_ids() -> None:
    doc = document()
    text = json.dumps(doc) + render_html(doc)
    assert "id-x-" not in text


def test_the_page_is_dutch_escaped_and_links_to_the_data_docs() -> None:
    page = render_html(document())
    assert page.startswith("<!DOCTYPE html>") and '<html lang="nl">' in page
    assert "Nachtelijke validatie 2026-03-03" in page and "Quarantaine" in page
    assert "&lt;van het project&gt;" in page and "<van het project>" not in page
    assert '<a href="../data_docs/index.html">' in page


def test_written_files_are_the_same_for_the_same_outcome(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_summary(document(), tmp_path / "a")]
    html_path, json_path = write_summary(document(), tmp_path / "b")
    assert first == [html_path.read_bytes(), json_path.read_bytes()]
    assert html_path.name == "2026-03-03.html" and json_path.parent == html_path.parent
    assert json.loads(json_path.read_text(encoding="utf-8"))["run"] == "2026-03-03"
