"""The Kafka message formats produced from the ledger's events and from bad records."""

from __future__ import annotations

import json
import uuid
from typing import Any

from payments.contract.wire import DEAD_LETTER_VALUE_LIMIT, dead_letter, event_message
from payments.domain.ids import account_id_to_uuid
from payments.ledger.store import in_memory_application
from tests.support.signing import signed_ledger

EVENT_KEYS = {
    "position", "event_id", "event_type", "aggregate_type", "aggregate_id",
    "aggregate_version", "command_id", "actor", "recorded_at", "payload",
}  # fmt: skip


def command(command_id: str, type_: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": command_id, "type": type_, "actor": "ana@ops", "payload": payload}


def test_every_stored_event_becomes_a_self_describing_message() -> None:
    app = in_memory_application()
    ledger = signed_ledger(app)
    for raw in [
        command("c1", "open_account", account_id="bank", currency="EUR", kind="external"),
        command("c2", "open_account", account_id="alice", currency="EUR", kind="customer"),
        command(
            "c3",
            "transfer",
            transfer_id="t1",
            from_account="bank",
            to_account="alice",
            amount=250,
            currency="EUR",
        ),
    ]:
        assert ledger.decide(raw).status == "accepted"
    messages = [event_message(n, app.mapper) for n in app.recorder.select_notifications(1, 100)]
    assert all(set(m) == EVENT_KEYS for m in messages)
    assert [m["position"] for m in messages] == sorted(m["position"] for m in messages)
    json.dumps(messages)  # plain JSON all the way down

    credited = next(m for m in messages if m["event_type"] == "Account.Credited")
    assert credited["aggregate_type"] == "Account"
    assert credited["aggregate_id"] == str(account_id_to_uuid("alice"))
    assert credited["aggregate_version"] == 2
    assert credited["event_id"] == str(uuid.uuid5(account_id_to_uuid("alice"), "2"))
    assert (credited["command_id"], credited["actor"]) == ("c3", "ana@ops")
    assert credited["recorded_at"].endswith("Z")
    assert credited["payload"] == {
        "account_id": "alice",
        "posting_id": credited["payload"]["posting_id"],
        "amount": 250,
        "currency": "EUR",
        "counterparty": "bank",
        "reason": "transfer",
        "reference": "t1",
        "forced": False,
    }
    debited = next(m for m in messages if m["event_type"] == "Account.Debited")
    assert debited["payload"]["posting_id"] == credited["payload"]["posting_id"]

    opened = next(m for m in messages if m["event_type"] == "Account.Opened")
    assert opened["payload"] == {
        "account_id": "bank", "currency": "EUR", "kind": "external", "overdraft_limit": 0
    }  # fmt: skip
    decided = next(m for m in messages if m["event_type"] == "CommandRecord.Decided")
    assert set(decided["payload"]) == {
        "command_type",
        "fingerprint",
        "status",
        "code",
        "message",
        "key_id",
        "signature",
        "issued_at",
        "signed_payload",
        "via",
    }


def test_a_dead_letter_keeps_the_record_as_text_with_its_origin() -> None:
    letter = dead_letter("not JSON", "payments.commands", 3, 41, b"\xff{oops")
    assert letter == {
        "reason": "not JSON",
        "source_topic": "payments.commands",
        "source_partition": 3,
        "source_offset": 41,
        "value": "\ufffd{oops",
        "value_bytes": 6,
    }


def test_a_dead_letter_cuts_huge_records() -> None:
    letter = dead_letter("too big", "t", 0, 0, b"x" * (DEAD_LETTER_VALUE_LIMIT + 10))
    assert len(letter["value"]) == DEAD_LETTER_VALUE_LIMIT
    assert letter["value_bytes"] == DEAD_LETTER_VALUE_LIMIT + 10
    assert dead_letter("empty", "t", 0, 1, None)["value"] == ""


def test_huge_inputs_are_not_echoed_into_the_store() -> None:
    app = in_memory_application()
    outcome = signed_ledger(app).decide(
        {"command_id": "big", "type": "t" * 100_000, "actor": "a" * 100_000, "payload": {}}
    )
    assert outcome.code == "invalid_command"  # the actor is too long
    assert len(outcome.message) <= 300
    unknown = signed_ledger(app).decide(command("big2", "x" * 100_000))
    assert unknown.code == "invalid_command" and len(unknown.message) <= 300  # type > 64
    for notification in app.recorder.select_notifications(1, 100):
        assert len(notification.state) < 2_000
