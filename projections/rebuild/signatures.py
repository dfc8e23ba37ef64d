"""Offline check of every stored command's signature, with the stored public keys alone.

What an auditor runs (`payments verify --signatures`) with read-only access to the
event store: no private key, no engine. In store order, every `SigningKey` event
builds the key book (registered, revoked) and every `CommandRecord.Decided` is
checked: the key was registered, and not yet revoked, before the record; its
principal is the record's actor (or its `via`, the gateway that signed on the actor's
behalf, with `on_behalf_of` signed too); the Ed25519 signature verifies over the canonical
form rebuilt from the record (`payments.contract.signing`). A record stored before
commands were signed (no key id) is counted apart, not failed; so is the record of a
command carrying personal data (`register_holder`): its signed payload is sealed under
the holder's key, or not kept when it was rejected, so the auditor checks its key and
principal but not its signature (docs/security.md, "Personal data").
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg

from payments.contract.signing import (
    DELEGATION_FIELD,
    SIGNING_CONTEXT,
    canonical_json,
    decode_signature,
    load_public_key,
    verifies,
)
from payments.contract.tables import EVENTS_TABLE
from payments.domain.personal_data import PERSONAL_DATA_COMMANDS

RECORD_TOPIC = "payments.domain.command_record:CommandRecord.Decided"
KEY_TOPICS = (
    "payments.domain.identity:SigningKey.Registered",
    "payments.domain.identity:SigningKey.Revoked",
)


@dataclass
class SignatureReport:
    commands: int = 0
    unsigned_legacy: int = 0
    personal_data_sealed: int = 0  # key and principal checked, the signature not
    keys: int = 0
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # position, id, why

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class _Key:
    principal: str
    public_key: Any
    revoked_at: int | None = None


def check_signatures(database_url: str) -> SignatureReport:
    report = SignatureReport()
    keys: dict[str, _Key] = {}
    key_of_aggregate: dict[Any, str] = {}
    with psycopg.connect(database_url) as conn, conn.cursor(name="signatures") as rows:
        rows.itersize = 5000
        rows.execute(
            f"SELECT notification_id, originator_id, topic, state FROM {EVENTS_TABLE}"
            " WHERE topic = ANY(%s) ORDER BY notification_id",
            ([RECORD_TOPIC, *KEY_TOPICS],),
        )
        for position, aggregate_id, topic, state in rows:
            document = orjson.loads(bytes(state))
            if topic == KEY_TOPICS[0]:
                raw = base64.b64decode(document["public_key"])
                keys[document["key_id"]] = _Key(document["principal"], load_public_key(raw))
                key_of_aggregate[aggregate_id] = document["key_id"]
                report.keys += 1
            elif topic == KEY_TOPICS[1]:
                revoked = keys.get(key_of_aggregate.get(aggregate_id, ""))
                if revoked is not None:
                    revoked.revoked_at = position
            else:
                _check_record(position, document, keys, report)
    return report


def _check_record(
    position: int, record: dict[str, Any], keys: dict[str, _Key], report: SignatureReport
) -> None:
    command_id = str(record.get("command_id"))
    key_id = record.get("key_id")
    if key_id is None:
        report.unsigned_legacy += 1
        return
    report.commands += 1

    def fail(why: str) -> None:
        report.failures.append((position, command_id, why))

    key = keys.get(key_id)
    if key is None:
        return fail(f"key {key_id} was not registered before this record")
    if key.revoked_at is not None:
        return fail(f"key {key_id} was revoked (position {key.revoked_at}) before this record")
    via = record.get("via")  # a gateway signed for the actor
    if (via or record.get("actor")) != key.principal:
        signer = f"gateway {via!r}" if via else f"actor {record.get('actor')!r}"
        return fail(f"{signer} is not {key.principal}, the key's principal")
    if record.get("command_type") in PERSONAL_DATA_COMMANDS:
        report.personal_data_sealed += 1
        return None
    signature = decode_signature(record.get("signature"))
    payload = record.get("signed_payload")
    if signature is None or not isinstance(payload, str):
        return fail("the record holds no well-formed signature or signed payload")
    signed = {
        "actor": record.get("actor"),
        "command_id": record.get("command_id"),
        "issued_at": record.get("issued_at"),
        "payload": json.loads(payload),
        "type": record.get("command_type"),
    }
    if via:
        signed[DELEGATION_FIELD] = record.get("actor")
    if not verifies(key.public_key, signature, SIGNING_CONTEXT + canonical_json(signed)):
        fail("the signature does not verify: the record differs from what was signed")
