"""Partner feedback (JSON Lines): what a partner reports back on a referral."""

from __future__ import annotations

from collections.abc import Iterator

from wijkbrug.codes import FEEDBACK_KINDS
from wijkbrug.connector import Checks, Connector, Context, SourceRecord
from wijkbrug.events import Event, event_id
from wijkbrug.formats import read_json_lines
from wijkbrug.rules import (
    parse_code,
    parse_partner,
    parse_past_date,
    parse_tenant_number,
    parse_unit_id,
)


class PartnerFeedbackConnector(Connector):
    name = "feedback"
    event_names = ("partner.feedback",)

    def read(self, data: bytes) -> Iterator[SourceRecord]:
        return read_json_lines(data)

    def map(self, record: SourceRecord, context: Context) -> list[Event]:
        f = record.fields or {}
        check = Checks()
        feedback_id = check.parse(f, "terugmelding_id", str.strip)
        partner = check.parse(f, "partner", parse_partner, context.partners, False)
        unit = check.parse(f, "vhe", parse_unit_id)
        tenant = check.parse(f, "huurdernummer", parse_tenant_number, required=False)
        day = check.parse(f, "datum", parse_past_date, context.today)
        kind = check.parse(f, "soort", parse_code, FEEDBACK_KINDS)
        note = f.get("toelichting")
        registration = f.get("registratie_id")
        for name, value in (("toelichting", note), ("registratie_id", registration)):
            if not isinstance(value, str | None):
                check.fail("field.type", name)
        check.done()
        return [
            Event(
                name="partner.feedback",
                source=self.source,
                id=event_id(self.source, feedback_id, kind, day),
                key=unit,
                subject=unit,
                time=context.now,
                data={
                    "feedback_id": feedback_id,
                    "partner": partner,
                    "unit_id": unit,
                    "tenant_number": tenant,
                    "date": day.isoformat(),
                    "kind": kind,
                    "note": (note or "").strip() or None,
                    "registration_id": (registration or "").strip() or None,
                },
            )
        ]
