"""The local services' signing keys: what the demo, the bench, `payments send` and the
HTTP API sign with.

`payments services up` makes one Ed25519 key for the principal `local-operator`
(every role), writes its private key 0600 into the services state, and registers
the public key in the store (idempotent: a second `up` changes nothing). `payments
services env` points PAYMENTS_SIGNING_KEY_FILE and PAYMENTS_SIGNING_PRINCIPAL at it,
so the README's two commands sign with nothing to configure. A real deployment makes
its keys with `payments keys create` instead (docs/security.md).

The same `up` makes a second key, for `api-gateway`: the HTTP API's principal, with
the `gateway` role only, so it may sign commands on behalf of its callers (who must
hold the roles themselves) and nothing in its own name. `payments services env
--principal client` exports it as PAYMENTS_API_SIGNING_KEY_FILE/_PRINCIPAL.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payments.contract.signing import Signer
from payments.domain.roles import GATEWAY_ROLE, ROLES
from payments.ledger.identities import register_key
from payments.ledger.store import PaymentsApplication, application_env
from payments.tools.services.config import ServiceConfig
from payments.tools.services.secrets_file import write_private

LOCAL_PRINCIPAL = "local-operator"
GATEWAY_PRINCIPAL = "api-gateway"


def key_file(config: ServiceConfig, principal: str = LOCAL_PRINCIPAL) -> Path:
    return config.state_dir / "signing" / f"{principal}.pem"


def ensure_signer(config: ServiceConfig, principal: str = LOCAL_PRINCIPAL) -> Signer:
    """`principal`'s local key, made on first use (0600 from the first byte)."""
    path = key_file(config, principal)
    if not path.is_file():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        signer = Signer(Ed25519PrivateKey.generate(), principal)
        write_private(path, signer.private_pem().decode("ascii"))
    return Signer.from_pem(path.read_bytes(), principal)


def ensure_local_signer(config: ServiceConfig) -> Signer:
    return ensure_signer(config, LOCAL_PRINCIPAL)


def register_local_signer(config: ServiceConfig, database_url: str) -> str:
    """Register the local key in the store at `database_url`; its key id."""
    return register_signer(database_url, ensure_local_signer(config), "payments services up")


def register_gateway_signer(config: ServiceConfig, database_url: str) -> str:
    """Register the API's gateway key (the `gateway` role only); its key id."""
    signer = ensure_signer(config, GATEWAY_PRINCIPAL)
    return register_signer(database_url, signer, "payments services up", {GATEWAY_ROLE})


def register_signer(
    database_url: str, signer: Signer, actor: str, roles: set[str] | None = None
) -> str:
    """A tool playing the operator (the demo, the bench on a database of its own): the
    key it signs with, registered with `roles` (default every role; a no-op when it
    already is)."""
    app = PaymentsApplication(env=application_env(database_url, pool_size=1, snapshots=False))
    try:
        return register_key(
            app,
            principal=signer.principal,
            public_key=signer.public_key,
            actor=actor,
            roles=set(ROLES) if roles is None else roles,
        )
    finally:
        app.close()


def signing_vars(config: ServiceConfig) -> dict[str, str]:
    return {
        "PAYMENTS_SIGNING_KEY_FILE": str(key_file(config)),
        "PAYMENTS_SIGNING_PRINCIPAL": LOCAL_PRINCIPAL,
    }


def gateway_vars(config: ServiceConfig) -> dict[str, str]:
    """The API's gateway key, for the `client` principal that runs `payments api`."""
    return {
        "PAYMENTS_API_SIGNING_KEY_FILE": str(key_file(config, GATEWAY_PRINCIPAL)),
        "PAYMENTS_API_SIGNING_PRINCIPAL": GATEWAY_PRINCIPAL,
    }
