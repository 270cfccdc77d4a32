"""An Airflow event trigger on Kafka: the provider's shared-stream trigger with a record filter.

Imported by DAG files and by the Airflow triggerer only (it needs the ``airflow`` extra).

:class:`FilteredSharedStreamTrigger` is the Kafka provider's ``KafkaSharedStreamTrigger`` (one
shared consumer per topic set, offsets committed only after the trigger events are stored)
with an apply function: a dotted path, resolved in the triggerer like the provider resolves
callbacks, so only when listed in ``[apache_kafka] callback_allowlist``. The function maps a
record's value to the event payload, or to None for a record that is not for this trigger
(rejected: committed past, or sent to ``dlq_topic``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from airflow.providers.apache.kafka.triggers.shared_stream import KafkaSharedStreamTrigger
from airflow.providers.common.compat.module_loading import import_string
from airflow.providers.common.compat.sdk import conf
from airflow.triggers.base import TriggerEvent
from airflow.triggers.shared_stream import reject_shared_stream_event

ALLOWLIST = ("apache_kafka", "callback_allowlist")


def allowed_callbacks() -> frozenset[str]:
    """The dotted paths ``[apache_kafka] callback_allowlist`` allows."""
    value = conf.get(*ALLOWLIST, fallback="") or ""
    return frozenset(path.strip() for path in value.split(",") if path.strip())


def resolve_apply_function(path: str) -> Callable[[Any], Any]:
    """Import ``path`` if the allowlist names it exactly; refuse otherwise."""
    if path not in allowed_callbacks():
        raise ValueError(
            f"Refusing apply function {path!r}: not in [{ALLOWLIST[0]}] {ALLOWLIST[1]}"
        )
    return import_string(path)


class FilteredSharedStreamTrigger(KafkaSharedStreamTrigger):
    """``KafkaSharedStreamTrigger`` that fires one event per record its apply function keeps.

    The filter yields each event before it reads the next record, which is what binds the
    event to its record in the shared stream's ack channel: the record's offset is committed
    only once the event is stored in the metadata database.
    """

    def __init__(
        self,
        *,
        topics: Sequence[str],
        apply_function: str,
        kafka_config_id: str = "kafka_default",
        poll_timeout: float = 1.0,
        dlq_topic: str | None = None,
    ) -> None:
        super().__init__(
            topics=topics,
            kafka_config_id=kafka_config_id,
            poll_timeout=poll_timeout,
            dlq_topic=dlq_topic,
        )
        self.apply_function = apply_function

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", kwargs | {
            "apply_function": self.apply_function
        }

    async def filter_shared_stream(
        self, shared_stream: AsyncIterator[Any]
    ) -> AsyncIterator[TriggerEvent]:
        apply = resolve_apply_function(self.apply_function)
        async for value in shared_stream:
            payload = apply(value)
            if payload is None:
                reject_shared_stream_event()
                continue
            yield TriggerEvent(payload)
