"""Handlers of the dispute commands (payments.domain.dispute): check, then act.

The order of the checks, as in payments.domain.handlers: the dispute's own id
(`dispute_exists` / `dispute_not_found`), payload-only rules (`card_data_in_evidence`),
the payment and each named account (exists, open, currency, kind), the dispute's
state and amounts, the two-person rule, balance bounds.

Money (all postings forced: a dispute is the network's fact, like a chargeback):

- open: merchant → disputes account, the amount (reason `dispute`); merchant → fees
  account, the fee if the pricing has one (`dispute_fee`)
- won: disputes account → merchant, the amount (`dispute_reinstatement`); fees account
  → merchant, the fee if the pricing refunds it (`dispute_fee_refund`)
- lost (approved, accepted or expired): disputes account → payer, the amount
  (`dispute_lost`); a closed payer is credited all the same, as for a chargeback

Evidence is refused after its due date by the engine's clock at the time the command
is decided (`clock`; the decision is stored and never taken again). The expiry sweep
reads no clock: it loses what is due at its `as_of` (payments.domain.sweeps).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from payments.domain.account import Account
from payments.domain.aggregates import Aggregates, account_of, payment_of
from payments.domain.commands import (
    AcceptDispute,
    ApproveDisputeResolution,
    OpenDispute,
    ParsedCommand,
    ProposeDisputeResolution,
    SubmitDisputeEvidence,
    Sweep,
)
from payments.domain.dispute import Dispute, DisputeCalendar
from payments.domain.errors import (
    CardDataInEvidence,
    DisputeExists,
    DisputeNotFound,
)
from payments.domain.ids import (
    DISPUTE_CALENDAR_ID,
    dispute_id_to_uuid,
    payment_id_to_uuid,
    posting_id,
)
from payments.domain.payment import Payment
from payments.domain.sweeps import check_as_of

# 13-19 digits, optionally split by spaces or dashes: what a card number looks like.
_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


def clock() -> datetime:
    """The engine's clock, for the evidence due date (replaced in tests)."""
    return datetime.now(UTC)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def check_no_card_data(*texts: str) -> None:
    """No card number (13-19 digits passing the Luhn check) in evidence (PCI DSS)."""
    for text in texts:
        for match in _DIGIT_RUN.finditer(text):
            digits = re.sub(r"[ -]", "", match.group())
            if luhn_valid(digits):
                raise CardDataInEvidence(
                    f"evidence holds what looks like a card number (…{digits[-4:]}); "
                    "refer to the payment, never send card data"
                )


def _dispute(uow: Aggregates, dispute_id: str) -> Dispute:
    dispute = uow.get(Dispute, dispute_id_to_uuid(dispute_id))
    if dispute is None:
        raise DisputeNotFound(f"dispute {dispute_id} does not exist")
    return dispute


def _post(
    debited: Account,
    credited: Account,
    amount: int,
    reason: str,
    reference: str,
    posting: str,
    who: dict[str, str],
) -> None:
    """One forced posting: a debit and a credit with the same posting id."""
    common = {"posting_id": posting, "amount": amount, "currency": debited.currency,
              "reason": reason, "reference": reference, "forced": True, **who}  # fmt: skip
    debited.debit(counterparty=credited.account_id, **common)
    credited.credit(counterparty=debited.account_id, **common)


def open_dispute(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, OpenDispute)
    if uow.get(Dispute, dispute_id_to_uuid(p.dispute_id)) is not None:
        raise DisputeExists(f"dispute {p.dispute_id} already exists")
    payment = payment_of(uow, p.payment_id)
    merchant = account_of(uow, payment.merchant_account, "merchant_account")
    disputes = account_of(uow, p.disputes_account, "disputes_account")
    fees = account_of(uow, p.fees_account, "fees_account") if p.fees_account else None
    account_of(uow, payment.payer_account, "payer_account", must_be_open=False)
    disputes.check_currency(payment.currency)
    disputes.check_kind(("external",), "disputes_account")
    if fees is not None:
        fees.check_currency(payment.currency)
        fees.check_kind(("fees",), "fees_account")
    payment.check_reversible(p.amount, "dispute")
    merchant.check_within_bounds(posted=-(p.amount + p.fee), unsettled=p.amount + p.fee)
    disputes.check_within_bounds(posted=p.amount)
    if fees is not None:
        fees.check_within_bounds(posted=p.fee)

    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    uow.add(
        Dispute.open(
            dispute_id=p.dispute_id,
            payment_id=p.payment_id,
            merchant_account=payment.merchant_account,
            payer_account=payment.payer_account,
            disputes_account=p.disputes_account,
            fees_account=p.fees_account or "",
            currency=payment.currency,
            amount=p.amount,
            fee=p.fee,
            fee_refunded_if_won=p.fee_refunded_if_won,
            reason_code=p.reason_code,
            network=p.network,
            evidence_due_by=p.evidence_due_by,
            **who,
        )
    )
    payment.dispute(dispute_id=p.dispute_id, amount=p.amount, **who)
    _post(merchant, disputes, p.amount, "dispute", p.payment_id,
          posting_id(cmd.command_id, 0), who)  # fmt: skip
    if fees is not None and p.fee > 0:
        _post(merchant, fees, p.fee, "dispute_fee", p.payment_id,
              posting_id(cmd.command_id, 1), who)  # fmt: skip
    calendar = uow.get(DisputeCalendar, DISPUTE_CALENDAR_ID)
    if calendar is None:
        calendar = DisputeCalendar.start(**who)
        uow.add(calendar)
    calendar.schedule(dispute_id=p.dispute_id, evidence_due_by=p.evidence_due_by, **who)


def submit_dispute_evidence(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, SubmitDisputeEvidence)
    dispute = _dispute(uow, p.dispute_id)
    check_no_card_data(p.text, *p.documents)
    dispute.check_can_take_evidence(clock())
    dispute.submit_evidence(
        text=p.text, documents=" ".join(p.documents), command_id=cmd.command_id, actor=cmd.actor
    )


def accept_dispute(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, AcceptDispute)
    dispute = _dispute(uow, p.dispute_id)
    dispute.check_undecided("accept it")
    _lose(uow, dispute, "accepted", cmd, 0)


def propose_dispute_resolution(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, ProposeDisputeResolution)
    dispute = _dispute(uow, p.dispute_id)
    dispute.check_can_propose()
    dispute.propose(outcome=p.outcome, note=p.note, command_id=cmd.command_id, actor=cmd.actor)


def approve_dispute_resolution(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, ApproveDisputeResolution)
    dispute = _dispute(uow, p.dispute_id)
    dispute.check_can_approve(p.outcome, cmd.actor)
    if p.outcome == "lost":
        _lose(uow, dispute, "approved", cmd, 0)
        return
    payment = uow.get(Payment, payment_id_to_uuid(dispute.payment_id))
    assert payment is not None  # a dispute is opened on a stored payment
    disputes = account_of(uow, dispute.disputes_account, "disputes_account", must_be_open=False)
    # Not check_open: money owed to a closed merchant is credited all the same.
    merchant = account_of(uow, dispute.merchant_account, "merchant_account", must_be_open=False)
    fees = (
        account_of(uow, dispute.fees_account, "fees_account", must_be_open=False)
        if (dispute.fee_refund)
        else None
    )
    merchant.check_within_bounds(
        posted=dispute.amount + dispute.fee_refund, unsettled=dispute.amount + dispute.fee_refund
    )
    disputes.check_within_bounds(posted=-dispute.amount)

    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    payment.win_dispute(dispute_id=dispute.dispute_id, amount=dispute.amount, **who)
    _post(disputes, merchant, dispute.amount, "dispute_reinstatement", dispute.payment_id,
          posting_id(cmd.command_id, 0), who)  # fmt: skip
    if fees is not None:
        _post(fees, merchant, dispute.fee_refund, "dispute_fee_refund", dispute.payment_id,
              posting_id(cmd.command_id, 1), who)  # fmt: skip
    dispute.win(**who)


def expire_disputes(cmd: ParsedCommand, uow: Aggregates) -> None:
    """Sweep: every dispute still needing a response at `as_of`'s due dates is lost."""
    p = cmd.payload
    assert isinstance(p, Sweep)
    check_as_of(p.as_of)
    calendar = uow.get(DisputeCalendar, DISPUTE_CALENDAR_ID)
    if calendar is None:
        return
    due = calendar.due_by(p.as_of)
    if not due:
        return
    disputes = [_dispute(uow, dispute_id) for dispute_id in due]
    expired = [d for d in disputes if d.is_expired(p.as_of)]
    for dispute in expired:  # every guard before the first event (check-then-act)
        _check_can_lose(uow, dispute)
    for index, dispute in enumerate(expired):
        _lose(uow, dispute, "expired", cmd, index)
    calendar.sweep(as_of=p.as_of, dispute_ids=due, command_id=cmd.command_id, actor=cmd.actor)


def _check_can_lose(uow: Aggregates, dispute: Dispute) -> tuple[Account, Account]:
    disputes = account_of(uow, dispute.disputes_account, "disputes_account", must_be_open=False)
    # A closed payer is credited anyway, as for a chargeback (payments.domain.handlers).
    payer = account_of(uow, dispute.payer_account, "payer_account", must_be_open=False)
    disputes.check_within_bounds(posted=-dispute.amount)
    payer.check_within_bounds(posted=dispute.amount)
    return disputes, payer


def _lose(uow: Aggregates, dispute: Dispute, cause: str, cmd: ParsedCommand, index: int) -> None:
    disputes, payer = _check_can_lose(uow, dispute)
    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    _post(disputes, payer, dispute.amount, "dispute_lost", dispute.payment_id,
          posting_id(cmd.command_id, index), who)  # fmt: skip
    dispute.lose(cause=cause, **who)


DISPUTE_HANDLERS: dict[str, Callable[[ParsedCommand, Aggregates], None]] = {
    "open_dispute": open_dispute,
    "submit_dispute_evidence": submit_dispute_evidence,
    "accept_dispute": accept_dispute,
    "propose_dispute_resolution": propose_dispute_resolution,
    "approve_dispute_resolution": approve_dispute_resolution,
    "expire_disputes": expire_disputes,
}
