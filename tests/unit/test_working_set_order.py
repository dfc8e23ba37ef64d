"""A command's new events go to the log by time across aggregates, each in its order."""

from __future__ import annotations

import heapq
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from payments.ledger.service import WorkingSet
from payments.ledger.store import AggregateCache, in_memory_application

T0 = datetime(2026, 12, 2, tzinfo=UTC)

# Per aggregate: events already pending before the command, then the command's (as
# offsets in µs: equal ones tie, a smaller one after a bigger is the clock stepping back).
aggregates = st.lists(
    st.tuples(st.integers(0, 2), st.lists(st.integers(0, 5), max_size=3)), max_size=5
)


@given(aggregates)
def test_end_command_orders_as_heapq_merge_by_timestamp(shapes: list[Any]) -> None:
    working = WorkingSet(in_memory_application(), AggregateCache())
    made = []
    for earlier, offsets in shapes:
        aggregate = SimpleNamespace(id=uuid.uuid4(), pending_events=[])
        aggregate.pending_events += [SimpleNamespace(timestamp=T0) for _ in range(earlier)]
        working.aggregates[aggregate.id] = aggregate  # type: ignore[assignment]
        made.append((aggregate, offsets))
    working.begin_command()
    for aggregate, _ in made:
        working.get(SimpleNamespace, aggregate.id)  # type: ignore[arg-type]
    for aggregate, offsets in made:
        aggregate.pending_events += [
            SimpleNamespace(timestamp=T0 + timedelta(microseconds=o)) for o in offsets
        ]
    expected = list(
        heapq.merge(
            *[a.pending_events[e:] for (e, _), (a, _) in zip(shapes, made, strict=True)],
            key=lambda event: event.timestamp,
        )
    )
    working.end_command()
    assert [id(e) for e in working.new_events] == [id(e) for e in expected]
