"""The triggerer's shared-stream path for one watcher trigger, in this process.

``KafkaSharedStreamTrigger.run()`` raises by design: the trigger only runs through the
triggerer's ``SharedStreamManager``, which owns the Kafka consumer (the provider's
``KafkaSharedStreamProducer``) and commits an offset only after the trigger events derived
from the record are confirmed stored. :class:`WatcherHarness` drives that real manager,
producer, consumer and filter exactly as ``TriggerRunner`` does (airflow/jobs/
triggerer_job_runner.py: ``run_trigger`` for subscribe -> ``filter_shared_stream`` ->
``bind_pending_event`` per event; ``sync_state_to_supervisor`` -> ``confirm_persisted``); the
only stand-in is the supervisor's database write, a list here (``stored``), which is what
``Trigger.submit_event`` would turn into asset events. A "crash" drops the in-memory outbox
without storing or confirming it, as a killed triggerer loses its event deque.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from airflow.triggers.shared_stream import SharedStreamManager

TRIGGER_ID = 1


def rebuild(trigger: BaseEventTrigger) -> BaseEventTrigger:
    """The trigger as the triggerer makes it: imported by classpath, built from its kwargs."""
    from airflow.providers.common.compat.module_loading import import_string

    classpath, kwargs = trigger.serialize()
    return import_string(classpath)(**kwargs)


class WatcherHarness:
    """One triggerer "process": a shared-stream manager and one subscribed watcher trigger."""

    def __init__(self, trigger: BaseEventTrigger, *, ack_timeout: float = 60.0) -> None:
        self.trigger = rebuild(trigger)
        self.key = self.trigger.shared_stream_key()
        self.manager = SharedStreamManager(ack_timeout=ack_timeout)
        #: Events the trigger fired, not yet stored: (persist seq, event).
        self.outbox: list[tuple[int | None, TriggerEvent]] = []
        #: Payloads stored (the metadata DB's asset events), in order.
        self.stored: list[Any] = []
        self._task: asyncio.Task | None = None

    async def _run_trigger(self) -> None:
        stream = self.manager.subscribe(trigger_id=TRIGGER_ID, trigger=self.trigger, key=self.key)
        try:
            async for event in self.trigger.filter_shared_stream(stream):
                # As TriggerRunner.run_trigger: bind and queue with no await in between.
                seq = self.manager.bind_pending_event(trigger_id=TRIGGER_ID, key=self.key)
                self.outbox.append((seq, event))
        finally:
            await self.manager.unsubscribe(TRIGGER_ID, self.key)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_trigger())

    def store(self, limit: int | None = None) -> int:
        """The supervisor's part of one state sync: store up to ``limit`` queued events, then
        confirm exactly those (``TriggerStateSync.events_persisted``)."""
        batch = self.outbox[:limit] if limit is not None else self.outbox[:]
        del self.outbox[: len(batch)]
        self.stored += [event.payload for _, event in batch]
        self.manager.confirm_persisted([seq for seq, _ in batch if seq is not None])
        return len(batch)

    def check(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()  # raises what the trigger raised
            raise AssertionError("the trigger ended")

    async def wait(self, condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
        """Await ``condition`` (checked each loop turn, the trigger running meanwhile)."""
        deadline = time.monotonic() + timeout_s
        while not (value := condition()):
            self.check()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
            await asyncio.sleep(0.05)
        return value

    async def crash(self) -> list[TriggerEvent]:
        """Stop without storing the outbox; return the events so lost (never confirmed)."""
        lost = [event for _, event in self.outbox]
        self.outbox.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.manager.stop_all()
        return lost

    async def stop(self) -> None:
        """A clean shutdown: everything fired is stored first."""
        self.store()
        await self.crash()
