"""A verified delivery's body, read as a provider event and, if known, as a command.

Parsing happens only after the signature held (payments.integrations.webhook_signatures).
Each scheme has its body format; the engine's payment id travels with the provider:

- **standard** (Standard Webhooks, a provider of our own shape, the demo's): the event
  id is the `webhook-id` header (stable across retries, as the spec asks); the body is
  `{"type": …, "data": {"payment_id": …, "amount": …, "reason": …}}`.
- **stripe**: the event id is the body's `id` (`evt_…`); the engine's payment id is the
  object's `metadata.payment_id`, set when the charge was made.

| scheme | provider event type | command | amount from |
|---|---|---|---|
| standard | `payment.captured` | capture_payment | data.amount (optional) |
| standard | `payment.refunded` | refund_payment | data.amount |
| standard | `payment.charged_back` | chargeback_payment | data.amount, data.reason |
| stripe | `charge.captured` | capture_payment | object.amount_captured |
| stripe | `refund.created` | refund_payment | object.amount |
| stripe | `charge.dispute.funds_withdrawn` | chargeback_payment | object.amount, .reason |

The payment id is `data.payment_id` (standard) or `object.metadata.payment_id` (stripe).

The command id is `webhook:<provider>:<event id>`: a redelivery, or the same event
received twice, is the same command, which the engine decides once.
Any other type is `unknown` (kept in the inbox, counted); a known type whose fields are
missing or of the wrong type is `malformed` (kept and counted too: a retry cannot help).
Only non-personal fields are kept from a body: the type, the ids, amount and currency.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from payments.integrations.webhook_signatures import Scheme, Verified

EVENT_ID_PATTERN = re.compile(r"^[\x21-\x7E]{1,96}$")

KNOWN: dict[Scheme, dict[str, str]] = {
    "standard": {
        "payment.captured": "capture_payment",
        "payment.refunded": "refund_payment",
        "payment.charged_back": "chargeback_payment",
    },
    "stripe": {
        "charge.captured": "capture_payment",
        "refund.created": "refund_payment",
        "charge.dispute.funds_withdrawn": "chargeback_payment",
    },
}


class UnreadableEvent(ValueError):
    """A verified body that is no event at all (not JSON, no id): kept, answered 400."""


@dataclass(frozen=True)
class ProviderEvent:
    event_id: str
    event_type: str
    status: str  # "command", "unknown" or "malformed"
    command_id: str | None = None
    command_type: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    def summary(self) -> dict[str, Any]:
        """The non-personal part of the body, for the inbox."""
        return {"type": self.event_type, **self.payload}


def read_event(provider: str, scheme: Scheme, verified: Verified, body: bytes) -> ProviderEvent:
    try:
        document = json.loads(body)
    except ValueError:
        raise UnreadableEvent("the body is not JSON") from None
    if not isinstance(document, dict):
        raise UnreadableEvent("the body is not a JSON object")
    event_id = verified.delivery_id if scheme == "standard" else document.get("id")
    if not isinstance(event_id, str) or not EVENT_ID_PATTERN.match(event_id):
        raise UnreadableEvent("the event id is missing or not 1-96 printable characters")
    event_type = document.get("type")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 128:
        raise UnreadableEvent("the event type is missing")
    command_type = KNOWN[scheme].get(event_type)
    if command_type is None:
        return ProviderEvent(event_id, event_type, "unknown")
    try:
        payload = _payload(scheme, command_type, document)
    except (KeyError, TypeError, ValueError) as error:
        return ProviderEvent(event_id, event_type, "malformed", problem=str(error)[:200])
    return ProviderEvent(
        event_id,
        event_type,
        "command",
        command_id=f"webhook:{provider}:{event_id}",
        command_type=command_type,
        payload=payload,
    )


def _payload(scheme: Scheme, command_type: str, document: dict[str, Any]) -> dict[str, Any]:
    if scheme == "standard":
        data = _object(document.get("data"), "data")
        payment_id, amount, reason = data.get("payment_id"), data.get("amount"), data.get("reason")
    else:
        thing = _object(_object(document.get("data"), "data").get("object"), "data.object")
        payment_id = _object(thing.get("metadata"), "metadata").get("payment_id")
        amount = thing.get("amount_captured" if command_type == "capture_payment" else "amount")
        reason = thing.get("reason")
    payload: dict[str, Any] = {"payment_id": _text(payment_id, "payment_id")}
    if amount is not None or command_type != "capture_payment":
        payload["amount"] = _amount(amount)
    if command_type == "chargeback_payment":
        payload["reason"] = _text(reason, "reason")
    return payload


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{name} is not an object")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} is not a text")
    return value


def _amount(value: Any) -> int:
    if type(value) is not int or value <= 0:  # never a float, never a bool
        raise TypeError("amount is not a positive integer of minor units")
    return value
