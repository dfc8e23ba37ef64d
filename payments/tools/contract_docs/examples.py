"""A day of business that touches every command type, rejection code and event type.

`run_scenario()` sends it through the real ledger on the in-memory store and returns
what the engine would publish: outcomes and `payments.events` messages. The test
`test_schemas_fresh` validates all of it against `payments.contract.messages`, and
docs/contract.md takes its examples from it (`python -m
payments.tools.contract_docs.examples` prints them).
The only code it cannot show is `internal_error`, which only a bug produces.

Its commands are signed with published example keys (derived from fixed text, so
the docs' signatures are real and reproducible): never register them anywhere real.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import eventsourcing.domain
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payments.contract.signing import Signer
from payments.contract.wire import event_message
from payments.domain.matching import BankLine, LedgerPosting, match
from payments.domain.roles import ROLES
from payments.ledger.identities import (
    change_roles,
    issue_api_key,
    principal_roles,
    register_key,
    revoke_api_key,
    revoke_key,
)
from payments.ledger.service import Ledger, Outcome
from payments.ledger.statements import record_import, resolve_exception
from payments.ledger.store import PaymentsApplication, in_memory_application
from payments.tools.contract_docs.dispute_examples import dispute_steps
from payments.tools.contract_docs.holder_examples import EXAMPLE_HOLDER_KEK, holder_steps
from payments.tools.contract_docs.risk_examples import risk_steps


def example_signer(principal: str) -> Signer:
    """A documentation key: public, so it must never be trusted by a real engine."""
    seed = hashlib.sha256(f"payments-engine example key of {principal}".encode()).digest()
    return Signer(Ed25519PrivateKey.from_private_bytes(seed), principal)


OPERATOR = example_signer("ops@example")  # every role
AUDITOR = example_signer("auditor@example")  # the auditor role: may issue nothing
# The second person of a dispute decision, registered just before its first step, so
# the examples before it keep their positions.
REVIEWER = example_signer("reviewer@example")


@dataclass(frozen=True)
class Step:
    unsigned: dict[str, Any]
    expect: str | None  # the rejection code, None when accepted
    signer: Signer | None = OPERATOR
    tampered: bool = False  # changed after signing
    decided_at: datetime | None = None  # the event clock stopped at it (risk_examples)
    without_holder_key: bool = False  # decided by an engine with no holder KEK

    @property
    def envelope(self) -> dict[str, Any]:
        if self.signer is None:
            return self.unsigned
        signed = self.signer.sign(self.unsigned)
        if self.tampered:
            signed["payload"] = {**signed["payload"], "amount": signed["payload"]["amount"] * 10}
        return signed


def command(command_id: str, type_: str, **payload: Any) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "type": type_,
        "actor": OPERATOR.principal,
        "issued_at": "2026-11-28T10:00:00Z",
        "payload": payload,
    }


def _open(n: int, account_id: str, currency: str, kind: str, **extra: Any) -> Step:
    payload = {"account_id": account_id, "currency": currency, "kind": kind, **extra}
    return Step(command(f"c-{n:04}", "open_account", **payload), None)


def _transfer(
    command_id: str, transfer_id: str, from_: str, to: str, amount: Any
) -> dict[str, Any]:
    return command(
        command_id,
        "transfer",
        transfer_id=transfer_id,
        from_account=from_,
        to_account=to,
        amount=amount,
        currency="EUR",
    )


def _authorize(
    command_id: str, payment_id: str, payer: str, merchant: str, amount: int
) -> dict[str, Any]:
    return command(
        command_id,
        "authorize_payment",
        payment_id=payment_id,
        payer_account=payer,
        merchant_account=merchant,
        amount=amount,
        currency="EUR",
    )


def _settle(command_id: str, batch_id: str) -> dict[str, Any]:
    return command(
        command_id,
        "settle_merchant",
        batch_id=batch_id,
        merchant_account="shop",
        payout_account="payout",
        fees_account="fees",
        fee_bps=250,
    )


TOP_UP = _transfer("c-0007", "t-topup", "bank", "alice", 10_000)


def _payment_steps() -> list[Step]:
    pay = {"payment_id": "pay-1"}
    return [
        Step(_authorize("c-0009", "pay-1", "alice", "shop", 2_500), None),
        Step(command("c-0010", "capture_payment", **pay, amount=2_000), None),
        Step(command("c-0011", "void_payment", **pay), None),
        Step(command("c-0012", "refund_payment", **pay, amount=300), None),
        Step(command("c-0013", "chargeback_payment", **pay, amount=200, reason="fraud"), None),
        Step(_settle("c-0014", "b-1"), None),
        Step(command("c-0015", "close_account", account_id="old"), None),
    ]


def _rejections() -> list[Step]:
    conflicting = {**TOP_UP, "payload": {**TOP_UP["payload"], "amount": 20_000}}
    return [
        Step(
            command("c-0101", "open_account", account_id="carol", currency="EUR"),
            "invalid_command",
        ),
        Step(command("c-0102", "mint_money", account_id="alice"), "unknown_command_type"),
        Step(conflicting, "idempotency_conflict"),
        Step(_transfer("c-0103", "t-2", "alice", "bank", 10.5), "invalid_amount"),
        Step(
            command("c-0104", "open_account", account_id="dave", currency="EURO", kind="customer"),
            "invalid_currency",
        ),
        Step(_transfer("c-0105", "t-3", "alice", "bob", 100), "currency_mismatch"),
        Step(_transfer("c-0106", "t-4", "alice", "alice", 100), "same_account"),
        Step(_transfer("c-0107", "t-5", "alice", "bank", 1_000_000), "insufficient_funds"),
        Step(
            command("c-0108", "open_account", account_id="alice", currency="EUR", kind="customer"),
            "account_exists",
        ),
        Step(_transfer("c-0109", "t-6", "alice", "nobody", 100), "account_not_found"),
        Step(_transfer("c-0110", "t-7", "alice", "old", 100), "account_closed"),
        Step(command("c-0111", "close_account", account_id="alice"), "account_not_empty"),
        Step(_authorize("c-0112", "pay-2", "shop", "alice", 100), "invalid_account_kind"),
        Step(_authorize("c-0113", "pay-1", "alice", "shop", 100), "payment_exists"),
        Step(command("c-0114", "capture_payment", payment_id="pay-404"), "payment_not_found"),
        Step(command("c-0115", "capture_payment", payment_id="pay-1"), "invalid_payment_state"),
        Step(_authorize("c-0116", "pay-3", "alice", "shop", 1_000), None),
        Step(
            command("c-0117", "capture_payment", payment_id="pay-3", amount=5_000),
            "amount_exceeds_authorized",
        ),
        Step(
            command("c-0118", "refund_payment", payment_id="pay-1", amount=9_999),
            "amount_exceeds_captured",
        ),
        Step(_transfer("c-0119", "t-topup", "bank", "alice", 1), "transfer_exists"),
        Step(_settle("c-0120", "b-1"), "batch_exists"),
        Step(_settle("c-0121", "b-2"), "nothing_to_settle"),
        *_balance_limit(),
        Step(_transfer("c-0125", "t-9", "bank", "alice", 100), "unauthenticated", tampered=True),
        Step(
            {**_transfer("c-0126", "t-10", "bank", "alice", 100), "actor": AUDITOR.principal},
            "forbidden",
            signer=AUDITOR,
        ),
    ]


def _balance_limit() -> list[Step]:
    """A balance may reach ±MAX_BALANCE (10^15): 1000 transfers of MAX_AMOUNT, then 1 more."""
    return [
        _open(122, "mint", "EUR", "external"),
        _open(123, "whale", "EUR", "customer"),
        *(
            Step(_transfer(f"c-fill-{n:04}", f"t-fill-{n:04}", "mint", "whale", 10**12), None)
            for n in range(1000)
        ),
        Step(_transfer("c-0124", "t-8", "mint", "whale", 1), "balance_limit_exceeded"),
    ]


SCENARIO: list[Step] = [
    _open(1, "bank", "EUR", "external"),
    _open(2, "alice", "EUR", "customer", overdraft_limit=0),
    _open(3, "shop", "EUR", "merchant"),
    _open(4, "fees", "EUR", "fees"),
    _open(5, "payout", "EUR", "external"),
    _open(6, "bob", "USD", "customer"),
    Step(TOP_UP, None),
    _open(8, "old", "EUR", "customer"),
    *_payment_steps(),
    Step(TOP_UP, None),  # sent again: answered from the stored outcome, replayed
    *_rejections(),
    *dispute_steps(command, Step, REVIEWER),
    *risk_steps(command, Step),
    *holder_steps(command, Step),
]


@dataclass(frozen=True)
class Published:
    outcomes: list[tuple[Step, dict[str, Any]]]
    events: list[dict[str, Any]]


def register_example_keys(app: PaymentsApplication) -> None:
    """The operator's side of the story: principals, roles and keys, one key retired."""
    by = "operator@example"
    for signer, roles in ((OPERATOR, set(ROLES)), (AUDITOR, {"auditor"})):
        register_key(
            app, principal=signer.principal, public_key=signer.public_key, actor=by, roles=roles
        )
    retired = example_signer("retired@example")
    key_id = register_key(app, principal=AUDITOR.principal, public_key=retired.public_key, actor=by)
    revoke_key(app, key_id=key_id, reason="rotated", actor=by)
    change_roles(app, principal=AUDITOR.principal, grant={"wallet"}, revoke=set(), actor=by)
    change_roles(app, principal=AUDITOR.principal, grant=set(), revoke={"wallet"}, actor=by)


def issue_example_api_keys(app: PaymentsApplication) -> None:
    """After the day (the other examples keep their positions): an HTTP API key for
    the auditor, and one retired. The secrets are random each run."""
    by, expires = "operator@example", datetime.now(UTC) + timedelta(days=90)
    issue_api_key(app, principal=AUDITOR.principal, expires_at=expires, actor=by)
    old = issue_api_key(app, principal=AUDITOR.principal, expires_at=expires, actor=by)
    revoke_api_key(app, prefix=old.prefix, reason="rotated", actor=by)


def reconcile_example_statement(app: PaymentsApplication) -> None:
    """The operator imports the payout account's bank statement of the day: the
    payout of b-1 matches by its end-to-end id, a bank fee is a line the ledger does
    not know (an exception, then resolved)."""
    from datetime import date

    from payments.integrations.statements.model import BankStatement, StatementLine

    day = date(2026, 11, 28)
    statement = BankStatement(
        format="camt053", bank_statement_id="STMT-2026-11-28", bank_account="NL91ABNA0417164300",
        currency="EUR", opening=100_000, opening_date=date(2026, 11, 27), closing=98_700,
        closing_date=day, lines=(
            StatementLine(1, -1_250, day, day, "ACSV-0001", "b-1"),
            StatementLine(2, -50, day, day, "ACSV-0002", ""),
        ),
    )  # fmt: skip
    lines = [BankLine(x.line, x.amount, x.value_date, x.reference, x.end_to_end_id)
             for x in statement.lines]  # fmt: skip
    payout = LedgerPosting("0b6f3c1e-3f0a-5c55-8d6e-8c3f6f0c2a11", -1_250, day, "b-1",
                           "settlement_payout", 30)  # fmt: skip
    result = match(lines, [payout], period=(day, day))
    by = "operator@example"
    done = record_import(
        app, account_id="payout", statement=statement, file_sha256="0" * 64, result=result,
        ledger_position=4_080, tolerance_days=2, actor=by, reason="statement file of 2026-11-28",
    )  # fmt: skip
    resolve_exception(app, exception_id=done.exception_ids[0], actor=by,
                      reason="bank fee for the payout, booked to fees")  # fmt: skip


@contextmanager
def event_clock_at(moment: datetime | None) -> Iterator[None]:
    """Stamp (and so decide) the events of one step at `moment` (None: now)."""
    if moment is None:
        yield
        return
    real = eventsourcing.domain.datetime_now_with_tzinfo
    eventsourcing.domain.datetime_now_with_tzinfo = lambda: moment
    try:
        yield
    finally:
        eventsourcing.domain.datetime_now_with_tzinfo = real


def run_scenario() -> Published:
    app = in_memory_application()
    register_example_keys(app)
    ledger = Ledger(app, holder_kek=EXAMPLE_HOLDER_KEK)
    keyless = Ledger(app)
    outcomes: list[tuple[Step, dict[str, Any]]] = []
    for step in SCENARIO:
        if step.signer is REVIEWER and principal_roles(app, REVIEWER.principal) is None:
            by, key = "operator@example", REVIEWER.public_key
            register_key(app, principal=REVIEWER.principal, public_key=key, actor=by,
                         roles={"disputes"})  # fmt: skip
        with event_clock_at(step.decided_at):
            deciding = keyless if step.without_holder_key else ledger
            outcome: Outcome = deciding.decide(step.envelope)
        outcomes.append((step, outcome.to_json()))
    issue_example_api_keys(app)
    reconcile_example_statement(app)
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    events = [event_message(n, app.mapper) for n in notifications]
    return Published(outcomes, events)


def main() -> None:
    published = run_scenario()
    for step, outcome in published.outcomes:
        print(json.dumps(step.envelope))
        print("  ->", json.dumps(outcome))
    for event in published.events:
        print(json.dumps(event))


if __name__ == "__main__":
    main()
