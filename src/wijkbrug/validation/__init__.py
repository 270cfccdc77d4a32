"""Nightly batch validation with Great Expectations: the rules a single event cannot show.

The nightly DAG calls :func:`validate_night` with the night's decoded events, earlier events
as context and the project's unit list. Cross-row facts are computed with vectorised pandas
(:mod:`.batch_rules`); the reviewed GX suites in ``expectations/`` check them, together with
plain column checks, and build Data Docs (:mod:`.gx_runner`); :mod:`.summary` writes the
stewards' one-page summary. Failing rows are named by event id only, never by their values.

Great Expectations is imported only when :func:`validate_night` is first used, so the pure
modules (frames, batch rules, summary) stay quick to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wijkbrug.validation.night import ValidationOutcome, units_from_planning, validate_night

__all__ = ["ValidationOutcome", "units_from_planning", "validate_night"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from wijkbrug.validation import night

        return getattr(night, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
