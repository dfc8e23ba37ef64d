"""An account as it stood at a past time, folded from its own events: pure, no I/O.

Folds the account's events recorded up to `as_of` with the balance rules the
consumers use, and lists every movement of posted or held money on the way. `payments
history` feeds it from the event store (projections.rebuild.history); the HTTP API
from the audit log, which its query role may read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projections.balances.fold import fold_balances
from projections.events import Event

_POSTED_SIGN = {"Account.Debited": -1, "Account.Credited": 1, "Account.HoldCaptured": -1}
_HELD_SIGN = {"Account.HoldPlaced": 1, "Account.HoldReleased": -1, "Account.HoldCaptured": -1}


@dataclass
class Movement:
    position: int
    recorded_at: datetime
    event_type: str
    posted_change: int
    held_change: int
    posted_after: int
    held_after: int
    posting_id: str | None
    counterparty: str | None
    reason: str | None
    reference: str | None


@dataclass
class AccountHistory:
    account_id: str
    as_of: datetime
    balance: dict[str, Any]
    movements: list[Movement] = field(default_factory=list)


def history_of(events: Iterable[Event], account_id: str, as_of: datetime) -> AccountHistory | None:
    """None when the account did not exist (yet) at `as_of`; `events` are the account's
    own, in version order (the store's, or the audit log's)."""
    rows: dict[str, dict[str, Any]] = {}
    movements: list[Movement] = []
    for event in events:
        if event["recorded_at"] > as_of:
            break
        fold_balances(rows, [event])
        row = rows.get(account_id)
        kind = event["event_type"]
        if row is None or (kind not in _POSTED_SIGN and kind not in _HELD_SIGN):
            continue
        payload = event["payload"]
        movements.append(
            Movement(
                position=event["position"],
                recorded_at=event["recorded_at"],
                event_type=kind,
                posted_change=_POSTED_SIGN.get(kind, 0) * payload["amount"],
                held_change=_HELD_SIGN.get(kind, 0) * payload["amount"],
                posted_after=row["posted"],
                held_after=row["held"],
                posting_id=payload.get("posting_id"),
                counterparty=payload.get("counterparty"),
                reason=payload.get("reason")
                or ("capture" if kind == "Account.HoldCaptured" else None),
                reference=payload.get("reference") or payload.get("payment_id"),
            )
        )
    balance = rows.get(account_id)
    if balance is None:
        return None
    return AccountHistory(account_id, as_of, balance, movements)
