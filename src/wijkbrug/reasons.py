"""Why a source record was held back: stable codes with a Dutch explanation for data stewards.

A reason never quotes the offending value: quarantine reasons end up in logs, summaries and
reports, and the value may be personal data (a BSN, a birth date). The raw record itself is kept
only inside the quarantine record, for the steward who has to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Code -> Dutch explanation shown to stewards.
REASONS: dict[str, str] = {
    "csv.field_count": "Regel heeft een ander aantal kolommen dan de kop",
    "json.invalid": "Regel is geen geldig JSON-object",
    "field.missing": "Verplicht veld ontbreekt of is leeg",
    "field.type": "Veld heeft een verkeerd type",
    "field.unexpected": "Onbekend veld in record",
    "code.unknown": "Onbekende code",
    "date.invalid": "Datum bestaat niet of heeft een onbekend formaat",
    "date.future": "Datum ligt in de toekomst (gerealiseerd of bezocht kan niet later dan vandaag)",
    "date.missing": "Zowel geplande als gerealiseerde datum ontbreken",
    "date.order": "Einddatum ligt voor begindatum",
    "postcode.format": "Postcode heeft geen geldig formaat (1234AB)",
    "huisnummer.invalid": "Huisnummer is geen positief geheel getal",
    "vhe.format": "Verhuureenheid-nummer heeft een ongeldig formaat",
    "huurder.mismatch": "Huurdernummer hoort volgens de planning niet bij deze verhuureenheid",
    "vhe.unknown": "Verhuureenheid komt niet voor in de renovatieplanning (eerst planning inlezen)",
    "bsn.elfproef": "BSN voldoet niet aan de elfproef",
    "telefoon.format": "Telefoonnummer heeft een ongeldig formaat",
    "partner.unknown": "Onbekende partner",
    "partner.aggregates_only": (
        "Partner ontvangt alleen geaggregeerde gegevens, geen persoonsgegevens"
    ),
    "schema.invalid": "Gebeurtenis voldoet niet aan het schema",
    "event.invalid": "Bericht is geen geldige wijkbrug-gebeurtenis (CloudEvents-kop of JSON)",
    "processing.error": "Record niet verwerkt door een fout in wijkbrug; meld dit aan beheer",
    # Batch rules of the nightly validation (wijkbrug.validation): facts no single record shows.
    "event.duplicate": "Gebeurtenis-id komt vaker voor: dubbel in deze nacht of al eerder geleverd",
    "milestone.order": (
        "Mijlpaal is gerealiseerd voor de mijlpaal die eraan vooraf moet gaan "
        "(opgeleverd voor gestart, of terug in woning voor verhuisd naar logeerwoning)"
    ),
    "huisbezoek.missing": (
        "Renovatie gestart in een bewoonde woning zonder vastgelegd huisbezoek vooraf"
    ),
}


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason a record was quarantined; ``field`` names the source field, never its value."""

    code: str
    field: str | None = None

    def __post_init__(self) -> None:
        if self.code not in REASONS:
            raise ValueError(f"unknown quarantine reason code: {self.code}")

    @property
    def message(self) -> str:
        text = REASONS[self.code]
        return f"{text}: {self.field}" if self.field else text

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "field": self.field, "message": self.message}
