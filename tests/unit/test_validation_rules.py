"""Batch-rule facts and event frames of the nightly validation: pure pandas, no GX."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from connectors.consent_registry import ConsentRegistryConnector
from connectors.home_visits import HomeVisitsConnector
from connectors.partner_feedback import PartnerFeedbackConnector
from connectors.planning import PlanningConnector

from wijkbrug.codes import SIGNAL_CATEGORIES
from wijkbrug.validation import batch_rules, frames
from wijkbrug.validation.sample import (
    RESIDENT,
    consent_given,
    feedback,
    milestone,
    programme,
    quarantine,
    signal,
    signal_count,
    visit_count,
)

END = datetime(2026, 3, 3, 4, tzinfo=UTC)
NIGHT = END - timedelta(hours=6)
BEFORE = END - timedelta(days=10)


def facts(night, history=(), units=("U1", "U2", "U3")) -> pd.DataFrame:
    frame = batch_rules.with_facts(frames.event_frame(night, history), set(units))
    return frame.set_index("event_id")


def fact(table: pd.DataFrame, event, column: str):
    value = table.loc[event.id, column]
    return None if pd.isna(value) else bool(value)


def test_connector_of_each_event_type_matches_the_connectors() -> None:
    published = {
        connector.name: set(connector.event_names)
        for connector in (
            PlanningConnector(),
            HomeVisitsConnector(),
            ConsentRegistryConnector(),
            PartnerFeedbackConnector(),
        )
    }
    derived: dict[str, set[str]] = {}
    for event_type, name in frames.CONNECTOR_OF_TYPE.items():
        derived.setdefault(name, set()).add(event_type)
    assert derived == published
    assert set(frames.CONNECTORS) == set(published)


def test_the_gx_frame_holds_no_personal_value() -> None:
    personal = signal("U1", "taal", "2026-03-02", NIGHT, note="Vrije tekst over de bewoner")
    planning = milestone("U1", "renovatie_gestart", NIGHT, realised="2026-03-02", remark="Tolk")
    raw = quarantine("home-visits", "bsn;111222333;Synthetische Bewoner", NIGHT)
    table = frames.gx_frame(
        batch_rules.with_facts(frames.event_frame([personal, planning, raw]), {"U1"})
    )
    assert list(table.columns) == list(frames.GX_COLUMNS)
    text = table.astype("str").to_string()
    for value in (
        *[v for v in RESIDENT.values() if v != "nl"],
        "Vrije tekst",
        "Tolk",
        "H0000001",
        "Teststraat",
        "111222333",
    ):
        assert value not in text


def test_event_frame_takes_the_date_each_event_is_about() -> None:
    events = [
        milestone("U1", "renovatie_gestart", NIGHT, planned="2026-03-09"),
        milestone("U1", "huisbezoek_vooraf", NIGHT, planned="2026-01-05", realised="2026-01-07"),
        signal("U1", "taal", "2026-03-01", NIGHT),
        consent_given("U1", "2026-02-27", NIGHT),
        feedback("U1", "2026-02-26", NIGHT),
        visit_count("2026-W09", NIGHT),
        quarantine("urn:wijkbrug:connector:consents", "raw", NIGHT),
    ]
    frame = frames.event_frame(events).set_index("event_id")
    dates = [frame.loc[e.id, "event_date"] for e in events]
    assert dates[:5] == ["2026-03-09", "2026-01-07", "2026-03-01", "2026-02-27", "2026-02-26"]
    assert pd.isna(dates[5]) and pd.isna(dates[6])
    assert frame.loc[events[6].id, "connector"] == "consents"
    assert frame.loc[events[3].id, "has_registration"]


def test_an_id_seen_in_the_history_is_not_new_and_history_rows_get_no_verdict() -> None:
    old = feedback("U1", "2026-02-20", BEFORE)
    again = feedback("U1", "2026-02-20", NIGHT)  # same id, delivered again tonight
    fresh = feedback("U2", "2026-03-02", NIGHT)
    table = batch_rules.with_facts(frames.event_frame([again, fresh], [old]), {"U1", "U2"})
    night = table[table["in_night"]].set_index("event_id")
    assert night.loc[again.id, "id_new"] == False  # noqa: E712 (a pandas boolean)
    assert night.loc[fresh.id, "id_new"] == True  # noqa: E712
    history = table[~table["in_night"]]
    assert history[["id_new", "unit_known", "order_ok", "previsit_ok"]].isna().all().all()


def test_units_off_the_project_list_are_unknown_and_unitless_events_are_not_checked() -> None:
    known, unknown = feedback("U1", "2026-03-02", NIGHT), signal("X9", "taal", "2026-03-02", NIGHT)
    count = signal_count("taal", 2, "2026-W10", NIGHT)
    table = facts([known, unknown, count])
    assert fact(table, known, "unit_known") is True
    assert fact(table, unknown, "unit_known") is False
    assert fact(table, count, "unit_known") is None


def test_delivered_before_started_fails_the_nights_row_only() -> None:
    started = milestone("U1", "renovatie_gestart", BEFORE, realised="2026-02-20")
    delivered = milestone("U1", "renovatie_opgeleverd", NIGHT, realised="2026-02-10")
    good = milestone("U2", "renovatie_opgeleverd", NIGHT, realised="2026-03-02")
    good_start = milestone("U2", "renovatie_gestart", BEFORE, realised="2026-01-12")
    table = facts([delivered, good], [started, good_start])
    assert fact(table, delivered, "order_ok") is False
    assert fact(table, good, "order_ok") is True
    assert fact(table, started, "order_ok") is None


def test_a_start_after_a_delivery_in_the_history_fails() -> None:
    delivered = milestone("U1", "renovatie_opgeleverd", BEFORE, realised="2026-02-10")
    started = milestone("U1", "renovatie_gestart", NIGHT, realised="2026-02-20")
    same_day = milestone("U2", "renovatie_gestart", NIGHT, realised="2026-02-10")
    delivered_same_day = milestone("U2", "renovatie_opgeleverd", BEFORE, realised="2026-02-10")
    table = facts([started, same_day], [delivered, delivered_same_day])
    assert fact(table, started, "order_ok") is False
    assert fact(table, same_day, "order_ok") is True


def test_back_home_without_moving_out_fails_and_planned_rows_are_not_checked() -> None:
    back = milestone("U1", "terug_in_woning", NIGHT, realised="2026-03-02")
    planned_back = milestone("U2", "terug_in_woning", NIGHT, planned="2026-04-02")
    moved = milestone("U3", "verhuisd_logeerwoning", BEFORE, realised="2026-01-30")
    back_after_move = milestone("U3", "terug_in_woning", NIGHT, realised="2026-03-02")
    table = facts([back, planned_back, back_after_move], [moved])
    assert fact(table, back, "order_ok") is False
    assert fact(table, planned_back, "order_ok") is None
    assert fact(table, back_after_move, "order_ok") is True


def test_the_latest_realised_date_of_a_milestone_counts_whatever_the_input_order() -> None:
    first = milestone("U1", "renovatie_gestart", BEFORE, realised="2026-03-05")
    corrected = milestone(
        "U1", "renovatie_gestart", BEFORE + timedelta(days=1), realised="2026-02-01"
    )
    delivered = milestone("U1", "renovatie_opgeleverd", NIGHT, realised="2026-03-01")
    for history in ([first, corrected], [corrected, first]):
        assert fact(facts([delivered], history), delivered, "order_ok") is True


@pytest.mark.parametrize(
    ("evidence", "ok"),
    [
        ([milestone("U1", "huisbezoek_vooraf", BEFORE, realised="2026-01-20")], True),
        ([milestone("U1", "huisbezoek_vooraf", BEFORE, planned="2026-01-20")], False),
        ([signal("U1", "taal", "2026-01-21", BEFORE)], True),
        ([consent_given("U1", "2026-01-21", BEFORE)], True),
        ([consent_given("U1", "2026-01-21", BEFORE, registration=None)], False),
        ([signal("U1", "taal", "2026-03-01", BEFORE)], False),  # visited after the start
        ([visit_count("2026-W04", BEFORE)], False),  # counts name no unit
        ([milestone("U2", "huisbezoek_vooraf", BEFORE, realised="2026-01-20")], False),
        ([], False),
    ],
)
def test_a_started_occupied_home_needs_a_visit_on_or_before_its_start(evidence, ok) -> None:
    started = milestone("U1", "renovatie_gestart", NIGHT, realised="2026-02-23")
    assert fact(facts([started], evidence), started, "previsit_ok") is ok


def test_a_vacant_home_and_a_planned_start_need_no_visit() -> None:
    vacant = milestone("U1", "renovatie_gestart", NIGHT, realised="2026-02-23", tenant=None)
    planned = milestone("U2", "renovatie_gestart", NIGHT, planned="2026-04-01")
    visit_in_night = milestone("U3", "huisbezoek_vooraf", NIGHT, realised="2026-02-23")
    started = milestone("U3", "renovatie_gestart", NIGHT, realised="2026-02-23")
    table = facts([vacant, planned, visit_in_night, started])
    assert fact(table, vacant, "previsit_ok") is None
    assert fact(table, planned, "previsit_ok") is None
    assert fact(table, started, "previsit_ok") is True


def test_freshness_takes_the_latest_delivery_per_connector_and_last_seen() -> None:
    events = [
        milestone("U1", "renovatie_gestart", END - timedelta(hours=3), realised="2026-03-02"),
        quarantine("home-visits", "raw", END - timedelta(hours=30)),
        feedback("U1", "2026-02-20", END - timedelta(hours=40)),
    ]
    seen = {"urn:wijkbrug:connector:feedback": END - timedelta(hours=5)}
    table = batch_rules.freshness(frames.event_frame(events), END, seen).set_index("connector")
    assert list(table.index) == list(frames.CONNECTORS)
    assert table.loc["planning", "age_hours"] == 3
    assert table.loc["home-visits", "age_hours"] == 30
    assert table.loc["feedback", "age_hours"] == 5
    assert pd.isna(table.loc["consents", "age_hours"]) and pd.isna(
        table.loc["consents", "last_seen"]
    )
    assert table.loc["planning", "last_seen"] == "2026-03-03T01:00:00Z"


def test_freshness_refuses_unknown_connectors_and_naive_times() -> None:
    frame = frames.event_frame([])
    with pytest.raises(ValueError, match="no known connector"):
        batch_rules.freshness(frame, END, {"planing": END})
    with pytest.raises(ValueError, match="timezone-aware"):
        batch_rules.freshness(frame, END, {"planning": datetime(2026, 3, 3)})


def test_signal_mix_weighs_counts_and_keeps_to_four_weeks_before_the_night() -> None:
    start = END - timedelta(hours=12)
    night = [
        signal("U1", "taal", "2026-03-02", NIGHT),
        signal_count("schulden", 3, "2026-W10", NIGHT),
    ]
    history = [
        signal_count("ggz", 5, "2026-W06", start - timedelta(days=27)),
        signal_count("armoede", 7, "2026-W03", start - timedelta(days=29)),  # outside the window
        signal("U2", "taal", "2026-03-01", start - timedelta(days=1), registration="HB-2"),
    ]
    mix = batch_rules.signal_mix(frames.event_frame(night, history), start)
    counts = dict(zip(SIGNAL_CATEGORIES, mix.night, strict=True))
    assert (counts["taal"], counts["schulden"], mix.night_total) == (1, 3, 4)
    baseline = dict(zip(SIGNAL_CATEGORIES, mix.baseline, strict=True))
    assert (baseline["ggz"], baseline["taal"], baseline["armoede"]) == (5, 1, 0)
    partition = mix.partition()
    assert partition["values"] == list(SIGNAL_CATEGORIES)
    assert min(partition["weights"]) > 0 and sum(partition["weights"]) == pytest.approx(1)
    assert mix.kl_threshold(0.1) == pytest.approx(0.1 + 13 / 2 * (1 / 4 + 1 / 6))
    rows = batch_rules.night_signals(frames.event_frame(night, history))
    assert sorted(rows["category"]) == ["schulden"] * 3 + ["taal"]


def test_a_programme_night_passes_every_batch_rule() -> None:
    night = programme(20, END)
    table = batch_rules.with_facts(frames.event_frame(night.night, night.history), night.units)
    rows = table[table["in_night"]]
    for column in ("id_new", "unit_known", "order_ok", "previsit_ok"):
        assert rows[column].dropna().all(), column
    assert rows["previsit_ok"].notna().sum() == 20
    assert rows["event_id"].is_unique
