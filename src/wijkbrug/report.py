"""What is on the topics now: events per type, quarantined records per connector and reason."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import orjson

from wijkbrug import kafka_client
from wijkbrug.ledger import Ledger
from wijkbrug.reasons import REASONS
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics

if TYPE_CHECKING:
    from wijkbrug.pipeline import Stats


def topics_report(settings: Settings) -> str:
    """A Dutch overview for stewards and operators; never shows a record's content."""
    lines = ["Gebeurtenissen per topic"]
    reasons: Counter[tuple[str, str]] = Counter()
    held: Counter[str] = Counter()
    for spec in load_topics().values():
        physical = spec.physical(settings.topic_prefix)
        types: Counter[str] = Counter()
        units: set[bytes] = set()
        for record in kafka_client.read_topic(settings, physical):
            headers = dict(record.headers)
            types[headers.get("ce_type", b"?").decode()] += 1
            if record.key:
                units.add(record.key)
            if spec.name == "quarantine":
                data = orjson.loads(record.value)
                held[data["connector"]] += 1
                reasons.update((data["connector"], r["code"]) for r in data["reasons"])
        total = sum(types.values())
        lines.append(f"  {physical:<32}{total:>8}  ({len(units)} sleutels)")
        for event_type, count in sorted(types.items()):
            lines.append(f"    {event_type:<42}{count:>8}")
    lines.append("Quarantaine per connector en reden")
    if not held:
        lines.append("  (leeg)")
    for connector, count in sorted(held.items()):
        lines.append(f"  {connector:<24}{count:>6} records")
        for (name, code), n in sorted(reasons.items()):
            if name == connector:
                lines.append(f"    {code:<24}{n:>6}  {REASONS.get(code, '')}")
    return "\n".join(lines)


STATUS_NL = {
    "queued": "in wachtrij",
    "sending": "onderweg",
    "delivered": "geleverd",
    "failed": "mislukt",
    "cancelled": "niet verzonden",
}


def deliveries_report(ledger: Ledger) -> str:
    """Per partner and channel: deliveries by kind and status, and the latest delivery."""
    rows = ledger.counts()
    waiting = ledger.held_count()
    footer = f"\nwachten op het toestemmingenregister: {waiting} signaal/partner-combinaties"
    if not rows:
        return "(nog niets geleverd)" + (footer if waiting else "")
    lines = [f"{'partner':<24}{'kanaal':<9}{'soort':<12}{'status':<16}{'aantal':>7}  laatste"]
    for row in rows:
        latest = row["latest"].strftime("%Y-%m-%d %H:%M:%S") if row["latest"] else "-"
        lines.append(
            f"{row['partner']:<24}{row['channel']:<9}{row['kind']:<12}"
            f"{STATUS_NL.get(row['status'], row['status']):<16}{row['count']:>7}  {latest}"
        )
    return "\n".join(lines) + (footer if waiting else "")


def stream_summary(stats: Stats) -> str:
    """What a stream worker did, in Dutch, for the operator who started it."""
    lines = [
        f"stream: {stats.events_in} gebeurtenissen gelezen, {stats.queued} leveringen "
        f"klaargezet, {stats.quarantined} in quarantaine, {stats.held} wachten op het "
        f"toestemmingenregister, {stats.refused} keer geen toestemming, "
        f"{stats.retractions} intrekkingen",
    ]
    for (partner, channel), count in sorted(stats.delivered.items()):
        lines.append(f"  geleverd aan {partner:<24} via {channel:<8}{count:>7}")
    return "\n".join(lines)
