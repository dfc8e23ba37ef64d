"""Deterministic aggregate ids: uuid5(PAYMENTS_NAMESPACE, "<kind>:<business id>").

A second create of the same business id collides on the event store's primary key,
so uniqueness holds even between two engines racing.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import sha1
from typing import Literal
from uuid import UUID

# Permanent: changing it would orphan every stored aggregate.
PAYMENTS_NAMESPACE = UUID("6f2c3c1e-6a3b-5d8e-9f4a-2b7d0c1e9a55")

Kind = Literal[
    "account",
    "payment",
    "transfer",
    "batch",
    "command",
    "posting",
    "key",
    "principal",
    "api_key",
    "dispute",
    "dispute_calendar",
    "statement",
    "recon_exception",
    "holder",
]


# uuid5 hashes the namespace's 16 bytes anew for every id; this is SHA-1 after them.
_AFTER_NAMESPACE = sha1(PAYMENTS_NAMESPACE.bytes)
# RFC 4122 variant (10) and version (5) bits, as uuid5 sets them.
_KEEP = ~((0xC000 << 48) | (0xF000 << 64))
_VARIANT_AND_VERSION = (0x8000 << 48) | (5 << 76)


@lru_cache(maxsize=262_144)  # hot accounts are named by most commands of a batch
def aggregate_uuid(kind: Kind, business_id: str) -> UUID:
    """`uuid5(PAYMENTS_NAMESPACE, f"{kind}:{business_id}")`, the same UUID, quicker
    (tests/unit/test_ids.py)."""
    digest = _AFTER_NAMESPACE.copy()
    digest.update(f"{kind}:{business_id}".encode())
    return UUID(int=int.from_bytes(digest.digest()[:16]) & _KEEP | _VARIANT_AND_VERSION)


def account_id_to_uuid(account_id: str) -> UUID:
    return aggregate_uuid("account", account_id)


def payment_id_to_uuid(payment_id: str) -> UUID:
    return aggregate_uuid("payment", payment_id)


def transfer_id_to_uuid(transfer_id: str) -> UUID:
    return aggregate_uuid("transfer", transfer_id)


def batch_id_to_uuid(batch_id: str) -> UUID:
    return aggregate_uuid("batch", batch_id)


def dispute_id_to_uuid(dispute_id: str) -> UUID:
    return aggregate_uuid("dispute", dispute_id)


# One per store: the open disputes' evidence due dates, for the expiry sweep.
DISPUTE_CALENDAR_ID = aggregate_uuid("dispute_calendar", "all")


def command_id_to_uuid(command_id: str) -> UUID:
    return aggregate_uuid("command", command_id)


def key_id_to_uuid(key_id: str) -> UUID:
    return aggregate_uuid("key", key_id)


def principal_to_uuid(principal: str) -> UUID:
    return aggregate_uuid("principal", principal)


def api_key_to_uuid(key_prefix: str) -> UUID:
    return aggregate_uuid("api_key", key_prefix)


def statement_to_uuid(statement_id: str) -> UUID:
    return aggregate_uuid("statement", statement_id)


def recon_exception_to_uuid(exception_id: str) -> UUID:
    return aggregate_uuid("recon_exception", exception_id)


def posting_id(command_id: str, index: int) -> str:
    """The id shared by the debit and the credit of one posting of one command."""
    return str(aggregate_uuid("posting", f"{command_id}:{index}"))
