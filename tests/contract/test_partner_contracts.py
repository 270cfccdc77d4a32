"""Partner contracts against the rest of the configuration: topics, registry, schemas."""

from __future__ import annotations

from wijkbrug.partner_contract import load_contracts
from wijkbrug.partners import load_partners
from wijkbrug.topics import load_topics


def test_a_partner_topic_exactly_for_every_partner_on_the_kafka_channel() -> None:
    with_kafka = {p for p, c in load_contracts().items() if "kafka" in c.channels}
    topics = {n.removeprefix("deliver.") for n in load_topics() if n.startswith("deliver.")}
    assert topics == with_kafka


def test_every_registered_partner_has_a_contract_and_aggregates_only_stay_so() -> None:
    contracts = load_contracts()
    assert set(contracts) == set(load_partners())
    for partner, entry in load_partners().items():
        if not entry.person_level:
            assert contracts[partner].events == {}
            assert "kafka" not in contracts[partner].channels


def test_every_contract_has_a_version_and_alerts_only_for_milestones() -> None:
    for contract in load_contracts().values():
        assert contract.version
        for name, rule in contract.events.items():
            if rule.deliver_as == "alert":
                assert name == "renovation.milestone"
