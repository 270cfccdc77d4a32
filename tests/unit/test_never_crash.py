"""Bad input never crashes a connector: any record ends up published, duplicate or quarantined."""

from __future__ import annotations

import copy

import orjson
from connectors.consent_registry import ConsentRegistryConnector
from connectors.home_visits import HomeVisitsConnector
from connectors.partner_feedback import PartnerFeedbackConnector
from connectors.planning import PlanningConnector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.helpers import run
from tests.unit.test_consents_feedback import FEEDBACK
from tests.unit.test_home_visits import UNITS, VISIT
from wijkbrug.codes import CONSENT_COLUMNS, PLANNING_COLUMNS

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value, prefix=()):
    """Every path into a JSON document, so any value at any depth can be replaced."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _replace(document, path, new):
    if not path:
        return new
    document = copy.deepcopy(document)
    node = document
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return document


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutation_of_a_visit_is_published_or_quarantined(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(list(_paths(VISIT))))
    mutated = _replace(VISIT, path, data.draw(json_values))
    summary, results = run(HomeVisitsConnector(), orjson.dumps(mutated), units=UNITS)
    assert summary.read == 1 and results[0].outcome in {"published", "quarantined"}


@settings(max_examples=200)
@given(data=st.data())
def test_any_mutation_of_feedback_is_published_or_quarantined(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(list(_paths(FEEDBACK))))
    mutated = _replace(FEEDBACK, path, data.draw(json_values))
    summary, _ = run(PartnerFeedbackConnector(), orjson.dumps(mutated))
    assert summary.read == 1 and summary.published + summary.quarantined == 1


@settings(max_examples=200)
@given(st.lists(st.text(max_size=12), min_size=0, max_size=len(PLANNING_COLUMNS) + 2))
def test_any_planning_row_is_published_or_quarantined(cells: list[str]) -> None:
    row = ";".join('"' + c.replace('"', '""') + '"' for c in cells)
    data = (";".join(PLANNING_COLUMNS) + "\n" + row + "\n").encode()
    summary, _ = run(PlanningConnector(), data)
    assert summary.duplicates == 0 and summary.published + summary.quarantined == summary.read


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(CONSENT_COLUMNS),
        json_values,
    )
)
def test_any_consent_record_is_published_or_quarantined(record: dict) -> None:
    summary, _ = run(ConsentRegistryConnector(json_lines=True), orjson.dumps(record))
    assert summary.read == 1 and summary.published + summary.quarantined == 1


class _BrokenFeedback(PartnerFeedbackConnector):
    def map(self, record, context):
        if record.line == 1:
            raise KeyError("Fatima El Amrani")  # a bug whose message quotes personal data
        return super().map(record, context)


def test_a_bug_in_mapping_quarantines_the_record_and_the_run_goes_on(caplog) -> None:
    data = orjson.dumps(FEEDBACK) + b"\n" + orjson.dumps(FEEDBACK | {"terugmelding_id": "TM-9"})
    _, results = run(_BrokenFeedback(), data)
    assert [r.outcome for r in results] == ["quarantined", "published"]
    assert [r.code for r in results[0].reasons] == ["processing.error"]
    assert "KeyError" in caplog.text and "Fatima" not in caplog.text
