"""A key restricted to accounts: what payments.api.restriction lets through (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from payments.api.problems import ApiProblem
from payments.api.restriction import (
    check_account,
    check_command,
    check_dispute,
    check_payment,
    check_unrestricted,
)

MINE = frozenset({"alice", "alice-usd"})
ANY: frozenset[str] = frozenset()


def refused(call: Any, *args: Any) -> str:
    with pytest.raises(ApiProblem) as caught:
        call(*args)
    assert caught.value.slug == "account-not-allowed"
    return caught.value.detail


def test_an_unrestricted_key_passes_every_check() -> None:
    check_account(ANY, "shop")
    check_payment(ANY, None)
    check_unrestricted(ANY, "the audit log")
    check_command(ANY, "refund_payment", {"payment_id": "p"})


def test_accounts_and_payments_of_the_key_only() -> None:
    check_account(MINE, "alice-usd")
    assert "shop" in refused(check_account, MINE, "shop")
    check_payment(MINE, {"payer_account": "alice", "merchant_account": "shop"})
    check_payment(MINE, {"payer_account": "bob", "merchant_account": "alice"})
    refused(check_payment, MINE, {"payer_account": "bob", "merchant_account": "shop"})
    refused(check_payment, MINE, None)  # unknown looks like someone else's
    assert "audit" in refused(check_unrestricted, MINE, "the audit log")


@pytest.mark.parametrize(
    "type_, payload",
    [
        ("transfer", {"from_account": "alice", "to_account": "shop"}),
        ("authorize_payment", {"payer_account": "alice", "merchant_account": "shop"}),
        ("open_account", {"account_id": "alice-usd"}),
        ("close_account", {"account_id": "alice"}),
    ],
)
def test_commands_out_of_its_own_accounts_pass(type_: str, payload: dict[str, Any]) -> None:
    check_command(MINE, type_, payload)


@pytest.mark.parametrize(
    "type_, payload, named",
    [
        ("transfer", {"from_account": "shop", "to_account": "alice"}, "from_account"),
        ("authorize_payment", {"payer_account": "bob", "merchant_account": "alice"}, "payer"),
        ("open_account", {"account_id": "bob"}, "account_id"),
        ("close_account", {}, "account_id"),
        ("settle_merchant", {"merchant_account": "shop"}, "merchant_account"),
        ("refund_payment", {"payment_id": "p"}, "refund_payment"),  # names no account
        ("no_such_type", {"account_id": "alice"}, "no_such_type"),
        ("transfer", {"from_account": ["alice"]}, "from_account"),  # not a string
    ],
)
def test_commands_out_of_other_accounts_are_refused(
    type_: str, payload: dict[str, Any], named: str
) -> None:
    assert named in refused(check_command, MINE, type_, payload)


def test_disputes_of_the_key_s_merchant_accounts_only() -> None:
    """The merchant's dispute, not the payer's: a customer's key does not work the
    dispute of its own payment; someone else's and an unknown one look the same."""
    check_dispute(ANY, None)
    check_dispute(MINE, {"merchant_account": "alice", "payer_account": "bob"})
    refused(check_dispute, MINE, {"merchant_account": "shop", "payer_account": "alice"})
    refused(check_dispute, MINE, None)
