"""The consent gate and the contract transform: (event, consent state, contracts) -> deliveries.

Pure: no broker, no database. The stream worker and the nightly DAG feed it events and carry
its results to the ledger and the channels. For every partner whose contract takes the event:

- a **signal** goes out when the resident holds a consent, valid on the delivery day, for that
  partner, a purpose the contract lists for the signal's category, and that category; the
  broadest such purpose serves (its contract may let more fields through);
- a **milestone** goes out (as an event or, for buurtteams, as a Dutch alert) when the household
  holds any consent for that partner, valid on the delivery day, under a purpose the contract
  lists for milestones;
- a signal whose visit consent the registry has not recorded yet is **held**, not refused: the
  registry's export may come after the visit's; it is planned again when the consent arrives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import orjson

from wijkbrug.alerts import milestone_alert
from wijkbrug.consent import Consent, ConsentState, Withdrawal
from wijkbrug.ledger import Delivery
from wijkbrug.partner_contract import EventRule, PartnerContract

#: Channels the stream delivers on; ``file`` is the nightly Parquet drop (Airflow).
STREAM_CHANNELS = ("kafka", "webhook")
DELIVERABLE = ("signal.consented", "renovation.milestone")
HOLD_REASON = "toestemming.nog_niet_geregistreerd"
#: A milestone further in the past than this raises no alert (replays, late exports).
ALERT_HORIZON = timedelta(days=14)


class Keys(Protocol):
    """What the planner needs from the key store (see :mod:`wijkbrug.keys`)."""

    def pseudonymiser(self, partner: str) -> Callable[..., str]: ...

    def subject(self, kind: str, value: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Incoming:
    """A decoded, schema-valid event as the planner sees it."""

    name: str
    id: str
    time: datetime
    data: dict[str, Any]

    def as_json(self) -> bytes:
        return orjson.dumps(
            {"name": self.name, "id": self.id, "time": self.time.isoformat(), "data": self.data}
        )

    @classmethod
    def from_json(cls, raw: bytes) -> Incoming:
        doc = orjson.loads(raw)
        return cls(doc["name"], doc["id"], datetime.fromisoformat(doc["time"]), doc["data"])


@dataclass(slots=True)
class Plan:
    """What to do with one event: deliveries, partners it waits for, partners it is refused."""

    deliveries: list[Delivery] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


class Contacts:
    """Contact details per tenant, from consented signals: only ever used for a warm handover."""

    def __init__(self) -> None:
        self._by_tenant: dict[str, dict[str, str | None]] = {}

    def learn(self, signal: dict[str, Any]) -> None:
        resident = signal.get("resident") or {}
        if resident.get("name"):
            self._by_tenant[signal["tenant_number"]] = {
                "name": resident["name"],
                "phone": resident.get("phone"),
            }

    def get(self, tenant: str) -> dict[str, str | None] | None:
        return self._by_tenant.get(tenant)


def envelope(
    kind: str, event: Incoming, partner: str, consent: Consent | None, contract: PartnerContract,
    key_id: str | None, data: dict[str, Any],
) -> bytes:  # fmt: skip
    """The bytes a partner receives: deterministic (sorted keys), so a re-send is identical."""
    return orjson.dumps(
        {
            "event_id": event.id,
            "kind": kind,
            "event_type": event.name,
            "occurred_at": event.time.isoformat(),
            "partner": partner,
            "purpose": consent.purpose if consent else None,
            "consent_id": consent.consent_id if consent else None,
            "contract_version": contract.version,
            "key_id": key_id,
            "data": data,
        },
        option=orjson.OPT_SORT_KEYS,
    )


class Planner:
    """Plans the deliveries of events for every partner contract; holds no mutable state."""

    def __init__(
        self,
        contracts: dict[str, PartnerContract],
        keys: Keys,
        partition_of: Callable[[str], int],
        channels: Iterable[str] = STREAM_CHANNELS,
    ) -> None:
        self.contracts = contracts
        self.keys = keys
        self.partition_of = partition_of
        self.channels = tuple(channels)
        self._rules = {
            name: [(c, rule) for c in contracts.values() if (rule := c.rule(name)) is not None]
            for name in DELIVERABLE
        }

    def plan(
        self,
        event: Incoming,
        consents: ConsentState,
        today: date,
        contacts: Contacts | None = None,
        only: str | None = None,
    ) -> Plan:
        """Deliveries of ``event`` on ``today``; ``only`` limits it to one partner (a release)."""
        plan = Plan()
        data = event.data
        tenant = data.get("tenant_number")
        if tenant is None:
            return plan  # an empty flat: nobody to consent, nothing person-level to deliver
        for contract, rule in self._rules.get(event.name, []):
            if only is not None and contract.partner != only:
                continue
            if event.name == "signal.consented":
                self._plan_signal(plan, event, contract, rule, consents, today)
            else:
                self._plan_milestone(plan, event, contract, rule, consents, today, contacts)
        return plan

    def _plan_signal(
        self,
        plan: Plan,
        event: Incoming,
        contract: PartnerContract,
        rule: EventRule,
        consents: ConsentState,
        today: date,
    ) -> None:
        data, partner = event.data, contract.partner
        consent = self._signal_consent(rule, consents, data["tenant_number"], partner, data, today)
        if consent is not None:
            out, fields = self._transform(rule, consent, partner, data)
            self._add(plan, event, contract, consent, "signal", out, fields)
        elif self._awaits_registry(consents, partner, data, rule):
            plan.held.append(
                {
                    "event_id": event.id,
                    "partner": partner,
                    "subject": self.keys.subject("huurder", data["tenant_number"]),
                    "event_name": event.name,
                    "event": event.as_json(),
                    "reason": HOLD_REASON,
                }
            )
        else:
            plan.refused.append(partner)

    def _plan_milestone(
        self,
        plan: Plan,
        event: Incoming,
        contract: PartnerContract,
        rule: EventRule,
        consents: ConsentState,
        today: date,
        contacts: Contacts | None,
    ) -> None:
        data, partner = event.data, contract.partner
        if rule.milestones is not None and data["milestone"] not in rule.milestones:
            return
        if rule.deliver_as == "alert" and _event_day(data) < today - ALERT_HORIZON:
            return  # history, not news: a buurtteam acts on what is coming up
        valid = [
            c
            for c in consents.valid(data["tenant_number"], partner, today)
            if rule.allows(c.purpose, milestone=data["milestone"])
        ]
        if not valid:
            plan.refused.append(partner)
            return
        consent = valid[0]  # broadest purpose first
        out, fields = self._transform(rule, consent, partner, data)
        if rule.deliver_as != "alert":
            self._add(plan, event, contract, consent, "milestone", out, fields)
            return
        signals = contract.rule("signal.consented")
        categories = sorted(
            {
                category
                for v in valid
                for category in v.categories
                if signals is not None and signals.allows(v.purpose, category=category)
            }
        )
        contact = contacts.get(data["tenant_number"]) if contacts else None
        alert = milestone_alert(
            out, purpose=consent.purpose, categories=categories, contact=contact
        )
        fields = tuple(sorted({*fields, "title", "body", "categories"}))
        if alert["contact"] is not None:
            fields = (*fields, "contact.name", "contact.phone")
        self._add(plan, event, contract, consent, "alert", alert, fields)

    def _transform(
        self, rule: EventRule, consent: Consent, partner: str, data: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        transform = rule.transform(consent.purpose)
        pseudonymise = self.keys.pseudonymiser(partner)
        out = transform(data, pseudonymise=pseudonymise, reference_date=_event_day(data))
        return out, transform.fields

    def _add(
        self,
        plan: Plan,
        event: Incoming,
        contract: PartnerContract,
        consent: Consent,
        kind: str,
        out: dict[str, Any],
        fields: tuple[str, ...],
    ) -> None:
        """One delivery per stream channel of the partner, all with the same bytes."""
        data = event.data
        key_id = getattr(self.keys.pseudonymiser(contract.partner), "key_id", None)
        payload = envelope(kind, event, contract.partner, consent, contract, key_id, out)
        bsn = (data.get("resident") or {}).get("bsn")
        unit_partition = self.partition_of(data["unit_id"])
        subject = self.keys.subject("huurder", data["tenant_number"])
        bsn_subject = self.keys.subject("bsn", bsn) if bsn else None
        for channel in contract.channels:
            if channel not in self.channels:
                continue
            plan.deliveries.append(
                Delivery(
                    event_id=event.id,
                    partner=contract.partner,
                    channel=channel,
                    kind=kind,
                    event_type=event.name,
                    purpose=consent.purpose,
                    consent_id=consent.consent_id,
                    contract_version=contract.version,
                    key_id=key_id,
                    unit_partition=unit_partition,
                    subject=subject,
                    bsn_subject=bsn_subject,
                    fields=tuple(fields),
                    payload=payload,
                )
            )

    @staticmethod
    def _signal_consent(
        rule: EventRule,
        consents: ConsentState,
        tenant: str,
        partner: str,
        data: dict[str, Any],
        today: date,
    ) -> Consent | None:
        category = data["category"]
        for consent in consents.valid(tenant, partner, today):
            if consent.covers(category) and rule.allows(consent.purpose, category=category):
                return consent
        return None

    @staticmethod
    def _awaits_registry(
        consents: ConsentState, partner: str, data: dict[str, Any], rule: EventRule
    ) -> bool:
        """The visit recorded a consent for this partner that the registry does not know yet."""
        return any(
            ref["partner"] == partner
            and rule.allows(ref["purpose"], category=data["category"])
            and not consents.registration_known(data["registration_id"], partner, ref["purpose"])
            for ref in data.get("consents", ())
        )

    def retractions(self, withdrawal: Withdrawal, received: list[dict[str, Any]]) -> list[Delivery]:
        """One retraction notice per (partner, channel) that received data under the consent."""
        consent = withdrawal.consent
        by_channel: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in received:
            by_channel.setdefault((row["partner"], row["channel"]), []).append(row)
        notices = []
        for (partner, channel), rows in sorted(by_channel.items()):
            contract = self.contracts.get(partner)
            event_ids = sorted({row["event_id"] for row in rows})
            payload = orjson.dumps(
                {
                    "event_id": withdrawal.event_id,
                    "kind": "retraction",
                    "event_type": "consent.withdrawn",
                    "partner": partner,
                    "consent_id": consent.consent_id,
                    "withdrawn_on": withdrawal.withdrawn_on.isoformat(),
                    "contract_version": contract.version if contract else "onbekend",
                    "delete_event_ids": event_ids,
                    "message": (
                        "De bewoner heeft de toestemming ingetrokken. Verwijder de gegevens "
                        f"van de {len(event_ids)} genoemde berichten."
                    ),
                },
                option=orjson.OPT_SORT_KEYS,
            )
            notices.append(
                Delivery(
                    event_id=withdrawal.event_id,
                    partner=partner,
                    channel=channel,
                    kind="retraction",
                    event_type="consent.withdrawn",
                    purpose=consent.purpose,
                    consent_id=consent.consent_id,
                    contract_version=contract.version if contract else "onbekend",
                    key_id=None,
                    unit_partition=rows[0]["unit_partition"],
                    subject=rows[0]["subject"],
                    bsn_subject=None,
                    fields=("delete_event_ids",),
                    payload=payload,
                )
            )
        return notices


def _event_day(data: dict[str, Any]) -> date:
    """The day an event is about, for age bands: stable, so a re-run gives the same bytes."""
    for key in ("visit_date", "realised_date", "planned_date"):
        if data.get(key):
            return date.fromisoformat(data[key])
    return date.fromtimestamp(time.time())
