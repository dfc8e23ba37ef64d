"""Prometheus metrics of the reconciliation, read from the audit log at each scrape.

`payments_reconciliation_drift{account,currency}`: ledger balance − statement closing
of the account's latest imported statement, in minor units (docs/reconciliation.md);
`payments_reconciliation_exceptions_open{account}` and the counter
`payments_reconciliation_exceptions_opened_total{account,kind}`. Labels are accounts
the operator reconciles, a handful: no client chooses them. A database that does not
answer leaves the families out of that scrape (logged), never fails /metrics.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from projections.reconciliation import drifts, exception_counts

log = structlog.get_logger("payments.api")


class ReconciliationCollector(Collector):
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def describe(self) -> list[Metric]:
        return []  # no scrape at registration: the pool is not open yet

    def collect(self) -> Iterator[Metric]:
        try:
            with self.pool.connection(timeout=2) as conn:
                found, counts = drifts(conn), exception_counts(conn)
        except psycopg.Error as error:  # a pool's timeout (PoolTimeout) is one too
            log.warning("api.reconciliation_metrics_unavailable", error=type(error).__name__)
            return
        drift = GaugeMetricFamily(
            "payments_reconciliation_drift",
            "Ledger balance minus the closing balance of the latest imported statement,"
            " in minor units.",
            labels=["account", "currency"],
        )
        for item in found:
            drift.add_metric([item.account_id, item.currency], item.drift)
        still_open = GaugeMetricFamily(
            "payments_reconciliation_exceptions_open",
            "Reconciliation exceptions not resolved yet.",
            labels=["account"],
        )
        by_account: dict[str, int] = {}
        for count in counts:
            by_account[count.account_id] = by_account.get(count.account_id, 0) + count.open
        for account_id, number in sorted(by_account.items()):
            still_open.add_metric([account_id], number)
        opened = CounterMetricFamily(
            "payments_reconciliation_exceptions_opened",
            "Reconciliation exceptions opened by imports, by kind.",
            labels=["account", "kind"],
        )
        for count in counts:
            opened.add_metric([count.account_id, count.kind], count.opened)
        yield from (drift, still_open, opened)
