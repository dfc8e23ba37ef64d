"""Creating the aggregates made once per command, without the library's introspection.

`Aggregate._create` and `CanInitAggregate.mutate` are generic: per new aggregate they
filter keyword arguments against the aggregate's create_id and two signatures. The
engine creates a transfer or a payment for most commands (and a `CommandRecord` for
each, which spells its own out), so for those the same steps are done with each
class's `__init__` parameters read once. The events and aggregates are the library's
own (tests/unit/test_creation.py compares them).
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

A = TypeVar("A", bound=Aggregate)


@cache
def _init_parameters(cls: type[Aggregate]) -> frozenset[str]:
    return frozenset(inspect.signature(cls.__init__).parameters)


class CreatedQuickly:
    """Mixed into a `Created` event class: `mutate` without per-call signature work."""

    def mutate(self, aggregate: Any) -> Any:
        assert aggregate is None
        state = self.__dict__
        cls: type[Aggregate] = resolve_topic(state["originator_topic"])
        created = cls.__new__(cls)
        created.__base_init__(  # type: ignore[call-arg]
            state["originator_id"], state["originator_version"], state["timestamp"]
        )
        parameters = _init_parameters(cls)
        kwargs = {name: state[name] for name in parameters if name in state}
        if "id" in parameters:  # as the library does for an __init__ that names it
            kwargs["id"] = state["originator_id"]
        created.__init__(**kwargs)  # type: ignore[misc]
        self.apply(created)  # type: ignore[attr-defined]
        return created


def create(cls: type[A], event_class: type[Any], aggregate_id: UUID, **fields: Any) -> A:
    """`cls._create(event_class, id=aggregate_id, **fields)` for a class without
    `create_id` or an explicit TOPIC: the same event, the aggregate from its mutate."""
    event = event_class(
        originator_topic=get_topic(cls),
        originator_id=aggregate_id,
        originator_version=cls.INITIAL_VERSION,
        timestamp=event_class.create_timestamp(),
        **fields,
    )
    created: A = event.mutate(None)
    created.pending_events.append(event)
    return created
