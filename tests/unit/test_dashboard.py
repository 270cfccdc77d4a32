"""The static dashboard: parses, shows published values only, Dutch, escaped, self-contained."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.test_monitoring_aggregates import synthetic_events
from wijkbrug.delivery import Incoming
from wijkbrug.monitoring import build, run
from wijkbrug.monitoring.aggregates import MEDIAN_MEASURE
from wijkbrug.monitoring.dashboard import bar_chart, render
from wijkbrug.monitoring.labels import TOTAL_COMPLEX, TOTAL_DIMENSION
from wijkbrug.monitoring.suppression import suppress_counts

VOID = {"meta", "line", "br", "img", "input", "link", "hr"}


class Page(HTMLParser):
    """Collects table cells (class, text) and SVG titles; checks that tags nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.cells: list[tuple[str, str]] = []
        self.titles: list[str] = []
        self.tags: set[str] = set()
        self._cell: tuple[str, list[str]] | None = None
        self._title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "td":
            self._cell = (dict(attrs).get("class") or "", [])
        elif tag == "title" and "svg" in self.stack[:-1]:
            self._title = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()
        if tag == "td" and self._cell is not None:
            self.cells.append((self._cell[0], "".join(self._cell[1])))
            self._cell = None
        elif tag == "title" and self._title is not None:
            self.titles.append("".join(self._title))
            self._title = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1].append(data)
        if self._title is not None:
            self._title.append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


def number(text: str) -> float:
    """Dutch notation back to a number: ``1.234`` -> 1234, ``46,5`` -> 46.5."""
    return float(text.replace(".", "").replace(",", "."))


@pytest.fixture(scope="module")
def synthetic(dataset: Path) -> list[Incoming]:
    return synthetic_events(dataset)[0]


@pytest.mark.parametrize(("period", "threshold"), [("week", 10), ("month", 10), ("month", 5)])
def test_the_page_shows_exactly_the_published_cells(
    synthetic: list[Incoming], period: str, threshold: int
) -> None:
    report = build(synthetic, period=period, threshold=threshold)  # type: ignore[arg-type]
    table = report.table
    page = parse(render(table, period=period, threshold=threshold, data_through=None))  # type: ignore[arg-type]
    counts = [number(text) for kind, text in page.cells if "aantal" in kind.split()]
    assert counts and all(n == 0 or n >= threshold for n in counts)
    marker = f"onderdrukt (< {threshold})"
    hidden = [text for kind, text in page.cells if kind == "onderdrukt"]
    assert hidden and set(hidden) == {marker}
    # Every cell of the table appears once: as a number, or as suppressed.
    assert len(hidden) == int(table["suppressed"].sum())
    shown = table[~table["suppressed"] & table["value"].notna()]
    assert len([k for k, _ in page.cells if k.startswith("getal")]) == len(shown)
    assert sorted(counts) == sorted(shown.loc[shown["measure"] != MEDIAN_MEASURE, "value"])
    # Chart tooltips: a number only where published, never a small one.
    chart_counts = [
        number(t.rsplit(": ", 1)[1])
        for t in page.titles
        if re.fullmatch(r"\d{4}-(W\d{2}|\d{2}): [\d.]+", t)
    ]
    assert chart_counts and all(n == 0 or n >= threshold for n in chart_counts)
    assert any(t.endswith(marker) for t in page.titles)


def _table(grid: list[list[int]], complexes: list[str], threshold: int = 10) -> pd.DataFrame:
    categories = ["schulden", "renovatiestress", "ggz"][: len(grid[0])]
    cells = pd.DataFrame(
        [
            ("signals", "2026-W07", complexes[i], categories[j], value)
            for i, row in enumerate(grid)
            for j, value in enumerate(row)
        ],
        columns=["measure", "period", "complex", "dimension", "value"],
    )
    return suppress_counts(cells, threshold)


def test_suppressed_cells_are_marked_and_their_values_absent() -> None:
    table = _table([[7, 20], [30, 40]], ["CPX-A", "CPX-B"])
    page = render(table, period="week", threshold=10, data_through=date(2026, 2, 16))
    parsed = parse(page)
    hidden = [text for kind, text in parsed.cells if kind == "onderdrukt"]
    assert hidden == ["onderdrukt (< 10)"] * int(table["suppressed"].sum())
    assert len(hidden) >= 4  # 7, its complement in the row and in the column, and the fourth
    values = {number(t) for k, t in parsed.cells if k.startswith("getal")}
    assert values == {27, 70, 37, 60, 97}  # the margins; 7, 20, 30 and 40 are hidden
    assert "onderdrukt (&lt; 10)" in page  # escaped in the source
    assert "16 februari 2026" in page


def test_labels_are_readable_dutch() -> None:
    table = _table([[12, 20, 0]], ["CPX-A"])
    page = render(table, period="month", threshold=10, data_through=None)
    for text in (
        'lang="nl"',
        "Signalen per categorie",
        "Stress door de renovatie",
        "Psychische gezondheid (ggz)",
        "Overvecht (totaal)",
        "Over deze cijfers",
        "secundaire onderdrukking",
        "Per maand",
    ):
        assert text in page, text
    assert "renovatiestress" not in re.sub(r"<[^>]+>", " ", page)  # codes only in markup


def test_partner_and_milestone_names_come_from_the_registry_and_codes() -> None:
    cells = pd.DataFrame(
        [
            ("referrals", "2026-02", "CPX-A", "buurtteam-overvecht", 12),
            ("units_per_milestone", "2026-02", "CPX-A", "terug_in_woning", 15),
        ],
        columns=["measure", "period", "complex", "dimension", "value"],
    )
    page = render(suppress_counts(cells, 10), period="month", threshold=10, data_through=None)
    assert "Buurtteam Overvecht" in page and "Terug in eigen woning" in page


def test_text_from_the_data_is_escaped() -> None:
    table = _table([[12, 20]], ['CPX<script>alert("x")</script>&'])
    page = render(table, period="week", threshold=10, data_through=None)
    parsed = parse(page)
    assert "script" not in parsed.tags
    assert "CPX&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page


def test_the_page_is_self_contained() -> None:
    cells = _table([[12, 20], [3, 40]], ["CPX-A", "CPX-B"])
    page = render(cells, period="week", threshold=10, data_through=None)
    for forbidden in ("<script", "<link", "src=", "http://", "https://", "@import", "url("):
        assert forbidden not in page, forbidden
    assert page.count("<svg") == 1 and "<style>" in page


def test_an_axis_shows_only_zero_and_the_largest_published_value() -> None:
    points = [("2026-W05", 3.0, True), ("2026-W06", 0.0, False), ("2026-W07", 25.0, False)]
    svg = bar_chart(points, "households_visited", 10)
    axis = re.findall(r'<text class="as"[^>]*text-anchor="end">([^<]*)</text>', svg)
    assert axis == ["0", "25"]
    assert "2026-W05: onderdrukt (&lt; 10)" in svg and "2026-W07: 25" in svg
    assert ">3<" not in svg and ": 3<" not in svg


def test_medians_show_one_decimal_with_a_comma() -> None:
    table = pd.DataFrame(
        {
            "complex": ["CPX-A", TOTAL_COMPLEX],
            "period": ["2026-02", "2026-02"],
            "measure": [MEDIAN_MEASURE] * 2,
            "dimension": [TOTAL_DIMENSION] * 2,
            "value": pd.array([None, 46.5], dtype="Float64"),
            "suppressed": [True, False],
            "suppression": ["primair", ""],
        }
    )
    parsed = parse(render(table, period="month", threshold=10, data_through=None))
    assert ("getal mediaan", "46,5") in parsed.cells
    assert ("onderdrukt", "onderdrukt (< 10)") in parsed.cells


def test_run_writes_the_dashboard_next_to_the_parquet(
    tmp_path: Path, synthetic: list[Incoming]
) -> None:
    output = run(synthetic, tmp_path, period="month")
    page = output.dashboard_path.read_text(encoding="utf-8")
    parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "Gegevens tot en met 28 november 2026" in page  # the newest event, local date
