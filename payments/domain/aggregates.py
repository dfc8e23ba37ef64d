"""`Aggregates`: what a command handler reads and creates (the ledger's batch working set).

Its own module so that the handlers of payments.domain.handlers and the modules it
registers handlers from (controls, expiry) share it without importing each other.
"""

from __future__ import annotations

from typing import Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)


class Aggregates(Protocol):
    """The aggregates a command may read and the new ones it creates."""

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None: ...

    def add(self, aggregate: Aggregate) -> None: ...
