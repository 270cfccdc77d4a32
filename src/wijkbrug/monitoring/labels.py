"""Dutch labels for the monitoring dashboard: measures, categories, milestones, partners."""

from __future__ import annotations

from wijkbrug.partners import load_partners

TOTAL_COMPLEX = "Overvecht (totaal)"
TOTAL_DIMENSION = "totaal"
UNKNOWN_COMPLEX = "onbekend"

#: Measure key -> (title, explanation) as the programme team reads them.
MEASURES: dict[str, tuple[str, str]] = {
    "households_visited": (
        "Bezochte huishoudens",
        "Aantal huisbezoeken in de periode; elk bezoek telt één keer.",
    ),
    "households_with_signal": (
        "Huishoudens met ten minste één signaal",
        "Huisbezoeken waarbij ten minste één signaal is vastgelegd, met of zonder toestemming. "
        "Voor bezoeken van vóór die markering in de telling (oudere gegevens) is het een "
        "ondergrens: het grootste van het aantal bezoeken met een signaal met toestemming en "
        "het aantal bezoeken met een signaal zonder toestemming in één categorie.",
    ),
    "signals": (
        "Signalen per categorie",
        "Alle signalen uit huisbezoeken: met toestemming gedeeld en geanonimiseerd geteld.",
    ),
    "referrals": (
        "Doorverwijzingen per partner",
        "Signalen met toestemming, per partner die in die toestemming genoemd wordt. Een signaal "
        "voor twee partners telt bij beide; het totaal is de som over de partners.",
    ),
    "consents_given": (
        "Gegeven toestemmingen per partner",
        "Toestemmingen naar de datum waarop het toestemmingsregister ze vastlegde.",
    ),
    "consents_withdrawn": (
        "Ingetrokken toestemmingen per partner",
        "Toestemmingen die de bewoner in de periode introk.",
    ),
    "warm_handovers": (
        "Afgeronde warme overdrachten per partner",
        "Terugmeldingen van partners dat een warme overdracht is afgerond.",
    ),
    "units_per_milestone": (
        "Woningen per gerealiseerde mijlpaal",
        "Woningen die de mijlpaal in de periode bereikten; het totaal is de som over de mijlpalen.",
    ),
    "median_days_guest_home": (
        "Mediaan aantal dagen in de logeerwoning",
        "Van verhuizing naar de logeerwoning tot terugkeer in de eigen woning, per woning, "
        "toegerekend aan de periode van terugkeer. Onderdrukt bij minder woningen dan de drempel.",
    ),
}

#: Column heading of each measure's dimension (None: the measure has no breakdown).
DIMENSION_TITLES: dict[str, str | None] = {
    "households_visited": None,
    "households_with_signal": None,
    "signals": "Categorie",
    "referrals": "Partner",
    "consents_given": "Partner",
    "consents_withdrawn": "Partner",
    "warm_handovers": "Partner",
    "units_per_milestone": "Mijlpaal",
    "median_days_guest_home": None,
}

CATEGORIES: dict[str, str] = {
    "schulden": "Schulden",
    "armoede": "Armoede",
    "opvoeding": "Opvoeding",
    "ggz": "Psychische gezondheid (ggz)",
    "eenzaamheid": "Eenzaamheid",
    "taal": "Taal",
    "werkloosheid": "Werkloosheid",
    "dagbesteding": "Dagbesteding",
    "vervuiling": "Vervuiling van de woning",
    "wantrouwen_overheid": "Wantrouwen in de overheid",
    "zorgstelsel": "Wegwijs in de zorg",
    "gezondheid": "Gezondheid",
    "mobiliteit": "Mobiliteit",
    "renovatiestress": "Stress door de renovatie",
}

MILESTONES: dict[str, str] = {
    "huisbezoek_vooraf": "Huisbezoek vooraf",
    "planning_gecommuniceerd": "Planning gecommuniceerd",
    "berging_leeg": "Berging leeg",
    "verhuisd_logeerwoning": "Verhuisd naar logeerwoning",
    "renovatie_gestart": "Renovatie gestart",
    "renovatie_opgeleverd": "Renovatie opgeleverd",
    "terug_in_woning": "Terug in eigen woning",
    "afrondend_huisbezoek": "Afrondend huisbezoek",
}

PERIODS: dict[str, str] = {"week": "week", "month": "maand"}


def measure_title(measure: str) -> str:
    return MEASURES.get(measure, (measure, ""))[0]


def complex_label(complex_id: str) -> str:
    return "Complex onbekend" if complex_id == UNKNOWN_COMPLEX else complex_id


def dimension_label(dimension: str) -> str:
    """Readable Dutch for a category, milestone or partner id; the id itself if unknown."""
    if dimension == TOTAL_DIMENSION:
        return "Totaal"
    if dimension in CATEGORIES:
        return CATEGORIES[dimension]
    if dimension in MILESTONES:
        return MILESTONES[dimension]
    partner = load_partners().get(dimension)
    return partner.name if partner else dimension


def suppressed_text(threshold: int) -> str:
    return f"onderdrukt (< {threshold})"
