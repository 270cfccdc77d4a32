"""`wijkbrug inzage`, `wijkbrug keys` and `wijkbrug deliveries` on a ledger the pipeline filled."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.unit.test_delivery import TENANT, consent, milestone, signal
from wijkbrug.channels import Channel, WriteResult, drain
from wijkbrug.cli import main
from wijkbrug.delivery import Planner
from wijkbrug.keys import KeyStore
from wijkbrug.ledger import Ledger, Outgoing
from wijkbrug.partner_contract import load_contracts
from wijkbrug.pipeline import DeliveryPipeline, KeyAccess
from wijkbrug.settings import Settings


class Accepting(Channel):
    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, rows: list[Outgoing]) -> WriteResult:
        return WriteResult(delivered=[r.id for r in rows])


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir whose ledger holds deliveries about TENANT to dock and the buurtteam."""
    monkeypatch.setenv("WIJKBRUG_STATE_DIR", str(tmp_path))
    settings = Settings()
    ledger = Ledger(settings.ledger())
    keys = KeyAccess(KeyStore(settings.keys_path()))
    pipeline = DeliveryPipeline(
        Planner(load_contracts(), keys, lambda unit: 0),
        ledger,
        keys,
        clock=lambda: datetime(2026, 3, 2, 12, tzinfo=UTC),
    )
    pipeline.consent_event("consent.given", consent("C1", "dock", "doorverwijzing", ["taal"]), "g1")
    pipeline.consent_event(
        "consent.given", consent("C2", "buurtteam-overvecht", "informeren", ["taal"]), "g2"
    )
    for event in (signal(), milestone()):
        plan = pipeline.plan(event)
        pipeline.record(plan.deliveries, plan.held)
    for channel in ("kafka", "webhook"):
        drain(Accepting(channel), ledger, ledger.outbox(channel, {0}), pipeline.may_send)
    ledger.close()
    return tmp_path


def test_inzage_lists_every_delivery_about_the_resident(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inzage", "--huurder", TENANT]) == 0
    out = capsys.readouterr().out
    assert "Inzageverzoek (AVG art. 15)" in out
    assert "aan 2 partner(s): buurtteam-overvecht, dock" in out
    assert "toestemming C1" in out and "toestemming C2" in out
    assert "velden: " in out and "category" in out
    assert "melding" in out  # the buurtteam's milestone alert


def test_inzage_as_json_for_machines(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inzage", "--huurder", TENANT, "--json"]) == 0
    rows = orjson.loads(capsys.readouterr().out)
    partners = {(r["partner"], r["channel"], r["kind"]) for r in rows}
    assert ("dock", "kafka", "signal") in partners
    assert ("buurtteam-overvecht", "kafka", "alert") in partners
    assert all(r["contract_version"] and r["consent_id"] and r["key_id"] for r in rows)
    assert all(isinstance(r["fields"], list) and r["fields"] for r in rows)


def test_inzage_by_bsn_finds_the_same_resident(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["inzage", "--huurder", TENANT, "--json"])
    by_tenant = {
        r["event_id"] + r["partner"] + r["channel"] for r in orjson.loads(capsys.readouterr().out)
    }
    main(["inzage", "--bsn", "111222333", "--json"])
    by_bsn = {
        r["event_id"] + r["partner"] + r["channel"] for r in orjson.loads(capsys.readouterr().out)
    }
    assert by_bsn == by_tenant and by_bsn


def test_inzage_for_someone_without_deliveries(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inzage", "--huurder", "H0000000"]) == 0
    assert "Er is niets over deze bewoner geleverd." in capsys.readouterr().out


def test_deliveries_report_per_partner_and_channel(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deliveries"]) == 0
    out = capsys.readouterr().out
    assert "dock" in out and "geleverd" in out
    assert TENANT not in out


def test_keys_rotate_and_list_never_show_a_secret(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = KeyStore(Settings().keys_path())
    old = store.current("dock")
    assert main(["keys", "rotate", "dock"]) == 0
    out = capsys.readouterr().out
    new = KeyStore(Settings().keys_path()).current("dock")
    assert new.key_id != old.key_id and new.key_id in out
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert old.key_id in listing and new.key_id in listing
    for key in (old, new):
        assert key.secret.hex() not in out + listing
    assert main(["keys", "rotate", "onbekend"]) == 2
