"""The entry point of the nightly batch validation: the night's events in, verdicts out."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wijkbrug.delivery import Incoming
from wijkbrug.reasons import Reason
from wijkbrug.validation import batch_rules, frames, gx_runner, summary
from wijkbrug.validation.results import SuiteOutcome

_RUN_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")
DRIFT_THRESHOLD = 0.1
DRIFT_MIN_SIGNALS = 50
MAX_AGE_HOURS = 26.0


@dataclass(frozen=True, slots=True)
class ValidationOutcome:
    """What a run found. Event ids are sorted; a failing id lists every reason it failed for."""

    run_id: str
    interval: tuple[datetime, datetime]
    rows: Mapping[str, int]
    passed: tuple[str, ...]
    failed: Mapping[str, tuple[Reason, ...]]
    suites: tuple[SuiteOutcome, ...]
    skipped: Mapping[str, str]
    freshness: tuple[Mapping[str, Any], ...]
    drift: Mapping[str, Any]
    data_docs: Path
    summary_html: Path
    summary_json: Path

    @property
    def success(self) -> bool:
        """No row failed and every suite that ran (table-level ones too) succeeded."""
        return not self.failed and all(s.success for s in self.suites)

    def suite(self, name: str) -> SuiteOutcome:
        return next(s for s in self.suites if s.suite == name)


def units_from_planning(events: Sequence[Incoming]) -> set[str]:
    """The project's unit list: every unit the planning's milestone events name."""
    return {e.data["unit_id"] for e in events if e.name == "renovation.milestone"}


def _check_arguments(run_id: str, interval: tuple[datetime, datetime]) -> None:
    if not _RUN_ID.match(run_id):
        raise ValueError("run_id must be 1-128 of [0-9A-Za-z._-], starting alphanumeric")
    start, end = interval
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("interval must be timezone-aware")
    if end < start:
        raise ValueError("interval ends before it starts")


def _earlier(history: Sequence[Incoming], night: Sequence[Incoming]) -> list[Incoming]:
    """History without the night's own events (same id and time), if the caller included them."""
    ids = {e.id for e in night}
    overlap = {e.id for e in history if e.id in ids}
    if not overlap:
        return list(history)
    tonight = {(e.id, e.time) for e in night if e.id in overlap}
    return [e for e in history if (e.id, e.time) not in tonight]


def _earlier_block(
    block: pd.DataFrame, night: Sequence[Incoming], night_block: pd.DataFrame | None
) -> pd.DataFrame:
    """:func:`_earlier` for a history given as frame rows (the night as events, or rows)."""
    if not len(block):
        return block
    ids = [e.id for e in night]
    if night_block is not None:
        ids += night_block["event_id"].tolist()
    overlap = batch_rules.isin(block["event_id"], ids)
    if not overlap.any():
        return block
    tonight = {(e.id, e.time.timestamp()) for e in night}
    if night_block is not None:
        tonight |= set(zip(night_block["event_id"], night_block["time"], strict=True))
    pairs = zip(block["event_id"][overlap], block["time"][overlap], strict=True)
    again = np.zeros(len(block), dtype=bool)
    again[np.flatnonzero(overlap)] = [pair in tonight for pair in pairs]
    return block[~again]


def _verdicts(
    night_ids: pd.Series, suites: Sequence[SuiteOutcome]
) -> tuple[tuple[str, ...], dict[str, tuple[Reason, ...]]]:
    reasons: dict[str, set[Reason]] = {}
    for suite in suites:
        for expectation in suite.expectations:
            if expectation.reason is None:
                continue
            reason = Reason(expectation.reason, expectation.field)
            for event_id in expectation.failing:
                reasons.setdefault(event_id, set()).add(reason)
    ordered: dict[frozenset[Reason], tuple[Reason, ...]] = {}  # one sort per combination
    failed = {}
    for event_id, found in sorted(reasons.items()):
        key = frozenset(found)
        if key not in ordered:
            ordered[key] = tuple(sorted(key, key=lambda r: (r.code, r.field or "")))
        failed[event_id] = ordered[key]
    ids = night_ids.dropna().drop_duplicates()
    passed = ids[~batch_rules.isin(ids, list(failed))].sort_values()
    return tuple(passed.tolist()), failed


def _freshness(table: pd.DataFrame, suites: Sequence[SuiteOutcome]) -> tuple[dict, ...]:
    stale = {key for s in suites for e in s.expectations for key in e.failing}
    return tuple(
        {
            "connector": row.connector,
            "laatst_geleverd": None if pd.isna(row.last_seen) else row.last_seen,
            "uren_geleden": None if pd.isna(row.age_hours) else float(row.age_hours),
            "status": "verouderd" if row.connector in stale else "vers",
        }
        for row in table.itertuples()
    )


def _dutch(number: float) -> str:
    """``0,1666``: four significant decimals with a decimal comma."""
    return f"{number:.4g}".replace(".", ",")


def _drift(
    mix: batch_rules.SignalMix, suites: Sequence[SuiteOutcome], threshold: float, minimum: int
) -> dict[str, Any]:
    base = {
        "signalen_nacht": mix.night_total,
        "signalen_vier_weken_ervoor": mix.baseline_total,
        "drift_drempel": threshold,
        "drempel_kl": round(mix.kl_threshold(threshold), 6),
        "minimum_signalen": minimum,
    }
    if not suites:
        return base | {
            "status": "niet beoordeeld",
            "kl_divergentie": None,
            "toelichting": (
                f"te weinig signalen om te vergelijken ({mix.night_total} in de nacht, "
                f"{mix.baseline_total} in de vier weken ervoor; minimaal {minimum} elk)"
            ),
        }
    (expectation,) = [e for s in suites for e in s.expectations]
    divergence = expectation.observed_value
    shown = "oneindig" if divergence is None else _dutch(divergence)
    return base | {
        "status": "geslaagd" if expectation.success else "mislukt",
        "kl_divergentie": divergence,
        "toelichting": (
            f"KL-divergentie {shown} tegen drempel {_dutch(base['drempel_kl'])}: "
            f"drift {_dutch(threshold)} "
            f"plus het toeval bij {mix.night_total} signalen in de nacht en "
            f"{mix.baseline_total} in de vier weken ervoor"
        ),
    }


def validate_night(
    events: Sequence[Incoming] = (),
    *,
    night_block: pd.DataFrame | None = None,
    history: Sequence[Incoming] = (),
    history_block: pd.DataFrame | None = None,
    units: Collection[str],
    run_id: str,
    interval: tuple[datetime, datetime],
    out_dir: Path,
    last_seen: Mapping[str, datetime] | None = None,
    drift_threshold: float = DRIFT_THRESHOLD,
    drift_min_signals: int = DRIFT_MIN_SIGNALS,
    max_age_hours: float = MAX_AGE_HOURS,
    gx_root: Path | None = None,
) -> ValidationOutcome:
    """Validate a night's decoded events with the GX suites of ``expectations/``.

    ``history`` (earlier events) is context for the batch rules: milestone order, pre-visit,
    ids delivered before, the signal mix of the four weeks before ``interval[0]``; only the
    night's events can fail. ``night_block`` and ``history_block`` give the night (besides or
    instead of ``events``) and the history as frame rows instead
    (:func:`~wijkbrug.validation.frames.row_block`), read without holding their events; pass
    them without keeping a reference (``Read.take_block()``), so they are let go once the frame
    is made, before Great Expectations runs.
    ``units`` is the project's unit list (see :func:`units_from_planning`). Freshness is
    measured to ``interval[1]``: every connector must have delivered within ``max_age_hours``;
    ``last_seen`` (connector name or CloudEvents source -> time) adds deliveries the events do
    not show. Validation results, Data Docs and the summary are written under ``out_dir``;
    ``gx_root`` replaces ``expectations/``.
    """
    _check_arguments(run_id, interval)
    start, end = interval
    earlier = _earlier(history, events)
    if night_block is not None and earlier:
        tonight = set(zip(night_block["event_id"], night_block["time"], strict=True))
        earlier = [e for e in earlier if (e.id, e.time.timestamp()) not in tonight]
    block = None
    if history_block is not None:
        block = _earlier_block(history_block, events, night_block)
    del history_block
    history_rows = len(earlier) + (0 if block is None else len(block))
    frame = frames.event_frame(events, earlier, history_block=block, night_block=night_block)
    del earlier, block, night_block
    # Everything the table suites need first, so the whole frame is gone before GX runs.
    table = batch_rules.freshness(frame, end, last_seen)
    mix = batch_rules.signal_mix(frame, start)
    check_drift = min(mix.night_total, mix.baseline_total) >= drift_min_signals
    signals = batch_rules.night_signals(frame) if check_drift else None
    night_rows = frames.gx_frame(batch_rules.with_facts(frame, units))
    del frame

    context = gx_runner.open_context(out_dir, gx_root)
    try:
        run = {"run_id": run_id, "run_time": end}
        row_suites = gx_runner.run_checkpoint(context, gx_runner.ROWS, night_rows, **run)
        fresh = gx_runner.run_checkpoint(
            context, gx_runner.FRESHNESS, table, parameters={"max_age_hours": max_age_hours}, **run
        )
        skipped: dict[str, str] = {}
        drift: list[SuiteOutcome] = []
        if check_drift:
            parameters = {
                "baseline_mix": mix.partition(),
                "kl_threshold": mix.kl_threshold(drift_threshold),
            }
            drift = gx_runner.run_checkpoint(
                context, gx_runner.DRIFT, signals, parameters=parameters, **run
            )
        else:
            for name in gx_runner.suite_names(context, gx_runner.DRIFT):
                skipped[name] = gx_runner.suite_description(context, name)

        passed, failed = _verdicts(night_rows["event_id"], row_suites)
        suites = (*row_suites, *fresh, *drift)
        counts = night_rows["event_type"].value_counts().sort_index()
        docs = gx_runner.data_docs_index(context)
        doc = summary.summary_document(
            run_id=run_id,
            interval=(start.isoformat(), end.isoformat()),
            rows={str(k): int(v) for k, v in counts.items()},
            history_rows=history_rows,
            suites=suites,
            skipped=skipped,
            passed=len(passed),
            failed=failed,
            freshness=_freshness(table, fresh),
            drift=_drift(mix, drift, drift_threshold, drift_min_signals),
            data_docs=os.path.relpath(docs, out_dir.resolve() / summary.SUMMARY_DIR),
        )
        html_path, json_path = summary.write_summary(doc, out_dir)
        return ValidationOutcome(
            run_id=run_id,
            interval=interval,
            rows=doc["gecontroleerd"]["rijen_per_gebeurtenistype"],
            passed=passed,
            failed=failed,
            suites=suites,
            skipped=skipped,
            freshness=doc["versheid"],
            drift=doc["signaalmix"],
            data_docs=docs,
            summary_html=html_path,
            summary_json=json_path,
        )
    finally:
        gx_runner.forget_context()
