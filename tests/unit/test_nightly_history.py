"""A history digested chunk by chunk gives what holding its events gave."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd

from wijkbrug.delivery import Contacts
from wijkbrug.nightly.history import digest
from wijkbrug.validation import frames, units_from_planning
from wijkbrug.validation.sample import RESIDENT, programme, signal

END = datetime(2026, 3, 3, 4, tzinfo=UTC)


def test_rows_units_and_contacts_are_those_of_the_events_in_any_order_and_chunking() -> None:
    base = programme(40, END)
    at = END - timedelta(hours=14)  # the latest of the history (the night starts 12 h before END)
    # One tenant's contact changes: the later signal's name must win, whatever the order read.
    renamed = {**RESIDENT, "name": "Synthetische Bewoner Nieuw", "phone": "06-11112222"}
    history = [
        *base.history,
        signal("6706000001", "taal", "2026-03-02", at, registration="HB-x1"),
        signal(
            "6706000001", "schulden", "2026-03-02", at + timedelta(hours=1),
            registration="HB-x2", resident=renamed,
        ),
    ]  # fmt: skip
    in_time_order = sorted(history, key=lambda e: (e.time, e.id))  # as reading.read gives it
    expected_frame = frames.event_frame(base.night, in_time_order)
    expected_contacts = Contacts()
    for event in in_time_order:
        if event.name == "signal.consented":
            expected_contacts.learn(event.data)
    shuffled = history[:]
    random.Random(3).shuffle(shuffled)
    for events, chunk in ((history, 10_000), (shuffled, 7)):
        found = digest(events, chunk=chunk)
        frame = frames.event_frame(base.night, history_block=found.block)
        pd.testing.assert_frame_equal(frame, expected_frame)
        assert found.units == units_from_planning(history)
        assert found.events == len(history)
        tenants = {e.data["tenant_number"] for e in history if e.name == "signal.consented"}
        for tenant in tenants:
            assert found.contacts.get(tenant) == expected_contacts.get(tenant)
        assert found.contacts.get("H0000001") == {"name": renamed["name"], "phone": "06-11112222"}


def test_an_empty_history_digests_to_no_rows() -> None:
    found = digest([])
    assert found.events == 0 and not found.units and len(found.block) == 0
    night = programme(3, END).night
    pd.testing.assert_frame_equal(
        frames.event_frame(night, history_block=found.block), frames.event_frame(night)
    )
