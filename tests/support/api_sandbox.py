"""A sandbox's read side and API, as the HTTP integration tests run them.

The projection consumers of every projection in threads of the test process (as
`payments consume all` runs them), API keys issued by the operator, and the
environment of a `payments api` process that signs as the sandbox's gateway.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from consumers.loop import ConsumerConfig, ProjectionConsumer
from payments.ledger.identities import issue_api_key
from payments.ledger.store import PaymentsApplication, application_env
from payments.runtime.settings import Settings
from payments.tools.services import principals
from projections.audit.apply import fill_audit_gaps
from projections.catalog import APPLIERS, FOLLOWS
from projections.schema import PROJECTIONS
from tests.support.kafka import auth as kafka_auth
from tests.support.sandbox import Sandbox
from tests.support.signing import signer_for


@contextmanager
def running_projections(box: Sandbox) -> Iterator[None]:
    """Every projection's consumer on the sandbox's events, until the block ends."""
    stop = threading.Event()
    loops = [
        ProjectionConsumer(
            ConsumerConfig(
                name,
                APPLIERS[name],
                box.url,
                box.bootstrap,
                box.topics.events,
                f"{box.prefix}-projection-{name}",
                kafka_auth=kafka_auth(),
                follows=FOLLOWS[name],  # as `payments consume` runs them
                fill=fill_audit_gaps if name == "audit" else None,
                fill_every=1.0,
            ),
            stop,
        )
        for name in PROJECTIONS
    ]
    threads = [threading.Thread(target=loop.run) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def issue_keys(box: Sandbox, holders: dict[str, str]) -> dict[str, str]:
    """An API key (valid an hour) for each principal, by the name given."""
    operator = PaymentsApplication(env=application_env(box.admin_url, pool_size=1))
    try:
        expires = datetime.now(UTC) + timedelta(hours=1)
        return {
            who: issue_api_key(operator, principal=p, expires_at=expires, actor="tests").token
            for who, p in holders.items()
        }
    finally:
        operator.close()


def gateway_api_env(
    settings: Settings, box: Sandbox, gateway: str, work: Path, **extra: str
) -> dict[str, str]:
    """A `payments api` process's environment on the sandbox, signing as `gateway`."""
    pem = work / "gateway.pem"
    pem.touch(mode=0o600)
    pem.write_bytes(signer_for(gateway).private_pem())
    return principals.role_env(settings, "client", box.url) | {
        "PAYMENTS_API_RATE_LIMIT": "100000/minute",
        "PAYMENTS_TOPIC_PREFIX": box.prefix,
        "PAYMENTS_API_SIGNING_KEY_FILE": str(pem),
        "PAYMENTS_API_SIGNING_PRINCIPAL": gateway,
        **extra,
    }


def box_sql(box: Sandbox, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(box.url, autocommit=True) as conn:
        return conn.execute(query.encode(), params).fetchall()
