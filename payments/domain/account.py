"""Account: balances (posted, held, available), limits, holds and unsettled items.

posted is credits minus debits, held the sum of open holds, available = posted − held.
A merchant account keeps running totals of its unsettled items (capture credits,
refund and chargeback debits, dispute withdrawals and fees, dispute reinstatements
and fee refunds since its last `Settled`), so settling a merchant reads
one aggregate; `reserved` = max(0, unsettled net) is what its next settlement takes.

A voluntary debit (or hold) of a non-external account must leave
available − reserved ≥ −overdraft_limit, reserved counted after the debit (a refund
lowers the unsettled net it is paid from). So captured money not yet settled cannot
leave by a transfer and then be paid out again by the settlement. Forced postings
(chargebacks, settlement) skip that rule.

Every posting must keep |posted|, held and each unsettled total within MAX_BALANCE
(`balance_limit_exceeded`), forced or not: 10^15 = 1000 × MAX_AMOUNT, below 2^53 (so a
balance is exact as a JSON number even in a double) and far below the projection's
bigint columns (9.2 × 10^18), which also hold available = posted − held and net.

A frozen account (`freeze_account`, payments.domain.controls) refuses voluntary
debits and holds (`account_frozen`) but still receives credits and forced postings.
Each voluntary debit and hold also counts in `velocity`, per-minute buckets
[minute, count, sum] of the last `VELOCITY_MINUTES` minutes by the events' stored
timestamps, so the risk rules (payments.domain.risk) read it without a query and a
replay folds the same buckets. Attributes added after accounts were first stored
have class defaults, so an older snapshot loads with them.

Guards are `check_…` methods; the mutators after them only record facts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from payments.domain.errors import (
    AccountClosed,
    AccountFrozen,
    AccountNotEmpty,
    AccountNotFrozen,
    BalanceLimitExceeded,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAccountKind,
)
from payments.domain.ids import account_id_to_uuid

ACCOUNT_KINDS = ("customer", "merchant", "external", "fees")
MAX_BALANCE = 10**15  # minor units; see the module docstring
# Merchant postings of disputes (payments.domain.dispute) that are settlement items.
DISPUTE_WITHDRAWALS = frozenset({"dispute", "dispute_fee"})
DISPUTE_REINSTATEMENTS = frozenset({"dispute_reinstatement", "dispute_fee_refund"})
VELOCITY_MINUTES = 24 * 60  # the longest velocity window a rule may have


class Account(Aggregate):
    UNLIMITED_KINDS: ClassVar[frozenset[str]] = frozenset({"external"})
    # Class defaults: accounts snapshotted before disputes load with them.
    unsettled_disputes: int = 0
    unsettled_reinstatements: int = 0
    # Class defaults: snapshots stored before these existed load without them.
    frozen: bool = False
    freeze_case: str = ""
    kyc_tier: int = 0
    velocity: ClassVar[list[list[int]]] = []  # copied to the instance at its first debit

    class Event(Aggregate.Event):
        command_id: str
        actor: str

    class Opened(Aggregate.Created):
        command_id: str
        actor: str
        account_id: str
        currency: str
        kind: str
        overdraft_limit: int

    def __init__(
        self,
        command_id: str,
        actor: str,
        account_id: str,
        currency: str,
        kind: str,
        overdraft_limit: int,
    ) -> None:
        self.account_id = account_id
        self.currency = currency
        self.kind = kind
        self.overdraft_limit = overdraft_limit
        self.posted = 0
        self.held = 0
        self.closed = False
        self.unsettled_gross = 0
        self.unsettled_refunds = 0
        self.unsettled_chargebacks = 0
        self.unsettled_disputes = 0
        self.unsettled_reinstatements = 0
        self.unsettled_count = 0

    @classmethod
    def open(
        cls,
        *,
        account_id: str,
        currency: str,
        kind: str,
        overdraft_limit: int,
        command_id: str,
        actor: str,
    ) -> Account:
        return cls._create(
            cls.Opened,
            id=account_id_to_uuid(account_id),
            command_id=command_id,
            actor=actor,
            account_id=account_id,
            currency=currency,
            kind=kind,
            overdraft_limit=overdraft_limit,
        )

    # --- derived values -------------------------------------------------------------

    @property
    def available(self) -> int:
        return self.posted - self.held

    @property
    def unsettled_net(self) -> int:
        return (
            self.unsettled_gross
            - self.unsettled_refunds
            - self.unsettled_chargebacks
            - self.unsettled_disputes
            + self.unsettled_reinstatements
        )

    @property
    def reserved(self) -> int:
        """What the next settlement takes from this account (0 for non-merchants)."""
        return max(0, self.unsettled_net)

    @property
    def status(self) -> str:
        return "closed" if self.closed else "open"

    # --- guards ---------------------------------------------------------------------

    def check_open(self) -> None:
        if self.closed:
            raise AccountClosed(f"account {self.account_id} is closed")

    def check_currency(self, currency: str) -> None:
        if self.currency != currency:
            raise CurrencyMismatch(
                f"account {self.account_id} holds {self.currency}, not {currency}"
            )

    def check_kind(self, allowed: tuple[str, ...], role: str) -> None:
        if self.kind not in allowed:
            raise InvalidAccountKind(
                f"{role} {self.account_id} is a {self.kind} account; "
                f"expected {' or '.join(allowed)}"
            )

    def check_can_debit(self, amount: int, *, refund: bool = False) -> None:
        """A voluntary debit (or hold) must keep available − reserved ≥ −overdraft_limit.

        `reserved` is counted after the debit: a refund lowers the unsettled net.
        """
        if self.kind in self.UNLIMITED_KINDS:
            return
        reserved = max(0, self.unsettled_net - amount) if refund else self.reserved
        if self.available - reserved - amount < -self.overdraft_limit:
            unsettled = f", {reserved} of it unsettled" if reserved else ""
            raise InsufficientFunds(
                f"account {self.account_id} has {self.available} available{unsettled} "
                f"(overdraft limit {self.overdraft_limit}); cannot debit {amount}"
            )

    def check_within_bounds(self, *, posted: int = 0, held: int = 0, unsettled: int = 0) -> None:
        """The balances after a change stay within ±MAX_BALANCE (the columns' bound)."""
        after = (
            abs(self.posted + posted),
            self.held + held,
            unsettled
            + max(
                self.unsettled_gross,
                self.unsettled_refunds,
                self.unsettled_chargebacks,
                self.unsettled_disputes,
                self.unsettled_reinstatements,
            ),
        )
        if max(after) > MAX_BALANCE:
            raise BalanceLimitExceeded(
                f"account {self.account_id} would reach posted {self.posted + posted}, "
                f"held {self.held + held}; balances are bounded by ±{MAX_BALANCE}"
            )

    def check_not_frozen(self, role: str = "account") -> None:
        if self.frozen:
            raise AccountFrozen(
                f"{role} {self.account_id} is frozen (case {self.freeze_case}); "
                "it receives money but sends none"
            )

    def check_can_freeze(self) -> None:
        if self.frozen:
            raise AccountFrozen(f"account {self.account_id} is already frozen")

    def check_can_unfreeze(self) -> None:
        if not self.frozen:
            raise AccountNotFrozen(f"account {self.account_id} is not frozen")

    def debits_since(self, minute: int) -> tuple[int, int]:
        """(count, sum) of the voluntary debits and holds in minutes ≥ `minute`."""
        count = total = 0
        for at, n, amount in reversed(self.velocity):
            if at < minute:
                break
            count += n
            total += amount
        return count, total

    def check_can_close(self) -> None:
        if self.posted != 0 or self.held != 0:
            raise AccountNotEmpty(
                f"account {self.account_id} has posted {self.posted} and held {self.held}; "
                "both must be 0 to close it"
            )

    # --- mutators (facts; the guards ran before) --------------------------------------

    def close(self, *, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Closed, command_id=command_id, actor=actor, account_id=self.account_id
        )

    def freeze(self, *, reason: str, case_ref: str, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Frozen,
            command_id=command_id,
            actor=actor,
            account_id=self.account_id,
            reason=reason,
            case_ref=case_ref,
        )

    def unfreeze(self, *, reason: str, case_ref: str, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Unfrozen,
            command_id=command_id,
            actor=actor,
            account_id=self.account_id,
            reason=reason,
            case_ref=case_ref,
        )

    def set_tier(self, *, tier: int, reason: str, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.TierSet,
            command_id=command_id,
            actor=actor,
            account_id=self.account_id,
            tier=tier,
            reason=reason,
        )

    def debit(self, **posting: Any) -> None:
        self.trigger_event(self.Debited, account_id=self.account_id, **posting)

    def credit(self, **posting: Any) -> None:
        self.trigger_event(self.Credited, account_id=self.account_id, **posting)

    def place_hold(self, *, payment_id: str, amount: int, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.HoldPlaced,
            command_id=command_id,
            actor=actor,
            account_id=self.account_id,
            payment_id=payment_id,
            amount=amount,
        )

    def release_hold(self, *, payment_id: str, amount: int, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.HoldReleased,
            command_id=command_id,
            actor=actor,
            account_id=self.account_id,
            payment_id=payment_id,
            amount=amount,
        )

    def capture_hold(
        self,
        *,
        payment_id: str,
        amount: int,
        posting_id: str,
        counterparty: str,
        command_id: str,
        actor: str,
    ) -> None:
        self.trigger_event(
            self.HoldCaptured,
            command_id=command_id,
            actor=actor,
            account_id=self.account_id,
            payment_id=payment_id,
            amount=amount,
            posting_id=posting_id,
            counterparty=counterparty,
        )

    def settle(
        self,
        *,
        batch_id: str,
        fees: int,
        net: int,
        deficit_carried_in: int,
        deficit_carried_out: int,
        command_id: str,
        actor: str,
    ) -> None:
        self.trigger_event(
            self.Settled,
            command_id=command_id,
            actor=actor,
            account_id=self.account_id,
            batch_id=batch_id,
            gross=self.unsettled_gross,
            refunds=self.unsettled_refunds,
            chargebacks=self.unsettled_chargebacks,
            disputes=self.unsettled_disputes,
            reinstatements=self.unsettled_reinstatements,
            fees=fees,
            net=net,
            item_count=self.unsettled_count,
            deficit_carried_in=deficit_carried_in,
            deficit_carried_out=deficit_carried_out,
        )

    # --- events ---------------------------------------------------------------------

    class Closed(Event):
        account_id: str

        def apply(self, account: Account) -> None:
            account.closed = True

    class Debited(Event):
        account_id: str
        posting_id: str
        amount: int
        currency: str
        counterparty: str
        reason: str
        reference: str
        forced: bool

        def apply(self, account: Account) -> None:
            account.posted -= self.amount
            if not self.forced and self.reason == "transfer":
                _count_debit(account, self.timestamp, self.amount)
            if self.reason == "refund":
                account.unsettled_refunds += self.amount
                account.unsettled_count += 1
            elif self.reason == "chargeback":
                account.unsettled_chargebacks += self.amount
                account.unsettled_count += 1
            elif self.reason in DISPUTE_WITHDRAWALS:
                account.unsettled_disputes += self.amount
                account.unsettled_count += 1

    class Credited(Event):
        account_id: str
        posting_id: str
        amount: int
        currency: str
        counterparty: str
        reason: str
        reference: str
        forced: bool

        def apply(self, account: Account) -> None:
            account.posted += self.amount
            if self.reason == "capture":
                account.unsettled_gross += self.amount
                account.unsettled_count += 1
            elif self.reason in DISPUTE_REINSTATEMENTS:
                account.unsettled_reinstatements += self.amount
                account.unsettled_count += 1

    class HoldPlaced(Event):
        account_id: str
        payment_id: str
        amount: int

        def apply(self, account: Account) -> None:
            account.held += self.amount
            _count_debit(account, self.timestamp, self.amount)

    class HoldReleased(Event):
        account_id: str
        payment_id: str
        amount: int

        def apply(self, account: Account) -> None:
            account.held -= self.amount

    class HoldCaptured(Event):
        account_id: str
        payment_id: str
        amount: int
        posting_id: str
        counterparty: str

        def apply(self, account: Account) -> None:
            account.posted -= self.amount
            account.held -= self.amount

    class Settled(Event):
        account_id: str
        batch_id: str
        gross: int
        refunds: int
        chargebacks: int
        fees: int
        net: int
        item_count: int
        # Defaults: events stored before deficits were carried load with 0 (the
        # library rebuilds an event from its stored dict; a missing field falls back
        # to the class attribute).
        deficit_carried_in: int = 0
        deficit_carried_out: int = 0
        disputes: int = 0  # events stored before disputes load with 0
        reinstatements: int = 0

        def apply(self, account: Account) -> None:
            account.unsettled_gross = 0
            account.unsettled_refunds = 0
            account.unsettled_chargebacks = 0
            account.unsettled_disputes = 0
            account.unsettled_reinstatements = 0
            account.unsettled_count = 0

    class Frozen(Event):
        account_id: str
        reason: str
        case_ref: str

        def apply(self, account: Account) -> None:
            account.frozen = True
            account.freeze_case = self.case_ref

    class Unfrozen(Event):
        account_id: str
        reason: str
        case_ref: str

        def apply(self, account: Account) -> None:
            account.frozen = False
            account.freeze_case = ""

    class TierSet(Event):
        account_id: str
        tier: int
        reason: str

        def apply(self, account: Account) -> None:
            account.kyc_tier = self.tier


def minute_of(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def _count_debit(account: Account, at: datetime, amount: int) -> None:
    """One voluntary debit or hold into the minute buckets; older than a day drops out."""
    if "velocity" not in account.__dict__:
        account.velocity = []  # the instance's own list, no longer the class default
    buckets, minute = account.velocity, minute_of(at)
    if buckets and buckets[-1][0] >= minute:  # a clock step back joins the last bucket
        buckets[-1] = [buckets[-1][0], buckets[-1][1] + 1, buckets[-1][2] + amount]
    else:
        buckets.append([minute, 1, amount])
    while buckets[0][0] <= minute - VELOCITY_MINUTES:
        del buckets[0]
