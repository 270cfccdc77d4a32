"""Small-cell suppression of count tables with margins, as CBS and ONS practise it.

Each (measure, period) is a table complexes x dimension, extended with its margins: the total
per complex over the dimension (dimension ``totaal``), per dimension over the complexes (complex
``Overvecht (totaal)``) and the grand total. A measure without a breakdown (its only dimension
is ``totaal``) has the neighbourhood total only.

- **Primary**: every cell, margins included, with ``0 < n < threshold``. Zero is published.
- **Secondary**: while a suppressed cell is determined by the published cells and the additivity
  constraints (its unit vector lies in the row space of the constraint matrix restricted to the
  suppressed cells), the cheapest rectangle of the extended table through it is suppressed too:
  the fewest newly suppressed counts (sum of their values: smallest first), then the fewest
  margins, then the fewest cells, then table order. Every suppressed cell is nonzero, so such a
  rectangle exists, each round suppresses at least one more cell, and the loop ends.

Medians are suppressed when based on fewer than ``threshold`` units. A suppressed cell's value
is null in the result: the true value never leaves :func:`suppress_counts`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wijkbrug.monitoring.labels import TOTAL_COMPLEX, TOTAL_DIMENSION

PUBLISHED, PRIMARY, SECONDARY = 0, 1, 2
SUPPRESSION: dict[int, str] = {PUBLISHED: "", PRIMARY: "primair", SECONDARY: "secundair"}
_BLOCK_COLUMNS = ("complex", "period", "measure", "dimension", "value", "status")
TABLE_COLUMNS = ["complex", "period", "measure", "dimension", "value", "suppressed", "suppression"]

Cell = tuple[int, int]


def extend(interior: np.ndarray, row_totals: bool = True) -> np.ndarray:
    """The table with a total row (last) and, with ``row_totals``, a total column (last)."""
    full = np.vstack([interior, interior.sum(axis=0, keepdims=True)])
    return np.hstack([full, full.sum(axis=1, keepdims=True)]) if row_totals else full


def constraints(rows: int, cols: int, row_totals: bool = True) -> np.ndarray:
    """Additivity of the extended table: one equation per line, cells flattened row-major."""
    width = cols + 1 if row_totals else cols
    equations = []
    for i in range(rows + 1) if row_totals else ():
        equation = np.zeros((rows + 1, width))
        equation[i, :cols], equation[i, cols] = 1, -1
        equations.append(equation.ravel())
    for j in range(width):
        equation = np.zeros((rows + 1, width))
        equation[:rows, j], equation[rows, j] = 1, -1
        equations.append(equation.ravel())
    return np.array(equations)


def determined(matrix: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
    """Which suppressed cells (flat mask) the constraints and published cells pin down exactly.

    Cell k is determined iff its unit vector is in the row space of ``matrix[:, suppressed]``,
    i.e. iff every vector of that submatrix's null space is zero at k.
    """
    result = np.zeros(suppressed.shape, dtype=bool)
    columns = np.flatnonzero(suppressed)
    if columns.size == 0:
        return result
    sub = matrix[:, columns]
    _, singular, vt = np.linalg.svd(sub)
    tolerance = max(sub.shape) * np.finfo(float).eps * (singular.max() if singular.size else 0)
    null = vt[int((singular > tolerance).sum()) :]
    result[columns] = np.all(np.abs(null) < 1e-9, axis=0)
    return result


def _complement(full: np.ndarray, status: np.ndarray, cell: Cell, row_totals: bool) -> list[Cell]:
    """The published cells of the cheapest rectangle (pair without row totals) through ``cell``."""
    rows, cols = full.shape
    i, j = cell
    shapes: list[list[Cell]] = []
    for i2 in (r for r in range(rows) if r != i):
        if row_totals:
            shapes.extend([(i, j2), (i2, j), (i2, j2)] for j2 in range(cols) if j2 != j)
        else:
            shapes.append([(i2, j)])
    best: tuple[tuple[int, int, int, list[Cell]], list[Cell]] | None = None
    for corners in shapes:
        new = [c for c in corners if status[c] == PUBLISHED]
        if not new or any(full[c] == 0 for c in new):
            continue
        margins = sum(r == rows - 1 or (row_totals and c == cols - 1) for r, c in new)
        key = (int(sum(full[c] for c in new)), margins, len(new), sorted(corners))
        if best is None or key < best[0]:
            best = (key, new)
    if best is None:  # impossible for nonnegative counts: see the module docstring
        raise ArithmeticError("no complementary cells found")
    return best[1]


def suppress_table(
    interior: np.ndarray, threshold: int, *, row_totals: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Counts (complexes x dimension) -> (extended table, status per cell: PUBLISHED/...)."""
    counts = np.asarray(interior, dtype=np.int64)
    if counts.ndim != 2 or (counts < 0).any():
        raise ValueError("counts must be a 2-D table of nonnegative integers")
    full = extend(counts, row_totals)
    status = np.where((full > 0) & (full < threshold), PRIMARY, PUBLISHED)
    matrix = constraints(*counts.shape, row_totals)
    while (exposed := determined(matrix, (status != PUBLISHED).ravel())).any():
        cell = np.unravel_index(int(np.argmax(exposed)), full.shape)
        for complement in _complement(full, status, (int(cell[0]), int(cell[1])), row_totals):
            status[complement] = SECONDARY
    return full, status


def _published(frame: pd.DataFrame) -> pd.DataFrame:
    """Status -> flags; the value of every suppressed cell becomes null."""
    status = frame["status"].to_numpy()
    value = pd.array(frame["value"].to_numpy(dtype="float64"), dtype="Float64")
    value[status != PUBLISHED] = pd.NA
    return frame.assign(
        value=value,
        suppressed=status != PUBLISHED,
        suppression=pd.Series(status, index=frame.index).map(SUPPRESSION).astype(str),
    )[TABLE_COLUMNS]


def suppress_counts(cells: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Interior count cells (long) -> the long table with margins, suppressed cells null.

    ``cells``: measure, period, complex, dimension, value (missing combinations count as 0).
    Complexes and dimension values are ordered by name here, so the result does not depend on
    the order of the input rows.
    """
    if (cells["complex"] == TOTAL_COMPLEX).any():
        raise ValueError(f"{TOTAL_COMPLEX!r} is computed here, not given")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _BLOCK_COLUMNS}
    complex_ids = cells["complex"].to_numpy(dtype=str)
    dimension_ids = cells["dimension"].to_numpy(dtype=str)
    counts = cells["value"].to_numpy(dtype=np.int64)
    blocks = cells.groupby(["measure", "period"]).indices
    for measure, period in sorted(blocks):
        at = blocks[measure, period]
        complexes, rows = np.unique(complex_ids[at], return_inverse=True)
        dims, cols = np.unique(dimension_ids[at], return_inverse=True)
        grid = np.zeros((complexes.size, dims.size), dtype=np.int64)
        np.add.at(grid, (rows, cols), counts[at])
        row_totals = dims.tolist() != [TOTAL_DIMENSION]
        if row_totals and TOTAL_DIMENSION in dims:
            raise ValueError(f"{measure}: {TOTAL_DIMENSION!r} next to other dimension values")
        full, status = suppress_table(grid, threshold, row_totals=row_totals)
        labels = np.array([*complexes.tolist(), TOTAL_COMPLEX], dtype=object)
        columns = np.array([*dims.tolist(), *[TOTAL_DIMENSION] * row_totals], dtype=object)
        parts["complex"].append(np.repeat(labels, columns.size))
        parts["period"].append(np.full(full.size, period, dtype=object))
        parts["measure"].append(np.full(full.size, measure, dtype=object))
        parts["dimension"].append(np.tile(columns, labels.size))
        parts["value"].append(full.ravel())
        parts["status"].append(status.ravel())
    frame = pd.DataFrame(
        {name: np.concatenate(arrays) if arrays else [] for name, arrays in parts.items()}
    )
    return _published(frame.astype({c: str for c in ("complex", "period", "measure", "dimension")}))


def suppress_medians(medians: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Medians with ``n`` units -> table rows; a median of fewer than ``threshold`` is null."""
    status = np.where(medians["n"].to_numpy() < threshold, PRIMARY, PUBLISHED)
    return _published(medians.assign(status=status))
