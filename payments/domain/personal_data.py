"""Personal data of account holders: sealed under a key of each holder's own (crypto-shredding).

A holder's name, date of birth, address and e-mail never reach an event in clear.
`register_holder` makes a fresh 256-bit *data key* for the holder and the event keeps
only `seal(data_key, fields)`: AES-256-GCM, a random 96-bit nonce, the holder id as
associated data (a sealed blob copied to another holder does not open). The data key
itself is stored *wrapped* (AES-256-GCM again) under the deployment's key-encryption
key (KEK, `PAYMENTS_HOLDER_KEY_FILE`) in the mutable table `holder_keys`, outside the
append-only store. `erase_holder` deletes that row: every sealed copy (events, the
audit log, Kafka's events topic, backups of them) then reads as erased, and nothing
in the ledger or the audit chain changes.

Pure functions and the `HolderKeys` protocol the handlers use; where the keys live is
the ledger's (payments.ledger.holder_keys).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PERSONAL_FIELDS = ("name", "date_of_birth", "address", "email")
# The commands whose payload carries personal data: nothing of it is stored in clear,
# not even in their command record (payments.ledger.service).
PERSONAL_DATA_COMMANDS = frozenset({"register_holder", "register_holder_sealed"})
KEY_VERSION = 1  # of the sealing scheme (AES-256-GCM, nonce ‖ ciphertext, aad holder id)
_NONCE_BYTES = 12
_KEY_BYTES = 32


class PersonalDataError(ValueError):
    """A sealed value that does not open with the key given (wrong key, tampered)."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=_KEY_BYTES * 8)


def _aad(purpose: str, holder_id: str) -> bytes:
    return f"payments:{purpose}:v{KEY_VERSION}:{holder_id}".encode()


def _seal_bytes(key: bytes, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plain, aad)


def _open_bytes(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(key) != _KEY_BYTES or len(sealed) <= _NONCE_BYTES:
        raise PersonalDataError("not a sealed value of this scheme")
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)
    except InvalidTag:
        raise PersonalDataError("does not open with this key (wrong key or tampered)") from None


def seal(data_key: bytes, holder_id: str, document: dict[str, object]) -> str:
    """The base64 text of `document` (canonical JSON) sealed under the holder's key."""
    plain = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(_seal_bytes(data_key, plain, _aad("data", holder_id))).decode()


def open_sealed(data_key: bytes, holder_id: str, sealed: str) -> dict[str, object]:
    try:
        raw = base64.b64decode(sealed, validate=True)
    except ValueError:
        raise PersonalDataError("not base64") from None
    document = json.loads(_open_bytes(data_key, raw, _aad("data", holder_id)))
    if not isinstance(document, dict):
        raise PersonalDataError("a sealed value that is not an object")
    return document


def wrap_key(kek: bytes, holder_id: str, data_key: bytes) -> bytes:
    """The data key as `holder_keys` stores it: sealed under the KEK, bound to the holder."""
    return _seal_bytes(kek, data_key, _aad("key", holder_id))


def unwrap_key(kek: bytes, holder_id: str, wrapped: bytes) -> bytes:
    return _open_bytes(kek, wrapped, _aad("key", holder_id))


def _intake_key(kek: bytes) -> bytes:
    return hmac.new(kek, b"payments:intake:v1", hashlib.sha256).digest()


def seal_for_engine(kek: bytes, holder_id: str, fields: dict[str, object]) -> str:
    """The four fields sealed for the engine by a client holding the KEK (the HTTP
    API), so the command on Kafka carries no personal data in clear
    (`register_holder_sealed`). Deterministic (a synthetic nonce from the content), so
    a retried request publishes the very same command and is answered as a replay."""
    key = _intake_key(kek)
    plain = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    aad = _aad("intake", holder_id)
    nonce = hmac.new(key, aad + b"\x00" + plain, hashlib.sha256).digest()[:_NONCE_BYTES]
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, aad)).decode()


def open_from_client(kek: bytes, holder_id: str, sealed: str) -> dict[str, object]:
    try:
        raw = base64.b64decode(sealed, validate=True)
    except ValueError:
        raise PersonalDataError("not base64") from None
    document = json.loads(_open_bytes(_intake_key(kek), raw, _aad("intake", holder_id)))
    if not isinstance(document, dict):
        raise PersonalDataError("a sealed value that is not an object")
    return document


def keyed_fingerprint(kek: bytes, document: bytes) -> str:
    """An idempotency fingerprint that is no plain hash of personal data: HMAC-SHA256
    under a key derived from the KEK, so a guess cannot be checked without the KEK."""
    fingerprint_key = hmac.new(kek, b"payments:fingerprint:v1", hashlib.sha256).digest()
    return hmac.new(fingerprint_key, document, hashlib.sha256).hexdigest()


def load_kek(path: Path) -> bytes:
    """The KEK file: the standard base64 of 32 random bytes (`new_kek_text`)."""
    key = base64.b64decode(path.read_text().strip(), validate=True)
    if len(key) != _KEY_BYTES:
        raise ValueError(f"{path}: a holder key-encryption key is 32 bytes, got {len(key)}")
    return key


def new_kek_text() -> str:
    return base64.b64encode(os.urandom(_KEY_BYTES)).decode()


class HolderKeys(Protocol):
    """The holders' data keys as one batch sees them (payments.ledger.holder_keys)."""

    def create(self, holder_id: str) -> bytes:
        """A new data key for `holder_id`, stored with the batch; raises
        HolderKeysUnavailable when the engine has no KEK."""
        ...

    def get(self, holder_id: str) -> bytes | None:
        """The holder's data key, or None: never made, or destroyed (erased)."""
        ...

    def destroy(self, holder_id: str) -> None:
        """Delete the holder's key with the batch: its sealed data reads as erased."""
        ...

    def open_from_client(self, holder_id: str, sealed: str) -> dict[str, object]:
        """Fields a client sealed for the engine (`seal_for_engine`); raises
        PersonalDataError if they do not open, HolderKeysUnavailable without a KEK."""
        ...
