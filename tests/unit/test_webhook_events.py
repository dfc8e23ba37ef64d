"""Provider events as commands: the mapping table of payments.integrations.webhook_events."""

from __future__ import annotations

import json

import pytest

from payments.integrations.webhook_events import UnreadableEvent, read_event
from payments.integrations.webhook_signatures import Verified

STANDARD = Verified("msg_7", 0)
STRIPE = Verified(None, 0)


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_a_standard_capture_is_a_capture_command_named_after_the_event() -> None:
    doc = {"type": "payment.captured", "data": {"payment_id": "pay-1", "amount": 2_000,
                                                 "customer_email": "a@example.org"}}  # fmt: skip
    event = read_event("demo", "standard", STANDARD, body(doc))
    assert (event.status, event.command_type, event.command_id) == (
        "command", "capture_payment", "webhook:demo:msg_7",
    )  # fmt: skip
    assert event.payload == {"payment_id": "pay-1", "amount": 2_000}
    assert "customer_email" not in json.dumps(event.summary())  # personal data is not kept


def test_stripe_refund_and_dispute_read_the_engine_payment_id_from_metadata() -> None:
    refund = {
        "id": "evt_1",
        "type": "refund.created",
        "data": {"object": {"amount": 300, "metadata": {"payment_id": "pay-1"}}},
    }
    dispute = {"id": "evt_2", "type": "charge.dispute.funds_withdrawn",
               "data": {"object": {"amount": 500, "reason": "fraudulent",
                                   "metadata": {"payment_id": "pay-1"}}}}  # fmt: skip
    got = read_event("stripe", "stripe", STRIPE, body(refund))
    assert (got.command_type, got.payload, got.command_id) == (
        "refund_payment", {"payment_id": "pay-1", "amount": 300}, "webhook:stripe:evt_1",
    )  # fmt: skip
    got = read_event("stripe", "stripe", STRIPE, body(dispute))
    assert got.payload == {"payment_id": "pay-1", "amount": 500, "reason": "fraudulent"}


def test_unknown_types_are_kept_and_bad_fields_are_malformed_never_guessed() -> None:
    assert read_event("demo", "standard", STANDARD, body({"type": "x.y"})).status == "unknown"
    floaty = {"type": "payment.refunded", "data": {"payment_id": "p", "amount": 3.0}}
    event = read_event("demo", "standard", STANDARD, body(floaty))
    assert (event.status, event.command_id) == ("malformed", None)
    for bad in (b"not json", b"[]", body({"id": "evt_1"}), body({"type": "x", "id": "a b"})):
        with pytest.raises(UnreadableEvent):
            read_event("stripe", "stripe", STRIPE, bad)
