"""Reading the event store (the source of truth) as pages of event dicts.

`StoreEventSource` reads the notification log in large pages from the write side's
events table (found through `payments.store.open_application`) and turns each row
into the relay's event dict: `projections.decode` for speed, falling back to
`payments.wire.event_message`, so replay and verify see what the consumers see.
`ListEventSource` serves tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol
from uuid import UUID

from psycopg import sql
from psycopg.rows import tuple_row

from payments.runtime.settings import Settings
from projections.decode import decode_stored
from projections.events import Event, check_event
from projections.rebuild.audit_rows import AuditRows
from projections.rebuild.parallel import (
    CHUNK_ROWS,
    NO_AUDIT,
    DecodedPage,
    Keep,
    StoreRange,
    decode_in_order,
    spell,
)

PAGE_SIZE = 5000


class EventSource(Protocol):
    rows_read: int  # stored events scanned so far (wanted or not)

    def max_position(self) -> int: ...

    def pages(
        self,
        after: int,
        stop: int,
        page_size: int = PAGE_SIZE,
        wanted: frozenset[str] | None = None,
    ) -> Iterator[list[Event]]:
        """Events with after < position <= stop, in position order, page by page.

        `wanted`: only these event types (others are skipped undecoded).
        """
        ...

    def account_events(self, account_id: str) -> list[Event]:
        """The events of one account, in version order."""
        ...


def decoded_pages(
    source: EventSource,
    after: int,
    stop: int,
    keep: Keep = None,
    audit: int = NO_AUDIT,
    audit_rows: AuditRows | None = None,
) -> Iterator[DecodedPage]:
    """Every event after..stop in pages: those of `keep` as dicts, all with their audit spelling.

    The store decodes in worker processes (projections.rebuild.parallel), which also
    read and hash the pages' audit rows if `audit_rows` says how (their `checked`);
    any other source decodes here, in this process, and its pages have no `checked`.
    """
    own = getattr(source, "decoded_pages", None)
    if own is not None:
        yield from own(after, stop, keep, audit, audit_rows)
        return
    for page in source.pages(after, stop):
        decoded = spell(page, keep, audit)
        decoded.full = page
        yield decoded


class ListEventSource:
    """Events given in a list (tests, demos)."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = sorted(events, key=lambda e: e["position"])
        self.rows_read = 0

    def max_position(self) -> int:
        return self.events[-1]["position"] if self.events else 0

    def pages(
        self,
        after: int,
        stop: int,
        page_size: int = PAGE_SIZE,
        wanted: frozenset[str] | None = None,
    ) -> Iterator[list[Event]]:
        chosen = [e for e in self.events if after < e["position"] <= stop]
        for start in range(0, len(chosen), page_size):
            page = chosen[start : start + page_size]
            self.rows_read += len(page)
            yield [dict(e) for e in page if wanted is None or e["event_type"] in wanted]

    def account_events(self, account_id: str) -> list[Event]:
        return [
            dict(e)
            for e in self.events
            if e["aggregate_type"] == "Account" and e["payload"].get("account_id") == account_id
        ]


class StoreEventSource:
    """The PostgreSQL event store, through the write side's application."""

    def __init__(self, settings: Settings, app: Any = None) -> None:
        from payments.ledger.store import open_application  # the write side, imported late

        # Without snapshots: what verify checks comes from the events alone.
        self.app: Any = app if app is not None else open_application(settings, snapshots=False)
        self.rows_read = 0

    def close(self) -> None:
        close = getattr(self.app, "close", None)
        if close is not None:
            close()

    def max_position(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def pages(
        self,
        after: int,
        stop: int,
        page_size: int = PAGE_SIZE,
        wanted: frozenset[str] | None = None,
    ) -> Iterator[list[Event]]:
        query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {} WHERE notification_id > %s AND notification_id <= %s"
            " ORDER BY notification_id LIMIT %s"
        ).format(self._table())
        with self.app.recorder.datastore.get_connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            while after < stop:
                rows = cur.execute(query, (after, stop, page_size)).fetchall()
                if not rows:
                    return
                self.rows_read += len(rows)
                yield [
                    decode_stored(*row, fallback=self._fallback)
                    for row in rows
                    if wanted is None or row[3].rpartition(":")[2] in wanted
                ]
                after = rows[-1][0]

    def decoded_pages(
        self,
        after: int,
        stop: int,
        keep: Keep = None,
        audit: int = NO_AUDIT,
        audit_rows: AuditRows | None = None,
    ) -> Iterator[DecodedPage]:
        """See `decoded_pages`: read and decoded by worker processes (rebuild.parallel)."""
        pages = decode_in_order(
            self._ranges(after, stop, audit_rows), keep, audit, self._fallback, self._event_at
        )
        for page in pages:
            self.rows_read += len(page.positions)
            yield page

    def _ranges(
        self, after: int, stop: int, audit_rows: AuditRows | None = None
    ) -> Iterator[StoreRange]:
        with self.app.recorder.datastore.get_connection() as conn:
            dsn, password = conn.info.dsn, conn.info.password
            table = self._table().as_string(conn)
        # Binary, the id as text: cheap to load and to pickle back if the mapper must.
        query = (
            "SELECT notification_id, originator_id::text, originator_version, topic, state"
            f" FROM {table} WHERE notification_id > %s AND notification_id <= %s"
            " ORDER BY notification_id"
        )
        for start in range(after, stop, CHUNK_ROWS):
            upto = min(start + CHUNK_ROWS, stop)
            yield StoreRange(dsn, password, query, start, upto, audit_rows)

    def _event_at(self, position: int) -> Event:
        query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {} WHERE notification_id = %s"
        ).format(self._table())
        with self.app.recorder.datastore.get_connection() as conn:
            row = conn.cursor(row_factory=tuple_row).execute(query, (position,)).fetchone()
        assert row is not None, position  # the store is append-only
        return decode_stored(*row, fallback=self._fallback)

    def _table(self) -> sql.Identifier:
        recorder = self.app.recorder
        names = [recorder.datastore.schema, recorder.events_table_name]
        return sql.Identifier(*[name for name in names if name])

    def _fallback(
        self, position: int, originator_id: Any, version: int, topic: str, state: bytes
    ) -> Event:
        from eventsourcing.persistence import Notification

        originator = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        return self._event(Notification(originator, version, topic, bytes(state), position))

    def account_events(self, account_id: str) -> list[Event]:
        from payments.domain.ids import account_id_to_uuid

        query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {} WHERE originator_id = %s ORDER BY originator_version"
        ).format(self._table())
        with self.app.recorder.datastore.get_connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            rows = cur.execute(query, (account_id_to_uuid(account_id),)).fetchall()
        return [decode_stored(*row, fallback=self._fallback) for row in rows]

    def _event(self, notification: object) -> Event:
        from payments.contract.wire import event_message

        return check_event(event_message(notification, self.app.mapper))
