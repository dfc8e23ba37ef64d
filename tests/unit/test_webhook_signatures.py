"""The verifier against the providers' own libraries: what standardwebhooks and stripe
sign, it accepts; a wrong secret, a changed byte, a stale or future timestamp, it refuses."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
from stripe import WebhookSignature

from payments.integrations.webhook_signatures import SignatureRefused, verify

SECRET = "whsec_" + base64.b64encode(b"a secret of twenty-four b").decode()
OTHER = "whsec_" + base64.b64encode(b"another secret, rotated!").decode()
BODY = b'{"type":"payment.captured","data":{"payment_id":"pay-1","amount":2000}}'


def standard_headers(secret: str, body: bytes, at: float, msg_id: str = "msg_1") -> dict[str, str]:
    signature = standardwebhooks.Webhook(secret).sign(
        msg_id, datetime.fromtimestamp(at, UTC), body.decode()
    )
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at)), "webhook-signature": signature}


def stripe_headers(secret: str, body: bytes, at: float) -> dict[str, str]:
    header = WebhookSignature.generate_signature_header(body.decode(), secret, int(at))
    return {"stripe-signature": header}


def refusal(*args: object, **kwargs: object) -> str:
    with pytest.raises(SignatureRefused) as refused:
        verify(*args, **kwargs)  # type: ignore[arg-type]
    return refused.value.reason


def test_standard_webhooks_signed_by_the_library_pass_and_our_check_agrees_with_its() -> None:
    now = time.time()
    headers = standard_headers(SECRET, BODY, now)
    assert verify("standard", headers, BODY, [SECRET], now).delivery_id == "msg_1"
    standardwebhooks.Webhook(SECRET).verify(BODY, headers)  # the library agrees


def test_standard_webhooks_rotation_any_signature_any_secret() -> None:
    now = time.time()
    old = standard_headers(OTHER, BODY, now)["webhook-signature"]
    headers = standard_headers(SECRET, BODY, now)
    headers["webhook-signature"] = f"{old} v1a,garbage {headers['webhook-signature']}"
    assert verify("standard", headers, BODY, [SECRET], now).timestamp == int(now)
    assert verify("standard", standard_headers(OTHER, BODY, now), BODY, [SECRET, OTHER], now)


def test_standard_webhooks_intruders_are_refused() -> None:
    now = time.time()
    good = standard_headers(SECRET, BODY, now)
    assert refusal("standard", good, BODY, [OTHER], now) == "bad-signature"  # wrong secret
    assert refusal("standard", good, BODY + b" ", [SECRET], now) == "bad-signature"  # one byte
    moved = good | {"webhook-id": "msg_2"}  # the id is signed too
    assert refusal("standard", moved, BODY, [SECRET], now) == "bad-signature"
    stale = standard_headers(SECRET, BODY, now - 301)
    assert refusal("standard", stale, BODY, [SECRET], now) == "stale-timestamp"
    future = standard_headers(SECRET, BODY, now + 301)
    assert refusal("standard", future, BODY, [SECRET], now) == "stale-timestamp"
    assert verify("standard", stale, BODY, [SECRET], now, tolerance=600)  # a wider tolerance
    assert refusal("standard", {}, BODY, [SECRET], now) == "missing-headers"
    assert refusal("standard", good | {"webhook-timestamp": "1e9"}, BODY, [SECRET], now) == (
        "bad-timestamp"
    )
    assert refusal("standard", good, BODY, [], now) == "no-secret"


def test_stripe_signatures_made_by_stripes_helper_pass() -> None:
    now = time.time()
    stripe_secret = "whsec_test_0123456789abcdef"
    headers = stripe_headers(stripe_secret, BODY, now)
    assert verify("stripe", headers, BODY, [stripe_secret], now).timestamp == int(now)
    WebhookSignature.verify_header(BODY, headers["stripe-signature"], stripe_secret, 300)


def test_stripe_rotation_and_intruders() -> None:
    now = time.time()
    new, old = "whsec_new_secret", "whsec_old_secret"
    stamp = int(now)
    both = (
        stripe_headers(old, BODY, now)["stripe-signature"]
        + ",v1="
        + WebhookSignature._compute_signature(f"{stamp}.{BODY.decode()}", new)
    )  # Stripe sends both during a roll; its helper signs one, so the second is added
    assert verify("stripe", {"stripe-signature": both}, BODY, [new], now)
    good = stripe_headers(new, BODY, now)
    assert refusal("stripe", good, BODY, [old], now) == "bad-signature"
    assert refusal("stripe", good, b"{}", [new], now) == "bad-signature"
    stale = stripe_headers(new, BODY, now - 600)
    assert refusal("stripe", stale, BODY, [new], now) == "stale-timestamp"
    v0_only = {"stripe-signature": f"t={stamp},v0=abc"}
    assert refusal("stripe", v0_only, BODY, [new], now) == "missing-headers"
