"""Handlers of the risk and compliance commands, and the risk check of voluntary debits.

- `freeze_account` / `unfreeze_account` (reason, case reference): a frozen account
  refuses voluntary debits and holds (`account_frozen`); credits, releases and forced
  postings (chargebacks, settlements) still apply. Freezing a frozen account is
  `account_frozen`, unfreezing an open one `account_not_frozen`.
- `set_kyc_tier`: the tier the risk rules' maximums read (0 until set).
- `set_risk_rules`: the next version of the rule set (payments.domain.risk).

`check_risk` is what the transfer and payment handlers call for a voluntary debit,
after the funds check: the policy (`None` while no rules were ever set; cached like
accounts) and the account's own counters. It raises a blocking rule's rejection; a
review rule's finding is returned to a transfer (held for review,
payments.domain.review) and raised for an authorization.
"""

from __future__ import annotations

from payments.domain.account import Account
from payments.domain.aggregates import Aggregates, account_of
from payments.domain.commands import (
    FreezeAccount,
    ParsedCommand,
    SetKycTier,
    SetRiskRules,
    UnfreezeAccount,
)
from payments.domain.risk import (
    RISK_POLICY_ID,
    Finding,
    RiskPolicy,
    check_new_version,
    decision_time,
)


def freeze_account(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, FreezeAccount)
    account = account_of(uow, p.account_id)
    account.check_can_freeze()
    account.freeze(reason=p.reason, case_ref=p.case_ref, command_id=cmd.command_id, actor=cmd.actor)


def unfreeze_account(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, UnfreezeAccount)
    account = account_of(uow, p.account_id)
    account.check_can_unfreeze()
    account.unfreeze(
        reason=p.reason, case_ref=p.case_ref, command_id=cmd.command_id, actor=cmd.actor
    )


def set_kyc_tier(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, SetKycTier)
    account = account_of(uow, p.account_id)
    account.set_tier(tier=p.tier, reason=p.reason, command_id=cmd.command_id, actor=cmd.actor)


def set_risk_rules(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, SetRiskRules)
    policy = uow.get(RiskPolicy, RISK_POLICY_ID)
    check_new_version(policy, p)
    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    if policy is None:
        uow.add(RiskPolicy.define(rules=p, **who))
    else:
        policy.change(rules=p, **who)


def check_risk(
    uow: Aggregates, account: Account, amount: int, *, may_review: bool = False
) -> Finding | None:
    """The current risk rules on one voluntary debit (nothing while none are set): the
    finding of a review rule when the command `may_review`, else its rejection."""
    policy = uow.get(RiskPolicy, RISK_POLICY_ID)
    finding = None if policy is None else policy.check_debit(account, amount, decision_time())
    if finding is not None and not may_review:
        raise finding.rejection(finding.message)
    return finding
