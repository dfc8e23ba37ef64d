"""Projection tables: DDL owned by the projector role, installed idempotently.

Tables are grouped by projection (`PROJECTION_TABLES`): replay builds a group under
the suffix `__new` (same DDL, `suffix="__new"`) and swaps it in by renaming. Index
and constraint names carry the suffix too, and `swap_in` renames them back, so the
next replay can build its `__new` tables again. Amounts are bigint minor units.

Ownership: `install(url, owner=…)` creates the tables as `owner` (a role the URL's
user may become) and hands it those the user made earlier; `readers` get SELECT, now
and on every table the owner creates later (a replay's). Read-side DDL afterwards runs
as the owner of `projection_positions` (`act_as_owner`), whoever connects, so an
operator's replay leaves the tables with the projector and their grants in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from projections.settlements.fold import ITEM_KINDS

NEW_SUFFIX = "__new"

_BALANCES = """
CREATE TABLE IF NOT EXISTS balances{s} (
    account_id text CONSTRAINT balances{s}_pkey PRIMARY KEY,
    aggregate_id uuid NOT NULL,
    kind text NOT NULL,
    currency text NOT NULL,
    posted bigint NOT NULL,
    held bigint NOT NULL,
    available bigint NOT NULL,
    overdraft_limit bigint NOT NULL,
    status text NOT NULL,
    opened_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    last_version bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS payments{s} (
    payment_id text CONSTRAINT payments{s}_pkey PRIMARY KEY,
    aggregate_id uuid NOT NULL,
    payer_account text NOT NULL,
    merchant_account text NOT NULL,
    currency text NOT NULL,
    authorized bigint NOT NULL,
    captured bigint NOT NULL,
    voided bigint NOT NULL,
    refunded bigint NOT NULL,
    charged_back bigint NOT NULL,
    status text NOT NULL,
    authorized_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    last_version bigint NOT NULL
);
-- Disputes (projections.disputes): the current state, and one row per step.
CREATE TABLE IF NOT EXISTS disputes{s} (
    dispute_id text CONSTRAINT disputes{s}_pkey PRIMARY KEY,
    aggregate_id uuid NOT NULL,
    payment_id text NOT NULL,
    merchant_account text NOT NULL,
    payer_account text NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL,
    fee bigint NOT NULL,
    reason_code text NOT NULL,
    network text NOT NULL,
    status text NOT NULL,
    evidence_due_by timestamptz NOT NULL,
    evidence_count integer NOT NULL,
    proposed_outcome text,
    proposed_by text,
    decided_by text,
    cause text,
    opened_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    last_version bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS disputes{s}_status_due ON disputes{s} (status, evidence_due_by);
CREATE INDEX IF NOT EXISTS disputes{s}_merchant ON disputes{s} (merchant_account);
CREATE TABLE IF NOT EXISTS dispute_timeline{s} (
    position bigint CONSTRAINT dispute_timeline{s}_pkey PRIMARY KEY,
    dispute_id text NOT NULL,
    event_type text NOT NULL,
    actor text NOT NULL,
    recorded_at timestamptz NOT NULL,
    detail jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS dispute_timeline{s}_dispute
    ON dispute_timeline{s} (dispute_id, position);
"""

_SETTLEMENTS = """
CREATE TABLE IF NOT EXISTS settlement_batches{s} (
    batch_id text CONSTRAINT settlement_batches{s}_pkey PRIMARY KEY,
    aggregate_id uuid NOT NULL,
    merchant_account text NOT NULL,
    payout_account text NOT NULL,
    fees_account text NOT NULL,
    currency text NOT NULL,
    fee_bps integer NOT NULL,
    gross bigint NOT NULL,
    refunds bigint NOT NULL,
    chargebacks bigint NOT NULL,
    fees bigint NOT NULL,
    net bigint NOT NULL,
    item_count integer NOT NULL,
    settled_at timestamptz NOT NULL,
    last_version bigint NOT NULL,
    deficit_carried_in bigint NOT NULL DEFAULT 0,
    deficit_carried_out bigint NOT NULL DEFAULT 0,
    disputes bigint NOT NULL DEFAULT 0,
    reinstatements bigint NOT NULL DEFAULT 0
);
-- Tables made before deficits were carried or disputes settled (their batches had none).
ALTER TABLE settlement_batches{s}
    ADD COLUMN IF NOT EXISTS deficit_carried_in bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS deficit_carried_out bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS disputes bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS reinstatements bigint NOT NULL DEFAULT 0;
-- One item per merchant account event (its position), settled into one batch.
CREATE TABLE IF NOT EXISTS settlement_items{s} (
    position bigint CONSTRAINT settlement_items{s}_pkey PRIMARY KEY,
    batch_id text NOT NULL,
    account_id text NOT NULL,
    payment_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ({item_kinds})),
    amount bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS settlement_items{s}_batch ON settlement_items{s} (batch_id);
-- Working table: the merchant's items since its last Account.Settled.
CREATE TABLE IF NOT EXISTS merchant_unsettled{s} (
    position bigint CONSTRAINT merchant_unsettled{s}_pkey PRIMARY KEY,
    account_id text NOT NULL,
    payment_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ({item_kinds})),
    amount bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS merchant_unsettled{s}_account
    ON merchant_unsettled{s} (account_id);
-- Tables made before disputes: their kind check allowed only the first three kinds.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
        WHERE conrelid IN ('settlement_items{s}'::regclass, 'merchant_unsettled{s}'::regclass)
        AND contype = 'c' AND pg_get_constraintdef(oid) NOT LIKE '%dispute_fee_refund%'
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
        EXECUTE format('ALTER TABLE %s ADD CHECK (kind IN ({item_kinds_quoted}))', c.tbl);
    END LOOP;
END $$;
-- Last version of each merchant account applied by the settlement projection.
CREATE TABLE IF NOT EXISTS settlement_merchants{s} (
    account_id text CONSTRAINT settlement_merchants{s}_pkey PRIMARY KEY,
    aggregate_id uuid NOT NULL,
    last_version bigint NOT NULL
);
"""

_AUDIT = """
CREATE TABLE IF NOT EXISTS audit_log{s} (
    position bigint CONSTRAINT audit_log{s}_pkey PRIMARY KEY,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id uuid NOT NULL,
    aggregate_version bigint NOT NULL,
    command_id text,
    actor text,
    recorded_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
-- One aggregate's rows (the API's history, statements and command outcomes), not a scan.
CREATE INDEX IF NOT EXISTS audit_log{s}_aggregate ON audit_log{s} (aggregate_id, position);
-- The screenings by id (GET /screenings pages them): their requests only, a small index.
CREATE INDEX IF NOT EXISTS audit_log{s}_screenings ON audit_log{s} ((payload->>'screening_id'))
    WHERE event_type = 'Screening.Requested';
-- Received but not yet chained (an earlier position is still on its way).
CREATE TABLE IF NOT EXISTS audit_staging{s} (
    position bigint CONSTRAINT audit_staging{s}_pkey PRIMARY KEY,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id uuid NOT NULL,
    aggregate_version bigint NOT NULL,
    command_id text,
    actor text,
    recorded_at timestamptz NOT NULL,
    payload jsonb NOT NULL
);
-- The chain's end, one row: locked to extend the chain one transaction at a time.
CREATE TABLE IF NOT EXISTS audit_chain_head{s} (
    id integer CONSTRAINT audit_chain_head{s}_pkey PRIMARY KEY CHECK (id = 1),
    position bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_chain_head{s} (id, position, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000')
    ON CONFLICT (id) DO NOTHING;
"""

# Who may call the HTTP API: principals with their roles now, and API keys (only the
# SHA-256 of a key's secret). Read by the API with the query role.
_PRINCIPALS = """
CREATE TABLE IF NOT EXISTS principals{s} (
    aggregate_id uuid CONSTRAINT principals{s}_pkey PRIMARY KEY,
    principal text NOT NULL CONSTRAINT principals{s}_principal UNIQUE,
    roles text NOT NULL,
    updated_at timestamptz NOT NULL,
    last_version bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys{s} (
    aggregate_id uuid CONSTRAINT api_keys{s}_pkey PRIMARY KEY,
    prefix text NOT NULL CONSTRAINT api_keys{s}_prefix UNIQUE,
    principal text NOT NULL,
    secret_sha256 text NOT NULL,
    scopes text NOT NULL,
    accounts text NOT NULL DEFAULT '',
    expires_at timestamptz NOT NULL,
    issued_at timestamptz NOT NULL,
    revoked_at timestamptz,
    last_version bigint NOT NULL
);
-- Tables made before keys could be restricted to accounts (theirs were not).
ALTER TABLE api_keys{s} ADD COLUMN IF NOT EXISTS accounts text NOT NULL DEFAULT '';
"""

_POSITIONS = """
CREATE TABLE IF NOT EXISTS projection_positions (
    projection text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);
-- Records a projection could not use (projections.quarantine): kept, counted, shown
-- by health and verify until an operator sets acknowledged_at.
CREATE TABLE IF NOT EXISTS projection_quarantine (
    projection text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    reason text NOT NULL,
    value bytea,
    value_bytes integer NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz,
    PRIMARY KEY (projection, topic, partition, "offset")
);
"""

PROJECTION_DDL = {
    "balances": _BALANCES,
    "settlements": _SETTLEMENTS,
    "audit": _AUDIT,
    "principals": _PRINCIPALS,
}
PROJECTION_TABLES = {
    "balances": ("balances", "payments", "disputes", "dispute_timeline"),
    "settlements": (
        "settlement_batches",
        "settlement_items",
        "merchant_unsettled",
        "settlement_merchants",
    ),
    "audit": ("audit_log", "audit_staging", "audit_chain_head"),
    "principals": ("principals", "api_keys"),
}
PROJECTIONS = tuple(PROJECTION_DDL)
_INSTALL_LOCK = 7_241_503_001  # advisory lock key: concurrent installs take turns


READ_SIDE_TABLES = (
    "projection_positions",
    "projection_quarantine",
    *(table for tables in PROJECTION_TABLES.values() for table in tables),
)


def install(app_url: str, owner: str | None = None, readers: Sequence[str] = ()) -> None:
    """Create every projection table that is missing (safe to run again)."""
    with psycopg.connect(app_url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK,))
        if owner is not None:
            _hand_over(conn, owner)
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(owner)))
        else:
            act_as_owner(conn)
        conn.execute(_POSITIONS)
        for projection in PROJECTIONS:
            create_tables(conn, projection)
        for reader in readers:
            _grant_select(conn, reader)


def act_as_owner(conn: psycopg.Connection) -> None:
    """Inside a transaction: become the read side's owner when it is another role we
    belong to (an operator's replay must not leave tables the projector cannot use)."""
    row = conn.execute(
        "SELECT tableowner FROM pg_tables"
        " WHERE schemaname = current_schema() AND tablename = 'projection_positions'"
        " AND tableowner <> current_user AND pg_has_role(tableowner, 'MEMBER')"
    ).fetchone()
    if row is not None:
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(row[0])))


def _hand_over(conn: psycopg.Connection, owner: str) -> None:
    """Give `owner` the read-side tables this user owns (made before the roles split)."""
    mine = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        " AND tableowner = current_user AND tablename = ANY(%s)",
        ([*READ_SIDE_TABLES, *(table + NEW_SUFFIX for table in READ_SIDE_TABLES)],),
    ).fetchall()
    for (table,) in mine:
        conn.execute(
            sql.SQL("ALTER TABLE {} OWNER TO {}").format(
                sql.Identifier(table), sql.Identifier(owner)
            )
        )


def _grant_select(conn: psycopg.Connection, reader: str) -> None:
    role = sql.Identifier(reader)
    tables = sql.SQL(", ").join(map(sql.Identifier, READ_SIDE_TABLES))
    conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(tables, role))
    conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(tables, role))
    # The tables a replay creates under this owner: readable at once.
    conn.execute(
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
            sql.Identifier(_current_schema(conn)), role
        )
    )


def _current_schema(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT current_schema()").fetchone()
    assert row is not None and row[0], "no schema on the search path"
    return str(row[0])


def create_tables(conn: psycopg.Connection, projection: str, suffix: str = "") -> None:
    kinds = ", ".join(f"'{kind}'" for kind in ITEM_KINDS)
    ddl = PROJECTION_DDL[projection].format(
        s=suffix, item_kinds=kinds, item_kinds_quoted=kinds.replace("'", "''")
    )
    conn.execute(ddl.encode())


def drop_new_tables(conn: psycopg.Connection, projection: str) -> None:
    for table in PROJECTION_TABLES[projection]:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table + NEW_SUFFIX)))


def swap_in(conn: psycopg.Connection, projection: str) -> None:
    """Replace the projection's tables by their `__new` versions (inside a transaction)."""
    for table in PROJECTION_TABLES[projection]:
        new = table + NEW_SUFFIX
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(new), sql.Identifier(table)
            )
        )
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = %s AND indexname LIKE %s",
            (table, f"%{NEW_SUFFIX}%"),
        ).fetchall()
        for (index,) in indexes:
            conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier(index), sql.Identifier(index.replace(NEW_SUFFIX, ""))
                )
            )
