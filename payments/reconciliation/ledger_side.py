"""The ledger's side of a reconciliation: an external account's postings and balance,
read from the audit log (the read model the API's statements use), in one snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import psycopg

from payments.domain.matching import LedgerPosting
from projections import queries
from projections.balances.history import history_of
from projections.events import Event

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


class NotAnExternalAccount(ValueError):
    code = "invalid_account"


@dataclass(frozen=True)
class LedgerAccount:
    account_id: str
    currency: str
    kind: str
    postings: tuple[LedgerPosting, ...]
    position: int  # the audit log's last position when read
    events: tuple[Event, ...]

    def posted_at_end_of(self, day: date) -> int:
        """The posted balance after every posting recorded up to the end of `day` (UTC)."""
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        before = [e for e in self.events if e["recorded_at"] < end]
        found = history_of(before, self.account_id, FAR_FUTURE)
        return int(found.balance["posted"]) if found is not None else 0


def read_account(conn: psycopg.Connection, account_id: str) -> LedgerAccount:
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        events = queries.account_events_from_audit(conn, account_id)
        position = queries.audit_position(conn)
    found = history_of(events, account_id, FAR_FUTURE)
    if found is None:
        raise NotAnExternalAccount(f"no account {account_id} in the ledger (audit log)")
    kind = str(found.balance.get("kind", ""))
    if kind != "external":
        raise NotAnExternalAccount(
            f"account {account_id} is a {kind} account: statements reconcile external ones"
        )
    postings = tuple(
        LedgerPosting(
            posting_id=m.posting_id,
            amount=-m.posted_change,
            day=m.recorded_at.astimezone(UTC).date(),
            reference=m.reference or "",
            reason=m.reason or "",
            position=m.position,
        )
        for m in found.movements
        if m.posted_change and m.posting_id
    )
    currency = str(found.balance["currency"])
    return LedgerAccount(account_id, currency, kind, postings, position, tuple(events))
