"""The envelope and payload rules of the contract, one example per rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from payments.domain.commands import (
    COMMAND_TYPES,
    PAYLOAD_MODELS,
    CapturePayment,
    Envelope,
    Transfer,
    is_valid_command_id,
    parse_envelope,
)
from payments.domain.errors import Rejection

TRANSFER: dict[str, Any] = {
    "command_id": "c-0001",
    "type": "transfer",
    "actor": "ops@example",
    "issued_at": "2026-11-28T10:00:00Z",
    "payload": {
        "transfer_id": "t-1",
        "from_account": "acc:alice",
        "to_account": "acc:bob",
        "amount": 1250,
        "currency": "EUR",
    },
}


def with_payload(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(TRANSFER)
    raw["payload"].update(changes)
    return raw


def rejection(raw: Any) -> Rejection:
    with pytest.raises(Rejection) as caught:
        parse_envelope(raw)
    return caught.value


def test_a_valid_transfer_parses_into_its_payload_model() -> None:
    parsed = parse_envelope(TRANSFER)
    assert parsed.command_id == "c-0001"
    assert parsed.type == "transfer"
    assert parsed.actor == "ops@example"
    assert parsed.issued_at is not None and parsed.issued_at.utcoffset() is not None
    assert isinstance(parsed.payload, Transfer)
    assert parsed.payload.amount == 1250


@pytest.mark.parametrize(
    "amount",
    [12.5, 1.0, "1250", True, False, 0, -1, 10**12 + 1, 10**30, None, [1], {"v": 1}],
)
def test_amounts_must_be_json_integers_from_1_to_10_to_the_12(amount: Any) -> None:
    error = rejection(with_payload(amount=amount))
    assert error.code == "invalid_amount"
    assert error.message.startswith("payload.amount: ")


@pytest.mark.parametrize("amount", [1, 10**12])
def test_the_amount_bounds_are_inclusive(amount: int) -> None:
    assert parse_envelope(with_payload(amount=amount)).payload.amount == amount  # type: ignore[attr-defined]


@pytest.mark.parametrize("currency", ["eur", "Eur", "EURO", "ABC", "", 978, None])
def test_currencies_must_be_upper_case_iso_4217(currency: Any) -> None:
    error = rejection(with_payload(currency=currency))
    assert error.code == "invalid_currency"
    assert "payload.currency" in error.message


@pytest.mark.parametrize("account", ["", "a" * 65, "alice smith", "ålice", "a/b", 7])
def test_identifiers_are_1_to_64_safe_characters(account: Any) -> None:
    error = rejection(with_payload(from_account=account))
    assert error.code == "invalid_command"
    if isinstance(account, str):
        assert error.message == (
            "payload.from_account: must be 1-64 characters of A-Z a-z 0-9 : _ . -"
        )


def test_unknown_payload_fields_are_refused_by_name() -> None:
    error = rejection(with_payload(memo="rent"))
    assert error.code == "invalid_command"
    assert error.message == "payload.memo: is not an allowed field"


def test_a_missing_amount_is_an_invalid_command_not_an_invalid_amount() -> None:
    raw = copy.deepcopy(TRANSFER)
    del raw["payload"]["amount"]
    error = rejection(raw)
    assert (error.code, error.message) == ("invalid_command", "payload.amount: is required")


def test_unknown_types_are_their_own_code() -> None:
    error = rejection({**TRANSFER, "type": "mint_money"})
    assert error.code == "unknown_command_type"
    assert "mint_money" in error.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("command_id", ""),
        ("command_id", "x" * 129),
        ("command_id", "tab\there"),
        ("command_id", "é"),
        ("actor", ""),
        ("actor", "a" * 257),
        ("issued_at", "yesterday"),
        ("issued_at", 1700000000),
        ("payload", [1, 2]),
        ("type", 3),
        ("extra", "x"),
    ],
)
def test_envelope_fields_are_checked_by_name(field: str, value: Any) -> None:
    error = rejection({**TRANSFER, field: value})
    assert error.code == "invalid_command"
    assert error.message.startswith(f"{field}: ")


@pytest.mark.parametrize("field", ["command_id", "type", "actor", "payload"])
def test_envelope_fields_are_required(field: str) -> None:
    raw = {k: v for k, v in TRANSFER.items() if k != field}
    error = rejection(raw)
    assert (error.code, error.message) == ("invalid_command", f"{field}: is required")


def test_issued_at_is_optional() -> None:
    raw = {k: v for k, v in TRANSFER.items() if k != "issued_at"}
    assert parse_envelope(raw).issued_at is None


def test_capture_amount_is_optional() -> None:
    raw = {
        "command_id": "c",
        "type": "capture_payment",
        "actor": "a",
        "payload": {"payment_id": "p"},
    }
    payload = parse_envelope(raw).payload
    assert isinstance(payload, CapturePayment) and payload.amount is None


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"account_id": "a", "currency": "EUR", "kind": "bank"}, "invalid_command"),
        (
            {"account_id": "a", "currency": "EUR", "kind": "fees", "overdraft_limit": -1},
            "invalid_command",
        ),
        (
            {"account_id": "a", "currency": "EUR", "kind": "fees", "overdraft_limit": 1.5},
            "invalid_command",
        ),
        (
            {"account_id": "a", "currency": "EUR", "kind": "fees", "overdraft_limit": True},
            "invalid_command",
        ),
        ({"account_id": "a", "currency": "usd", "kind": "fees"}, "invalid_currency"),
    ],
)
def test_open_account_rules(payload: dict[str, Any], code: str) -> None:
    raw = {"command_id": "c", "type": "open_account", "actor": "a", "payload": payload}
    assert rejection(raw).code == code


def test_open_account_overdraft_defaults_to_zero() -> None:
    raw = {
        "command_id": "c",
        "type": "open_account",
        "actor": "a",
        "payload": {"account_id": "a", "currency": "JPY", "kind": "customer"},
    }
    assert parse_envelope(raw).payload.overdraft_limit == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("fee_bps", [-1, 10_001, 2.5, "250"])
def test_fee_bps_is_an_integer_from_0_to_10000(fee_bps: Any) -> None:
    raw = {
        "command_id": "c",
        "type": "settle_merchant",
        "actor": "a",
        "payload": {
            "batch_id": "b",
            "merchant_account": "m",
            "payout_account": "x",
            "fees_account": "f",
            "fee_bps": fee_bps,
        },
    }
    error = rejection(raw)
    assert error.code == "invalid_command" and error.message.startswith("payload.fee_bps: ")


@pytest.mark.parametrize("reason", ["", "r" * 257])
def test_chargeback_reason_is_1_to_256_characters(reason: str) -> None:
    raw = {
        "command_id": "c",
        "type": "chargeback_payment",
        "actor": "a",
        "payload": {"payment_id": "p", "amount": 5, "reason": reason},
    }
    assert rejection(raw).code == "invalid_command"


def test_command_id_rule_is_printable_ascii() -> None:
    assert is_valid_command_id(" ~")
    assert not is_valid_command_id("\x7f")
    assert not is_valid_command_id(5)


def test_every_contract_type_has_a_model_with_a_json_schema() -> None:
    assert set(COMMAND_TYPES) == {
        "open_account",
        "close_account",
        "transfer",
        "authorize_payment",
        "capture_payment",
        "void_payment",
        "refund_payment",
        "chargeback_payment",
        "settle_merchant",
        "open_dispute",
        "submit_dispute_evidence",
        "accept_dispute",
        "propose_dispute_resolution",
        "approve_dispute_resolution",
        "expire_disputes",
        "freeze_account",
        "unfreeze_account",
        "set_kyc_tier",
        "set_risk_rules",
        "expire_authorizations",
        "approve_review",
        "decline_review",
        "request_screening",
        "record_screening_result",
        "escalate_screening",
        "resolve_screening",
        "register_holder",
        "register_holder_sealed",
        "erase_holder",
    }
    for model in PAYLOAD_MODELS.values():
        schema = model.model_json_schema()
        assert schema["additionalProperties"] is False
    assert "command_id" in Envelope.model_json_schema()["required"]
