"""Property tests of the delivery pipeline over random histories, without a broker.

Random sequences of consents, withdrawals, expiries, signals, milestones, passing days and send
rounds run through the same pipeline, ledger and drain the stream worker uses; the sends are
checked against an independent model of consent (plain dates, no wijkbrug code):

- nothing leaves without a consent for that resident, partner and category valid on the day it
  leaves;
- every withdrawal is followed by a retraction to exactly the (partner, channel) pairs that
  received data under it, listing exactly those event ids;
- nothing leaves twice.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wijkbrug.channels import Channel, WriteResult, drain
from wijkbrug.codes import MILESTONES, PURPOSES
from wijkbrug.delivery import Incoming, Planner
from wijkbrug.keys import KeyStore
from wijkbrug.ledger import Ledger, Outgoing
from wijkbrug.partner_contract import load_contracts
from wijkbrug.pipeline import DeliveryPipeline, KeyAccess

TENANTS = ("H1000001", "H1000002")
PARTNERS = ("buurtteam-overvecht", "gemeente-werk-inkomen", "dock", "bewonersverbinders")
START = date(2026, 3, 2)
CATEGORIES = ("schulden", "taal", "eenzaamheid")  # each in several contracts


@dataclass
class ModelConsent:
    tenant: str
    partner: str
    purpose: str
    categories: frozenset[str]
    valid_from: date
    valid_until: date
    ended_on: date | None = None

    def valid_on(self, day: date) -> bool:
        ended = self.ended_on is not None and day >= self.ended_on
        return not ended and self.valid_from <= day <= self.valid_until


@dataclass
class Sent:
    row: Outgoing
    day: date
    body: dict
    consent_valid: bool  # by the model, at the moment it left


class RecordingChannel(Channel):
    """A partner endpoint that accepts everything and remembers it."""

    def __init__(self, name: str, world: World) -> None:
        self.name = name
        self.world = world

    def write(self, rows: list[Outgoing]) -> WriteResult:
        w = self.world
        for row in rows:
            model = w.consents.get(row.consent_id or "")
            valid = model is not None and model.valid_on(w.day)
            w.sent.append(Sent(row, w.day, orjson.loads(row.payload), valid))
        return WriteResult(delivered=[row.id for row in rows])


@dataclass
class World:
    pipeline: DeliveryPipeline
    day: date = START
    consents: dict[str, ModelConsent] = field(default_factory=dict)
    registrations: dict[str, str] = field(default_factory=dict)  # consent id -> registration
    withdrawals: list[tuple[str, str, int]] = field(default_factory=list)  # consent, event, #sent
    sent: list[Sent] = field(default_factory=list)
    pending: list[tuple[str, str, str]] = field(default_factory=list)  # registration, tenant, cat
    events: int = 0

    def now(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, 12, tzinfo=UTC)


# -- operations -----------------------------------------------------------------------------

give_op = st.tuples(
    st.just("give"),
    st.sampled_from(TENANTS),
    st.sampled_from(PARTNERS),
    st.sampled_from(PURPOSES),
    st.frozensets(st.sampled_from(CATEGORIES), min_size=1, max_size=3),
    st.integers(1, 60),
)
end_op = st.tuples(st.sampled_from(["withdraw", "expire"]), st.integers(0, 50))
signal_op = st.tuples(
    st.just("signal"),
    st.sampled_from(TENANTS),
    st.sampled_from(CATEGORIES),
    st.booleans(),  # lists a visit consent the registry has not recorded (yet)
)
milestone_op = st.tuples(
    st.just("milestone"), st.sampled_from(TENANTS), st.sampled_from(MILESTONES), st.integers(-5, 20)
)
record_op = st.tuples(st.just("record"), st.integers(0, 20))
day_op = st.tuples(st.just("days"), st.integers(1, 20))
send_op = st.tuples(st.just("send"))
operations = st.lists(
    st.one_of(
        give_op, give_op, signal_op, signal_op, record_op, end_op, milestone_op, day_op, send_op
    ),
    min_size=12,
    max_size=50,
)


def consent_event(world: World, name: str, cid: str, day_field: str | None) -> dict:
    model = world.consents[cid]
    data = {
        "consent_id": cid,
        "tenant_number": model.tenant,
        "unit_id": "U" + model.tenant[1:],
        "partner": model.partner,
        "purpose": model.purpose,
        "registration_id": world.registrations[cid],
    }
    if day_field is None:
        data.update(
            categories=sorted(model.categories),
            valid_from=model.valid_from.isoformat(),
            valid_until=model.valid_until.isoformat(),
            recorded_on=world.day.isoformat(),
        )
    else:
        data[day_field] = world.day.isoformat()
    return data


def signal_data(world: World, tenant: str, category: str, unrecorded: bool) -> dict:
    refs = [
        {
            "consent_ref": f"{world.registrations[cid]}/{m.partner}/{m.purpose}",
            "partner": m.partner,
            "purpose": m.purpose,
            "categories": sorted(m.categories),
            "valid_until": m.valid_until.isoformat(),
        }
        for cid, m in world.consents.items()
        if m.tenant == tenant
    ]
    registration = f"R-{world.events}"
    if unrecorded:
        world.pending.append(
            (registration, tenant, category)
        )  # consent given at this visit; the registry's export is still to come
        refs.append(
            {
                "consent_ref": f"{registration}/dock/doorverwijzing",
                "partner": "dock",
                "purpose": "doorverwijzing",
                "categories": [category],
                "valid_until": (world.day + timedelta(days=90)).isoformat(),
            }
        )
    return {
        "registration_id": registration,
        "visit_date": world.day.isoformat(),
        "unit_id": "U" + tenant[1:],
        "complex": "CPX-OV-031",
        "tenant_number": tenant,
        "registered_by": "Medewerker Test",
        "resident": {
            "name": "Test Bewoner",
            "phone": "06-00000000",
            "birth_date": "1970-05-05",
            "bsn": None,
            "language": "nl",
        },
        "signal_index": 0,
        "category": category,
        "urgency": "normaal",
        "note": "Vrije tekst",
        "consents": refs or [refs_placeholder(world)],
    }


def refs_placeholder(world: World) -> dict:
    return {
        "consent_ref": "none/none/informeren",
        "partner": "wijkaanpak-monitoring",
        "purpose": "informeren",
        "categories": [],
        "valid_until": world.day.isoformat(),
    }


def milestone_data(world: World, tenant: str, milestone: str, offset: int) -> dict:
    return {
        "project": "Thema-dreven",
        "complex": "CPX-OV-031",
        "unit_id": "U" + tenant[1:],
        "address": {"street": "Teststraat", "house_number": 1, "postcode": "3563AB"},
        "tenant_number": tenant,
        "milestone": milestone,
        "planned_date": (world.day + timedelta(days=offset)).isoformat(),
        "realised_date": None,
        "status": "gepland",
        "remark": "Vrije tekst van de planner",
    }


def run(world: World, ops: list[tuple]) -> None:
    p = world.pipeline
    channels = [RecordingChannel(name, world) for name in ("kafka", "webhook")]
    for op in ops:
        world.events += 1
        kind = op[0]
        if kind == "give":
            _, tenant, partner, purpose, categories, length = op
            cid = f"TST-{world.events:04d}"
            world.consents[cid] = ModelConsent(
                tenant, partner, purpose, categories, world.day, world.day + timedelta(length)
            )
            world.registrations[cid] = f"R-{world.events}"
            p.consent_event("consent.given", consent_event(world, "g", cid, None), f"ev-{cid}-g")
        elif kind == "record":  # the registry's export catches up with a visit
            if not world.pending:
                continue
            registration, tenant, category = world.pending.pop(op[1] % len(world.pending))
            cid = f"TST-{world.events:04d}"
            world.consents[cid] = ModelConsent(
                tenant, "dock", "doorverwijzing", frozenset({category}), world.day,
                world.day + timedelta(90),
            )  # fmt: skip
            world.registrations[cid] = registration
            p.consent_event("consent.given", consent_event(world, "g", cid, None), f"ev-{cid}-g")
        elif kind in ("withdraw", "expire"):
            if not world.consents:
                continue
            cid = sorted(world.consents)[op[1] % len(world.consents)]
            model = world.consents[cid]
            if model.ended_on is not None:
                continue
            model.ended_on = world.day
            name = "consent.withdrawn" if kind == "withdraw" else "consent.expired"
            day_field = "withdrawn_on" if kind == "withdraw" else "expired_on"
            ident = f"ev-{cid}-{kind}"
            p.consent_event(name, consent_event(world, name, cid, day_field), ident)
            if kind == "withdraw":
                world.withdrawals.append((cid, ident, len(world.sent)))
        elif kind == "signal":
            data = signal_data(world, *op[1:])
            plan = p.plan(Incoming("signal.consented", f"sig-{world.events}", world.now(), data))
            p.record(plan.deliveries, plan.held)
        elif kind == "milestone":
            data = milestone_data(world, *op[1:])
            event = Incoming("renovation.milestone", f"ms-{world.events}", world.now(), data)
            plan = p.plan(event)
            p.record(plan.deliveries, plan.held)
        elif kind == "days":
            world.day += timedelta(days=op[1])
        else:
            send(world, channels)
    send(world, channels)


def send(world: World, channels: list[RecordingChannel]) -> None:
    for channel in channels:
        rows = world.pipeline.ledger.outbox(channel.name, range(6), limit=10_000)
        drain(channel, world.pipeline.ledger, rows, world.pipeline.may_send)


# -- the properties ---------------------------------------------------------------------------


def check(world: World) -> None:
    keys = [(s.row.event_id, s.row.partner, s.row.channel) for s in world.sent]
    assert len(keys) == len(set(keys)), "something left twice"
    for s in world.sent:
        if s.row.kind == "retraction":
            continue
        model = world.consents[s.row.consent_id]
        assert model.partner == s.row.partner
        assert s.consent_valid, f"{s.row.kind} left on {s.day} without a valid consent"
        assert s.body["purpose"] == model.purpose
        if s.row.kind == "signal":
            assert s.body["data"]["category"] in model.categories
    for cid, withdrawal_id, sent_before in world.withdrawals:
        received: dict[tuple[str, str], set[str]] = {}
        for s in world.sent[:sent_before]:
            if s.row.consent_id == cid and s.row.kind != "retraction":
                received.setdefault((s.row.partner, s.row.channel), set()).add(s.row.event_id)
        notices = {
            (s.row.partner, s.row.channel): set(s.body["delete_event_ids"])
            for s in world.sent
            if s.row.kind == "retraction" and s.row.event_id == withdrawal_id
        }
        assert notices == received
        assert not any(
            s.row.consent_id == cid and s.row.kind != "retraction" for s in world.sent[sent_before:]
        ), "data left under a withdrawn consent"


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_no_delivery_without_consent_and_every_withdrawal_retracted(
    key_dir: Path, ops: list[tuple]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{tmp}/ledger.sqlite")
        keys = KeyAccess(KeyStore(key_dir))
        planner = Planner(load_contracts(), keys, lambda unit: sum(map(ord, unit)) % 6)
        world = World(pipeline=None)  # type: ignore[arg-type]
        world.pipeline = DeliveryPipeline(planner, ledger, keys, clock=world.now)
        try:
            run(world, ops)
            check(world)
            kinds = {s.row.kind for s in world.sent}
            event(f"kinds sent: {sorted(kinds)}")
            event(f"held released: {world.pipeline.stats.released > 0}")
        finally:
            ledger.close()


def test_the_properties_can_fail(key_dir: Path, tmp_path: Path) -> None:
    """A broken send-time gate is caught: the property has teeth."""
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    keys = KeyAccess(KeyStore(key_dir))
    planner = Planner(load_contracts(), keys, lambda unit: 0)
    world = World(pipeline=None)  # type: ignore[arg-type]
    world.pipeline = DeliveryPipeline(planner, ledger, keys, clock=world.now)
    world.pipeline.may_send = lambda consent_id, kind: True  # the broken gate
    give = ("give", "H1000001", "dock", "doorverwijzing", frozenset({"taal"}), 3)
    world.events += 1
    cid = f"TST-{world.events:04d}"
    world.consents[cid] = ModelConsent(*give[1:5], world.day, world.day + timedelta(3))
    world.registrations[cid] = "R-1"
    world.pipeline.consent_event("consent.given", consent_event(world, "g", cid, None), "g")
    data = signal_data(world, "H1000001", "taal", False)
    plan = world.pipeline.plan(Incoming("signal.consented", "sig-1", world.now(), data))
    world.pipeline.record(plan.deliveries, plan.held)
    assert plan.deliveries, "the consent covers the signal"
    world.day += timedelta(days=10)  # the consent has run out; the backlog has not
    send(world, [RecordingChannel("kafka", world)])
    ledger.close()
    with pytest.raises(AssertionError, match="without a valid consent"):
        check(world)
