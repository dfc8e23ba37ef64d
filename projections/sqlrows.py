"""Rows as dicts in and out of PostgreSQL, in bulk (executemany, COPY)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

Row = dict[str, Any]


def _columns(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, columns))


def select_rows(
    cur: psycopg.Cursor,
    table: str,
    columns: Sequence[str],
    key: str,
    keys: Collection[Any],
    *,
    lock: bool = False,
) -> dict[Any, Row]:
    """Rows whose `key` is in `keys`, by key; `lock` takes them FOR UPDATE."""
    if not keys:
        return {}
    query = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s)").format(
        _columns(columns), sql.Identifier(table), sql.Identifier(key)
    )
    if lock:
        # A stable lock order keeps two consumers of one table from deadlocking.
        query += sql.SQL(" ORDER BY {} FOR UPDATE").format(sql.Identifier(key))
    cur.execute(query, (list(keys),))
    return {row[0]: dict(zip(columns, row, strict=True)) for row in cur.fetchall()}


def select_all(cur: psycopg.Cursor, table: str, columns: Sequence[str], order: str) -> list[Row]:
    cur.execute(
        sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            _columns(columns), sql.Identifier(table), sql.Identifier(order)
        )
    )
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def upsert_rows(
    cur: psycopg.Cursor,
    table: str,
    columns: Sequence[str],
    key: str,
    rows: Iterable[Row],
) -> None:
    """Insert rows, replacing every column of an existing row with the same key."""
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns if c != key
    )
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}").format(
        sql.Identifier(table),
        _columns(columns),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        sql.Identifier(key),
        updates,
    )
    cur.executemany(query, [_values(row, columns) for row in rows])


def insert_rows(
    cur: psycopg.Cursor, table: str, columns: Sequence[str], rows: Iterable[Row]
) -> None:
    """Insert rows, skipping any whose primary key is already there (re-deliveries)."""
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        sql.Identifier(table),
        _columns(columns),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    cur.executemany(query, [_values(row, columns) for row in rows])


def copy_rows(cur: psycopg.Cursor, table: str, columns: Sequence[str], rows: Iterable[Row]) -> int:
    """COPY rows into a (fresh) table: replay's bulk path. Returns the count."""
    count = 0
    query = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), _columns(columns))
    with cur.copy(query) as copy:
        for row in rows:
            copy.write_row(_values(row, columns))
            count += 1
    return count


def _values(row: Row, columns: Sequence[str]) -> list[Any]:
    return [Jsonb(v) if isinstance(v, dict) else v for v in (row.get(c) for c in columns)]
