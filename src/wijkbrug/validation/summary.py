"""The one-page summary of a validation run for data stewards (Dutch), as JSON and HTML.

Pure: :func:`summary_document` builds a JSON-ready dict from the run's outcome, and
:func:`render_html` renders it; :func:`write_summary` is the only I/O. The summary holds
counts, codes and connector names, never an event's values; it holds no clock time either, so
re-running a night gives the same files.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wijkbrug.reasons import REASONS, Reason
from wijkbrug.validation.results import SuiteOutcome

SUMMARY_DIR = "samenvattingen"


def summary_document(
    *,
    run_id: str,
    interval: tuple[str, str],
    rows: Mapping[str, int],
    history_rows: int,
    suites: Sequence[SuiteOutcome],
    skipped: Mapping[str, str],
    passed: int,
    failed: Mapping[str, Sequence[Reason]],
    freshness: Sequence[Mapping[str, Any]],
    drift: Mapping[str, Any],
    data_docs: str,
) -> dict[str, Any]:
    """The summary as data: what was validated, what failed, what is quarantined and why."""
    per_reason = Counter(code for reasons in failed.values() for code in {r.code for r in reasons})
    return {
        "run": run_id,
        "interval": {"van": interval[0], "tot": interval[1]},
        "gecontroleerd": {
            "rijen_per_gebeurtenistype": dict(sorted(rows.items())),
            "rijen_totaal": sum(rows.values()),
            "historie_als_context": history_rows,
            "suites": [
                {
                    "naam": s.suite,
                    "beschrijving": s.description,
                    "rijen": s.rows,
                    "verwachtingen": s.evaluated,
                    "geslaagd": s.successful,
                    "status": "geslaagd" if s.success else "mislukt",
                }
                for s in suites
            ]
            + [
                {"naam": name, "beschrijving": why, "status": "niet beoordeeld"}
                for name, why in sorted(skipped.items())
            ],
        },
        "mislukt": [
            {
                "suite": e.suite,
                "verwachting": e.description,
                "type": e.type,
                "kolom": e.column,
                "reden": e.reason,
                "rijen": e.unexpected_count,
                "waargenomen": e.observed_value,
            }
            for s in suites
            for e in s.expectations
            if not e.success
        ],
        "quarantaine": {
            "gebeurtenissen": len(failed),
            "doorgelaten": passed,
            "per_reden": [
                {"code": code, "uitleg": REASONS[code], "gebeurtenissen": count}
                for code, count in sorted(per_reason.items())
            ],
        },
        "versheid": list(freshness),
        "signaalmix": dict(drift),
        "data_docs": data_docs,
    }


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#1b1b1b}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}.ok{color:#1a7f37}.nok{color:#b42318;font-weight:600}
.muted{color:#666}
"""


def _cell(value: Any) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.4g}".replace(".", ",")
    return html.escape(str(value))


def _status(text: str) -> str:
    css = {"geslaagd": "ok", "mislukt": "nok", "vers": "ok", "verouderd": "nok"}.get(text, "muted")
    return f'<span class="{css}">{html.escape(text)}</span>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    if not rows:
        return '<p class="muted">Geen.</p>'
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(doc: Mapping[str, Any]) -> str:
    """The summary as one self-contained HTML page."""
    checked, quarantine, drift = doc["gecontroleerd"], doc["quarantaine"], doc["signaalmix"]
    overall = "geslaagd" if not doc["mislukt"] else "mislukt"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="nl"><head><meta charset="utf-8">',
        f"<title>Validatie {html.escape(doc['run'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Nachtelijke validatie {html.escape(doc['run'])}: {_status(overall)}</h1>",
        f"<p>Interval: {_cell(doc['interval']['van'])} tot {_cell(doc['interval']['tot'])}. "
        f"{checked['rijen_totaal']} gebeurtenissen van de nacht gecontroleerd, met "
        f"{checked['historie_als_context']} eerdere gebeurtenissen als context (die kunnen zelf "
        "niet falen).</p>",
        "<h2>Wat is gecontroleerd</h2>",
        _table(
            ["Gebeurtenistype", "Rijen"],
            [[_cell(k), _cell(v)] for k, v in checked["rijen_per_gebeurtenistype"].items()],
        ),
        _table(
            ["Suite", "Wat", "Rijen", "Verwachtingen", "Status"],
            [
                [
                    _cell(s["naam"]),
                    _cell(s["beschrijving"]),
                    _cell(s.get("rijen")),
                    _cell(
                        f"{s['geslaagd']} van {s['verwachtingen']} geslaagd"
                        if "verwachtingen" in s
                        else None
                    ),
                    _status(s["status"]),
                ]
                for s in checked["suites"]
            ],
        ),
        "<h2>Wat faalde</h2>",
        _table(
            ["Suite", "Verwachting", "Reden", "Rijen", "Waargenomen"],
            [
                [
                    _cell(f["suite"]),
                    _cell(f["verwachting"]),
                    _cell(f["reden"]),
                    _cell(f["rijen"]),
                    _cell(f["waargenomen"]),
                ]
                for f in doc["mislukt"]
            ],
        ),
        "<h2>Quarantaine</h2>",
        f"<p>{quarantine['gebeurtenissen']} gebeurtenissen (verschillende ids) gaan in "
        f"quarantaine, {quarantine['doorgelaten']} zijn doorgelaten. Een gebeurtenis kan om meer "
        "redenen tegelijk in quarantaine staan; ze worden alleen bij gebeurtenis-id genoemd, in "
        "de validatieresultaten.</p>",
        _table(
            ["Code", "Uitleg", "Gebeurtenissen"],
            [
                [_cell(r["code"]), _cell(r["uitleg"]), _cell(r["gebeurtenissen"])]
                for r in quarantine["per_reden"]
            ],
        ),
        "<h2>Versheid per connector</h2>",
        _table(
            ["Connector", "Laatst geleverd", "Uren geleden", "Status"],
            [
                [
                    _cell(c["connector"]),
                    _cell(c["laatst_geleverd"]),
                    _cell(c["uren_geleden"]),
                    _status(c["status"]),
                ]
                for c in doc["versheid"]
            ],
        ),
        "<h2>Mix van signaalcategorieën</h2>",
        f"<p>{_status(drift['status'])}: {_cell(drift['toelichting'])}</p>",
        f'<p><a href="{html.escape(doc["data_docs"])}">Data Docs van deze run</a> '
        "(alle verwachtingen en resultaten van Great Expectations).</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_summary(doc: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``samenvattingen/<run>.html`` and ``.json`` under ``out_dir``; return both paths."""
    folder = out_dir / SUMMARY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    html_path = folder / f"{doc['run']}.html"
    json_path = folder / f"{doc['run']}.json"
    html_path.write_text(render_html(doc), encoding="utf-8")
    text = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False)
    json_path.write_text(text + "\n", encoding="utf-8")
    return html_path, json_path
