"""The ``wijkbrug`` command as a steward runs it, against the real broker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource

from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics

pytestmark = pytest.mark.kafka
FIXTURES = Path(__file__).parents[1] / "fixtures"


def wijkbrug(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "WIJKBRUG_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "WIJKBRUG_TOPIC_PREFIX": settings.topic_prefix,
        "WIJKBRUG_KAFKA_REQUEST_TIMEOUT_MS": "5000",
        "WIJKBRUG_KAFKA_BOOTSTRAP_TIMEOUT_MS": "3000",
    }
    return subprocess.run(
        [sys.executable, "-m", "wijkbrug.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_connect_json_summary_on_the_last_line_and_idempotent_reruns(settings: Settings) -> None:
    path = str(FIXTURES / "stranger_planning_cp1252.csv")
    first = wijkbrug(settings, "connect", "planning", path, "--json", "--today", "2026-11-28")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert {k: summary[k] for k in ("read", "published", "duplicates", "quarantined")} == {
        "read": 17,
        "published": 7,
        "duplicates": 2,
        "quarantined": 8,
    }
    assert (
        "postcode.format" in first.stdout and "Postcode heeft geen geldig formaat" in first.stdout
    )
    second = wijkbrug(settings, "connect", "planning", path, "--json", "--today", "2026-11-28")
    again = json.loads(second.stdout.strip().splitlines()[-1])
    assert (again["published"], again["duplicates"], again["quarantined"]) == (0, 9, 8)
    assert again["events_published"] == {}


def test_personal_data_never_reaches_the_output(settings: Settings, tmp_path: Path) -> None:
    visit = {
        "registratie_id": "HB-1",
        "bezoekdatum": "2026-02-30",
        "vhe": "40010001",
        "huurdernummer": "H0000001",
        "medewerker": "X",
        "bewoner": {
            "naam": "Fatima El Amrani",
            "telefoon": "06-12345678",
            "geboortedatum": "1970-01-01",
            "bsn": "123456789",
        },
        "signalen": [],
        "toestemmingen": [],
    }
    path = tmp_path / "visits.jsonl"
    path.write_text(json.dumps(visit) + "\n")
    result = wijkbrug(settings, "-v", "connect", "home-visits", str(path), "--json")
    assert result.returncode == 0, result.stderr
    for secret in ("Fatima", "El Amrani", "123456789", "06-12345678", "1970-01-01"):
        assert secret not in result.stdout and secret not in result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["quarantine_reasons"] == {
        "bsn.elfproef": 1,
        "date.invalid": 1,
        "vhe.unknown": 1,
    }


def test_an_unreadable_file_exits_2_and_publishes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "planning.csv"
    path.write_text("project;complex;vhe\nA;B;C\n")
    result = wijkbrug(settings, "connect", "planning", str(path))
    assert result.returncode == 2
    assert "kolommen ontbreken" in result.stderr


def test_an_unreachable_broker_exits_1(settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nobody listens
    down = Settings(kafka_bootstrap=f"127.0.0.1:{port}", topic_prefix=settings.topic_prefix)
    result = wijkbrug(down, "connect", "planning", str(FIXTURES / "stranger_planning_cp1252.csv"))
    assert result.returncode == 1
    assert "Kafka" in result.stderr


def test_topics_ensure_is_idempotent_and_applies_the_declared_configs(settings: Settings) -> None:
    first = wijkbrug(settings, "topics", "ensure")
    assert first.returncode == 0, first.stderr
    assert f"{len(load_topics())} aangemaakt" in first.stdout
    second = wijkbrug(settings, "topics", "ensure")
    assert "0 aangemaakt" in second.stdout
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        described = {
            t["name"]: t
            for t in admin.describe_topics([settings.topic_prefix + name for name in load_topics()])
        }
        assert len(described[settings.topic_prefix + "raw.signal"]["partitions"]) == 6
        assert len(described[settings.topic_prefix + "quarantine"]["partitions"]) == 3
        consent = settings.topic_prefix + "consent"
        configs = admin.describe_configs([ConfigResource("topic", consent)])
        values = {k: v["value"] for k, v in configs["topic"][consent].items()}
        assert values["cleanup.policy"] == "compact"
        assert values["retention.ms"] == "-1"
    finally:
        admin.close()


def test_topics_report_shows_events_and_quarantine_reasons(settings: Settings) -> None:
    wijkbrug(settings, "connect", "planning", str(FIXTURES / "stranger_planning_cp1252.csv"))
    report = wijkbrug(settings, "topics", "report")
    assert report.returncode == 0, report.stderr
    assert "nl.wijkbrug.renovation.milestone" in report.stdout
    assert "huisnummer.invalid" in report.stdout and "planning" in report.stdout


def test_quarantine_listing_shows_reasons_and_raw_only_on_request(settings: Settings) -> None:
    wijkbrug(settings, "connect", "planning", str(FIXTURES / "stranger_planning_cp1252.csv"))
    listing = wijkbrug(settings, "quarantine", "--connector", "planning")
    assert listing.returncode == 0, listing.stderr
    rows = listing.stdout.strip().splitlines()
    assert len(rows) == 8
    assert "stranger_planning_cp1252.csv:13" in listing.stdout
    assert "postcode.format (postcode)" in listing.stdout
    assert "40010004" not in listing.stdout, "raw records stay hidden unless asked for"
    raw = wijkbrug(settings, "quarantine", "--raw")
    assert "THEMA-DREVEN;CPX-OV-031;40010004;" in raw.stdout
