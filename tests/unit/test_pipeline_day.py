"""The delivery day is the residents' calendar date, however the clock moves."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from wijkbrug.delivery import Planner
from wijkbrug.keys import KeyStore
from wijkbrug.ledger import Ledger
from wijkbrug.partner_contract import load_contracts
from wijkbrug.pipeline import DeliveryPipeline, KeyAccess


def test_the_delivery_day_turns_at_local_midnight_also_on_the_day_clocks_go_forward(
    tmp_path: Path,
) -> None:
    now = [datetime(2026, 3, 28, 12, tzinfo=UTC)]
    keys = KeyAccess(KeyStore(tmp_path / "keys", generate=True))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    pipeline = DeliveryPipeline(
        Planner(load_contracts(), keys, lambda unit: 0),
        ledger,
        keys,
        clock=lambda: now[0],
        timezone="Europe/Amsterdam",
    )
    expected = [
        (datetime(2026, 3, 28, 22, 59, 59, 999999, tzinfo=UTC), date(2026, 3, 28)),  # 23:59 CET
        (datetime(2026, 3, 28, 23, tzinfo=UTC), date(2026, 3, 29)),  # midnight CET
        (datetime(2026, 3, 29, 21, 59, 59, tzinfo=UTC), date(2026, 3, 29)),  # 23:59 CEST
        (datetime(2026, 3, 29, 22, tzinfo=UTC), date(2026, 3, 30)),  # the short day is over
        (datetime(2026, 3, 28, 12, tzinfo=UTC), date(2026, 3, 28)),  # a test's clock goes back
        (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), date(2026, 10, 25)),  # clocks go back
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), date(2026, 10, 25)),  # the long day, 23:59
        (datetime(2026, 10, 25, 23, tzinfo=UTC), date(2026, 10, 26)),
    ]
    try:
        for moment, day in expected:
            now[0] = moment
            assert pipeline.today() == day, moment
            assert pipeline.today() == day, "asked again within the same day"
    finally:
        ledger.close()
