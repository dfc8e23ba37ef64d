"""The request log: one row per HTTP call in `api_requests`, and one log line.

Who called (principal and key prefix, never the key), what (method and the route's
template, e.g. `/accounts/{account_id}`: no ids, no query, no body, which may hold
personal data), when, the status and the duration, and a request id the client
also gets (`X-Request-Id`, and in every problem). The API's query role may INSERT
here and nothing else (payments/tools/schema.py): it can add to the log, not rewrite it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

REQUESTS_TABLE = "api_requests"

DDL = """
CREATE TABLE IF NOT EXISTS api_requests (
    request_id uuid PRIMARY KEY,
    at timestamptz NOT NULL,
    principal text,
    key_prefix text,
    method text NOT NULL,
    route text NOT NULL,
    status integer NOT NULL,
    duration_ms double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS api_requests_at ON api_requests (at);
"""


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    at: datetime
    principal: str | None
    key_prefix: str | None
    method: str
    route: str
    status: int
    duration_ms: float


def insert(conn: psycopg.Connection, record: RequestRecord) -> None:
    conn.execute(
        "INSERT INTO api_requests (request_id, at, principal, key_prefix, method, route,"
        " status, duration_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (record.request_id, record.at, record.principal, record.key_prefix, record.method,
         record.route, record.status, record.duration_ms),
    )  # fmt: skip


def install(conn: psycopg.Connection, writer: str | None, readers: list[str]) -> None:
    """Inside a transaction, as the table's owner: the table, INSERT for `writer`."""
    conn.execute(DDL)
    table = sql.Identifier(REQUESTS_TABLE)
    for role in filter(None, [writer, *readers]):
        conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(table, sql.Identifier(role)))
    if writer:
        conn.execute(sql.SQL("GRANT INSERT ON {} TO {}").format(table, sql.Identifier(writer)))
    for role in readers:
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, sql.Identifier(role)))
