"""Personal data sealed under a key per holder, and erased by destroying the key.

The crypto on its own (round trip, wrong key, wrong holder, tampering), then the real
ledger on the in-memory store: nothing personal in clear in any stored event (the
raw bytes), the command record's signed payload sealed and its fingerprint keyed,
the key gone after `erase_holder`, and the dead letter withholding personal fields.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

import pytest

from payments.api.holders import holder_view
from payments.contract.wire import WITHHELD, dead_letter
from payments.domain.holder import holder_id_to_uuid
from payments.domain.personal_data import (
    PersonalDataError,
    new_data_key,
    open_from_client,
    open_sealed,
    seal,
    seal_for_engine,
    unwrap_key,
    wrap_key,
)
from payments.ledger.service import SEALED_PREFIX, Ledger
from payments.ledger.store import in_memory_application
from tests.support.signing import SignedLedger

KEK = os.urandom(32)
# Distinctive enough that finding one anywhere is a leak, not a coincidence.
PII = {
    "name": "Zorblax Quindlewhip",
    "date_of_birth": "1961-07-23",
    "address": "77 Vorpal Lane, Snickersnee-on-Tulgey",
    "email": "zorblax.quindle@example.invalid",
}


def register(command_id: str, holder_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "type": "register_holder",
        "actor": "compliance-officer",
        "payload": {"holder_id": holder_id, **PII, **overrides},
    }


def erase(command_id: str, holder_id: str) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "type": "erase_holder",
        "actor": "compliance-officer",
        "payload": {"holder_id": holder_id, "reason": "the holder asked (GDPR art. 17)"},
    }


def stored_bytes(app: Any) -> bytes:
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    return b"\n".join(n.state for n in notifications)


def leaks(data: bytes) -> list[str]:
    return [value for value in PII.values() if value.encode() in data]


# --- the crypto ------------------------------------------------------------------------


def test_sealed_data_opens_with_its_key_and_holder_only() -> None:
    key = new_data_key()
    sealed = seal(key, "h-1", PII)
    assert open_sealed(key, "h-1", sealed) == PII
    assert not leaks(base64.b64decode(sealed)) and not leaks(sealed.encode())
    with pytest.raises(PersonalDataError):
        open_sealed(new_data_key(), "h-1", sealed)  # another key
    with pytest.raises(PersonalDataError):
        open_sealed(key, "h-2", sealed)  # copied to another holder
    raw = bytearray(base64.b64decode(sealed))
    raw[-1] ^= 1
    with pytest.raises(PersonalDataError):
        open_sealed(key, "h-1", base64.b64encode(bytes(raw)).decode())  # tampered
    assert seal(key, "h-1", PII) != sealed  # a fresh nonce each time


def test_a_wrapped_key_unwraps_with_the_kek_and_its_holder_only() -> None:
    key = new_data_key()
    wrapped = wrap_key(KEK, "h-1", key)
    assert key not in wrapped
    assert unwrap_key(KEK, "h-1", wrapped) == key
    with pytest.raises(PersonalDataError):
        unwrap_key(os.urandom(32), "h-1", wrapped)
    with pytest.raises(PersonalDataError):
        unwrap_key(KEK, "h-2", wrapped)


# --- the ledger ------------------------------------------------------------------------


def make_ledger(kek: bytes | None = KEK) -> SignedLedger:
    return SignedLedger(Ledger(in_memory_application(), holder_kek=kek))


def holder_of(ledger: SignedLedger, holder_id: str) -> dict[str, Any] | None:
    """What GET /holders/{id} would answer, from the store's own events and keys."""
    app = ledger.app
    rows = []
    for n in app.recorder.select_notifications(start=1, limit=100_000):
        if n.originator_id == holder_id_to_uuid(holder_id):
            event = app.mapper.to_domain_event(n)
            name = type(event).__qualname__.split(".")[-1]
            payload = {k: v for k, v in vars(event).items() if k in ("personal_data", "reason")}
            rows.append({"event_type": f"Holder.{name}", "actor": event.actor,
                         "recorded_at": event.timestamp, "payload": payload})  # fmt: skip
    return holder_view(holder_id, rows, app.wrapped_holder_key(holder_id), KEK)


def test_register_seals_everything_personal_and_erase_destroys_the_key() -> None:
    ledger = make_ledger()
    assert ledger.decide(register("c-1", "h-1")).status == "accepted"
    assert leaks(stored_bytes(ledger.app)) == []
    wrapped = ledger.app.wrapped_holder_key("h-1")
    assert wrapped is not None
    found = holder_of(ledger, "h-1")
    assert found is not None and found["erased"] is False
    assert {k: found[k] for k in PII} == PII

    # The command record keeps the signed payload sealed under the holder's key, and
    # a fingerprint that is no plain hash of the payload.
    record = next(
        json.loads(n.state)
        for n in ledger.app.recorder.select_notifications(start=1, limit=1000)
        if n.topic.endswith("CommandRecord.Decided") and b'"c-1"' in n.state
    )
    assert record["signed_payload"].startswith(SEALED_PREFIX)
    data_key = unwrap_key(KEK, "h-1", wrapped)
    opened = open_sealed(data_key, "h-1", record["signed_payload"][len(SEALED_PREFIX) :])
    assert json.loads(str(opened["signed_payload"]))["email"] == PII["email"]
    plain = json.dumps(
        {"payload": register("c-1", "h-1")["payload"], "type": "register_holder"},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    ).encode()  # fmt: skip
    assert record["fingerprint"] != hashlib.sha256(plain).hexdigest()

    again = ledger.decide(register("c-1", "h-1"))
    assert again.replayed and again.status == "accepted"  # idempotent all the same
    assert ledger.decide(register("c-2", "h-1")).code == "holder_exists"

    assert ledger.decide(erase("c-3", "h-1")).status == "accepted"
    assert ledger.app.wrapped_holder_key("h-1") is None
    erased = holder_of(ledger, "h-1")
    assert erased is not None and erased["erased"] is True and "name" not in erased
    assert ledger.decide(erase("c-4", "h-1")).code == "holder_erased"
    assert ledger.decide(erase("c-5", "h-9")).code == "holder_not_found"
    assert ledger.decide(register("c-6", "h-1")).code == "holder_exists"  # the id stays taken
    assert leaks(stored_bytes(ledger.app)) == []


def test_registered_and_erased_in_one_batch_leaves_no_key() -> None:
    from payments.ledger.service import IncomingCommand

    ledger = make_ledger()
    outcomes = ledger.decide_batch(
        [IncomingCommand(register("c-1", "h-1")), IncomingCommand(erase("c-2", "h-1"))]
    )
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert ledger.app.wrapped_holder_key("h-1") is None


def test_rejected_register_keeps_nothing_personal_and_names_no_value() -> None:
    ledger = make_ledger()
    bad = {"email": "not-an-address " + PII["email"], "date_of_birth": "23/07/1961"}
    for n, (field, value) in enumerate(bad.items()):
        outcome = ledger.decide(register(f"c-{n}", "h-1", **{field: value}))
        assert outcome.code == "invalid_command" and outcome.message.startswith(
            f"payload.{field}: "
        )
        assert not leaks(outcome.message.encode()) and value not in outcome.message
    outcome = ledger.decide(register("c-9", "h-1", name="x" * 201))
    assert outcome.code == "invalid_command" and "x" * 20 not in outcome.message
    assert leaks(stored_bytes(ledger.app)) == []


def test_an_engine_without_a_kek_stores_no_personal_data() -> None:
    ledger = make_ledger(kek=None)
    assert ledger.decide(register("c-1", "h-1")).code == "holder_keys_unavailable"
    assert leaks(stored_bytes(ledger.app)) == []
    assert ledger.app.wrapped_holder_key("h-1") is None


def sealed_register(command_id: str, holder_id: str, sealed: str) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "type": "register_holder_sealed",
        "actor": "compliance-officer",
        "payload": {"holder_id": holder_id, "sealed_personal_data": sealed},
    }


def test_fields_sealed_for_the_engine_are_registered_like_clear_ones() -> None:
    sealed = seal_for_engine(KEK, "h-1", PII)
    assert sealed == seal_for_engine(KEK, "h-1", PII)  # a retry publishes the same command
    assert not leaks(base64.b64decode(sealed))
    assert open_from_client(KEK, "h-1", sealed) == PII
    with pytest.raises(PersonalDataError):
        open_from_client(KEK, "h-2", sealed)
    ledger = make_ledger()
    assert ledger.decide(sealed_register("c-1", "h-1", sealed)).status == "accepted"
    assert ledger.decide(sealed_register("c-1", "h-1", sealed)).replayed
    found = holder_of(ledger, "h-1")
    assert found is not None and {k: found[k] for k in PII} == PII
    assert leaks(stored_bytes(ledger.app)) == []


def test_sealed_fields_that_do_not_open_or_break_a_rule_name_no_value() -> None:
    ledger = make_ledger()
    moved = ledger.decide(sealed_register("c-1", "h-2", seal_for_engine(KEK, "h-1", PII)))
    assert (moved.code, moved.message) == (
        "invalid_command",
        "payload.sealed_personal_data: does not open with this engine's key",
    )
    other_kek = seal_for_engine(os.urandom(32), "h-3", PII)
    assert ledger.decide(sealed_register("c-2", "h-3", other_kek)).code == "invalid_command"
    bad = seal_for_engine(KEK, "h-4", {**PII, "email": "no at sign " + PII["name"]})
    outcome = ledger.decide(sealed_register("c-3", "h-4", bad))
    assert outcome.message.startswith("payload.sealed_personal_data.email: must be an e-mail")
    assert not leaks(outcome.message.encode())
    extra = seal_for_engine(KEK, "h-5", {**PII, PII["name"]: 1})  # even a key is not echoed
    outcome = ledger.decide(sealed_register("c-4", "h-5", extra))
    assert outcome.code == "invalid_command" and not leaks(outcome.message.encode())
    assert make_ledger(kek=None).decide(sealed_register("c-5", "h-1", bad)).code == (
        "holder_keys_unavailable"
    )
    assert leaks(stored_bytes(ledger.app)) == []


# --- the dead letter -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"type": "register_holder", "payload": {"holder_id": "h", **PII}}).encode(),
        json.dumps([{"nested": {"payload": PII}}]).encode(),
        json.dumps({"type": "register_holder", "payload": PII})[:-3].encode(),  # not JSON
        b"\xff" + json.dumps({"payload": PII}).encode(),  # not UTF-8
    ],
)
def test_a_dead_letter_withholds_personal_data(value: bytes) -> None:
    letter = dead_letter("no command_id", "payments.commands", 0, 1, value)
    assert leaks(json.dumps(letter, ensure_ascii=False).encode()) == []
    assert letter["value_bytes"] == len(value)


def test_a_dead_letter_without_personal_data_keeps_its_value() -> None:
    letter = dead_letter("no command_id", "payments.commands", 0, 1, b'{"type":"transfer"}')
    assert letter["value"] == '{"type":"transfer"}' and WITHHELD not in letter["value"]
