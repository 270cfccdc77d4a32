"""Demo helpers: a sample alert from the buurtteam's topic, a resident for the inzage example.

Only for `make demo` (synthetic data): operators and partners use `wijkbrug deliveries`,
`wijkbrug inzage` and their own topic consumers.
"""

from __future__ import annotations

import csv
import sys
from datetime import date
from pathlib import Path

import orjson

from wijkbrug.kafka_client import read_topic
from wijkbrug.settings import Settings


def sample_alert(settings: Settings) -> str:
    """The latest alert on the buurtteam's topic, as a worker would read it."""
    topic = settings.topic_prefix + "deliver.buurtteam-overvecht"
    alerts = [
        orjson.loads(r.value) for r in read_topic(settings, topic) if b'"kind":"alert"' in r.value
    ]
    if not alerts:
        return "(nog geen melding: geen actuele mijlpaal bij een huishouden met toestemming)"
    alert = alerts[-1]
    return f"{alert['data']['title']}\n{alert['data']['body']}"


def resident_with_deliveries(exports: Path) -> str:
    """A tenant with a buurtteam consent still valid today (synthetic)."""
    with (exports / "consents.csv").open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source, delimiter=";"))
    ended = {r["toestemming_id"] for r in rows if r["status"] != "gegeven"}
    today = date.today().isoformat()
    for row in rows:
        if (
            row["status"] == "gegeven"
            and row["partner"] == "buurtteam-overvecht"
            and row["toestemming_id"] not in ended
            and row["geldig_tot"] >= today
        ):
            return row["huurdernummer"]
    return rows[0]["huurdernummer"]


def withdrawal_export(exports: Path, tenant: str, out: Path) -> str:
    """A later registry export: ``tenant`` withdraws their buurtteam consent today."""
    with (exports / "consents.csv").open(encoding="utf-8") as source:
        reader = csv.DictReader(source, delimiter=";")
        header = reader.fieldnames or []
        rows = list(reader)
    today = date.today().isoformat()
    row = next(
        r for r in rows if r["huurdernummer"] == tenant and r["partner"] == "buurtteam-overvecht"
    )
    withdrawn = {**row, "status": "ingetrokken", "categorieen": "", "mutatiedatum": today}
    with out.open("w", encoding="utf-8", newline="") as sink:
        writer = csv.DictWriter(sink, header, delimiter=";")
        writer.writeheader()
        writer.writerow(withdrawn)
    return row["toestemming_id"]


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "alert":
        print(sample_alert(Settings()))
    elif command == "resident":
        print(resident_with_deliveries(Path(sys.argv[2])))
    else:
        print(withdrawal_export(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])))
