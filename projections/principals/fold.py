"""Principals and API keys folded from the operator's identity events: pure, no I/O.

The HTTP API authenticates from these rows, with the query role that never sees the
event store: a key's principal, the hash of its secret, its expiry and revocation,
the accounts it is restricted to ('' for any), and the principal's roles now (its
scopes derive from them at each request). Rows are
dicts keyed by the aggregate id as text (`Principal.RolesGranted` and
`ApiKey.Revoked` name nothing else), each with the `last_version` applied, so a
re-sent event is skipped like in every other projection.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from projections.events import Event

Row = dict[str, Any]

PRINCIPAL_COLUMNS = ("aggregate_id", "principal", "roles", "updated_at", "last_version")
API_KEY_COLUMNS = (
    "aggregate_id",
    "prefix",
    "principal",
    "secret_sha256",
    "scopes",
    "accounts",
    "expires_at",
    "issued_at",
    "revoked_at",
    "last_version",
)
PRINCIPAL_EVENTS = frozenset(
    {"Principal.Created", "Principal.RolesGranted", "Principal.RolesRevoked"}
)
API_KEY_EVENTS = frozenset({"ApiKey.Issued", "ApiKey.Revoked"})
IDENTITY_EVENTS = PRINCIPAL_EVENTS | API_KEY_EVENTS


def roles_text(roles: Iterable[str]) -> str:
    return " ".join(sorted(set(roles)))


def fold_principals(rows: dict[str, Row], events: Iterable[Event]) -> set[str]:
    """Apply Principal events to `rows` in place; return the aggregate ids changed."""
    changed: set[str] = set()
    for event in events:
        kind = event["event_type"]
        if kind not in PRINCIPAL_EVENTS:
            continue
        key, payload = event["aggregate_id"], event["payload"]
        row = rows.get(key)
        if not _is_next(row, event):
            continue
        if kind == "Principal.Created":
            row = rows[key] = {"aggregate_id": key, "principal": payload["principal"]}
            row["roles"] = roles_text(payload["roles"].split())
        elif row is None:
            continue  # its creation never arrived: the store fills it (projections.gaps)
        elif kind == "Principal.RolesGranted":
            row["roles"] = roles_text([*row["roles"].split(), *payload["roles"].split()])
        else:
            row["roles"] = roles_text(set(row["roles"].split()) - set(payload["roles"].split()))
        row["updated_at"] = event["recorded_at"]
        row["last_version"] = event["aggregate_version"]
        changed.add(key)
    return changed


def fold_api_keys(rows: dict[str, Row], events: Iterable[Event]) -> set[str]:
    """Apply ApiKey events to `rows` in place; return the aggregate ids changed."""
    changed: set[str] = set()
    for event in events:
        kind = event["event_type"]
        if kind not in API_KEY_EVENTS:
            continue
        key, payload = event["aggregate_id"], event["payload"]
        row = rows.get(key)
        if not _is_next(row, event):
            continue
        if kind == "ApiKey.Issued":
            row = rows[key] = {
                "aggregate_id": key,
                "prefix": payload["key_prefix"],
                "principal": payload["principal"],
                "secret_sha256": payload["secret_sha256"],
                "scopes": payload["scopes"],
                "accounts": payload.get("accounts", ""),  # older keys: any account
                "expires_at": datetime.fromisoformat(payload["expires_at"]),
                "issued_at": event["recorded_at"],
                "revoked_at": None,
            }
        elif row is None:
            continue
        else:  # ApiKey.Revoked
            row["revoked_at"] = event["recorded_at"]
        row["last_version"] = event["aggregate_version"]
        changed.add(key)
    return changed


def _is_next(row: Row | None, event: Event) -> bool:
    """False for a re-send of what the row already holds."""
    return event["aggregate_version"] > (row["last_version"] if row is not None else 0)
