"""A realistic synthetic night for the nightly sync: a tenant per home, consents for partners.

:func:`wijkbrug.validation.sample.programme` makes a clean night for validation, but every home
has the same tenant and one consent that no contract lets a signal through under. This builds
the same events with the sample builders (six in the night, four in history per home, so it
passes the batch rules) and a consent registry spread over the partners with file drops: most
signals reach one or two partners, the start of each renovation becomes a buurtteam alert (warm
handovers with the resident's contact) and a bewonersverbinders milestone, some consents have
been withdrawn or ended, and a few visits list a consent the registry has not recorded (held).
Deterministic for a seed; for tests and ``benchmarks/nightly.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from wijkbrug.codes import PURPOSES, SIGNAL_CATEGORIES
from wijkbrug.consent import ConsentState
from wijkbrug.delivery import Incoming
from wijkbrug.validation import sample

PARTNERS = ("buurtteam-overvecht", "dock", "gemeente-werk-inkomen", "bewonersverbinders")
NAMES = ("Fatima El Amrani", "Jan de Vries", "Ayse Yilmaz", "Kees Bakker", "Lin Chen")


@dataclass(frozen=True, slots=True)
class Night:
    """The night's events, four weeks of history, the units, the interval, the consent state."""

    events: list[Incoming]
    history: list[Incoming]
    units: set[str]
    interval: tuple[datetime, datetime]
    consents: ConsentState


def night(homes: int, end: datetime, *, seed: int = 1) -> Night:
    """``homes`` homes: ``6 * homes`` night events, ``4 * homes`` history events."""
    rng = Random(seed)
    start = end - timedelta(hours=12)
    day = sample._day(start)
    events: list[Incoming] = []
    history: list[Incoming] = []
    units: set[str] = set()
    consents = ConsentState()
    week = sample._week(start.date())
    for number in range(homes):
        unit, tenant = f"6706{number:06d}", f"H{number:07d}"
        units.add(unit)
        at = start + timedelta(seconds=number % 36_000)
        earlier = start - timedelta(days=7 + number % 20)
        before, after = rng.sample(SIGNAL_CATEGORIES, 2)
        registration, old = f"HB-{number}", f"HB-{number}-0"
        resident = {
            "name": rng.choice(NAMES) if rng.random() < 0.7 else None,
            "phone": f"06-{rng.randrange(10**8):08d}",
            "birth_date": f"{rng.randrange(1935, 2005)}-{rng.randrange(1, 13):02d}-"
            f"{rng.randrange(1, 29):02d}",
            "bsn": f"{rng.randrange(10**8, 10**9)}" if rng.random() < 0.8 else None,
            "language": rng.choice(("nl", "nl", "ar", "tr", "en")),
        }
        street = f"{rng.choice(('Tigris', 'Ganges', 'Eufraat', 'Amazone'))}dreef"
        history += [
            sample.milestone(unit, "huisbezoek_vooraf", earlier, realised=sample._day(earlier),
                             tenant=tenant, street=street),
            sample.milestone(unit, "verhuisd_logeerwoning", earlier,
                             planned=sample._day(start, 1), tenant=tenant, street=street),
            sample.signal(unit, before, sample._day(earlier), earlier, registration=old,
                          tenant=tenant, resident=resident),
            sample.signal_count(rng.choice(SIGNAL_CATEGORIES), 1, week, earlier,
                                registration=old),
        ]  # fmt: skip
        given = sample.consent_given(unit, day, at, registration=registration)
        partner = rng.choice(PARTNERS)
        purpose = rng.choice(PURPOSES)
        categories = sorted({after, *rng.sample(SIGNAL_CATEGORIES, rng.randrange(0, 3))})
        given.data.update(
            tenant_number=tenant, partner=partner, purpose=purpose, categories=categories
        )
        signal = sample.signal(
            unit, after, day, at, registration=registration, tenant=tenant, resident=resident,
            note="Zorgen over de verhuizing" if rng.random() < 0.5 else None,
        )  # fmt: skip
        refs = [{"consent_ref": f"{registration}/{partner}/{purpose}", "partner": partner,
                 "purpose": purpose, "categories": categories,
                 "valid_until": "2027-12-31"}]  # fmt: skip
        if rng.random() < 0.03:  # a consent given at the visit the registry has not recorded
            other = rng.choice([p for p in PARTNERS if p != partner])
            refs.append({"consent_ref": f"{registration}/{other}/doorverwijzing",
                         "partner": other, "purpose": "doorverwijzing", "categories": [after],
                         "valid_until": "2027-12-31"})  # fmt: skip
        signal.data["consents"] = refs
        events += [
            sample.milestone(unit, "renovatie_gestart", at, realised=sample._day(start),
                             tenant=tenant, street=street),
            signal,
            sample.signal_count(rng.choice(SIGNAL_CATEGORIES), 1, week, at,
                                registration=registration),
            sample.visit_count(week, at, registration=registration),
            given,
            sample.feedback(unit, sample._day(start), at),
        ]  # fmt: skip
        consents.apply("consent.given", given.data, given.id)
        # An older consent of the household, for another partner, from an earlier visit.
        if rng.random() < 0.8:
            older = {
                "consent_id": f"T-{unit}-{old}",
                "tenant_number": tenant,
                "unit_id": unit,
                "partner": rng.choice(PARTNERS),
                "purpose": rng.choice(PURPOSES),
                "registration_id": old,
                "categories": sorted({before, *rng.sample(SIGNAL_CATEGORIES, 2)}),
                "valid_from": sample._day(earlier),
                "valid_until": sample._day(earlier, 365),
                "recorded_on": sample._day(earlier),
            }
            consents.apply("consent.given", older)
            if rng.random() < 0.05:
                consents.apply(
                    "consent.withdrawn",
                    {"consent_id": older["consent_id"], "withdrawn_on": sample._day(earlier, 3)},
                )
    return Night(events, history, units, (start, end), consents)
