"""Verify the projections against the event store, and the audit log's hash chain.

Recomputes every balance, payment and settlement batch (with its items) from the
store with the consumers' own rules and compares them column by column with the
tables; checks that posted sums to 0 per currency, that each batch's totals equal
its items and follow the contract's fee and net rules; and walks the audit log:
every row's hash recomputed, every link to the previous row, every row equal to the
stored event at its position, no stored event missing up to the chain's head.
Run it when the consumers have caught up: a lagging projection shows up as
differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from payments.domain.money import fee_half_up
from projections.audit.chain import (
    AUDIT_COLUMNS,
    CONTENT_COLUMNS,
    GENESIS_HASH,
    audit_content,
)
from projections.balances.fold import BALANCE_COLUMNS, PAYMENT_COLUMNS
from projections.disputes.fold import DISPUTE_COLUMNS, TIMELINE_COLUMNS
from projections.events import Event, parse_time
from projections.principals.fold import API_KEY_COLUMNS, PRINCIPAL_COLUMNS
from projections.quarantine import open_rows
from projections.rebuild.audit_rows import AUDIT_SELECT, AuditRows, CheckedRow, audit_cursor
from projections.rebuild.audit_rows import check as check_row
from projections.rebuild.limits import LimitCheck
from projections.rebuild.parallel import CANONICAL, DecodedPage
from projections.rebuild.read_model import MODEL_EVENTS, ReadModel
from projections.rebuild.source import EventSource, decoded_pages
from projections.settlements.fold import (
    BATCH_COLUMNS,
    ITEM_COLUMNS,
    ITEM_KINDS,
    UNSETTLED_COLUMNS,
)
from projections.sqlrows import Row, select_all


@dataclass(frozen=True)
class Difference:
    table: str
    key: str
    column: str
    expected: Any
    actual: Any


@dataclass
class VerifyReport:
    events: int = 0
    last_position: int = 0
    audit_rows: int = 0
    posted_by_currency: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def add(self, table: str, key: object, column: str, expected: Any, actual: Any) -> None:
        self.differences.append(Difference(table, str(key), column, expected, actual))


def verify(database_url: str, source: EventSource) -> VerifyReport:
    report = VerifyReport()
    stop = source.max_position()
    model = ReadModel()
    limits = LimitCheck()
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        # One snapshot for every table read, so they agree with each other.
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        audit = AuditWalk(cur, report, stop)
        # The workers read the audit rows in this same snapshot (rebuild/audit_rows.py).
        (snapshot,) = cur.execute("SELECT pg_export_snapshot()").fetchone() or ("",)
        audit_rows = AuditRows(database_url, snapshot, stop)
        events = 0
        # Decoded in worker processes; only the events the folds read come back as dicts.
        pages = decoded_pages(source, 0, stop, MODEL_EVENTS, CANONICAL, audit_rows)
        for page in pages:
            model.apply(page.events)
            limits.apply(page.events)  # Account events, all in MODEL_EVENTS
            audit.check_page(page)
            events += len(page.positions)
        audit.finish()
        for breach in limits.breaches:  # no account overdrawn by choice (rebuild/limits.py)
            report.add("events", f"{breach.position}:{breach.account_id}", breach.rule,
                       breach.expected, breach.actual)  # fmt: skip
        report.events, report.last_position = events, stop
        _compare_tables(cur, model, report)
        # A quarantined record is a difference until an operator acknowledges it.
        for projection, topic, partition, offset, reason in open_rows(cur):
            report.add(
                "projection_quarantine", f"{projection}:{topic}:{partition}:{offset}",
                "(record)", "applied or acknowledged", reason,
            )  # fmt: skip
    return report


def _compare_tables(cur: psycopg.Cursor, model: ReadModel, report: VerifyReport) -> None:
    compare_rows(
        report,
        "balances",
        BALANCE_COLUMNS,
        "account_id",
        model.balances,
        select_all(cur, "balances", BALANCE_COLUMNS, "account_id"),
    )
    compare_rows(
        report,
        "payments",
        PAYMENT_COLUMNS,
        "payment_id",
        model.payments,
        select_all(cur, "payments", PAYMENT_COLUMNS, "payment_id"),
    )
    compare_rows(
        report,
        "disputes",
        DISPUTE_COLUMNS,
        "dispute_id",
        model.disputes,
        select_all(cur, "disputes", DISPUTE_COLUMNS, "dispute_id"),
    )
    compare_rows(
        report,
        "dispute_timeline",
        TIMELINE_COLUMNS,
        "position",
        {row["position"]: row for row in model.dispute_timeline},
        select_all(cur, "dispute_timeline", TIMELINE_COLUMNS, "position"),
    )
    state = model.settlements
    compare_rows(
        report,
        "settlement_batches",
        BATCH_COLUMNS,
        "batch_id",
        state.batches,
        select_all(cur, "settlement_batches", BATCH_COLUMNS, "batch_id"),
    )
    items = select_all(cur, "settlement_items", ITEM_COLUMNS, "position")
    compare_rows(
        report,
        "settlement_items",
        ITEM_COLUMNS,
        "position",
        {i["position"]: i for i in state.items},
        items,
    )
    compare_rows(
        report,
        "merchant_unsettled",
        UNSETTLED_COLUMNS,
        "position",
        {i["position"]: i for i in state.unsettled_rows()},
        select_all(cur, "merchant_unsettled", UNSETTLED_COLUMNS, "position"),
    )
    # Keyed by name and prefix: the tables' aggregate ids come back as UUIDs.
    compare_rows(
        report,
        "principals",
        PRINCIPAL_COLUMNS,
        "principal",
        {row["principal"]: row for row in model.principals.values()},
        select_all(cur, "principals", PRINCIPAL_COLUMNS, "principal"),
    )
    compare_rows(
        report,
        "api_keys",
        API_KEY_COLUMNS,
        "prefix",
        {row["prefix"]: row for row in model.api_keys.values()},
        select_all(cur, "api_keys", API_KEY_COLUMNS, "prefix"),
    )
    report.posted_by_currency = model.posted_by_currency()
    for currency, total in sorted(report.posted_by_currency.items()):
        if total != 0:
            report.add("events", currency, "Σ posted", 0, total)
    for (currency,), total in _table_posted(cur):
        if total != 0:
            report.add("balances", currency, "Σ posted", 0, total)
    _check_batch_totals(report, state.batches, items)
    for row in select_all(cur, "balances", BALANCE_COLUMNS, "account_id"):
        if row["available"] != row["posted"] - row["held"]:
            report.add(
                "balances",
                row["account_id"],
                "available",
                row["posted"] - row["held"],
                row["available"],
            )


def _table_posted(cur: psycopg.Cursor) -> list[tuple[tuple[str], int]]:
    cur.execute("SELECT currency, sum(posted) FROM balances GROUP BY currency ORDER BY currency")
    return [((currency,), int(total)) for currency, total in cur.fetchall()]


def compare_rows(
    report: VerifyReport,
    table: str,
    columns: Sequence[str],
    key: str,
    expected: dict[Any, Row],
    actual_rows: list[Row],
) -> None:
    actual = {row[key]: row for row in actual_rows}
    for k, want in expected.items():
        got = actual.get(k)
        if got is None:
            report.add(table, k, "(row)", "present", "missing")
            continue
        for column in columns:
            if normalize(want.get(column)) != normalize(got.get(column)):
                report.add(table, k, column, want.get(column), got.get(column))
    for k in actual.keys() - expected.keys():
        report.add(table, k, "(row)", "absent", "present")


def _check_batch_totals(report: VerifyReport, batches: dict[str, Row], items: list[Row]) -> None:
    sums: dict[str, dict[str, int]] = {}
    for item in items:
        per_kind = sums.setdefault(item["batch_id"], dict.fromkeys(ITEM_KINDS, 0))
        per_kind[item["kind"]] += item["amount"]
        per_kind["count"] = per_kind.get("count", 0) + 1
    for per_kind in sums.values():
        per_kind["disputes"] = per_kind["dispute"] + per_kind["dispute_fee"]
        per_kind["reinstatements"] = (
            per_kind["dispute_reinstatement"] + per_kind["dispute_fee_refund"]
        )
    for batch_id, batch in batches.items():
        got = sums.get(batch_id, {})
        fees = fee_half_up(batch["gross"], batch["fee_bps"])
        net = (
            batch["gross"] - batch["refunds"] - batch["chargebacks"] - batch["disputes"]
            + batch["reinstatements"] - fees
        )  # fmt: skip
        # A deficit is carried out only as far as the batch did not cover it.
        most = max(0, batch["deficit_carried_in"] - net)
        deficit = min(max(batch["deficit_carried_out"], 0), most)
        rules = (("fees", fees), ("net", net), ("deficit_carried_out", deficit))
        for column, want in rules:  # the contract's arithmetic
            if batch[column] != want:
                report.add("settlement_batches", batch_id, f"{column} (rule)", want, batch[column])
        for column, kind in (
            ("gross", "capture"),
            ("refunds", "refund"),
            ("chargebacks", "chargeback"),
            ("disputes", "disputes"),
            ("reinstatements", "reinstatements"),
            ("item_count", "count"),
        ):
            if batch[column] != got.get(kind, 0):
                report.add(
                    "settlement_items", batch_id, f"Σ {kind}", batch[column], got.get(kind, 0)
                )


def normalize(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return value


class AuditWalk:
    """Walks audit_log in position order alongside the stored events, page by page.

    A page's audit rows are those the worker that decoded it read and hashed
    (`page.checked`, projections.rebuild.audit_rows), or else rows this walk reads
    itself in the same snapshot: those after the last one walked, up to the page's
    last event.
    """

    def __init__(self, cur: psycopg.Cursor, report: VerifyReport, stop: int) -> None:
        # Its own cursor in the same snapshot: binary, jsonb through orjson (json's values).
        self.cur = audit_cursor(cur.connection)
        self.report = report
        self.stop = stop  # rows after the last stored event read are not judged
        self.walked = 0  # the position up to which the rows have been walked
        self.prev_hash = GENESIS_HASH
        head = cur.execute("SELECT position, hash FROM audit_chain_head WHERE id = 1").fetchone()
        self.head_position, self.head_hash = head if head else (0, GENESIS_HASH)

    def _rows(self, after: int, upto: int) -> list[CheckedRow]:
        self.cur.execute(
            f"SELECT {AUDIT_SELECT} FROM audit_log"
            " WHERE position > %s AND position <= %s ORDER BY position",
            (after, upto),
        )
        return [check_row(r) for r in self.cur.fetchall()]

    def check_page(self, page: DecodedPage) -> None:
        """Each row is compared with its stored event's canonical JSON first, column by
        column (as before) only when the two differ, so the differences found are the
        same; equal canonical JSON means equal values."""
        if page.checked is not None:
            rows = page.checked
        elif page.positions:
            rows = self._rows(self.walked, page.positions[-1])
        else:
            return
        found = iter(rows)
        row = next(found, None)
        for index, position in enumerate(page.positions):
            while row is not None and row.position < position:
                self._absent(self._take(row))
                row = next(found, None)
            if row is not None and row.position == position:
                self._against_event(page, index, self._take(row))
                row = next(found, None)
            elif position <= self.head_position:
                self.report.add("audit_log", position, "(row)", "present", "missing")
        while row is not None:  # rows of the range at positions with no stored event
            self._absent(self._take(row))
            row = next(found, None)
        ends = [self.walked, *page.positions[-1:], *(r.position for r in rows[-1:])]
        self.walked = max(ends)

    def finish(self) -> None:
        # Rows after the last one walked (an empty store, rows beyond the last event).
        for row in self._rows(self.walked, self.stop):
            self._absent(self._take(row))
        if self.head_position <= self.stop and self.prev_hash != self.head_hash:
            self.report.add("audit_chain_head", 1, "hash", self.prev_hash, self.head_hash)

    def _absent(self, row: CheckedRow) -> None:
        self.report.add("audit_log", row.position, "(row)", "absent", "present")

    def _against_event(self, page: DecodedPage, index: int, row: CheckedRow) -> None:
        if row.same is None:  # not compared by its reader
            assert page.canonical is not None and row.canonical is not None
            same = row.canonical == page.canonical[index]
        else:
            same = row.same
        if not same:
            self._compare(page.event_at(index), self._read_row(row.position))

    def _take(self, row: CheckedRow) -> CheckedRow:
        """Count the row and check its hash and its link to the row before it."""
        self.report.audit_rows += 1
        if row.prev_hash != self.prev_hash:
            self.report.add("audit_log", row.position, "prev_hash", self.prev_hash, row.prev_hash)
        if row.hash != row.digest:
            self.report.add("audit_log", row.position, "hash", row.digest, row.hash)
        self.prev_hash = row.hash
        return row

    def _read_row(self, position: int) -> Row:
        """One audit row with every column (a row that differs from its event: rare)."""
        self.cur.execute(f"SELECT {AUDIT_SELECT} FROM audit_log WHERE position = %s", (position,))
        found = self.cur.fetchone()
        assert found is not None, position  # read in this snapshot a moment ago
        return dict(zip(AUDIT_COLUMNS, found, strict=True))

    def _compare(self, event: Event, row: Row) -> None:
        want, row = audit_content(event), _typed(row)
        for column in CONTENT_COLUMNS:
            if normalize(want[column]) != normalize(row[column]):
                self.report.add("audit_log", row["position"], column, want[column], row[column])


def _typed(row: Row) -> Row:
    """An audit row as psycopg types it (the uuids were read as text)."""
    return {
        **row,
        "event_id": UUID(row["event_id"]),
        "aggregate_id": UUID(row["aggregate_id"]),
        "recorded_at": parse_time(row["recorded_at"]),
    }
