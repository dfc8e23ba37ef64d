"""The event store's mapper, with the library's `to_stored_event` steps done once per class.

`Mapper.to_stored_event` looks up the event class's topic and `class_version` for
every event; the engine stores about four per command. Here they are read once per
class, and the rest is the library's: the event's attributes without its id and
version, the class version when above 1, the transcoder's bytes. Compression or
encryption (never configured here) take the library's path. The stored events are
equal (tests/unit/test_mapper.py). Decoding stays the library's.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic


class LedgerMapper(Mapper[UUID]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._classes: dict[type, tuple[str, int]] = {}  # class -> topic, class version

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if self.compressor is not None or self.cipher is not None:
            return super().to_stored_event(domain_event)
        kind = type(domain_event)
        described = self._classes.get(kind)
        if described is None:
            described = (get_topic(kind), getattr(kind, "class_version", 1))
            self._classes[kind] = described
        topic, class_version = described
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        if class_version > 1:
            state["class_version"] = class_version
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=self.transcoder.encode(state),
        )
