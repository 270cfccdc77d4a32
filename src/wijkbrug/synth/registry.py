"""The consent registry's change export and the partners' feedback, both following the visits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from random import Random
from typing import Any

from wijkbrug.synth.dates import add_days
from wijkbrug.synth.visits import GivenConsent, Visit

_FEEDBACK_NOTES: dict[str, tuple[str, ...]] = {
    "contact_gelegd": (
        "Eerste gesprek gevoerd",
        "Telefonisch contact, afspraak gepland",
        "Kennismaking bij bewoner thuis",
    ),
    "geen_contact_mogelijk": (
        "Drie keer gebeld, geen gehoor",
        "Niet thuis bij huisbezoek",
        "Telefoonnummer klopt niet",
    ),
    "warme_overdracht_afgerond": (
        "Samen met wijkconsulent langs geweest",
        "Overdracht in logeerwoning afgerond",
    ),
    "doorverwezen": (
        "Doorverwezen naar schuldhulpverlening",
        "Doorverwezen naar huisarts",
        "Aangemeld bij taalcafé",
    ),
    "hulpverlening_gestart": ("Traject gestart", "Budgetbeheer gestart"),
    "afgesloten": ("Hulpvraag afgerond", "Bewoner ziet af van verdere hulp"),
}


@dataclass(frozen=True, slots=True)
class Consent:
    """A consent with its registry id and, if the resident withdraws it, the day they do."""

    consent_id: str
    visit: Visit
    given: GivenConsent
    withdrawn_on: date | None

    def row(self, status: str, changed_on: date) -> list[str]:
        """One registry row; only a ``gegeven`` row lists the categories."""
        unit = self.visit.unit
        return [
            self.consent_id,
            status,
            unit.tenant or "",
            unit.vhe,
            self.given.partner,
            self.given.purpose,
            "|".join(self.given.categories) if status == "gegeven" else "",
            self.visit.day.isoformat(),
            self.given.valid_until.isoformat(),
            changed_on.isoformat(),
            self.visit.registration_id,
        ]


def _rng(seed: int, purpose: str, visit: Visit, given: GivenConsent) -> Random:
    """The random stream of one consent (partners are distinct within a visit)."""
    return Random(f"wijkbrug/{seed}/{purpose}/{visit.stream}/{given.partner}")


def build_consents(visits: list[Visit], seed: int) -> list[Consent]:
    """Every consent given at a visit, numbered ``TST-nnnnnn`` in visit order."""
    consents: list[Consent] = []
    for visit in visits:
        for given in visit.consents:
            rng = _rng(seed, "consent", visit, given)
            withdrawn = None
            if rng.random() < 0.08:
                withdrawn = min(add_days(visit.day, rng.randint(3, 90)), given.valid_until)
            consents.append(Consent(f"TST-{len(consents) + 1:06d}", visit, given, withdrawn))
    return consents


def consent_rows(consents: list[Consent], as_of: date) -> list[list[str]]:
    """Registry rows up to ``as_of``, sorted by mutatiedatum, then toestemming_id.

    A withdrawn consent gets no ``verlopen`` row: it had already ended.
    """
    keyed: list[tuple[date, str, list[str]]] = []
    for consent in consents:
        keyed.append(
            (consent.visit.day, consent.consent_id, consent.row("gegeven", consent.visit.day))
        )
        if consent.withdrawn_on is not None and consent.withdrawn_on <= as_of:
            keyed.append(
                (
                    consent.withdrawn_on,
                    consent.consent_id,
                    consent.row("ingetrokken", consent.withdrawn_on),
                )
            )
        elif consent.given.valid_until < as_of:
            expired = add_days(consent.given.valid_until, 1)
            keyed.append((expired, consent.consent_id, consent.row("verlopen", expired)))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [row for _, _, row in keyed]


def _feedback_plan(consent: Consent, rng: Random) -> list[tuple[str, date]]:
    """What the partner reports and when, before any cut-off."""
    day, purpose, partner = consent.visit.day, consent.given.purpose, consent.given.partner
    plan: list[tuple[str, date]] = []
    roll = rng.random()
    if roll < 0.78:
        last = add_days(day, rng.randint(7, 21))
        plan.append(("contact_gelegd", last))
        if purpose == "warme_overdracht" and rng.random() < 0.7:
            last = add_days(last, rng.randint(7, 35))
            plan.append(("warme_overdracht_afgerond", last))
        elif purpose == "doorverwijzing" and rng.random() < 0.4:
            last = add_days(last, rng.randint(5, 30))
            plan.append(("doorverwezen", last))
        if partner in ("buurtteam-overvecht", "gemeente-werk-inkomen") and rng.random() < 0.3:
            last = add_days(last, rng.randint(7, 30))
            plan.append(("hulpverlening_gestart", last))
        if rng.random() < 0.25:
            plan.append(("afgesloten", add_days(last, rng.randint(30, 120))))
    elif roll < 0.90:
        last = add_days(day, rng.randint(10, 28))
        plan.append(("geen_contact_mogelijk", last))
        if rng.random() < 0.4:
            plan.append(("afgesloten", add_days(last, rng.randint(14, 60))))
    return plan


def build_feedback(consents: list[Consent], seed: int, as_of: date) -> list[dict[str, Any]]:
    """Partner feedback up to ``as_of``, stopping before a withdrawal or after expiry.

    Sorted by datum, then visit, partner and order; numbered ``TM-nnnnnn`` in that order.
    """
    keyed: list[tuple[str, str, str, int, dict[str, Any]]] = []
    for consent in consents:
        rng = _rng(seed, "feedback", consent.visit, consent.given)
        end = min(as_of, consent.given.valid_until)
        if consent.withdrawn_on is not None:
            end = min(end, add_days(consent.withdrawn_on, -1))
        for order, (kind, day) in enumerate(_feedback_plan(consent, rng)):
            note = rng.choice(_FEEDBACK_NOTES[kind]) if rng.random() < 0.5 else None
            if day > end:
                break
            visit = consent.visit
            keyed.append(
                (
                    day.isoformat(),
                    visit.registration_id,
                    consent.given.partner,
                    order,
                    {
                        "terugmelding_id": "",
                        "partner": consent.given.partner,
                        "vhe": visit.unit.vhe,
                        "huurdernummer": visit.unit.tenant,
                        "datum": day.isoformat(),
                        "soort": kind,
                        "toelichting": note,
                        "registratie_id": visit.registration_id,
                    },
                )
            )
    keyed.sort(key=lambda item: item[:4])
    records = [item[4] for item in keyed]
    for number, record in enumerate(records, start=1):
        record["terugmelding_id"] = f"TM-{number:06d}"
    return records
