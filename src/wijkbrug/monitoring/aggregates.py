"""Monitoring aggregates: decoded events -> counts and medians per complex, period and dimension.

Pure, no I/O. Only the fields a measure needs are read from an event; unit and registration ids
are used here to join and deduplicate and never leave this module. Events are deduplicated on
their id (re-deliveries), corrections on their source identity (latest event wins).

Attribution:

- **complex**: taken from the event where it has one (milestones, signals, counts). Consent and
  feedback events carry only the unit: its complex comes from the milestones (the unit register,
  decision 4), else from a consented signal of that unit, else :data:`UNKNOWN_COMPLEX`, which
  takes part in the neighbourhood totals like any complex.
- **period**: visit-based measures (visits, signals, referrals) per ISO week of the visit, since
  the de-identified counts carry nothing finer; per month a week counts in the month of its
  Thursday (ISO's own rule for years), so a visit's counted and consented signals always land in
  the same month. Other measures by their own date: ``recorded_on`` (consent given, the
  registry's date, like ``withdrawn_on``), ``withdrawn_on``, feedback ``date``, ``realised_date``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from wijkbrug.codes import MILESTONES, SIGNAL_CATEGORIES
from wijkbrug.monitoring.labels import TOTAL_COMPLEX, TOTAL_DIMENSION, UNKNOWN_COMPLEX
from wijkbrug.partners import load_partners
from wijkbrug.rules import iso_week

if TYPE_CHECKING:
    from wijkbrug.delivery import Incoming

Period = Literal["week", "month"]

#: Count measures, in dashboard order; each one is a table complexes x dimension.
COUNT_MEASURES: tuple[str, ...] = (
    "households_visited",
    "households_with_signal",
    "signals",
    "referrals",
    "consents_given",
    "consents_withdrawn",
    "warm_handovers",
    "units_per_milestone",
)
MEDIAN_MEASURE = "median_days_guest_home"
MEASURE_ORDER: tuple[str, ...] = (*COUNT_MEASURES, MEDIAN_MEASURE)
PARTNER_MEASURES = ("referrals", "consents_given", "consents_withdrawn", "warm_handovers")
CELL_COLUMNS = ["measure", "period", "complex", "dimension", "value"]

WARM_HANDOVER = "warme_overdracht_afgerond"
REALISED = "gerealiseerd"
MOVED_OUT, MOVED_BACK = "verhuisd_logeerwoning", "terug_in_woning"

#: Per event name, the data fields read (``partners``: the partners a signal's consents name).
FIELDS: dict[str, tuple[str, ...]] = {
    "renovation.milestone": ("complex", "unit_id", "milestone", "status", "realised_date"),
    "signal.consented": (
        "complex", "unit_id", "registration_id", "visit_date", "category", "partners",
    ),
    "signal.count": ("complex", "iso_week", "category", "count"),
    "visit.count": ("complex", "iso_week", "count", "with_signal"),
    "consent.given": ("consent_id", "unit_id", "partner", "recorded_on"),
    "consent.withdrawn": ("consent_id", "unit_id", "partner", "withdrawn_on"),
    "partner.feedback": ("feedback_id", "unit_id", "partner", "date", "kind"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Aggregates:
    """Interior count cells (full grid, zeros included) and medians with their unit counts."""

    counts: pd.DataFrame  # CELL_COLUMNS, value int64
    medians: pd.DataFrame  # CELL_COLUMNS + n, value float64, neighbourhood rows included
    latest_event: pd.Timestamp | None  # the newest event time used (UTC), None without events


def read_events(events: Iterable[Incoming]) -> dict[str, pd.DataFrame]:
    """One frame per event name with ``id``, ``time`` and the fields in :data:`FIELDS`.

    Times become UTC (a naive time is taken as UTC); other event names are skipped.
    """
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in FIELDS}
    for event in events:
        fields = FIELDS.get(event.name)
        if fields is None:
            continue
        data = event.data
        values = (_partners(data) if f == "partners" else data.get(f) for f in fields)
        rows[event.name].append((event.id, event.time, *values))
    frames = {}
    for name, fields in FIELDS.items():
        frame = pd.DataFrame.from_records(rows[name], columns=["id", "time", *fields])
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        frames[name] = frame.drop_duplicates("id")
    return frames


def _partners(data: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted({consent["partner"] for consent in data["consents"]}))


def thursday(week: str) -> date:
    """The Thursday of ISO week ``2026-W07``: it decides the week's month (and year)."""
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 4)


def iso_weeks(dates: pd.Series) -> pd.Series:
    """``yyyy-mm-dd`` strings -> ``2026-W07``."""
    iso = pd.to_datetime(dates, format="%Y-%m-%d").dt.isocalendar()
    return iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)


def week_period(weeks: pd.Series, period: Period) -> pd.Series:
    """ISO weeks -> periods; a week's month is the month of its Thursday."""
    if period == "week":
        return weeks.astype(str)
    months = {week: thursday(week).strftime("%Y-%m") for week in weeks.unique()}
    return weeks.map(months).astype(str)


def date_period(dates: pd.Series, period: Period) -> pd.Series:
    """``yyyy-mm-dd`` strings -> ISO week or ``yyyy-mm``."""
    if period == "week":
        return iso_weeks(dates)
    return pd.to_datetime(dates, format="%Y-%m-%d").dt.strftime("%Y-%m").astype(str)


def period_range(periods: Iterable[str], period: Period) -> list[str]:
    """Every period from the first to the last given, gaps included (charts show quiet weeks)."""
    present = sorted(set(periods))
    if not present:
        return []
    if period == "month":
        return [str(p) for p in pd.period_range(present[0], present[-1], freq="M")]
    first, last = thursday(present[0]), thursday(present[-1])
    return [iso_week(first + timedelta(weeks=k)) for k in range((last - first).days // 7 + 1)]


def _latest(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The newest event per source identity (time, then id: independent of arrival order)."""
    return frame.sort_values(["time", "id"]).drop_duplicates(keys, keep="last")


def _tally(
    frame: pd.DataFrame, measure: str, dimension: str | None = None, weight: str | None = None
) -> pd.DataFrame:
    """Cells of one measure: rows per (complex, period[, dimension]), summed or counted."""
    keys = ["complex", "period", *([dimension] if dimension else [])]
    grouped = frame.groupby(keys, sort=False)
    values = grouped[weight].sum() if weight else grouped.size()
    cells = values.rename("value").reset_index()
    if dimension:
        cells = cells.rename(columns={dimension: "dimension"})
    else:
        cells["dimension"] = TOTAL_DIMENSION
    cells["measure"] = measure
    return cells[CELL_COLUMNS]


def unit_register(frames: dict[str, pd.DataFrame]) -> pd.Series:
    """unit -> complex: from the milestones, else from consented signals."""
    from_milestones = _latest(frames["renovation.milestone"], ["unit_id"])
    from_signals = _latest(frames["signal.consented"], ["unit_id"])
    both = pd.concat(
        [from_signals[["unit_id", "complex"]], from_milestones[["unit_id", "complex"]]]
    )
    return both.drop_duplicates("unit_id", keep="last").set_index("unit_id")["complex"]


def _attribute(frame: pd.DataFrame, register: pd.Series) -> pd.DataFrame:
    complexes = frame["unit_id"].map(register).astype(object).fillna(UNKNOWN_COMPLEX)
    return frame.assign(complex=complexes.astype(str))


def _visit_cells(frames: dict[str, pd.DataFrame], period: Period) -> list[pd.DataFrame]:
    """Visits, households with a signal, signals per category, referrals."""
    visits = frames["visit.count"]
    visits = visits.assign(period=week_period(visits["iso_week"], period))
    counted = frames["signal.count"]
    counted = counted.assign(period=week_period(counted["iso_week"], period))
    consented = frames["signal.consented"]
    consented = consented.assign(period=week_period(iso_weeks(consented["visit_date"]), period))

    columns = ["complex", "period", "category", "count"]
    signals = pd.concat([counted[columns], consented.assign(count=1)[columns]])
    # One signal.count event per visit and category: per category its events are distinct
    # visits; a consented signal names its visit. Neither source links the two.
    keys = ["complex", "period"]
    per_category = counted.groupby([*keys, "category"]).size().groupby(level=keys).max()
    with_consent = consented.groupby(keys)["registration_id"].nunique()
    lower_bound = pd.concat([per_category, with_consent], axis=1).fillna(0).max(axis=1)
    # Visits counted since the connector marks ``with_signal`` give the exact number; where a
    # period still has visits without the mark (older events), the certain lower bound serves.
    flagged = visits["with_signal"].notna()
    marked = visits.assign(hit=visits["with_signal"].eq(True).astype("int64") * visits["count"])
    exact = marked.groupby(keys)["hit"].sum()
    complete = flagged.groupby([visits[k] for k in keys]).all()
    index = exact.index.union(lower_bound.index)
    best = exact.reindex(index, fill_value=0).where(
        complete.reindex(index, fill_value=False).astype(bool),
        lower_bound.reindex(index, fill_value=0),
    )
    households = best.astype("int64").rename("n").rename_axis(keys).reset_index()
    referrals = consented.explode("partners").dropna(subset=["partners"])
    return [
        _tally(visits, "households_visited", weight="count"),
        _tally(households, "households_with_signal", weight="n"),
        _tally(signals, "signals", "category", weight="count"),
        _tally(referrals, "referrals", "partners"),
    ]


def _partner_cells(frames: dict[str, pd.DataFrame], period: Period) -> list[pd.DataFrame]:
    """Consents given and withdrawn, warm handovers completed: per partner."""
    register = unit_register(frames)
    cells = []
    for name, day, measure in (
        ("consent.given", "recorded_on", "consents_given"),
        ("consent.withdrawn", "withdrawn_on", "consents_withdrawn"),
    ):
        frame = frames[name].sort_values([day, "id"]).drop_duplicates("consent_id")
        frame = _attribute(frame, register)
        cells.append(
            _tally(frame.assign(period=date_period(frame[day], period)), measure, "partner")
        )
    feedback = frames["partner.feedback"]
    handovers = _latest(feedback[feedback["kind"] == WARM_HANDOVER], ["partner", "feedback_id"])
    handovers = _attribute(handovers, register)
    handovers = handovers.assign(period=date_period(handovers["date"], period))
    cells.append(_tally(handovers, "warm_handovers", "partner"))
    return cells


def _realised(frames: dict[str, pd.DataFrame], period: Period) -> pd.DataFrame:
    """One row per unit and realised milestone (its latest realisation), with its period."""
    milestones = frames["renovation.milestone"]
    done = milestones[(milestones["status"] == REALISED) & milestones["realised_date"].notna()]
    done = _latest(done, ["unit_id", "milestone"])
    return done.assign(period=date_period(done["realised_date"], period))


def guest_home_medians(realised: pd.DataFrame) -> pd.DataFrame:
    """Median days from moving to the guest home to moving back, per complex and neighbourhood."""
    moved = realised.loc[realised["milestone"] == MOVED_OUT].set_index("unit_id")["realised_date"]
    back = realised.loc[realised["milestone"] == MOVED_BACK].set_index("unit_id")
    stays = back[["complex", "period", "realised_date"]].join(moved.rename("moved"), how="inner")
    days = pd.to_datetime(stays["realised_date"], format="%Y-%m-%d") - pd.to_datetime(
        stays["moved"], format="%Y-%m-%d"
    )
    stays = stays.assign(days=days.dt.days.astype("float64"))
    stays = stays[stays["days"] >= 0]
    parts = [
        stays.groupby(["complex", "period"])["days"].agg(["median", "size"]).reset_index(),
        stays.groupby("period")["days"].agg(["median", "size"]).reset_index(),
    ]
    parts[1]["complex"] = TOTAL_COMPLEX
    medians = pd.concat(parts).rename(columns={"median": "value", "size": "n"})
    medians = medians.assign(measure=MEDIAN_MEASURE, dimension=TOTAL_DIMENSION)
    return medians[[*CELL_COLUMNS, "n"]].astype({"value": "float64", "n": "int64"})


def dimensions(measure: str, seen: Iterable[str]) -> list[str]:
    """A measure's dimension values: its whole vocabulary (zeros are published), then extras."""
    if measure == "signals":
        base = list(SIGNAL_CATEGORIES)
    elif measure == "units_per_milestone":
        base = list(MILESTONES)
    elif measure in PARTNER_MEASURES:
        base = [p.id for p in load_partners().values() if p.person_level]
    else:
        return [TOTAL_DIMENSION]
    return base + sorted(set(seen) - set(base))


def _complete(cells: pd.DataFrame, periods: list[str], complexes: list[str]) -> pd.DataFrame:
    """The full grid per measure: every period x every complex x every dimension value."""
    grids = []
    for measure in COUNT_MEASURES:
        seen = cells.loc[cells["measure"] == measure, "dimension"]
        index = pd.MultiIndex.from_product(
            [[measure], periods, complexes, dimensions(measure, seen)], names=CELL_COLUMNS[:4]
        )
        grids.append(index.to_frame(index=False))
    grid = pd.concat(grids, ignore_index=True)
    full = grid.merge(cells, on=CELL_COLUMNS[:4], how="left", validate="one_to_one")
    return full.assign(value=full["value"].fillna(0).astype("int64"))


def aggregate(events: Iterable[Incoming], period: Period = "week") -> Aggregates:
    """Every monitoring measure from the events, before suppression."""
    if period not in ("week", "month"):
        raise ValueError(f"period must be 'week' or 'month', not {period!r}")
    frames = read_events(events)
    realised = _realised(frames, period)
    cells = pd.concat(
        [
            *_visit_cells(frames, period),
            *_partner_cells(frames, period),
            _tally(realised, "units_per_milestone", "milestone"),
        ],
        ignore_index=True,
    )
    medians = guest_home_medians(realised)
    periods = period_range([*cells["period"], *medians["period"]], period)
    complexes = sorted({*cells["complex"], *medians["complex"]} - {TOTAL_COMPLEX})
    counts = _complete(cells, periods, complexes)
    times = [frame["time"] for frame in frames.values() if len(frame)]
    latest = max(t.max() for t in times) if times else None
    return Aggregates(counts, medians.reset_index(drop=True), latest)


def _dimension_ranks() -> dict[str, int]:
    known = (*SIGNAL_CATEGORIES, *MILESTONES, *load_partners())
    return {name: rank for rank, name in enumerate(dict.fromkeys(known))}


def sort_table(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in reading order: measure, period, complex (unknown, then total last), dimension
    (vocabulary order, unknown values by name, total last). Deterministic for any input order."""
    ranks = _dimension_ranks()
    keys = pd.DataFrame(
        {
            "measure": table["measure"].map({m: rank for rank, m in enumerate(MEASURE_ORDER)}),
            "period": table["period"],
            "complex_rank": table["complex"].map({UNKNOWN_COMPLEX: 1, TOTAL_COMPLEX: 2}),
            "complex": table["complex"],
            "dimension_rank": table["dimension"].map({**ranks, TOTAL_DIMENSION: len(ranks) + 1}),
            "dimension": table["dimension"],
        },
        index=table.index,
    ).fillna({"measure": 99, "complex_rank": 0, "dimension_rank": len(ranks)})
    order = keys.sort_values(list(keys.columns), kind="stable").index
    return table.loc[order].reset_index(drop=True)
