"""Rows as dicts in and out of PostgreSQL, in bulk: one statement per batch, or COPY."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
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
    _insert(
        cur,
        table,
        columns,
        rows,
        sql.SQL("({}) DO UPDATE SET {}").format(sql.Identifier(key), updates),
    )


def insert_rows(
    cur: psycopg.Cursor, table: str, columns: Sequence[str], rows: Iterable[Row]
) -> None:
    """Insert rows, skipping any whose primary key is already there (re-deliveries)."""
    _insert(cur, table, columns, rows, sql.SQL("DO NOTHING"))


def _insert(
    cur: psycopg.Cursor,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Row],
    on_conflict: sql.Composable,
) -> None:
    # One statement per batch: the rows travel as one JSON array and PostgreSQL casts
    # each field to its column's type (jsonb_populate_recordset), far fewer round trips
    # than executemany.
    document = [{c: row.get(c) for c in columns} for row in rows]
    if not document:
        return
    query = sql.SQL(
        "INSERT INTO {table} ({columns}) SELECT {columns}"
        " FROM jsonb_populate_recordset(NULL::{table}, %s) ON CONFLICT {on_conflict}"
    ).format(table=sql.Identifier(table), columns=_columns(columns), on_conflict=on_conflict)
    cur.execute(query, (Jsonb(document, dumps=_dumps),))


def _dumps(value: Any) -> bytes | str:
    # orjson: a batch's rows are one JSON document, and the stdlib's encoder was ~6 % of
    # the consumers' CPU (py-spy, run 20261203062307-4fceba). PostgreSQL parses the text
    # into jsonb, so only the values matter, not the spelling. What orjson refuses (an
    # integer beyond 64 bits, a lone surrogate: hostile records) goes the stdlib's way,
    # so PostgreSQL refuses it with the same reason as before (quarantine).
    try:
        return orjson.dumps(value, default=_json_default)
    except orjson.JSONEncodeError:
        return _stdlib_dumps(value)


def _stdlib_dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot go into a projection row")


def copy_rows(cur: psycopg.Cursor, table: str, columns: Sequence[str], rows: Iterable[Row]) -> int:
    """COPY rows into a (fresh) table: replay's bulk path. Returns the count."""
    count = 0
    query = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), _columns(columns))
    with cur.copy(query) as copy:
        for row in rows:
            copy.write_row(row_values(row, columns))
            count += 1
    return count


def row_values(row: Row, columns: Sequence[str]) -> list[Any]:
    """The row's values in column order, dicts adapted as jsonb (through orjson, as above)."""
    return [
        Jsonb(v, dumps=_dumps) if isinstance(v, dict) else v for v in (row.get(c) for c in columns)
    ]
