"""The operator's actions on principals, roles, signing keys and API keys, as events.

`payments keys` and `payments roles` call these with direct access to the event
store: that access is the root of trust (docs/security.md), as a database superuser
is for its roles. Each action is one `app.record` (the writer lock and the version
checks of every other write), so it is atomic and a racing engine batch that read
the same key or principal conflicts and is decided again with the new state.
Re-running an action that is already in effect changes nothing.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from payments.contract.api_keys import new_api_key
from payments.contract.signing import key_id_of
from payments.domain.commands import IDENTIFIER_PATTERN, IDENTIFIER_RULE
from payments.domain.identity import (
    PRINCIPAL_RULE,
    ApiKey,
    Principal,
    SigningKey,
    is_principal_name,
    roles_text,
)
from payments.domain.ids import api_key_to_uuid, key_id_to_uuid, principal_to_uuid
from payments.domain.roles import unknown_roles
from payments.domain.scopes import unknown_scopes
from payments.ledger.store import PaymentsApplication


class IdentityError(ValueError):
    """An operator action that cannot be done as asked (named in words)."""


@dataclass(frozen=True)
class KeyView:
    key_id: str
    principal: str
    revoked: bool
    roles: tuple[str, ...]


def _action_id(action: str, subject: str, version: int) -> str:
    """Deterministic, like every id here: the subject's next version makes it unique."""
    return f"operator:{action}:{subject}:v{version}"


def _get(app: PaymentsApplication, aggregate_id: UUID) -> object | None:
    return app.load_many([aggregate_id]).get(aggregate_id)


def _checked_roles(roles: set[str]) -> set[str]:
    unknown = unknown_roles(sorted(roles))
    if unknown:
        raise IdentityError(f"unknown role(s): {', '.join(unknown)} (see `payments roles table`)")
    return roles


def register_key(
    app: PaymentsApplication,
    *,
    principal: str,
    public_key: bytes,
    actor: str,
    roles: set[str] | None = None,
) -> str:
    """Register `public_key` for `principal` (created, with `roles`, if new); its key id."""
    if not is_principal_name(principal):
        raise IdentityError(f"principal {principal[:140]!r}: {PRINCIPAL_RULE}")
    if len(public_key) != 32:
        raise IdentityError("an Ed25519 public key is 32 bytes")
    key_id = key_id_of(public_key)
    events = []
    existing = _get(app, principal_to_uuid(principal))
    if existing is None:
        created = Principal.create(
            principal=principal,
            roles=_checked_roles(set(roles or ())),
            command_id=_action_id("principal", principal, 1),
            actor=actor,
        )
        events += created.collect_events()
    elif roles:
        assert isinstance(existing, Principal)
        missing = _checked_roles(set(roles)) - existing.roles
        if missing:
            action = _action_id("grant", principal, existing.version + 1)
            existing.grant(roles=roles_text(missing), command_id=action, actor=actor)
            events += existing.collect_events()
    key = _get(app, key_id_to_uuid(key_id))
    if key is None:
        registered = SigningKey.register(
            key_id=key_id,
            principal=principal,
            public_key=base64.b64encode(public_key).decode("ascii"),
            command_id=_action_id("key", key_id, 1),
            actor=actor,
        )
        events += registered.collect_events()
    else:
        assert isinstance(key, SigningKey)
        if key.principal != principal:
            raise IdentityError(f"key {key_id} already belongs to {key.principal}")
        if key.revoked:
            raise IdentityError(f"key {key_id} is revoked; make a new key")
    if events:
        app.record(events)
    return key_id


def revoke_key(app: PaymentsApplication, *, key_id: str, reason: str, actor: str) -> bool:
    """Revoke a key for good; False when it was already revoked."""
    key = _get(app, key_id_to_uuid(key_id))
    if key is None:
        raise IdentityError(f"no key {key_id}")
    assert isinstance(key, SigningKey)
    if key.revoked:
        return False
    action = _action_id("revoke", key_id, key.version + 1)
    key.revoke(reason=reason, command_id=action, actor=actor)
    app.record(key.collect_events())
    return True


def change_roles(
    app: PaymentsApplication, *, principal: str, grant: set[str], revoke: set[str], actor: str
) -> frozenset[str]:
    """Grant and revoke roles of an existing principal; its roles afterwards."""
    found = _get(app, principal_to_uuid(principal))
    if found is None:
        raise IdentityError(f"no principal {principal} (a key made for it creates it)")
    assert isinstance(found, Principal)
    adding = _checked_roles(set(grant)) - found.roles
    removing = _checked_roles(set(revoke)) & found.roles
    if adding:
        action = _action_id("grant", principal, found.version + 1)
        found.grant(roles=roles_text(adding), command_id=action, actor=actor)
    if removing:
        action = _action_id("revoke", principal, found.version + 1)
        found.revoke(roles=roles_text(removing), command_id=action, actor=actor)
    events = found.collect_events()
    if events:
        app.record(events)
    return found.roles


def registered_keys(app: PaymentsApplication, database_url: str) -> list[KeyView]:
    """Every key ever registered, with its principal's current roles (a full scan: an
    operator's listing, not a hot path)."""
    import psycopg

    from payments.contract.tables import EVENTS_TABLE

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT originator_id FROM {EVENTS_TABLE} WHERE topic LIKE %s"
            " ORDER BY notification_id",
            ("%:SigningKey.Registered",),
        ).fetchall()
    keys = app.load_many([UUID(str(row[0])) for row in rows])
    found = [k for k in keys.values() if isinstance(k, SigningKey)]
    owners = app.load_many(list({principal_to_uuid(k.principal) for k in found}))
    views = []
    for key in found:
        owner = owners.get(principal_to_uuid(key.principal))
        roles = tuple(sorted(owner.roles)) if isinstance(owner, Principal) else ()
        views.append(KeyView(key.key_id, key.principal, key.revoked, roles))
    return views


def principal_roles(app: PaymentsApplication, principal: str) -> frozenset[str] | None:
    found = _get(app, principal_to_uuid(principal))
    return found.roles if isinstance(found, Principal) else None


@dataclass(frozen=True)
class IssuedApiKey:
    prefix: str
    token: str  # the whole key: for the operator's eyes once, stored nowhere
    principal: str
    expires_at: datetime
    scopes: tuple[str, ...]  # () = every scope the principal's roles give
    accounts: tuple[str, ...] = ()  # () = any account


def issue_api_key(
    app: PaymentsApplication,
    *,
    principal: str,
    expires_at: datetime,
    actor: str,
    scopes: set[str] | None = None,
    accounts: set[str] | None = None,
) -> IssuedApiKey:
    """A new API key for an existing principal; only the hash of its secret is stored.

    `accounts` restricts it to those accounts (they need not be open yet)."""
    if _get(app, principal_to_uuid(principal)) is None:
        raise IdentityError(f"no principal {principal} (`payments keys create` makes one)")
    unknown = unknown_scopes(sorted(scopes or ()))
    if unknown:
        raise IdentityError(f"unknown scope(s): {', '.join(unknown)} (see docs/api.md)")
    if expires_at.tzinfo is None or expires_at <= datetime.now(UTC):
        raise IdentityError("an API key must expire in the future (a time with a zone)")
    own = tuple(sorted(accounts or ()))
    bad = [a for a in own if re.fullmatch(IDENTIFIER_PATTERN, a) is None]
    if bad:
        raise IdentityError(f"not an account id: {', '.join(bad)} ({IDENTIFIER_RULE})")
    made = new_api_key()
    issued = ApiKey.issue(
        key_prefix=made.prefix,
        principal=principal,
        secret_sha256=made.secret_sha256,
        expires_at=expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        scopes=" ".join(sorted(scopes or ())),
        command_id=_action_id("api_key", made.prefix, 1),
        actor=actor,
        accounts=" ".join(own),
    )
    app.record(issued.collect_events())
    chosen = tuple(sorted(scopes or ()))
    return IssuedApiKey(made.prefix, made.token, principal, expires_at, chosen, own)


def revoke_api_key(app: PaymentsApplication, *, prefix: str, reason: str, actor: str) -> bool:
    """Revoke an API key for good; False when it was already revoked."""
    key = _get(app, api_key_to_uuid(prefix))
    if not isinstance(key, ApiKey):
        raise IdentityError(f"no API key {prefix}")
    if key.revoked:
        return False
    key.revoke(reason=reason, command_id=_action_id("api_revoke", prefix, key.version + 1),
               actor=actor)  # fmt: skip
    app.record(key.collect_events())
    return True
