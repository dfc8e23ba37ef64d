"""Keep a set of `payments …` child processes running until told to stop.

Each child dies with its parent (PR_SET_PDEATHSIG): a kill -9 of the supervising
process takes every child along, and each starts again from its own PostgreSQL
positions when the supervisor is started anew. A child that exits while the supervisor
is not stopping is logged (`child_exited`, with its return code) and started again
after a short back-off, longer while it keeps failing.

The thread that starts the children also stops them: Linux delivers the parent-death
signal when the *thread* that forked a child ends, so the children must be gone before
it returns. `shutdown()` sends SIGTERM to every child at once (each finishes the batch in
hand), waits for them together, and SIGKILLs those still running after the timeout.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from payments.runtime.backoff import Backoff
from payments.runtime.subprocesses import stop_processes

log = structlog.get_logger("payments.supervisor")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STABLE_SECONDS = 30.0  # a child that ran this long before exiting starts with a fresh back-off


@dataclass(frozen=True)
class ChildSpec:
    """One child: `payments ARGS`, with `env` over this process's environment."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


def die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn: SIGKILL this child when its parent dies, even if it already has."""

    def arrange() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return arrange


def start_child(spec: ChildSpec) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "payments.cli", *spec.args],
        env={**os.environ, **spec.env},
        preexec_fn=die_with_parent(os.getpid()),
    )


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes]
    started: float
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.5, cap=10.0))
    restart_at: float | None = None  # when an exited child is due to start again


class Supervisor(threading.Thread):
    """Starts the children, restarts those that exit, stops them all when `stop` is set."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        stop: threading.Event,
        *,
        check_every: float = 0.25,
        stop_timeout: float = 30.0,
    ) -> None:
        super().__init__(name="supervisor", daemon=True)
        self.specs = list(specs)
        self.stop = stop
        self.check_every = check_every
        self.stop_timeout = stop_timeout
        self.returncodes: dict[str, int] = {}
        self._children: list[_Child] = []

    def run(self) -> None:
        try:
            for spec in self.specs:  # one by one: a failed start still stops those started
                self._children.append(_Child(spec, start_child(spec), time.monotonic()))
            log.info(
                "children_started", children={c.spec.name: c.process.pid for c in self._children}
            )
            while not self.stop.wait(self.check_every):
                for child in self._children:
                    self._look_after(child)
        finally:
            self._stop_children()

    def shutdown(self) -> dict[str, int]:
        """Stop every child (SIGTERM, then SIGKILL after the timeout): their return codes."""
        self.stop.set()
        if self.is_alive():
            self.join(timeout=self.stop_timeout + 15)
        return dict(self.returncodes)

    @property
    def all_succeeded(self) -> bool:
        return bool(self.returncodes) and all(code == 0 for code in self.returncodes.values())

    def _look_after(self, child: _Child) -> None:
        now = time.monotonic()
        if child.restart_at is None:
            if child.process.poll() is None:
                return
            log.warning("child_exited", child=child.spec.name, returncode=child.process.returncode)
            if now - child.started >= STABLE_SECONDS:
                child.backoff.reset()
            child.restart_at = now + child.backoff.next_delay()
        elif now >= child.restart_at:
            child.process = start_child(child.spec)
            child.started = now
            child.restart_at = None
            log.info("child_restarted", child=child.spec.name, pid=child.process.pid)

    def _stop_children(self) -> None:
        codes = stop_processes([c.process for c in self._children], timeout=self.stop_timeout)
        self.returncodes = {
            c.spec.name: code for c, code in zip(self._children, codes, strict=True)
        }
        log.info("children_stopped", returncodes=self.returncodes)
