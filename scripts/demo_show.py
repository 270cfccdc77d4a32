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


def metrics_while_streaming(url: str, timeout_s: float = 120.0) -> str:
    """The stream worker's /metrics once it owns partitions, has read everything (lag 0) and
    sent every webhook (backlog 0)."""
    import time
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + timeout_s
    last_delivered, since = -1.0, time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                text = answer.read().decode()
        except OSError:
            text = ""
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        lag = samples.get(("wijkbrug_stream_consumer_lag", ()))
        assigned = samples.get(("wijkbrug_stream_assigned_partitions", ()), 0)
        backlog = sum(v for (n, _), v in samples.items() if n.endswith("_webhook_backlog"))
        delivered = sum(v for (n, _), v in samples.items() if n.endswith("_delivered_total"))
        settled = lag == 0 and assigned > 0 and backlog == 0
        if settled and delivered == last_delivered and time.monotonic() - since >= 2.5:
            break  # read everything, sent every webhook (the backlog is counted every 2 s)
        if not settled or delivered != last_delivered:
            last_delivered, since = delivered, time.monotonic()
        if time.monotonic() > deadline:
            return f"  (geen metrics van {url} binnen {timeout_s:.0f} s)"
        time.sleep(0.2)
    lines = [f"  {url} (Prometheus), zodra alles gelezen is:"]
    for (name, labels), value in sorted(samples.items()):
        if name in (
            "wijkbrug_stream_events_in_total",
            "wijkbrug_stream_quarantined_total",
            "wijkbrug_stream_consumer_lag",
            "wijkbrug_stream_delivered_total",
            "wijkbrug_stream_record_to_ledger_seconds_count",
        ):
            shown = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"    {name}{{{shown}}} {value:g}" if shown else f"    {name} {value:g}")
    return "\n".join(lines)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "metrics":
        print(metrics_while_streaming(sys.argv[2]))
    elif command == "alert":
        print(sample_alert(Settings()))
    elif command == "resident":
        print(resident_with_deliveries(Path(sys.argv[2])))
    else:
        print(withdrawal_export(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])))
