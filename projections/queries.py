"""Read queries on the projection tables (what `payments balance|payment|settlement` show)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from projections.audit.chain import AUDIT_COLUMNS
from projections.balances.fold import BALANCE_COLUMNS, PAYMENT_COLUMNS
from projections.disputes.fold import DISPUTE_COLUMNS, TIMELINE_COLUMNS
from projections.settlements.fold import BATCH_COLUMNS, ITEM_COLUMNS
from projections.sqlrows import select_rows

Row = dict[str, Any]


def get_balance(conn: psycopg.Connection, account_id: str) -> Row | None:
    with conn.cursor() as cur:
        return select_rows(cur, "balances", BALANCE_COLUMNS, "account_id", [account_id]).get(
            account_id
        )


def get_payment(conn: psycopg.Connection, payment_id: str) -> Row | None:
    with conn.cursor() as cur:
        return select_rows(cur, "payments", PAYMENT_COLUMNS, "payment_id", [payment_id]).get(
            payment_id
        )


def get_settlement(conn: psycopg.Connection, batch_id: str) -> Row | None:
    """The batch with its items (`items`, in event order), or None."""
    with conn.cursor() as cur:
        batch = select_rows(cur, "settlement_batches", BATCH_COLUMNS, "batch_id", [batch_id]).get(
            batch_id
        )
        if batch is None:
            return None
        cur.execute(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM settlement_items"
            " WHERE batch_id = %s ORDER BY position",
            (batch_id,),
        )
        batch["items"] = [dict(zip(ITEM_COLUMNS, r, strict=True)) for r in cur.fetchall()]
        return batch


def last_audit_entries(conn: psycopg.Connection, limit: int = 20) -> list[Row]:
    """The newest audit rows, oldest first."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log ORDER BY position DESC LIMIT %s",
            (limit,),
        )
        rows = [dict(zip(AUDIT_COLUMNS, r, strict=True)) for r in cur.fetchall()]
    return rows[::-1]


def get_api_key(conn: psycopg.Connection, prefix: str) -> Row | None:
    """The API key `prefix` with its principal's roles now ('' when it has none left);
    `principal_known` is false while the principal's own row is not projected yet (the
    key and its principal are different aggregates, on different partitions)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT k.prefix, k.principal, k.secret_sha256, k.scopes, k.accounts, k.expires_at,"
            " k.revoked_at, coalesce(p.roles, ''), p.principal IS NOT NULL FROM api_keys k"
            " LEFT JOIN principals p ON p.principal = k.principal WHERE k.prefix = %s",
            (prefix,),
        )
        row = cur.fetchone()
    names = ("prefix", "principal", "secret_sha256", "scopes", "accounts", "expires_at",
             "revoked_at", "roles", "principal_known")  # fmt: skip
    return dict(zip(names, row, strict=True)) if row else None


def get_settlement_page(
    conn: psycopg.Connection, batch_id: str, items_after: int, items_limit: int
) -> Row | None:
    """The batch with at most `items_limit` of its items after position `items_after`."""
    with conn.cursor() as cur:
        batch = select_rows(cur, "settlement_batches", BATCH_COLUMNS, "batch_id", [batch_id]).get(
            batch_id
        )
        if batch is None:
            return None
        cur.execute(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM settlement_items"
            " WHERE batch_id = %s AND position > %s ORDER BY position LIMIT %s",
            (batch_id, items_after, items_limit),
        )
        batch["items"] = [dict(zip(ITEM_COLUMNS, r, strict=True)) for r in cur.fetchall()]
        return batch


def audit_after(conn: psycopg.Connection, after: int, limit: int) -> list[Row]:
    """Audit rows with position > `after`, oldest first: cursor pagination."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log WHERE position > %s"
            " ORDER BY position LIMIT %s",
            (after, limit),
        )
        return [dict(zip(AUDIT_COLUMNS, r, strict=True)) for r in cur.fetchall()]


def account_events_from_audit(conn: psycopg.Connection, account_id: str) -> list[Row]:
    """One account's events as the audit log holds them (the query role's view of
    history: it may not read the event store), in version order."""
    from payments.domain.ids import account_id_to_uuid

    with conn.cursor() as cur:
        cur.execute(
            "SELECT position, event_type, aggregate_type, aggregate_id::text, aggregate_version,"
            " recorded_at, payload FROM audit_log WHERE aggregate_id = %s"
            " ORDER BY aggregate_version",
            (account_id_to_uuid(account_id),),
        )
        names = ("position", "event_type", "aggregate_type", "aggregate_id",
                 "aggregate_version", "recorded_at", "payload")  # fmt: skip
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def screening_events(conn: psycopg.Connection, screening_id: str) -> list[Row]:
    """One screening's steps as the audit log holds them, in version order."""
    from payments.domain.screening import screening_id_to_uuid

    return _aggregate_steps(conn, screening_id_to_uuid(screening_id))


def _aggregate_steps(conn: psycopg.Connection, aggregate_id: UUID) -> list[Row]:
    """One aggregate's events from the audit log: type, actor, time, payload; in order."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT event_type, actor, recorded_at, payload FROM audit_log"
            " WHERE aggregate_id = %s ORDER BY aggregate_version",
            (aggregate_id,),
        )
        names = ("event_type", "actor", "recorded_at", "payload")
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


SCREENING_STATUS = {
    "Screening.Requested": "pending",
    "Screening.Flagged": "flagged",
    "Screening.Escalated": "escalated",
    "Screening.Cleared": "cleared",
    "Screening.Confirmed": "confirmed",
}
SCREENING_COLUMNS = (
    "screening_id", "holder_id", "account_ids", "subject_ref", "status", "requested_at",
    "updated_at",
)  # fmt: skip


def list_screenings(
    conn: psycopg.Connection,
    *,
    status: str | None,
    holder_id: str | None,
    after: str | None,
    limit: int,
) -> list[Row]:
    """Screenings in screening_id order after `after`, narrowed to a status (that of
    their last step in the audit log) and a holder when given."""
    where, params = ["r.event_type = 'Screening.Requested'"], []
    if holder_id is not None:
        where.append("r.payload->>'holder_id' = %s")
        params.append(holder_id)
    if after is not None:
        where.append("r.payload->>'screening_id' > %s")
        params.append(after)
    if status is not None:
        steps = [event for event, name in SCREENING_STATUS.items() if name == status]
        where.append("last.event_type = ANY(%s)")
        params.append(steps)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT r.payload->>'screening_id', r.payload->>'holder_id',"
            " r.payload->>'account_ids', r.payload->>'subject_ref', last.event_type,"
            " r.recorded_at, last.recorded_at"
            " FROM audit_log r CROSS JOIN LATERAL ("
            "   SELECT event_type, recorded_at FROM audit_log s"
            "   WHERE s.aggregate_id = r.aggregate_id ORDER BY s.aggregate_version DESC LIMIT 1"
            f" ) last WHERE {' AND '.join(where)}"
            " ORDER BY r.payload->>'screening_id' LIMIT %s",
            (*params, limit),
        )
        rows = [dict(zip(SCREENING_COLUMNS, r, strict=True)) for r in cur.fetchall()]
    for row in rows:
        row["account_ids"] = row["account_ids"].split()
        row["status"] = SCREENING_STATUS[row["status"]]
    return rows


def holder_events(conn: psycopg.Connection, holder_id: str) -> list[Row]:
    """One holder's events as the audit log holds them (sealed data only), in order."""
    from payments.domain.holder import holder_id_to_uuid

    return _aggregate_steps(conn, holder_id_to_uuid(holder_id))


def wrapped_holder_key(conn: psycopg.Connection, holder_id: str) -> bytes | None:
    """The holder's wrapped data key (`holder_keys`), or None: erased (or not yet made)."""
    from payments.contract.tables import HOLDER_KEYS_TABLE

    with conn.cursor() as cur:
        cur.execute(
            f"SELECT wrapped_key FROM {HOLDER_KEYS_TABLE} WHERE holder_id = %s", (holder_id,)
        )
        row = cur.fetchone()
        return None if row is None else bytes(row[0])


def command_decision(conn: psycopg.Connection, command_id: str, actor: str) -> Row | None:
    """The engine's stored decision of `actor`'s command `command_id` (its
    CommandRecord.Decided in the audit log), or None: not decided, not yet
    projected, or another principal's."""
    from payments.domain.ids import command_id_to_uuid

    with conn.cursor() as cur:
        cur.execute(
            "SELECT recorded_at, payload FROM audit_log WHERE aggregate_id = %s"
            " AND event_type = 'CommandRecord.Decided' AND actor = %s",
            (command_id_to_uuid(command_id), actor),
        )
        row = cur.fetchone()
    if row is None:
        return None
    recorded_at, payload = row
    return {
        "command_id": command_id,
        "type": payload.get("command_type"),
        "status": payload["status"],
        "code": payload.get("code"),
        "message": payload.get("message", ""),
        "replayed": False,
        "processed_at": recorded_at,
        "via": payload.get("via"),
    }


def audit_position(conn: psycopg.Connection) -> int:
    """The audit log's last position (0 when empty): what a read of it has seen."""
    row = conn.execute("SELECT coalesce(max(position), 0) FROM audit_log").fetchone()
    return int(row[0]) if row else 0


def list_disputes(
    conn: psycopg.Connection,
    *,
    status: str | None,
    due_before: Any,
    merchant_accounts: list[str] | None,
    after: tuple[Any, str] | None,
    limit: int,
) -> list[Row]:
    """Disputes in (evidence_due_by, dispute_id) order after the keyset `after`,
    narrowed to a status, a due date (exclusive) and merchants when given."""
    where, params = ["TRUE"], []
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if due_before is not None:
        where.append("evidence_due_by < %s")
        params.append(due_before)
    if merchant_accounts is not None:
        where.append("merchant_account = ANY(%s)")
        params.append(merchant_accounts)
    if after is not None:
        where.append("(evidence_due_by, dispute_id) > (%s, %s)")
        params.extend(after)
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(DISPUTE_COLUMNS)} FROM disputes WHERE {' AND '.join(where)}"
            " ORDER BY evidence_due_by, dispute_id LIMIT %s",
            (*params, limit),
        )
        return [dict(zip(DISPUTE_COLUMNS, r, strict=True)) for r in cur.fetchall()]


def get_dispute(conn: psycopg.Connection, dispute_id: str, *, timeline: bool) -> Row | None:
    """The dispute, with its `timeline` (oldest first) when asked, or None."""
    with conn.cursor() as cur:
        dispute = select_rows(cur, "disputes", DISPUTE_COLUMNS, "dispute_id", [dispute_id]).get(
            dispute_id
        )
        if dispute is None or not timeline:
            return dispute
        cur.execute(
            f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM dispute_timeline"
            " WHERE dispute_id = %s ORDER BY position",
            (dispute_id,),
        )
        dispute["timeline"] = [dict(zip(TIMELINE_COLUMNS, r, strict=True)) for r in cur.fetchall()]
        return dispute
