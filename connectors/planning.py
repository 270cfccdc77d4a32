"""The corporation's renovation planning export (``;``-separated, one row per unit milestone)."""

from __future__ import annotations

from collections.abc import Iterator

from wijkbrug.codes import MILESTONES, PLANNING_COLUMNS
from wijkbrug.connector import Checks, Connector, Context, SourceRecord
from wijkbrug.events import Event, event_id
from wijkbrug.formats import read_delimited
from wijkbrug.rules import (
    normalise_postcode,
    not_in_future,
    parse_code,
    parse_house_number,
    parse_optional_date,
    parse_tenant_number,
    parse_unit_id,
)


class PlanningConnector(Connector):
    name = "planning"
    event_names = ("renovation.milestone",)

    def read(self, data: bytes) -> Iterator[SourceRecord]:
        return read_delimited(data, PLANNING_COLUMNS)

    def map(self, record: SourceRecord, context: Context) -> list[Event]:
        f = record.fields or {}
        check = Checks()
        project = check.parse(f, "project", str.strip)
        complex_id = check.parse(f, "complex", str.strip)
        unit = check.parse(f, "vhe", parse_unit_id)
        street = check.parse(f, "straat", str.strip)
        number = check.parse(f, "huisnummer", parse_house_number)
        postcode = check.parse(f, "postcode", normalise_postcode)
        tenant = check("huurdernummer", parse_tenant_number, f.get("huurdernummer"))
        milestone = check.parse(f, "mijlpaal", parse_code, MILESTONES)
        planned = check("gepland", parse_optional_date, f.get("gepland"))
        realised = check("gerealiseerd", parse_optional_date, f.get("gerealiseerd"))
        if realised is not None:
            check("gerealiseerd", not_in_future, realised, context.today)
        dates_broken = any(r.field in ("gepland", "gerealiseerd") for r in check.reasons)
        if planned is None and realised is None and not dates_broken:
            check.fail("date.missing")
        check.done()
        identity = (unit, milestone, planned, realised)
        return [
            Event(
                name="renovation.milestone",
                source=self.source,
                id=event_id(self.source, *identity),
                key=unit,
                subject=unit,
                time=context.now,
                data={
                    "project": project,
                    "complex": complex_id,
                    "unit_id": unit,
                    "address": {
                        "street": street,
                        "house_number": number,
                        "addition": (f.get("toevoeging") or "").strip() or None,
                        "postcode": postcode,
                    },
                    "tenant_number": tenant,
                    "milestone": milestone,
                    "planned_date": planned and planned.isoformat(),
                    "realised_date": realised and realised.isoformat(),
                    "status": "gerealiseerd" if realised else "gepland",
                    "remark": (f.get("opmerking") or "").strip() or None,
                },
            )
        ]
