"""SIGTERM and SIGINT as a stop flag: the process finishes the work in hand and exits."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def install_stop_signals(stop: threading.Event) -> None:
    # Only set the flag: logging here could deadlock on the log writer's lock if the
    # signal lands while the main thread is writing a line.
    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
