"""Batches stored and answered whose answers the broker has not acknowledged yet.

The intake goes on to the next batch while the broker acknowledges the answers of
the last ones. A batch's Kafka offsets may be committed only once its answers and
those of every batch before it are acknowledged: `settled_prefix` hands batches
over in poll order and stops at the first one still waiting; the caller sends a
failed batch's answers again before it commits that batch or any later one, so a
commit never passes a command whose answer is not on the results topic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Acks(Protocol):
    @property
    def acknowledged(self) -> bool: ...

    @property
    def settled(self) -> bool: ...


@dataclass
class AnsweredBatch:
    """One poll: stored by `decide_batch`, answers sent, offsets still to commit."""

    next_offsets: dict
    outcomes: Sequence
    dead: Sequence
    delivery: Acks
    started: float
    commands: int = 0


class InFlight:
    def __init__(self) -> None:
        self._batches: deque[AnsweredBatch] = deque()

    def __len__(self) -> int:
        return len(self._batches)

    def add(self, batch: AnsweredBatch) -> None:
        self._batches.append(batch)

    def settled_prefix(self) -> list[AnsweredBatch]:
        """The oldest batches whose broker answers are all in, in poll order.

        A batch with a failed answer is handed over too: the caller, going through
        them in order, sends its answers again before committing it or any later one.
        """
        ready: list[AnsweredBatch] = []
        while self._batches and self._batches[0].delivery.settled:
            ready.append(self._batches.popleft())
        return ready

    def oldest(self) -> AnsweredBatch | None:
        return self._batches[0] if self._batches else None

    def take_all(self) -> list[AnsweredBatch]:
        batches, self._batches = list(self._batches), deque()
        return batches
