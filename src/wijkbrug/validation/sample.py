"""Synthetic, schema-shaped events for tests and measurements of the nightly validation.

Everything is invented and deterministic. The builders make one event each; :func:`programme`
makes a consistent night (and four weeks of history) for any number of homes, the way the
connectors would publish them: it passes every batch rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from random import Random
from typing import Any

from wijkbrug.codes import SIGNAL_CATEGORIES
from wijkbrug.delivery import Incoming
from wijkbrug.events import SOURCE_PREFIX, event_id

PROJECT, COMPLEX = "Thema-dreven", "CPX-OV-031"
#: A resident as the home-visit app records one: every field is personal.
RESIDENT = {
    "name": "Synthetische Bewoner",
    "phone": "06-12345678",
    "birth_date": "1961-04-23",
    "bsn": "111222333",
    "language": "nl",
}


def _id(connector: str, *identity: object) -> str:
    return event_id(SOURCE_PREFIX + connector, *identity)


def milestone(
    unit: str,
    name: str,
    at: datetime,
    *,
    realised: str | None = None,
    planned: str | None = None,
    tenant: str | None = "H0000001",
    remark: str | None = None,
    street: str = "Teststraat",
    ident: str | None = None,
) -> Incoming:
    """A ``renovation.milestone``; realised if ``realised`` is given."""
    planned = planned or realised or "2026-03-02"
    data = {
        "project": PROJECT,
        "complex": COMPLEX,
        "unit_id": unit,
        "address": {"street": street, "house_number": 4, "addition": None, "postcode": "3563AB"},
        "tenant_number": tenant,
        "milestone": name,
        "planned_date": planned,
        "realised_date": realised,
        "status": "gerealiseerd" if realised else "gepland",
        "remark": remark,
    }
    ident = ident or _id("planning", unit, name, planned, realised)
    return Incoming("renovation.milestone", ident, at, data)


def signal(
    unit: str,
    category: str,
    visit_date: str,
    at: datetime,
    *,
    registration: str = "HB-1",
    index: int = 0,
    tenant: str = "H0000001",
    resident: dict[str, Any] | None = None,
    note: str | None = None,
    ident: str | None = None,
) -> Incoming:
    """A ``signal.consented`` from a home visit, with a resident and a free-text note."""
    data = {
        "registration_id": registration,
        "visit_date": visit_date,
        "unit_id": unit,
        "complex": COMPLEX,
        "tenant_number": tenant,
        "registered_by": "Medewerker Een",
        "resident": dict(resident or RESIDENT),
        "signal_index": index,
        "category": category,
        "urgency": "normaal",
        "note": note,
        "consents": [
            {
                "consent_ref": f"{registration}/dock/doorverwijzing",
                "partner": "dock",
                "purpose": "doorverwijzing",
                "categories": [category],
                "valid_until": "2027-12-31",
            }
        ],
    }
    ident = ident or _id("home-visits", registration, "signal", index)
    return Incoming("signal.consented", ident, at, data)


def signal_count(
    category: str, count: int, week: str, at: datetime, *, registration: str = "HB-1"
) -> Incoming:
    """A de-identified ``signal.count`` of one visit."""
    data = {"complex": COMPLEX, "iso_week": week, "category": category, "count": count}
    ident = _id("home-visits", registration, "signal.count", category)
    return Incoming("signal.count", ident, at, data)


def visit_count(week: str, at: datetime, *, registration: str = "HB-1") -> Incoming:
    """The ``visit.count`` of one visit."""
    data = {"complex": COMPLEX, "iso_week": week, "count": 1}
    return Incoming("visit.count", _id("home-visits", registration, "visit.count", None), at, data)


def consent_given(
    unit: str, valid_from: str, at: datetime, *, registration: str | None = "HB-1"
) -> Incoming:
    """A ``consent.given``; with a registration id it was given at a home visit."""
    consent = f"T-{unit}-{registration}"
    data = {
        "consent_id": consent,
        "tenant_number": "H0000001",
        "unit_id": unit,
        "partner": "dock",
        "purpose": "doorverwijzing",
        "registration_id": registration,
        "categories": ["schulden"],
        "valid_from": valid_from,
        "valid_until": "2027-12-31",
        "recorded_on": valid_from,
    }
    return Incoming("consent.given", _id("consents", consent, "gegeven", valid_from), at, data)


def feedback(unit: str, day: str, at: datetime, *, note: str | None = None) -> Incoming:
    """A ``partner.feedback`` with an optional free-text note."""
    data = {
        "feedback_id": f"TM-{unit}",
        "partner": "dock",
        "unit_id": unit,
        "tenant_number": "H0000001",
        "date": day,
        "kind": "contact_gelegd",
        "note": note,
        "registration_id": "HB-1",
    }
    ident = _id("feedback", f"TM-{unit}", "contact_gelegd", day)
    return Incoming("partner.feedback", ident, at, data)


def quarantine(connector: str, raw: str, at: datetime) -> Incoming:
    """A ``quarantine.record``: the raw record may hold anything, personal data included."""
    data = {
        "connector": connector,
        "source_file": "export.csv",
        "source_sha256": "0" * 64,
        "line": 2,
        "reasons": [{"code": "bsn.elfproef", "field": "bsn", "message": "BSN ongeldig"}],
        "raw": raw,
    }
    return Incoming("quarantine.record", _id(connector, "quarantine", raw), at, data)


@dataclass(frozen=True, slots=True)
class Programme:
    """A night of events with four weeks of history before it, and the project's units."""

    night: list[Incoming]
    history: list[Incoming]
    units: set[str]
    interval: tuple[datetime, datetime]


def _day(moment: datetime, offset: int = 0) -> str:
    return (moment.date() + timedelta(days=offset)).isoformat()


def _week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def programme(homes: int, end: datetime, *, seed: int = 1) -> Programme:
    """A clean night ending at ``end``: per home the start of its renovation and a visit's
    signals, counts, consent and feedback; history holds its pre-visit and earlier signals.

    Six night events and four history events per home; every connector delivers.
    """
    rng = Random(seed)
    start = end - timedelta(hours=12)
    night: list[Incoming] = []
    history: list[Incoming] = []
    units: set[str] = set()
    week = _week(start.date())
    for number in range(homes):
        unit = f"6706{number:06d}"
        units.add(unit)
        at = start + timedelta(seconds=number % 36_000)
        earlier = start - timedelta(days=7 + number % 20)
        before, after = rng.sample(SIGNAL_CATEGORIES, 2)
        registration, old = f"HB-{number}", f"HB-{number}-0"
        history += [
            milestone(unit, "huisbezoek_vooraf", earlier, realised=_day(earlier)),
            milestone(unit, "verhuisd_logeerwoning", earlier, planned=_day(start, 1)),
            signal(unit, before, _day(earlier), earlier, registration=old),
            signal_count(rng.choice(SIGNAL_CATEGORIES), 1, week, earlier, registration=old),
        ]
        night += [
            milestone(unit, "renovatie_gestart", at, realised=_day(start)),
            signal(unit, after, _day(start), at, registration=registration),
            signal_count(rng.choice(SIGNAL_CATEGORIES), 1, week, at, registration=registration),
            visit_count(week, at, registration=registration),
            consent_given(unit, _day(start), at, registration=registration),
            feedback(unit, _day(start), at),
        ]
    return Programme(night, history, units, (start, end))
