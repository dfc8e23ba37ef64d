"""Scopes of the HTTP API: what a principal's roles let it read or do there.

A request needs one scope (`accounts:read`, …); an API key has the scopes its
principal's roles give now (so a role revoked is a scope lost at the next request),
narrowed to the key's own list when it was issued with one. The table is the
contract's (docs/api.md), like the role table of payments.domain.roles: `auditor`
reads everything and issues nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

SCOPES = (
    "accounts:read",
    "payments:read",
    "settlements:read",
    "statements:read",
    "audit:read",
    "commands:write",
    "disputes:read",
    "disputes:write",
    "compliance:review",
    "holders:read",
    "holders:write",
    "reconciliation:write",
)

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "operations": frozenset({"accounts:read", "commands:write"}),
    "payments": frozenset({"accounts:read", "payments:read", "commands:write"}),
    "wallet": frozenset({"accounts:read", "commands:write"}),
    "disputes": frozenset({"payments:read", "commands:write", "disputes:read", "disputes:write"}),
    "treasury": frozenset({"accounts:read", "settlements:read", "commands:write"}),
    "auditor": frozenset(
        {
            "accounts:read",
            "payments:read",
            "settlements:read",
            "statements:read",
            "audit:read",
            "disputes:read",
        }
    ),
    "risk": frozenset({"accounts:read", "commands:write"}),
    # holders:read opens personal data (payments.api.holders): compliance only.
    "compliance": frozenset(
        {"accounts:read", "commands:write", "compliance:review", "holders:read", "holders:write"}
    ),
    "screening": frozenset({"commands:write"}),
    # Imports bank statements (POST /statements/imports); the API writes them as the
    # reconciler database role, which may append nothing else.
    "reconciliation": frozenset({"reconciliation:write"}),
    # Publishes sweeps over Kafka (payments schedule tick); nothing over HTTP.
    "scheduler": frozenset(),
    # The API's own principal: it signs for others and reads nothing in its own name.
    "gateway": frozenset(),
}


def scopes_of(roles: Iterable[str]) -> frozenset[str]:
    """Every scope any of `roles` gives (unknown roles give none)."""
    return frozenset().union(*(ROLE_SCOPES.get(role, frozenset()) for role in roles))


def effective_scopes(roles: Iterable[str], key_scopes: str) -> frozenset[str]:
    """A key's scopes now: its principal's, narrowed to the key's list if it has one."""
    held = scopes_of(roles)
    return held & frozenset(key_scopes.split()) if key_scopes.strip() else held


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    return [scope for scope in scopes if scope not in SCOPES]
