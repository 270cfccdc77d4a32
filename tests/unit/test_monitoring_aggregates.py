"""Monitoring aggregates and the entry point: attribution, no double counting, the files."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
from connectors.consent_registry import ConsentRegistryConnector
from connectors.home_visits import HomeVisitsConnector
from connectors.partner_feedback import PartnerFeedbackConnector
from connectors.planning import PlanningConnector

from tests.unit.helpers import run as run_connector
from tests.unit.test_suppression import recoverable, true_table
from wijkbrug import schemas
from wijkbrug.delivery import Incoming
from wijkbrug.monitoring import build, run
from wijkbrug.monitoring.aggregates import COUNT_MEASURES, MEDIAN_MEASURE, aggregate
from wijkbrug.monitoring.labels import TOTAL_COMPLEX, TOTAL_DIMENSION, UNKNOWN_COMPLEX
from wijkbrug.units import Unit, register_from_milestones

TIME = datetime(2026, 3, 1, 12, tzinfo=UTC)
CPX = "CPX-OV-031"
UNIT = "67060001"
TENANT = "H7777777"
RESIDENT = {
    "name": "Synthetische Bewoner",
    "phone": "06-11111111",
    "birth_date": "1981-06-15",
    "bsn": "111222333",
    "language": "nl",
}


def event(name: str, data: dict[str, Any], time: datetime = TIME) -> Incoming:
    schemas.validate(schemas.latest(name), data)  # the builders make schema-valid events only
    return Incoming(name, str(uuid.uuid4()), time, data)


def milestone(
    name: str, realised: str | None, unit: str = UNIT, complex_id: str = CPX, **over: Any
) -> Incoming:
    data = {
        "project": "THEMA-DREVEN",
        "complex": complex_id,
        "unit_id": unit,
        "address": {"street": "Teststraat", "house_number": 4, "postcode": "3563AB"},
        "tenant_number": TENANT,
        "milestone": name,
        "planned_date": "2026-01-05",
        "realised_date": realised,
        "status": "gerealiseerd" if realised else "gepland",
        "remark": "Vrije tekst van de planner",
    }
    return event("renovation.milestone", data, over.pop("time", TIME))


def consented(
    category: str,
    visit_date: str,
    partners: tuple[tuple[str, str], ...] = (("buurtteam-overvecht", "doorverwijzing"),),
    registration: str = "HB-1",
    index: int = 0,
    unit: str = UNIT,
    complex_id: str = CPX,
) -> Incoming:
    data = {
        "registration_id": registration,
        "visit_date": visit_date,
        "unit_id": unit,
        "complex": complex_id,
        "tenant_number": TENANT,
        "registered_by": "Medewerker Een",
        "resident": RESIDENT,
        "signal_index": index,
        "category": category,
        "urgency": "hoog",
        "note": "Vrije tekst met details",
        "consents": [
            {
                "consent_ref": f"{registration}/{partner}/{purpose}",
                "partner": partner,
                "purpose": purpose,
                "categories": [category],
                "valid_until": "2026-12-31",
            }
            for partner, purpose in partners
        ],
    }
    return event("signal.consented", data)


def signal_count(category: str, week: str, count: int = 1, complex_id: str = CPX) -> Incoming:
    data = {"complex": complex_id, "iso_week": week, "category": category, "count": count}
    return event("signal.count", data)


def visit_count(week: str, complex_id: str = CPX, with_signal: bool | None = None) -> Incoming:
    data: dict[str, Any] = {"complex": complex_id, "iso_week": week, "count": 1}
    if with_signal is not None:
        data["with_signal"] = with_signal
    return event("visit.count", data)


def consent(
    state: str, consent_id: str, partner: str, day: str, unit: str = UNIT, **over: Any
) -> Incoming:
    data: dict[str, Any] = {
        "consent_id": consent_id,
        "tenant_number": TENANT,
        "unit_id": unit,
        "partner": partner,
        "purpose": "doorverwijzing",
        "registration_id": "HB-1",
    }
    if state == "given":
        data |= {
            "categories": ["schulden"],
            "valid_from": day,
            "valid_until": "2026-12-31",
            "recorded_on": day,
        }
    else:
        data["withdrawn_on"] = day
    return event(f"consent.{state}", data, over.pop("time", TIME))


def feedback(
    kind: str, day: str, feedback_id: str, partner: str = "buurtteam-overvecht", **over: Any
) -> Incoming:
    data = {
        "feedback_id": feedback_id,
        "partner": partner,
        "unit_id": over.pop("unit", UNIT),
        "tenant_number": TENANT,
        "date": day,
        "kind": kind,
        "note": "Samen met wijkconsulent langs geweest",
        "registration_id": "HB-1",
    }
    return event("partner.feedback", data, over.pop("time", TIME))


def cells(events: list[Incoming], period: str = "week") -> dict[str, dict[tuple, int]]:
    """Nonzero interior cells per measure: measure -> (period, complex, dimension) -> count."""
    counts = aggregate(events, period).counts  # type: ignore[arg-type]
    found: dict[str, dict[tuple, int]] = {}
    for m, p, c, d, v in counts[counts["value"] != 0].itertuples(index=False):
        found.setdefault(m, {})[p, c, d] = v
    return found


def test_signals_add_the_counted_and_the_consented() -> None:
    events = [
        signal_count("schulden", "2026-W07", count=2),
        signal_count("taal", "2026-W07"),
        consented("schulden", "2026-02-11"),
    ]
    found = cells(events)
    assert found.get("signals", {}) == {
        ("2026-W07", CPX, "schulden"): 3,
        ("2026-W07", CPX, "taal"): 1,
    }


VISIT: dict[str, Any] = {
    "registratie_id": "HB-2026-000001",
    "bezoekdatum": "2026-03-04",
    "vhe": "40010001",
    "huurdernummer": "H0000001",
    "medewerker": "Sanne Verhoeven",
    "bewoner": {"naam": "Yusuf Yılmaz", "telefoon": "06-12345678", "geboortedatum": "1961-05-02"},
    "signalen": [
        {"categorie": "schulden", "urgentie": "hoog", "toelichting": "Achterstand huur"},
        {"categorie": "eenzaamheid", "urgentie": "normaal", "toelichting": None},
        {"categorie": "ggz", "urgentie": "normaal", "toelichting": "Somber"},
        {"categorie": "ggz", "urgentie": "laag", "toelichting": ""},
    ],
    "toestemmingen": [
        {
            "partner": "buurtteam-overvecht",
            "doel": "warme_overdracht",
            "categorieen": ["schulden"],
            "geldig_tot": "2026-12-31",
        },
        {
            "partner": "gemeente-werk-inkomen",
            "doel": "doorverwijzing",
            "categorieen": ["schulden"],
            "geldig_tot": "2026-09-30",
        },
        {
            "partner": "dock",
            "doel": "informeren",
            "categorieen": ["eenzaamheid"],
            "geldig_tot": "2026-03-03",
        },  # expired before the visit: eenzaamheid is counted, not shared
    ],
}


def _connector_events(visit: dict[str, Any]) -> list[Incoming]:
    units = {"40010001": Unit(CPX, frozenset({"H0000001"}))}
    _, [result] = run_connector(HomeVisitsConnector(), orjson.dumps(visit) + b"\n", units=units)
    assert result.outcome == "published", result.reasons
    return [Incoming(e.name, e.id, e.time, e.data) for e in result.events]


def test_a_visit_through_the_connector_counts_every_signal_exactly_once() -> None:
    events = _connector_events(VISIT)
    assert {e.name for e in events} == {"signal.consented", "signal.count", "visit.count"}
    week = "2026-W10"
    found = cells(events)
    assert found.get("signals", {}) == {
        (week, CPX, "schulden"): 1,  # consented only
        (week, CPX, "eenzaamheid"): 1,  # counted only
        (week, CPX, "ggz"): 2,  # one count event of 2
    }
    assert found.get("households_visited", {}) == {(week, CPX, TOTAL_DIMENSION): 1}
    assert found.get("households_with_signal", {}) == {(week, CPX, TOTAL_DIMENSION): 1}
    assert found.get("referrals", {}) == {
        (week, CPX, "buurtteam-overvecht"): 1,
        (week, CPX, "gemeente-werk-inkomen"): 1,
    }


def test_a_redelivered_event_counts_once() -> None:
    visit, signal = visit_count("2026-W07"), consented("taal", "2026-02-11")
    events = [visit, signal, visit, signal]
    found = cells(events)
    assert found.get("households_visited", {}) == {("2026-W07", CPX, TOTAL_DIMENSION): 1}
    assert found.get("signals", {}) == {("2026-W07", CPX, "taal"): 1}


def test_a_referral_counts_once_per_partner_named() -> None:
    partners = (
        ("buurtteam-overvecht", "warme_overdracht"),
        ("buurtteam-overvecht", "doorverwijzing"),
        ("dock", "informeren"),
    )
    events = [consented("eenzaamheid", "2026-02-11", partners)]
    found = cells(events)
    assert found.get("referrals", {}) == {
        ("2026-W07", CPX, "buurtteam-overvecht"): 1,
        ("2026-W07", CPX, "dock"): 1,
    }


def test_households_with_a_signal_is_a_certain_lower_bound() -> None:
    # Visit A: two consented signals; B: a counted schulden; C: counted schulden and taal.
    events = [
        *(visit_count("2026-W07") for _ in range(3)),
        consented("schulden", "2026-02-11", registration="HB-A", index=0),
        consented("taal", "2026-02-11", registration="HB-A", index=1),
        signal_count("schulden", "2026-W07"),
        signal_count("schulden", "2026-W07"),
        signal_count("taal", "2026-W07"),
    ]
    # The counts name no visit: certainly 2 (the two schulden counts), truly 3, never above 3.
    found = cells(events)
    assert found.get("households_with_signal", {}) == {("2026-W07", CPX, TOTAL_DIMENSION): 2}
    assert found.get("households_visited", {}) == {("2026-W07", CPX, TOTAL_DIMENSION): 3}


def test_households_with_a_signal_is_exact_where_visits_say_so() -> None:
    # The same three visits, now marked by the connector; and one visit without a signal.
    signalled = [visit_count("2026-W07", with_signal=True) for _ in range(3)]
    events = [
        *signalled,
        visit_count("2026-W07", with_signal=False),
        consented("schulden", "2026-02-11", registration="HB-A", index=0),
        signal_count("schulden", "2026-W07"),
        signal_count("schulden", "2026-W07"),
        # Week 8 has one visit from before the mark: the lower bound serves there.
        visit_count("2026-W08", with_signal=True),
        visit_count("2026-W08"),
        signal_count("taal", "2026-W08"),
        signal_count("taal", "2026-W08"),
    ]
    found = cells(events)
    assert found.get("households_with_signal", {}) == {
        ("2026-W07", CPX, TOTAL_DIMENSION): 3,
        ("2026-W08", CPX, TOTAL_DIMENSION): 2,
    }


def test_consents_are_attributed_to_the_complex_of_their_unit() -> None:
    events = [
        milestone("berging_leeg", None, unit="U1", complex_id="CPX-OV-032"),  # planned is enough
        consented("taal", "2026-02-11", unit="U3", complex_id="CPX-OV-033"),
        consent("given", "C1", "dock", "2026-02-10", unit="U1"),
        consent("given", "C1", "dock", "2026-02-20", unit="U1"),  # re-registered: same consent
        consent("given", "C2", "dock", "2026-02-10", unit="99999999"),  # unit not in planning
        consent("given", "C3", "buurtteam-overvecht", "2026-02-12", unit="U3"),
        consent("withdrawn", "C1", "dock", "2026-03-03", unit="U1"),
    ]
    found = cells(events)
    assert found.get("consents_given", {}) == {
        ("2026-W07", "CPX-OV-032", "dock"): 1,
        ("2026-W07", UNKNOWN_COMPLEX, "dock"): 1,
        ("2026-W07", "CPX-OV-033", "buurtteam-overvecht"): 1,
    }
    assert found.get("consents_withdrawn", {}) == {("2026-W10", "CPX-OV-032", "dock"): 1}


def test_only_completed_warm_handovers_count_and_a_correction_replaces() -> None:
    events = [
        milestone("berging_leeg", None),
        feedback("contact_gelegd", "2026-02-09", "TM-1"),
        feedback("warme_overdracht_afgerond", "2026-02-10", "TM-2"),
        feedback("warme_overdracht_afgerond", "2026-02-11", "TM-2", partner="dock"),
        feedback("warme_overdracht_afgerond", "2026-02-20", "TM-2", time=TIME + timedelta(1)),
    ]
    found = cells(events)
    assert found.get("warm_handovers", {}) == {
        ("2026-W08", CPX, "buurtteam-overvecht"): 1,  # TM-2 corrected to 20 February
        ("2026-W07", CPX, "dock"): 1,
    }


def test_units_per_milestone_count_realised_milestones_once() -> None:
    later = TIME + timedelta(days=1)
    events = [
        milestone("renovatie_gestart", None),
        milestone("berging_leeg", "2026-02-02"),
        milestone("berging_leeg", "2026-02-10", time=later),  # corrected realisation date
        milestone("berging_leeg", "2026-02-11", unit="U2"),
    ]
    found = cells(events)
    assert found.get("units_per_milestone", {}) == {("2026-W07", CPX, "berging_leeg"): 2}


def _stay(unit: str, moved: str, back: str, complex_id: str = CPX) -> list[Incoming]:
    return [
        milestone("verhuisd_logeerwoning", moved, unit=unit, complex_id=complex_id),
        milestone("terug_in_woning", back, unit=unit, complex_id=complex_id),
    ]


GUEST_HOME = [
    *_stay("U1", "2026-01-05", "2026-02-16"),  # 42 days
    *_stay("U2", "2026-01-06", "2026-02-17"),  # 42
    *_stay("U3", "2026-01-01", "2026-02-19"),  # 49
    *_stay("U4", "2026-01-10", "2026-02-20", complex_id="CPX-OV-032"),  # 41
    milestone("terug_in_woning", "2026-02-18", unit="U5"),  # no move to a guest home: left out
    *_stay("U6", "2026-02-20", "2026-02-18"),  # back before moving out: a data error, left out
]


def test_median_days_in_the_guest_home_go_to_the_period_of_return() -> None:
    medians = aggregate(GUEST_HOME, "week").medians
    found = {(p, c): (v, n) for _, p, c, _, v, n in medians.itertuples(index=False)}
    assert found == {
        ("2026-W08", CPX): (42.0, 3),
        ("2026-W08", "CPX-OV-032"): (41.0, 1),
        ("2026-W08", TOTAL_COMPLEX): (42.0, 4),
    }
    table = build(GUEST_HOME, threshold=3).table
    rows = table[table["measure"] == MEDIAN_MEASURE].set_index("complex")
    assert rows.loc[CPX, "value"] == 42.0 and not rows.loc[CPX, "suppressed"]
    assert pd.isna(rows.loc["CPX-OV-032", "value"])
    assert rows.loc["CPX-OV-032", "suppression"] == "primair"


def test_a_week_counts_in_the_month_of_its_thursday() -> None:
    # 2026-W14 runs from Monday 30 March to Sunday 5 April: its Thursday is in April.
    events = [
        visit_count("2026-W14"),
        visit_count("2026-W01"),  # 29 December 2025 to 4 January 2026
        consented("taal", "2026-03-30"),
        milestone("berging_leeg", None),
        consent("given", "C1", "dock", "2026-03-30"),
    ]
    monthly, weekly = cells(events, "month"), cells(events, "week")
    assert monthly.get("households_visited", {}) == {
        ("2026-04", CPX, TOTAL_DIMENSION): 1,
        ("2026-01", CPX, TOTAL_DIMENSION): 1,
    }
    assert monthly.get("signals", {}) == {("2026-04", CPX, "taal"): 1}
    assert monthly.get("consents_given", {}) == {("2026-03", CPX, "dock"): 1}
    assert weekly.get("signals", {}) == {("2026-W14", CPX, "taal"): 1}


def test_quiet_periods_are_in_the_table_with_zeros() -> None:
    events = [visit_count("2026-W05"), visit_count("2026-W08")]
    counts = aggregate(events, "week").counts
    visits = counts[counts["measure"] == "households_visited"]
    assert visits["period"].tolist() == ["2026-W05", "2026-W06", "2026-W07", "2026-W08"]
    assert visits["value"].tolist() == [1, 0, 0, 1]
    assert set(counts["measure"]) == set(COUNT_MEASURES)
    signals = counts[counts["measure"] == "signals"]
    assert len(signals) == 4 * 14 and (signals["value"] == 0).all()  # every category, as zero


def test_without_events_the_table_is_empty() -> None:
    report = build([])
    assert report.table.empty and report.data_through is None


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"period": "day"}, ValueError),
        ({"threshold": 0}, ValueError),
        ({"threshold": 2.5}, ValueError),
        ({"timezone": "Europe/Nergens"}, KeyError),  # ZoneInfoNotFoundError
    ],
)
def test_bad_parameters_are_refused(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        build([visit_count("2026-W07")], **options)


def test_data_through_is_the_local_date_of_the_newest_event() -> None:
    data = {"complex": CPX, "iso_week": "2026-W09", "count": 1}
    late = Incoming("visit.count", "v1", datetime(2026, 3, 1, 23, 30, tzinfo=UTC), data)
    assert build([late]).data_through == date(2026, 3, 2)
    assert build([late], timezone="UTC").data_through == date(2026, 3, 1)


# --- the synthetic renovation, through the real connectors -------------------------------------


def synthetic_events(dataset: Path) -> tuple[list[Incoming], dict[str, int]]:
    """Events of the synthetic renovation (faults quarantined) and the truth about its visits."""
    _, planning = run_connector(PlanningConnector(), (dataset / "planning.csv").read_bytes())
    milestones = [e for r in planning for e in r.events if e.name == "renovation.milestone"]
    units = register_from_milestones(e.data for e in milestones)
    visits_file = (dataset / "home_visits.jsonl").read_bytes()
    _, visits = run_connector(HomeVisitsConnector(), visits_file, units=units)
    _, registry = run_connector(ConsentRegistryConnector(), (dataset / "consents.csv").read_bytes())
    _, reports = run_connector(
        PartnerFeedbackConnector(), (dataset / "feedback.jsonl").read_bytes()
    )
    events = [
        Incoming(e.name, e.id, e.time, e.data)
        for results in (planning, visits, registry, reports)
        for r in results
        if r.outcome == "published"
        for e in r.events
    ]
    published = [r.record.fields or {} for r in visits if r.outcome == "published"]
    truth = {
        "visits": len(published),
        "signals": sum(len(f["signalen"]) for f in published),
        "visits_with_signal": sum(bool(f["signalen"]) for f in published),
    }
    return events, truth


@pytest.fixture(scope="module")
def synthetic(dataset: Path) -> tuple[list[Incoming], dict[str, int]]:
    return synthetic_events(dataset)


def test_the_synthetic_renovation_counts_every_visit_and_signal_once(
    synthetic: tuple[list[Incoming], dict[str, int]],
) -> None:
    events, truth = synthetic
    counts = aggregate(events, "month").counts
    totals = counts.groupby("measure")["value"].sum()
    assert totals["households_visited"] == truth["visits"]
    assert totals["signals"] == truth["signals"]
    assert totals["households_with_signal"] == truth["visits_with_signal"]


@pytest.mark.parametrize("period", ["week", "month"])
def test_the_synthetic_renovation_is_published_safely(
    synthetic: tuple[list[Incoming], dict[str, int]], period: str
) -> None:
    events, _ = synthetic
    table = build(events, period=period, threshold=10).table  # type: ignore[arg-type]
    assert list(table.columns) == [
        "complex", "period", "measure", "dimension", "value", "suppressed", "suppression"
    ]  # fmt: skip
    assert str(table["value"].dtype) == "Float64" and table["suppressed"].dtype == bool
    counted = table[table["measure"] != MEDIAN_MEASURE]
    shown = counted.loc[~counted["suppressed"], "value"]
    assert not ((shown > 0) & (shown < 10)).any()
    assert counted["value"].isna().eq(counted["suppressed"]).all()
    assert table.loc[table["suppressed"], "value"].isna().all()
    assert set(table["suppression"]) == {"", "primair", "secundair"}
    assert recoverable(counted) == []
    # Every published count is the true count, margins included.
    truth = true_table(aggregate(events, period).counts)  # type: ignore[arg-type]
    keys = ["measure", "period", "complex", "dimension"]
    joined = counted.merge(truth, on=keys, suffixes=("", "_true"), validate="one_to_one")
    assert len(joined) == len(counted) == len(truth)
    published = joined[~joined["suppressed"]]
    assert (published["value"] == published["value_true"]).all()


# --- the entry point and its files ---------------------------------------------------------------

OLD = datetime(2019, 5, 6, 9, tzinfo=UTC)  # far from any day these tests run on


def _old_events() -> list[Incoming]:
    """Events of 2019 with personal data in every field that can hold it."""
    events = [
        milestone("verhuisd_logeerwoning", "2019-03-01", time=OLD),
        milestone("terug_in_woning", "2019-04-12", time=OLD),
        consented("schulden", "2019-04-03", registration="HB-2019-424242"),
        consent("given", "TST-424242", "dock", "2019-04-03", time=OLD),
        feedback("warme_overdracht_afgerond", "2019-04-20", "TM-424242", time=OLD),
        *(visit_count("2019-W14") for _ in range(12)),
        *(signal_count("schulden", "2019-W14") for _ in range(11)),
    ]
    return [Incoming(e.name, e.id, OLD, e.data) for e in events]


PERSONAL = (
    UNIT,
    TENANT,
    "HB-2019-424242",
    "TST-424242",
    "TM-424242",
    "Synthetische Bewoner",
    "111222333",
    "06-11111111",
    "1981-06-15",
    "Medewerker Een",
    "Vrije tekst",
    "Teststraat",
    "3563AB",
    "Samen met wijkconsulent",
)


def test_rerunning_gives_byte_identical_files(tmp_path: Path) -> None:
    events = _old_events()
    first = run(events, tmp_path / "a")
    again = run(list(reversed(events)), tmp_path / "b")  # arrival order does not matter either
    assert first.parquet_path.read_bytes() == again.parquet_path.read_bytes()
    assert first.dashboard_path.read_bytes() == again.dashboard_path.read_bytes()
    assert first.parquet_path.name == "monitoring.parquet"
    assert first.dashboard_path.name == "index.html"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "index.html",
        "monitoring.parquet",
    ]


def test_the_parquet_file_holds_the_published_table_and_no_clock(tmp_path: Path) -> None:
    output = run(_old_events(), tmp_path, period="month")
    parquet = pq.ParquetFile(output.parquet_path)
    columns = parquet.metadata.row_group(0)
    assert {columns.column(i).compression for i in range(columns.num_columns)} == {"ZSTD"}
    metadata = parquet.schema_arrow.metadata
    assert set(metadata) == {b"wijkbrug.monitoring"}
    assert json.loads(metadata[b"wijkbrug.monitoring"]) == {
        "data_through": "2019-05-06",
        "period": "month",
        "schema_version": 1,
        "threshold": 10,
    }
    raw = output.parquet_path.read_bytes()
    assert date.today().isoformat().encode() not in raw
    assert str(date.today().year).encode() + b"-" not in raw
    back = pq.read_table(output.parquet_path).to_pandas()
    assert back["value"].isna().tolist() == output.table["value"].isna().tolist()
    assert back["value"].fillna(-1).tolist() == output.table["value"].fillna(-1).tolist()
    assert back["suppressed"].tolist() == output.table["suppressed"].tolist()
    assert back["complex"].tolist() == output.table["complex"].tolist()
    signals = back[(back["measure"] == "signals") & (back["dimension"] == "schulden")]
    assert signals.set_index("complex")["value"].to_dict() == {CPX: 12.0, TOTAL_COMPLEX: 12.0}


def test_no_personal_data_reaches_the_files_or_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        output = run(_old_events(), tmp_path, threshold=2)
    assert "monitoring:" in caplog.text  # it does log, only counts
    back = pq.read_table(output.parquet_path)
    strings = {str(v) for column in back.columns for v in column.to_pylist()}
    strings.add(str(back.schema.metadata))
    page = output.dashboard_path.read_text(encoding="utf-8")
    for value in PERSONAL:
        assert not any(value in s for s in strings), value
        assert value not in page, value
        assert value not in caplog.text, value
    assert set(back.column("complex").to_pylist()) == {CPX, TOTAL_COMPLEX}
