"""The demo's HTTP API: run it as the client, give a demo principal a key, call it.

The API runs as `payments api` with the query role and the `client` Kafka principal,
signing commands with the local `api-gateway` key (the gateway role only), which the
demo registers in the database it plays on, as it does its own key. `demo@payments`
gets roles to read everything and to open accounts, and an API key valid for an
hour; the demo prints real calls and their real answers. The key's secret is printed
only with --keep-running (someone will use it); otherwise it is elided.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payments.contract.signing import Signer
from payments.domain.roles import GATEWAY_ROLE
from payments.ledger.identities import issue_api_key, register_key
from payments.ledger.store import PaymentsApplication, application_env
from payments.runtime.settings import Settings
from payments.tools.services import principals, signing_keys
from payments.tools.services.config import ServiceConfig

DEMO_PRINCIPAL = "demo@payments"
DEMO_ROLES = {"auditor", "operations"}
# What the API process must not inherit from the demo (the operator's environment).
NOT_FOR_THE_API = ("PAYMENTS_ADMIN_DATABASE_URL", "PAYMENTS_SUPERUSER_DATABASE_URL",
                   "PAYMENTS_SIGNING_KEY_FILE", "PAYMENTS_SIGNING_PRINCIPAL")  # fmt: skip


@dataclass
class DemoApi:
    base: str
    key: str  # the whole API key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_env(settings: Settings, child_env: dict[str, str], port: int) -> dict[str, str]:
    """The API child's variables on top of `child_env`: the client's roles, the gateway
    key (registered here, as the operator), its port. Removed keys are set empty."""
    config = ServiceConfig.from_settings(settings)
    url = settings.require_database_url()
    gateway = signing_keys.ensure_signer(config, signing_keys.GATEWAY_PRINCIPAL)
    signing_keys.register_signer(url, gateway, "payments demo", {GATEWAY_ROLE})
    env = {name: "" for name in NOT_FOR_THE_API if name in child_env}
    env |= principals.role_env(settings, "client", url)
    env |= signing_keys.gateway_vars(config) | {"PAYMENTS_API_PORT": str(port)}
    return env


def issue_demo_key(settings: Settings) -> str:
    """An hour's API key for the demo principal (made, with its roles, if new)."""
    return issue_key(settings, DEMO_PRINCIPAL, DEMO_ROLES)


def issue_key(settings: Settings, principal: str, roles: set[str]) -> str:
    """An hour's API key for `principal` (made, with `roles`, if new)."""
    app = PaymentsApplication(
        env=application_env(settings.require_database_url(), pool_size=1, snapshots=False)
    )
    try:
        # A principal is made with a key; this one signs nothing (its key is thrown away).
        throwaway = Signer(Ed25519PrivateKey.generate(), principal)
        register_key(app, principal=principal, public_key=throwaway.public_key,
                     actor="payments demo", roles=roles)  # fmt: skip
        expires = datetime.now(UTC) + timedelta(hours=1)
        return issue_api_key(app, principal=principal, expires_at=expires,
                             actor="payments demo").token  # fmt: skip
    finally:
        app.close()


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    api: DemoApi,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    accept: str | None = None,
    timeout: float = 30.0,
) -> Answer:
    """One request (the standard library's client: the demo needs no HTTP package);
    retried while the key is not in the principals projection yet (401) or the API
    is still starting."""
    headers = {"Authorization": f"Bearer {api.key}", "Accept": accept or "application/json"}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(api.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return Answer(response.status, response.headers.get("content-type", ""),
                              response.read())  # fmt: skip
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, error.headers.get("content-type", ""), error.read())
            if error.code != 401 or time.monotonic() > deadline:
                return answer
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def shown(answer: Answer, limit: int = 700) -> str:
    text = json.dumps(answer.json(), separators=(", ", ": "))
    return f"{answer.status} {text if len(text) <= limit else text[:limit] + ' …'}"
