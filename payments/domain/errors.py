"""Rejections: one exception per rule of the contract, each with a stable code.

A `Rejection` is an expected outcome (the command broke a rule), never a crash: the
engine turns it into a `rejected` outcome with `code` and `message`. `retryable`
says whether sending the same command later could succeed (Stripe-style), e.g. after
the payer is funded; a malformed command never becomes valid by waiting.
"""

from __future__ import annotations

from typing import ClassVar


class Rejection(Exception):
    code: ClassVar[str] = "rejected"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidCommand(Rejection):
    code = "invalid_command"


class UnknownCommandType(Rejection):
    code = "unknown_command_type"


class IdempotencyConflict(Rejection):
    code = "idempotency_conflict"


class InvalidAmount(Rejection):
    code = "invalid_amount"


class InvalidCurrency(Rejection):
    code = "invalid_currency"


class CurrencyMismatch(Rejection):
    code = "currency_mismatch"


class SameAccount(Rejection):
    code = "same_account"


class InsufficientFunds(Rejection):
    code = "insufficient_funds"
    retryable = True


class AccountExists(Rejection):
    code = "account_exists"


class AccountNotFound(Rejection):
    code = "account_not_found"
    retryable = True


class AccountClosed(Rejection):
    code = "account_closed"


class AccountNotEmpty(Rejection):
    code = "account_not_empty"
    retryable = True


class InvalidAccountKind(Rejection):
    code = "invalid_account_kind"


class PaymentExists(Rejection):
    code = "payment_exists"


class PaymentNotFound(Rejection):
    code = "payment_not_found"
    retryable = True


class InvalidPaymentState(Rejection):
    code = "invalid_payment_state"


class AmountExceedsAuthorized(Rejection):
    code = "amount_exceeds_authorized"


class AmountExceedsCaptured(Rejection):
    code = "amount_exceeds_captured"


class TransferExists(Rejection):
    code = "transfer_exists"


class BatchExists(Rejection):
    code = "batch_exists"


class NothingToSettle(Rejection):
    code = "nothing_to_settle"
    retryable = True


class BalanceLimitExceeded(Rejection):
    """A posting would take a balance (or held, or an unsettled total) past ±MAX_BALANCE."""

    code = "balance_limit_exceeded"
    retryable = True  # the balance may move back first


class AccountFrozen(Rejection):
    """A voluntary debit or hold from a frozen account, or freezing it again."""

    code = "account_frozen"
    retryable = True  # it may be unfrozen


class AccountNotFrozen(Rejection):
    code = "account_not_frozen"


class VelocityLimitExceeded(Rejection):
    """A risk rule's count or sum of debits in its rolling window (payments.domain.risk)."""

    code = "velocity_limit_exceeded"
    retryable = True  # the window moves on


class RiskBlocked(Rejection):
    """A risk rule's per-command maximum or a new account's cooling-off period."""

    code = "risk_blocked"


class RiskRulesConflict(Rejection):
    """set_risk_rules names a version that is not the current one + 1."""

    code = "risk_rules_conflict"


class AuthorizationExpired(Rejection):
    code = "authorization_expired"


class ReviewNotFound(Rejection):
    """approve_review / decline_review of a transfer id that was never used."""

    code = "review_not_found"
    retryable = True  # the transfer may arrive first


class ReviewClosed(Rejection):
    """approve_review / decline_review of a transfer that is not (or no longer) in review."""

    code = "review_closed"


class ScreeningExists(Rejection):
    code = "screening_exists"


class ScreeningNotFound(Rejection):
    code = "screening_not_found"
    retryable = True  # it may be requested first


class InvalidScreeningState(Rejection):
    """A screening step from the wrong state (payments.domain.screening)."""

    code = "invalid_screening_state"


class HolderExists(Rejection):
    code = "holder_exists"


class HolderNotFound(Rejection):
    code = "holder_not_found"
    retryable = True  # it may be registered first


class HolderErased(Rejection):
    """A step on a holder whose personal data was erased (payments.domain.holder)."""

    code = "holder_erased"


class HolderKeysUnavailable(Rejection):
    """The engine has no key-encryption key (PAYMENTS_HOLDER_KEY_FILE): it stores no
    personal data rather than store it in clear."""

    code = "holder_keys_unavailable"
    retryable = True


class Unauthenticated(Rejection):
    """No signature, a bad one, or a key that is unknown or revoked: nothing applied and,
    since nobody can be held to it, nothing remembered (docs/security.md)."""

    code = "unauthenticated"


class Forbidden(Rejection):
    """The signed issuer's roles do not allow this command type."""

    code = "forbidden"


# --- disputes (issue 16; payments.domain.dispute) -------------------------------------


class DisputeExists(Rejection):
    code = "dispute_exists"


class DisputeNotFound(Rejection):
    code = "dispute_not_found"
    retryable = True  # it may be opened first


class InvalidDisputeState(Rejection):
    """The dispute cannot do that now (e.g. evidence after it was decided)."""

    code = "invalid_dispute_state"


class EvidencePastDue(Rejection):
    """Evidence after the dispute's evidence due date (by the engine's clock)."""

    code = "evidence_past_due"


class CardDataInEvidence(Rejection):
    """Evidence text or a document reference holds what looks like a card number."""

    code = "card_data_in_evidence"


class ResolutionNotProposed(Rejection):
    code = "resolution_not_proposed"
    retryable = True  # somebody may propose one


class ProposerCannotApprove(Rejection):
    """Two-person rule: the approver must be another principal than the proposer."""

    code = "proposer_cannot_approve"


class AsOfInFuture(Rejection):
    """A sweep's as_of is ahead of the engine's clock (payments.domain.sweeps)."""

    code = "as_of_in_future"


class InternalError(Rejection):
    """Not a contract rule: the engine failed to decide this command (a bug).

    Extension of the contract: the command is rejected with nothing applied, so one
    bad command cannot stall its partition.
    """

    code = "internal_error"
    retryable = True


REJECTION_CODES: tuple[str, ...] = tuple(
    cls.code for cls in Rejection.__subclasses__() if cls is not InternalError
)
