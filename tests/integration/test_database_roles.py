"""Each process's database role may do what its process needs, and PostgreSQL refuses
the rest (docs/security.md, "Database roles").

Every attempt runs in a transaction that is rolled back whatever happens, and row
changes aim at keys nobody uses, so a missing refusal could not damage shared data;
the refusals come from the privilege check, before any row is looked at. The allowed
cases are tried the same way, so a role that could do nothing would fail them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from payments.contract.database_roles import (
    AUDIT_ROLE,
    ENGINE_ROLE,
    PROJECTOR_ROLE,
    QUERY_ROLE,
    RECONCILER_ROLE,
)
from payments.contract.tables import (
    EVENTS_TABLE,
    INTAKE_POSITIONS_TABLE,
    RELAY_POSITION_TABLE,
    SNAPSHOTS_TABLE,
)
from payments.runtime.settings import Settings
from payments.tools.services import control, principals
from payments.tools.services.config import ServiceConfig
from projections import schema as read_side
from projections.rebuild.source import StoreEventSource

pytestmark = pytest.mark.integration

WRITE_SIDE = (EVENTS_TABLE, SNAPSHOTS_TABLE, INTAKE_POSITIONS_TABLE, RELAY_POSITION_TABLE)
READ_SIDE = read_side.READ_SIDE_TABLES
NOBODY = "00000000-0000-0000-0000-00000000dead"  # an originator id no event has


@pytest.fixture(scope="module")
def role_url(settings: Settings) -> dict[str, str]:
    """PAYMENTS_DATABASE_URL as each principal's role, on the local services."""
    urls = {
        principal: principals.as_role(settings, settings.require_database_url(), principal)
        for principal in ("engine", "projections", "client", "audit", "admin", "reconciler")
    }
    if any(url is None for url in urls.values()):
        pytest.skip("the suite runs on a database this project did not set up")
    return {p: u for p, u in urls.items() if u is not None}


def attempt(url: str, statement: str, params: tuple = ()) -> psycopg.Error | None:
    """Run `statement` in a transaction that is always rolled back: the error, or None."""
    with psycopg.connect(url) as conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("SET LOCAL lock_timeout = '5s'")
                conn.execute(statement.encode(), params)
        except psycopg.Error as error:
            return error
        return None


def refused(url: str, statement: str, params: tuple = ()) -> None:
    error = attempt(url, statement, params)
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), (statement, error)
    assert "permission denied" in str(error) or "must be owner" in str(error), error


def allowed(url: str, statement: str, params: tuple = ()) -> None:
    error = attempt(url, statement, params)
    assert error is None, (statement, error)


def _columns(url: str, table: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def write_statements(role_url: dict[str, str]) -> dict[str, list[str]]:
    """Per table: its writes, with a real column for UPDATE (the operator sees them all)."""
    statements = {}
    for table in (*WRITE_SIDE, *READ_SIDE):
        column = _columns(role_url["admin"], table)[0]
        statements[table] = [
            f"INSERT INTO {table} SELECT * FROM {table} WHERE false",
            f"UPDATE {table} SET {column} = {column} WHERE false",
            f"DELETE FROM {table} WHERE false",
            f"TRUNCATE {table}",
        ]
    return statements


# --- who logs in as what -------------------------------------------------------------


def test_each_principal_gets_its_own_database_role(settings: Settings) -> None:
    config = ServiceConfig.from_settings(settings)
    if settings.kafka_bootstrap != config.kafka_bootstrap:
        pytest.skip("the suite runs on services this project did not start")
    expected = {
        "engine": ENGINE_ROLE,
        "projections": PROJECTOR_ROLE,
        "client": QUERY_ROLE,
        "audit": AUDIT_ROLE,
        "admin": "payments_app",
    }
    for principal, role in expected.items():
        variables = control.env_vars(config, principal)
        with psycopg.connect(variables["PAYMENTS_DATABASE_URL"]) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        # Only the operator is given the owner's and the superuser's URLs.
        has_owner_urls = "PAYMENTS_ADMIN_DATABASE_URL" in variables
        assert has_owner_urls == (principal == "admin")
        assert "PAYMENTS_SUPERUSER_DATABASE_URL" in variables or principal != "admin"
    assert "PAYMENTS_KAFKA_USERNAME" not in control.env_vars(config, "audit")


def test_children_started_by_the_tools_get_their_role_on_the_given_database(
    settings: Settings,
) -> None:
    url = settings.require_database_url() + "?application_name=mine"
    env = principals.role_env(settings, "projections", url)
    own = env["PAYMENTS_DATABASE_URL"]
    assert own.startswith(f"postgresql://{PROJECTOR_ROLE}:") and own.endswith(
        "/payments?application_name=mine"
    )
    assert "PAYMENTS_DATABASE_URL" not in principals.role_env(settings, "engine")
    # Somebody else's server: its operator decides.
    elsewhere = principals.role_env(settings, "engine", "postgresql://u:p@db.example:5432/x")
    assert "PAYMENTS_DATABASE_URL" not in elsewhere


# --- the engine ----------------------------------------------------------------------


@pytest.mark.parametrize("table", READ_SIDE)
def test_the_engine_cannot_write_or_read_the_projections(
    role_url: dict[str, str], write_statements: dict[str, list[str]], table: str
) -> None:
    for statement in write_statements[table]:
        refused(role_url["engine"], statement)
    refused(role_url["engine"], f"SELECT 1 FROM {table} LIMIT 1")
    refused(role_url["engine"], f"DROP TABLE {table}")


def test_the_engine_appends_events_and_snapshots_and_keeps_its_positions(
    role_url: dict[str, str],
) -> None:
    engine = role_url["engine"]
    for table in (EVENTS_TABLE, SNAPSHOTS_TABLE):
        allowed(engine, f"SELECT count(*) FROM {table} WHERE originator_id = %s", (NOBODY,))
    # Rolled back: nothing is stored (an explicit position uses no sequence number).
    allowed(
        engine,
        f"INSERT INTO {EVENTS_TABLE} (notification_id, originator_id, originator_version,"
        " topic, state) VALUES (-1, %s, 1, 'test:Nothing', '')",
        (NOBODY,),
    )
    allowed(
        engine,
        f"INSERT INTO {SNAPSHOTS_TABLE} (originator_id, originator_version, topic, state)"
        " VALUES (%s, 1, 'test:Nothing', '')",
        (NOBODY,),
    )
    allowed(
        engine,
        f"INSERT INTO {RELAY_POSITION_TABLE} (name, notification_id) VALUES (%s, 0)",
        (f"test-{uuid.uuid4().hex}",),
    )
    allowed(engine, f"UPDATE {INTAKE_POSITIONS_TABLE} SET next_offset = next_offset WHERE false")


# --- the projector -------------------------------------------------------------------


def test_the_projector_reads_events_but_writes_neither_events_nor_snapshots(
    role_url: dict[str, str], write_statements: dict[str, list[str]]
) -> None:
    projector = role_url["projections"]
    allowed(projector, f"SELECT count(*) FROM {EVENTS_TABLE} WHERE originator_id = %s", (NOBODY,))
    for table in WRITE_SIDE:
        for statement in write_statements[table]:
            refused(projector, statement)
    refused(projector, f"SELECT 1 FROM {SNAPSHOTS_TABLE} LIMIT 1")


@pytest.mark.parametrize("table", READ_SIDE)
def test_the_projector_writes_its_tables(role_url: dict[str, str], table: str) -> None:
    column = _columns(role_url["admin"], table)[0]
    for statement in (
        f"INSERT INTO {table} SELECT * FROM {table} WHERE false",
        f"UPDATE {table} SET {column} = {column} WHERE false",
        f"DELETE FROM {table} WHERE false",
    ):
        allowed(role_url["projections"], statement)


def test_the_projector_can_extend_the_audit_chain(role_url: dict[str, str]) -> None:
    allowed(role_url["projections"], "UPDATE audit_chain_head SET hash = hash WHERE id = 1")


# --- queries and audit ---------------------------------------------------------------


def test_the_query_role_reads_projections_only(
    role_url: dict[str, str], write_statements: dict[str, list[str]]
) -> None:
    query = role_url["client"]
    for table in READ_SIDE:
        allowed(query, f"SELECT * FROM {table} LIMIT 1")
        for statement in write_statements[table]:
            refused(query, statement)
    for table in WRITE_SIDE:
        refused(query, f"SELECT 1 FROM {table} LIMIT 1")
    refused(query, "CREATE TABLE query_was_here (x int)")


def test_the_audit_role_reads_everything_and_writes_nothing(
    role_url: dict[str, str], write_statements: dict[str, list[str]]
) -> None:
    audit = role_url["audit"]
    for table in (*WRITE_SIDE, *READ_SIDE):
        allowed(audit, f"SELECT * FROM {table} LIMIT 1")
        for statement in write_statements[table]:
            refused(audit, statement)
    refused(audit, "CREATE TABLE audit_was_here (x int)")


def test_holder_keys_are_the_engine_s_to_write_and_the_query_role_s_to_read(
    role_url: dict[str, str],
) -> None:
    """Erasure deletes a key (the engine); the API opens data with it (the query role);
    no one updates a key, and verify (audit) and the projector never see one."""
    insert = "INSERT INTO holder_keys (holder_id, wrapped_key) VALUES (%s, %s)"
    row = (f"tests-{uuid.uuid4().hex}", b"not a key")
    select, delete = "SELECT * FROM holder_keys LIMIT 1", "DELETE FROM holder_keys WHERE false"
    update = "UPDATE holder_keys SET wrapped_key = wrapped_key WHERE false"
    engine, query = role_url["engine"], role_url["client"]
    for statement in (select, delete):
        allowed(engine, statement)
    allowed(engine, insert, row)
    refused(engine, update)
    allowed(query, select)
    for statement in (update, delete):
        refused(query, statement)
    refused(query, insert, row)
    for principal in ("audit", "projections"):
        refused(role_url[principal], select)


# --- the reconciler (the API's statement imports) -------------------------------------

APPEND = (
    f"INSERT INTO {EVENTS_TABLE} (notification_id, originator_id, originator_version, topic,"
    " state) VALUES (-1, %s, 1, %s, '')"
)  # an explicit position: no sequence number is used, and it is rolled back anyway
RECONCILIATION_TOPICS = (
    "payments.domain.statement:BankStatement.Imported",
    "payments.domain.statement:BankStatement.Reconciled",
    "payments.domain.reconciliation:ReconciliationException.Opened",
    "payments.domain.reconciliation:ReconciliationException.Resolved",
)
INTRUDING_TOPICS = (
    "payments.domain.account:Account.Opened",
    "payments.domain.account:Account.Credited",
    "payments.domain.payment:Payment.Captured",
    "payments.domain.identity:Principal.Registered",
    "payments.domain.statement:Other.Imported",  # the module's name is not enough
    "payments.domain.statementx:BankStatement.Imported",
    "test:Nothing",
)


def test_the_reconciler_role_exists_where_the_api_gets_its_url(settings: Settings) -> None:
    config = ServiceConfig.from_settings(settings)
    if settings.kafka_bootstrap != config.kafka_bootstrap:
        pytest.skip("the suite runs on services this project did not start")
    client = control.env_vars(config, "client")
    with psycopg.connect(client["PAYMENTS_RECONCILER_DATABASE_URL"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (RECONCILER_ROLE,)
    for principal in ("engine", "projections", "audit"):
        assert "PAYMENTS_RECONCILER_DATABASE_URL" not in control.env_vars(config, principal)


def test_the_reconciler_appends_statements_and_their_exceptions(role_url: dict[str, str]) -> None:
    for topic in RECONCILIATION_TOPICS:
        allowed(role_url["reconciler"], APPEND, (NOBODY, topic))
    allowed(role_url["reconciler"], f"SELECT count(*) FROM {EVENTS_TABLE} WHERE originator_id = %s",
            (NOBODY,))  # fmt: skip


@pytest.mark.parametrize("topic", INTRUDING_TOPICS)
def test_the_reconciler_may_append_no_other_event(role_url: dict[str, str], topic: str) -> None:
    """An API process that holds the reconciler's password cannot move money, mint a
    key or write anything but a statement and its exceptions: PostgreSQL refuses."""
    error = attempt(role_url["reconciler"], APPEND, (NOBODY, topic))
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), (topic, error)
    assert "the reconciler's role may not write" in str(error), error
    # The guard is the reconciler's: the engine still appends an account event.
    if topic.startswith("payments.domain.account:"):
        allowed(role_url["engine"], APPEND, (NOBODY, topic))


def test_the_reconciler_changes_nothing_else(
    role_url: dict[str, str], write_statements: dict[str, list[str]]
) -> None:
    reconciler = role_url["reconciler"]
    for statement in write_statements[EVENTS_TABLE][1:]:  # UPDATE, DELETE, TRUNCATE
        refused(reconciler, statement)
    for table in (SNAPSHOTS_TABLE, INTAKE_POSITIONS_TABLE, RELAY_POSITION_TABLE):
        refused(reconciler, f"SELECT 1 FROM {table} LIMIT 1")
        for statement in write_statements[table]:
            refused(reconciler, statement)
    for table in READ_SIDE:  # reads what the API's query role reads: no write
        allowed(reconciler, f"SELECT * FROM {table} LIMIT 1")
        for statement in write_statements[table]:
            refused(reconciler, statement)
    refused(reconciler, "CREATE TABLE reconciler_was_here (x int)")
    refused(reconciler, f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER USER")
    refused(reconciler, f"DROP TRIGGER payments_events_reconciler_appends_reconciliation_only"
                        f" ON {EVENTS_TABLE}")  # fmt: skip


# --- history -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal", ["engine", "projections", "client", "audit", "admin", "reconciler"]
)
def test_only_the_owner_could_change_an_event_and_its_triggers_stop_it(
    role_url: dict[str, str], settings: Settings, principal: str
) -> None:
    for table in (EVENTS_TABLE, SNAPSHOTS_TABLE):
        for statement in (
            f"UPDATE {table} SET topic = topic WHERE originator_id = %s",
            f"DELETE FROM {table} WHERE originator_id = %s",
        ):
            refused(role_url[principal], statement, (NOBODY,))
        refused(role_url[principal], f"TRUNCATE {table}")
    # The owner has the right; the append-only trigger refuses it (test_append_only.py).
    error = attempt(settings.require_admin_database_url(), f"TRUNCATE {EVENTS_TABLE}")
    assert error is not None and "append-only" in str(error)


def test_replay_and_verify_read_the_store_without_snapshots(role_url: dict[str, str]) -> None:
    """The projector may not even read snapshots, yet the store reads as a whole."""
    settings = Settings(database_url=role_url["projections"])
    source = StoreEventSource(settings)
    try:
        assert source.app.snapshots is None
        last = source.max_position()
        if last:
            first = next(source.pages(0, last, page_size=10))
            assert first and all(e["position"] <= last for e in first)
    finally:
        source.close()


# --- the roles' rights survive replays and upgrades ----------------------------------


@pytest.fixture
def old_style_schema(settings: Settings, superuser_database_url: str) -> Iterator[str]:
    """A schema whose projection tables the app role owns, as before the roles split."""
    schema = f"t_roles_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION payments_app").format(
            sql.Identifier(schema)))  # fmt: skip
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(
            sql.Identifier(schema), sql.Identifier(PROJECTOR_ROLE)))  # fmt: skip
        readers = (QUERY_ROLE, AUDIT_ROLE, ENGINE_ROLE)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(schema), sql.SQL(", ").join(map(sql.Identifier, readers))
        ))  # fmt: skip
    yield schema
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_install_hands_old_tables_to_the_projector_and_replay_keeps_them_there(
    settings: Settings, role_url: dict[str, str], old_style_schema: str
) -> None:
    from tests.support.events import url_with_search_path

    def url(principal: str) -> str:
        return url_with_search_path(role_url[principal], old_style_schema)

    read_side.install(url("admin"))  # as before: the app role owns them
    assert owners(url("admin")) == {"payments_app"}
    for _ in range(2):  # idempotent
        read_side.install(url("admin"), owner=PROJECTOR_ROLE, readers=[QUERY_ROLE, AUDIT_ROLE])
        assert owners(url("admin")) == {PROJECTOR_ROLE}
    allowed(url("client"), "SELECT * FROM balances")
    refused(url("engine"), "SELECT * FROM balances")
    # An operator's DDL (here: a replay's new tables) runs as the owner: the query role
    # reads the new tables through the owner's default privileges.
    with psycopg.connect(url("admin")) as conn, conn.transaction():
        read_side.act_as_owner(conn)
        read_side.drop_new_tables(conn, "balances")
        read_side.create_tables(conn, "balances", read_side.NEW_SUFFIX)
        read_side.swap_in(conn, "balances")
    assert owners(url("admin")) == {PROJECTOR_ROLE}
    allowed(url("client"), "SELECT * FROM balances")
    allowed(url("audit"), "SELECT * FROM payments")
    refused(url("client"), "INSERT INTO balances SELECT * FROM balances WHERE false")


def owners(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    return {r[0] for r in rows}


def test_the_query_role_may_only_add_to_the_api_request_log(role_url: dict[str, str]) -> None:
    query, audit = role_url["client"], role_url["audit"]
    row = (
        "INSERT INTO api_requests (request_id, at, method, route, status, duration_ms)"
        " VALUES (gen_random_uuid(), now(), 'GET', '/health', 200, 1.0)"
    )
    allowed(query, row)
    refused(query, "UPDATE api_requests SET status = 200 WHERE false")
    refused(query, "DELETE FROM api_requests WHERE false")
    refused(query, "SELECT 1 FROM api_requests LIMIT 1")
    allowed(audit, "SELECT * FROM api_requests LIMIT 1")
    refused(audit, row)


def test_the_query_role_may_only_add_to_the_webhook_inbox(role_url: dict[str, str]) -> None:
    """The API stores deliveries and reads them back (is it a duplicate?); no rewriting."""
    query, audit = role_url["client"], role_url["audit"]
    for table in ("webhook_deliveries", "webhook_events", "webhook_publications"):
        allowed(query, f"INSERT INTO {table} SELECT * FROM {table} WHERE false")
        allowed(query, f"SELECT 1 FROM {table} LIMIT 1")
        refused(query, f"UPDATE {table} SET provider = provider WHERE false")
        refused(query, f"DELETE FROM {table} WHERE false")
        allowed(audit, f"SELECT * FROM {table} LIMIT 1")
        refused(audit, f"INSERT INTO {table} SELECT * FROM {table} WHERE false")
