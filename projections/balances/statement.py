"""An account statement over the half-open period [start, end): pure, no I/O.

Opening balance (posted, just before `start`), every posting in the period with the
running balance after it, the total credits and debits, and the closing balance
(posted, just before `end`). Folded by `history_of` from the account's own events,
as the consumers fold them, so a statement agrees with history and balances; holds
are not postings (they move `held`, never `posted`) and are left out. Half-open, so
consecutive periods share no posting and one's closing is the next one's opening.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from projections.balances.history import Movement, history_of
from projections.events import Event


@dataclass
class Statement:
    account_id: str
    currency: str
    start: datetime
    end: datetime
    opening: int
    closing: int
    credits: int = 0
    debits: int = 0
    postings: list[Movement] = field(default_factory=list)


def statement_of(
    events: Iterable[Event], account_id: str, start: datetime, end: datetime
) -> Statement | None:
    """None when the account did not exist before `end`."""
    before_end = [event for event in events if event["recorded_at"] < end]
    found = history_of(before_end, account_id, end)
    if found is None:
        return None
    opening = 0
    postings: list[Movement] = []
    for movement in found.movements:
        if movement.posted_change == 0:
            continue  # a hold placed or released: not a posting
        if movement.recorded_at < start:
            opening = movement.posted_after
        else:
            postings.append(movement)
    statement = Statement(
        account_id=account_id,
        currency=found.balance["currency"],
        start=start,
        end=end,
        opening=opening,
        closing=postings[-1].posted_after if postings else opening,
        postings=postings,
    )
    statement.credits = sum(m.posted_change for m in postings if m.posted_change > 0)
    statement.debits = -sum(m.posted_change for m in postings if m.posted_change < 0)
    return statement
