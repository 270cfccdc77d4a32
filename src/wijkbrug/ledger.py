"""The delivery ledger: every delivery, its consent, contract version and key, and its status.

One SQLAlchemy URL: SQLite (the embedded default) or PostgreSQL (production). The ledger is also
the outbox: a delivery is written here as ``queued`` before the stream worker commits its Kafka
offsets, and the channels send what is queued. The unique constraint on (event id, partner,
channel) is what makes delivery effectively-once: a redelivered event finds its row and adds
nothing. Residents are never stored in the clear: ``subject`` and ``bsn_subject`` are HMACs under
the ledger's own key, enough to answer a subject-access request, useless to anyone else.

What is sent lives in ``payloads``, keyed by its SHA-256, only while a delivery still needs it:
the channels of one partner share one copy, a status change does not rewrite it, and it is
deleted in the same transaction that marks its last delivery delivered or cancelled. The digest
stays on every delivery row as proof of what left.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.sql.elements import ColumnElement

log = logging.getLogger(__name__)

metadata = MetaData()

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("partner", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("kind", String(16), nullable=False),  # signal | milestone | alert | retraction
    Column("event_type", String(64), nullable=False),
    Column("purpose", String(32)),
    Column("consent_id", String(64)),
    Column("contract_version", String(32), nullable=False),
    Column("key_id", String(80)),
    Column("unit_partition", Integer, nullable=False),  # orders and assigns the work per unit
    Column("subject", String(64)),  # HMAC of the tenant number under the ledger key
    Column("bsn_subject", String(64)),  # HMAC of the BSN, when the event carried one
    Column("fields", Text, nullable=False),  # JSON list of the field paths delivered
    Column("payload_sha256", String(64), nullable=False),  # the bytes sent: see ``payloads``
    Column("status", String(16), nullable=False),  # queued sending delivered failed cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(200)),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("retracted_by", String(64)),  # the withdrawal event whose retraction listed it
    UniqueConstraint("event_id", "partner", "channel", name="uq_delivery_once"),
)
Index("ix_deliveries_outbox", deliveries.c.status, deliveries.c.channel, deliveries.c.partner)
Index("ix_deliveries_consent", deliveries.c.consent_id)
Index("ix_deliveries_subject", deliveries.c.subject)
Index("ix_deliveries_bsn_subject", deliveries.c.bsn_subject)

payloads = Table(
    "payloads",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("payload", LargeBinary, nullable=False),
)

held = Table(
    "held_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("partner", String(64), primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("event_name", String(64), nullable=False),
    Column("event", LargeBinary, nullable=False),  # the decoded event, JSON
    Column("reason", String(64), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
)
Index("ix_held_subject", held.c.subject, held.c.partner)

QUEUED, SENDING, DELIVERED, FAILED, CANCELLED = (
    "queued",
    "sending",
    "delivered",
    "failed",
    "cancelled",
)
#: Statuses under which the partner has (or may have) received the data.
RECEIVED = (SENDING, DELIVERED)
#: Statuses whose rows still need their payload (a failed one waits for a steward).
PENDING = (QUEUED, SENDING, FAILED)


class Delivery(NamedTuple):
    """One delivery to write to the ledger and send: the outcome of the pure core.

    A named tuple: the stream plans one or two for every event, and hands whole batches to its
    ledger writer process (:mod:`wijkbrug.writer`), so building and pickling them is kept cheap.
    """

    event_id: str
    partner: str
    channel: str
    kind: str
    event_type: str
    purpose: str | None
    consent_id: str | None
    contract_version: str
    key_id: str | None
    unit_partition: int
    subject: str | None
    bsn_subject: str | None
    fields: tuple[str, ...]
    payload: bytes

    def values(self, created_at: Any, digest: str) -> tuple[Any, ...]:
        """The row in :data:`_ENQUEUE_COLUMNS` order, queued."""
        return (
            self.event_id,
            self.partner,
            self.channel,
            self.kind,
            self.event_type,
            self.purpose,
            self.consent_id,
            self.contract_version,
            self.key_id,
            self.unit_partition,
            self.subject,
            self.bsn_subject,
            orjson.dumps(self.fields).decode(),
            digest,
            QUEUED,
            0,
            created_at,
        )


_ENQUEUE_COLUMNS = (
    "event_id",
    "partner",
    "channel",
    "kind",
    "event_type",
    "purpose",
    "consent_id",
    "contract_version",
    "key_id",
    "unit_partition",
    "subject",
    "bsn_subject",
    "fields",
    "payload_sha256",
    "status",
    "attempts",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A queued delivery as a channel sends it."""

    id: int
    event_id: str
    partner: str
    channel: str
    kind: str
    consent_id: str | None
    unit_partition: int
    payload: bytes
    attempts: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


#: With a background checkpointer, the WAL size (pages) at which a commit checkpoints anyway:
#: only reached when the checkpointer falls behind. SQLite's own default is 1,000.
BACKSTOP_CHECKPOINT_PAGES = 16_000


def make_engine(url: str, *, autocheckpoint: int | None = None) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so workers and threads share it
    (``autocheckpoint``: the WAL pages at which a commit checkpoints; SQLite's default if None)."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            if autocheckpoint is not None:
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class WalCheckpointer:
    """Checkpoints a SQLite WAL from its own thread and connection, so the writer's commits
    do not: a commit that crosses SQLite's auto-checkpoint size copies the WAL into the
    database and syncs it on the writer's time. ``sqlite3`` releases the GIL while it
    checkpoints, so this runs beside the writer on a second core. PASSIVE: it never blocks a
    reader or a writer, and copies what it can; the next round does the rest."""

    def __init__(self, database: str, interval_s: float = 0.1) -> None:
        self.database = database
        self.interval_s = interval_s
        self.rounds = 0
        self._round = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.database, timeout=30, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            while not self._stop.wait(self.interval_s):
                self.checkpoint(conn)
            self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:  # busy or locked: the next round tries again
            log.warning("WAL checkpoint skipped: %s", type(error).__name__)
            return
        with self._round:
            self.rounds += 1
            self._round.notify_all()

    def wait_rounds(self, count: int, timeout_s: float) -> bool:
        """Until ``count`` more rounds have checkpointed (False if ``timeout_s`` passed first)."""
        with self._round:
            target = self.rounds + count
            return self._round.wait_for(lambda: self.rounds >= target, timeout_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Ledger:
    """The ledger and outbox on one database."""

    def __init__(
        self, url: str, *, create: bool = True, checkpoint_in_background: bool = False
    ) -> None:
        """``checkpoint_in_background``: SQLite only, for a long-running writer (the stream
        worker); see :class:`WalCheckpointer`."""
        database = make_url(url).database if url.startswith("sqlite") else None
        background = checkpoint_in_background and database not in (None, "", ":memory:")
        self.engine = make_engine(
            url, autocheckpoint=BACKSTOP_CHECKPOINT_PAGES if background else None
        )
        self.checkpointer: WalCheckpointer | None = None
        self._insert = (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert
        if create:
            metadata.create_all(self.engine)
        dialect = self.engine.dialect
        self._sqlite = dialect.name == "sqlite"
        self._mark = mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._enqueue_sql = (
            f"INSERT INTO deliveries ({', '.join(_ENQUEUE_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(_ENQUEUE_COLUMNS))}) "
            "ON CONFLICT (event_id, partner, channel) DO NOTHING"
        )
        self._payload_sql = (
            f"INSERT INTO payloads (sha256, payload) VALUES ({mark}, {mark}) "
            "ON CONFLICT (sha256) DO NOTHING"
        )
        pairs = (
            "json_each(?) AS k JOIN deliveries d ON d.event_id = k.value ->> 0 "
            "AND d.partner = k.value ->> 1"
            if self._sqlite
            else "unnest(%s::text[], %s::text[]) AS k(event_id, partner) JOIN deliveries d "
            "ON d.event_id = k.event_id AND d.partner = k.partner"
        )
        self._claim_keys_sql = (
            f"UPDATE deliveries SET status = '{SENDING}' WHERE id IN "
            f"(SELECT d.id FROM {pairs} AND d.channel = {mark}) "
            f"AND status || '' = '{QUEUED}' RETURNING id, event_id, partner"
        )
        # The dialect's own DateTime (SQLite: SQLAlchemy's text format), applied once a batch.
        processor = deliveries.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._created_at = processor or (lambda value: value)
        if background:
            self.checkpointer = WalCheckpointer(str(database))

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
            self.checkpointer = None
        self.engine.dispose()

    # -- writing: the stream worker, before it commits offsets ---------------------------------

    def enqueue(self, items: Sequence[Delivery], now: datetime | None = None) -> int:
        """Write deliveries as queued; those already in the ledger are left as they are.

        The hot path of the stream worker, so a plain DBAPI ``executemany`` of tuples: both
        drivers sum its rowcount over the rows, and a conflict counts 0. (SQLAlchemy's own
        parameter processing, or ``RETURNING``, costs two to three times as much per row.)
        """
        if not items:
            return 0
        with self.engine.begin() as conn:
            return self._enqueue(conn, items, now)

    def _enqueue(self, conn: Connection, items: Sequence[Delivery], now: datetime | None) -> int:
        created_at = self._created_at(now or _utcnow())
        digests: dict[bytes, str] = {}
        rows = []
        for item in items:  # the channels of one partner carry the same bytes: hash them once
            digest = digests.get(item.payload)
            if digest is None:
                digest = digests[item.payload] = hashlib.sha256(item.payload).hexdigest()
            rows.append(item.values(created_at, digest))
        inserted = conn.exec_driver_sql(self._enqueue_sql, rows).rowcount
        if inserted:
            pairs = [(digest, payload) for payload, digest in digests.items()]
            conn.exec_driver_sql(self._payload_sql, pairs)
            if inserted < len(rows):  # some were there already, maybe long delivered
                where, events = self._in("event_id", sorted({d.event_id for d in items}))
                self._prune(conn, where, [events])
        return inserted

    def write_batch(
        self,
        items: Sequence[Delivery],
        held_rows: Sequence[dict[str, Any]] = (),
        *,
        claim: str | None = None,
        now: datetime | None = None,
    ) -> tuple[int, list[tuple[int, str, str]]]:
        """One transaction for a stream batch: its deliveries queued, its held events kept and,
        with ``claim`` (a channel), the batch's queued rows on that channel claimed as leaving
        now. Returns (rows inserted, claimed rows as (id, event id, partner)).

        Claimed here, a row is in every retraction from now on (see :meth:`claim`); rows the
        ledger had already delivered or cancelled are not claimed, so a batch read again after
        a crash sends nothing twice."""
        if not items and not held_rows:
            return 0, []
        with self.engine.begin() as conn:
            inserted = self._enqueue(conn, items, now) if items else 0
            self._hold(conn, held_rows, now)
            keys = sorted({(d.event_id, d.partner) for d in items if d.channel == claim})
            if not keys:
                return inserted, []
            _, rows = _driver(conn, self._claim_keys_sql, [*self._keys_param(keys), claim])
            return inserted, [tuple(row) for row in rows]

    def _keys_param(self, keys: list[tuple[str, str]]) -> list[Any]:
        """(event id, partner) pairs as the claim statement's parameters."""
        if self._sqlite:
            return [orjson.dumps(keys).decode()]
        return [[k[0] for k in keys], [k[1] for k in keys]]

    def hold(self, rows: Iterable[dict[str, Any]], now: datetime | None = None) -> None:
        """Keep events that wait for the consent registry (see :mod:`wijkbrug.delivery`)."""
        rows = list(rows)
        if rows:
            with self.engine.begin() as conn:
                self._hold(conn, rows, now)

    def _hold(self, conn: Connection, rows: Sequence[dict[str, Any]], now: datetime | None) -> None:
        if rows:
            since = now or _utcnow()
            statement = self._insert(held).on_conflict_do_nothing()
            conn.execute(statement, [{**row, "since": since} for row in rows])

    def held_for(self, subject: str, partner: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            result = conn.execute(
                select(held).where(held.c.subject == subject, held.c.partner == partner)
            )
            return [dict(row._mapping) for row in result]

    def unhold(self, event_id: str, partner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                held.delete().where(held.c.event_id == event_id, held.c.partner == partner)
            )

    def held_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(held)).scalar_one()

    # -- sending: the channels -----------------------------------------------------------------

    def outbox(
        self,
        channel: str,
        partitions: Iterable[int],
        *,
        partner: str | None = None,
        limit: int = 500,
    ) -> list[Outgoing]:
        """Queued deliveries for ``channel`` on ``partitions``, oldest first.

        Retry timing is the sender's (per partner, in memory, :class:`wijkbrug.webhook.Backoff`);
        ``next_attempt_at`` records it for operators.
        """
        m = self._mark
        in_partitions, partition_list = self._in("d.unit_partition", [int(p) for p in partitions])
        sql = (
            "SELECT d.id, d.event_id, d.partner, d.channel, d.kind, d.consent_id, "
            "d.unit_partition, p.payload, d.attempts "
            "FROM deliveries d JOIN payloads p ON p.sha256 = d.payload_sha256 "
            f"WHERE d.status IN ({m}, {m}) AND d.channel = {m} AND {in_partitions}"
        )
        params: list[Any] = [QUEUED, SENDING, channel, partition_list]
        if partner is not None:
            sql += f" AND d.partner = {m}"
            params.append(partner)
        sql += f" ORDER BY d.id LIMIT {m}"
        params.append(int(limit))
        with self.engine.connect() as conn:
            _, rows = _driver(conn, sql, params)
        return [Outgoing(*row) for row in rows]

    def backlog(self, channel: str, partitions: Iterable[int]) -> dict[str, int]:
        """Per partner, the rows on ``channel`` and ``partitions`` still to send (queued or
        being sent): what :meth:`outbox` would return without a limit, counted (metrics)."""
        m = self._mark
        in_partitions, partition_list = self._in("unit_partition", [int(p) for p in partitions])
        sql = (
            f"SELECT partner, count(*) FROM deliveries WHERE status IN ({m}, {m}) "
            f"AND channel = {m} AND {in_partitions} GROUP BY partner"
        )
        with self.engine.connect() as conn:
            _, rows = _driver(conn, sql, [QUEUED, SENDING, channel, partition_list])
        return {partner: int(count) for partner, count in rows}

    def claim(self, ids: Sequence[int]) -> set[int]:
        """Mark rows as leaving now and return those still to send: a row cancelled meanwhile
        (a withdrawal handled by another worker) is not claimed. From here on a withdrawal lists
        a claimed row in its retraction. A row already ``sending`` (a crash interrupted it) is
        claimed again."""
        if not ids:
            return set()
        with self.engine.begin() as conn:
            _, rows = self._update(conn, ids, {"status": SENDING}, (QUEUED, SENDING), "id")
            return {row[0] for row in rows}

    def requeue(self, ids: Sequence[int]) -> None:
        """Not attempted after all (a failure ahead of it stopped the round)."""
        self._set(ids, {"status": QUEUED}, only=(SENDING,))

    def mark_delivered(self, ids: Sequence[int], now: datetime | None = None) -> None:
        """Delivered: the payload is emptied, its SHA-256 stays as proof of what left."""
        values = {
            "status": DELIVERED,
            "delivered_at": now or _utcnow(),
            "last_error": None,
            "next_attempt_at": None,
        }
        self._set(ids, values, only=(QUEUED, SENDING), prune=True)

    def mark_failed_attempt(
        self, row_id: int, error: str, next_attempt_at: datetime | None, *, permanent: bool
    ) -> None:
        """Record a failed attempt; a permanent failure stops retrying (a steward looks at it)."""
        values: dict[str, Any] = {
            "last_error": error[:200],
            "next_attempt_at": next_attempt_at,
            "status": FAILED if permanent else QUEUED,
        }
        self._set([row_id], values, only=(QUEUED, SENDING), count_attempt=True)

    def cancel(self, ids: Sequence[int], reason: str) -> int:
        """Never send these (their consent ended before they left)."""
        values = {"status": CANCELLED, "last_error": reason[:200]}
        return self._set(ids, values, only=(QUEUED, SENDING), prune=True)

    def _set(
        self,
        ids: Sequence[int],
        values: dict[str, Any],
        *,
        only: tuple[str, ...],
        prune: bool = False,
        count_attempt: bool = False,
    ) -> int:
        if not ids:
            return 0
        with self.engine.begin() as conn:
            changed, _ = self._update(conn, ids, values, only, count_attempt=count_attempt)
            if prune and changed:
                where, ids_param = self._in("id", [int(i) for i in ids])
                self._prune(conn, where, [ids_param])
            return changed

    def _update(
        self,
        conn: Connection,
        ids: Sequence[int],
        values: dict[str, Any],
        only: tuple[str, ...],
        returning: str | None = None,
        *,
        count_attempt: bool = False,
    ) -> tuple[int, list[Any]]:
        """``UPDATE deliveries SET values`` of rows ``ids`` whose status is in ``only``.

        Driver-level SQL, with the ids as one parameter: these run for every batch the
        channels send, and SQLAlchemy's expansion of a long ``IN`` list cost more than the
        update itself. The status is compared as ``status || ''`` (see :func:`_status`)."""
        m = self._mark
        sets = [f"{name} = {m}" for name in values]
        if count_attempt:
            sets.append("attempts = attempts + 1")
        in_ids, ids_param = self._in("id", [int(i) for i in ids])
        sql = (
            f"UPDATE deliveries SET {', '.join(sets)} WHERE {in_ids} "
            f"AND status || '' IN ({', '.join([m] * len(only))})"
        )
        if returning:
            sql += f" RETURNING {returning}"
        params = [self._bind(v) for v in values.values()]
        return _driver(conn, sql, [*params, ids_param, *only])

    def _in(self, column: str, values: list[Any]) -> tuple[str, Any]:
        """``column`` in ``values`` as SQL with a single parameter, whatever its length:
        ``json_each`` on SQLite, ``= ANY`` of an array on PostgreSQL."""
        if self._sqlite:
            return f"{column} IN (SELECT value FROM json_each(?))", orjson.dumps(values).decode()
        return f"{column} = ANY(%s)", values

    def _bind(self, value: Any) -> Any:
        """A value as the driver takes it (SQLite stores datetimes as SQLAlchemy's text)."""
        return self._created_at(value) if isinstance(value, datetime) else value

    def _prune(self, conn: Connection, where: str, params: list[Any]) -> None:
        """Delete the payloads of the deliveries ``where`` selects that no pending delivery needs.

        Rows that share a payload share its event id (the envelope names it), so the pending rows
        to look at are found through the unique index on (event id, partner, channel).
        """
        m = self._mark
        sql = (
            "DELETE FROM payloads WHERE sha256 IN ("
            f"SELECT payload_sha256 FROM deliveries WHERE {where} "
            "EXCEPT SELECT payload_sha256 FROM deliveries WHERE event_id IN "
            f"(SELECT event_id FROM deliveries WHERE {where}) "
            f"AND status || '' IN ({', '.join([m] * len(PENDING))}))"
        )
        _driver(conn, sql, [*params, *params, *PENDING])

    # -- consent ended -------------------------------------------------------------------------

    def stop_under(self, consent_id: str, reason: str) -> int:
        """Cancel every delivery under ``consent_id`` that has not started to leave."""
        c = deliveries.c
        statement = (
            update(deliveries)
            .where(c.consent_id == consent_id, _status() == QUEUED)
            .values(status=CANCELLED, last_error=reason[:200])
        )
        with self.engine.begin() as conn:
            changed = conn.execute(statement).rowcount
            if changed:
                m = self._mark
                where = f"consent_id = {m} AND status || '' = {m}"
                self._prune(conn, where, [consent_id, CANCELLED])
            return changed

    def received_under(self, consent_id: str) -> list[dict[str, Any]]:
        """What partners received under ``consent_id`` (not retractions themselves)."""
        c = deliveries.c
        query = (
            select(c.event_id, c.partner, c.channel, c.unit_partition, c.subject, c.kind)
            .where(c.consent_id == consent_id, _status().in_(RECEIVED), c.kind != "retraction")
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def mark_retracted(self, consent_id: str, withdrawal_id: str) -> None:
        c = deliveries.c
        statement = (
            update(deliveries)
            .where(c.consent_id == consent_id, _status().in_(RECEIVED), c.kind != "retraction")
            .values(retracted_by=withdrawal_id)
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    # -- reading: audit, subject access, reports ------------------------------------------------

    def rows(self, *conditions: Any) -> list[dict[str, Any]]:
        """Ledger rows matching SQLAlchemy ``conditions``, oldest first."""
        query = select(deliveries).where(*conditions).order_by(deliveries.c.id)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def statuses(self, channel: str, event_ids: Iterable[str]) -> dict[tuple[str, str], tuple]:
        """(event id, partner) -> (row id, status) of ``channel``'s rows for ``event_ids``."""
        c = deliveries.c
        ids = sorted(set(event_ids))
        found: dict[tuple[str, str], tuple] = {}
        with self.engine.connect() as conn:
            for at in range(0, len(ids), 5000):
                query = select(c.event_id, c.partner, c.id, c.status).where(
                    c.channel == channel, c.event_id.in_(ids[at : at + 5000])
                )
                for event, partner, row_id, status in conn.execute(query):
                    found[(event, partner)] = (row_id, status)
        return found

    def payload(self, digest: str) -> bytes | None:
        """The bytes kept for ``digest``; None once no delivery needs them any more."""
        with self.engine.connect() as conn:
            query = select(payloads.c.payload).where(payloads.c.sha256 == digest)
            return conn.execute(query).scalar_one_or_none()

    def counts(self) -> list[dict[str, Any]]:
        """Per partner, channel, kind and status: how many deliveries, and the latest."""
        c = deliveries.c
        query = (
            select(
                c.partner,
                c.channel,
                c.kind,
                c.status,
                func.count().label("count"),
                func.max(c.delivered_at).label("latest"),
            )
            .group_by(c.partner, c.channel, c.kind, c.status)
            .order_by(c.partner, c.channel, c.kind, c.status)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


def _status() -> ColumnElement[str]:
    """The status as an expression no index serves (``status || ''``), for statements that
    find their rows by id, event id or consent. SQLite has no statistics, and given a long
    ``IN`` list it would rather walk every queued row through the outbox index on status: a
    partner that is down, with a backlog, would then slow every status change of everyone."""
    return deliveries.c.status.concat("")


def _driver(conn: Connection, sql: str, params: Sequence[Any]) -> tuple[int, list[Any]]:
    """Run ``sql`` on a driver cursor in ``conn``'s transaction: (row count, rows it returned)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        rows = cursor.fetchall() if cursor.description is not None else []
        return cursor.rowcount, rows
    finally:
        cursor.close()
