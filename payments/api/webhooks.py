"""POST /webhooks/{provider}: a provider's signed events in, as commands out.

Who may call it: anyone may send bytes, but only a delivery signed with a secret of
a configured provider (PAYMENTS_WEBHOOK_PROVIDERS) is acted upon. It is authenticated
by that signature, never by an API key: providers hold no keys of ours. The signature
is checked over the raw body before it is parsed (payments.integrations); a bad
signature, a stale timestamp or an unknown provider is answered 400/404 with no
command, and the delivery is still stored (payments.api.webhook_inbox).

A known event becomes a command, signed by the API's gateway key on behalf of the
principal `provider-<name>` (which holds the roles its commands need: the engine
decides with those), with command id `webhook:<provider>:<event id>`. Order, and what
a crash does at each step:

1. verify, parse, and look up `webhook_publications` for the command id (read only);
2. if not yet published: publish and wait for the broker's acknowledgement (not
   acknowledged → 503 and a delivery row `unavailable`: the provider retries);
3. one transaction: the event's inbox row (first delivery only), the publication
   row, the delivery row;
4. answer 200.

A crash before 3 leaves no publication row, so the provider's redelivery publishes
the same command id again and the engine answers it from its record (`replayed`);
a crash after 3 makes the redelivery a `duplicate` that publishes nothing. Either
way the ledger applies the event once. We acknowledge only after the publish.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from payments.api import webhook_inbox as inbox
from payments.api.problems import ApiProblem, problem_responses
from payments.integrations.webhook_events import ProviderEvent, UnreadableEvent, read_event
from payments.integrations.webhook_signatures import SignatureRefused, verify
from payments.runtime.settings import WebhookProvider

PROVIDER_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
UNKNOWN_PROVIDER = "(unknown)"  # never the caller's text as a name or a metric label
MAX_BODY = 256 * 1024

router = APIRouter()


def provider_principal(provider: str) -> str:
    """The principal a provider's commands are decided as."""
    return f"provider-{provider}"


class WebhookReceipt(BaseModel):
    status: Literal["published", "duplicate", "unknown", "malformed"] = Field(
        description="published: its command was sent; duplicate: already received; "
        "unknown: a type we do not act on (kept, counted); malformed: a known type "
        "without the fields it needs (kept, counted)"
    )
    provider_event_id: str
    command_id: str | None
    outcome: dict[str, Any] | None = Field(
        default=None, description="the engine's answer, when it came within the wait"
    )


@router.post(
    "/webhooks/{provider}",
    response_model=WebhookReceipt,
    responses=problem_responses(400, 404, 413, 422, 503),
    openapi_extra={"security": []},
)
async def receive_webhook(
    request: Request,
    provider: Annotated[str, Path(pattern=PROVIDER_PATTERN, description="a configured name")],
) -> Any:
    """A provider's delivery: verified by its signature (no API key), stored, acted upon."""
    body = await request.body()
    headers = {name.lower(): value for name, value in request.headers.items()}
    return await run_in_threadpool(_receive, request, provider, headers, body)


def _receive(request: Request, provider: str, headers: dict[str, str], body: bytes) -> Any:
    state = request.app.state
    config: WebhookProvider | None = state.settings.webhook_providers.get(provider)
    now = datetime.now(UTC)
    base = {
        "delivery_id": str(uuid.uuid4()),
        "received_at": now,
        "provider": provider if config is not None else UNKNOWN_PROVIDER,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_bytes": len(body),
    }

    def refuse(status: str, slug: str, detail: str, valid: bool, **more: Any) -> ApiProblem:
        _store(state, inbox.Delivery(**base, signature_valid=valid, status=status, **more))
        state.metrics.webhooks.labels(base["provider"], status).inc()
        return ApiProblem(slug, detail)

    if config is None:
        raise refuse("refused", "not-found", "no such webhook provider", False,
                     refusal="unknown-provider")  # fmt: skip
    if len(body) > MAX_BODY:
        raise refuse("refused", "too-large", f"the body is over {MAX_BODY} bytes", False,
                     refusal="too-large")  # fmt: skip
    secrets = [secret.get_secret_value() for secret in config.secrets]
    try:
        verified = verify(config.scheme, headers, body, secrets, time.time(),
                          config.tolerance_seconds)  # fmt: skip
    except SignatureRefused as refused:
        raise refuse("refused", "webhook-refused", refused.detail, False,
                     refusal=refused.reason) from None  # fmt: skip
    request.state.principal = provider_principal(provider)
    try:
        event = read_event(provider, config.scheme, verified, body)
    except UnreadableEvent as unreadable:
        raise refuse("unreadable", "webhook-unreadable", str(unreadable), True) from None
    return _act(request, provider, event, base)


def _act(request: Request, provider: str, event: ProviderEvent, base: dict[str, Any]) -> Any:
    state = request.app.state
    with state.pool.connection() as conn:
        published = event.command_id is not None and inbox.was_published(conn, event.command_id)
    outcome = None
    status = event.status
    if event.command_id is not None and published:
        status = "duplicate"
    elif event.command_id is not None:
        if state.bus is None or state.gateway is None:
            _store(state, _delivery(base, event, "unavailable"))
            state.metrics.webhooks.labels(provider, "unavailable").inc()
            raise ApiProblem("unavailable", "commands are not configured on this API process")
        envelope = state.gateway.sign(_envelope(provider, event))
        try:
            outcome = state.bus.submit(envelope, state.settings.api_command_timeout)
        except Exception as error:  # not acknowledged: nothing recorded as published
            _store(state, _delivery(base, event, "unavailable"))
            state.metrics.webhooks.labels(provider, "unavailable").inc()
            why = f"Kafka did not accept the command: {type(error).__name__}"
            raise ApiProblem("unavailable", why) from None
        status = "published"
    with state.pool.connection() as conn, conn.transaction():
        first = inbox.record_event(conn, provider, event.event_id, base["received_at"],
                                   event.event_type, event.status, event.command_id,
                                   event.summary())  # fmt: skip
        if status == "published":
            inbox.record_publication(conn, event.command_id or "", provider, event.event_id,
                                     base["received_at"])  # fmt: skip
        elif not first:
            status = "duplicate"
        inbox.record_delivery(conn, _delivery(base, event, status))
    state.metrics.webhooks.labels(provider, status).inc()
    return WebhookReceipt(status=status, provider_event_id=event.event_id,
                          command_id=event.command_id, outcome=outcome)  # fmt: skip


def _envelope(provider: str, event: ProviderEvent) -> dict[str, Any]:
    principal = provider_principal(provider)
    return {
        "command_id": event.command_id,
        "type": event.command_type,
        "actor": principal,
        "on_behalf_of": principal,
        "payload": event.payload,
    }


def _delivery(base: dict[str, Any], event: ProviderEvent, status: str) -> inbox.Delivery:
    return inbox.Delivery(**base, signature_valid=True, status=status,
                          provider_event_id=event.event_id, event_type=event.event_type,
                          refusal=event.problem, command_id=event.command_id)  # fmt: skip


def _store(state: Any, delivery: inbox.Delivery) -> None:
    with state.pool.connection() as conn:
        inbox.record_delivery(conn, delivery)
