"""Home visits: what the wijkconsulent saw (signals) and what the resident agreed to (consents).

Every visit draws from its own random stream, keyed by seed, unit and visit kind, so a visit
looks the same whatever ``as_of`` is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from random import Random
from typing import Any

from wijkbrug.codes import SIGNAL_CATEGORIES
from wijkbrug.synth.dates import add_months
from wijkbrug.synth.identity import format_phone
from wijkbrug.synth.names import VISITORS
from wijkbrug.synth.population import FLATS, Unit
from wijkbrug.synth.timeline import VISIT_MILESTONES, PlanRow

#: How often a category is signalled (relative weights).
_CATEGORY_WEIGHTS: dict[str, float] = {
    "renovatiestress": 20,
    "schulden": 14,
    "armoede": 12,
    "eenzaamheid": 12,
    "gezondheid": 10,
    "taal": 9,
    "werkloosheid": 6,
    "zorgstelsel": 5,
    "dagbesteding": 4,
    "mobiliteit": 4,
    "opvoeding": 3,
    "ggz": 3,
    "vervuiling": 2,
    "wantrouwen_overheid": 2,
}
_URGENCY_WEIGHTS = (("laag", 30), ("normaal", 50), ("hoog", 17), ("acuut", 3))
_NOTES: dict[str, tuple[str, ...]] = {
    "schulden": (
        "Betalingsachterstand bij energieleverancier",
        "Openstaande rekeningen, post wordt niet geopend",
        "Huurachterstand van twee maanden",
        "Aanmaningen van zorgverzekeraar",
    ),
    "armoede": (
        "Moeite met boodschappen aan het eind van de maand",
        "Geen geld voor nieuwe gordijnen na renovatie",
        "Maakt gebruik van voedselbank",
    ),
    "opvoeding": (
        "Zorgen over gedrag zoon op school",
        "Alleenstaande ouder, wil ondersteuning",
        "Vragen over puberteit en grenzen stellen",
    ),
    "ggz": (
        "Bewoner geeft aan veel te piekeren",
        "Somber, slaapt slecht",
        "Eerder behandeld, nu geen hulp meer",
    ),
    "eenzaamheid": (
        "Weinig contact met buren of familie",
        "Komt nauwelijks buiten",
        "Partner recent overleden",
    ),
    "taal": (
        "Spreekt beperkt Nederlands, brieven worden niet begrepen",
        "Kind tolkt tijdens gesprek",
        "Wil graag taalles volgen",
    ),
    "werkloosheid": ("Sinds kort werkloos", "Zoekt werk, wil hulp bij cv", "Uitkering loopt af"),
    "dagbesteding": ("Zoekt zinvolle dagbesteding", "Wil vrijwilligerswerk doen in de wijk"),
    "vervuiling": (
        "Woning erg vol, berging moeilijk leeg te krijgen",
        "Hygiëne in woning baart zorgen",
    ),
    "wantrouwen_overheid": ("Wil geen contact met gemeente", "Negatieve ervaringen met instanties"),
    "zorgstelsel": ("Weet niet hoe huisarts of zorgtoeslag werkt", "Zorgverzekering niet geregeld"),
    "gezondheid": (
        "Slecht ter been, trap is probleem bij verhuizing",
        "Chronische longklachten",
        "Diabetes, medicatie bij de hand houden tijdens verhuizing",
    ),
    "mobiliteit": ("Rolstoelgebruiker, lift nodig bij logeerwoning", "Kan niet zelf sjouwen"),
    "renovatiestress": (
        "Ziet op tegen verhuizing naar logeerwoning",
        "Onrustig over planning en inpakken",
        "Zorgen over spullen in de berging",
    ),
}
#: Categories each person-level partner works on; buurtteam takes anything.
PARTNER_DOMAINS: dict[str, tuple[str, ...]] = {
    "buurtteam-overvecht": SIGNAL_CATEGORIES,
    "gemeente-werk-inkomen": ("schulden", "armoede", "werkloosheid", "dagbesteding"),
    "dock": ("eenzaamheid", "dagbesteding", "renovatiestress", "gezondheid", "mobiliteit"),
    "bewonersverbinders": (
        "taal",
        "eenzaamheid",
        "zorgstelsel",
        "renovatiestress",
        "armoede",
        "dagbesteding",
    ),
}
_PARTNER_TRIGGERS: dict[str, frozenset[str]] = {
    "buurtteam-overvecht": frozenset(SIGNAL_CATEGORIES),
    "gemeente-werk-inkomen": frozenset({"schulden", "werkloosheid", "armoede"}),
    "dock": frozenset({"eenzaamheid", "dagbesteding"}),
    "bewonersverbinders": frozenset({"taal", "eenzaamheid"}),
}
_PURPOSE_WEIGHTS: dict[str, tuple[tuple[str, int], ...]] = {
    "huisbezoek_vooraf": (("informeren", 35), ("doorverwijzing", 45), ("warme_overdracht", 20)),
    "afrondend_huisbezoek": (("informeren", 15), ("doorverwijzing", 35), ("warme_overdracht", 50)),
}


@dataclass(frozen=True, slots=True)
class GivenConsent:
    """A consent given at a visit."""

    partner: str
    purpose: str
    categories: tuple[str, ...]
    valid_until: date

    def as_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "doel": self.purpose,
            "categorieen": list(self.categories),
            "geldig_tot": self.valid_until.isoformat(),
        }


@dataclass(slots=True)
class Visit:
    """One home visit: the unit, the kind (milestone), the date, and the registration."""

    unit: Unit
    milestone: str
    day: date
    registration_id: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    consents: list[GivenConsent] = field(default_factory=list)

    @property
    def stream(self) -> str:
        """Stable name of this visit's random stream."""
        return f"{self.unit.vhe}/{self.milestone}"


def _pick(rng: Random, options: tuple[tuple[str, int], ...]) -> str:
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights)[0]


def _weighted_sample(rng: Random, weights: dict[str, float], k: int) -> list[str]:
    """``k`` distinct keys, drawn by weight without replacement (deterministic order)."""
    pool = dict(weights)
    chosen: list[str] = []
    for _ in range(min(k, len(pool))):
        key = rng.choices(list(pool), list(pool.values()))[0]
        chosen.append(key)
        del pool[key]
    return chosen


def _signals(visit: Visit, rng: Random) -> list[dict[str, str]]:
    """About 60% of visits: one to four distinct signals, weighted by how common they are."""
    household = visit.unit.household
    assert household is not None
    if rng.random() >= 0.6:
        return []
    weights = dict(_CATEGORY_WEIGHTS)
    weights["taal"] *= 0.15 if household.language == "nl" else 3
    if visit.milestone == "afrondend_huisbezoek":
        weights["renovatiestress"] *= 0.3
    count = rng.choices((1, 2, 3, 4), (40, 30, 20, 10))[0]
    return [
        {
            "categorie": category,
            "urgentie": _pick(rng, _URGENCY_WEIGHTS),
            "toelichting": rng.choice(_NOTES[category]),
        }
        for category in _weighted_sample(rng, weights, count)
    ]


def _consents(visit: Visit, signalled: list[str], rng: Random) -> list[GivenConsent]:
    """About 55% of visits with signals: consent for one or two partners that fit the signals."""
    if not signalled or rng.random() >= 0.55:
        return []
    present = set(signalled)
    weights = {
        partner: (4.0 if partner == "buurtteam-overvecht" else 3.0) if present & triggers else 0.4
        for partner, triggers in _PARTNER_TRIGGERS.items()
    }
    partners = _weighted_sample(rng, weights, rng.choices((1, 2), (70, 30))[0])
    consents: list[GivenConsent] = []
    for partner in partners:
        domain = PARTNER_DOMAINS[partner]
        relevant = [c for c in signalled if c in domain]
        if len(relevant) > 1 and rng.random() < 0.3:
            relevant = rng.sample(relevant, rng.randint(1, len(relevant) - 1))
        extra = [c for c in domain if c not in present]
        # Now and then (or when nothing signalled is in its remit) the resident also agrees
        # to share a category the visitor did not signal.
        if extra and (not relevant or rng.random() < 0.12):
            relevant.append(rng.choice(extra))
        chosen = set(relevant)
        consents.append(
            GivenConsent(
                partner=partner,
                purpose=_pick(rng, _PURPOSE_WEIGHTS[visit.milestone]),
                categories=tuple(c for c in SIGNAL_CATEGORIES if c in chosen),
                valid_until=add_months(visit.day, rng.choice((6, 6, 9, 12, 12))),
            )
        )
    return consents


def _visitor(unit: Unit, rng: Random) -> str:
    own = next(i for i, flat in enumerate(FLATS) if flat[0] == unit.complex)
    if rng.random() < 0.85:
        return VISITORS[own]
    return rng.choice([v for i, v in enumerate(VISITORS) if i != own])


def _fill(visit: Visit, seed: int) -> None:
    """Draw the registration of ``visit`` from its own random stream."""
    rng = Random(f"wijkbrug/{seed}/visit/{visit.stream}")
    household = visit.unit.household
    assert household is not None
    resident: dict[str, Any] = {
        "naam": household.name,
        "telefoon": format_phone(household.phone_digits, rng),
        "geboortedatum": household.birth_date.isoformat(),
    }
    if rng.random() < 0.6:
        resident["bsn"] = household.bsn
    if rng.random() < household.language_recorded:
        resident["taal"] = household.language
    signals = _signals(visit, rng)
    visit.consents = _consents(visit, [s["categorie"] for s in signals], rng)
    visit.record = {
        "registratie_id": visit.registration_id,
        "bezoekdatum": visit.day.isoformat(),
        "vhe": visit.unit.vhe,
        "huurdernummer": visit.unit.tenant,
        "medewerker": _visitor(visit.unit, rng),
        "bewoner": resident,
        "signalen": signals,
        "toestemmingen": [c.as_dict() for c in visit.consents],
    }


def build_visits(rows: list[PlanRow], seed: int) -> list[Visit]:
    """One visit per realised home-visit milestone of an occupied unit, in date order.

    Registration ids ``HB-<year>-<nnnnnn>`` count per year in that order.
    """
    visits = [
        Visit(row.unit, row.milestone, row.realised)
        for row in rows
        if row.milestone in VISIT_MILESTONES and row.realised and row.unit.household
    ]
    visits.sort(key=lambda v: (v.day, v.unit.vhe, VISIT_MILESTONES.index(v.milestone)))
    per_year: dict[int, int] = {}
    for visit in visits:
        per_year[visit.day.year] = per_year.get(visit.day.year, 0) + 1
        visit.registration_id = f"HB-{visit.day.year}-{per_year[visit.day.year]:06d}"
        _fill(visit, seed)
    return visits
