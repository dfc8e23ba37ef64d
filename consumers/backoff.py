"""Capped exponential backoff with jitter, interruptible by the stop flag."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float = 0.2
    cap: float = 30.0
    _attempt: int = field(default=0, init=False)

    def reset(self) -> None:
        self._attempt = 0

    def wait(self, stop: threading.Event) -> None:
        delay = min(self.cap, self.initial * 2**self._attempt)
        self._attempt += 1
        # Jitter keeps consumers that lost the same database from retrying in step.
        stop.wait(random.uniform(delay / 2, delay))
