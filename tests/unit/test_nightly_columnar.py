"""The columnar nightly planner gives exactly what the per-event planner gives on the file channel.

Random consent states (purposes, categories, validity, withdrawals, visit registrations the
registry has or has not recorded), signals and milestones (dates around the alert horizon,
residents with and without a name, vacant homes, excluded events) are planned both ways and
compared row for row: the ledger's Delivery rows (envelope bytes included), the held count,
each partner's Arrow table, and the Parquet bytes of a realistic synthetic night.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

from wijkbrug.codes import MILESTONES, PURPOSES
from wijkbrug.consent import ConsentState
from wijkbrug.delivery import DELIVERABLE, Contacts, Incoming, Planner
from wijkbrug.keys import KeyStore
from wijkbrug.ledger import Delivery
from wijkbrug.nightly import drop
from wijkbrug.nightly.benchdata import night
from wijkbrug.nightly.columnar import ColumnarPlanner, NightPlan
from wijkbrug.partner_contract import load_contracts
from wijkbrug.pipeline import KeyAccess
from wijkbrug.validation import sample

TODAY = date(2026, 3, 10)
TENANTS = ("H1000001", "H1000002")
PARTNERS = ("buurtteam-overvecht", "gemeente-werk-inkomen", "dock", "bewonersverbinders")
CATEGORIES = ("schulden", "taal", "eenzaamheid", "ggz", "opvoeding")
INTERVAL = (datetime(2026, 3, 9, 18, tzinfo=UTC), datetime(2026, 3, 10, 6, tzinfo=UTC))


def partition(unit: str) -> int:
    return sum(map(ord, unit)) % 6


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyAccess:
    return KeyAccess(KeyStore(tmp_path_factory.mktemp("keys")))


def per_event(
    keys: KeyAccess,
    events: list[Incoming],
    history: list[Incoming],
    consents: ConsentState,
    excluded: set[str],
    today: date = TODAY,
) -> tuple[list[Delivery], int]:
    """What ``nightly.sync`` did before: ``Planner.plan`` per event, contacts learned in order."""
    planner = Planner(load_contracts(), keys, partition, channels=("file",))
    contacts = Contacts()
    for event in history:
        if event.name == "signal.consented":
            contacts.learn(event.data)
    out: list[Delivery] = []
    held = 0
    for event in events:
        if event.name == "signal.consented":
            contacts.learn(event.data)
        if event.name not in DELIVERABLE or event.id in excluded:
            continue
        plan = planner.plan(event, consents, today, contacts)
        out += plan.deliveries
        held += len(plan.held)
    return out, held


def columnar(
    keys: KeyAccess,
    events: list[Incoming],
    history: list[Incoming],
    consents: ConsentState,
    excluded: set[str],
    today: date = TODAY,
    planner: ColumnarPlanner | None = None,
) -> NightPlan:
    planner = planner or ColumnarPlanner(load_contracts(), keys, partition)
    contacts = Contacts()
    for event in history:
        if event.name == "signal.consented":
            contacts.learn(event.data)
    return planner.plan(events, consents, today, contacts, excluded)


def key(d: Delivery) -> tuple[str, str]:
    return d.event_id, d.partner


def assert_same(expected: tuple[list[Delivery], int], night: NightPlan) -> None:
    want, held = expected
    got = night.deliveries()
    assert sorted(got, key=key) == sorted(want, key=key)
    assert night.held == held
    by_partner: dict[str, list[Delivery]] = {}
    for d in want:
        by_partner.setdefault(d.partner, []).append(d)
    assert night.partners() == sorted(by_partner)
    for partner, rows in by_partner.items():
        expected_table = drop.table(rows)
        table = night.table(partner)
        assert table.to_pylist() == expected_table.to_pylist()
        assert table.equals(expected_table)


# -- random nights ------------------------------------------------------------------------------

consent_st = st.tuples(
    st.sampled_from(TENANTS),
    st.sampled_from(PARTNERS),
    st.sampled_from(PURPOSES),
    st.frozensets(st.sampled_from(CATEGORIES), min_size=1, max_size=4),
    st.integers(-40, 2),  # valid from, days from today
    st.integers(-2, 60),  # length
    st.one_of(st.none(), st.none(), st.none(), st.integers(-10, 10)),  # ended on, from today
    st.booleans(),  # ended by withdrawal (else expiry)
    st.sampled_from(["R-1", "R-2", "R-3", None]),
)
ref_st = st.tuples(
    st.sampled_from(PARTNERS), st.sampled_from(PURPOSES), st.sampled_from(["R-1", "R-9"])
)
signal_st = st.tuples(
    st.just("signal"),
    st.sampled_from(TENANTS),
    st.sampled_from(CATEGORIES),
    st.integers(-30, 0),  # visit date
    st.lists(ref_st, max_size=3),
    st.sampled_from([None, "Bewoner Een", "Bewoner Twee"]),  # resident name: a contact
    st.sampled_from([None, "111222333"]),  # BSN
    st.integers(0, 3600),  # published, seconds into the night
)
milestone_st = st.tuples(
    st.just("milestone"),
    st.sampled_from((*TENANTS, None)),
    st.sampled_from(MILESTONES),
    st.integers(-20, 20),  # planned date
    st.booleans(),  # realised
    st.sampled_from([None, "6a"]),  # address addition
    st.integers(0, 3600),
)
night_st = st.tuples(
    st.lists(consent_st, min_size=3, max_size=16),
    st.lists(st.one_of(signal_st, milestone_st), min_size=1, max_size=25),
    st.lists(signal_st, max_size=3),  # history: contacts learned before the night
    st.sets(st.integers(0, 24), max_size=3),  # excluded by validation
)


def build_consents(specs: list[tuple]) -> ConsentState:
    state = ConsentState()
    for n, (tenant, partner, purpose, cats, start, length, ended, withdrawn, reg) in enumerate(
        specs
    ):
        frm = TODAY + timedelta(days=start)
        data = {
            "consent_id": f"C-{n % 7:02d}{'ab'[n % 2]}",
            "tenant_number": tenant,
            "unit_id": "U" + tenant[1:],
            "partner": partner,
            "purpose": purpose,
            "registration_id": reg,
            "categories": sorted(cats),
            "valid_from": frm.isoformat(),
            "valid_until": (frm + timedelta(days=length)).isoformat(),
            "recorded_on": frm.isoformat(),
        }
        if state.get(data["consent_id"]) is not None:
            continue  # one consent id, one resident (the registry's key)
        state.apply("consent.given", data)
        if ended is not None:
            day = (TODAY + timedelta(days=ended)).isoformat()
            if withdrawn:
                state.apply(
                    "consent.withdrawn", {"consent_id": data["consent_id"], "withdrawn_on": day}
                )
            else:
                state.apply(
                    "consent.expired", {"consent_id": data["consent_id"], "expired_on": day}
                )
    return state


def build_event(n: int, spec: tuple) -> Incoming:
    start = INTERVAL[0]
    if spec[0] == "signal":
        _, tenant, category, visit, refs, name, bsn, at = spec
        resident = dict(sample.RESIDENT, name=name, bsn=bsn)
        event = sample.signal(
            "U" + tenant[1:],
            category,
            (TODAY + timedelta(days=visit)).isoformat(),
            start + timedelta(seconds=at),
            registration=f"R-{n % 3 + 1}",
            tenant=tenant,
            resident=resident,
            note="Vrije tekst",
            ident=f"sig-{n:03d}",
        )
        event.data["consents"] = [
            {"consent_ref": f"{reg}/{p}/{purpose}", "partner": p, "purpose": purpose,
             "categories": [category], "valid_until": "2027-01-01"}
            for p, purpose, reg in refs
        ]  # fmt: skip
        return event
    _, tenant, milestone, planned, realised, addition, at = spec
    day = (TODAY + timedelta(days=planned)).isoformat()
    event = sample.milestone(
        "U" + (tenant or "H0000000")[1:],
        milestone,
        start + timedelta(seconds=at),
        realised=day if realised else None,
        planned=day,
        tenant=tenant,
        remark="Opmerking",
        ident=f"ms-{n:03d}",
    )
    event.data["address"]["addition"] = addition
    return event


def build_night(spec: tuple) -> tuple[list[Incoming], list[Incoming], ConsentState, set[str]]:
    consent_specs, event_specs, history_specs, excluded = spec
    events = [build_event(n, s) for n, s in enumerate(event_specs)]
    events.sort(key=lambda e: (e.time, e.id))
    history = [build_event(100 + n, s) for n, s in enumerate(history_specs)]
    ids = sorted(e.id for e in events)
    return events, history, build_consents(consent_specs), {ids[i % len(ids)] for i in excluded}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=night_st)
def test_the_columnar_planner_equals_the_per_event_planner(keys: KeyAccess, spec: tuple) -> None:
    events, history, consents, excluded = build_night(spec)
    expected = per_event(keys, events, history, consents, excluded)
    night = columnar(keys, events, history, consents, excluded)
    assert_same(expected, night)
    note(f"kinds: {sorted({d.kind for d in expected[0]})}")
    note(f"held: {expected[1] > 0}")
    note(f"warm contact in an alert: {any('contact.name' in d.fields for d in expected[0])}")


def test_without_contacts_and_on_an_empty_night(keys: KeyAccess) -> None:
    planner = ColumnarPlanner(load_contracts(), keys, partition)
    night = planner.plan([], ConsentState(), TODAY)
    assert night.deliveries() == [] and night.held == 0 and night.partners() == []
    assert night.table("dock").num_rows == 0


def test_an_event_without_a_day_goes_through_the_per_event_planner(keys: KeyAccess) -> None:
    consents = build_consents(
        [("H1000001", "bewonersverbinders", "doorverwijzing", frozenset({"taal"}), -5, 30, None,
          False, "R-1")]
    )  # fmt: skip
    event = build_event(1, ("milestone", "H1000001", "renovatie_gestart", 0, False, None, 5))
    event.data["planned_date"] = None  # schema-invalid, but the planner copes: so must we
    event.data["realised_date"] = "2026-03-09"
    events = [event, build_event(2, ("milestone", "H1000001", "renovatie_gestart", 1, False,
                                     None, 9))]  # fmt: skip
    assert_same(
        per_event(keys, events, [], consents, set()),
        columnar(keys, events, [], consents, set()),
    )


# -- a planted divergence is caught -------------------------------------------------------------


class NarrowestFirst(ColumnarPlanner):
    """A wrong tie-break: the narrowest purpose serves instead of the broadest."""

    def plan(self, events, consents, today, contacts=None, excluded=()):  # type: ignore[override]
        import wijkbrug.nightly.columnar as module

        original = module._valid_consents

        def wrong(state: ConsentState, day: date):
            frame = original(state, day)
            rank = frame["purpose"].map({p: i for i, p in enumerate(PURPOSES)})
            frame = frame.assign(rank=rank).sort_values(
                ["tenant", "partner", "rank", "consent_id"], kind="stable"
            )
            frame["order"] = range(len(frame))
            return frame.drop(columns="rank").reset_index(drop=True)

        module._valid_consents = wrong
        try:
            return super().plan(events, consents, today, contacts, excluded)
        finally:
            module._valid_consents = original


def test_a_wrong_purpose_tie_break_is_caught(keys: KeyAccess) -> None:
    consents = build_consents(
        [
            ("H1000001", "dock", "informeren", frozenset({"taal"}), -5, 30, None, False, "R-1"),
            (
                "H1000001",
                "dock",
                "warme_overdracht",
                frozenset({"taal"}),
                -5,
                30,
                None,
                False,
                "R-1",
            ),
        ]
    )
    spec = ("signal", "H1000001", "taal", -1, [], "Bewoner Een", None, 10)
    events = [build_event(1, spec)]
    expected = per_event(keys, events, [], consents, set())
    assert expected[0] and expected[0][0].purpose == "warme_overdracht"
    assert_same(expected, columnar(keys, events, [], consents, set()))
    wrong = NarrowestFirst(load_contracts(), keys, partition)
    with pytest.raises(AssertionError):
        assert_same(expected, columnar(keys, events, [], consents, set(), planner=wrong))


# -- a realistic night: the same Parquet bytes ------------------------------------------------


def realistic(homes: int) -> tuple[list[Incoming], list[Incoming], ConsentState]:
    """The sample programme with a tenant per home and consents spread over the partners."""
    built = night(homes, INTERVAL[1])
    return built.events, built.history, built.consents


def test_the_parquet_files_are_byte_identical_on_a_realistic_night(
    keys: KeyAccess, tmp_path: Path
) -> None:
    events, history, consents = realistic(600)
    excluded = {events[7].id, events[100].id}
    today = INTERVAL[1].date()
    want, held = per_event(keys, events, history, consents, excluded, today)
    night = columnar(keys, events, history, consents, excluded, today)
    assert_same((want, held), night)
    kinds = {d.kind for d in want}
    assert kinds == {"signal", "milestone", "alert"}, kinds
    for partner in sorted({d.partner for d in want}):
        rows = [d for d in want if d.partner == partner]
        old = drop.write(tmp_path / "old", partner, "2026-03-09", INTERVAL, drop.table(rows))
        new = drop.write(
            tmp_path / "new", partner, "2026-03-09", INTERVAL, night.file_table(partner, rows)
        )
        assert new.parquet.read_bytes() == old.parquet.read_bytes()
        assert new.manifest.read_bytes().replace(b"/new/", b"/old/") == old.manifest.read_bytes()
        assert new.rows == old.rows == pq.read_metadata(new.parquet).num_rows > 0
    # A subset leaving (the ledger's say) filters the same way drop.table would.
    partner = "dock"
    some = [d for d in want if d.partner == partner][::3]
    assert night.file_table(partner, some).equals(drop.table(some))
