"""The renovatietrein: planned and realised milestone dates for every unit, as planning rows.

Groups of twelve homes (one floor of one flat) start every week or two from September 2025.
All randomness is drawn independently of ``as_of``: a later ``as_of`` only realises more rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from random import Random

from wijkbrug.codes import MILESTONES
from wijkbrug.synth.dates import add_days, format_date, pick_format, workday
from wijkbrug.synth.population import PROJECT, UNITS_PER_FLOOR, Unit

FIRST_START = date(2025, 9, 1)
_CHRISTMAS = (date(2025, 12, 19), date(2026, 1, 4))
#: Milestones that need the resident; a vacant home never realises them.
RESIDENT_MILESTONES = frozenset(
    {
        "huisbezoek_vooraf",
        "planning_gecommuniceerd",
        "verhuisd_logeerwoning",
        "terug_in_woning",
        "afrondend_huisbezoek",
    }
)
VISIT_MILESTONES = ("huisbezoek_vooraf", "afrondend_huisbezoek")
_REPLANNABLE = (
    "huisbezoek_vooraf",
    "planning_gecommuniceerd",
    "renovatie_gestart",
    "renovatie_opgeleverd",
    "afrondend_huisbezoek",
)
STAYS_HOME = "blijft thuis tijdens renovatie"
_STAYED_HOME = "n.v.t., bewoner bleef thuis"
_VACANT = "leegstaande woning, geen huisbezoek"
_REPLAN_REMARKS = (
    "verplaatst op verzoek bewoner",
    "verplaatst i.v.m. ziekte",
    "nieuwe datum; aannemer loopt achter",
    'verplaatst, "bewoner was niet thuis"',
)
#: Free-text remarks a planner sometimes adds, per milestone. All encodable in cp1252.
_REMARKS: dict[str, tuple[str, ...]] = {
    "huisbezoek_vooraf": (
        "Afspraak via dochter; spreekt beperkt Nederlands",
        "Tolk geregeld (Arabisch)",
        "Na 14:00 uur thuis, niet op vrijdag",
        "Hond aanwezig, graag aanbellen",
    ),
    "planning_gecommuniceerd": (
        "Brief en sms verstuurd",
        'Bewoner wil "zo snel mogelijk" terug',
        "Planning besproken met zoon, bewoner akkoord",
    ),
    "berging_leeg": (
        "Sleutel bij buren; bellen voor 10 uur",
        "Berging deels leeg, rest door aannemer",
        "Extra dozen geleverd; 12 stuks",
    ),
    "verhuisd_logeerwoning": (
        "Logeerwoning op 3e etage, lift werkt",
        "Verhuizing met hulp van bewonersverbinder",
    ),
    "renovatie_gestart": (
        'Meterkast "op slot", sleutel bij beheerder',
        "Asbestinventarisatie akkoord",
    ),
    "renovatie_opgeleverd": (
        "Opgeleverd, restpunten: kitwerk, deur toilet",
        "Eén restpunt; keukenlade",
    ),
    "terug_in_woning": (
        "Terug; bewoner tevreden",
        "Verhuisbus 8:30 uur",
    ),
    "afrondend_huisbezoek": (
        "Samen met medewerker DOCK",
        "Bewonersverbinder mee; warme overdracht",
    ),
}


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One row of the planning export, with the formatting choices of the export."""

    unit: Unit
    milestone: str
    planned: date
    realised: date | None
    remark: str
    postcode_text: str
    planned_style: str
    realised_style: str

    def fields(self) -> list[str]:
        """The twelve fields in header order."""
        u = self.unit
        return [
            PROJECT,
            u.complex,
            u.vhe,
            u.street,
            str(u.number),
            u.addition,
            self.postcode_text,
            u.tenant or "",
            self.milestone,
            format_date(self.planned, self.planned_style),
            format_date(self.realised, self.realised_style) if self.realised else "",
            self.remark,
        ]

    @property
    def identity(self) -> tuple[str, str, date, date | None]:
        """What makes two rows the same record: (vhe, mijlpaal, gepland, gerealiseerd)."""
        return (self.unit.vhe, self.milestone, self.planned, self.realised)


def _postcode_text(postcode: str, rng: Random) -> str:
    style = rng.choices(range(4), (80, 12, 4, 4))[0]
    digits, letters = postcode[:4], postcode[4:]
    return (
        postcode,
        f"{digits} {letters}",
        f"{digits} {letters.lower()}",
        f"{digits}{letters.lower()}",
    )[style]


def _group_starts(groups: int, rng: Random) -> list[date]:
    """Monday on which each group of twelve homes starts; a new flat adds a week's pause."""
    starts: list[date] = []
    start = add_days(FIRST_START, 7 * rng.randint(0, 2))
    groups_per_flat = groups // 4
    for group in range(groups):
        if group:
            start = add_days(start, rng.choices((7, 14), (6, 4))[0])
            if group % groups_per_flat == 0:
                start = add_days(start, 7)
            if _CHRISTMAS[0] <= start <= _CHRISTMAS[1]:
                start = date(2026, 1, 5)
        starts.append(start)
    return starts


def _planned_dates(start: date, rng: Random) -> list[date]:
    """Planned date per milestone (MILESTONES order) around the renovation start."""
    begin = workday(add_days(start, rng.randint(0, 4)))
    visit = workday(add_days(begin, -rng.randint(35, 56)))
    told = workday(add_days(begin, -rng.randint(21, 28)))
    storage = workday(add_days(begin, -rng.randint(3, 7)))
    moved = workday(add_days(begin, -rng.randint(0, 1)))
    weeks = rng.choices((5, 6, 7, 8), (2, 5, 2, 1))[0]
    done = workday(add_days(begin, 7 * weeks + rng.randint(-2, 2)))
    back = workday(add_days(done, rng.randint(1, 4)))
    final = workday(add_days(back, rng.randint(14, 35)))
    return [visit, told, storage, moved, begin, done, back, final]


def _unit_rows(unit: Unit, start: date, as_of: date, rng: Random) -> list[PlanRow]:
    planned = _planned_dates(start, rng)
    offsets = rng.choices((0, -1, -2, 1, 2, 3, 5), (70, 4, 2, 10, 7, 4, 3), k=len(MILESTONES))
    stays_home = unit.household is not None and rng.random() < 0.03
    replan = rng.choice(_REPLANNABLE) if rng.random() < 0.05 else None
    replan_delta = rng.randint(7, 21)
    replan_remark = rng.choice(_REPLAN_REMARKS)
    remarks = [rng.choice(_REMARKS[m]) if rng.random() < 0.07 else "" for m in MILESTONES]
    styles = [(pick_format(rng), pick_format(rng), pick_format(rng)) for _ in MILESTONES]
    postcodes = [_postcode_text(unit.postcode, rng) for _ in range(len(MILESTONES) + 1)]

    old_planned: date | None = None
    if replan is not None:
        k = MILESTONES.index(replan)
        old_planned = planned[k]
        planned[k:] = [workday(add_days(day, replan_delta)) for day in planned[k:]]

    rows: list[PlanRow] = []
    previous: date | None = None
    stopped = False
    for i, milestone in enumerate(MILESTONES):
        remark = remarks[i]
        skipped = unit.household is None and milestone in RESIDENT_MILESTONES
        if unit.household is None and milestone in VISIT_MILESTONES:
            remark = _VACANT
        if stays_home and milestone == "verhuisd_logeerwoning":
            skipped, remark = True, STAYS_HOME
        elif stays_home and milestone == "terug_in_woning":
            skipped, remark = True, _STAYED_HOME
        realised: date | None = None
        if not skipped:
            candidate = workday(add_days(planned[i], offsets[i]))
            candidate = max(candidate, previous) if previous else candidate
            if not stopped and candidate <= as_of:
                realised = previous = candidate
            else:
                stopped = True
        planned_style, realised_style, old_style = styles[i]
        if milestone == replan and old_planned is not None:
            rows.append(
                PlanRow(
                    unit,
                    milestone,
                    old_planned,
                    None,
                    replan_remark,
                    postcodes[-1],
                    old_style,
                    realised_style,
                )
            )
        rows.append(
            PlanRow(
                unit,
                milestone,
                planned[i],
                realised,
                remark,
                postcodes[i],
                planned_style,
                realised_style,
            )
        )
    return rows


def build_planning(units: list[Unit], seed: int, as_of: date) -> list[PlanRow]:
    """Every planning row, unit by unit in renovation order, milestones in order."""
    rng = Random(f"wijkbrug/{seed}/planning")
    starts = _group_starts(len(units) // UNITS_PER_FLOOR, rng)
    rows: list[PlanRow] = []
    for index, unit in enumerate(units):
        rows.extend(_unit_rows(unit, starts[index // UNITS_PER_FLOOR], as_of, rng))
    return rows
