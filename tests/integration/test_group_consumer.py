"""The stream's consumer group member against the real broker: joining and rebalancing."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from typing import Any

import pytest
from kafka.future import Future

from tests.support.stream import wait_until
from wijkbrug import kafka_client
from wijkbrug.kafka_client import GroupConsumer
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics

TOPIC = "raw.renovation.milestone"
BUSY_S = 0.3
ALL = frozenset(range(6))
#: kafka-python's record of a completed JoinGroup: (generation, member id).
JOINED = re.compile(r"Successfully joined group .*Generation (\d+) \(member_id: ([^,]+),")


def _member(settings: Settings, **kwargs: Any) -> GroupConsumer:
    physical = load_topics()[TOPIC].physical(settings.topic_prefix)
    kafka_client.ensure_topics(settings, [load_topics()[TOPIC]])
    return GroupConsumer(
        settings,
        [physical],
        f"{settings.topic_prefix}group",
        on_assigned=lambda p: None,
        on_revoked=lambda p: None,
        **kwargs,
    )


def test_members_busy_between_polls_join_each_generation_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Work between polls must not make a member lose the group's answer to its join.

    Each member does what a stream worker's step does: a short poll, then a batch's work
    (``BUSY_S``); so the group's answer often arrives while the member is not polling. A
    member that loses that answer joins again, and a leader that joins again starts another
    rebalance, which every member must then join.
    """
    caplog.set_level(logging.INFO, logger="kafka.coordinator")
    members = {name: _member(settings) for name in ("first", "second")}
    seen: dict[str, tuple[frozenset[int], bool]] = {}
    stop = threading.Event()

    def step_loop(name: str) -> None:
        member = members[name]
        while not stop.is_set():
            member.poll(100)
            seen[name] = (frozenset(member.assignment()), member.rebalancing())
            time.sleep(BUSY_S)  # stands for processing a batch, not for waiting on anything

    def settled(*names: str) -> bool:
        states = [seen.get(name) for name in names]
        owned = [s[0] for s in states if s is not None and not s[1]]
        return len(owned) == len(names) and all(owned) and frozenset().union(*owned) == ALL

    threads = [threading.Thread(target=step_loop, args=(n,), daemon=True) for n in members]
    try:
        threads[0].start()  # the first settles alone; the second's arrival is a rebalance
        wait_until(lambda: settled("first"), 30, "the first member alone")
        threads[1].start()
        wait_until(lambda: settled(*members), 30, f"both members to settle (seen: {seen})")
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(10)
        for member in members.values():
            member.close()
    first, second = (seen[name][0] for name in members)
    assert not first & second, "no partition owned twice"
    joins = Counter(
        JOINED.search(r.getMessage()).groups()  # type: ignore[union-attr]
        for r in caplog.records
        if JOINED.search(r.getMessage())
    )
    assert sorted(joins.values()) == [1, 1, 1], f"each member joins each generation once: {joins}"


def test_a_member_whose_join_never_completes_starts_over_and_gets_its_share(
    settings: Settings,
) -> None:
    """A join kafka-python never completes must not leave the member out of the group."""
    stuck = _member(settings, stuck_after_s=2)
    other = None
    try:
        wait_until(lambda: stuck.poll(100) or stuck.assignment() == ALL, 30, "the first alone")

        async def never_answered() -> None:
            await Future()  # a join whose answer is lost: the member waits for it for good

        coordinator = stuck._consumer._coordinator  # the fault is injected, the broker is real
        coordinator._do_join_and_sync_async = never_answered
        other = _member(settings)  # its arrival makes the first member join again

        def shared_out() -> bool:
            other.poll(50)  # type: ignore[union-attr]
            stuck.poll(50)
            members = (stuck, other)
            owned = [m.assignment() for m in members if not m.rebalancing()]  # type: ignore[union-attr]
            return len(owned) == 2 and all(owned) and not owned[0] & owned[1]

        wait_until(shared_out, 45, "both members to own their share")
        assert stuck.restarts == 1, "the stuck member started over once"
        assert stuck.assignment() | other.assignment() == ALL
    finally:
        stuck.close()
        if other is not None:
            other.close()
