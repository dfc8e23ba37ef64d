"""History cannot be rewritten: refused for the engine's role, detected when forced.

The engine's role (PAYMENTS_DATABASE_URL) may only read and append: UPDATE, DELETE
and TRUNCATE of `payments_events` are refused by the database. A superuser can
still switch the append-only triggers off and edit an event behind the engine's
back; `payments verify` must then report the account whose history changed. The
edit is undone at the end (this instance's store is shared by the whole session).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.faults import checker
from tests.faults.cluster import Fleet
from tests.faults.hostile import Batch, collect
from tests.faults.report import Report
from tests.faults.workload import command

pytestmark = [pytest.mark.faults, pytest.mark.integration]

REWRITES = {
    "update": "UPDATE payments_events SET state = state WHERE notification_id = "
    "(SELECT min(notification_id) FROM payments_events)",
    "delete": "DELETE FROM payments_events WHERE notification_id = "
    "(SELECT min(notification_id) FROM payments_events)",
    "truncate": "TRUNCATE payments_events",
}


@pytest.mark.parametrize("role", ["PAYMENTS_DATABASE_URL", "PAYMENTS_ADMIN_DATABASE_URL"])
@pytest.mark.parametrize("statement", sorted(REWRITES))
def test_the_database_refuses_rewrites(
    service_env: dict[str, str], report: Report, role: str, statement: str
) -> None:
    # The app role lacks the grant; the owner (admin) is stopped by the triggers.
    who = "the owner (payments_admin)" if "ADMIN" in role else "the engine's role (payments_app)"
    check = f"{statement.upper()} as {who}"
    found = report.named("history rewrite")
    found.checks[check] = "not refused"
    with psycopg.connect(service_env[role]) as conn:
        before = conn.execute("SELECT count(*) FROM payments_events").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            conn.execute(REWRITES[statement])
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM payments_events").fetchone() == before
    found.checks[check] = "ok"
    found.answers[check] = str(refused.value).splitlines()[0][:140]


@pytest.fixture
def credited_account(fleet: Fleet) -> Iterator[tuple[str, int]]:
    """A fresh account credited 700 through the engine, shown by the read model."""
    run = f"r{uuid.uuid4().hex[:8]}"
    bank, target = f"{run}-bank", f"{run}-target"
    fleet.start_engine()
    fleet.start_consumers()
    topics = fleet.settings.topics
    batch = Batch(run)
    for account, kind in ((bank, "external"), (target, "customer")):
        batch.command(
            command(f"{account}-open", "open_account", account_id=account, currency="EUR",
                    kind=kind),
            f"{account}-open",
        )  # fmt: skip
    batch.command(
        command(f"{run}-pay", "transfer", transfer_id=f"{run}-pay", from_account=bank,
                to_account=target, amount=700, currency="EUR"),
        f"{run}-pay",
    )  # fmt: skip
    batch.records = [(run.encode(), value) for _, value in batch.records]  # in order
    batch.publish(fleet.bootstrap, topics.commands)
    answers = collect(fleet.bootstrap, topics.command_results, topics.commands_dlq, batch)
    assert all(o[0]["status"] == "accepted" for o in answers.outcomes.values()), answers
    store = checker.StoreView.load(fleet.settings)
    assert checker.check_read_model(fleet.settings, store, [bank, target]) == "ok"
    yield target, 700


def test_an_edit_behind_the_engines_back_is_reported_by_verify(
    fleet: Fleet, service_env: dict[str, str], credited_account: tuple[str, int], report: Report
) -> None:
    account, amount = credited_account
    result = report.named("history rewrite")
    result.checks["superuser edit reported by verify"] = "not reported"
    assert checker.run_verify(fleet.settings) == "ok"
    # autocommit: each rewrite commits on its own (else it would be a savepoint).
    with psycopg.connect(service_env["PAYMENTS_SUPERUSER_DATABASE_URL"], autocommit=True) as conn:
        row = conn.execute(
            "SELECT notification_id, state FROM payments_events "
            "WHERE topic LIKE %s AND convert_from(state, 'UTF8')::jsonb ->> 'account_id' = %s",
            ("%Account.Credited", account),
        ).fetchone()
        assert row is not None, "the Credited event of the account is not in the store"
        position, original = row[0], bytes(row[1])
        forged = json.loads(original)
        assert forged["amount"] == amount
        forged["amount"] = amount * 1000
        try:
            _rewrite(conn, position, json.dumps(forged).encode())
            found = checker.run_verify(fleet.settings, timeout=10)
        finally:
            _rewrite(conn, position, original)
    assert found != "ok", "verify did not notice an event edited in the store"
    assert account in found or str(amount * 1000) in found, found
    result.answers["superuser edit reported by verify"] = found[:300]
    assert checker.run_verify(fleet.settings) == "ok"  # the original is back
    result.checks["superuser edit reported by verify"] = "ok"


def _rewrite(conn: psycopg.Connection, position: int, state: bytes) -> None:
    with conn.transaction():
        conn.execute("ALTER TABLE payments_events DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE payments_events SET state = %s WHERE notification_id = %s", (state, position)
        )
        conn.execute("ALTER TABLE payments_events ENABLE TRIGGER USER")
