"""The planner: consent gate, contract transform, pseudonyms, holds, alerts, retractions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest

from wijkbrug.consent import ConsentState
from wijkbrug.delivery import HOLD_REASON, Contacts, Incoming, Planner
from wijkbrug.keys import KeyStore
from wijkbrug.partner_contract import load_contracts
from wijkbrug.pipeline import KeyAccess

TODAY = date(2026, 3, 2)
TENANT = "H1234567"


@pytest.fixture
def keys(tmp_path: Path) -> KeyAccess:
    return KeyAccess(KeyStore(tmp_path / "keys"))


@pytest.fixture
def planner(keys: KeyAccess) -> Planner:
    return Planner(load_contracts(), keys, lambda unit: 3)


def consent(cid: str, partner: str, purpose: str, categories: list[str], **over: str) -> dict:
    return {
        "consent_id": cid,
        "tenant_number": TENANT,
        "unit_id": "67060001",
        "partner": partner,
        "purpose": purpose,
        "registration_id": "HB-1",
        "categories": categories,
        "valid_from": "2026-01-01",
        "valid_until": "2026-12-31",
        "recorded_on": "2026-01-01",
        **over,
    }


def state(*consents: dict) -> ConsentState:
    s = ConsentState()
    for c in consents:
        s.apply("consent.given", c)
    return s


def signal(category: str = "taal", refs: list[tuple[str, str]] | None = None, **over) -> Incoming:
    refs = refs or [("dock", "doorverwijzing"), ("buurtteam-overvecht", "doorverwijzing")]
    data = {
        "registration_id": "HB-1",
        "visit_date": "2026-02-20",
        "unit_id": "67060001",
        "complex": "CPX-OV-031",
        "tenant_number": TENANT,
        "registered_by": "Medewerker Een",
        "resident": {
            "name": "Synthetische Bewoner",
            "phone": "06-11111111",
            "birth_date": "1981-06-15",
            "bsn": "111222333",
            "language": "nl",
        },
        "signal_index": 0,
        "category": category,
        "urgency": "hoog",
        "note": "Vrije tekst met details",
        "consents": [
            {
                "consent_ref": f"HB-1/{p}/{d}",
                "partner": p,
                "purpose": d,
                "categories": [category],
                "valid_until": "2026-12-31",
            }
            for p, d in refs
        ],
        **over,
    }
    return Incoming("signal.consented", "ev-signal-1", datetime(2026, 2, 20, tzinfo=UTC), data)


def milestone(name: str = "verhuisd_logeerwoning", planned: str = "2026-03-10") -> Incoming:
    data = {
        "project": "Thema-dreven",
        "complex": "CPX-OV-031",
        "unit_id": "67060001",
        "address": {"street": "Teststraat", "house_number": 4, "postcode": "3563AB"},
        "tenant_number": TENANT,
        "milestone": name,
        "planned_date": planned,
        "realised_date": None,
        "status": "gepland",
        "remark": "Vrije tekst van de planner",
    }
    return Incoming("renovation.milestone", f"ev-{name}", datetime(2026, 3, 1, tzinfo=UTC), data)


def payloads(plan) -> dict[tuple[str, str], dict]:
    return {(d.partner, d.channel): orjson.loads(d.payload) for d in plan.deliveries}


def test_a_signal_goes_only_to_partners_with_a_covering_consent(planner: Planner) -> None:
    consents = state(consent("C1", "dock", "doorverwijzing", ["taal"]))
    plan = planner.plan(signal(), consents, TODAY)
    assert {d.partner for d in plan.deliveries} == {"dock"}
    assert {d.channel for d in plan.deliveries} == set(load_contracts()["dock"].channels) - {"file"}
    assert all(d.consent_id == "C1" and d.purpose == "doorverwijzing" for d in plan.deliveries)
    assert "buurtteam-overvecht" in plan.refused or "buurtteam-overvecht" in {
        h["partner"] for h in plan.held
    }


def test_no_consent_for_the_category_no_delivery(planner: Planner) -> None:
    consents = state(consent("C1", "dock", "doorverwijzing", ["eenzaamheid"]))
    plan = planner.plan(signal("taal", refs=[("dock", "doorverwijzing")]), consents, TODAY)
    assert plan.deliveries == []
    assert plan.held == []
    assert "dock" in plan.refused


def test_a_category_outside_the_contract_is_not_delivered(planner: Planner) -> None:
    assert (
        "schulden"
        not in load_contracts()["dock"].rule("signal.consented").purposes["doorverwijzing"]
    )
    consents = state(consent("C1", "dock", "doorverwijzing", ["schulden"]))
    plan = planner.plan(signal("schulden", refs=[("dock", "doorverwijzing")]), consents, TODAY)
    assert plan.deliveries == []


def test_an_expired_or_future_consent_does_not_serve(planner: Planner) -> None:
    consents = state(consent("C1", "dock", "doorverwijzing", ["taal"], valid_until="2026-03-01"))
    assert planner.plan(signal(refs=[("dock", "doorverwijzing")]), consents, TODAY).deliveries == []
    consents = state(consent("C1", "dock", "doorverwijzing", ["taal"], valid_from="2026-03-03"))
    assert planner.plan(signal(refs=[("dock", "doorverwijzing")]), consents, TODAY).deliveries == []


def test_a_signal_waits_for_a_consent_the_registry_has_not_recorded(planner: Planner) -> None:
    plan = planner.plan(signal(refs=[("dock", "doorverwijzing")]), ConsentState(), TODAY)
    assert plan.deliveries == []
    (held,) = plan.held
    assert held["partner"] == "dock"
    assert held["reason"] == HOLD_REASON
    assert Incoming.from_json(held["event"]).data["category"] == "taal"


def test_only_named_fields_leave_and_free_text_only_for_a_warm_handover(planner: Planner) -> None:
    referral = payloads(
        planner.plan(signal(), state(consent("C1", "dock", "doorverwijzing", ["taal"])), TODAY)
    )[("dock", "kafka")]
    handover = payloads(
        planner.plan(
            signal(refs=[("dock", "warme_overdracht")]),
            state(consent("C2", "dock", "warme_overdracht", ["taal"])),
            TODAY,
        )
    )[("dock", "kafka")]
    for body in (referral, handover):
        text = orjson.dumps(body).decode()
        for secret in ("111222333", "Medewerker Een", "HB-1", "1981-06-15", TENANT, "67060001"):
            assert secret not in text
        assert body["contract_version"] == load_contracts()["dock"].version
    assert "note" not in referral["data"]
    assert handover["data"]["note"] == "Vrije tekst met details"
    assert handover["purpose"] == "warme_overdracht"


def test_the_broadest_purpose_serves(planner: Planner) -> None:
    consents = state(
        consent("C1", "dock", "informeren", ["taal"]),
        consent("C2", "dock", "warme_overdracht", ["taal"]),
    )
    plan = planner.plan(signal(refs=[("dock", "warme_overdracht")]), consents, TODAY)
    assert {d.consent_id for d in plan.deliveries} == {"C2"}


def test_pseudonyms_stable_at_a_partner_and_unlinkable_across(planner: Planner) -> None:
    consents = state(
        consent("C1", "dock", "doorverwijzing", ["taal"]),
        consent("C2", "buurtteam-overvecht", "doorverwijzing", ["taal"]),
    )
    first = payloads(planner.plan(signal(), consents, TODAY))
    again = payloads(planner.plan(signal(signal_index=1), consents, TODAY))
    dock = first[("dock", "kafka")]["data"]["tenant_number"]
    team = first[("buurtteam-overvecht", "kafka")]["data"]["tenant_number"]
    assert dock == again[("dock", "kafka")]["data"]["tenant_number"]
    assert dock != team
    assert TENANT not in (dock, team)
    assert first[("dock", "kafka")]["key_id"] != first[("buurtteam-overvecht", "kafka")]["key_id"]


def test_a_rotation_starts_a_new_key_for_new_deliveries(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    keys = KeyAccess(store, refresh_s=0)
    planner = Planner(load_contracts(), keys, lambda unit: 0)
    consents = state(consent("C1", "dock", "doorverwijzing", ["taal"]))
    before = planner.plan(signal(), consents, TODAY).deliveries[0]
    store.rotate("dock")
    after = planner.plan(signal(), consents, TODAY).deliveries[0]
    assert before.key_id != after.key_id
    assert (
        orjson.loads(before.payload)["data"]["tenant_number"]
        != orjson.loads(after.payload)["data"]["tenant_number"]
    )
    assert store.get("dock", before.key_id).key_id == before.key_id  # the old key is kept


def test_the_ledger_subject_is_not_the_tenant_number(planner: Planner) -> None:
    consents = state(consent("C1", "dock", "doorverwijzing", ["taal"]))
    (delivery, *_) = planner.plan(signal(), consents, TODAY).deliveries
    assert delivery.subject and TENANT not in delivery.subject
    assert delivery.bsn_subject and "111222333" not in delivery.bsn_subject


def test_a_milestone_becomes_a_dutch_alert_for_the_buurtteam(planner: Planner) -> None:
    consents = state(consent("C1", "buurtteam-overvecht", "warme_overdracht", ["schulden"]))
    contacts = Contacts()
    contacts.learn(signal().data)
    plan = planner.plan(milestone(), consents, TODAY, contacts)
    alert = payloads(plan)[("buurtteam-overvecht", "kafka")]
    assert alert["kind"] == "alert"
    assert alert["data"]["title"].startswith("Verhuizing naar logeerwoning gepland")
    assert "10 maart 2026" in alert["data"]["body"]
    assert "schulden" in alert["data"]["body"]
    assert alert["data"]["contact"] == {"name": "Synthetische Bewoner", "phone": "06-11111111"}
    assert "Vrije tekst van de planner" not in orjson.dumps(alert).decode()


def test_no_consent_no_alert_and_no_alert_for_history(planner: Planner) -> None:
    assert planner.plan(milestone(), ConsentState(), TODAY).deliveries == []
    consents = state(consent("C1", "buurtteam-overvecht", "doorverwijzing", ["schulden"]))
    old = planner.plan(milestone(planned="2026-01-02"), consents, TODAY)
    assert [d for d in old.deliveries if d.kind == "alert"] == []


def test_an_empty_flat_yields_nothing(planner: Planner) -> None:
    event = milestone()
    event.data["tenant_number"] = None
    assert planner.plan(event, state(), TODAY).deliveries == []


def test_retractions_go_to_each_partner_channel_that_received(planner: Planner) -> None:
    consents = ConsentState()
    consents.apply("consent.given", consent("C1", "dock", "doorverwijzing", ["taal"]))
    withdrawal = consents.apply(
        "consent.withdrawn",
        {**{k: consent("C1", "dock", "x", [])[k] for k in ("consent_id", "tenant_number")},
         "unit_id": "67060001", "partner": "dock", "purpose": "doorverwijzing",
         "registration_id": "HB-1", "withdrawn_on": "2026-03-02"},
        "ev-withdrawn",
    )  # fmt: skip
    received = [
        {"event_id": "a", "partner": "dock", "channel": "kafka", "unit_partition": 1,
         "subject": "s"},
        {"event_id": "b", "partner": "dock", "channel": "kafka", "unit_partition": 1,
         "subject": "s"},
        {"event_id": "a", "partner": "dock", "channel": "webhook", "unit_partition": 1,
         "subject": "s"},
    ]  # fmt: skip
    notices = planner.retractions(withdrawal, received)
    bodies = {(n.partner, n.channel): orjson.loads(n.payload) for n in notices}
    assert bodies[("dock", "kafka")]["delete_event_ids"] == ["a", "b"]
    assert bodies[("dock", "webhook")]["delete_event_ids"] == ["a"]
    assert all(n.event_id == "ev-withdrawn" and n.kind == "retraction" for n in notices)
    assert planner.retractions(withdrawal, []) == []


def test_pseudonyms_are_namespaced_per_field(planner: Planner) -> None:
    """The same characters as tenant number and as unit number do not link (decision 14)."""
    consents = state(consent("C1", "dock", "doorverwijzing", ["taal"]))
    event = signal(unit_id=TENANT)
    data = payloads(planner.plan(event, consents, TODAY))[("dock", "kafka")]["data"]
    assert data["tenant_number"] != data["unit_id"]
