"""What is on the topics now: events per type, quarantined records per connector and reason."""

from __future__ import annotations

from collections import Counter

import orjson

from wijkbrug import kafka_client
from wijkbrug.reasons import REASONS
from wijkbrug.settings import Settings
from wijkbrug.topics import load_topics


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


def quarantine_listing(
    settings: Settings, connector: str | None = None, show_raw: bool = False
) -> str:
    """Every quarantined record: connector, file, line, reasons; the raw record only on request.

    The raw record may hold personal data: it is shown only to a steward who asks for it.
    """
    spec = load_topics()["quarantine"]
    lines = []
    for record in kafka_client.read_topic(settings, spec.physical(settings.topic_prefix)):
        data = orjson.loads(record.value)
        if connector and data["connector"] != connector:
            continue
        codes = ", ".join(
            r["code"] + (f" ({r['field']})" if r["field"] else "") for r in data["reasons"]
        )
        lines.append(f"{data['connector']:<12} {data['source_file']}:{data['line']:<6} {codes}")
        if show_raw:
            lines.append(f"    {data['raw']}")
    return "\n".join(lines) if lines else "(geen records in quarantaine)"
