"""The unit register: which complex a home (vhe) is in and who rents it, per the planning.

The corporation's planning export is the unit register of the renovation. Connectors whose
source lacks the complex (home visits) take it from here, and check that a visit's tenant is
the one the planning names for that home, so no signal is filed under the wrong household.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Unit:
    complex: str
    tenant_numbers: frozenset[str] = field(default_factory=frozenset)


def register_from_milestones(milestones: Iterable[Mapping[str, Any]]) -> dict[str, Unit]:
    """vhe -> Unit from milestone data; a home keeps every tenant number it was listed with."""
    complexes: dict[str, str] = {}
    tenants: dict[str, set[str]] = {}
    for milestone in milestones:
        unit = milestone["unit_id"]
        complexes[unit] = milestone["complex"]
        if milestone.get("tenant_number"):
            tenants.setdefault(unit, set()).add(milestone["tenant_number"])
    return {
        unit: Unit(complex_id, frozenset(tenants.get(unit, ())))
        for unit, complex_id in complexes.items()
    }
