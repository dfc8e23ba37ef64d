"""A test's own clock for the decision: the time every event is stamped with.

The engine decides time-dependent rules (risk windows, cooling-off, authorization
expiry) from `payments.domain.risk.decision_time()`, which is the event library's
timestamp clock, and stores those timestamps. Tests move that clock by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from unittest import mock

import eventsourcing.domain
import pytest


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def install_clock(
    monkeypatch: pytest.MonkeyPatch, start: datetime = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
) -> ManualClock:
    clock = ManualClock(start)
    monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", clock)
    return clock


@contextmanager
def manual_clock(start: datetime) -> Iterator[ManualClock]:
    """The same clock for code that cannot take a fixture (a hypothesis example)."""
    clock = ManualClock(start)
    with mock.patch.object(eventsourcing.domain, "datetime_now_with_tzinfo", clock):
        yield clock
