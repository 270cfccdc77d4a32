"""Consent state, folded from the compacted consent topic: the only source of truth.

Every consent is known by its id (the topic's key, see docs/decisions.md §2). Folding its events
gives, per consent, who (tenant), which partner, purpose, categories and the days it is valid on.
The state answers: may partner P receive category C of resident R for purpose D on day T?
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from wijkbrug.codes import PURPOSES

#: Purposes from narrowest to broadest: with several valid consents, the broadest one serves.
PURPOSE_RANK: dict[str, int] = {purpose: rank for rank, purpose in enumerate(PURPOSES)}

CONSENT_EVENTS = ("consent.given", "consent.withdrawn", "consent.expired")


@dataclass(frozen=True, slots=True)
class Consent:
    """One consent as the registry knows it now."""

    consent_id: str
    tenant_number: str
    unit_id: str
    partner: str
    purpose: str
    registration_id: str | None
    categories: frozenset[str]
    valid_from: date
    valid_until: date
    ended_on: date | None = None  # withdrawn or expired on this day: not valid from then on
    ended_by: str | None = None  # "withdrawn" | "expired"

    def valid_on(self, day: date) -> bool:
        """Valid on ``day``: within its period and not ended on or before that day."""
        if self.ended_on is not None and day >= self.ended_on:
            return False
        return self.valid_from <= day <= self.valid_until

    def covers(self, category: str | None) -> bool:
        return category is None or category in self.categories


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A consent that was withdrawn: what a retraction is made from."""

    consent: Consent
    event_id: str
    withdrawn_on: date


class ConsentState:
    """Every consent by id, and an index by (tenant, partner) for the gate's question."""

    def __init__(self) -> None:
        self._by_id: dict[str, Consent] = {}
        self._pending_end: dict[str, tuple[str, date]] = {}
        self._by_tenant: dict[tuple[str, str], tuple[str, ...]] = {}  # most hold one or two
        self._registrations: set[tuple[str | None, str, str]] = set()
        #: One object per distinct value (categories, dates, partners, purposes): a registry
        #: of a few hundred thousand consents repeats them all the time.
        self._values: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def all(self) -> list[Consent]:
        return list(self._by_id.values())

    def get(self, consent_id: str) -> Consent | None:
        return self._by_id.get(consent_id)

    def apply(self, name: str, data: dict[str, Any], event_id: str = "") -> Withdrawal | None:
        """Fold one consent event in; return a :class:`Withdrawal` when it ends a consent so.

        Events of one consent arrive in order (one key, one partition). An end that arrives for
        a consent not seen given (compaction or a partial export) is remembered and applied when
        the ``given`` event comes, so a late ``given`` can never revive a withdrawn consent.
        """
        consent_id = data["consent_id"]
        if name == "consent.given":
            share = self._share
            consent = Consent(
                consent_id=consent_id,
                tenant_number=data["tenant_number"],
                unit_id=data["unit_id"],
                partner=share(data["partner"]),
                purpose=share(data["purpose"]),
                registration_id=data.get("registration_id"),
                categories=share(frozenset(map(share, data["categories"]))),
                valid_from=share(date.fromisoformat(data["valid_from"])),
                valid_until=share(date.fromisoformat(data["valid_until"])),
            )
            known = self._by_id.get(consent_id)
            ended = self._pending_end.pop(consent_id, None)
            if known is not None and known.ended_on is not None:
                ended = (known.ended_by or "withdrawn", known.ended_on)
            if ended is not None:
                consent = replace(consent, ended_by=ended[0], ended_on=ended[1])
            self._store(consent)
            return None
        if name == "consent.withdrawn":
            kind, day = "withdrawn", date.fromisoformat(data["withdrawn_on"])
        elif name == "consent.expired":
            kind, day = "expired", date.fromisoformat(data["expired_on"])
        else:
            raise ValueError(f"not a consent event: {name}")
        known = self._by_id.get(consent_id)
        if known is None:
            self._pending_end[consent_id] = (kind, day)
            return None
        if known.ended_on is not None and known.ended_on <= day:
            return None  # already ended earlier: nothing changes
        ended = replace(known, ended_on=day, ended_by=kind)
        self._store(ended)
        return Withdrawal(ended, event_id, day) if kind == "withdrawn" else None

    def _share(self, value: Any) -> Any:
        return self._values.setdefault(value, value)

    def _store(self, consent: Consent) -> None:
        self._by_id[consent.consent_id] = consent
        key = (consent.tenant_number, consent.partner)
        known = self._by_tenant.get(key, ())
        if consent.consent_id not in known:
            self._by_tenant[key] = (*known, consent.consent_id)
        self._registrations.add((consent.registration_id, consent.partner, consent.purpose))

    def valid(self, tenant: str, partner: str, on: date) -> list[Consent]:
        """The consents of ``tenant`` for ``partner`` valid on ``on``, broadest purpose first."""
        found = [
            consent
            for cid in self._by_tenant.get((tenant, partner), ())
            if (consent := self._by_id[cid]).valid_on(on)
        ]
        found.sort(key=lambda c: (-PURPOSE_RANK[c.purpose], c.consent_id))
        return found

    def may_receive(
        self,
        tenant: str,
        partner: str,
        category: str | None,
        purpose: str | None,
        on: date,
    ) -> Consent | None:
        """The consent that lets ``partner`` receive ``category`` of ``tenant`` on ``on``, if any.

        ``category`` None asks for any category (milestones); ``purpose`` None for any purpose.
        """
        for consent in self.valid(tenant, partner, on):
            if consent.covers(category) and purpose in (None, consent.purpose):
                return consent
        return None

    def registration_known(self, registration_id: str, partner: str, purpose: str) -> bool:
        """Whether the registry has the consent given at a visit (the signal's ``consent_ref``)."""
        return (registration_id, partner, purpose) in self._registrations
