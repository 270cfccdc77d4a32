"""Home-visit registrations (JSON Lines): signals, published person-level only with consent.

Consent at the edge: a signal becomes a ``signal.consented`` event only when at least one consent
given at the visit, still valid on the visit date, covers its category; that event lists exactly
those consents. Every other signal becomes a de-identified ``signal.count`` (complex, ISO week,
category) and nothing more. Each visit also counts once in ``visit.count``, the denominator.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

from wijkbrug.codes import PURPOSES, SIGNAL_CATEGORIES, URGENCIES
from wijkbrug.connector import Checks, Connector, Context, SourceRecord
from wijkbrug.events import Event, event_id
from wijkbrug.formats import read_json_lines
from wijkbrug.rules import (
    RuleError,
    iso_week,
    parse_bsn,
    parse_code,
    parse_date,
    parse_partner,
    parse_past_date,
    parse_phone,
    parse_tenant_number,
    parse_unit_id,
)

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def _language(value: str) -> str:
    text = value.strip().lower()
    if not _LANGUAGE.match(text):
        raise RuleError("field.type")
    return text


def _list_of_objects(check: Checks, fields: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = fields.get(name)
    if value is None:
        check.fail("field.missing", name)
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        check.fail("field.type", name)
        return []
    return value


class HomeVisitsConnector(Connector):
    name = "home-visits"
    event_names = ("signal.consented", "signal.count", "visit.count")
    needs_units = True

    def read(self, data: bytes) -> Iterator[SourceRecord]:
        return read_json_lines(data)

    def map(self, record: SourceRecord, context: Context) -> list[Event]:
        f = record.fields or {}
        check = Checks()
        registration = check.parse(f, "registratie_id", str.strip)
        visit_date = check.parse(f, "bezoekdatum", parse_past_date, context.today)
        unit = check.parse(f, "vhe", parse_unit_id)
        tenant = check.parse(f, "huurdernummer", parse_tenant_number)
        employee = check.parse(f, "medewerker", str.strip)
        home = context.units.get(unit) if unit else None
        if unit and home is None:
            check.fail("vhe.unknown", "vhe")
        elif home and tenant and tenant not in home.tenant_numbers:
            check.fail("huurder.mismatch", "huurdernummer")
        complex_id = home.complex if home else None
        resident = self._resident(check, f, context.today)
        signals = self._signals(check, f)
        consents = self._consents(check, f, context)
        check.done()

        valid = [c for c in consents if c["valid_until"] >= visit_date.isoformat()]
        events: list[Event] = []
        uncovered: Counter[str] = Counter()
        for index, signal in enumerate(signals):
            covering = [c for c in valid if signal["category"] in c["categories"]]
            if not covering:
                uncovered[signal["category"]] += 1
                continue
            events.append(
                Event(
                    name="signal.consented",
                    source=self.source,
                    id=event_id(self.source, registration, "signal", index),
                    key=unit,
                    subject=unit,
                    time=context.now,
                    data={
                        "registration_id": registration,
                        "visit_date": visit_date.isoformat(),
                        "unit_id": unit,
                        "complex": complex_id,
                        "tenant_number": tenant,
                        "registered_by": employee,
                        "resident": resident,
                        "signal_index": index,
                        **signal,
                        "consents": covering,
                    },
                )
            )
        week = iso_week(visit_date)
        counts = [("visit.count", None, 1), *(("signal.count", c, n) for c, n in uncovered.items())]
        for name, category, count in counts:
            data: dict[str, Any] = {"complex": complex_id, "iso_week": week, "count": count}
            if category is not None:
                data["category"] = category
            else:  # the visit itself: did it record any signal (the programme's question)
                data["with_signal"] = bool(signals)
            events.append(
                Event(
                    name=name,
                    source=self.source,
                    id=event_id(self.source, registration, name, category),
                    key=complex_id,
                    time=context.now,
                    data=data,
                )
            )
        return events

    @staticmethod
    def _resident(check: Checks, f: dict[str, Any], today: date) -> dict[str, Any]:
        person = f.get("bewoner")
        if not isinstance(person, dict):
            check.fail("field.missing" if person is None else "field.type", "bewoner")
            return {}
        birth = check.parse(person, "geboortedatum", parse_past_date, today)
        return {
            "name": check.parse(person, "naam", str.strip),
            "phone": check.parse(person, "telefoon", parse_phone),
            "birth_date": birth and birth.isoformat(),
            "bsn": check.parse(person, "bsn", parse_bsn, required=False),
            "language": check.parse(person, "taal", _language, required=False),
        }

    @staticmethod
    def _signals(check: Checks, f: dict[str, Any]) -> list[dict[str, Any]]:
        signals = []
        for item in _list_of_objects(check, f, "signalen"):
            note = item.get("toelichting")
            if not isinstance(note, str | None):
                check.fail("field.type", "toelichting")
                note = None
            signals.append(
                {
                    "category": check.parse(item, "categorie", parse_code, SIGNAL_CATEGORIES),
                    "urgency": check.parse(item, "urgentie", parse_code, URGENCIES),
                    "note": (note or "").strip() or None,
                }
            )
        return signals

    @staticmethod
    def _consents(check: Checks, f: dict[str, Any], context: Context) -> list[dict[str, Any]]:
        consents = []
        registration = f.get("registratie_id")
        for item in _list_of_objects(check, f, "toestemmingen"):
            partner = check.parse(item, "partner", parse_partner, context.partners, True)
            purpose = check.parse(item, "doel", parse_code, PURPOSES)
            categories = item.get("categorieen")
            if not isinstance(categories, list) or not categories:
                check.fail("field.missing" if not categories else "field.type", "categorieen")
                categories = []
            parsed = [
                check("categorieen", parse_code, c, SIGNAL_CATEGORIES)
                if isinstance(c, str)
                else check.fail("field.type", "categorieen")
                for c in categories
            ]  # fail() returns None: the bad item is left out
            valid_until = check.parse(item, "geldig_tot", parse_date)
            consents.append(
                {
                    "consent_ref": f"{registration}/{partner}/{purpose}",
                    "partner": partner,
                    "purpose": purpose,
                    "categories": sorted(set(filter(None, parsed))),
                    "valid_until": valid_until and valid_until.isoformat(),
                }
            )
        return consents
