"""The night's decoded data shares one copy of each string value."""

from __future__ import annotations

import orjson

from wijkbrug.nightly.reading import Strings


def test_equal_strings_become_one_object_and_the_data_stays_equal() -> None:
    strings = Strings()
    raw = b'{"unit_id": "6706000001", "tags": ["taal", "schulden"], "address": {"postcode": "3563AB", "house_number": 4, "addition": null}, "ok": true}'
    first, second = (strings.share(orjson.loads(raw)) for _ in range(2))
    assert first == second == orjson.loads(raw)
    assert first["unit_id"] is second["unit_id"]
    assert first["tags"][1] is second["tags"][1]
    assert first["address"]["postcode"] is second["address"]["postcode"]
    assert first["address"] is not second["address"], "containers are not shared: only strings"


def test_values_other_than_strings_pass_unchanged() -> None:
    strings = Strings()
    assert strings.share(4) == 4
    assert strings.share(None) is None
    assert strings.share(1.5) == 1.5
    assert strings.share([]) == []
