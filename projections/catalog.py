"""The projections by name, each with the function that applies a batch of events."""

from __future__ import annotations

from projections.audit.apply import apply_audit
from projections.balances.apply import apply_balances
from projections.principals.apply import apply_principals
from projections.settlements.apply import apply_settlements

APPLIERS = {
    "balances": apply_balances,  # balances and payments tables
    "settlements": apply_settlements,  # settlement_batches, settlement_items
    "audit": apply_audit,  # audit_log (hash chain)
    "principals": apply_principals,  # principals, api_keys (the HTTP API's authentication)
}
