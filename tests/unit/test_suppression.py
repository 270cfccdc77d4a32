"""Small-cell suppression: properties over random tables, a planted broken suppressor, cases.

The recoverability check here is written independently of the implementation: it rebuilds the
additivity equations from the published long table's labels and asks numpy, cell by cell,
whether the cell's unit vector lies in the row space of the equations restricted to the
suppressed cells (then the published cells would pin it down exactly).
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from wijkbrug.monitoring.labels import TOTAL_COMPLEX, TOTAL_DIMENSION
from wijkbrug.monitoring.suppression import suppress_counts, suppress_medians, suppress_table

Suppressor = Callable[[pd.DataFrame, int], pd.DataFrame]
KEYS = ["measure", "period", "complex", "dimension"]


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, int]:
    """Interior counts of one measure for one or two periods: complexes x dimension values.

    Zero dimension values stand for a measure without breakdown (its only value is ``totaal``).
    """
    threshold = draw(st.sampled_from([3, 5, 10]))
    complexes = [f"CPX-{i}" for i in range(draw(st.integers(1, 5)))]
    width = draw(st.integers(0, 6))
    dims = [f"d{j}" for j in range(width)] or [TOTAL_DIMENSION]
    count = st.one_of(st.just(0), st.integers(1, threshold - 1), st.integers(threshold, 400))
    rows = [
        ("m", f"2026-W0{p + 1}", c, d, draw(count))
        for p in range(draw(st.integers(1, 2)))
        for c in complexes
        for d in dims
    ]
    order = draw(st.permutations(range(len(rows))))
    return pd.DataFrame([rows[i] for i in order], columns=[*KEYS, "value"]), threshold


def true_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The interior cells with every margin, computed here with plain pandas."""
    parts = [cells]
    only_total = cells["dimension"].eq(TOTAL_DIMENSION).groupby([cells["measure"], cells["period"]])
    scalar = only_total.transform("all")
    breakdown = cells[~scalar]
    per_complex = breakdown.groupby(["measure", "period", "complex"], as_index=False)["value"].sum()
    parts.append(per_complex.assign(dimension=TOTAL_DIMENSION))
    with_totals = pd.concat(parts, ignore_index=True)
    per_dim = with_totals.groupby(["measure", "period", "dimension"], as_index=False)["value"].sum()
    return pd.concat([with_totals, per_dim.assign(complex=TOTAL_COMPLEX)], ignore_index=True)


def primary_only(cells: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """A planted broken suppressor: small cells only, no complements."""
    table = true_table(cells)
    small = (table["value"] > 0) & (table["value"] < threshold)
    value = pd.array(table["value"].astype("float64"), dtype="Float64")
    value[small.to_numpy()] = pd.NA
    return table.assign(value=value, suppressed=small, suppression=np.where(small, "primair", ""))


def recoverable(published: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """Suppressed cells the published cells and the margin equations determine exactly."""
    found = []
    for (measure, period), block in published.groupby(["measure", "period"]):
        labels = zip(block["complex"], block["dimension"], strict=True)
        index = {(c, d): k for k, (c, d) in enumerate(labels)}
        complexes = sorted(set(block["complex"]) - {TOTAL_COMPLEX})
        dims = sorted(set(block["dimension"]) - {TOTAL_DIMENSION})
        equations = []
        if dims:  # each row (complexes and the neighbourhood) sums to its total column
            for c in [*complexes, TOTAL_COMPLEX]:
                eq = np.zeros(len(index))
                eq[[index[c, d] for d in dims]] = 1
                eq[index[c, TOTAL_DIMENSION]] = -1
                equations.append(eq)
        for d in [*dims, TOTAL_DIMENSION]:  # each column sums to the neighbourhood row
            eq = np.zeros(len(index))
            eq[[index[c, d] for c in complexes]] = 1
            eq[index[TOTAL_COMPLEX, d]] = -1
            equations.append(eq)
        hidden = [
            index[c, d] for c, d, s in block[["complex", "dimension", "suppressed"]].values if s
        ]
        if not hidden:
            continue
        system = np.array(equations)[:, hidden]
        rank = np.linalg.matrix_rank(system)
        for position, k in enumerate(hidden):
            unit = np.zeros((1, len(hidden)))
            unit[0, position] = 1
            if np.linalg.matrix_rank(np.vstack([system, unit])) == rank:
                c, d = next(key for key, value in index.items() if value == k)
                found.append((measure, period, c, d))
    return found


@settings(max_examples=100)
@given(tables())
def test_no_published_cell_is_small(case: tuple[pd.DataFrame, int]) -> None:
    cells, threshold = case
    published = suppress_counts(cells, threshold)
    shown = published.loc[~published["suppressed"], "value"]
    assert shown.notna().all()
    assert not ((shown > 0) & (shown < threshold)).any()
    assert published.loc[published["suppressed"], "value"].isna().all()


@settings(max_examples=200)
@given(tables())
def test_no_suppressed_cell_is_recoverable(case: tuple[pd.DataFrame, int]) -> None:
    cells, threshold = case
    assert recoverable(suppress_counts(cells, threshold)) == []


@settings(max_examples=120)
@given(tables())
def test_published_values_are_the_true_values(case: tuple[pd.DataFrame, int]) -> None:
    cells, threshold = case
    truth = true_table(cells)
    expected = dict(
        zip(truth[KEYS].itertuples(index=False, name=None), truth["value"], strict=True)
    )
    published = suppress_counts(cells, threshold)
    rows = published[[*KEYS, "value", "suppressed", "suppression"]].itertuples(index=False)
    seen = set()
    for *labels, value, suppressed, suppression in rows:
        key = tuple(labels)
        seen.add(key)
        true = expected[key]
        if suppressed:  # zeros are never suppressed; small cells are the primary ones
            assert pd.isna(value) and true > 0
            assert suppression == ("primair" if true < threshold else "secundair")
        else:
            assert value == true and suppression == ""
    assert seen == set(expected) and len(published) == len(expected)


@settings(max_examples=60)
@given(tables(), st.randoms(use_true_random=False))
def test_suppression_is_deterministic(case: tuple[pd.DataFrame, int], rng: Random) -> None:
    cells, threshold = case
    first = suppress_counts(cells, threshold)
    shuffled = cells.sample(frac=1, random_state=rng.randrange(2**32)).reset_index(drop=True)
    pd.testing.assert_frame_equal(first, suppress_counts(cells, threshold))
    pd.testing.assert_frame_equal(first, suppress_counts(shuffled, threshold))


def test_the_recoverability_property_catches_a_primary_only_suppressor() -> None:
    # No shrinking: the point is that a counterexample is found, not the smallest one.
    @settings(max_examples=200, database=None, phases=[Phase.generate], report_multiple_bugs=False)
    @given(tables())
    def primary_only_is_safe(case: tuple[pd.DataFrame, int]) -> None:
        cells, threshold = case
        assert recoverable(primary_only(cells, threshold)) == []

    with pytest.raises(AssertionError, match=r"assert \[\('m', "):
        primary_only_is_safe()


def _cells(grid: list[list[int]], dims: list[str] | None = None) -> pd.DataFrame:
    dims = dims or [f"d{j}" for j in range(len(grid[0]))]
    return pd.DataFrame(
        [
            ("m", "2026-W07", f"CPX-{i}", dims[j], value)
            for i, row in enumerate(grid)
            for j, value in enumerate(row)
        ],
        columns=[*KEYS, "value"],
    )


def test_primary_only_leaks_a_cell_the_real_suppressor_protects() -> None:
    cells = _cells([[5, 20], [30, 40]])
    assert recoverable(primary_only(cells, 10)) == [("m", "2026-W07", "CPX-0", "d0")]
    assert recoverable(suppress_counts(cells, 10)) == []


def test_complements_are_the_smallest_cells_that_protect() -> None:
    full, status = suppress_table(np.array([[5, 20, 30], [12, 40, 3], [15, 15, 15]]), 10)
    assert full.tolist() == [[5, 20, 30, 55], [12, 40, 3, 55], [15, 15, 15, 45], [32, 75, 48, 155]]
    # 5 and 3 are small; 12 and 30 close the rectangle (cheaper than 20 + 40 + 15 + ...).
    assert status.tolist() == [[1, 0, 2, 0], [2, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_a_measure_without_breakdown_suppresses_a_second_complex() -> None:
    cells = _cells([[5], [20], [30]], dims=[TOTAL_DIMENSION])
    published = suppress_counts(cells, 10)
    flags = dict(zip(published["complex"], published["suppression"], strict=True))
    assert flags == {"CPX-0": "primair", "CPX-1": "secundair", "CPX-2": "", TOTAL_COMPLEX: ""}
    assert published.loc[published["complex"] == TOTAL_COMPLEX, "value"].tolist() == [55]
    assert set(published["dimension"]) == {TOTAL_DIMENSION}


def test_with_one_complex_the_neighbourhood_row_is_suppressed_too() -> None:
    published = suppress_counts(_cells([[5, 20, 0]]), 10)
    hidden = set(
        published.loc[published["suppressed"], ["complex", "dimension"]].itertuples(
            index=False, name=None
        )
    )
    assert ("CPX-0", "d0") in hidden and (TOTAL_COMPLEX, "d0") in hidden
    assert recoverable(published) == []
    zero = published[published["dimension"] == "d2"]
    assert zero["value"].tolist() == [0, 0] and not zero["suppressed"].any()


def test_a_small_margin_is_suppressed_with_its_parts() -> None:
    published = suppress_counts(_cells([[2, 3], [40, 50]]), 10)
    row = published[published["complex"] == "CPX-0"].set_index("dimension")
    assert row["suppressed"].all()
    assert row.loc[TOTAL_DIMENSION, "suppression"] == "primair"
    assert recoverable(published) == []


def test_threshold_one_suppresses_nothing() -> None:
    published = suppress_counts(_cells([[1, 2], [0, 3]]), 1)
    assert not published["suppressed"].any()
    grand = published[
        (published["complex"] == TOTAL_COMPLEX) & (published["dimension"] == "totaal")
    ]
    assert grand["value"].tolist() == [6]


def test_the_neighbourhood_total_may_not_be_given() -> None:
    cells = _cells([[5]]).assign(complex=TOTAL_COMPLEX)
    with pytest.raises(ValueError, match="computed here"):
        suppress_counts(cells, 10)


def test_no_cells_give_an_empty_table() -> None:
    published = suppress_counts(pd.DataFrame(columns=[*KEYS, "value"]), 10)
    assert published.empty
    assert list(published.columns) == [
        "complex", "period", "measure", "dimension", "value", "suppressed", "suppression"
    ]  # fmt: skip


def test_a_median_of_too_few_units_is_null() -> None:
    medians = pd.DataFrame(
        [
            ("median_days_guest_home", "2026-W07", "CPX-0", TOTAL_DIMENSION, 41.5, 9),
            ("median_days_guest_home", "2026-W07", TOTAL_COMPLEX, TOTAL_DIMENSION, 44.0, 10),
        ],
        columns=[*KEYS, "value", "n"],
    )
    published = suppress_medians(medians, 10)
    assert published["value"].isna().tolist() == [True, False]
    assert published["suppression"].tolist() == ["primair", ""]
    assert published["value"].iloc[1] == 44.0
    assert "n" not in published.columns
