"""The reviewed GX context in expectations/: what the suite files say, read as plain files."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from wijkbrug.reasons import REASONS
from wijkbrug.validation.frames import GX_COLUMNS

ROOT = Path(__file__).resolve().parents[2] / "expectations"


def load(kind: str, name: str) -> dict:
    return json.loads((ROOT / kind / f"{name}.json").read_text(encoding="utf-8"))


def expectations(suite: str) -> list[tuple[str, str]]:
    return [(e["type"], e["kwargs"]["column"]) for e in load("suites", suite)["expectations"]]


def parameters(value: object) -> set[str]:
    if isinstance(value, dict):
        if "$PARAMETER" in value:
            return {value["$PARAMETER"]}
        return set().union(*(parameters(v) for v in value.values()))
    return set()


def test_the_batch_rule_suite_checks_each_precomputed_fact() -> None:
    assert expectations("nacht_batchregels") == [
        ("expect_column_values_to_be_unique", "event_id"),
        ("expect_column_values_to_be_in_set", "id_new"),
        ("expect_column_values_to_be_in_set", "unit_known"),
        ("expect_column_values_to_be_in_set", "order_ok"),
        ("expect_column_values_to_be_in_set", "previsit_ok"),
    ]
    codes = [e["meta"]["reason"] for e in load("suites", "nacht_batchregels")["expectations"]]
    assert codes == [
        "event.duplicate",
        "event.duplicate",
        "vhe.unknown",
        "milestone.order",
        "huisbezoek.missing",
    ]


def test_the_column_suite_checks_ids_codes_and_date_formats() -> None:
    types = {}
    for kind, column in expectations("nacht_kolommen"):
        types.setdefault(kind, []).append(column)
    assert types == {
        "expect_column_values_to_not_be_null": ["event_id"],
        "expect_column_values_to_be_in_set": [
            "event_type", "milestone", "status", "category", "urgency", "purpose", "kind",
        ],
        "expect_column_values_to_match_regex": ["realised_date", "event_date", "iso_week"],
    }  # fmt: skip


def test_the_table_suites_check_freshness_and_the_signal_mix() -> None:
    assert expectations("versheid") == [
        ("expect_column_values_to_not_be_null", "age_hours"),
        ("expect_column_values_to_be_between", "age_hours"),
    ]
    assert expectations("signaalmix") == [
        ("expect_column_kl_divergence_to_be_less_than", "category"),
    ]


def test_row_suites_name_a_known_reason_and_only_non_personal_columns() -> None:
    checkpoint = load("checkpoints", "nacht")
    suites = [vd["name"] for vd in checkpoint["validation_definitions"]]
    assert suites == ["nacht_kolommen", "nacht_batchregels"]
    for suite in suites:
        for expectation in load("suites", suite)["expectations"]:
            assert expectation["meta"]["reason"] in REASONS
            assert expectation["kwargs"]["column"] in GX_COLUMNS
            assert expectation["description"]


def test_failing_rows_are_listed_by_event_id_without_their_values() -> None:
    assert load("checkpoints", "nacht")["result_format"] == {
        "exclude_unexpected_values": True,
        "partial_unexpected_count": 0,
        "result_format": "COMPLETE",
        "return_unexpected_index_query": False,
        "unexpected_index_column_names": ["event_id"],
    }


def test_every_checkpoint_updates_data_docs_and_runs_existing_definitions() -> None:
    config = yaml.safe_load((ROOT / "great_expectations.yml").read_text(encoding="utf-8"))
    assets = config["fluent_datasources"]["wijkbrug"]["assets"]
    for name in ("nacht", "versheid", "signaalmix"):
        checkpoint = load("checkpoints", name)
        assert [a["type"] for a in checkpoint["actions"]] == ["update_data_docs"]
        for reference in checkpoint["validation_definitions"]:
            definition = load("validation_definitions", reference["name"])
            assert definition["id"] == reference["id"]
            suite = load("suites", definition["suite"]["name"])
            assert suite["id"] == definition["suite"]["id"]
            asset = assets[definition["data"]["asset"]["name"]]
            assert asset["id"] == definition["data"]["asset"]["id"]


def test_suite_parameters_are_the_ones_the_runner_supplies() -> None:
    used = {
        name: set().union(*(parameters(e["kwargs"]) for e in load("suites", name)["expectations"]))
        for name in ("nacht_kolommen", "nacht_batchregels", "versheid", "signaalmix")
    }
    assert used == {
        "nacht_kolommen": set(),
        "nacht_batchregels": set(),
        "versheid": {"max_age_hours"},
        "signaalmix": {"baseline_mix", "kl_threshold"},
    }


def test_runtime_output_is_sent_out_of_the_repository() -> None:
    config = yaml.safe_load((ROOT / "great_expectations.yml").read_text(encoding="utf-8"))
    assert config["analytics_enabled"] is False
    results = config["stores"][config["validation_results_store_name"]]["store_backend"]
    site = config["data_docs_sites"]["local_site"]["store_backend"]
    for backend in (results, site):
        assert backend["base_directory"].startswith("${WIJKBRUG_VALIDATION_OUT}/")
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert {"uncommitted/", "validations/", "data_docs/"} <= set(ignored)
