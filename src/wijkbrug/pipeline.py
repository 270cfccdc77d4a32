"""The delivery pipeline without a broker: consent state, planning, the ledger, retractions.

The stream worker feeds it decoded events from Kafka and sends what it queues; the property
tests feed it random histories directly. Everything here is the same code in both.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wijkbrug.consent import CONSENT_EVENTS, ConsentState, Withdrawal
from wijkbrug.delivery import Contacts, Incoming, Plan, Planner
from wijkbrug.keys import KeyStore, Pseudonymiser
from wijkbrug.ledger import Delivery, Ledger

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class Stats:
    """What a pipeline did since it started (the demo prints it; metrics export it)."""

    events_in: int = 0
    quarantined: int = 0
    held: int = 0
    released: int = 0
    refused: int = 0
    queued: int = 0
    retractions: int = 0
    cancelled: int = 0
    delivered: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Per partner: ``refused`` split out (events its contract covers, no valid consent).
    refused_by: Counter[str] = field(default_factory=Counter)
    #: Per partner: webhook sends that failed and are tried again after a backoff.
    webhook_retries: Counter[str] = field(default_factory=Counter)


class KeyAccess:
    """The planner's view of the key store: pseudonymisers per partner, ledger subjects."""

    def __init__(self, store: KeyStore, refresh_s: float = 10.0) -> None:
        self.store = store
        self._refresh_s = refresh_s
        self._cache: dict[str, tuple[float, Pseudonymiser]] = {}
        self._subject = Pseudonymiser(store.current("wijkbrug", "ledger"))

    def pseudonymiser(self, partner: str) -> Pseudonymiser:
        """The partner's current key; looked up again now and then, so a rotation takes effect."""
        now = time.monotonic()
        cached = self._cache.get(partner)
        if cached is None or now - cached[0] > self._refresh_s:
            cached = (now, Pseudonymiser(self.store.current(partner, "pseudonym")))
            self._cache[partner] = cached
        return cached[1]

    def subject(self, kind: str, value: str) -> str:
        """The ledger's HMAC of a resident identifier (``huurder`` or ``bsn``)."""
        return self._subject(value, kind)

    def subjects(self, kind: str, value: str) -> list[str]:
        """The identifier's HMAC under every ledger key there has been (subject access)."""
        return [
            Pseudonymiser(self.store.get("wijkbrug", key_id, "ledger"))(value, kind)
            for key_id, *_ in self.store.key_ids("wijkbrug", "ledger")
        ]


class DeliveryPipeline:
    """Consent state + planner + ledger: what to deliver, hold, cancel and retract."""

    def __init__(
        self,
        planner: Planner,
        ledger: Ledger,
        keys: KeyAccess,
        *,
        clock: Callable[[], datetime] | None = None,
        timezone: str = "Europe/Amsterdam",
    ) -> None:
        self.planner = planner
        self.ledger = ledger
        self.keys = keys
        self.clock = clock or (lambda: datetime.now(UTC))
        self.zone = ZoneInfo(timezone)
        self.consents = ConsentState()
        self.contacts = Contacts()
        #: Per tenant, the latest event of every milestone: what a new consent makes deliverable.
        self.milestones: dict[str, dict[str, Incoming]] = {}
        self.stats = Stats()
        self._day: tuple[datetime, datetime, date] = (_NEVER, _NEVER, date.min)

    def today(self) -> date:
        """The delivery day, on the residents' calendar. Its bounds are remembered: the stream
        asks for every event, and converting every clock reading costs more than comparing."""
        now = self.clock()
        start, end, day = self._day
        if start <= now < end:
            return day
        day = now.astimezone(self.zone).date()
        after = day + timedelta(days=1)
        start = datetime(day.year, day.month, day.day, tzinfo=self.zone)  # local midnight
        end = datetime(after.year, after.month, after.day, tzinfo=self.zone)
        self._day = (start, end, day)
        return day

    def may_send(self, consent_id: str | None, kind: str) -> bool:
        """Consent checked again as a delivery leaves: a backlog never outlives its consent."""
        if kind == "retraction" or consent_id is None:
            return True
        consent = self.consents.get(consent_id)
        return consent is not None and consent.valid_on(self.today())

    # -- consent ------------------------------------------------------------------------------

    def consent_event(
        self, name: str, data: dict[str, Any], ident: str, *, act: bool = True
    ) -> Withdrawal | None:
        """Fold a consent event in. A new consent releases what waited for it and makes the
        household's milestones deliverable; a withdrawal stops what has not left and retracts
        what has. ``act=False`` only folds (catching up; :meth:`settle` acts afterwards)."""
        if name not in CONSENT_EVENTS:
            return None
        withdrawal = self.consents.apply(name, data, ident)
        if act and name == "consent.given":
            self._consent_given(data["tenant_number"], data["partner"])
        if act and withdrawal is not None:
            self.retract(withdrawal)
        return withdrawal

    def settle(self, withdrawals: list[Withdrawal]) -> None:
        """After catching up: act on the state as it is now, not on every step to it.

        Retractions are unique per withdrawal, partner and channel in the ledger, so settling
        again after a restart adds only what the worker missed while it was down.
        """
        today = self.today()
        for consent in self.consents.all():
            if consent.valid_on(today):
                self._consent_given(consent.tenant_number, consent.partner)
        for withdrawal in withdrawals:
            self.retract(withdrawal)

    def _consent_given(self, tenant: str, partner: str) -> None:
        self._release_held(tenant, partner)
        events = list(self.milestones.get(tenant, {}).values())
        today = self.today()
        for event in events:
            plan = self.planner.plan(event, self.consents, today, self.contacts, partner)
            self.stats.queued += self.ledger.enqueue(plan.deliveries)

    def remember(self, event: Incoming) -> None:
        """Keep what a later consent needs: contacts (warm handover) and milestones."""
        if event.name == "signal.consented":
            self.contacts.learn(event.data)
        elif event.name == "renovation.milestone" and event.data.get("tenant_number"):
            household = self.milestones.setdefault(event.data["tenant_number"], {})
            household[event.data["milestone"]] = event

    def retract(self, withdrawal: Withdrawal) -> list[Delivery]:
        consent_id = withdrawal.consent.consent_id
        self.stats.cancelled += self.ledger.stop_under(consent_id, "toestemming ingetrokken")
        notices = self.planner.retractions(withdrawal, self.ledger.received_under(consent_id))
        if notices:
            self.stats.retractions += self.ledger.enqueue(notices)
            self.ledger.mark_retracted(consent_id, withdrawal.event_id)
        return notices

    def _release_held(self, tenant: str, partner: str) -> None:
        subject = self.keys.subject("huurder", tenant)
        for row in self.ledger.held_for(subject, partner):
            event = Incoming.from_json(row["event"])
            plan = self.planner.plan(event, self.consents, self.today(), self.contacts, partner)
            if plan.held:
                continue  # still waiting for another of the visit's consents
            self.stats.queued += self.ledger.enqueue(plan.deliveries)
            self.ledger.unhold(row["event_id"], partner)
            self.stats.released += 1

    # -- events -------------------------------------------------------------------------------

    def plan(self, event: Incoming) -> Plan:
        """Plan one decoded, schema-valid event (nothing is written yet)."""
        self.stats.events_in += 1
        self.remember(event)
        plan = self.planner.plan(event, self.consents, self.today(), self.contacts)
        if plan.refused:
            stats = self.stats
            stats.refused += len(plan.refused)
            for partner in plan.refused:
                stats.refused_by[partner] += 1
        return plan

    def record(self, deliveries: list[Delivery], held: list[dict[str, Any]]) -> None:
        """Write planned deliveries (queued) and held events to the ledger."""
        self.stats.queued += self.ledger.enqueue(deliveries)
        self.ledger.hold(held)
        self.stats.held += len(held)
