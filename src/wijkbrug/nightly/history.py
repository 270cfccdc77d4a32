"""The events before a night, read without holding them: what validation and planning use.

A night's batch rules look back (milestone order, pre-visits, ids delivered before, four weeks
of signal mix) and planning needs the residents' contact details for warm handovers; neither
needs the history's events themselves. :func:`digest` reads them chunk by chunk into frame
rows (:func:`wijkbrug.validation.frames.rows`), the project's units and the latest contacts,
so a night of a million events does not also hold the two thirds of a million before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from wijkbrug.delivery import Contacts, Incoming
from wijkbrug.kafka_client import Record
from wijkbrug.nightly.heap import gc_paused
from wijkbrug.nightly.reading import CHUNK, Decoder
from wijkbrug.validation import frames


@dataclass
class History:
    """What a night takes from the events before it."""

    block: pd.DataFrame  # the batch rules' rows, as frames.row_block makes them
    units: set[str]  # every unit the planning's milestones name
    contacts: Contacts  # per tenant, the latest consented signal's name and phone
    events: int

    def take_block(self) -> pd.DataFrame:
        """Hand the rows over and forget them (validation lets them go once used)."""
        block, self.block = self.block, pd.DataFrame({"time": []})
        return block


def digest(events: Iterable[Incoming], chunk: int = CHUNK) -> History:
    """Read ``events`` (any order) into a :class:`History`; each chunk is let go once read.

    The same as holding them: frame rows in :func:`~wijkbrug.validation.frames.event_frame`'s
    order, the units of :func:`~wijkbrug.validation.units_from_planning`, and the contacts
    :class:`~wijkbrug.delivery.Contacts` learns from the signals in time order (the latest
    wins).
    """
    parts: list[pd.DataFrame] = []
    batch: list[Incoming] = []
    units: set[str] = set()
    latest: dict[str, tuple[tuple[datetime, str], Any, Any]] = {}  # order, name, phone
    count = 0
    with gc_paused():
        for event in events:
            count += 1
            batch.append(event)
            data = event.data
            if event.name == "renovation.milestone":
                units.add(data["unit_id"])
            elif event.name == "signal.consented":
                resident = data.get("resident") or {}
                order = (event.time, event.id)
                known = latest.get(data["tenant_number"])
                if resident.get("name") and (known is None or known[0] < order):
                    latest[data["tenant_number"]] = (order, resident["name"], resident.get("phone"))
            if len(batch) >= chunk:
                parts += frames.rows(batch, in_night=False)
                batch = []
        parts += frames.rows(batch, in_night=False)
        contacts = Contacts()
        for tenant, (_, name, phone) in latest.items():
            contacts.learn({"tenant_number": tenant, "resident": {"name": name, "phone": phone}})
    return History(frames.row_block(parts), units, contacts, count)


def read_history(records: Iterable[Record], names: Iterable[str]) -> History:
    """:func:`digest` of the decodable records of ``names`` (the first record of an id only).
    Their strings are not shared: each chunk's events are let go once made into rows."""
    decoder = Decoder(names, share=())
    return digest(event for event, _ in decoder(records))
