"""The whole database schema, write side then read side: what `payments db init`,
`payments services up` and the bench install. Safe to run again.

Where the process roles exist (payments.contract.database_roles; `payments services
up` and compose create them), each gets its rights here: it may connect, the
projector owns the read side, the query and audit roles read it (docs/security.md,
"Database roles"); the reconciler reads the read side as the query role does.
Without them the app role holds everything, as before. The HTTP
API's request log is the one table the query role may write: INSERT only; and the
webhook inbox (payments/api/webhook_inbox.py): SELECT and INSERT, never UPDATE.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from payments.api import request_log, webhook_inbox
from payments.contract.database_roles import (
    AUDIT_ROLE,
    PROCESS_ROLES,
    PROJECTOR_ROLE,
    QUERY_ROLE,
    RECONCILER_ROLE,
)
from payments.ledger import schema as write_side
from projections import schema as read_side


def install_schema(admin_url: str, app_url: str) -> None:
    present = _database_rights(admin_url)
    write_side.install(admin_url, app_url)
    owner = PROJECTOR_ROLE if PROJECTOR_ROLE in present and _may_become(app_url) else None
    # The reconciler reads what the API's query role reads (the audit log, for matching).
    readers = [role for role in (QUERY_ROLE, AUDIT_ROLE, RECONCILER_ROLE) if role in present]
    read_side.install(app_url, owner=owner, readers=readers if owner else ())
    with psycopg.connect(app_url) as conn, conn.transaction():
        if owner is not None:  # the projector owns it, like every read-side table
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(owner)))
        writer = QUERY_ROLE if owner and QUERY_ROLE in present else None
        audit = [AUDIT_ROLE] if owner and AUDIT_ROLE in present else []
        request_log.install(conn, writer, audit)
        webhook_inbox.install(conn, writer, audit)


def _database_rights(admin_url: str) -> set[str]:
    """As the database's owner: the process roles that exist may connect; the projector
    may create its tables. Returns those roles."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        present = {
            name
            for (name,) in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(PROCESS_ROLES),)
            )
        }
        (schema,) = conn.execute("SELECT current_schema()").fetchone() or ("public",)
        for role in sorted(present):
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(conn.info.dbname), sql.Identifier(role)
                )
            )
            rights = "USAGE, CREATE" if role == PROJECTOR_ROLE else "USAGE"
            conn.execute(
                sql.SQL("GRANT " + rights + " ON SCHEMA {} TO {}").format(
                    sql.Identifier(schema), sql.Identifier(role)
                )
            )
        return present


def _may_become(app_url: str) -> bool:
    with psycopg.connect(app_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_has_role(%s, 'MEMBER')", (PROJECTOR_ROLE,)).fetchone()
        return bool(row and row[0])
