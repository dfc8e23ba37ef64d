"""Each log line reaches the file in one write, newline included.

Children of `consume all` and of the engine share their supervisor's stderr, and with
PYTHONUNBUFFERED every write is a syscall of its own: a line written in two parts let
another process's line in between (a CI run read two JSON lines run into one).
"""

from __future__ import annotations

import io
import sys

import pytest
import structlog

from payments.runtime.logging import configure_logging
from payments.runtime.settings import Settings


class RecordedWrites(io.RawIOBase):
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes.append(bytes(data))
        return len(data)


def test_a_json_line_is_one_write_on_an_unbuffered_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = RecordedWrites()
    # What sys.stderr is under PYTHONUNBUFFERED: no buffer, every write passed through.
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(raw, write_through=True))
    saved = structlog.get_config()
    try:
        configure_logging(Settings(log_format="json", log_level="info"))
        logger = structlog.get_logger("test")
        logger.info("first", n=1)
        logger.info("second", n=2)
    finally:
        structlog.configure(**saved)
    assert len(raw.writes) == 2, raw.writes
    assert all(w.startswith(b"{") and w.endswith(b"}\n") for w in raw.writes), raw.writes
