"""Consent registry changes: given, withdrawn, expired, onto the compacted consent topic.

Accepted formats, chosen by the file's extension (``.csv`` or ``.jsonl``):

* CSV, ``;``-separated, header ``toestemming_id;status;huurdernummer;vhe;partner;doel;
  categorieen;ingangsdatum;geldig_tot;mutatiedatum;registratie_id``, categories ``|``-separated;
* JSON Lines with the same keys, ``categorieen`` a list.

``status`` is ``gegeven``, ``ingetrokken`` or ``verlopen``. The Kafka key is the consent id:
compaction then keeps the latest state of every consent (see docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wijkbrug.codes import CONSENT_COLUMNS, CONSENT_STATES, PURPOSES, SIGNAL_CATEGORIES
from wijkbrug.connector import Checks, Connector, Context, SourceRecord
from wijkbrug.events import Event, event_id
from wijkbrug.formats import read_delimited, read_json_lines
from wijkbrug.rules import (
    RuleError,
    parse_code,
    parse_date,
    parse_optional_date,
    parse_partner,
    parse_past_date,
    parse_tenant_number,
    parse_unit_id,
)


def _categories(value: Any) -> list[str]:
    if not isinstance(value, str | list):
        raise RuleError("field.type")
    items = value.split("|") if isinstance(value, str) else value
    return [parse_code(item, SIGNAL_CATEGORIES) for item in items if str(item).strip()]


class ConsentRegistryConnector(Connector):
    name = "consents"
    event_names = ("consent.given", "consent.withdrawn", "consent.expired")

    def __init__(self, json_lines: bool = False) -> None:
        self.json_lines = json_lines

    def read(self, data: bytes) -> Iterator[SourceRecord]:
        return read_json_lines(data) if self.json_lines else read_delimited(data, CONSENT_COLUMNS)

    def map(self, record: SourceRecord, context: Context) -> list[Event]:
        f = record.fields or {}
        check = Checks()
        consent_id = check.parse(f, "toestemming_id", str.strip)
        status = check.parse(f, "status", parse_code, CONSENT_STATES)
        tenant = check.parse(f, "huurdernummer", parse_tenant_number)
        unit = check.parse(f, "vhe", parse_unit_id)
        partner = check.parse(f, "partner", parse_partner, context.partners, True)
        purpose = check.parse(f, "doel", parse_code, PURPOSES)
        changed_on = check.parse(f, "mutatiedatum", parse_past_date, context.today)
        registration = (f.get("registratie_id") or "").strip() or None
        data: dict[str, Any] = {
            "consent_id": consent_id,
            "tenant_number": tenant,
            "unit_id": unit,
            "partner": partner,
            "purpose": purpose,
            "registration_id": registration,
        }
        if status == "gegeven":
            raw_categories = f.get("categorieen")
            categories = check("categorieen", _categories, raw_categories or [])
            if not categories and not any(r.field == "categorieen" for r in check.reasons):
                check.fail("field.missing", "categorieen")
            valid_from = check.parse(f, "ingangsdatum", parse_date)
            valid_until = check.parse(f, "geldig_tot", parse_date)
            if valid_from and valid_until and valid_until < valid_from:
                check.fail("date.order", "geldig_tot")
            data |= {
                "categories": sorted(set(categories or [])),
                "valid_from": valid_from and valid_from.isoformat(),
                "valid_until": valid_until and valid_until.isoformat(),
                "recorded_on": changed_on and changed_on.isoformat(),
            }
        else:
            check("ingangsdatum", parse_optional_date, f.get("ingangsdatum"))
            check("geldig_tot", parse_optional_date, f.get("geldig_tot"))
            field_name = "withdrawn_on" if status == "ingetrokken" else "expired_on"
            data[field_name] = changed_on and changed_on.isoformat()
        check.done()
        return [
            Event(
                name=CONSENT_STATES[status],
                source=self.source,
                id=event_id(self.source, consent_id, status, changed_on),
                key=consent_id,
                subject=unit,
                time=context.now,
                data=data,
            )
        ]
