"""The broker's principals and their rights, created idempotently by the admin principal.

| principal   | may                                                             |
|-------------|-----------------------------------------------------------------|
| engine      | read commands (its group), write results, events, dead letters  |
| projections | read events (groups `<prefix>-projection-*`)                    |
| client      | write commands, read results (no group: it assigns partitions)  |
| admin       | super user: topics, ACLs, SCRAM users                           |

Rights are per topic prefix: a second prefix (a test, the bench) calls `ensure_acls`
for its own. Creating an ACL that exists already is a no-op for the broker.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
)
from kafka.admin._users import ScramMechanism, UserScramCredentialUpsertion

from payments.runtime.settings import Topics
from payments.tools.services import secrets_file
from payments.tools.services.errors import ServiceError

READ, WRITE, DESCRIBE = ACLOperation.READ, ACLOperation.WRITE, ACLOperation.DESCRIBE
LITERAL, PREFIXED = ACLResourcePatternType.LITERAL, ACLResourcePatternType.PREFIXED


def rights(prefix: str, engine_group: str) -> list[tuple[str, ACLOperation, ResourcePattern]]:
    """(principal, operation, resource) for one topic prefix: the table above."""
    topics = Topics(prefix)

    def topic(name: str) -> ResourcePattern:
        return ResourcePattern(ResourceType.TOPIC, name, LITERAL)

    def group(name: str, pattern: ACLResourcePatternType = LITERAL) -> ResourcePattern:
        return ResourcePattern(ResourceType.GROUP, name, pattern)

    return [
        ("engine", READ, topic(topics.commands)),
        ("engine", WRITE, topic(topics.command_results)),
        ("engine", WRITE, topic(topics.events)),
        ("engine", WRITE, topic(topics.commands_dlq)),
        ("engine", READ, group(engine_group)),
        # /health reads how far the projections are behind the events topic.
        ("engine", DESCRIBE, topic(topics.events)),
        ("projections", READ, topic(topics.events)),
        ("projections", READ, group(f"{prefix}-projection-", PREFIXED)),
        ("client", WRITE, topic(topics.commands)),
        ("client", READ, topic(topics.command_results)),
        # `payments read --wait` compares projections with the events' end offsets.
        ("client", DESCRIBE, topic(topics.events)),
    ]


def ensure_acls(bootstrap: str, admin_auth: dict[str, Any], prefix: str, engine_group: str) -> None:
    acls = [
        ACL(f"User:{who}", "*", operation, ACLPermissionType.ALLOW, resource)
        for who, operation, resource in rights(prefix, engine_group)
    ]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **admin_auth)
    try:
        result = admin.create_acls(acls)
    finally:
        admin.close()
    if result["failed"]:
        raise ServiceError(f"creating the broker's ACLs failed: {result['failed']}")


def ensure_users(bootstrap: str, admin_auth: dict[str, Any], passwords: dict[str, str]) -> None:
    """SCRAM users missing from the broker (a principal added since it was formatted)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **admin_auth)
    try:
        known = admin.describe_user_scram_credentials()
        missing = [
            UserScramCredentialUpsertion(
                name, ScramMechanism.SCRAM_SHA_512, passwords[secrets_file.kafka_key(name)]
            )
            for name in secrets_file.KAFKA_PRINCIPALS
            if not (known.get(name) or {}).get("credential_infos")
        ]
        if missing:
            errors = {u: e for u, e in admin.alter_user_scram_credentials(missing).items() if e}
            if errors:
                raise ServiceError(f"creating SCRAM users failed: {sorted(errors)}")
    finally:
        admin.close()
