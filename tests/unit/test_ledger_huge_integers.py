"""Integers beyond ±(2^63−1), signed, are answered by the rule of where they stand.

The ledger looks for a huge integer only at `payload.amount` once the envelope's text
rules passed (they stop every other one); these answers pin that down.
"""

from __future__ import annotations

from typing import Any

import pytest

from payments.ledger.store import in_memory_application
from tests.support.signing import signed_ledger
from tests.unit.test_ledger_service import command, open_account, transfer

BITS_71 = "an integer of 71 bits"


def _transfer_with(**extra: Any) -> dict[str, Any]:
    return command("t-x", "transfer", transfer_id="t-x", from_account="bank",
                   to_account="alice", amount=5, currency="EUR", **extra)  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        (transfer("t1", "bank", "alice", 2**70), "invalid_amount",
         f"payload.amount: must be between 1 and 1000000000000, got {BITS_71}"),
        (transfer("t2", "bank", "alice", -(2**64)), "invalid_amount",
         "payload.amount: must be between 1 and 1000000000000, got an integer of 65 bits"),
        (command("o3", "open_account", account_id="bob", currency="EUR", kind="customer",
                 overdraft_limit=2**70), "invalid_command",
         f"payload.overdraft_limit: integer beyond ±(2^63−1) ({BITS_71})"),
        (_transfer_with(extra=[2**70]), "invalid_command",
         f"payload.extra.0: integer beyond ±(2^63−1) ({BITS_71})"),
        (_transfer_with(extra={"amount": 2**70}), "invalid_command",
         f"payload.extra.amount: integer beyond ±(2^63−1) ({BITS_71})"),
    ],
)  # fmt: skip
def test_a_huge_integer_is_rejected_by_its_place(
    raw: dict[str, Any], code: str, message: str
) -> None:
    ledger = signed_ledger(in_memory_application())
    for setup in [open_account("o1", "bank", "external"), open_account("o2", "alice")]:
        assert ledger.decide(setup).status == "accepted"
    outcome = ledger.decide(raw)
    assert (outcome.status, outcome.code, outcome.message) == ("rejected", code, message)
