"""Consent state folded from consent events: validity per day, ends, purposes."""

from __future__ import annotations

from datetime import date

import pytest

from wijkbrug.consent import ConsentState


def given(cid: str = "TST-1", **over: object) -> dict:
    data = {
        "consent_id": cid,
        "tenant_number": "H0000001",
        "unit_id": "10000001",
        "partner": "dock",
        "purpose": "doorverwijzing",
        "registration_id": "HB-1",
        "categories": ["eenzaamheid", "taal"],
        "valid_from": "2026-01-10",
        "valid_until": "2026-07-10",
        "recorded_on": "2026-01-10",
    }
    data.update(over)
    return data


def ended(cid: str, kind: str, day: str) -> tuple[str, dict]:
    name = "consent.withdrawn" if kind == "withdrawn" else "consent.expired"
    field = "withdrawn_on" if kind == "withdrawn" else "expired_on"
    base = {k: given(cid)[k] for k in ("tenant_number", "unit_id", "partner", "purpose")}
    return name, {"consent_id": cid, **base, "registration_id": "HB-1", field: day}


def test_valid_within_its_period_only() -> None:
    state = ConsentState()
    state.apply("consent.given", given())
    ask = state.may_receive
    assert ask("H0000001", "dock", "taal", None, date(2026, 1, 10)) is not None
    assert ask("H0000001", "dock", "taal", None, date(2026, 7, 10)) is not None
    assert ask("H0000001", "dock", "taal", None, date(2026, 1, 9)) is None
    assert ask("H0000001", "dock", "taal", None, date(2026, 7, 11)) is None


@pytest.mark.parametrize(
    ("tenant", "partner", "category", "purpose"),
    [
        ("H0000002", "dock", "taal", None),  # another resident
        ("H0000001", "buurtteam-overvecht", "taal", None),  # another partner
        ("H0000001", "dock", "schulden", None),  # a category not consented
        ("H0000001", "dock", "taal", "warme_overdracht"),  # another purpose
    ],
)
def test_only_the_consented_question_is_answered_yes(
    tenant: str, partner: str, category: str, purpose: str | None
) -> None:
    state = ConsentState()
    state.apply("consent.given", given())
    assert state.may_receive(tenant, partner, category, purpose, date(2026, 3, 1)) is None


def test_withdrawal_ends_it_from_that_day_and_is_reported() -> None:
    state = ConsentState()
    state.apply("consent.given", given())
    withdrawal = state.apply(*ended("TST-1", "withdrawn", "2026-03-01"), "ev-w")
    assert withdrawal is not None
    assert withdrawal.event_id == "ev-w"
    assert withdrawal.consent.consent_id == "TST-1"
    assert state.may_receive("H0000001", "dock", "taal", None, date(2026, 2, 28)) is not None
    assert state.may_receive("H0000001", "dock", "taal", None, date(2026, 3, 1)) is None


def test_expiry_ends_it_without_a_retraction() -> None:
    state = ConsentState()
    state.apply("consent.given", given())
    assert state.apply(*ended("TST-1", "expired", "2026-05-01")) is None
    assert state.may_receive("H0000001", "dock", "taal", None, date(2026, 5, 1)) is None


def test_an_end_seen_before_its_given_is_kept() -> None:
    """After compaction or a partial export, a late ``given`` must not revive a consent."""
    state = ConsentState()
    state.apply(*ended("TST-1", "withdrawn", "2026-02-01"))
    state.apply("consent.given", given())
    assert state.may_receive("H0000001", "dock", "taal", None, date(2026, 3, 1)) is None
    assert state.may_receive("H0000001", "dock", "taal", None, date(2026, 1, 20)) is not None


def test_given_again_does_not_undo_a_withdrawal() -> None:
    state = ConsentState()
    state.apply("consent.given", given())
    state.apply(*ended("TST-1", "withdrawn", "2026-02-01"))
    state.apply("consent.given", given())  # a re-read export repeats the given row
    assert state.may_receive("H0000001", "dock", "taal", None, date(2026, 3, 1)) is None


def test_a_second_withdrawal_changes_nothing() -> None:
    state = ConsentState()
    state.apply("consent.given", given())
    assert state.apply(*ended("TST-1", "withdrawn", "2026-02-01")) is not None
    assert state.apply(*ended("TST-1", "withdrawn", "2026-03-01")) is None
    assert state.get("TST-1").ended_on == date(2026, 2, 1)


def test_the_broadest_purpose_serves_first() -> None:
    state = ConsentState()
    state.apply("consent.given", given("TST-1", purpose="informeren"))
    state.apply("consent.given", given("TST-2", purpose="warme_overdracht"))
    state.apply("consent.given", given("TST-3", purpose="doorverwijzing"))
    valid = state.valid("H0000001", "dock", date(2026, 3, 1))
    assert [c.purpose for c in valid] == ["warme_overdracht", "doorverwijzing", "informeren"]


def test_registration_known_links_a_visit_consent_to_the_registry() -> None:
    state = ConsentState()
    assert not state.registration_known("HB-1", "dock", "doorverwijzing")
    state.apply("consent.given", given())
    assert state.registration_known("HB-1", "dock", "doorverwijzing")
    assert not state.registration_known("HB-1", "dock", "informeren")


def test_not_a_consent_event_is_refused() -> None:
    with pytest.raises(ValueError, match="not a consent event"):
        ConsentState().apply("renovation.milestone", {"consent_id": "x"})
