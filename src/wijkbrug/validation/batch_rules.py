"""Cross-row facts as columns, computed with vectorised pandas; the GX suites then check them.

Pure functions over an :func:`~wijkbrug.validation.frames.event_frame` (the night's rows and
the history given for context). A fact is a nullable boolean: ``<NA>`` where the rule does not
apply (GX skips missing values), and only ever set on the night's rows, so history gives
context but never fails.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from wijkbrug.codes import SIGNAL_CATEGORIES
from wijkbrug.validation.frames import CONNECTORS, UNIT_TYPES, connector_name, days

#: Pairs (earlier, later) of milestones whose realised dates must not be in reverse order.
ORDER: tuple[tuple[str, str], ...] = (
    ("renovatie_gestart", "renovatie_opgeleverd"),
    ("verhuisd_logeerwoning", "terug_in_woning"),
)
STARTED = "renovatie_gestart"
PRE_VISIT = "huisbezoek_vooraf"
#: The window the signal mix of a night is compared with.
DRIFT_WINDOW = timedelta(weeks=4)
#: Pseudo-count per category in the baseline mix, so a category absent for four weeks gives
#: a finite divergence instead of an infinite one.
PSEUDO_COUNT = 0.5
SIGNAL_TYPES = ("signal.consented", "signal.count")


def _fact(frame: pd.DataFrame, *parts: tuple[pd.Index, np.ndarray]) -> pd.Series:
    """A nullable boolean column: ``values`` at the rows of each ``index``, ``<NA>`` elsewhere."""
    values = np.zeros(len(frame), dtype=bool)
    missing = np.ones(len(frame), dtype=bool)
    for index, found in parts:
        positions = frame.index.get_indexer(index)
        values[positions] = found
        missing[positions] = False
    return pd.Series(pd.arrays.BooleanArray(values, missing), index=frame.index)


def isin(values: pd.Series, pool: pd.Series | Collection[str]) -> np.ndarray:
    """``values.isin(pool)`` for text, hashed in Arrow (pandas converts ``pool`` value by value)."""
    column = pa.array(values, type=pa.large_string(), from_pandas=True)
    members = pa.array(pool if isinstance(pool, pd.Series) else list(pool), type=pa.large_string())
    found = pc.is_in(column, value_set=members)
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def id_new(frame: pd.DataFrame) -> pd.Series:
    """Night rows whose event id the history does not hold already."""
    night = frame["in_night"].to_numpy()
    ids = frame["event_id"]
    return _fact(frame, (frame.index[night], ~isin(ids[night], ids[~night])))


def unit_known(frame: pd.DataFrame, units: Collection[str]) -> pd.Series:
    """Night rows naming a unit: is it on the project's unit list? (No unit counts as unknown.)"""
    rows = (frame["in_night"] & frame["event_type"].isin(UNIT_TYPES)).to_numpy()
    return _fact(frame, (frame.index[rows], isin(frame.loc[rows, "unit_id"], units)))


_MILESTONE_COLUMNS = ["time", "in_night", "unit_id", "milestone", "occupied"]


def realised_milestones(frame: pd.DataFrame) -> pd.DataFrame:
    """Realised milestone rows (valid dates only) with their date as ``day``."""
    rows = frame["event_type"].eq("renovation.milestone") & frame["realised_date"].notna()
    realised = frame.loc[rows, _MILESTONE_COLUMNS].assign(
        day=days(frame.loc[rows, "realised_date"])
    )
    return realised[realised["day"].notna()]


def current_realised(done: pd.DataFrame) -> pd.DataFrame:
    """Unit x milestone -> its current realised day: the latest event's (by CloudEvents time).

    Connectors stamp a whole export with one time; among equal times the later day wins, so
    the answer never depends on the order events arrive in.
    """
    latest = done.sort_values(["time", "day"], kind="stable").drop_duplicates(
        ["unit_id", "milestone"], keep="last"
    )
    return latest.pivot(index="unit_id", columns="milestone", values="day")


def _day_of(table: pd.DataFrame, milestone: str, units: pd.Series) -> np.ndarray:
    if milestone not in table.columns:
        return np.full(len(units), np.datetime64("NaT"), dtype="datetime64[s]")
    return table[milestone].reindex(units.to_numpy()).to_numpy()


def milestone_order(frame: pd.DataFrame) -> pd.Series:
    """Night rows realising a milestone of :data:`ORDER`: consistent with the unit's other one?

    The other milestone's date is its current realised date (:func:`current_realised`, over
    history and night). A later milestone needs its earlier one realised on or before its own
    date; an earlier one must not come after a realised later one.
    """
    done = realised_milestones(frame)
    current = current_realised(done)
    night = done[done["in_night"]]
    parts = []
    for earlier, later in ORDER:
        rows = night[night["milestone"].eq(later)]
        before = _day_of(current, earlier, rows["unit_id"])
        parts.append((rows.index, pd.notna(before) & (before <= rows["day"].to_numpy())))
        rows = night[night["milestone"].eq(earlier)]
        after = _day_of(current, later, rows["unit_id"])
        parts.append((rows.index, pd.isna(after) | (after >= rows["day"].to_numpy())))
    return _fact(frame, *parts)


def visit_evidence(frame: pd.DataFrame) -> pd.Series:
    """First day per unit with evidence of a home visit (history and night).

    Evidence: a realised ``huisbezoek_vooraf`` in the planning; a ``signal.consented`` (a visit
    registration, dated by its visit date); a ``consent.given`` that names a visit registration
    (dated by its start). ``visit.count`` and ``signal.count`` carry no unit, so they cannot
    vouch for one.
    """
    done = realised_milestones(frame)
    planned_visits = done.loc[done["milestone"].eq(PRE_VISIT), ["unit_id", "day"]]
    registered = frame["event_type"].eq("signal.consented") | (
        frame["event_type"].eq("consent.given") & frame["has_registration"]
    )
    visits = pd.DataFrame(
        {
            "unit_id": frame.loc[registered, "unit_id"],
            "day": days(frame.loc[registered, "event_date"]),
        }
    )
    evidence = pd.concat([planned_visits, visits]).dropna()
    return evidence.groupby("unit_id")["day"].min()


def pre_visit(frame: pd.DataFrame) -> pd.Series:
    """Night rows realising ``renovatie_gestart`` for an occupied home: visited on or before?

    A vacant home (no tenant in the planning row) has no one to visit and is not checked.
    """
    done = realised_milestones(frame)
    starts = done[done["in_night"] & done["milestone"].eq(STARTED) & done["occupied"]]
    first = visit_evidence(frame).reindex(starts["unit_id"].to_numpy()).to_numpy()
    return _fact(frame, (starts.index, pd.notna(first) & (first <= starts["day"].to_numpy())))


def with_facts(frame: pd.DataFrame, units: Collection[str]) -> pd.DataFrame:
    """``frame`` plus the fact columns the batch-rule suite checks."""
    return frame.assign(
        id_new=id_new(frame),
        unit_known=unit_known(frame, units),
        order_ok=milestone_order(frame),
        previsit_ok=pre_visit(frame),
    )


def freshness(
    frame: pd.DataFrame, end: datetime, last_seen: Mapping[str, datetime] | None = None
) -> pd.DataFrame:
    """One row per connector: when it last delivered and how many hours before ``end``.

    Last delivery is the latest CloudEvents time among its events (a quarantine record counts
    for the connector that wrote it), or the caller's ``last_seen`` if later. Keys of
    ``last_seen`` are connector names or CloudEvents sources. Never delivered: no age (NaN).
    """
    latest = frame.groupby("connector")["time"].max().to_dict()  # rows without one: left out
    for key, seen in (last_seen or {}).items():
        name = connector_name(key)
        if name not in CONNECTORS:
            raise ValueError(f"last_seen names no known connector: {key}")
        if seen.tzinfo is None:
            raise ValueError("last_seen times must be timezone-aware")
        latest[name] = max(latest.get(name, seen.timestamp()), seen.timestamp())
    stamps = pd.Series([latest.get(name, np.nan) for name in CONNECTORS], dtype="float64")
    seen_at = pd.to_datetime(stamps, unit="s", utc=True)
    return pd.DataFrame(
        {
            "connector": pd.Series(CONNECTORS, dtype="str"),
            "last_seen": seen_at.dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype("str"),
            "age_hours": ((end.timestamp() - stamps) / 3600).round(2),
        }
    )


@dataclass(frozen=True, slots=True)
class SignalMix:
    """Signals per category tonight and in the baseline window, in :data:`SIGNAL_CATEGORIES`."""

    night: tuple[int, ...]
    baseline: tuple[int, ...]

    @property
    def night_total(self) -> int:
        return sum(self.night)

    @property
    def baseline_total(self) -> int:
        return sum(self.baseline)

    def kl_threshold(self, drift_threshold: float) -> float:
        """``drift_threshold`` plus the divergence chance alone gives with these signal counts.

        Two samples of one mix differ by chance: 2 x n x KL (the G statistic) is about
        chi-square with categories - 1 degrees of freedom, so the expected divergence is about
        (categories - 1) / 2 x (1 / night signals + 1 / baseline signals). The threshold is the
        drift beyond that.
        """
        night, baseline = max(self.night_total, 1), max(self.baseline_total, 1)
        return drift_threshold + (len(self.night) - 1) / 2 * (1 / night + 1 / baseline)

    def partition(self) -> dict[str, list]:
        """The baseline as a GX categorical partition object (smoothed, weights sum to one)."""
        smoothed = [count + PSEUDO_COUNT for count in self.baseline]
        total = sum(smoothed)
        return {"values": list(SIGNAL_CATEGORIES), "weights": [w / total for w in smoothed]}


def _category_counts(rows: pd.DataFrame) -> tuple[int, ...]:
    counts = rows.groupby("category")["weight"].sum()
    return tuple(int(counts.get(category, 0)) for category in SIGNAL_CATEGORIES)


def _signals(frame: pd.DataFrame) -> pd.DataFrame:
    """The signal rows, in the columns the mix needs only (not a copy of the whole frame)."""
    rows = frame["event_type"].isin(SIGNAL_TYPES) & frame["category"].notna()
    return frame.loc[rows, ["category", "weight", "in_night", "time"]]


def signal_mix(frame: pd.DataFrame, start: datetime) -> SignalMix:
    """Tonight's signals against the history's signals of the four weeks before ``start``.

    A ``signal.count`` counts with its count; history is placed by its CloudEvents time.
    """
    signals = _signals(frame)
    night = signals[signals["in_night"]]
    since, until = (start - DRIFT_WINDOW).timestamp(), start.timestamp()
    history = signals[~signals["in_night"]]
    window = history[(history["time"] >= since) & (history["time"] < until)]
    return SignalMix(_category_counts(night), _category_counts(window))


def night_signals(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per signal of the night (a count repeated by its count): the drift suite's frame."""
    night = _signals(frame)
    night = night[night["in_night"]]
    categories = np.repeat(night["category"].to_numpy(), night["weight"].to_numpy())
    return pd.DataFrame({"category": pd.Series(categories, dtype="str")})
