"""Who may issue commands: principals with roles, the Ed25519 keys they sign with, and
the API keys they read (and later write) over HTTP with.

All are aggregates in the event store, so who granted or revoked what, and when,
is in the audit log like every posting. They are written by the operator's
`payments keys` and `payments roles` (direct access to the store is the root of
trust, docs/security.md), and read by the engine, which checks every command's key
and roles in the same transaction as its decision: a revocation committed before a
batch is seen by it, or the batch conflicts and is decided again.

Only public keys are stored, and of an API key only the SHA-256 of its secret (the
secret is 256 random bits, so a fast hash is as good as a slow one: there is nothing
to guess). Roles and scopes travel as one space-separated string.
"""

from __future__ import annotations

import re

from eventsourcing.domain import Aggregate, event

from payments.domain.ids import api_key_to_uuid, key_id_to_uuid, principal_to_uuid

# A principal is named like an e-mail address or a service: it is every event's actor.
PRINCIPAL_PATTERN = r"^[A-Za-z0-9@._:+-]{1,128}$"
PRINCIPAL_RULE = "must be 1-128 characters of A-Z a-z 0-9 @ . _ : + -"


def is_principal_name(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(PRINCIPAL_PATTERN, value) is not None


def roles_text(roles: set[str] | frozenset[str]) -> str:
    return " ".join(sorted(roles))


class Principal(Aggregate):
    class Created(Aggregate.Created):
        command_id: str
        actor: str
        principal: str
        roles: str

    def __init__(self, command_id: str, actor: str, principal: str, roles: str) -> None:
        self.principal = principal
        self.roles: frozenset[str] = frozenset(roles.split())

    @classmethod
    def create(cls, *, principal: str, roles: set[str], command_id: str, actor: str) -> Principal:
        return cls._create(
            cls.Created,
            id=principal_to_uuid(principal),
            command_id=command_id,
            actor=actor,
            principal=principal,
            roles=roles_text(set(roles)),
        )

    @event("RolesGranted")
    def grant(self, *, roles: str, command_id: str, actor: str) -> None:
        self.roles = self.roles | frozenset(roles.split())

    @event("RolesRevoked")
    def revoke(self, *, roles: str, command_id: str, actor: str) -> None:
        self.roles = self.roles - frozenset(roles.split())


class SigningKey(Aggregate):
    class Registered(Aggregate.Created):
        command_id: str
        actor: str
        key_id: str
        principal: str
        algorithm: str
        public_key: str  # standard base64 of the 32 raw bytes

    def __init__(
        self,
        command_id: str,
        actor: str,
        key_id: str,
        principal: str,
        algorithm: str,
        public_key: str,
    ) -> None:
        self.key_id = key_id
        self.principal = principal
        self.algorithm = algorithm
        self.public_key = public_key
        self.revoked = False
        self.revoked_reason = ""

    @classmethod
    def register(
        cls, *, key_id: str, principal: str, public_key: str, command_id: str, actor: str
    ) -> SigningKey:
        return cls._create(
            cls.Registered,
            id=key_id_to_uuid(key_id),
            command_id=command_id,
            actor=actor,
            key_id=key_id,
            principal=principal,
            algorithm="ed25519",
            public_key=public_key,
        )

    @event("Revoked")
    def revoke(self, *, reason: str, command_id: str, actor: str) -> None:
        self.revoked = True
        self.revoked_reason = reason


class ApiKey(Aggregate):
    """A bearer key of the HTTP API, bound to a principal; its scopes come from the
    principal's roles at each request (payments.domain.scopes), narrowed by `scopes`;
    `accounts`, when not empty, restricts it to those accounts (payments.api.restriction)."""

    class Issued(Aggregate.Created):
        command_id: str
        actor: str
        key_prefix: str
        principal: str
        secret_sha256: str  # hex SHA-256 of the secret part: the key itself is never stored
        expires_at: str  # ISO-8601 UTC: refused from then on
        scopes: str  # space-separated; "" = every scope the principal's roles give
        accounts: str = ""  # space-separated; "" = any account (older events lack it)

    def __init__(
        self,
        command_id: str,
        actor: str,
        key_prefix: str,
        principal: str,
        secret_sha256: str,
        expires_at: str,
        scopes: str,
        accounts: str = "",
    ) -> None:
        self.key_prefix = key_prefix
        self.principal = principal
        self.secret_sha256 = secret_sha256
        self.expires_at = expires_at
        self.scopes = scopes
        self.accounts = accounts
        self.revoked = False

    @classmethod
    def issue(
        cls,
        *,
        key_prefix: str,
        principal: str,
        secret_sha256: str,
        expires_at: str,
        scopes: str,
        command_id: str,
        actor: str,
        accounts: str = "",
    ) -> ApiKey:
        return cls._create(
            cls.Issued,
            id=api_key_to_uuid(key_prefix),
            command_id=command_id,
            actor=actor,
            key_prefix=key_prefix,
            principal=principal,
            secret_sha256=secret_sha256,
            expires_at=expires_at,
            scopes=scopes,
            accounts=accounts,
        )

    @event("Revoked")
    def revoke(self, *, reason: str, command_id: str, actor: str) -> None:
        self.revoked = True
