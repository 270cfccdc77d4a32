"""The whole demo, and no resident's name, phone number or BSN in any log it writes."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.stream import REPO

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

#: A Dutch mobile number as people write it: 06 or +31 6, then eight digits, maybe in pairs.
_PHONE = re.compile(r"(?<![\d+])(?:\+31[ -]?6|06)[ -]?(\d{2}[ -]?\d{2}[ -]?\d{2}[ -]?\d{2})(?!\d)")
_NUMBER = re.compile(r"(?<!\d)\d{9}(?!\d)")


@dataclass(frozen=True)
class PersonalData:
    """The residents' names, mobile numbers (their eight digits after 06) and BSNs."""

    names: frozenset[str]
    phones: frozenset[str]
    bsns: frozenset[str]

    @classmethod
    def of_exports(cls, exports: Path) -> PersonalData:
        """From the home-visit export, also its faulty lines (read as text: some are cut off)."""
        text = (exports / "home_visits.jsonl").read_text(encoding="utf-8")
        names = set(re.findall(r'"naam": "([^"\\]+)"', text))
        phones = {_digits(p)[-8:] for p in re.findall(r'"telefoon": "([^"]+)"', text)}
        bsns = set(re.findall(r'"bsn": "(\d+)"', text))
        return cls(frozenset(names), frozenset(phones), frozenset(bsns))

    def found_in(self, text: str) -> list[str]:
        """What of it ``text`` contains, named by kind (never the value itself)."""
        found = []
        for name in self.names:
            escaped = json.dumps(name)[1:-1]  # as a JSON writer with ensure_ascii has it
            if name in text or escaped in text:
                found.append("name")
                break
        if any(_digits(m.group(1)) in self.phones for m in _PHONE.finditer(text)):
            found.append("phone")
        if any(m.group(0) in self.bsns for m in _NUMBER.finditer(text)):
            found.append("bsn")
        return found


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_demo_writes_no_residents_name_phone_number_or_bsn_to_any_log(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    state, demo = tmp_path / "state", tmp_path / "demo"
    prefix = f"demo{uuid.uuid4().hex[:8]}."
    env = os.environ | {
        "WIJKBRUG_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WIJKBRUG_TOPIC_PREFIX": prefix,
        "WIJKBRUG_STREAM_GROUP": f"{prefix}stream",
        "WIJKBRUG_STATE_DIR": str(state),
        "WIJKBRUG_DEMO_DIR": str(demo),
        "WIJKBRUG_DEMO_WEBHOOK_PORT": str(_free_port()),
        "WIJKBRUG_DEMO_METRICS_PORT": str(_free_port()),
    }
    env.pop("WIJKBRUG_LOG_FORMAT", None)  # the default
    done = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    (tmp_path / "demo.out").write_text(done.stdout)  # for a look after a failure
    (tmp_path / "demo.err").write_text(done.stderr)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]

    personal = PersonalData.of_exports(demo / "exports")
    assert len(personal.names) > 300 and len(personal.phones) > 300 and len(personal.bsns) > 100
    # The scan finds what it looks for, in every way the exports write it.
    name, phone, bsn = (
        sorted(personal.names)[0],
        sorted(personal.phones)[0],
        sorted(personal.bsns)[0],
    )
    for planted, kind in (
        (f'{{"message": "contact {name}"}}', "name"),
        (json.dumps({"message": f"contact {name}"}), "name"),
        (f"tel 06-{phone}.", "phone"),
        (f"tel +31 6 {phone}", "phone"),
        (f"tel +316{phone}", "phone"),
        (f"tel 06 {phone[:2]} {phone[2:4]} {phone[4:6]} {phone[6:]}", "phone"),
        (f"bsn={bsn}", "bsn"),
    ):
        assert personal.found_in(planted) == [kind], planted
    assert personal.found_in(f"offset 1{bsn} tel 06{phone}7") == [], "digits within longer numbers"
    # And in what the demo's webhooks received (consented, contract-shaped), it finds all three.
    received = "".join(p.read_text("utf-8") for p in (demo / "webhooks").glob("*.jsonl"))
    assert personal.found_in(received) == ["name", "phone", "bsn"]

    # `airflow dags test` runs the tasks in its own process: their logs are in its output,
    # which the demo keeps in demo-logs/ (Airflow's logs/ folder, scanned too, stays empty).
    logs = sorted(state.rglob("*.log"))
    nightly = (state / "airflow" / "demo-logs" / "nightly_partner_sync.log").read_text("utf-8")
    assert "starting task_id=sync" in nightly and "[wijkbrug.nightly" in nightly, "task logs"
    leaks = {"stderr of the demo": personal.found_in(done.stderr)}
    for path in logs:
        leaks[str(path.relative_to(state))] = personal.found_in(
            path.read_text(encoding="utf-8", errors="replace")
        )
    assert {where: kinds for where, kinds in leaks.items() if kinds} == {}
    assert len(leaks) >= 4, "stderr and the log files of the migration and both DAG runs"
