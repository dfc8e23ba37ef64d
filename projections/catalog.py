"""The projections by name: the function that applies a batch of events, and the
aggregate types each follows (`projections.headers`; None: every record is decoded)."""

from __future__ import annotations

from projections.audit.apply import apply_audit
from projections.balances.apply import FOLLOWS as BALANCES_FOLLOW
from projections.balances.apply import apply_balances
from projections.principals.apply import FOLLOWS as PRINCIPALS_FOLLOW
from projections.principals.apply import apply_principals
from projections.settlements.apply import FOLLOWS as SETTLEMENTS_FOLLOW
from projections.settlements.apply import apply_settlements

APPLIERS = {
    "balances": apply_balances,  # balances and payments tables
    "settlements": apply_settlements,  # settlement_batches, settlement_items
    "audit": apply_audit,  # audit_log (hash chain)
    "principals": apply_principals,  # principals, api_keys (the HTTP API's authentication)
}

FOLLOWS: dict[str, frozenset[bytes] | None] = {
    "balances": BALANCES_FOLLOW,
    "settlements": SETTLEMENTS_FOLLOW,
    "audit": None,  # the hash chain holds every stored event
    "principals": PRINCIPALS_FOLLOW,
}
