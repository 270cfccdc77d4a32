"""A fix for kafka-python 3.0's group join: keep the group's answer that arrives between polls.

kafka-python runs a member's JoinGroup/SyncGroup round trip as a task that ``poll()`` awaits
for at most its timeout. When the task completes *after* one poll gave up waiting and before
the next one looks, the next poll sees a finished task, discards its answer and joins again;
a leader that joins again starts another rebalance, which every member must then join. A
worker busy between polls (processing its batch) makes that likely:
``tests/integration/test_group_consumer.py`` sees a member join one generation twice in 4 of 4
runs without this fix, and in none with it.

The fix hands such a finished task back to kafka-python's own loop as still pending, so the
loop collects the answer on its normal path (state, heartbeat, assignment, listener) instead
of starting another join. It applies only to the kafka-python versions it was written for.
"""

from __future__ import annotations

import logging
from typing import Any

import kafka
from kafka.coordinator.base import BaseCoordinator

log = logging.getLogger(__name__)

#: The kafka-python releases whose ``join_group_async`` this was checked against.
FIXED_VERSIONS = ("3.0.",)


class _Unclaimed:
    """A join task that finished unobserved, shown as pending so the join loop awaits it."""

    is_done = False

    def __init__(self, task: Any) -> None:
        self._task = task

    def add_callback(self, f: Any, *args: Any, **kwargs: Any) -> Any:
        return self._task.add_callback(f, *args, **kwargs)

    def add_errback(self, f: Any, *args: Any, **kwargs: Any) -> Any:
        return self._task.add_errback(f, *args, **kwargs)

    def __await__(self) -> Any:
        return self._task.__await__()


def apply() -> bool:
    """Install the fix once (idempotent); False if this kafka-python is not one it fits."""
    original = BaseCoordinator.join_group_async
    if getattr(original, "_wijkbrug_fix", False):
        return True
    if not kafka.__version__.startswith(FIXED_VERSIONS):
        log.warning("kafka-python %s: group join fix not applied", kafka.__version__)
        return False

    async def join_group_async(self: Any, timeout_ms: Any = None) -> Any:
        task = getattr(self, "_join_task", None)
        if task is not None and task.is_done and task.exception is None:
            self._join_task = _Unclaimed(task)
        return await original(self, timeout_ms)

    join_group_async._wijkbrug_fix = True  # type: ignore[attr-defined]
    BaseCoordinator.join_group_async = join_group_async  # type: ignore[method-assign]
    return True
