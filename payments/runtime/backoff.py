"""Capped exponential backoff with jitter: retry outages without a tight loop."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float = 0.1
    cap: float = 5.0
    _attempt: int = field(default=0, init=False)

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.initial * 2**self._attempt)
        self._attempt += 1
        # Full jitter spreads out engines that lost the same database at once.
        return random.uniform(delay / 2, delay)

    def wait(self, stop: threading.Event) -> None:
        """Sleep for the next delay, waking early when asked to stop."""
        stop.wait(self.next_delay())
