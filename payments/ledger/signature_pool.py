"""Ed25519 verification of a batch in worker processes, while the engine decides.

One verification costs about 110 µs of CPU, a third of a command's budget. Threads
do not help (each verification hands the GIL back and forth with the deciding
thread), so a big batch's signatures go to worker processes in chunks, and the
deciding thread only waits for a chunk when it reaches a command of it. Only the
crypto moves: which key, which bytes and what the answer means stay in the ledger
(`Ledger._authenticate`), and a command it cannot match to a started check is
verified inline. Small batches (the latency path) are verified inline too: a round
trip to a worker would cost more than it saves.

The pool is one per process, made on first use with the `forkserver` method (the
engine has threads; forking it could copy a held lock). Workers hold nothing but
public keys they have seen; they end with the process that made them.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from functools import lru_cache
from typing import NamedTuple

from payments.contract.signing import load_public_key, verifies

MIN_BATCH = 64  # below this, inline verification is quicker than the round trip
CHUNK = 128
# One core stays for the deciding thread; on this project's 2-core machines, one worker.
WORKERS = max(1, (os.cpu_count() or 2) - 1)

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


@lru_cache(maxsize=4096)
def _key(public_key: bytes):  # type: ignore[no-untyped-def]
    return load_public_key(public_key)


def verify_chunk(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """In a worker: (public key, signature, message) → valid, for each item."""
    return [verifies(_key(public), signature, message) for public, signature, message in items]


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            context = multiprocessing.get_context("forkserver")
            _pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=context)
        return _pool


class PendingCheck(NamedTuple):  # immutable; one per command: quicker than a dataclass
    """One item of a chunk sent to a worker, and exactly what it checks."""

    public_key: bytes
    signature: bytes
    message: bytes
    chunk: Future[list[bool]]
    position: int

    def covers(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        return (self.public_key, self.signature, self.message) == (public_key, signature, message)

    def valid(self) -> bool | None:
        """The worker's answer; None if it has none (a worker died): verify inline."""
        try:
            return self.chunk.result()[self.position]
        except Exception:
            _forget_pool()
            return None


def start(items: dict[int, tuple[bytes, bytes, bytes]]) -> dict[int, PendingCheck]:
    """Send `items` (index → public key, signature, message) to the workers in chunks;
    {} when there are too few to be worth it (the caller verifies inline)."""
    if len(items) < MIN_BATCH:
        return {}
    try:
        pool = _executor()
        ordered = list(items.items())
        pending: dict[int, PendingCheck] = {}
        for start_at in range(0, len(ordered), CHUNK):
            chunk = ordered[start_at : start_at + CHUNK]
            future = pool.submit(verify_chunk, [item for _, item in chunk])
            for position, (index, (public, signature, message)) in enumerate(chunk):
                pending[index] = PendingCheck(public, signature, message, future, position)
        return pending
    except Exception:  # no pool (e.g. no /dev/shm): inline verification is always right
        _forget_pool()
        return {}


def _forget_pool() -> None:
    """A broken pool (a worker killed) is made anew by the next big batch."""
    global _pool
    with _pool_lock:
        broken, _pool = _pool, None
    if broken is not None:
        broken.shutdown(wait=False, cancel_futures=True)
