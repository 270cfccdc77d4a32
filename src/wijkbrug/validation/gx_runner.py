"""Running the reviewed GX checkpoints of ``expectations/`` on frames: the edge towards GX.

The file context is read from the repository (suites, validation definitions, checkpoints,
the data source); validation results and Data Docs go to the run's output folder, passed to
GX as ``WIJKBRUG_VALIDATION_OUT``. Nothing is written into the context folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # before GX is imported: no network

import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import FileDataContext

from wijkbrug.paths import data_dir
from wijkbrug.validation.results import ExpectationOutcome, SuiteOutcome

OUT_VARIABLE = "WIJKBRUG_VALIDATION_OUT"
SITE = "local_site"
#: Checkpoints of ``expectations/checkpoints``: per row (by event id) and per table.
ROWS, FRESHNESS, DRIFT = "nacht", "versheid", "signaalmix"


class SuiteError(RuntimeError):
    """A suite could not be evaluated as wijkbrug needs (an exception, or partial results)."""


def context_root() -> Path:
    """The GX context folder: ``expectations/`` of the checkout, or packaged with wijkbrug."""
    return data_dir("expectations")


def open_context(out_dir: Path, root: Path | None = None) -> FileDataContext:
    """The file context at ``root`` writing its results and Data Docs under ``out_dir``."""
    out = out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    return gx.get_context(
        mode="file",
        context_root_dir=str(root or context_root()),
        runtime_environment={OUT_VARIABLE: str(out)},
    )


def forget_context() -> None:
    """Let GX forget the context :func:`open_context` made. ``gx.get_context`` keeps the last
    context in a module-level project manager, and with it its data source's batches: a
    night's validated frame and the column results GX cached for it (0.7 GiB at a million
    events) would otherwise stay until the next run."""
    from great_expectations.data_context.data_context.context_factory import project_manager

    project_manager.set_project(None)


def _failing(result: Mapping[str, Any], index_column: str | None) -> tuple[str, ...]:
    """The index-column values of the unexpected rows (GX lists them per row or per column).

    COMPLETE results list every row; SUMMARY only a sample (the table-level checkpoints).
    """
    if index_column is None:
        return ()
    keys: list[str] = []
    listed = result.get("unexpected_index_list")
    if listed is None:
        listed = result.get("partial_unexpected_index_list")
    for item in listed or []:
        value = item.get(index_column) if isinstance(item, dict) else None
        keys.extend(value if isinstance(value, list) else [value])
    return tuple(sorted({str(k) for k in keys if k is not None}))


def _exception(info: Any) -> str | None:
    """The message of an exception GX caught, flat or keyed by metric; None if none was."""
    if not isinstance(info, Mapping):
        return None
    candidates = [info, *(v for v in info.values() if isinstance(v, Mapping))]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            return str(candidate.get("exception_message") or "an exception")
    return None


def _observed(result: Mapping[str, Any]) -> float | None:
    value = result.get("observed_value")
    return float(value) if isinstance(value, int | float) else None


def _expectation(suite: str, evr: Any, index_column: str | None) -> ExpectationOutcome:
    config = evr.expectation_config
    problem = _exception(evr.exception_info)
    if problem is not None:
        column = config.kwargs.get("column")
        raise SuiteError(f"suite {suite}: {config.type} on {column} raised {problem}")
    result = evr.result or {}
    meta = config.meta or {}
    return ExpectationOutcome(
        suite=suite,
        type=config.type,
        column=config.kwargs.get("column"),
        description=config.description or config.type,
        reason=meta.get("reason"),
        field=meta.get("field"),
        success=bool(evr.success),
        element_count=result.get("element_count"),
        unexpected_count=result.get("unexpected_count"),
        observed_value=_observed(result),
        failing=_failing(result, index_column),
    )


def run_checkpoint(
    context: FileDataContext,
    name: str,
    frame: pd.DataFrame,
    *,
    run_id: str,
    run_time: datetime,
    parameters: Mapping[str, Any] | None = None,
) -> list[SuiteOutcome]:
    """Run checkpoint ``name`` on ``frame``; its actions build the Data Docs of the results.

    The row checkpoint must give COMPLETE results keyed by ``event_id`` without values (the
    verdicts come from them, and values may be personal); anything else raises
    :class:`SuiteError`.
    """
    checkpoint = context.checkpoints.get(name)
    result_format = checkpoint.result_format if isinstance(checkpoint.result_format, dict) else {}
    index_columns = result_format.get("unexpected_index_column_names") or [None]
    if name == ROWS and not (
        result_format.get("result_format") == "COMPLETE"
        and index_columns == ["event_id"]
        and result_format.get("exclude_unexpected_values") is True
    ):
        raise SuiteError(
            f"checkpoint {name} must list every failing row by event_id only "
            "(COMPLETE, unexpected_index_column_names [event_id], exclude_unexpected_values)"
        )
    result = checkpoint.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=dict(parameters or {}),
        run_id=RunIdentifier(run_name=run_id, run_time=run_time),
    )
    descriptions = {s.name: (s.meta or {}).get("beschrijving", "") for s in _suites(checkpoint)}
    outcomes = []
    for suite_result in result.run_results.values():
        suite = suite_result.suite_name
        expectations = tuple(
            _expectation(suite, evr, index_columns[0]) for evr in suite_result.results
        )
        outcomes.append(
            SuiteOutcome(
                suite=suite,
                description=descriptions.get(suite, ""),
                rows=len(frame),
                success=bool(suite_result.success),
                expectations=expectations,
            )
        )
    order = [s.name for s in _suites(checkpoint)]
    return sorted(outcomes, key=lambda s: order.index(s.suite))


def _suites(checkpoint: Any) -> list[Any]:
    return [vd.suite for vd in checkpoint.validation_definitions]


def suite_names(context: FileDataContext, checkpoint: str) -> list[str]:
    """The suites a checkpoint validates, in its order."""
    return [s.name for s in _suites(context.checkpoints.get(checkpoint))]


def suite_description(context: FileDataContext, suite: str) -> str:
    """The Dutch description of a suite (its ``meta.beschrijving``)."""
    return (context.suites.get(suite).meta or {}).get("beschrijving", "")


def data_docs_index(context: FileDataContext) -> Path:
    """The Data Docs index page of the run's output folder."""
    (site,) = context.get_docs_sites_urls(site_name=SITE, only_if_exists=False)
    return Path(unquote(urlparse(site["site_url"]).path))
