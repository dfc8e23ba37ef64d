"""Forged records on the events topic, met by a real `payments consume all` process.

Each one is quarantined by the projections that cannot store it, never skipped
silently and never spun on: the record lands in `projection_quarantine`, the metric
`payments_projection_poison_events_total` counts it, /health turns red with the
reason, `verify` lists it; the balances stay right and the process keeps consuming.
An operator's acknowledgement turns health green again.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from projections.rebuild.source import ListEventSource
from projections.rebuild.verify import verify
from tests.integration.test_consumers import (  # noqa: F401
    Sandbox,
    business_day,
    caught_up,
    positioned_at_end,
    sandbox,
)
from tests.support.consumers import start_consume_all
from tests.support.events import to_wire
from tests.support.kafka import publish

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(condition: Callable[[], Any], what: str, log: Path, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, (what, log.read_text()[-3000:])
        time.sleep(0.3)


def forged(base: dict, **changes: object) -> dict:
    payload = {**base["payload"], **changes.pop("payload", {})}  # type: ignore[dict-item]
    return {**base, **changes, "payload": payload}


def test_forged_records_are_quarantined_loudly_and_nothing_else_changes(
    sandbox: Sandbox,  # noqa: F811
    tmp_path: Path,
) -> None:
    f = business_day(payments=3)
    sandbox.publish(f.events)
    port = free_port()
    log_path = tmp_path / "consume.log"
    process = start_consume_all(sandbox.url, sandbox.prefix, log_path, port)
    try:
        wait_for(caught_up(sandbox, f.events), "caught up", log_path)
        wait_for(lambda: get(f"http://127.0.0.1:{port}/health")[0] == 200, "green", log_path)
        b1 = [e for e in f.events if e["payload"].get("account_id") == "B1"]
        credit = next(e for e in b1 if e["event_type"] == "Account.Credited")
        opened = next(e for e in f.events if e["event_type"] == "Account.Opened")
        transfer = next(e for e in f.events if e["event_type"] == "Transfer.Recorded")
        head = 1  # a position the audit log has chained already: only the others care
        records = [
            # NUL in a text: PostgreSQL's text and jsonb cannot hold it.
            forged(opened, position=head, aggregate_id="00000000-0000-4000-8000-000000000001",
                   payload={"account_id": "evil\x00account"}),
            # An integer beyond bigint, as the next version of B1.
            forged(credit, position=head, aggregate_version=b1[-1]["aggregate_version"] + 1,
                   payload={"amount": 10**30}),
            # A wrong type.
            forged(opened, position=head, payload={"overdraft_limit": "lots"}),
            # Versions the event store does not hold.
            forged(credit, position=head, aggregate_version=999, payload={"amount": 1}),
            # A lone surrogate: valid JSON (escaped), not encodable as UTF-8.
            forged(opened, position=head, aggregate_id="00000000-0000-4000-8000-000000000002",
                   payload={"account_id": "bad\udc00account"}),
            # NUL where only the audit log looks (a position it has not chained yet).
            forged(transfer, position=f.events[-1]["position"] + 1_000, actor="ops\x00"),
        ]  # fmt: skip
        assert sandbox.sql("SELECT count(*) FROM projection_quarantine") == [(0,)]
        publish(sandbox.bootstrap, sandbox.topic, [(b"forged", to_wire(r)) for r in records])

        def quarantined_rows() -> list[tuple] | None:
            # Every projection past the forged records first, and only then the rows
            # (a record is quarantined in the transaction that moves the position past
            # it): each process reads at its own pace, and settlements and principals
            # quarantine some of them too (records without headers are decoded by all).
            if not positioned_at_end(sandbox):
                return None
            rows = sandbox.sql(
                'SELECT projection, "offset", reason FROM projection_quarantine ORDER BY 2, 1'
            )
            done = (
                sum(p == "balances" for p, _, _ in rows) == 5
                and sum(p == "audit" for p, _, _ in rows) == 2
            )
            return rows if done else None

        rows = wait_for(quarantined_rows, "all past the forged, balances five, audit two", log_path)
        balances = [reason for projection, _, reason in rows if projection == "balances"]
        assert balances[0].startswith(("unstorable: ", "unreadable: ")), balances  # the NUL
        assert balances[1].startswith("unstorable: ") and "out of range" in balances[1]
        assert balances[2].startswith("unreadable: ") and "overdraft_limit" in balances[2]
        assert balances[3].startswith("not_in_store: ")
        assert balances[4].startswith(("unstorable: ", "unfoldable: ", "unreadable: "))
        audit = [reason for projection, _, reason in rows if projection == "audit"]
        assert [r.split(":")[0] for r in audit] == ["unreadable", "unstorable"], audit

        # Health: red, with the reason.
        _, body = wait_for(
            lambda: (r := get(f"http://127.0.0.1:{port}/health"))[0] == 503 and r,
            "red health",
            log_path,
        )
        alarms = json.loads(body)["alarms"]
        assert "5 record(s) quarantined" in alarms["balances.quarantine"]
        # The metric counts them, by reason.
        _, metrics = get(f"http://127.0.0.1:{port}/metrics")
        counted = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in metrics.splitlines()
            if line.startswith("payments_projection_poison_events_total{")
        }
        assert counted['payments_projection_poison_events_total{projection="balances",reason="not_in_store"}'] == 1  # fmt: skip  # noqa: E501
        assert counted['payments_projection_poison_events_total{projection="balances",reason="unreadable"}'] >= 1  # fmt: skip  # noqa: E501
        assert sum(v for k, v in counted.items() if '"balances"' in k) == 5
        assert 'payments_projection_quarantined_events{projection="balances"} 5.0' in metrics
        # Verify: the tables are right, the quarantined records are its only differences.
        report = verify(sandbox.url, ListEventSource([dict(e) for e in f.events]))
        assert {d.table for d in report.differences} == {"projection_quarantine"}
        assert len(report.differences) == len(rows), (rows, report.differences)
        assert sandbox.sql("SELECT posted FROM balances WHERE account_id = 'B1'") == [(2_500,)]
        assert process.poll() is None  # still consuming, not stopped

        # The operator has looked: acknowledged, health turns green, verify is clean.
        sandbox.sql("UPDATE projection_quarantine SET acknowledged_at = now()")
        _, body = wait_for(
            lambda: (r := get(f"http://127.0.0.1:{port}/health"))[0] == 200 and r,
            "green after acknowledgement",
            log_path,
        )
        assert "alarms" not in json.loads(body)
        assert verify(sandbox.url, ListEventSource([dict(e) for e in f.events])).differences == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    quarantined = [line for line in lines if line.get("event") == "consumer.record_quarantined"]
    assert len(quarantined) == len(rows)  # said once each, at error level
    assert all(line.get("level") == "error" for line in quarantined)
    assert not any(line.get("event") == "consumer.failed_retrying" for line in lines)  # no spin
