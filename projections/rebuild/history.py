"""An account as it stood at a past time, from the event store (not the tables)."""

from __future__ import annotations

from datetime import datetime

from projections.balances.history import AccountHistory, Movement, history_of
from projections.rebuild.source import EventSource

__all__ = ["AccountHistory", "Movement", "account_history"]


def account_history(source: EventSource, account_id: str, as_of: datetime) -> AccountHistory | None:
    """None when the account did not exist (yet) at `as_of`."""
    return history_of(source.account_events(account_id), account_id, as_of)
