"""The local services' webhook provider `demo`: its secret and its principal.

`payments services up` makes a Standard Webhooks secret (`whsec_` + base64 of 24
random bytes) in the services state, 0600, like the other local credentials, and
creates the principal `provider-demo` with the roles its commands need (`payments`
for captures and refunds, `disputes` for chargebacks). `payments services env
--principal client` (the API's) exports PAYMENTS_WEBHOOK_PROVIDERS naming it, so
`make demo` and the tests receive signed webhooks with nothing to configure. A real
deployment sets PAYMENTS_WEBHOOK_PROVIDERS itself and creates the principal with
`payments reconcile provider NAME` (docs/reconciliation.md).
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

from payments.domain.identity import Principal
from payments.domain.ids import principal_to_uuid
from payments.ledger.store import PaymentsApplication, application_env
from payments.tools.services.config import ServiceConfig
from payments.tools.services.secrets_file import write_private

DEMO_PROVIDER = "demo"
PROVIDER_ROLES = frozenset({"payments", "disputes"})


def secret_file(config: ServiceConfig, provider: str = DEMO_PROVIDER) -> Path:
    return config.state_dir / "webhooks" / f"{provider}.secret"


def ensure_secret(config: ServiceConfig, provider: str = DEMO_PROVIDER) -> str:
    path = secret_file(config, provider)
    if not path.is_file():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    return path.read_text().strip()


def provider_principal(provider: str) -> str:
    return f"provider-{provider}"  # as payments.api.webhooks names it


def ensure_provider_principal(
    database_url: str, provider: str, actor: str, roles: frozenset[str] = PROVIDER_ROLES
) -> bool:
    """Create `provider-<name>` with `roles` if it does not exist; True when created."""
    principal = provider_principal(provider)
    app = PaymentsApplication(env=application_env(database_url, pool_size=1, snapshots=False))
    try:
        if app.load_many([principal_to_uuid(principal)]):
            return False
        created = Principal.create(
            principal=principal,
            roles=set(roles),
            command_id=f"operator:principal:{principal}:v1",
            actor=actor,
        )
        app.record(created.collect_events())
        return True
    finally:
        app.close()


def webhook_vars(config: ServiceConfig) -> dict[str, str]:
    providers = {DEMO_PROVIDER: {"scheme": "standard", "secrets": [ensure_secret(config)]}}
    return {"PAYMENTS_WEBHOOK_PROVIDERS": json.dumps(providers)}
