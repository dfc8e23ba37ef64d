"""The webhook inbox: every delivery, every provider event, every publication.

Three tables, INSERT-only for the API's query role (payments/tools/schema.py):

- `webhook_deliveries`: one row per HTTP delivery, refused ones too: when, which
  provider (only a configured name, else `(unknown)`), the provider's event id and
  type once the signature held, whether it held and why not, the SHA-256 and size of
  the raw body, what was done (`status`) and the command id.
- `webhook_events`: one row per provider event (the first delivery that carried it):
  its type, status (`command`, `unknown`, `malformed`), command id, and `summary`, the
  body's non-personal fields (type, payment id, amount, reason). The raw body is not
  kept: providers put names, e-mail addresses and card details in it.
- `webhook_publications`: a command id once the broker acknowledged its command.
  Its absence is what makes a redelivery publish again (same command id: the engine
  decides it once), so a crash between the publish and this row loses nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

TABLES = ("webhook_deliveries", "webhook_events", "webhook_publications")

DDL = """
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id uuid PRIMARY KEY,
    received_at timestamptz NOT NULL,
    provider text NOT NULL,
    provider_event_id text,
    event_type text,
    signature_valid boolean NOT NULL,
    refusal text,
    body_sha256 text NOT NULL,
    body_bytes integer NOT NULL,
    status text NOT NULL,
    command_id text
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_event
    ON webhook_deliveries (provider, provider_event_id);
CREATE TABLE IF NOT EXISTS webhook_events (
    provider text NOT NULL,
    provider_event_id text NOT NULL,
    first_received_at timestamptz NOT NULL,
    event_type text NOT NULL,
    status text NOT NULL,
    command_id text,
    summary jsonb NOT NULL,
    PRIMARY KEY (provider, provider_event_id)
);
CREATE TABLE IF NOT EXISTS webhook_publications (
    command_id text PRIMARY KEY,
    provider text NOT NULL,
    provider_event_id text NOT NULL,
    published_at timestamptz NOT NULL
);
"""


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    received_at: datetime
    provider: str
    signature_valid: bool
    body_sha256: str
    body_bytes: int
    status: str
    provider_event_id: str | None = None
    event_type: str | None = None
    refusal: str | None = None
    command_id: str | None = None


def record_delivery(conn: psycopg.Connection, d: Delivery) -> None:
    conn.execute(
        "INSERT INTO webhook_deliveries (delivery_id, received_at, provider, provider_event_id,"
        " event_type, signature_valid, refusal, body_sha256, body_bytes, status, command_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (d.delivery_id, d.received_at, d.provider, d.provider_event_id, d.event_type,
         d.signature_valid, d.refusal, d.body_sha256, d.body_bytes, d.status, d.command_id),
    )  # fmt: skip


def record_event(
    conn: psycopg.Connection,
    provider: str,
    event_id: str,
    at: datetime,
    event_type: str,
    status: str,
    command_id: str | None,
    summary: dict[str, Any],
) -> bool:
    """True when this is the event's first delivery."""
    row = conn.execute(
        "INSERT INTO webhook_events (provider, provider_event_id, first_received_at, event_type,"
        " status, command_id, summary) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        (provider, event_id, at, event_type, status, command_id, json.dumps(summary)),
    ).fetchone()
    return row is not None


def was_published(conn: psycopg.Connection, command_id: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM webhook_publications WHERE command_id = %s", (command_id,)
    ).fetchone()
    return found is not None


def record_publication(
    conn: psycopg.Connection, command_id: str, provider: str, event_id: str, at: datetime
) -> None:
    conn.execute(
        "INSERT INTO webhook_publications (command_id, provider, provider_event_id, published_at)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (command_id, provider, event_id, at),
    )


def install(conn: psycopg.Connection, writer: str | None, readers: list[str]) -> None:
    """Inside a transaction, as the tables' owner: SELECT and INSERT for `writer`."""
    conn.execute(DDL)
    for name in TABLES:
        table = sql.Identifier(name)
        for role in filter(None, [writer, *readers]):
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(table, sql.Identifier(role)))
        if writer:
            conn.execute(
                sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(table, sql.Identifier(writer))
            )
        for role in readers:
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, sql.Identifier(role)))
