"""Demo helpers for the scheduled side: planted batch faults, the run dates, what came out.

Only for `make demo` (synthetic data). Three steps, each its own command:

- ``plant``: publish three deliberately inconsistent events through the normal publisher onto
  the raw topics, so the night's batch validation has something to find: a ``renovatie_
  opgeleverd`` before the unit's renovation has started (``milestone.order``), a partner
  feedback for a unit outside the planning (``vhe.unknown``) and a ``renovatie_gestart`` in an
  occupied home nobody visited (``huisbezoek.missing``). Their ids carry today's date, so a
  second demo run the same day publishes nothing (a duplicate id cannot be planted: a night
  reads an id once, and the history before it is empty on a fresh broker).
- ``prepare``: print the logical dates for ``airflow dags test`` (the night that holds the
  demo's latest raw record, the ISO week that holds now) and remember the ledger and the
  drops as they are, to show afterwards that a re-run adds nothing and changes no file.
- ``show``: per partner the drop and its manifest, the validation summary and Data Docs (and
  which Data Docs pages name the planted faults), the dashboard, and a check that no
  published count is under the suppression threshold.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow.parquet as pq

from wijkbrug import kafka_client
from wijkbrug.events import SOURCE_PREFIX, Event
from wijkbrug.ledger import Ledger
from wijkbrug.nightly.reading import read_events, read_records
from wijkbrug.nightly.sync import NIGHT_EVENTS
from wijkbrug.settings import Settings
from wijkbrug.topics import TopicSpec, load_topics

PLANTED = "demo-fout"
NIGHT_AT = time(3)  # the nightly's cron: 0 3 * * *, Amsterdam time
SNAPSHOT = "demo-nacht.json"
FAULTS = "demo-fouten.json"
UNKNOWN_UNIT = "99999999"


def _zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


def _topic(name: str) -> TopicSpec:
    return next(spec for spec in load_topics().values() if name in spec.event_types)


def _fault_id(day: date, kind: str, unit: str) -> str:
    return f"{PLANTED}-{day.isoformat()}-{kind}-{unit}"


def _faults(settings: Settings, day: date) -> list[tuple[Event, str]]:
    """The planted events and what is wrong with each, chosen from what is on the topics.

    Only occupied homes without any consent or consented signal are used, so no partner
    receives their events (also not from the stream worker on a later demo run).
    """
    events = [
        e
        for e in read_events(settings, ["renovation.milestone", "partner.feedback"])
        if not e.id.startswith(PLANTED)
    ]
    involved = {
        e.data["unit_id"] for e in read_events(settings, ["consent.given", "signal.consented"])
    }
    milestones: dict[str, dict[str, dict[str, Any]]] = {}  # unit -> milestone -> an event
    done: dict[tuple[str, str], list[date]] = {}  # realised dates (a planning may move them)
    for e in events:
        if e.name == "renovation.milestone":
            unit, step = e.data["unit_id"], e.data["milestone"]
            milestones.setdefault(unit, {})[step] = e.data
            if e.data["realised_date"]:
                done.setdefault((unit, step), []).append(
                    date.fromisoformat(e.data["realised_date"])
                )
    quiet = sorted(
        unit
        for unit, steps in milestones.items()
        if unit not in involved
        and all(d["tenant_number"] for d in steps.values())
        and {"renovatie_gestart", "renovatie_opgeleverd"} <= steps.keys()
    )
    # Out of order, in the first way that holds back only the planted event: delivered in a
    # home not started yet; back home from a guest home never moved to; else delivered a week
    # before the start (the rule then also holds back the start: which of the two is wrong?).
    not_started = [u for u in quiet if (u, "renovatie_gestart") not in done]
    stayed = [
        u
        for u in quiet
        if "terug_in_woning" in milestones[u]
        and not {(u, "verhuisd_logeerwoning"), (u, "terug_in_woning")} & done.keys()
    ]
    if not_started or stayed:
        order_unit = (not_started or stayed)[0]
        milestone = "renovatie_opgeleverd" if not_started else "terug_in_woning"
        order_on = day
        order_what = (
            f"vhe {order_unit} opgeleverd op {day.isoformat()}, nog niet gestart"
            if not_started
            else f"vhe {order_unit} terug in de woning op {day.isoformat()}, "
            "nooit naar de logeerwoning verhuisd"
        )
    else:
        order_unit, milestone = quiet[0], "renovatie_opgeleverd"
        start = max(done[(order_unit, "renovatie_gestart")])
        order_on = start - timedelta(days=7)
        order_what = (
            f"vhe {order_unit} opgeleverd op {order_on.isoformat()}, gestart op "
            f"{start.isoformat()}; ook de start wordt tegengehouden"
        )
    # Started two weeks before the first home visit.
    visited = [u for u in quiet if u != order_unit and (u, "huisbezoek_vooraf") in done]
    visit_unit = visited[0]
    first_visit = min(done[(visit_unit, "huisbezoek_vooraf")])
    started_on = first_visit - timedelta(days=14)
    realised = {"status": "gerealiseerd"}
    out_of_order = (
        milestones[order_unit][milestone] | realised | {"realised_date": order_on.isoformat()}
    )
    not_visited = (
        milestones[visit_unit]["renovatie_gestart"]
        | realised
        | {"realised_date": started_on.isoformat()}
    )
    feedback = next(e.data for e in events if e.name == "partner.feedback")
    stranger = feedback | {
        "feedback_id": _fault_id(day, "eenheid", UNKNOWN_UNIT),
        "unit_id": UNKNOWN_UNIT,
        "tenant_number": None,
        "kind": "contact_gelegd",
        "note": None,
        "registration_id": None,
    }

    def event(name: str, connector: str, kind: str, unit: str, data: dict[str, Any]) -> Event:
        ident = _fault_id(day, kind, unit)
        return Event(name, SOURCE_PREFIX + connector, ident, unit, data, subject=unit)

    return [
        (
            event("renovation.milestone", "planning", "volgorde", order_unit, out_of_order),
            f"{order_what} (milestone.order)",
        ),
        (
            event("partner.feedback", "feedback", "eenheid", UNKNOWN_UNIT, stranger),
            f"terugmelding van {stranger['partner']} over vhe {UNKNOWN_UNIT}, "
            "die niet in de planning staat (vhe.unknown)",
        ),
        (
            event("renovation.milestone", "planning", "huisbezoek", visit_unit, not_visited),
            f"vhe {visit_unit} renovatie gestart op {started_on.isoformat()}, huisbezoek vooraf "
            f"pas op {first_visit.isoformat()} (huisbezoek.missing)",
        ),
    ]


def plant(settings: Settings) -> None:
    """Publish today's planted faults that are not on their topics yet; say what they are."""
    day = datetime.now(_zone(settings)).date()
    faults = _faults(settings, day)
    on_topics: set[str] = set()
    for name in sorted({event.name for event, _ in faults}):
        physical = _topic(name).physical(settings.topic_prefix)
        on_topics |= kafka_client.event_ids_on(settings, physical)
    publisher = kafka_client.Publisher(settings)
    try:
        for event, what in faults:
            fresh = event.id not in on_topics
            if fresh:
                event.validate()
                publisher.send(_topic(event.name), event)
            print(f"  {event.id}: {what}{'' if fresh else ' [stond er al]'}")
        publisher.flush()
    finally:
        publisher.close()
    path = settings.state_dir / "airflow" / FAULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps([event.id for event, _ in faults]))


def _local(moment: datetime, settings: Settings) -> datetime:
    return moment.astimezone(_zone(settings))


def demo_night(settings: Settings) -> tuple[datetime, datetime]:
    """The night (03:00 to 03:00 local) that holds the latest record on the raw topics."""
    stamps = [r.timestamp_ms for r in read_records(settings, NIGHT_EVENTS, None, None)]
    zone = _zone(settings)
    latest = datetime.fromtimestamp(max(stamps) / 1000, UTC) if stamps else datetime.now(UTC)
    local = _local(latest, settings)
    first = local.date() if local.time() >= NIGHT_AT else local.date() - timedelta(days=1)
    start = datetime.combine(first, NIGHT_AT, zone)
    return start, datetime.combine(first + timedelta(days=1), NIGHT_AT, zone)


def this_week(settings: Settings) -> tuple[datetime, datetime]:
    """The ISO week (Monday 00:00 to Monday 00:00 local) that holds now."""
    zone = _zone(settings)
    today = datetime.now(zone).date()
    monday = today - timedelta(days=today.weekday())
    start = datetime.combine(monday, time(0), zone)
    return start, datetime.combine(monday + timedelta(days=7), time(0), zone)


def _snapshot_path(settings: Settings) -> Path:
    return settings.state_dir / "airflow" / SNAPSHOT


def _file_rows(settings: Settings) -> int:
    ledger = Ledger(settings.ledger())
    try:
        return sum(r["count"] for r in ledger.counts() if r["channel"] == "file")
    finally:
        ledger.close()


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _drops(settings: Settings, night: str) -> dict[str, Path]:
    return {
        p.parent.parent.name: p
        for p in sorted((settings.state_dir / "drops").glob(f"*/{night}/*.parquet"))
    }


def prepare(settings: Settings) -> None:
    """Print the two logical dates (``airflow dags test`` takes a run's interval end) and
    remember the ledger's file rows and the night's drops as they are now."""
    start, end = demo_night(settings)
    week = this_week(settings)
    night = start.date().isoformat()
    snapshot = {
        "night": night,
        "interval": [start.isoformat(), end.isoformat()],
        "week": [week[0].isoformat(), week[1].isoformat()],
        "file_rows": _file_rows(settings),
        "drops": {partner: _sha256(path) for partner, path in _drops(settings, night).items()},
    }
    path = _snapshot_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(snapshot, option=orjson.OPT_INDENT_2))
    print(end.isoformat(), week[1].isoformat())


def _day(moment: str) -> str:
    return datetime.fromisoformat(moment).strftime("%d-%m %H:%M")


def _show_drops(settings: Settings, snapshot: dict[str, Any]) -> None:
    night = snapshot["night"]
    start, end = snapshot["interval"]
    print(f"== Nachtelijke levering, nacht {night} ({_day(start)} tot {_day(end)})")
    drops = _drops(settings, night)
    changed = []
    for partner, parquet in drops.items():
        manifest = orjson.loads((parquet.parent / "manifest.json").read_bytes())
        print(f"  {partner + ':':<23} {manifest['rows']:>5} regels  {parquet}")
        print(f"  {'':<23} {'manifest':>12}  {parquet.parent / 'manifest.json'}")
        before = snapshot["drops"].get(partner)
        if before and before != _sha256(parquet):
            changed.append(partner)
    new = _file_rows(settings) - snapshot["file_rows"]
    if snapshot["drops"]:
        same = "bestanden gelijk aan de vorige run" if not changed else f"gewijzigd: {changed}"
        print(f"  opnieuw gedraaid: {new} nieuwe regels in het grootboek, {same}")
    else:
        print(f"  {new} nieuwe regels in het grootboek (kanaal file)")


def _failures(reports: Path, run: str) -> list[tuple[Path, str, str, str, list[str]]]:
    """The failed expectations of a run's validation results (what its Data Docs pages show):
    result file, suite, column, reason code, and the failing event ids."""
    found = []
    for result in sorted((reports / "validations").glob(f"*/{run}/*/*.json")):
        doc = orjson.loads(result.read_bytes())
        for outcome in doc["results"]:
            if outcome["success"]:
                continue
            config = outcome["expectation_config"]
            listed = outcome["result"].get("unexpected_index_list") or []
            ids: list[str] = []
            for row in listed:  # GX lists them per row or per column
                value = row.get("event_id") if isinstance(row, dict) else None
                ids.extend(str(v) for v in (value if isinstance(value, list) else [value]) if v)
            found.append(
                (
                    result,
                    doc["suite_name"],
                    str(config["kwargs"].get("column", "-")),
                    str((config.get("meta") or {}).get("reason") or "-"),
                    ids,
                )
            )
    return found


def _show_validation(settings: Settings, night: str) -> None:
    reports = settings.state_dir / "reports" / night
    summaries = sorted((reports / "samenvattingen").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not summaries:
        raise SystemExit(f"geen validatie-samenvatting in {reports}")
    doc = orjson.loads(summaries[-1].read_bytes())
    checked, held = doc["gecontroleerd"]["rijen_totaal"], doc["quarantaine"]["gebeurtenissen"]
    print(f"== Validatie van de nacht: {checked} gebeurtenissen, {held} in quarantaine gezet")
    planted = set(orjson.loads((settings.state_dir / "airflow" / FAULTS).read_bytes()))
    pages = set()
    caught: set[str] = set()
    for result, suite, column, reason, ids in _failures(reports, doc["run"]):
        pages.add(reports / "data_docs" / result.relative_to(reports).with_suffix(".html"))
        caught |= planted & set(ids)
        shown = ", ".join(f"{i} (gepland)" if i in planted else i for i in ids[:3])
        more = f" en {len(ids) - 3} meer" if len(ids) > 3 else ""
        print(f"  {suite} / {column} ({reason}): {len(ids)} afwijkend: {shown}{more}")
    missed = sorted(planted - caught)
    print(
        f"  geplante fouten gevonden: {len(caught)} van {len(planted)}"
        + (f"; NIET gevonden: {', '.join(missed)}" if missed else "")
    )
    print(f"  samenvatting voor stewards: {summaries[-1].with_suffix('.html')}")
    print(f"  Data Docs:                  {reports / 'data_docs' / 'index.html'}")
    for page in sorted(pages):
        print(f"    met de fouten van deze run: {page}")
    if missed:
        raise SystemExit(1)


def _show_monitoring(settings: Settings, snapshot: dict[str, Any]) -> None:
    from wijkbrug.monitoring.aggregates import MEDIAN_MEASURE
    from wijkbrug.scheduled import monitoring_dir, period_label

    end = datetime.fromisoformat(snapshot["week"][1])
    folder = monitoring_dir(settings) / "week" / period_label("week", end, settings.timezone)
    table = pq.read_table(folder / "monitoring.parquet")
    about = orjson.loads(table.schema.metadata[b"wijkbrug.monitoring"])
    threshold = int(about["threshold"])
    rows = table.to_pylist()
    counts = [r for r in rows if r["measure"] != MEDIAN_MEASURE]
    published = [r for r in counts if not r["suppressed"]]
    under = [r for r in published if r["value"] is None or 0 < r["value"] < threshold]
    print(f"== Monitoring {folder.name} (per {about['period']}, drempel {threshold})")
    print(f"  dashboard: {folder / 'index.html'}")
    print(f"  tabel:     {folder / 'monitoring.parquet'}")
    verdict = "geen enkele onder de drempel" if not under else f"{len(under)} ONDER DE DREMPEL"
    print(
        f"  controle: {len(published)} gepubliceerde aantallen (0 of >= {threshold}), "
        f"{len(counts) - len(published)} onderdrukt; {verdict}"
    )
    if under:
        raise SystemExit(1)


def show(settings: Settings) -> None:
    snapshot = orjson.loads(_snapshot_path(settings).read_bytes())
    _show_drops(settings, snapshot)
    print()
    _show_validation(settings, snapshot["night"])
    print()
    _show_monitoring(settings, snapshot)


if __name__ == "__main__":
    {"plant": plant, "prepare": prepare, "show": show}[sys.argv[1]](Settings())
