"""Read queries on the projection tables (what `payments balance|payment|settlement` show)."""

from __future__ import annotations

from typing import Any

import psycopg

from projections.audit.chain import AUDIT_COLUMNS
from projections.balances.fold import BALANCE_COLUMNS, PAYMENT_COLUMNS
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
