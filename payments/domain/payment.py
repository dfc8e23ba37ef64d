"""Payment: the lifecycle of one card-style payment.

remaining = authorized − captured − voided. A capture takes 0 < a ≤ remaining; a void
needs remaining > 0 and ends the authorization (voided = what remained), so no
capture after it. Refunds, chargebacks and disputes take 0 < a ≤ captured −
refunded − charged_back − disputed, where disputed counts the disputes opened and not
won (payments.domain.dispute; a won dispute gives its amount back). The money moves
on the accounts; this aggregate keeps the counts.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate

from payments.domain.creation import CreatedQuickly, create
from payments.domain.errors import (
    AmountExceedsAuthorized,
    AmountExceedsCaptured,
    AuthorizationExpired,
    InvalidPaymentState,
)
from payments.domain.ids import payment_id_to_uuid


class Payment(Aggregate):
    disputed: int = 0  # class default: payments stored before disputes load with it
    # From expires_at on (payments.domain.expiry) a capture is `authorization_expired`;
    # the sweep releases what remained as `expired`. Class defaults: payments stored
    # before expiries existed load with them.
    expires_at: str | None = None
    expired: int = 0

    class Event(Aggregate.Event):
        command_id: str
        actor: str

    class Authorized(CreatedQuickly, Aggregate.Created):
        command_id: str
        actor: str
        payment_id: str
        payer_account: str
        merchant_account: str
        amount: int
        currency: str
        expires_at: str | None = None  # ISO-8601 UTC; absent: never expires

    def __init__(
        self,
        command_id: str,
        actor: str,
        payment_id: str,
        payer_account: str,
        merchant_account: str,
        amount: int,
        currency: str,
        expires_at: str | None = None,
    ) -> None:
        self.payment_id = payment_id
        if expires_at is not None:
            self.expires_at = expires_at
        self.payer_account = payer_account
        self.merchant_account = merchant_account
        self.currency = currency
        self.authorized = amount
        self.captured = 0
        self.voided = 0
        self.refunded = 0
        self.charged_back = 0

    @classmethod
    def authorize(
        cls,
        *,
        payment_id: str,
        payer_account: str,
        merchant_account: str,
        amount: int,
        currency: str,
        command_id: str,
        actor: str,
        expires_at: str | None = None,
    ) -> Payment:
        return create(
            cls,
            cls.Authorized,
            payment_id_to_uuid(payment_id),
            command_id=command_id,
            actor=actor,
            payment_id=payment_id,
            payer_account=payer_account,
            merchant_account=merchant_account,
            amount=amount,
            currency=currency,
            expires_at=expires_at,
        )

    @property
    def remaining(self) -> int:
        return self.authorized - self.captured - self.voided - self.expired

    def has_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= datetime.fromisoformat(self.expires_at)

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded - self.charged_back - self.disputed

    @property
    def is_voided(self) -> bool:
        return self.voided > 0

    # --- guards ---------------------------------------------------------------------

    def check_capturable(self, amount: int | None, now: datetime | None = None) -> int:
        """The amount a capture takes (all that remains when `amount` is None)."""
        if self.is_voided:
            raise InvalidPaymentState(f"payment {self.payment_id} was voided")
        if self.expired or (now is not None and self.has_expired(now)):
            raise AuthorizationExpired(
                f"payment {self.payment_id}'s authorization expired at {self.expires_at}"
            )
        if amount is None:
            if self.remaining == 0:
                raise InvalidPaymentState(
                    f"payment {self.payment_id} has nothing left authorized to capture"
                )
            return self.remaining
        if amount > self.remaining:
            raise AmountExceedsAuthorized(
                f"payment {self.payment_id} has {self.remaining} authorized remaining; "
                f"cannot capture {amount}"
            )
        return amount

    def check_voidable(self) -> int:
        if self.is_voided:
            raise InvalidPaymentState(f"payment {self.payment_id} was already voided")
        if self.expired:
            raise InvalidPaymentState(f"payment {self.payment_id}'s authorization expired")
        if self.remaining == 0:
            raise InvalidPaymentState(
                f"payment {self.payment_id} has nothing left authorized to void"
            )
        return self.remaining

    def check_reversible(self, amount: int, what: str) -> None:
        if amount > self.refundable:
            undone = (
                "refunded, charged back or disputed"
                if self.disputed
                else ("refunded or charged back")
            )
            raise AmountExceedsCaptured(
                f"payment {self.payment_id} has {self.refundable} captured and not yet "
                f"{undone}; cannot {what} {amount}"
            )

    # --- mutators -------------------------------------------------------------------

    def capture(self, *, amount: int, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Captured,
            command_id=command_id,
            actor=actor,
            payment_id=self.payment_id,
            amount=amount,
        )

    def void(self, *, amount: int, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Voided,
            command_id=command_id,
            actor=actor,
            payment_id=self.payment_id,
            amount=amount,
        )

    def expire(self, *, amount: int, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Expired,
            command_id=command_id,
            actor=actor,
            payment_id=self.payment_id,
            amount=amount,
        )

    def refund(self, *, amount: int, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Refunded,
            command_id=command_id,
            actor=actor,
            payment_id=self.payment_id,
            amount=amount,
        )

    def charge_back(self, *, amount: int, reason: str, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.ChargedBack,
            command_id=command_id,
            actor=actor,
            payment_id=self.payment_id,
            amount=amount,
            reason=reason,
        )

    def dispute(self, *, dispute_id: str, amount: int, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Disputed,
            command_id=command_id,
            actor=actor,
            payment_id=self.payment_id,
            dispute_id=dispute_id,
            amount=amount,
        )

    def win_dispute(self, *, dispute_id: str, amount: int, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.DisputeWon,
            command_id=command_id,
            actor=actor,
            payment_id=self.payment_id,
            dispute_id=dispute_id,
            amount=amount,
        )

    # --- events ---------------------------------------------------------------------

    class Captured(Event):
        payment_id: str
        amount: int

        def apply(self, payment: Payment) -> None:
            payment.captured += self.amount

    class Voided(Event):
        payment_id: str
        amount: int

        def apply(self, payment: Payment) -> None:
            payment.voided += self.amount

    class Refunded(Event):
        payment_id: str
        amount: int

        def apply(self, payment: Payment) -> None:
            payment.refunded += self.amount

    class ChargedBack(Event):
        payment_id: str
        amount: int
        reason: str

        def apply(self, payment: Payment) -> None:
            payment.charged_back += self.amount

    class Disputed(Event):
        payment_id: str
        dispute_id: str
        amount: int

        def apply(self, payment: Payment) -> None:
            payment.disputed += self.amount

    class DisputeWon(Event):
        payment_id: str
        dispute_id: str
        amount: int

        def apply(self, payment: Payment) -> None:
            payment.disputed -= self.amount

    class Expired(Event):
        payment_id: str
        amount: int

        def apply(self, payment: Payment) -> None:
            payment.expired += self.amount
