"""The event store: the eventsourcing `Application`, its recorder, bulk loading, a cache.

`PaymentsApplication` is pinned to the name `payments` (table `payments_events`).
Its `LedgerRecorder` changes a few things of the library's PostgreSQL recorder, all
inside the one plain transaction that inserts a batch's events (any exception rolls
all of it back; the library's pipelined version commits before re-raising a Python
error that happens after its INSERT):

- Writers are serialized with `pg_advisory_xact_lock(WRITER_LOCK_KEY)` instead of
  `LOCK TABLE … IN EXCLUSIVE MODE`, which needs UPDATE rights the app role does not
  have. Readers tailing the notification log still see ids commit in order.
- Under that lock it checks that every aggregate the batch only *read* still has the
  version it was read at (absent ones still absent), raising `ReadConflict` (an
  `IntegrityError`) otherwise — written aggregates are already protected by the
  primary key — and it upserts the batch's Kafka intake positions.
- It inserts the holders' new wrapped data keys and deletes the erased ones
  (`holder_keys`, payments.ledger.holder_keys), so a key and its holder's events
  commit together or not at all.
- It inserts from four plain arrays rather than an array of composites (the same
  rows, several times cheaper to encode for big batches).

`load_many` rebuilds many aggregates with one statement (with snapshots too: busy
accounts get a snapshot every `SNAPSHOT_INTERVAL` versions, in `payments_snapshots`).
`AggregateCache` keeps committed aggregates between batches.

`MemoryPaymentsApplication` does the same on plain Python objects, for unit tests.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Mapper,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment, EnvType, get_topic, retry
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal

from payments.contract.tables import (
    APPLICATION_NAME,
    EVENTS_TABLE,
    HOLDER_KEYS_TABLE,
    INTAKE_POSITIONS_TABLE,
    SNAPSHOTS_TABLE,
)
from payments.ledger.holder_keys import HolderKeyChanges
from payments.ledger.mapper import LedgerMapper
from payments.ledger.transcoder import FastJSONTranscoder
from payments.runtime.settings import Settings

# Arbitrary but permanent: every writer of payments_events takes this advisory lock.
WRITER_LOCK_KEY = 0x7061796D656E7473  # "payments" in ASCII
SNAPSHOT_INTERVAL = 500


class IntakePosition(NamedTuple):
    """The next Kafka offset to consume for one partition, stored with the batch."""

    consumer_group: str
    topic: str
    partition: int
    next_offset: int


class ReadConflict(IntegrityError):
    """An aggregate the batch read changed before the batch was saved."""


def _check_read_versions(expected: Mapping[UUID, int | None], actual: Mapping[UUID, int]) -> None:
    stale = {
        aggregate_id: (version, actual.get(aggregate_id))
        for aggregate_id, version in expected.items()
        if actual.get(aggregate_id) != version
    }
    if stale:
        shown = ", ".join(f"{k}: read {v[0]}, now {v[1]}" for k, v in list(stale.items())[:5])
        raise ReadConflict(f"{len(stale)} aggregate(s) changed since read ({shown})")


def _stored_event(row: Mapping[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


def _as_uuid(value: Any) -> UUID:
    return value if type(value) is UUID else UUID(str(value))


class LedgerRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = EVENTS_TABLE) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.lock_table_statements = [
            SQL("SET LOCAL lock_timeout = '{0}s'").format(self.datastore.lock_timeout),
            SQL("SELECT pg_advisory_xact_lock({0})").format(Literal(WRITER_LOCK_KEY)),
        ]
        table = Identifier(self.datastore.schema, self.events_table_name)
        self.select_versions_statement = SQL(
            "SELECT originator_id, max(originator_version) AS version FROM {0} "
            "WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(table)
        # Events after a given version per aggregate (0: all), for bulk loading.
        self.select_many_statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {0} e "
            "JOIN unnest(%b::uuid[], %b::bigint[]) AS s(id, after) ON e.originator_id = s.id "
            "WHERE e.originator_version > s.after "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(table)
        # The latest snapshot of each aggregate and the events after it, in one
        # statement (one round trip, one consistent read): per aggregate, its snapshot
        # row (if any) first, then its events in version order.
        self.select_snapshots_and_events_statement = SQL(
            "WITH ids AS (SELECT DISTINCT unnest(%b::uuid[]) AS id), "
            "snap AS (SELECT DISTINCT ON (s.originator_id) s.originator_id, "
            "s.originator_version, s.topic, s.state FROM {1} s "
            "JOIN ids ON s.originator_id = ids.id "
            "ORDER BY s.originator_id, s.originator_version DESC) "
            "SELECT true AS snapshot, originator_id, originator_version, topic, state FROM snap "
            "UNION ALL "
            "SELECT false, e.originator_id, e.originator_version, e.topic, e.state FROM {0} e "
            "JOIN ids ON e.originator_id = ids.id "
            "LEFT JOIN snap ON snap.originator_id = ids.id "
            "WHERE e.originator_version > COALESCE(snap.originator_version, 0) "
            "ORDER BY originator_id, snapshot DESC, originator_version"
        ).format(table, Identifier(self.datastore.schema, SNAPSHOTS_TABLE))
        # Four plain arrays instead of the library's array of composites: the same
        # rows, without escaping every event through the composite text format.
        self.insert_arrays_statement = SQL(
            "INSERT INTO {0} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(table)
        positions = Identifier(self.datastore.schema, INTAKE_POSITIONS_TABLE)
        self.upsert_position_statement = SQL(
            "INSERT INTO {0} AS p (consumer_group, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (consumer_group, topic, partition) "
            "DO UPDATE SET next_offset = GREATEST(p.next_offset, EXCLUDED.next_offset), "
            "updated_at = now()"
        ).format(positions)
        self.select_positions_statement = SQL(
            "SELECT topic, partition, next_offset FROM {0} WHERE consumer_group = %s"
        ).format(positions)
        holder_keys = Identifier(self.datastore.schema, HOLDER_KEYS_TABLE)
        # A plain INSERT: a second key for one holder is a conflict (IntegrityError).
        self.insert_holder_key_statement = SQL(
            "INSERT INTO {0} (holder_id, wrapped_key) VALUES (%s, %s)"
        ).format(holder_keys)
        self.delete_holder_key_statement = SQL("DELETE FROM {0} WHERE holder_id = %s").format(
            holder_keys
        )
        self.select_holder_key_statement = SQL(
            "SELECT wrapped_key FROM {0} WHERE holder_id = %s"
        ).format(holder_keys)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # The library's version swallows a Python exception raised after the INSERT
        # until its transaction has committed; here any exception rolls back all of it.
        # Pipeline mode: the lock, the read versions, the positions, the keys, NOTIFY
        # and the INSERT go to the server together and run there in this order, so a
        # batch costs three round trips (BEGIN, these, COMMIT) instead of ten: each
        # wait is a wake-up that can lose the core on a busy machine. The read check is
        # made on the versions read under the lock, once they are back; a stale read
        # raises and the INSERT is rolled back with the rest.
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.pipeline() as pipeline,
            conn.cursor() as curs,
            conn.cursor() as reads,
            conn.cursor() as inserts,
        ):
            self._insert_events(curs, stored_events, reads=reads, **kwargs)
            if stored_events:
                self._notify_channel(curs)
                self._insert_stored_events(inserts, stored_events, **kwargs)
            pipeline.sync()
            expected = kwargs.get("expected_versions")
            if expected:
                actual = {row["originator_id"]: row["version"] for row in reads.fetchall()}
                _check_read_versions(expected, actual)
            if not stored_events:
                return []
            return self._fetch_ids_after_insert_events(inserts, stored_events, **kwargs)

    def _insert_events(  # type: ignore[override]
        self,
        curs: Any,
        stored_events: Sequence[StoredEvent],
        *,
        reads: Any,
        expected_versions: Mapping[UUID, int | None] | None = None,
        intake_positions: Iterable[IntakePosition] = (),
        holder_keys: HolderKeyChanges | None = None,
        **kwargs: Any,
    ) -> None:
        """Queue the writer's lock and everything but the events; the read versions'
        SELECT on `reads` (the caller checks them once they are back)."""
        self._lock_table(curs)
        if expected_versions:
            reads.execute(self.select_versions_statement, (list(expected_versions),))
        for position in intake_positions:
            curs.execute(self.upsert_position_statement, tuple(position))
        if holder_keys:
            for holder_id, wrapped in holder_keys.inserts.items():
                curs.execute(self.insert_holder_key_statement, (holder_id, wrapped))
            for holder_id in holder_keys.deletes:
                curs.execute(self.delete_holder_key_statement, (holder_id,))

    def wrapped_holder_key(self, holder_id: str) -> bytes | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_holder_key_statement, (holder_id,))
            row = curs.fetchone()
            return None if row is None else bytes(row["wrapped_key"])

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # The writer's lock (`_insert_events`) and NOTIFY are queued before it, on
        # another cursor: this one holds only the INSERT's RETURNING rows.
        curs.execute(
            self.insert_arrays_statement,
            (
                # Aggregate ids are UUIDs already: no round trip through str.
                [_as_uuid(e.originator_id) for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # The library's, reading the RETURNING rows as tuples: a dict per event row
        # was a few per cent of the engine's CPU.
        assert curs.statusmessage and curs.statusmessage.startswith("INSERT"), curs.statusmessage
        curs.row_factory = tuple_row
        try:
            return [row[0] for row in curs.fetchall()]
        except psycopg.ProgrammingError as error:
            raise ProgrammingError(
                f"Couldn't get all notification IDs (expected {len(stored_events)})"
            ) from error

    def select_many(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        """Events of every aggregate in `after` with a version above its value there."""
        return self._select(self.select_many_statement, (list(after), list(after.values())))

    def select_snapshots_and_events(
        self, aggregate_ids: Sequence[UUID]
    ) -> list[tuple[bool, StoredEvent]]:
        """(is a snapshot, row) per aggregate: its latest snapshot first, if any, then
        its events after that snapshot's version (all of them without one), in order."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_snapshots_and_events_statement, (list(aggregate_ids),))
            return [(row["snapshot"], _stored_event(row)) for row in curs.fetchall()]

    def _select(self, statement: Any, params: tuple[Any, ...]) -> list[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params)
            return [_stored_event(row) for row in curs.fetchall()]

    def intake_positions(self, consumer_group: str) -> dict[tuple[str, int], int]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_positions_statement, (consumer_group,))
            return {(r["topic"], r["partition"]): r["next_offset"] for r in curs.fetchall()}


class MemoryLedgerRecorder(POPOApplicationRecorder):
    """The same checks as `LedgerRecorder`, on plain Python objects."""

    def __init__(self) -> None:
        super().__init__()
        self._positions: dict[tuple[str, str, int], int] = {}
        self.holder_keys: dict[str, bytes] = {}

    def _insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        expected_versions: Mapping[UUID, int | None] | None = None,
        intake_positions: Iterable[IntakePosition] = (),
        holder_keys: HolderKeyChanges | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        with self._database_lock:
            if expected_versions:
                actual = {
                    aggregate_id: max(self._stored_events_index[str(aggregate_id)])
                    for aggregate_id in expected_versions
                    if self._stored_events_index.get(str(aggregate_id))
                }
                _check_read_versions(expected_versions, actual)
            if holder_keys and any(h in self.holder_keys for h in holder_keys.inserts):
                raise IntegrityError("a holder key exists already")
            notification_ids = super()._insert_events(stored_events, **kwargs)
            if holder_keys:
                self.holder_keys.update(holder_keys.inserts)
                for holder_id in holder_keys.deletes:
                    self.holder_keys.pop(holder_id, None)
            for p in intake_positions:
                key = (p.consumer_group, p.topic, p.partition)
                self._positions[key] = max(self._positions.get(key, p.next_offset), p.next_offset)
            return notification_ids

    def wrapped_holder_key(self, holder_id: str) -> bytes | None:
        with self._database_lock:
            return self.holder_keys.get(holder_id)

    def intake_positions(self, consumer_group: str) -> dict[tuple[str, int], int]:
        with self._database_lock:
            return {
                (topic, partition): offset
                for (group, topic, partition), offset in self._positions.items()
                if group == consumer_group
            }


class PaymentsApplication(Application):
    name = APPLICATION_NAME

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Only what we pass (built from Settings): the library would also read the
        # process environment, where e.g. PAYMENTS_CREATE_TABLE would change its setup.
        return Environment(name, {**type(self).env, **(env or {})})

    def construct_mapper(self) -> Mapper[UUID]:
        # The library's steps, per event class once (mapper.py).
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=LedgerMapper
        )

    def construct_transcoder(self) -> Transcoder:
        transcoder = FastJSONTranscoder()  # the library's bytes, faster (transcoder.py)
        self.register_transcodings(transcoder)
        return transcoder

    def record(self, events: Sequence[Any], **kwargs: Any) -> None:
        """Store `events` in this order, in one transaction (`save` for ordered events).

        Unlike `save`, it takes the events themselves, so a batch keeps its decision
        order, and skips `save`'s per-object protocol checks (slow on big batches).
        Keyword arguments reach the recorder (`expected_versions`, `intake_positions`).
        The events are mapped and inserted as `EventStore.put` does, without the
        `Recording` and `Notification` objects it builds for each one (nobody reads them).
        """
        self.recorder.insert_events(list(map(self.mapper.to_stored_event, events)), **kwargs)

    # Accounts such as a bank's external account collect events without end; a
    # snapshot every so many versions keeps loading them after a restart quick.
    snapshot_interval = SNAPSHOT_INTERVAL

    def load_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Aggregate]:
        """The current state of every stored aggregate among `aggregate_ids`.

        One statement: the latest snapshots (when enabled) and the events after them.
        """
        recorder = self.recorder
        if not isinstance(recorder, LedgerRecorder):
            return self._load_one_by_one(aggregate_ids)
        aggregates: dict[UUID, Any] = {}
        if self.snapshots is None:
            rows = [(False, e) for e in recorder.select_many(dict.fromkeys(aggregate_ids, 0))]
        else:
            rows = recorder.select_snapshots_and_events(aggregate_ids)
        for is_snapshot, stored in rows:
            aggregate_id = UUID(str(stored.originator_id))
            state = None if is_snapshot else aggregates.get(aggregate_id)
            aggregates[aggregate_id] = self.mapper.to_domain_event(stored).mutate(state)
        return aggregates

    def snapshot_due(self, aggregate: Aggregate, read_version: int | None) -> bool:
        """True when a save took `aggregate` across a multiple of the interval."""
        interval = self.snapshot_interval
        return (
            self.snapshots is not None
            and aggregate.version // interval > (read_version or 0) // interval
        )

    def take_snapshots(self, aggregates: Iterable[Aggregate]) -> None:
        """Store snapshots of these (committed) aggregates; derived data, never required."""
        if self.snapshots is None:
            return
        snapshots = [type(a).Snapshot.take(a) for a in aggregates]  # type: ignore[attr-defined]
        if snapshots:
            self.snapshots.put(snapshots)

    def _load_one_by_one(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Aggregate]:
        aggregates: dict[UUID, Aggregate] = {}
        for aggregate_id in aggregate_ids:
            try:
                aggregates[aggregate_id] = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                continue
        return aggregates

    def wrapped_holder_key(self, holder_id: str) -> bytes | None:
        """A holder's data key as `holder_keys` stores it (wrapped), or None."""
        recorder = self.recorder
        assert isinstance(recorder, LedgerRecorder | MemoryLedgerRecorder)
        return recorder.wrapped_holder_key(holder_id)

    def intake_positions(self, consumer_group: str) -> dict[tuple[str, int], int]:
        """The next offset to consume per (topic, partition), as stored by the ledger."""
        recorder = self.recorder
        assert isinstance(recorder, LedgerRecorder | MemoryLedgerRecorder)
        return recorder.intake_positions(consumer_group)


class MemoryPaymentsApplication(PaymentsApplication):
    name = APPLICATION_NAME

    def construct_recorder(self) -> MemoryLedgerRecorder:
        return MemoryLedgerRecorder()


def in_memory_application(*, snapshots: bool = False) -> PaymentsApplication:
    return MemoryPaymentsApplication(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "IS_SNAPSHOTTING_ENABLED": "y" if snapshots else "n",
        }
    )


def application_env(
    database_url: str, *, pool_size: int = 2, snapshots: bool = True
) -> dict[str, str]:
    """The eventsourcing environment for the app role's URL (parsed, never logged)."""
    params = conninfo_to_dict(database_url)
    return {
        "IS_SNAPSHOTTING_ENABLED": "y" if snapshots else "n",
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": get_topic(LedgerRecorder),
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "localhost"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or ""),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        # schema.install creates the tables as the owner; the app role cannot.
        "CREATE_TABLE": "n",
        # A writer waits at most this long for the advisory lock before failing
        # (the engine retries); 0 would mean forever.
        "POSTGRES_LOCK_TIMEOUT": "10",
        # Our transactions never sit idle; a stuck one must not hold the lock long.
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "2",
        # No SELECT 1 before every use (it was a third of a small batch's round trips):
        # a connection that died fails its statement, psycopg's pool drops it, and the
        # library (reads, inserts) or the engine (whole batches) retries.
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_CONNECT_TIMEOUT": "10",
    }


def open_application(settings: Settings, *, snapshots: bool = True) -> PaymentsApplication:
    """The application on PAYMENTS_DATABASE_URL; `snapshots=False`: it never reads or
    writes a snapshot (what replay and verify use: they derive everything from events)."""
    url = settings.require_database_url()
    # Snapshots only once `payments db init` has created their table (older installs).
    snapshots = snapshots and _has_table(url, SNAPSHOTS_TABLE)
    return PaymentsApplication(env=application_env(url, snapshots=snapshots))


def _has_table(url: str, table: str) -> bool:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        return bool(row and row[0])


class AggregateCache:
    """A thread-safe LRU of aggregates, shared with the batch that uses them.

    The ledger decides on the cached objects themselves (deep copies of hot merchants
    cost a fifth of a batch). The rule that keeps it safe: a batch that fails for any
    reason evicts every aggregate it touched, so the cache only ever holds state that
    was committed or is being decided by the one batch in hand.
    """

    def __init__(self, maxsize: int = 100_000) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        with self._lock:
            aggregate = self._items.get(aggregate_id)
            if aggregate is not None:
                self._items.move_to_end(aggregate_id)
            return aggregate

    def put(self, aggregate: Aggregate) -> None:
        with self._lock:
            self._items[aggregate.id] = aggregate
            self._items.move_to_end(aggregate.id)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._items.pop(aggregate_id, None)

    def __len__(self) -> int:
        return len(self._items)
