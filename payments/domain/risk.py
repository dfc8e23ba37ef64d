"""Risk rules inside the decision: versioned, set by command, checked on voluntary debits.

`set_risk_rules` replaces the whole rule set with version n + 1 (`risk_rules_conflict`
otherwise), so the audit log says who set which limits when. A voluntary debit of an
account (a transfer's source, an authorization's payer) is checked against the
current version in a fixed order, first match wins (Stripe Radar style):

1. cooling-off: an account opened less than `seconds` ago may debit at most
   `max_amount` per command (0: nothing) → `risk_blocked`
2. maximums: one command's amount above `max_amount` for the account's kind and KYC
   tier → `risk_blocked`
3. velocity: the count or the sum of the account's voluntary debits and holds in the
   last `window_seconds` (whole minutes, this one included) above `max_count` /
   `max_sum` → `velocity_limit_exceeded`

A rule whose `action` is `review` does not reject: the first rule that fires decides,
and if it is a review rule a transfer is held for review instead of posted
(payments.domain.review); an authorization, whose money is held anyway, is refused by
it as by a blocking rule.

A rule names the account kinds and the currency it applies to. The rejection's
message (stored in the command's `CommandRecord.Decided`) names the rule, the
version and the inputs it fired on, so a decision can be re-checked by hand.

Time is the decision's time (`decision_time`: the clock every event of the decision
is stamped with), against times stored in events (the account's `Opened`, the
velocity buckets folded from its debits), so reloading the aggregates from the
store gives the same state. No rules stored (the default): nothing is checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from payments.domain.account import Account, minute_of
from payments.domain.commands import SetRiskRules
from payments.domain.errors import (
    Rejection,
    RiskBlocked,
    RiskRulesConflict,
    VelocityLimitExceeded,
)
from payments.domain.ids import PAYMENTS_NAMESPACE

RISK_POLICY_ID: UUID = uuid5(PAYMENTS_NAMESPACE, "risk_policy:current")


def decision_time() -> datetime:
    """The moment of the decision: the clock the decision's events are stamped with."""
    return Aggregate.Event.create_timestamp()


class RiskPolicy(Aggregate):
    """The one current rule set; `rules` is the canonical JSON of a `SetRiskRules`."""

    class Event(Aggregate.Event):
        command_id: str
        actor: str

    class Defined(Aggregate.Created):
        command_id: str
        actor: str
        version: int
        rules: str

    def __init__(self, command_id: str, actor: str, version: int, rules: str) -> None:
        self._adopt(version, rules)

    def _adopt(self, version: int, rules: str) -> None:
        self.rules_version = version
        self.rules_json = rules  # plain text: a snapshot stores it as is

    @property
    def rules(self) -> SetRiskRules:
        return _parsed(self.rules_json)

    @classmethod
    def define(cls, *, rules: SetRiskRules, command_id: str, actor: str) -> RiskPolicy:
        return cls._create(
            cls.Defined,
            id=RISK_POLICY_ID,
            command_id=command_id,
            actor=actor,
            version=rules.version,
            rules=_canonical(rules),
        )

    def change(self, *, rules: SetRiskRules, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Changed,
            command_id=command_id,
            actor=actor,
            version=rules.version,
            rules=_canonical(rules),
        )

    class Changed(Event):
        version: int
        rules: str

        def apply(self, policy: RiskPolicy) -> None:
            policy._adopt(self.version, self.rules)

    # --- the checks -----------------------------------------------------------------

    def check_debit(self, account: Account, amount: int, now: datetime) -> Finding | None:
        """The first rule this debit breaks: raised when it blocks, returned when it
        sends the command to review; None when no rule fires."""
        rules, version = self.rules, self.rules_version
        applies = account.kind, account.currency
        for cooling in rules.cooling_off:
            if not _covers(cooling, applies):
                continue
            age = int((now - account.created_on).total_seconds())
            if age < cooling.seconds and amount > cooling.max_amount:
                return _fired(
                    cooling.action,
                    RiskBlocked,
                    cooling.rule_id,
                    version,
                    f"rule {cooling.rule_id} (risk rules v{version}, cooling_off): account "
                    f"{account.account_id} opened {age} s ago (< {cooling.seconds} s) may "
                    f"debit at most {cooling.max_amount} per command; got {amount}",
                )
        for maximum in rules.maximums:
            if not _covers(maximum, applies):
                continue
            if maximum.kyc_tiers and account.kyc_tier not in maximum.kyc_tiers:
                continue
            if amount > maximum.max_amount:
                return _fired(
                    maximum.action,
                    RiskBlocked,
                    maximum.rule_id,
                    version,
                    f"rule {maximum.rule_id} (risk rules v{version}, maximum): a {account.kind} "
                    f"account of KYC tier {account.kyc_tier} may debit at most "
                    f"{maximum.max_amount} {account.currency} per command; got {amount}",
                )
        for velocity in rules.velocity:
            if not _covers(velocity, applies):
                continue
            minutes = velocity.window_seconds // 60
            count, total = account.debits_since(minute_of(now) - minutes + 1)
            over_count = velocity.max_count is not None and count + 1 > velocity.max_count
            over_sum = velocity.max_sum is not None and total + amount > velocity.max_sum
            if over_count or over_sum:
                return _fired(
                    velocity.action,
                    VelocityLimitExceeded,
                    velocity.rule_id,
                    version,
                    f"rule {velocity.rule_id} (risk rules v{version}, velocity): account "
                    f"{account.account_id} has {count} debits totalling {total} in the last "
                    f"{velocity.window_seconds} s; this {amount} makes {count + 1} / "
                    f"{total + amount} (max_count {velocity.max_count}, "
                    f"max_sum {velocity.max_sum})",
                )
        return None


@dataclass(frozen=True)
class Finding:
    """A rule with action `review` fired: which one, of which version, on what inputs."""

    rule_id: str
    rules_version: int
    message: str
    rejection: type[Rejection]  # what a command that cannot be held is refused with


def _fired(
    action: str, blocks: type[Rejection], rule_id: str, version: int, message: str
) -> Finding:
    if action == "review":
        return Finding(rule_id, version, message, blocks)
    raise blocks(message)


def _covers(rule: Any, applies: tuple[str, str]) -> bool:
    kind, currency = applies
    return kind in rule.kinds and currency == rule.currency


@lru_cache(maxsize=16)
def _parsed(rules: str) -> SetRiskRules:
    return SetRiskRules.model_validate(json.loads(rules))


def _canonical(rules: SetRiskRules) -> str:
    return json.dumps(rules.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def check_new_version(policy: RiskPolicy | None, rules: SetRiskRules) -> None:
    current = 0 if policy is None else policy.rules_version
    if rules.version != current + 1:
        raise RiskRulesConflict(
            f"version: the current risk rules are v{current}; a change must be v{current + 1}, "
            f"got v{rules.version}"
        )
