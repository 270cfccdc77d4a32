"""The nightly partner sync (the Airflow DAG ``nightly_partner_sync`` calls :func:`run_night`)."""

from wijkbrug.nightly.drop import PartnerDrop
from wijkbrug.nightly.reading import read_events
from wijkbrug.nightly.sync import NightResult, run_night

__all__ = ["NightResult", "PartnerDrop", "read_events", "run_night"]
