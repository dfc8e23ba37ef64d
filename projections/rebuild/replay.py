"""Rebuild projections from the event store and swap them in without losing a beat.

1. Read the end offsets of the events topic (before anything else).
2. Read the store's last position P, fold every event up to P in memory (the audit
   chain is streamed into its table with COPY as pages arrive).
3. COPY the rows into fresh `<table>__new` tables.
4. One transaction: set each rebuilt projection's positions to the offsets of step 1
   and rename the new tables over the old ones.

Why the offsets of step 1 are right: an event stored after P was committed after
step 2 began, so the relay published it after step 1, at or beyond those offsets;
nothing after P is skipped. Events up to P that the consumers read again from there
(late relays, re-sends) are skipped by each row's `last_version` and by the audit
chain's head. A consumer running during the swap notices that its stored positions
changed (it locks them in every batch), rolls back and seeks to the new ones. The
swap locks positions before tables, in the consumers' order, so neither deadlocks.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import psycopg
import structlog
from psycopg import sql

from projections.audit.chain import AUDIT_COLUMNS, GENESIS_HASH
from projections.balances.fold import BALANCE_COLUMNS, PAYMENT_COLUMNS
from projections.disputes.fold import DISPUTE_COLUMNS, TIMELINE_COLUMNS
from projections.positions import replace_positions
from projections.principals.fold import API_KEY_COLUMNS, PRINCIPAL_COLUMNS
from projections.rebuild.parallel import COPY_LINES
from projections.rebuild.read_model import MODEL_EVENTS, ReadModel
from projections.rebuild.source import EventSource, decoded_pages
from projections.schema import NEW_SUFFIX, act_as_owner, create_tables, drop_new_tables, swap_in
from projections.settlements.fold import (
    BATCH_COLUMNS,
    ITEM_COLUMNS,
    MERCHANT_COLUMNS,
    UNSETTLED_COLUMNS,
)
from projections.sqlrows import copy_rows

log = structlog.get_logger(__name__)
Progress = Callable[[int, int], None]  # (position reached, last position)


@dataclass(frozen=True)
class ReplayResult:
    projections: tuple[str, ...]
    events: int
    last_position: int
    next_offsets: dict[int, int]
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def replay(
    database_url: str,
    source: EventSource,
    topic: str,
    projections: Sequence[str],
    read_end_offsets: Callable[[], Mapping[int, int]],
    progress: Progress | None = None,
) -> ReplayResult:
    started = time.monotonic()
    next_offsets = dict(read_end_offsets())  # first: see the module docstring
    rows_before = source.rows_read
    stop = source.max_position()
    model = ReadModel()
    with psycopg.connect(database_url, autocommit=True) as conn:
        with conn.transaction():
            act_as_owner(conn)  # new tables belong to the read side's owner, with its grants
            for projection in projections:
                drop_new_tables(conn, projection)
                create_tables(conn, projection, NEW_SUFFIX)
        with conn.transaction(), conn.cursor() as cur:
            head_position, head_hash = _fold_all(cur, source, stop, model, projections, progress)
            _write_model(cur, model, projections, head_position, head_hash)
        with conn.transaction(), conn.cursor() as cur:
            act_as_owner(conn)
            for projection in projections:
                replace_positions(cur, projection, topic, next_offsets)
            for projection in projections:
                swap_in(conn, projection)
    result = ReplayResult(
        tuple(projections),
        source.rows_read - rows_before,
        stop,
        next_offsets,
        time.monotonic() - started,
    )
    log.info(
        "replay.done",
        projections=list(projections),
        events=result.events,
        last_position=stop,
        seconds=round(result.seconds, 2),
        events_per_second=round(result.events_per_second),
    )
    return result


def _fold_all(
    cur: psycopg.Cursor,
    source: EventSource,
    stop: int,
    model: ReadModel,
    projections: Sequence[str],
    progress: Progress | None,
) -> tuple[int, str]:
    head_position, head_hash = 0, GENESIS_HASH
    if "audit" not in projections:
        # Without the audit log, most events (command records, transfers) need no work.
        for page in decoded_pages(source, 0, stop, keep=MODEL_EVENTS):
            model.apply(page.events)
            if progress and page.positions:
                progress(page.positions[-1], stop)
        return head_position, head_hash
    copy_audit = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(f"audit_log{NEW_SUFFIX}"),
        sql.SQL(", ").join(map(sql.Identifier, AUDIT_COLUMNS)),
    )
    prev = head_hash.encode()
    with cur.copy(copy_audit) as copy:
        for page in decoded_pages(source, 0, stop, keep=MODEL_EVENTS, audit=COPY_LINES):
            model.apply(page.events)  # the other events change no row of the model
            assert page.canonical is not None and page.copy_lines is not None
            # The chain as audit.chain.chain links it, sha256(prev_hash || canonical JSON);
            # the workers spelt each row's content columns, the hashes end each line.
            lines = []
            for canonical, line in zip(page.canonical, page.copy_lines, strict=True):
                digest = hashlib.sha256(prev + canonical).hexdigest().encode()
                lines.append(line + prev + b"\t" + digest + b"\n")
                prev = digest
            copy.write(b"".join(lines))
            if page.positions:
                head_position = page.positions[-1]
                if progress:
                    progress(head_position, stop)
    return head_position, prev.decode()


def _write_model(
    cur: psycopg.Cursor,
    model: ReadModel,
    projections: Sequence[str],
    head_position: int,
    head_hash: str,
) -> None:
    s = NEW_SUFFIX
    if "balances" in projections:
        copy_rows(cur, f"balances{s}", BALANCE_COLUMNS, model.balances.values())
        copy_rows(cur, f"payments{s}", PAYMENT_COLUMNS, model.payments.values())
        copy_rows(cur, f"disputes{s}", DISPUTE_COLUMNS, model.disputes.values())
        copy_rows(cur, f"dispute_timeline{s}", TIMELINE_COLUMNS, model.dispute_timeline)
    if "settlements" in projections:
        state = model.settlements
        copy_rows(cur, f"settlement_batches{s}", BATCH_COLUMNS, state.batches.values())
        copy_rows(cur, f"settlement_items{s}", ITEM_COLUMNS, state.items)
        copy_rows(cur, f"merchant_unsettled{s}", UNSETTLED_COLUMNS, state.unsettled_rows())
        copy_rows(cur, f"settlement_merchants{s}", MERCHANT_COLUMNS, state.merchants.values())
    if "principals" in projections:
        copy_rows(cur, f"principals{s}", PRINCIPAL_COLUMNS, model.principals.values())
        copy_rows(cur, f"api_keys{s}", API_KEY_COLUMNS, model.api_keys.values())
    if "audit" in projections:
        cur.execute(
            f"UPDATE audit_chain_head{s} SET position = %s, hash = %s WHERE id = 1",
            (head_position, head_hash),
        )
