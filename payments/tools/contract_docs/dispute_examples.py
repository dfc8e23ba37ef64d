"""The disputes part of the contract's worked examples (docs/contract.md, "Disputes").

shop's payment pay-2 of 5000 is disputed three times: dp-1 (3000, fee 1500 refunded
if won) is contested with evidence and won by a two-person decision; dp-2 (1000) is
accepted by the merchant; dp-3 (500) passes its evidence due date and a sweep loses
it. Each rule's rejection is shown on the way, and a settlement shows the disputed
money as items of the merchant's batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from payments.contract.signing import Signer

# A due date the examples never reach, and one already passed when they are run.
FAR_DUE = "2099-01-01T00:00:00Z"
PASSED_DUE = "2026-11-29T00:00:00Z"

Command = Callable[..., dict[str, Any]]


def dispute_steps(command: Command, step: Callable[..., Any], reviewer: Signer) -> list[Any]:
    """`command(command_id, type, **payload)` and `step(envelope, expect, ...)` are the
    scenario's own; `reviewer` is the second operator who approves a resolution."""

    def open_(n: int, dispute_id: str, amount: int, due: str, fee: int = 0) -> dict[str, Any]:
        fee_terms = {"fee": fee, "fee_refunded_if_won": True, "fees_account": "fees"}
        return command(
            f"c-{n:04}",
            "open_dispute",
            dispute_id=dispute_id,
            payment_id="pay-2",
            amount=amount,
            reason_code="13.1",
            network="visa",
            evidence_due_by=due,
            disputes_account="disputes",
            **(fee_terms if fee else {}),
        )

    def evidence(n: int, dispute_id: str, text: str) -> dict[str, Any]:
        return command(
            f"c-{n:04}",
            "submit_dispute_evidence",
            dispute_id=dispute_id,
            text=text,
            documents=["doc:receipt-881.pdf", "doc:tracking-3390.png"],
        )

    def decision(n: int, type_: str, outcome: str, **more: Any) -> dict[str, Any]:
        return command(f"c-{n:04}", type_, dispute_id="dp-1", outcome=outcome, **more)

    propose = "propose_dispute_resolution"
    approve = "approve_dispute_resolution"
    delivered = "signed delivery receipt and tracking: delivered 2026-11-20"
    card = "paid with 4111 1111 1111 1111"
    return [
        step(
            command(
                "c-0201", "open_account", account_id="disputes", currency="EUR", kind="external"
            ),
            None,
        ),
        step(
            command(
                "c-0202",
                "transfer",
                transfer_id="t-dispute-topup",
                from_account="bank",
                to_account="alice",
                amount=6_000,
                currency="EUR",
            ),
            None,
        ),
        step(
            command(
                "c-0203",
                "authorize_payment",
                payment_id="pay-2",
                payer_account="alice",
                merchant_account="shop",
                amount=5_000,
                currency="EUR",
            ),
            None,
        ),
        step(command("c-0204", "capture_payment", payment_id="pay-2"), None),
        step(open_(205, "dp-1", 3_000, FAR_DUE, fee=1_500), None),
        step(open_(206, "dp-1", 3_000, FAR_DUE), "dispute_exists"),
        step(evidence(207, "dp-9", delivered), "dispute_not_found"),
        step(evidence(208, "dp-1", card), "card_data_in_evidence"),
        step(decision(209, approve, "won"), "resolution_not_proposed"),
        step(decision(210, propose, "won", note="delivery proven"), "invalid_dispute_state"),
        step(evidence(211, "dp-1", delivered), None),
        step(decision(212, propose, "won", note="delivery proven"), None),
        step(decision(213, approve, "won"), "proposer_cannot_approve"),
        step({**decision(214, approve, "won"), "actor": reviewer.principal}, None, signer=reviewer),
        step(open_(215, "dp-2", 1_000, FAR_DUE), None),
        step(command("c-0216", "accept_dispute", dispute_id="dp-2"), None),
        step(open_(217, "dp-3", 500, PASSED_DUE), None),
        step(evidence(218, "dp-3", delivered), "evidence_past_due"),
        step(command("c-0219", "expire_disputes", as_of=FAR_DUE), "as_of_in_future"),
        step(command("c-0220", "expire_disputes", as_of="2026-11-30T00:00:00Z"), None),
        step(
            command(
                "c-0221",
                "settle_merchant",
                batch_id="b-3",
                merchant_account="shop",
                payout_account="payout",
                fees_account="fees",
                fee_bps=250,
            ),
            None,
        ),
    ]
