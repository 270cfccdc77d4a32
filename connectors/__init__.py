"""Source connectors: one module per source system, each a thin :class:`Connector` subclass.

The shared work (validation, quarantine, deduplication, publishing, the summary) lives in
:mod:`wijkbrug.connector`; a connector only knows its source format and how a record maps to
events.
"""

from __future__ import annotations

from connectors.consent_registry import ConsentRegistryConnector
from connectors.home_visits import HomeVisitsConnector
from connectors.partner_feedback import PartnerFeedbackConnector
from connectors.planning import PlanningConnector
from wijkbrug.connector import Connector

CONNECTORS: dict[str, type[Connector]] = {
    PlanningConnector.name: PlanningConnector,
    HomeVisitsConnector.name: HomeVisitsConnector,
    ConsentRegistryConnector.name: ConsentRegistryConnector,
    PartnerFeedbackConnector.name: PartnerFeedbackConnector,
}
