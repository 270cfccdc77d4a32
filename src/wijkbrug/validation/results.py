"""What a validation run reports per suite and expectation: ids and counts, never values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExpectationOutcome:
    """One expectation's result, reduced to what wijkbrug reports (no values, only ids)."""

    suite: str
    type: str
    column: str | None
    description: str
    reason: str | None
    field: str | None
    success: bool
    element_count: int | None
    unexpected_count: int | None
    observed_value: float | None
    failing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SuiteOutcome:
    """One suite's run: its statistics and its expectations, in suite-file order."""

    suite: str
    description: str
    rows: int
    success: bool
    expectations: tuple[ExpectationOutcome, ...]

    @property
    def evaluated(self) -> int:
        return len(self.expectations)

    @property
    def successful(self) -> int:
        return sum(e.success for e in self.expectations)

    @property
    def failing_rows(self) -> int:
        return len({key for e in self.expectations for key in e.failing})
