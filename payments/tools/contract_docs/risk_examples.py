"""The risk and compliance part of the contract's day (issue 18), as scenario steps.

In pounds, on accounts of its own, so its rules touch no other example (the rules
name their currency); it ends by setting an empty rule set again. A step with
`decided_at` is decided with the event clock stopped at that moment
(payments.tools.contract_docs.examples): an authorization decided on the morning of
the contract's day with a minute's expiry has expired when it is captured now, and
the sweep of that morning releases it. Fixed moments keep the envelopes (and their
signatures) the same on every run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from payments.integrations.screening import LocalScreener, Subject, result_command

AUTHORIZED_AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SWEPT_AT = "2026-11-28T10:00:00Z"

RULES_V1: dict[str, Any] = {
    "version": 1,
    "cooling_off": [
        {"rule_id": "new-accounts", "kinds": ["customer"], "currency": "GBP",
         "seconds": 86_400, "max_amount": 20_000},
    ],
    "maximums": [
        {"rule_id": "tier-0-max", "kinds": ["customer"], "currency": "GBP",
         "kyc_tiers": [0], "max_amount": 10_000},
    ],
    "velocity": [
        {"rule_id": "hourly", "kinds": ["customer"], "currency": "GBP",
         "window_seconds": 3_600, "max_count": 3, "max_sum": 15_000},
    ],
}  # fmt: skip


def risk_steps(command: Any, step: Any) -> list[Any]:
    """`command(command_id, type, **payload)` and `step(unsigned, expect, **options)`."""

    def transfer(command_id: str, transfer_id: str, amount: int) -> dict[str, Any]:
        return command(
            command_id, "transfer", transfer_id=transfer_id, from_account="gb-carol",
            to_account="gb-dan", amount=amount, currency="GBP",
        )  # fmt: skip

    case = {"reason": "sanctions screening hit under review", "case_ref": "case-7"}
    opened = [
        step(command(f"c-180{n}", "open_account", account_id=a, currency="GBP", kind=k), None)
        for n, (a, k) in enumerate(
            (("gb-bank", "external"), ("gb-carol", "customer"), ("gb-dan", "customer"))
        )
    ]
    funded = command(
        "c-1803", "transfer", transfer_id="gb-fund", from_account="gb-bank",
        to_account="gb-carol", amount=100_000, currency="GBP",
    )  # fmt: skip
    return [
        *opened,
        step(funded, None),
        step(command("c-1804", "set_risk_rules", **RULES_V1), None),
        step(transfer("c-1805", "gb-t1", 25_000), "risk_blocked"),  # cooling-off
        step(transfer("c-1806", "gb-t1", 12_000), "risk_blocked"),  # tier 0 maximum
        step(
            command(
                "c-1807",
                "set_kyc_tier",
                account_id="gb-carol",
                tier=1,
                reason="identity documents verified",
            ),
            None,
        ),
        step(transfer("c-1808", "gb-t1", 12_000), None),
        step(transfer("c-1809", "gb-t2", 4_000), "velocity_limit_exceeded"),  # sum 16 000
        step(command("c-1810", "set_risk_rules", **RULES_V1), "risk_rules_conflict"),
        step(command("c-1811", "freeze_account", account_id="gb-carol", **case), None),
        step(transfer("c-1812", "gb-t3", 100), "account_frozen"),
        step(command("c-1813", "unfreeze_account", account_id="gb-carol", **case), None),
        step(
            command("c-1814", "unfreeze_account", account_id="gb-carol", **case),
            "account_not_frozen",
        ),
        *_review_steps(command, step, transfer),
        *_screening_steps(command, step),
        step(command("c-1815", "set_risk_rules", version=3), None),  # rules off again
        *_expiry_steps(command, step),
    ]


RULES_V2: dict[str, Any] = {
    "version": 2,
    "maximums": [
        {"rule_id": "large-transfers", "kinds": ["customer"], "currency": "GBP",
         "max_amount": 5_000, "action": "review"},
    ],
}  # fmt: skip


def _review_steps(command: Any, step: Any, transfer: Any) -> list[Any]:
    note = {"note": "source of funds confirmed by phone"}
    return [
        step(command("c-1819", "set_risk_rules", **RULES_V2), None),
        step(transfer("c-1820", "gb-t4", 8_000), None),  # accepted, held for review
        step(command("c-1821", "approve_review", transfer_id="gb-t4", **note), None),
        step(command("c-1822", "approve_review", transfer_id="gb-t4", **note), "review_closed"),
        step(command("c-1823", "decline_review", transfer_id="gb-t8", **note), "review_not_found"),
        step(transfer("c-1824", "gb-t5", 6_000), None),
        step(
            command("c-1825", "decline_review", transfer_id="gb-t5", note="no answer in 5 days"),
            None,
        ),
    ]


def _screening_steps(command: Any, step: Any) -> list[Any]:
    """An escalation session: gb-dan's holder is a hit, escalated, confirmed (gb-dan is
    frozen); gb-carol's is clear. The answers are the local screener's."""
    screener = LocalScreener()

    def answered(screening_id: str, subject: Subject) -> dict[str, Any]:
        envelope = result_command(screening_id, screener.screen(subject), "")
        return command(envelope["command_id"], envelope["type"], **envelope["payload"])

    def request(command_id: str, screening_id: str, holder: str, account: str) -> Any:
        return command(
            command_id, "request_screening", screening_id=screening_id, holder_id=holder,
            account_ids=[account], subject_ref=f"kyc-store:{holder}",
        )  # fmt: skip

    why = "name and year of birth match entry wl-0001"
    return [
        step(request("c-1826", "scr-1", "holder-dan", "gb-dan"), None),
        step(answered("scr-1", Subject("Ivan Placeholder", "1961-04-02")), None),
        step(command("c-1827", "escalate_screening", screening_id="scr-1", reason=why), None),
        step(
            command(
                "c-1828",
                "resolve_screening",
                screening_id="scr-1",
                outcome="confirmed",
                reason="passport copy matches the listed person",
            ),
            None,
        ),
        step(request("c-1829", "scr-2", "holder-carol", "gb-carol"), None),
        step(answered("scr-2", Subject("Carol Example", "1988-07-14")), None),
        step(request("c-1830", "scr-1", "holder-dan", "gb-dan"), "screening_exists"),
        step(
            command("c-1831", "escalate_screening", screening_id="scr-9", reason=why),
            "screening_not_found",
        ),
        step(
            command("c-1832", "escalate_screening", screening_id="scr-2", reason="second look"),
            "invalid_screening_state",
        ),
    ]


def _expiry_steps(command: Any, step: Any) -> list[Any]:
    def authorize(command_id: str, payment_id: str) -> dict[str, Any]:
        return command(
            command_id, "authorize_payment", payment_id=payment_id, payer_account="alice",
            merchant_account="shop", amount=500, currency="EUR", expires_in_seconds=60,
        )  # fmt: skip

    sweep_id = "schedule:expire_authorizations:" + SWEPT_AT
    return [
        step(authorize("c-1816", "pay-exp-1"), None, decided_at=AUTHORIZED_AT),
        step(command("c-1817", "capture_payment", payment_id="pay-exp-1"), "authorization_expired"),
        step(command(sweep_id, "expire_authorizations", as_of=SWEPT_AT), None),
        step(command("c-1818", "void_payment", payment_id="pay-exp-1"), "invalid_payment_state"),
    ]
