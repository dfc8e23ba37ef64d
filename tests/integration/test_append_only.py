"""The event store is append-only: refused by grants for the app, by triggers for the owner.

Every attempt runs inside a transaction that is rolled back whatever happens and,
for row changes, only aims at this test's own event, so a broken guard could not
damage anybody else's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from payments.domain.ids import account_id_to_uuid
from payments.ledger import schema
from payments.ledger.store import EVENTS_TABLE, SNAPSHOTS_TABLE, open_application
from payments.runtime.settings import Settings
from tests.support.signing import signed_ledger

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_event(settings: Settings) -> Iterator[str]:
    """The aggregate id (text) of an event this module wrote through the ledger."""
    schema.install(settings.require_admin_database_url(), settings.require_database_url())
    app = open_application(settings)
    try:
        tag = uuid.uuid4().hex
        outcome = signed_ledger(app).decide(
            {"command_id": f"append-only-{tag}", "type": "open_account", "actor": "test",
             "payload": {"account_id": f"ao-{tag}", "currency": "EUR", "kind": "fees"}}
        )  # fmt: skip
        assert outcome.status == "accepted"
        aggregate_id = account_id_to_uuid(f"ao-{tag}")
        app.take_snapshots(app.load_many([aggregate_id]).values())  # one row in each table
        yield str(aggregate_id)
    finally:
        app.close()


STATEMENTS = {
    "UPDATE": "UPDATE {table} SET topic = topic WHERE originator_id = %s",
    "DELETE": "DELETE FROM {table} WHERE originator_id = %s",
    "TRUNCATE": "TRUNCATE {table}",
}
TABLES = [EVENTS_TABLE, SNAPSHOTS_TABLE]


def attempt(url: str, operation: str, aggregate_id: str, table: str) -> psycopg.Error:
    with psycopg.connect(url) as conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("SET LOCAL lock_timeout = '5s'")
                params = () if operation == "TRUNCATE" else (aggregate_id,)
                with pytest.raises(psycopg.Error) as refused:
                    conn.execute(STATEMENTS[operation].format(table=table), params)
                return refused.value
        finally:
            conn.rollback()


def count(url: str, aggregate_id: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {table} WHERE originator_id = %s", (aggregate_id,)
        ).fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "TRUNCATE"])
def test_the_app_role_has_no_right_to_change_events(
    settings: Settings, own_event: str, operation: str, table: str
) -> None:
    error = attempt(settings.require_database_url(), operation, own_event, table)
    assert isinstance(error, psycopg.errors.InsufficientPrivilege)
    assert "permission denied" in str(error)
    assert count(settings.require_database_url(), own_event, table) == 1  # still there


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "TRUNCATE"])
def test_even_the_owner_is_stopped_by_the_triggers(
    settings: Settings, own_event: str, operation: str, table: str
) -> None:
    error = attempt(settings.require_admin_database_url(), operation, own_event, table)
    assert "append-only" in str(error)
    assert operation in str(error) and table in str(error)
    assert count(settings.require_admin_database_url(), own_event, table) == 1


def test_the_app_role_cannot_drop_the_guard(settings: Settings, own_event: str) -> None:
    with (
        psycopg.connect(settings.require_database_url()) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(f"DROP TRIGGER {EVENTS_TABLE}_no_update_delete ON {EVENTS_TABLE}")


def test_install_is_idempotent_and_keeps_the_guard(settings: Settings, own_event: str) -> None:
    schema.install(settings.require_admin_database_url(), settings.require_database_url())
    error = attempt(settings.require_admin_database_url(), "DELETE", own_event, EVENTS_TABLE)
    assert "append-only" in str(error)
