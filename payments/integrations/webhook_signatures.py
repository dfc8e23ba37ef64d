"""Webhook signatures, checked over the raw bytes before anything is parsed.

Two schemes, each a pure function of (headers, body, secrets, now):

- **Standard Webhooks** (standardwebhooks.com; several providers): headers
  `webhook-id`, `webhook-timestamp` (unix seconds), `webhook-signature` = one or more
  space-separated `v1,<base64 HMAC-SHA256>`; signed content `{id}.{timestamp}.{body}`;
  the secret is `whsec_` + base64 of the key bytes.
- **Stripe**: header `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`; HMAC-SHA256
  of `{t}.{body}` keyed with the whole endpoint secret string (`whsec_…`, not decoded).

Several signatures in a header, and several secrets configured for a provider, are
how secrets rotate: a delivery passes if any signature matches any secret. Every
comparison is `hmac.compare_digest`. The timestamp must lie within `tolerance`
seconds of now, either side (a replayed old delivery, or a clock far ahead, fails).
Every refusal is a `SignatureRefused` with a reason that names no secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Scheme = Literal["standard", "stripe"]
DEFAULT_TOLERANCE = 300  # seconds, both schemes' documented default
SECRET_PREFIX = "whsec_"


class SignatureRefused(ValueError):
    """A delivery whose signature or timestamp does not hold (reason: a short slug)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Verified:
    """What the signature vouches for: the delivery's id (Standard Webhooks) and time."""

    delivery_id: str | None
    timestamp: int


def verify(
    scheme: Scheme,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> Verified:
    """Check a delivery's signature; `headers` keyed in lower case."""
    if not secrets:
        raise SignatureRefused("no-secret", "no secret is configured for this provider")
    if scheme == "standard":
        return _standard(headers, body, secrets, now, tolerance)
    return _stripe(headers, body, secrets, now, tolerance)


def _timestamp(text: str, now: float, tolerance: int) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise SignatureRefused("bad-timestamp", "the timestamp is not a unix time in seconds")
    stamp = int(text)
    if abs(now - stamp) > tolerance:
        raise SignatureRefused(
            "stale-timestamp", f"the timestamp is {int(now - stamp)} s from now (> {tolerance} s)"
        )
    return stamp


def standard_key(secret: str) -> bytes:
    """The key bytes of a Standard Webhooks secret (`whsec_<base64>`)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "==", validate=False)
    except (binascii.Error, ValueError):
        raise SignatureRefused("bad-secret", "the configured secret is not base64") from None
    if not key:
        raise SignatureRefused("bad-secret", "the configured secret is empty")
    return key


def _standard(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float, tolerance: int
) -> Verified:
    delivery_id = headers.get("webhook-id")
    stamp_text = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (delivery_id and stamp_text and signatures):
        raise SignatureRefused(
            "missing-headers", "webhook-id, webhook-timestamp and webhook-signature are required"
        )
    stamp = _timestamp(stamp_text, now, tolerance)
    signed = f"{delivery_id}.{stamp_text}.".encode() + body
    given = []
    for item in signatures.split(" "):
        version, _, value = item.partition(",")
        if version != "v1":
            continue
        try:
            given.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    for secret in secrets:
        expected = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return Verified(delivery_id, stamp)
    raise SignatureRefused("bad-signature", "no v1 signature matches a secret of this provider")


def _stripe(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float, tolerance: int
) -> Verified:
    header = headers.get("stripe-signature")
    if not header:
        raise SignatureRefused("missing-headers", "the Stripe-Signature header is required")
    stamps, given = [], []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            stamps.append(value)
        elif name == "v1":
            given.append(value.encode("ascii", "replace"))
    if len(stamps) != 1 or not given:
        raise SignatureRefused("missing-headers", "Stripe-Signature needs one t= and a v1=")
    stamp = _timestamp(stamps[0], now, tolerance)
    signed = f"{stamps[0]}.".encode() + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode()
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return Verified(None, stamp)
    raise SignatureRefused("bad-signature", "no v1 signature matches a secret of this provider")
