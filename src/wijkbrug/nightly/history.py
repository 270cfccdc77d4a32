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
from wijkbrug.nightly.reading import Decoder, Strings
from wijkbrug.validation import frames

#: Events per chunk made into frame rows.
CHUNK = 50_000


@dataclass
class History:
    """What a night takes from the events before it."""

    block: pd.DataFrame  # the batch rules' rows, as frames.history_rows makes them
    units: set[str]  # every unit the planning's milestones name
    contacts: Contacts  # per tenant, the latest consented signal's name and phone
    events: int


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
    return History(frames.history_rows(parts), units, contacts, count)


def read_history(records: Iterable[Record], names: Iterable[str], strings: Strings) -> History:
    """:func:`digest` of the decodable records of ``names`` (the first record of an id only)."""
    decoder = Decoder(names, strings)
    return digest(event for event, _ in decoder(records))
