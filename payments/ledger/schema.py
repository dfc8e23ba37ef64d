"""The write side's DDL, run as the owner role (`payments_admin`); idempotent.

- `payments_events`: created by the library's own recorder code (same definition as
  eventsourcing's), minus its unused insert function (it would skip the writer lock);
  `payments_snapshots` likewise (snapshots of busy accounts, derived data).
- Append-only: the app role gets SELECT and INSERT only (and the sequence), and
  triggers refuse UPDATE, DELETE and TRUNCATE even for the owner (both tables). Events are facts;
  a mistake is corrected with new events, never by editing old ones.
- Keys and roles (`payments.domain.identity` events) and reconciliation facts
  (`payments.domain.statement`, `payments.domain.reconciliation`) cannot be inserted by
  the engine's role (triggers): only the operator's tools write them.
- `engine_intake_positions` (the Kafka offset stored with each batch) and
  `relay_position` (how far the relay has published), which the app role updates.
- `holder_keys` (payments.ledger.holder_keys): each holder's data key, wrapped under
  the KEK; mutable on purpose (erasure deletes the row). The app role reads, inserts
  and deletes it (never updates); the query role reads it (the API opens personal
  data for `holders:read`); the audit and projector roles may not read it at all:
  `payments verify` needs no personal data.
- The process roles (payments.contract.database_roles), where they exist: the engine
  as the app role above; the projector reads events only; the audit role reads every
  table here (and those the owner makes later) except `holder_keys`; the query role
  `holder_keys` only; the reconciler (the API's statement imports) reads events and
  appends, and a trigger refuses every event it inserts that is not of a BankStatement
  or a ReconciliationException.
"""

from __future__ import annotations

import psycopg
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresDatastore
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from payments.contract.database_roles import (
    AUDIT_ROLE,
    ENGINE_ROLE,
    PROCESS_ROLES,
    PROJECTOR_ROLE,
    QUERY_ROLE,
    RECONCILER_ROLE,
)
from payments.contract.tables import (
    EVENTS_TABLE,
    HOLDER_KEYS_TABLE,
    INTAKE_POSITIONS_TABLE,
    RELAY_POSITION_TABLE,
    SNAPSHOTS_TABLE,
)
from payments.ledger.store import LedgerRecorder

_INSTALL_LOCK = 0x7061796D5F646464  # serializes concurrent installs

_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION {guard}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on %: the event store is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Events are facts: correct a mistake with new events.';
END;
$$;
CREATE OR REPLACE TRIGGER {table_no_change} BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {guard}();
CREATE OR REPLACE TRIGGER {table_no_truncate} BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {guard}();
"""

# Who may sign commands is the operator's to say: the engine's role appends every
# other event, but a compromised engine must not mint itself a key or a role.
_IDENTITY_GUARD = """
CREATE OR REPLACE FUNCTION {guard}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the engine''s role may not write % (keys and roles are the operator''s)',
        NEW.topic USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE OR REPLACE TRIGGER {trigger} BEFORE INSERT ON {table}
    FOR EACH ROW WHEN (current_user = {engine} AND NEW.topic LIKE {identity})
    EXECUTE FUNCTION {guard}();
"""
IDENTITY_TOPIC_PREFIX = "payments.domain.identity:"

# Reconciliation is the operator's too (`payments reconcile`): a compromised engine must
# not import a statement of its own or resolve an exception.
_RECONCILIATION_GUARD = """
CREATE OR REPLACE FUNCTION {guard}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the engine''s role may not write % (reconciliation is the operator''s)',
        NEW.topic USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE OR REPLACE TRIGGER {trigger} BEFORE INSERT ON {table}
    FOR EACH ROW WHEN (current_user = {engine}
                       AND (NEW.topic LIKE {statements} OR NEW.topic LIKE {exceptions}))
    EXECUTE FUNCTION {guard}();
"""
RECONCILIATION_TOPIC_PREFIXES = ("payments.domain.statement:", "payments.domain.reconciliation:")

# The reconciler's role may append, but only reconciliation facts: an API process that
# holds its password (POST /reconciliation/imports) must not be able to move money, mint a
# key or write any other event. A whitelist of the two aggregates' topics.
_RECONCILER_GUARD = """
CREATE OR REPLACE FUNCTION {guard}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the reconciler''s role may not write % (only statements and their exceptions)',
        NEW.topic USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE OR REPLACE TRIGGER {trigger} BEFORE INSERT ON {table}
    FOR EACH ROW WHEN (current_user = {reconciler}
                       AND NOT (NEW.topic LIKE {statements} OR NEW.topic LIKE {exceptions}))
    EXECUTE FUNCTION {guard}();
"""
RECONCILER_TOPIC_PREFIXES = (
    "payments.domain.statement:BankStatement.",
    "payments.domain.reconciliation:ReconciliationException.",
)

_TRACKING_TABLES = """
CREATE TABLE IF NOT EXISTS {intake} (
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
CREATE TABLE IF NOT EXISTS {relay} (
    name text PRIMARY KEY,
    notification_id bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {holder_keys} (
    holder_id text PRIMARY KEY,
    wrapped_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


def _datastore(url: str) -> PostgresDatastore:
    params = conninfo_to_dict(url)
    return PostgresDatastore(
        dbname=str(params.get("dbname") or "postgres"),
        host=str(params.get("host") or "localhost"),
        port=str(params.get("port") or "5432"),
        user=str(params.get("user") or ""),
        password=str(params.get("password") or ""),
    )


def _create_store_tables(admin_url: str) -> None:
    datastore = _datastore(admin_url)
    try:
        recorder = LedgerRecorder(datastore, events_table_name=EVENTS_TABLE)
        del recorder.sql_create_statements[recorder.create_insert_function_statement_index]
        recorder.create_table()
        PostgresAggregateRecorder(datastore, events_table_name=SNAPSHOTS_TABLE).create_table()
    finally:
        datastore.close()


def install(admin_url: str, app_url: str) -> None:
    """Create or complete the schema; safe to run again and from several processes."""
    app_role = conninfo_to_dict(app_url).get("user")
    if not app_role:
        raise ValueError("the app database URL names no user, so grants cannot be given")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_INSTALL_LOCK,))
        try:
            _create_store_tables(admin_url)
            with conn.transaction():
                _guard_and_grant(conn, str(app_role))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_INSTALL_LOCK,))


_APPENDER_RIGHTS = (
    "REVOKE ALL ON {table} FROM {role}",
    "GRANT SELECT, INSERT ON {table} TO {role}",
    "GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {role}",
    "REVOKE ALL ON {snapshots} FROM {role}",
    "GRANT SELECT, INSERT ON {snapshots} TO {role}",
    "GRANT SELECT, INSERT, UPDATE ON {intake}, {relay} TO {role}",
    "REVOKE ALL ON {holder_keys} FROM {role}",
    "GRANT SELECT, INSERT, DELETE ON {holder_keys} TO {role}",
)
# Each process role's rights on the write side, from nothing (REVOKE first), so an
# install also takes back what an earlier version granted.
_NOTHING = (
    "REVOKE ALL ON {table}, {snapshots}, {intake}, {relay}, {holder_keys} FROM {role}",
    "REVOKE ALL ON SEQUENCE {sequence} FROM {role}",
)
_ROLE_RIGHTS = {
    ENGINE_ROLE: _NOTHING + _APPENDER_RIGHTS,
    # The audit fill reads the store; the projector writes nothing here.
    PROJECTOR_ROLE: (*_NOTHING, "GRANT SELECT ON {table} TO {role}"),
    QUERY_ROLE: (*_NOTHING, "GRANT SELECT ON {holder_keys} TO {role}"),
    # Reads the store (duplicates, earlier matches) and appends; what it may append is
    # the reconciler guard's to say. No snapshots, no positions.
    RECONCILER_ROLE: (
        *_NOTHING,
        "GRANT SELECT, INSERT ON {table} TO {role}",
        "GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {role}",
    ),
    AUDIT_ROLE: (
        *_NOTHING,
        "GRANT SELECT ON {table}, {snapshots}, {intake}, {relay} TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}",
    ),
}


def _guard_and_grant(conn: psycopg.Connection, app_role: str) -> None:
    for guarded in (EVENTS_TABLE, SNAPSHOTS_TABLE):
        conn.execute(
            sql.SQL(_APPEND_ONLY).format(
                guard=sql.Identifier(f"{EVENTS_TABLE}_append_only"),
                table=sql.Identifier(guarded),
                table_no_change=sql.Identifier(f"{guarded}_no_update_delete"),
                table_no_truncate=sql.Identifier(f"{guarded}_no_truncate"),
            )
        )
    conn.execute(
        sql.SQL(_IDENTITY_GUARD).format(
            guard=sql.Identifier(f"{EVENTS_TABLE}_identity_guard"),
            trigger=sql.Identifier(f"{EVENTS_TABLE}_identity_by_operator_only"),
            table=sql.Identifier(EVENTS_TABLE),
            engine=sql.Literal(ENGINE_ROLE),
            identity=sql.Literal(IDENTITY_TOPIC_PREFIX + "%"),
        )
    )
    conn.execute(
        sql.SQL(_RECONCILIATION_GUARD).format(
            guard=sql.Identifier(f"{EVENTS_TABLE}_reconciliation_guard"),
            trigger=sql.Identifier(f"{EVENTS_TABLE}_reconciliation_by_operator_only"),
            table=sql.Identifier(EVENTS_TABLE),
            engine=sql.Literal(ENGINE_ROLE),
            statements=sql.Literal(RECONCILIATION_TOPIC_PREFIXES[0] + "%"),
            exceptions=sql.Literal(RECONCILIATION_TOPIC_PREFIXES[1] + "%"),
        )
    )
    conn.execute(
        sql.SQL(_RECONCILER_GUARD).format(
            guard=sql.Identifier(f"{EVENTS_TABLE}_reconciler_guard"),
            trigger=sql.Identifier(f"{EVENTS_TABLE}_reconciler_appends_reconciliation_only"),
            table=sql.Identifier(EVENTS_TABLE),
            reconciler=sql.Literal(RECONCILER_ROLE),
            statements=sql.Literal(RECONCILER_TOPIC_PREFIXES[0] + "%"),
            exceptions=sql.Literal(RECONCILER_TOPIC_PREFIXES[1] + "%"),
        )
    )
    conn.execute(
        sql.SQL(_TRACKING_TABLES).format(
            intake=sql.Identifier(INTAKE_POSITIONS_TABLE),
            relay=sql.Identifier(RELAY_POSITION_TABLE),
            holder_keys=sql.Identifier(HOLDER_KEYS_TABLE),
        )
    )
    grants = [(app_role, _APPENDER_RIGHTS)]
    present = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(PROCESS_ROLES),)
    ).fetchall()
    grants += [(name, _ROLE_RIGHTS[name]) for (name,) in present if name != app_role]
    (schema,) = conn.execute("SELECT current_schema()").fetchone() or ("public",)
    for grantee, statements in grants:
        for statement in statements:
            conn.execute(
                sql.SQL(statement).format(
                    table=sql.Identifier(EVENTS_TABLE),
                    role=sql.Identifier(grantee),
                    sequence=sql.Identifier(f"{EVENTS_TABLE}_notification_id_seq"),
                    snapshots=sql.Identifier(SNAPSHOTS_TABLE),
                    intake=sql.Identifier(INTAKE_POSITIONS_TABLE),
                    relay=sql.Identifier(RELAY_POSITION_TABLE),
                    holder_keys=sql.Identifier(HOLDER_KEYS_TABLE),
                    schema=sql.Identifier(schema),
                )
            )
