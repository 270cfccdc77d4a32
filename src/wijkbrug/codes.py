"""The fixed vocabularies of the Thema-dreven renovation: codes and source-format columns.

These codes come from the source systems and stay Dutch: they are the words the corporation,
the buurtteam and the municipality use, and partners match on them.
"""

from __future__ import annotations

#: Renovation milestones in the order a household passes them.
MILESTONES: tuple[str, ...] = (
    "huisbezoek_vooraf",
    "planning_gecommuniceerd",
    "berging_leeg",
    "verhuisd_logeerwoning",
    "renovatie_gestart",
    "renovatie_opgeleverd",
    "terug_in_woning",
    "afrondend_huisbezoek",
)

#: Signal categories a home visitor can register.
SIGNAL_CATEGORIES: tuple[str, ...] = (
    "schulden",
    "armoede",
    "opvoeding",
    "ggz",
    "eenzaamheid",
    "taal",
    "werkloosheid",
    "dagbesteding",
    "vervuiling",
    "wantrouwen_overheid",
    "zorgstelsel",
    "gezondheid",
    "mobiliteit",
    "renovatiestress",
)

#: How urgent the visitor judged a signal.
URGENCIES: tuple[str, ...] = ("laag", "normaal", "hoog", "acuut")

#: Purposes a resident can consent to (``doel``).
PURPOSES: tuple[str, ...] = ("informeren", "doorverwijzing", "warme_overdracht")

#: Consent registry states and the event type each becomes.
CONSENT_STATES: dict[str, str] = {
    "gegeven": "consent.given",
    "ingetrokken": "consent.withdrawn",
    "verlopen": "consent.expired",
}

#: Kinds of feedback a partner reports back.
FEEDBACK_KINDS: tuple[str, ...] = (
    "contact_gelegd",
    "geen_contact_mogelijk",
    "warme_overdracht_afgerond",
    "doorverwezen",
    "hulpverlening_gestart",
    "afgesloten",
)

#: Header of the corporation's renovation planning export (``;``-separated).
PLANNING_COLUMNS: tuple[str, ...] = (
    "project", "complex", "vhe", "straat", "huisnummer", "toevoeging", "postcode",
    "huurdernummer", "mijlpaal", "gepland", "gerealiseerd", "opmerking",
)  # fmt: skip

#: Header (CSV) or keys (JSON Lines) of the consent registry's change export.
CONSENT_COLUMNS: tuple[str, ...] = (
    "toestemming_id", "status", "huurdernummer", "vhe", "partner", "doel", "categorieen",
    "ingangsdatum", "geldig_tot", "mutatiedatum", "registratie_id",
)  # fmt: skip
