"""Transfers a risk rule sent to review: held, then approved (posted) or declined.

A rule with `action: review` (payments.domain.risk) that fires on a transfer does not
reject it: the transfer is accepted as `Transfer.HeldForReview` (the rule, its
version and the finding are in the event: the case) and its amount is held on the
source (`Account.HoldPlaced`, keyed by the transfer id). Then, by the `risk` role:

- `approve_review` posts it: the source's hold is captured (`Account.HoldCaptured`,
  posted −a and held −a) and the target credited (`Account.Credited`, reason
  `transfer`), then `Transfer.Approved`. The accounts are checked again as at the
  transfer (open; the source not frozen; balance bounds); the funds were held.
- `decline_review` releases the hold (`Account.HoldReleased`), then
  `Transfer.Declined`; it applies whatever the accounts' state.

A transfer id never used is `review_not_found`; one that was posted without review,
or whose review is decided, `review_closed`.
"""

from __future__ import annotations

from payments.domain.account import Account
from payments.domain.aggregates import Aggregates, account_of
from payments.domain.commands import ApproveReview, DeclineReview, ParsedCommand
from payments.domain.commands import Transfer as TransferCommand
from payments.domain.errors import ReviewNotFound
from payments.domain.ids import posting_id, transfer_id_to_uuid
from payments.domain.risk import Finding
from payments.domain.transfer import Transfer


def hold_for_review(
    uow: Aggregates, p: TransferCommand, source: Account, finding: Finding, who: dict[str, str]
) -> None:
    """The transfer's checks have passed but a review rule fired: hold, open the case."""
    uow.add(
        Transfer.hold_for_review(
            transfer_id=p.transfer_id,
            from_account=p.from_account,
            to_account=p.to_account,
            amount=p.amount,
            currency=p.currency,
            rule_id=finding.rule_id,
            rules_version=finding.rules_version,
            finding=finding.message,
            **who,
        )
    )
    source.place_hold(payment_id=p.transfer_id, amount=p.amount, **who)


def _in_review(uow: Aggregates, transfer_id: str) -> Transfer:
    transfer = uow.get(Transfer, transfer_id_to_uuid(transfer_id))
    if transfer is None:
        raise ReviewNotFound(f"transfer {transfer_id} does not exist")
    transfer.check_in_review()
    return transfer


def approve_review(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, ApproveReview)
    transfer = _in_review(uow, p.transfer_id)
    source = account_of(uow, transfer.from_account, "from_account", must_be_open=True)
    target = account_of(uow, transfer.to_account, "to_account", must_be_open=True)
    source.check_not_frozen("from_account")
    source.check_within_bounds(posted=-transfer.amount, held=-transfer.amount)
    target.check_within_bounds(posted=transfer.amount)

    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    posting = posting_id(cmd.command_id, 0)
    source.capture_hold(
        payment_id=p.transfer_id,
        amount=transfer.amount,
        posting_id=posting,
        counterparty=target.account_id,
        **who,
    )
    target.credit(
        counterparty=source.account_id,
        posting_id=posting,
        amount=transfer.amount,
        currency=transfer.currency,
        reason="transfer",
        reference=p.transfer_id,
        forced=False,
        **who,
    )
    transfer.approve(note=p.note, **who)


def decline_review(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, DeclineReview)
    transfer = _in_review(uow, p.transfer_id)
    source = account_of(uow, transfer.from_account, "from_account", must_be_open=False)
    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    source.release_hold(payment_id=p.transfer_id, amount=transfer.amount, **who)
    transfer.decline(note=p.note, **who)
