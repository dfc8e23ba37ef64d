"""The contract topics with explicit partition counts (idempotent)."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaAdminClient

from payments.tools.services.errors import ServiceError


def ensure_topics(
    bootstrap: str, wanted: dict[str, int], auth: dict[str, Any], timeout: float = 30
) -> dict[str, int]:
    """Create missing topics, grow ones with too few partitions; return the counts seen.

    `auth`: kafka-python SASL arguments of a principal that may create topics (admin).
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **auth)
    try:
        counts = partition_counts(admin, list(wanted))
        missing = {
            t: {"num_partitions": n, "replication_factor": 1}
            for t, n in wanted.items()
            if t not in counts
        }
        if missing:
            # raise_errors=False: a concurrent `up` may have created some meanwhile; the
            # loop below checks the outcome either way.
            admin.create_topics(missing, timeout_ms=15000, raise_errors=False)
        grow = {t: n for t, n in wanted.items() if 0 < counts.get(t, 0) < n}
        if grow:
            admin.create_partitions(grow, timeout_ms=15000, raise_errors=False)
        # Creation is asynchronous in the controller: wait until metadata shows it all.
        deadline = time.monotonic() + timeout
        while True:
            counts = partition_counts(admin, list(wanted))
            if all(counts.get(t, 0) >= n for t, n in wanted.items()):
                return counts
            if time.monotonic() > deadline:
                raise ServiceError(f"topics did not reach their partition counts: {counts}")
            time.sleep(0.2)
    finally:
        admin.close()


def partition_counts(admin: KafkaAdminClient, topics: list[str]) -> dict[str, int]:
    existing = set(admin.list_topics())
    present = [t for t in topics if t in existing]
    if not present:
        return {}
    described = admin.describe_topics(present)
    return {d.get("name") or d["topic"]: len(d["partitions"]) for d in described}
