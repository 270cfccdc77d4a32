"""Milestone alerts for buurtteams, in Dutch: a title and a body a worker can act on.

Built only from what the partner's contract lets through (the transformed milestone), the signal
categories its valid consents cover, and contact details only under ``warme_overdracht``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

MONTHS = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip

#: Per milestone: (title when planned, title when realised, what happens).
TEXTS: dict[str, tuple[str, str, str]] = {
    "huisbezoek_vooraf": (
        "Huisbezoek vooraf gepland",
        "Huisbezoek vooraf afgelegd",
        "De corporatie bezoekt het huishouden voor de renovatie en bespreekt wat er gaat gebeuren.",
    ),
    "planning_gecommuniceerd": (
        "Renovatieplanning wordt gecommuniceerd",
        "Renovatieplanning is gecommuniceerd",
        "Het huishouden hoort wanneer de woning aan de beurt is.",
    ),
    "berging_leeg": (
        "Berging moet leeg",
        "Berging is leeggemaakt",
        "De berging moet leeg zijn voor de werkzaamheden; hulp bij opruimen kan nodig zijn.",
    ),
    "verhuisd_logeerwoning": (
        "Verhuizing naar logeerwoning gepland",
        "Huishouden verhuisd naar logeerwoning",
        "Het huishouden woont tijdens de renovatie tijdelijk in een logeerwoning.",
    ),
    "renovatie_gestart": (
        "Renovatie start",
        "Renovatie gestart",
        "De woning wordt gerenoveerd; het huishouden woont in de logeerwoning.",
    ),
    "renovatie_opgeleverd": (
        "Oplevering renovatie gepland",
        "Renovatie opgeleverd: afrondend huisbezoek volgt",
        "De renovatie is klaar; het afrondend huisbezoek staat voor de deur.",
    ),
    "terug_in_woning": (
        "Terugverhuizing naar de woning gepland",
        "Huishouden terug in de eigen woning",
        "Het huishouden gaat terug naar de gerenoveerde woning.",
    ),
    "afrondend_huisbezoek": (
        "Afrondend huisbezoek gepland",
        "Afrondend huisbezoek afgelegd",
        "De corporatie bezoekt het huishouden na de renovatie.",
    ),
}

CATEGORY_LABELS: dict[str, str] = {
    "schulden": "schulden",
    "armoede": "armoede",
    "opvoeding": "opvoedvragen",
    "ggz": "psychische problemen",
    "eenzaamheid": "eenzaamheid",
    "taal": "taalbarrière",
    "werkloosheid": "werk en inkomen",
    "dagbesteding": "dagbesteding",
    "vervuiling": "vervuiling van de woning",
    "wantrouwen_overheid": "wantrouwen richting instanties",
    "zorgstelsel": "weg vinden in de zorg",
    "gezondheid": "gezondheid",
    "mobiliteit": "mobiliteit",
    "renovatiestress": "stress door de renovatie",
}

PURPOSE_LABELS = {
    "informeren": "informeren",
    "doorverwijzing": "doorverwijzing",
    "warme_overdracht": "warme overdracht",
}


def dutch_date(day: date) -> str:
    """``2026-03-14`` -> ``14 maart 2026``."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _flat(data: dict[str, Any]) -> str:
    address = data.get("address")
    if isinstance(address, dict) and address.get("street"):
        number = f"{address.get('house_number', '')}{address.get('addition') or ''}"
        place = f"{address['street']} {number}".strip()
        if address.get("postcode"):
            place += f", {address['postcode']}"
        return f"{place} (complex {data['complex']})" if data.get("complex") else place
    if isinstance(address, str):  # generalised to the complex
        return f"complex {address}"
    if data.get("complex"):
        return f"complex {data['complex']}"
    return "woning (adres niet gedeeld)"


def milestone_alert(
    data: dict[str, Any],
    *,
    purpose: str,
    categories: list[str],
    contact: dict[str, str | None] | None,
) -> dict[str, Any]:
    """The alert for one milestone: ``title``, ``body`` and the structured facts it states.

    ``data`` is the milestone as the contract lets it through; ``contact`` is used only when the
    consent's purpose is ``warme_overdracht``.
    """
    milestone = data["milestone"]
    realised = data.get("status") == "gerealiseerd"
    planned_title, realised_title, what = TEXTS[milestone]
    day_text = data.get("realised_date") if realised else data.get("planned_date")
    day = date.fromisoformat(day_text) if day_text else None
    flat = _flat(data)
    title = f"{realised_title if realised else planned_title}: {flat}"
    when = (
        f"{'gerealiseerd op' if realised else 'gepland op'} {dutch_date(day)}"
        if day
        else "datum nog niet bekend"
    )
    labels = [CATEGORY_LABELS[c] for c in sorted(categories)]
    lines = [
        f"Datum: {when}",
        f"Woning: {flat}",
        f"Wat er gebeurt: {what}",
        "U mag handelen op: " + (", ".join(labels) if labels else "geen signalen gedeeld"),
        f"Toestemming voor: {PURPOSE_LABELS[purpose]}",
    ]
    shared_contact = None
    if purpose == "warme_overdracht" and contact and contact.get("name"):
        shared_contact = {"name": contact["name"], "phone": contact.get("phone")}
        phone = f", {contact['phone']}" if contact.get("phone") else ""
        lines.append(f"Contact: {contact['name']}{phone}")
    else:
        lines.append("Contact: via de woonconsulent van de corporatie (geen warme overdracht)")
    alert: dict[str, Any] = {
        "title": title,
        "body": "\n".join(lines),
        "milestone": milestone,
        "status": data.get("status"),
        "date": day.isoformat() if day else None,
        "categories": sorted(categories),
        "purpose": purpose,
        "contact": shared_contact,
        "language": "nl",
    }
    for key in ("complex", "unit_id", "tenant_number", "address"):
        if key in data:
            alert[key] = data[key]
    return alert
