"""Every projection's rows held in memory, folded from the whole event stream.

Replay writes it out, verify compares it with the tables, history folds one
account. It runs the same pure rules the consumers run, so the two paths can only
disagree if a table was changed behind the projection's back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from projections.balances.fold import (
    ACCOUNT_EVENTS,
    PAYMENT_EVENTS,
    Row,
    fold_balances,
    fold_payments,
)
from projections.disputes.fold import DISPUTE_EVENTS, fold_disputes
from projections.events import Event
from projections.principals.fold import IDENTITY_EVENTS, fold_api_keys, fold_principals
from projections.settlements.fold import SettlementState

# The event types that change balances, payments, disputes, settlements, principals or
# API keys.
MODEL_EVENTS = frozenset(
    {
        *ACCOUNT_EVENTS,
        *PAYMENT_EVENTS,
        *DISPUTE_EVENTS,
        "SettlementBatch.Created",
        *IDENTITY_EVENTS,
    }
)


@dataclass
class ReadModel:
    balances: dict[str, Row] = field(default_factory=dict)
    payments: dict[str, Row] = field(default_factory=dict)
    disputes: dict[str, Row] = field(default_factory=dict)
    dispute_timeline: list[Row] = field(default_factory=list)
    settlements: SettlementState = field(default_factory=SettlementState)
    principals: dict[str, Row] = field(default_factory=dict)  # by aggregate id
    api_keys: dict[str, Row] = field(default_factory=dict)  # by aggregate id
    events: int = 0
    last_position: int = 0

    def apply(self, events: Sequence[Event]) -> None:
        fold_balances(self.balances, events)
        fold_payments(self.payments, events)
        self.dispute_timeline += fold_disputes(self.disputes, events)[1]
        self.settlements.apply(events)
        fold_principals(self.principals, events)
        fold_api_keys(self.api_keys, events)
        self.events += len(events)
        if events:
            self.last_position = max(self.last_position, events[-1]["position"])

    def posted_by_currency(self) -> dict[str, int]:
        """Σ posted per currency: 0 for each, since every posting has two legs."""
        totals: dict[str, int] = defaultdict(int)
        for row in self.balances.values():
            totals[row["currency"]] += row["posted"]
        return dict(totals)
