"""Reconciliation read from the audit log: the drift of each account's latest imported
statement and its exceptions, for the API's Prometheus metrics (docs/reconciliation.md).

The audit log holds every stored event, the operator's `BankStatement.*` and
`ReconciliationException.*` too, so the query role sees what `payments reconcile
report` sees, as of the log's position. Drift = (−posted at the end of the closing day,
UTC: the bank's money as the ledger sees it) − the statement's closing balance.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

_POSTED = """
SELECT coalesce(sum(CASE event_type WHEN 'Account.Credited' THEN 1 ELSE -1 END
                    * (payload->>'amount')::bigint), 0)
FROM audit_log
WHERE aggregate_id = %s
  AND event_type IN ('Account.Credited', 'Account.Debited', 'Account.HoldCaptured')
  AND recorded_at < (%s::date + 1)::timestamp AT TIME ZONE 'UTC'
"""

_LATEST = """
SELECT DISTINCT ON (payload->>'account_id')
    payload->>'account_id', payload->>'currency', (payload->>'closing')::bigint,
    (payload->>'closing_date')::date
FROM audit_log WHERE event_type = 'BankStatement.Imported'
ORDER BY payload->>'account_id', (payload->>'closing_date')::date DESC, position DESC
"""

_EXCEPTIONS = """
SELECT o.payload->>'account_id', o.payload->>'kind', count(*) AS opened,
       count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM audit_log r WHERE r.aggregate_id = o.aggregate_id
             AND r.event_type = 'ReconciliationException.Resolved')) AS still_open
FROM audit_log o WHERE o.event_type = 'ReconciliationException.Opened'
GROUP BY 1, 2 ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Drift:
    account_id: str
    currency: str
    statement_closing: int
    ledger_posted: int

    @property
    def drift(self) -> int:
        return -self.ledger_posted - self.statement_closing


@dataclass(frozen=True)
class ExceptionCount:
    account_id: str
    kind: str
    opened: int
    open: int


def drifts(conn: psycopg.Connection) -> list[Drift]:
    from payments.domain.ids import account_id_to_uuid

    found = []
    with conn.cursor() as cur:
        for account_id, currency, closing, day in cur.execute(_LATEST).fetchall():
            row = cur.execute(_POSTED, (account_id_to_uuid(account_id), day)).fetchone()
            found.append(Drift(account_id, currency, int(closing), int(row[0]) if row else 0))
    return found


def exception_counts(conn: psycopg.Connection) -> list[ExceptionCount]:
    rows = conn.execute(_EXCEPTIONS).fetchall()
    return [ExceptionCount(a, k, int(opened), int(still)) for a, k, opened, still in rows]
