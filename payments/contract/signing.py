"""Signed commands: the exact bytes a command's issuer signs, and Ed25519 over them.

The signed message is a fixed context line followed by the canonical JSON of five
envelope fields (docs/security.md, "Signed commands", has a worked example):

    b"payments-command-v1\\n" + canonical_json({"actor": …, "command_id": …,
                                                 "issued_at": … or null,
                                                 "payload": {…}, "type": …})

Canonical JSON is RFC 8785 (JCS) for the values a command holds: object keys sorted,
no whitespace, strings as UTF-8 with only `"`, `\\` and U+0000–U+001F escaped
(`\\b \\f \\n \\r \\t`, else `\\u00xx`), integers in plain decimal. The context line
keeps a command signature from ever verifying as anything else. A gateway's command
on behalf of another principal also signs `on_behalf_of` (only then is it in the
object, so every other signature stays as it was).

The envelope carries `key_id` and `signature` (standard base64 of the 64 signature
bytes). A key id is derived from the public key, `ed25519:` and the first 32 hex
digits of SHA-256 over its 32 raw bytes, so anyone holding a public key can check
which id it has. Everything needed to check a stored command later is the command's
five fields, its signature and the public key: no secret, no engine.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from payments.contract import fast_json

SIGNING_CONTEXT = b"payments-command-v1\n"
SIGNED_FIELDS = ("actor", "command_id", "issued_at", "payload", "type")
# Signed too, but only when present: a gateway's command on behalf of a principal.
DELEGATION_FIELD = "on_behalf_of"
KEY_ID_PREFIX = "ed25519:"
SIGNATURE_BYTES = 64


class UnsignableCommand(ValueError):
    """The envelope holds a value the canonical form cannot spell (e.g. a lone surrogate)."""


def canonical_json(value: Any) -> bytes:
    """RFC 8785 for JSON of strings, integers, booleans, null, arrays and objects."""
    # One walk for the common document without floats; NaN needs a float.
    floats = fast_json.has_float(value)
    if floats and _has_nan(value):
        raise UnsignableCommand("NaN and infinities have no JSON spelling")
    try:
        return fast_json.canonical(value) if floats else fast_json.canonical_float_free(value)
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as error:
        raise UnsignableCommand(str(error)[:200] or type(error).__name__) from None


def _has_nan(value: Any) -> bool:
    pending = [value]  # iterative: whatever the depth, no RecursionError
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is float and (item != item or item in (float("inf"), float("-inf"))):
            return True
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
    return False


def signed_message(envelope: dict[str, Any]) -> bytes:
    """The bytes signed for `envelope`: its five signed fields (absent ones are null),
    and `on_behalf_of` when the envelope has one."""
    signed = {name: envelope.get(name) for name in SIGNED_FIELDS}
    if DELEGATION_FIELD in envelope:
        signed[DELEGATION_FIELD] = envelope[DELEGATION_FIELD]
    return SIGNING_CONTEXT + canonical_json(signed)


def key_id_of(public_key: bytes) -> str:
    return KEY_ID_PREFIX + hashlib.sha256(public_key).hexdigest()[:32]


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def encode_signature(signature: bytes) -> str:
    return base64.b64encode(signature).decode("ascii")


def decode_signature(text: object) -> bytes | None:
    """The 64 signature bytes, or None when `text` is not their standard base64."""
    if not isinstance(text, str) or len(text) != 88:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == SIGNATURE_BYTES else None


def load_public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def verifies(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


class Signer:
    """Signs envelopes with one private key, as the principal the key belongs to."""

    def __init__(self, private_key: Ed25519PrivateKey, principal: str) -> None:
        self.private_key = private_key
        self.principal = principal
        self.public_key = public_bytes(private_key.public_key())
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def from_pem(cls, pem: bytes, principal: str) -> Signer:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key file does not hold an Ed25519 private key")
        return cls(key, principal)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """`envelope` with `key_id` and `signature`; an absent actor becomes the principal."""
        signed = {k: v for k, v in envelope.items() if k not in ("key_id", "signature")}
        signed.setdefault("actor", self.principal)
        signature = self.private_key.sign(signed_message(signed))
        return {**signed, "key_id": self.key_id, "signature": encode_signature(signature)}
