"""Command handlers: check every rule, then trigger the events (check-then-act).

Each handler reads aggregates through `Aggregates` (the ledger's batch working set),
runs all guards, and only then mutates. The order of the checks is part of the
behaviour (it decides which code a command that breaks two rules gets):

1. the command's own business id is new (`*_exists`) or known (`*_not_found`)
2. payload-only rules (`same_account`)
3. each named account, in payload order: exists, then open
4. currencies, then account kinds
5. payment state and amounts (an expired authorization: `authorization_expired`),
   then the debited account is not frozen (`account_frozen`), then funds, then the
   risk rules (`risk_blocked`, `velocity_limit_exceeded`; payments.domain.risk; a
   rule that sends a transfer to review holds it instead: payments.domain.review)
6. balance bounds of every account the command posts to (`balance_limit_exceeded`)

A chargeback is a fact (the card network already took the money): it is never
refused for the payer's state. A closed payer is credited all the same, as a forced
posting, so the ledger balances and the money stays with whom it is owed; the
closed account then shows posted ≠ 0 for operations to pay out outside the engine.
"""

from __future__ import annotations

from collections.abc import Callable

from payments.domain import controls, expiry, holder, review, screening
from payments.domain.account import Account
from payments.domain.aggregates import Aggregates, account_of, payment_of
from payments.domain.commands import (
    AuthorizePayment,
    CapturePayment,
    ChargebackPayment,
    CloseAccount,
    OpenAccount,
    ParsedCommand,
    RefundPayment,
    SettleMerchant,
    VoidPayment,
)
from payments.domain.commands import Transfer as TransferCommand
from payments.domain.dispute_handlers import DISPUTE_HANDLERS
from payments.domain.errors import (
    AccountExists,
    BatchExists,
    NothingToSettle,
    PaymentExists,
    SameAccount,
    TransferExists,
)
from payments.domain.ids import (
    account_id_to_uuid,
    batch_id_to_uuid,
    payment_id_to_uuid,
    posting_id,
    transfer_id_to_uuid,
)
from payments.domain.payment import Payment
from payments.domain.risk import decision_time
from payments.domain.settlement import SettlementBatch, SettlementFigures
from payments.domain.transfer import Transfer


def _check_different(first: str, second: str, roles: str) -> None:
    if first == second:
        raise SameAccount(f"{roles} must be different accounts, both are {first}")


def open_account(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, OpenAccount)
    if uow.get(Account, account_id_to_uuid(p.account_id)) is not None:
        raise AccountExists(f"account {p.account_id} already exists")
    uow.add(
        Account.open(
            account_id=p.account_id,
            currency=p.currency,
            kind=p.kind,
            overdraft_limit=p.overdraft_limit,
            command_id=cmd.command_id,
            actor=cmd.actor,
        )
    )


def close_account(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, CloseAccount)
    account = account_of(uow, p.account_id, "account")
    account.check_can_close()
    account.close(command_id=cmd.command_id, actor=cmd.actor)


def transfer(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, TransferCommand)
    if uow.get(Transfer, transfer_id_to_uuid(p.transfer_id)) is not None:
        raise TransferExists(f"transfer {p.transfer_id} already exists")
    _check_different(p.from_account, p.to_account, "from_account and to_account")
    source = account_of(uow, p.from_account, "from_account")
    target = account_of(uow, p.to_account, "to_account")
    source.check_currency(p.currency)
    target.check_currency(p.currency)
    source.check_not_frozen("from_account")
    source.check_can_debit(p.amount)
    finding = controls.check_risk(uow, source, p.amount, may_review=True)
    source.check_within_bounds(posted=-p.amount, held=p.amount if finding else 0)
    target.check_within_bounds(posted=p.amount)

    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    if finding is not None:  # a review rule fired: held, not posted (payments.domain.review)
        review.hold_for_review(uow, p, source, finding, who)
        return
    uow.add(
        Transfer.record(
            transfer_id=p.transfer_id,
            from_account=p.from_account,
            to_account=p.to_account,
            amount=p.amount,
            currency=p.currency,
            **who,
        )
    )
    posting = posting_id(cmd.command_id, 0)
    _post(source, target, p.amount, "transfer", p.transfer_id, False, posting, who)


def authorize_payment(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, AuthorizePayment)
    if uow.get(Payment, payment_id_to_uuid(p.payment_id)) is not None:
        raise PaymentExists(f"payment {p.payment_id} already exists")
    _check_different(p.payer_account, p.merchant_account, "payer_account and merchant_account")
    payer = account_of(uow, p.payer_account, "payer_account")
    merchant = account_of(uow, p.merchant_account, "merchant_account")
    payer.check_currency(p.currency)
    merchant.check_currency(p.currency)
    payer.check_kind(("customer", "external"), "payer_account")
    merchant.check_kind(("merchant",), "merchant_account")
    payer.check_not_frozen("payer_account")
    payer.check_can_debit(p.amount)
    controls.check_risk(uow, payer, p.amount)
    payer.check_within_bounds(held=p.amount)

    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    expires_at = expiry.expires_at(decision_time(), p.expires_in_seconds)
    uow.add(
        Payment.authorize(
            payment_id=p.payment_id,
            payer_account=p.payer_account,
            merchant_account=p.merchant_account,
            amount=p.amount,
            currency=p.currency,
            expires_at=expires_at,
            **who,
        )
    )
    payer.place_hold(payment_id=p.payment_id, amount=p.amount, **who)
    if expires_at is not None:
        expiry.note_expiry(uow, p.payment_id, expires_at, who)


def capture_payment(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, CapturePayment)
    payment = payment_of(uow, p.payment_id)
    amount = payment.check_capturable(p.amount, decision_time())
    payer = account_of(uow, payment.payer_account, "payer_account")
    merchant = account_of(uow, payment.merchant_account, "merchant_account")
    payer.check_not_frozen("payer_account")
    payer.check_within_bounds(posted=-amount, held=-amount)
    merchant.check_within_bounds(posted=amount, unsettled=amount)

    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    posting = posting_id(cmd.command_id, 0)
    payment.capture(amount=amount, **who)
    payer.capture_hold(
        payment_id=p.payment_id,
        amount=amount,
        posting_id=posting,
        counterparty=payment.merchant_account,
        **who,
    )
    merchant.credit(
        posting_id=posting,
        amount=amount,
        currency=payment.currency,
        counterparty=payment.payer_account,
        reason="capture",
        reference=p.payment_id,
        forced=False,
        **who,
    )


def void_payment(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, VoidPayment)
    payment = payment_of(uow, p.payment_id)
    amount = payment.check_voidable()
    payer = account_of(uow, payment.payer_account, "payer_account")

    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    payment.void(amount=amount, **who)
    payer.release_hold(payment_id=p.payment_id, amount=amount, **who)


def refund_payment(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, RefundPayment)
    payment = payment_of(uow, p.payment_id)
    payment.check_reversible(p.amount, "refund")
    merchant = account_of(uow, payment.merchant_account, "merchant_account")
    payer = account_of(uow, payment.payer_account, "payer_account")
    merchant.check_not_frozen("merchant_account")
    merchant.check_can_debit(p.amount, refund=True)
    merchant.check_within_bounds(posted=-p.amount, unsettled=p.amount)
    payer.check_within_bounds(posted=p.amount)

    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    payment.refund(amount=p.amount, **who)
    _post(
        merchant, payer, p.amount, "refund", p.payment_id, False, posting_id(cmd.command_id, 0), who
    )


def chargeback_payment(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, ChargebackPayment)
    payment = payment_of(uow, p.payment_id)
    payment.check_reversible(p.amount, "charge back")
    merchant = account_of(uow, payment.merchant_account, "merchant_account")
    payer = account_of(uow, payment.payer_account, "payer_account", must_be_open=False)
    # No check_open: a closed payer is credited anyway (see the module docstring).
    merchant.check_within_bounds(posted=-p.amount, unsettled=p.amount)
    payer.check_within_bounds(posted=p.amount)

    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    payment.charge_back(amount=p.amount, reason=p.reason, **who)
    # Forced: a chargeback applies even when it takes the merchant below its limit,
    # and even to a closed payer.
    _post(
        merchant,
        payer,
        p.amount,
        "chargeback",
        p.payment_id,
        True,
        posting_id(cmd.command_id, 0),
        who,
    )


def settle_merchant(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, SettleMerchant)
    if uow.get(SettlementBatch, batch_id_to_uuid(p.batch_id)) is not None:
        raise BatchExists(f"batch {p.batch_id} already exists")
    merchant = account_of(uow, p.merchant_account, "merchant_account")
    payout = account_of(uow, p.payout_account, "payout_account")
    fees_account = account_of(uow, p.fees_account, "fees_account")
    payout.check_currency(merchant.currency)
    fees_account.check_currency(merchant.currency)
    merchant.check_kind(("merchant",), "merchant_account")
    payout.check_kind(("external",), "payout_account")
    fees_account.check_kind(("fees",), "fees_account")
    if merchant.unsettled_count == 0:
        raise NothingToSettle(f"merchant {p.merchant_account} has nothing unsettled")

    figures = SettlementFigures.compute(
        gross=merchant.unsettled_gross,
        refunds=merchant.unsettled_refunds,
        chargebacks=merchant.unsettled_chargebacks,
        item_count=merchant.unsettled_count,
        fee_bps=p.fee_bps,
        available=merchant.available,
        disputes=merchant.unsettled_disputes,
        reinstatements=merchant.unsettled_reinstatements,
    )
    payout_amount = figures.payout
    merchant.check_within_bounds(posted=-(figures.fees + payout_amount))
    fees_account.check_within_bounds(posted=figures.fees)
    payout.check_within_bounds(posted=payout_amount)
    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    uow.add(
        SettlementBatch.create(
            batch_id=p.batch_id,
            merchant_account=p.merchant_account,
            payout_account=p.payout_account,
            fees_account=p.fees_account,
            currency=merchant.currency,
            fee_bps=p.fee_bps,
            figures=figures,
            **who,
        )
    )
    # Forced: settlement postings apply whatever the merchant's limit. The payout is
    # never more than the merchant holds (SettlementFigures recovers its deficit first).
    if figures.fees > 0:
        fee_posting = posting_id(cmd.command_id, 0)
        _post(
            merchant,
            fees_account,
            figures.fees,
            "settlement_fee",
            p.batch_id,
            True,
            fee_posting,
            who,
        )
    if payout_amount > 0:
        payout_posting = posting_id(cmd.command_id, 1)
        _post(
            merchant,
            payout,
            payout_amount,
            "settlement_payout",
            p.batch_id,
            True,
            payout_posting,
            who,
        )
    merchant.settle(
        batch_id=p.batch_id,
        fees=figures.fees,
        net=figures.net,
        deficit_carried_in=figures.deficit_carried_in,
        deficit_carried_out=figures.deficit_carried_out,
        **who,
    )


def _post(
    debited: Account,
    credited: Account,
    amount: int,
    reason: str,
    reference: str,
    forced: bool,
    posting: str,
    who: dict[str, str],
) -> None:
    """One posting: a debit and a credit with the same posting id (Σ posted stays 0)."""
    common = {
        "posting_id": posting,
        "amount": amount,
        "currency": debited.currency,
        "reason": reason,
        "reference": reference,
        "forced": forced,
        **who,
    }
    debited.debit(counterparty=credited.account_id, **common)
    credited.credit(counterparty=debited.account_id, **common)


HANDLERS: dict[str, Callable[[ParsedCommand, Aggregates], None]] = {
    "open_account": open_account,
    "close_account": close_account,
    "transfer": transfer,
    "authorize_payment": authorize_payment,
    "capture_payment": capture_payment,
    "void_payment": void_payment,
    "refund_payment": refund_payment,
    "chargeback_payment": chargeback_payment,
    "settle_merchant": settle_merchant,
    **DISPUTE_HANDLERS,
    "freeze_account": controls.freeze_account,
    "unfreeze_account": controls.unfreeze_account,
    "set_kyc_tier": controls.set_kyc_tier,
    "set_risk_rules": controls.set_risk_rules,
    "expire_authorizations": expiry.expire_authorizations,
    "approve_review": review.approve_review,
    "decline_review": review.decline_review,
    "request_screening": screening.request_screening,
    "record_screening_result": screening.record_screening_result,
    "escalate_screening": screening.escalate_screening,
    "resolve_screening": screening.resolve_screening,
    "register_holder": holder.register_holder,
    "register_holder_sealed": holder.register_holder_sealed,
    "erase_holder": holder.erase_holder,
}
