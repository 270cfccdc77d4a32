"""The Thema-dreven: four ten-storey flats, 432 units, and the households that live there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from random import Random
from typing import TypeVar

from wijkbrug.synth.identity import mobile_number, valid_bsn
from wijkbrug.synth.names import BACKGROUNDS, Background, Script

PROJECT = "THEMA-DREVEN"
#: (complex id, street, postcode digits) of the four flats, in renovation order.
FLATS: tuple[tuple[str, str, str], ...] = (
    ("CPX-OV-031", "Theemsdreef", "3562"),
    ("CPX-OV-032", "Tigrisdreef", "3563"),
    ("CPX-OV-033", "Donaudreef", "3561"),
    ("CPX-OV-034", "Wolgadreef", "3564"),
)
FLOORS = 9  # living floors 1-9 above a ground floor with storage rooms: ten storeys
UNITS_PER_FLOOR = 12
FLOORS_PER_POSTCODE = 3
VACANT_UNITS = 9  # about 2% of 432
#: Postcode letters; S is left out entirely, so SA, SD and SS can never occur.
_POSTCODE_LETTERS = "ABCEGHJKLMNPRTVWXZ"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Household:
    """The main resident of a unit, as the wijkconsulent meets them."""

    background: str
    name: str
    birth_date: date
    phone_digits: str
    bsn: str
    language: str
    language_recorded: float


@dataclass(frozen=True, slots=True)
class Unit:
    """One flat (verhuureenheid) and who lives there; ``tenant`` is None when vacant."""

    complex: str
    street: str
    number: int
    addition: str
    postcode: str
    vhe: str
    floor: int
    tenant: str | None
    household: Household | None


def _full_name(script: Script, female: bool, rng: Random) -> str:
    given = rng.choice(script.given_f if female else script.given_m)
    family = rng.choice(script.family)
    if isinstance(family, tuple):
        family = family[1] if female else family[0]
    if script.order == "fg-":
        return family + given
    if script.order == "fg":
        return f"{family} {given}"
    return f"{given} {family}"


def _weighted(rng: Random, options: tuple[tuple[T, int], ...]) -> T:
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights)[0]


def _household(rng: Random) -> Household:
    background: Background = rng.choices(BACKGROUNDS, [b.weight for b in BACKGROUNDS])[0]
    script = _weighted(rng, background.scripts)
    female = rng.random() < 0.55
    born = date(1938, 1, 1) + timedelta(days=rng.randint(0, 68 * 365))
    return Household(
        background=background.key,
        name=_full_name(script, female, rng),
        birth_date=born,
        phone_digits=mobile_number(rng),
        bsn=valid_bsn(rng),
        language=_weighted(rng, background.languages),
        language_recorded=background.language_recorded,
    )


def _postcodes(digits: str, rng: Random) -> list[str]:
    first = rng.choice(_POSTCODE_LETTERS)
    seconds = sorted(rng.sample(_POSTCODE_LETTERS, FLOORS // FLOORS_PER_POSTCODE))
    return [f"{digits}{first}{second}" for second in seconds]


def build_population(seed: int) -> list[Unit]:
    """All 432 units in renovation order: flat by flat, floor by floor, door by door."""
    rng = Random(f"wijkbrug/{seed}/population")
    total = len(FLATS) * FLOORS * UNITS_PER_FLOOR
    vacant = set(rng.sample(range(total), VACANT_UNITS))
    tenants = rng.sample(range(1_000_000, 10_000_000), total)
    vhe_prefixes = rng.sample(range(1000, 10000), len(FLATS))
    units: list[Unit] = []
    for flat_index, (complex_id, street, digits) in enumerate(FLATS):
        postcodes = _postcodes(digits, rng)
        number = rng.randrange(1, 120) - 1
        vhe_base = vhe_prefixes[flat_index] * 10_000 + rng.randrange(0, 500)
        last_split = False
        for floor in range(1, FLOORS + 1):
            for door in range(UNITS_PER_FLOOR):
                index = len(units)
                # Now and then a split home shares its number with the previous one: 145, 145A.
                split = door > 0 and not last_split and rng.random() < 0.06
                addition = rng.choice(("A", "A", "A", "bis")) if split else ""
                number += 0 if split else 1
                last_split = split
                occupied = index not in vacant
                units.append(
                    Unit(
                        complex=complex_id,
                        street=street,
                        number=number,
                        addition=addition,
                        postcode=postcodes[(floor - 1) // FLOORS_PER_POSTCODE],
                        vhe=str(vhe_base + floor * 20 + door),
                        floor=floor,
                        tenant=f"H{tenants[index]}" if occupied else None,
                        household=_household(rng) if occupied else None,
                    )
                )
    return units
