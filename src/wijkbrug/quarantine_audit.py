"""The steward audit trail: an append-only table in the ledger's database.

Every reveal of personal data and every release or rejection of a quarantined record is one row:
who, when, what, which record, why, and for a release the corrected field names (never their
values: a correction can be a BSN) and the ids of the events it published. A record's review
status is derived from these rows (:func:`wijkbrug.quarantine_review.reviews`).

Append-only twice over: this module only inserts and selects, and the database refuses updates
and deletes (a trigger on SQLite and PostgreSQL). At most one release or reject per record (a
partial unique index): two stewards deciding the same record at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from wijkbrug.ledger import make_engine
from wijkbrug.quarantine_review import DECISIONS, AuditEntry

__all__ = ["AlreadyDecided", "AuditTrail", "steward_audit"]

metadata = MetaData()

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only

steward_audit = Table(
    "steward_audit",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("steward", String(120), nullable=False),
    Column("action", String(16), nullable=False),  # reveal | release | reject
    Column("quarantine_id", String(64), nullable=False),  # the quarantine record's event id
    Column("connector", String(64), nullable=False),
    Column("source_file", String(255), nullable=False),
    Column("line", Integer, nullable=False),
    Column("reason", Text, nullable=False),  # the steward's why
    Column("fields", Text),  # release: JSON list of the corrected field names
    Column("event_ids", Text),  # release: JSON list of the ids of the events published
)
Index("ix_steward_audit_record", steward_audit.c.quarantine_id)
_decision = steward_audit.c.action.in_(tuple(DECISIONS))
Index(
    "uq_steward_audit_decision",
    steward_audit.c.quarantine_id,
    unique=True,
    sqlite_where=_decision,
    postgresql_where=_decision,
)

_REFUSE = "steward_audit is append-only"
for _statement in (
    f"CREATE TRIGGER steward_audit_no_update BEFORE UPDATE ON steward_audit "
    f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END",
    f"CREATE TRIGGER steward_audit_no_delete BEFORE DELETE ON steward_audit "
    f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END",
):
    event.listen(steward_audit, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in (
    "CREATE OR REPLACE FUNCTION steward_audit_append_only() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$",
    "CREATE TRIGGER steward_audit_append_only BEFORE UPDATE OR DELETE ON steward_audit "
    "FOR EACH ROW EXECUTE FUNCTION steward_audit_append_only()",
):
    event.listen(steward_audit, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


class AlreadyDecided(Exception):
    """The record was released or rejected already (perhaps by another steward just now)."""


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes: they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _missing_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    database = parsed.database
    return (
        parsed.get_backend_name() == "sqlite"
        and bool(database)
        and database != ":memory:"
        and not Path(database).exists()
    )


class AuditTrail:
    """The trail on the database at ``url`` (the ledger's); the table is made when missing."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        metadata.create_all(self.engine)

    @staticmethod
    def read_only(url: str) -> list[AuditEntry]:
        """Every entry, without creating a database that is not there yet (listing only)."""
        if _missing_sqlite_file(url):
            return []
        trail = AuditTrail(url)
        try:
            return trail.entries()
        finally:
            trail.close()

    def close(self) -> None:
        self.engine.dispose()

    def append(self, entries: Iterable[AuditEntry]) -> list[int]:
        """Write entries in one transaction; AlreadyDecided if one decides a decided record."""
        rows = [
            {
                "at": entry.at,
                "steward": entry.steward,
                "action": entry.action,
                "quarantine_id": entry.quarantine_id,
                "connector": entry.connector,
                "source_file": entry.source_file,
                "line": entry.line,
                "reason": entry.reason,
                "fields": orjson.dumps(list(entry.fields)).decode() if entry.fields else None,
                "event_ids": (
                    orjson.dumps(list(entry.event_ids)).decode() if entry.event_ids else None
                ),
            }
            for entry in entries
        ]
        if not rows:
            return []
        try:
            with self.engine.begin() as conn:
                return [
                    conn.execute(insert(steward_audit).values(**row)).inserted_primary_key[0]
                    for row in rows
                ]
        except IntegrityError:
            raise AlreadyDecided from None

    def entries(self, quarantine_id: str | None = None) -> list[AuditEntry]:
        """The trail in the order it was written, for one record or all."""
        query = select(steward_audit).order_by(steward_audit.c.id)
        if quarantine_id is not None:
            query = query.where(steward_audit.c.quarantine_id == quarantine_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AuditEntry(
                at=_utc(row["at"]),
                steward=row["steward"],
                action=row["action"],
                quarantine_id=row["quarantine_id"],
                connector=row["connector"],
                source_file=row["source_file"],
                line=row["line"],
                reason=row["reason"],
                fields=tuple(orjson.loads(row["fields"])) if row["fields"] else (),
                event_ids=tuple(orjson.loads(row["event_ids"])) if row["event_ids"] else (),
                id=row["id"],
            )
            for row in rows
        ]
