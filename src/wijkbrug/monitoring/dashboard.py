"""The static Dutch dashboard: one self-contained HTML page with inline SVG charts. Pure.

It renders the published table only (suppressed values are already null there) and computes no
aggregate of its own: a sum made here would escape suppression. No script, no external asset:
the page works offline and shows the same thing in every browser. All text is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from html import escape

import pandas as pd

from wijkbrug.monitoring.aggregates import MEASURE_ORDER, MEDIAN_MEASURE, Period
from wijkbrug.monitoring.labels import (
    DIMENSION_TITLES,
    MEASURES,
    PERIODS,
    TOTAL_COMPLEX,
    TOTAL_DIMENSION,
    complex_label,
    dimension_label,
    measure_title,
    suppressed_text,
)

_MONTHS = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip
_NO_DATA = "\u2013"  # en dash: no data in that period
_CHART_WIDTH, _CHART_HEIGHT = 760, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 14, 40

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;
background:#fafafa;line-height:1.45}
header,main,footer{max-width:1100px;margin:0 auto;padding:0 1rem}
header{padding-top:1.2rem}h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem}
nav ul{columns:2;padding-left:1.2rem}section{border-top:1px solid #ddd}
.toelichting{color:#444;max-width:75ch}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem;background:#fff}
th,td{border:1px solid #ccc;padding:.25rem .5rem}th{background:#eef3f6;text-align:left}
td.getal{text-align:right;font-variant-numeric:tabular-nums}
td.onderdrukt{color:#666;font-style:italic;background:#f1f1f1;text-align:right}
td.leeg{color:#999;text-align:center}tr.totaal td,tr.totaal th,td.totaal{font-weight:600}
summary{cursor:pointer;font-weight:600;margin:.3rem 0}
svg{max-width:100%;height:auto;background:#fff;border:1px solid #ddd}
svg .staaf{fill:#1f6f8b}svg .staaf-onderdrukt{fill:#e4e4e4;stroke:#888;stroke-dasharray:2 2}
svg .as{font-size:11px;fill:#444}svg .aslijn{stroke:#888}
.legenda span{display:inline-block;padding:0 .4rem;margin-right:.4rem;border:1px solid #ccc}
"""


def dutch_date(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def dutch_number(value: float, measure: str) -> str:
    """``1234`` -> ``1.234``; a median keeps one decimal: ``46,5``."""
    if measure == MEDIAN_MEASURE:
        return f"{value:.1f}".replace(".", ",")
    return f"{round(value):,}".replace(",", ".")


def _cell(value: object, suppressed: bool, measure: str, threshold: int, extra: str = "") -> str:
    if suppressed:
        return f'<td class="onderdrukt{extra}">{escape(suppressed_text(threshold))}</td>'
    if value is None or pd.isna(value):
        return f'<td class="leeg{extra}">{_NO_DATA}</td>'
    kind = "getal mediaan" if measure == MEDIAN_MEASURE else "getal aantal"
    return f'<td class="{kind}{extra}">{escape(dutch_number(float(value), measure))}</td>'


def _lookup(frame: pd.DataFrame) -> dict[tuple[str, str, str], tuple[object, bool]]:
    """(period, complex, dimension) -> (value, suppressed)."""
    keys = zip(frame["period"], frame["complex"], frame["dimension"], strict=True)
    cells = zip(frame["value"].astype(object), frame["suppressed"], strict=True)
    return dict(zip(keys, cells, strict=True))


def _columns(complexes: Iterable[str]) -> str:
    return "".join(f'<th scope="col">{escape(complex_label(c))}</th>' for c in complexes)


def _scalar_table(frame: pd.DataFrame, measure: str, period: Period, threshold: int) -> str:
    """Rows per period, columns per complex: for measures without a breakdown."""
    cells = _lookup(frame)
    complexes = list(dict.fromkeys(frame["complex"]))
    rows = []
    for p in dict.fromkeys(frame["period"]):
        tds = "".join(
            _cell(*cells.get((p, c, TOTAL_DIMENSION), (None, False)), measure, threshold)
            for c in complexes
        )
        rows.append(f'<tr><th scope="row">{escape(p)}</th>{tds}</tr>')
    head = f'<th scope="col">{escape(PERIODS[period].capitalize())}</th>{_columns(complexes)}'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _breakdown_tables(frame: pd.DataFrame, measure: str, period: Period, threshold: int) -> str:
    """Per period (newest first, open) a table: rows per dimension value, columns per complex."""
    cells = _lookup(frame)
    complexes = list(dict.fromkeys(frame["complex"]))
    dimensions = list(dict.fromkeys(frame["dimension"]))
    heading = escape(DIMENSION_TITLES.get(measure) or "")
    parts = []
    for number, p in enumerate(reversed(list(dict.fromkeys(frame["period"])))):
        rows = []
        for d in dimensions:
            total = d == TOTAL_DIMENSION
            tds = "".join(
                _cell(*cells.get((p, c, d), (None, False)), measure, threshold) for c in complexes
            )
            attr = ' class="totaal"' if total else ""
            rows.append(f'<tr{attr}><th scope="row">{escape(dimension_label(d))}</th>{tds}</tr>')
        table = (
            f"<table><caption>{escape(measure_title(measure))}, {escape(p)}</caption>"
            f'<thead><tr><th scope="col">{heading}</th>{_columns(complexes)}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
        is_open = " open" if number == 0 else ""
        parts.append(f"<details{is_open}><summary>{escape(p)}</summary>{table}</details>")
    return "".join(parts)


def bar_chart(points: list[tuple[str, object, bool]], measure: str, threshold: int) -> str:
    """An inline SVG bar chart of (period, value, suppressed); a suppressed bar is a grey stub.

    Axis labels are 0 and the largest published value: no tick can show an unpublished number.
    """
    plot_w = _CHART_WIDTH - _LEFT - _RIGHT
    plot_h = _CHART_HEIGHT - _TOP - _BOTTOM
    base = _TOP + plot_h
    published = [float(v) for _, v, s in points if not s and v is not None and not pd.isna(v)]
    top = max(published, default=0.0)
    step = plot_w / max(len(points), 1)
    every = max(1, -(-len(points) // 8))
    title = escape(measure_title(measure))
    parts = [
        f'<svg viewBox="0 0 {_CHART_WIDTH} {_CHART_HEIGHT}" width="{_CHART_WIDTH}" '
        f'height="{_CHART_HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>',
        f'<line class="aslijn" x1="{_LEFT}" y1="{base}" x2="{_LEFT + plot_w}" y2="{base}"/>',
        f'<text class="as" x="{_LEFT - 6}" y="{base + 4}" text-anchor="end">0</text>',
    ]
    if top > 0:
        label = escape(dutch_number(top, measure))
        parts.append(
            f'<text class="as" x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">{label}</text>'
        )
    for index, (p, value, suppressed) in enumerate(points):
        x = _LEFT + index * step + step * 0.15
        width = max(step * 0.7, 1.0)
        if suppressed:
            tip = f"{p}: {suppressed_text(threshold)}"
            parts.append(
                f'<rect class="staaf-onderdrukt" x="{x:.1f}" y="{base - 6}" width="{width:.1f}" '
                f'height="6"><title>{escape(tip)}</title></rect>'
            )
        elif value is not None and not pd.isna(value) and float(value) > 0:
            height = plot_h * float(value) / top
            tip = f"{p}: {dutch_number(float(value), measure)}"
            parts.append(
                f'<rect class="staaf" x="{x:.1f}" y="{base - height:.1f}" width="{width:.1f}" '
                f'height="{height:.1f}"><title>{escape(tip)}</title></rect>'
            )
        if (len(points) - 1 - index) % every == 0:  # the newest period always labelled
            cx = x + width / 2
            parts.append(
                f'<text class="as" x="{cx:.1f}" y="{base + 16}" text-anchor="middle">'
                f"{escape(p)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _section(frame: pd.DataFrame, measure: str, period: Period, threshold: int) -> str:
    title, explanation = MEASURES.get(measure, (measure, ""))
    totals = frame[(frame["complex"] == TOTAL_COMPLEX) & (frame["dimension"] == TOTAL_DIMENSION)]
    points = list(
        zip(totals["period"], totals["value"].astype(object), totals["suppressed"], strict=True)
    )
    chart = bar_chart(points, measure, threshold)
    caption = f"{TOTAL_COMPLEX}, per {PERIODS[period]}"
    if DIMENSION_TITLES.get(measure):
        caption += " (totaal over alle waarden)"
        tables = _breakdown_tables(frame, measure, period, threshold)
    else:
        tables = _scalar_table(frame, measure, period, threshold)
    return (
        f'<section id="{escape(measure)}"><h2>{escape(title)}</h2>'
        f'<p class="toelichting">{escape(explanation)}</p>'
        f"<figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>{tables}</section>"
    )


def _explanation(period: Period, threshold: int) -> str:
    t = threshold
    paragraphs = (
        f"Kleine aantallen worden niet getoond. Een cel met een aantal van 1 tot en met {t - 1} "
        f"wordt onderdrukt (primaire onderdrukking), zodat niemand in een kleine groep "
        f"herkenbaar is. Een 0 wordt wel getoond.",
        "Omdat ook totalen per complex en voor heel Overvecht worden getoond, zou een "
        "onderdrukte cel soms terug te rekenen zijn uit de totalen. Daarom worden dan ook andere "
        "cellen onderdrukt (secundaire onderdrukking), steeds de kleinste die volstaan. Zulke "
        f"cellen kunnen {t} of meer zijn; alle onderdrukte cellen staan er hetzelfde bij: "
        f"“{suppressed_text(t)}”. Zo werken ook het CBS en het Britse ONS.",
        f"Een mediaan wordt alleen getoond als ze op ten minste {t} woningen berust. "
        f"Een streepje ({_NO_DATA}) betekent: geen gegevens in die periode.",
        f"Huisbezoeken en signalen worden per ISO-week geteld; de geanonimiseerde tellingen zijn "
        f"niet fijner. Per {PERIODS[period]} "
        + (
            "telt een week mee in de maand waarin haar donderdag valt. "
            if period == "month"
            else "is dat de week van het bezoek. "
        )
        + "Toestemmingen en terugmeldingen van partners horen bij het complex van de woning "
        "volgens de renovatieplanning. Het dashboard bevat alleen totalen, nooit gegevens "
        "over personen of woningen.",
    )
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    legend = (
        f'<p class="legenda"><span class="onderdrukt">{escape(suppressed_text(t))}</span>'
        f"niet getoond vanwege onderdrukking <span>{_NO_DATA}</span>geen gegevens</p>"
    )
    return f'<section id="onderdrukking"><h2>Over deze cijfers</h2>{body}{legend}</section>'


def render(
    table: pd.DataFrame, *, period: Period, threshold: int, data_through: date | None
) -> str:
    """The dashboard page for a published monitoring table (in reading order)."""
    periods = list(dict.fromkeys(table["period"]))
    span = f"{periods[0]} t/m {periods[-1]}" if periods else "geen gegevens"
    through = f" Gegevens tot en met {dutch_date(data_through)}." if data_through else ""
    measures = [m for m in MEASURE_ORDER if (table["measure"] == m).any()]
    nav = "".join(f'<li><a href="#{m}">{escape(measure_title(m))}</a></li>' for m in measures)
    sections = "".join(
        _section(table[table["measure"] == m], m, period, threshold) for m in measures
    )
    subtitle = (
        f"Thema-dreven, Utrecht-Overvecht. Per {PERIODS[period]}, {span}.{through} "
        f"Drempel voor onderdrukking: {threshold}."
    )
    return (
        '<!DOCTYPE html>\n<html lang="nl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Monitoring wijkaanpak Overvecht</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<header><h1>Monitoring wijkaanpak Overvecht</h1><p>{escape(subtitle)}</p>"
        f'<nav><ul><li><a href="#onderdrukking">Over deze cijfers</a></li>{nav}</ul></nav>'
        f"</header><main>{_explanation(period, threshold)}{sections}</main>"
        "<footer><p>Gemaakt door wijkbrug uit geanonimiseerde totalen.</p></footer>"
        "</body></html>\n"
    )
