"""Reading the event store (the source of truth) as pages of event dicts.

`StoreEventSource` reads the notification log with large pages through the write
side's application (`payments.store.open_application`) and turns each notification
into the relay's event dict (`payments.wire.event_message`), so replay and verify
see exactly what the consumers see. `ListEventSource` serves tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from psycopg import sql

from payments.settings import Settings
from projections.events import Event, check_event

PAGE_SIZE = 5000


class EventSource(Protocol):
    def max_position(self) -> int: ...

    def pages(self, after: int, stop: int, page_size: int = PAGE_SIZE) -> Iterator[list[Event]]:
        """Events with after < position <= stop, in position order, page by page."""
        ...

    def account_events(self, account_id: str) -> list[Event]:
        """The events of one account, in version order."""
        ...


class ListEventSource:
    """Events given in a list (tests, demos)."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = sorted(events, key=lambda e: e["position"])

    def max_position(self) -> int:
        return self.events[-1]["position"] if self.events else 0

    def pages(self, after: int, stop: int, page_size: int = PAGE_SIZE) -> Iterator[list[Event]]:
        chosen = [e for e in self.events if after < e["position"] <= stop]
        for start in range(0, len(chosen), page_size):
            yield [dict(e) for e in chosen[start : start + page_size]]

    def account_events(self, account_id: str) -> list[Event]:
        return [
            dict(e)
            for e in self.events
            if e["aggregate_type"] == "Account" and e["payload"].get("account_id") == account_id
        ]


class StoreEventSource:
    """The PostgreSQL event store, through the write side's application."""

    def __init__(self, settings: Settings, app: Any = None) -> None:
        from payments.store import open_application  # the write side, imported late

        self.app: Any = app if app is not None else open_application(settings)

    def close(self) -> None:
        close = getattr(self.app, "close", None)
        if close is not None:
            close()

    def max_position(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def pages(self, after: int, stop: int, page_size: int = PAGE_SIZE) -> Iterator[list[Event]]:
        while after < stop:
            notifications = self.app.recorder.select_notifications(
                after, page_size, stop=stop, inclusive_of_start=False
            )
            if not notifications:
                return
            yield [self._event(n) for n in notifications]
            after = notifications[-1].id

    def account_events(self, account_id: str) -> list[Event]:
        from eventsourcing.persistence import Notification

        from payments.domain.ids import account_id_to_uuid

        recorder = self.app.recorder
        names = [recorder.datastore.schema, recorder.events_table_name]
        table = sql.Identifier(*[name for name in names if name])
        with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT originator_id, originator_version, topic, state, notification_id"
                    " FROM {} WHERE originator_id = %s ORDER BY originator_version"
                ).format(table),
                (account_id_to_uuid(account_id),),
            )
            return [
                self._event(
                    Notification(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                        id=row["notification_id"],
                    )
                )
                for row in cur.fetchall()
            ]

    def _event(self, notification: object) -> Event:
        from payments.wire import event_message

        message = event_message(notification, self.app.mapper)
        if isinstance(message, bytes | str):
            message = json.loads(message)
        elif not isinstance(message, dict):
            message = message.model_dump(mode="json")
        return check_event(message)
