"""Every Kafka message of the contract, declared once as a pydantic model.

The outcome, the dead letter, and per event type its payload (`EVENT_PAYLOADS`) and
its whole `payments.events` message (`EVENT_MODELS`), as docs/architecture.md
("Wire formats") describes them. Everything else is derived from here or checked
against it: the JSON Schemas in docs/schemas/ (`payments schemas`), the read side's
field checks (`projections.events`), and the domain events, which
tests/unit/test_event_contract.py holds to exactly these fields and types.

The engine itself builds these messages as plain dicts (`payments.contract.wire`),
for speed; tests/unit/test_schemas_fresh.py validates what the real ledger
publishes against these models.

A new event type or field: declare it in the domain event and here (a field that
older stored events lack takes a default here, and the read side then treats it as
optional), then run `payments schemas`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model

from payments.domain.commands import AccountKind, Identifier, Reason
from payments.domain.errors import REJECTION_CODES, InternalError
from payments.domain.money import MAX_AMOUNT

RejectionCode = Literal[(*REJECTION_CODES, InternalError.code)]  # type: ignore[valid-type]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Amount = Annotated[int, Field(ge=1, le=MAX_AMOUNT, description="minor units")]
Total = Annotated[int, Field(ge=0, description="minor units")]
PostingId = Annotated[UUID, Field(description="shared by the debit and the credit of one posting")]
PostingReason = Literal[
    "transfer", "capture", "refund", "chargeback", "settlement_fee", "settlement_payout",
    "dispute", "dispute_fee", "dispute_reinstatement", "dispute_fee_refund", "dispute_lost",
]  # fmt: skip


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Outcome(Message):
    """The answer to one command, on `payments.command-results` (key: command_id)."""

    command_id: str = Field(description="as sent (even one that breaks the command_id rule)")
    type: str | None = Field(description="the raw type string, or null when there was none")
    status: Literal["accepted", "rejected"]
    code: RejectionCode | None = Field(description="null when accepted")
    message: str = Field(description="what was wrong, in words; '' when accepted")
    replayed: bool = Field(description="true when answered again from the stored outcome")
    processed_at: datetime = Field(description="when the command was first decided (UTC)")


class DeadLetter(Message):
    """A record that could not be read as a command, on `payments.commands.dlq`."""

    reason: str
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    value: str = Field(
        description="the record as text: invalid UTF-8 replaced, cut to 64 KiB ('' if null); "
        "the values of personal-data fields (name, date_of_birth, address, email) at any "
        "depth replaced by \"[withheld]\", and the whole value '' when it is not JSON but "
        "may hold personal data"
    )
    value_bytes: int = Field(ge=0, description="the size of the original value in bytes")


# --- event payloads: the event's own fields (docs/architecture.md, "Events") ---------


class AccountOpened(Message):
    account_id: Identifier
    currency: Currency
    kind: AccountKind
    overdraft_limit: Total


class AccountClosed(Message):
    account_id: Identifier


class AccountPosted(Message):
    account_id: Identifier
    posting_id: PostingId
    amount: Amount
    currency: Currency
    counterparty: Identifier = Field(description="the account on the other side")
    reason: PostingReason
    reference: Identifier = Field(description="the transfer, payment or batch id")
    forced: bool = Field(description="applied regardless of the overdraft limit")


class AccountHold(Message):
    account_id: Identifier
    payment_id: Identifier
    amount: Amount


class AccountHoldCaptured(Message):
    account_id: Identifier
    payment_id: Identifier
    amount: Amount
    posting_id: PostingId
    counterparty: Identifier = Field(description="the merchant account credited")


class AccountSettled(Message):
    account_id: Identifier
    batch_id: Identifier
    gross: Total
    refunds: Total
    chargebacks: Total
    fees: Total
    net: int = Field(
        description="gross - refunds - chargebacks - disputes + reinstatements - fees; "
        "may be negative"
    )
    item_count: int = Field(ge=0)
    deficit_carried_in: Total = Field(
        default=0, description="what the merchant owed before the batch, recovered first"
    )
    deficit_carried_out: Total = Field(
        default=0, description="what the merchant still owes after it, for later batches"
    )
    disputes: Total = Field(
        default=0, description="dispute withdrawals and dispute fees in the batch"
    )
    reinstatements: Total = Field(
        default=0, description="won disputes' amounts and fee refunds in the batch"
    )


class PaymentAuthorized(Message):
    payment_id: Identifier
    payer_account: Identifier
    merchant_account: Identifier
    amount: Amount
    currency: Currency
    expires_at: str | None = Field(
        default=None, description="ISO-8601 UTC from which it cannot be captured; null: never"
    )


class PaymentAmount(Message):
    payment_id: Identifier
    amount: Amount


class PaymentChargedBack(Message):
    payment_id: Identifier
    amount: Amount
    reason: Reason


class PaymentDispute(Message):
    payment_id: Identifier
    dispute_id: Identifier
    amount: Amount


# --- disputes (issue 16, payments.domain.dispute) --------------------------------------

Moment = Annotated[str, Field(description="ISO-8601 UTC, to the second, e.g. 2026-12-20T00:00:00Z")]
DisputeOutcome = Literal["won", "lost"]


class DisputeOpened(Message):
    dispute_id: Identifier
    payment_id: Identifier
    merchant_account: Identifier
    payer_account: Identifier
    disputes_account: Identifier
    fees_account: str = Field(description="'' when the pricing has no dispute fee")
    currency: Currency
    amount: Amount
    fee: Total = Field(description="the dispute fee taken from the merchant")
    fee_refunded_if_won: bool
    reason_code: str = Field(description="the network's reason code")
    network: Identifier
    evidence_due_by: Moment


class DisputeEvidenceSubmitted(Message):
    dispute_id: Identifier
    text: str
    documents: str = Field(description="space-separated document references")


class DisputeResolutionProposed(Message):
    dispute_id: Identifier
    outcome: DisputeOutcome
    note: Reason


class DisputeDecided(Message):
    dispute_id: Identifier
    cause: Literal["approved", "accepted", "expired"]
    proposed_by: str = Field(description="who proposed it, when approved (the actor approved)")


class DisputeCalendarStarted(Message):
    pass


class DisputeCalendarScheduled(Message):
    dispute_id: Identifier
    evidence_due_by: Moment


class DisputeCalendarSwept(Message):
    as_of: Moment
    dispute_ids: str = Field(description="space-separated: the due dates this sweep passed")


class TransferRecorded(Message):
    transfer_id: Identifier
    from_account: Identifier
    to_account: Identifier
    amount: Amount
    currency: Currency


class SettlementBatchCreated(Message):
    batch_id: Identifier
    merchant_account: Identifier
    payout_account: Identifier
    fees_account: Identifier
    currency: Currency
    fee_bps: int = Field(ge=0, le=10_000)
    gross: Total
    refunds: Total
    chargebacks: Total
    fees: Total
    net: int = Field(
        description="gross - refunds - chargebacks - disputes + reinstatements - fees; "
        "may be negative"
    )
    item_count: int = Field(ge=0)
    deficit_carried_in: Total = Field(
        default=0, description="what the merchant owed before the batch, recovered first"
    )
    deficit_carried_out: Total = Field(
        default=0, description="what the merchant still owes after it, for later batches"
    )
    disputes: Total = Field(
        default=0, description="dispute withdrawals and dispute fees in the batch"
    )
    reinstatements: Total = Field(
        default=0, description="won disputes' amounts and fee refunds in the batch"
    )


class CommandRecordDecided(Message):
    command_type: str | None
    fingerprint: str = Field(
        pattern="^[0-9a-f]{64}$", description="sha256 of the canonical type and payload"
    )
    status: Literal["accepted", "rejected"]
    code: RejectionCode | None
    message: str
    key_id: str | None = Field(default=None, description="the signing key (null before signing)")
    signature: str | None = Field(default=None, description="base64 Ed25519 signature")
    issued_at: str | None = Field(default=None, description="the envelope's issued_at as sent")
    signed_payload: str | None = Field(
        default=None, description="the payload's canonical JSON, exactly as it was signed"
    )
    via: str | None = Field(
        default=None, description="the gateway principal that signed on the actor's behalf"
    )


class PrincipalCreated(Message):
    principal: str
    roles: str = Field(description="space-separated role names")


class PrincipalRoles(Message):
    roles: str = Field(description="space-separated role names granted or revoked")


class SigningKeyRegistered(Message):
    key_id: str = Field(description="ed25519: and 32 hex digits of SHA-256(public key)")
    principal: str
    algorithm: Literal["ed25519"]
    public_key: str = Field(description="standard base64 of the 32 raw public key bytes")


class SigningKeyRevoked(Message):
    reason: str


class ApiKeyIssued(Message):
    key_prefix: str = Field(description="the key's public part: 12 hex digits")
    principal: str
    secret_sha256: str = Field(
        pattern="^[0-9a-f]{64}$", description="hex SHA-256 of the secret part (never the key)"
    )
    expires_at: str = Field(description="ISO-8601 UTC time from which the key is refused")
    scopes: str = Field(description="space-separated; '' means every scope of the roles")
    accounts: str = Field(
        default="", description="space-separated account ids it is restricted to; '' means any"
    )


class ApiKeyRevoked(Message):
    reason: str


class BankStatementImported(Message):
    reason: str = Field(description="why the operator imported it")
    statement_id: str = Field(description="<account>:<first 16 hex digits of the fingerprint>")
    account_id: Identifier = Field(description="the external account it reconciles")
    format: Literal["csv", "camt053", "mt940"]
    bank_statement_id: str = Field(description="the bank's own id of the statement")
    bank_account: str = Field(description="the account as the bank names it (IBAN, number)")
    currency: Currency
    opening: int = Field(description="signed minor units, + in the account holder's favour")
    opening_date: str = Field(description="ISO date")
    closing: int = Field(description="signed minor units; opening + Σ lines")
    closing_date: str = Field(description="ISO date")
    lines: str = Field(
        description="canonical JSON list of {line, amount, value_date, booking_date, "
        "reference, end_to_end_id}: amounts signed minor units, + money in"
    )
    fingerprint: str = Field(pattern="^[0-9a-f]{64}$", description="sha256 of what it says")
    file_sha256: str = Field(pattern="^[0-9a-f]{64}$", description="sha256 of the file read")


class BankStatementReconciled(Message):
    reason: str
    matches: str = Field(description="canonical JSON list of {rule, lines, postings, difference}")
    matched_lines: int = Field(ge=0)
    matched_postings: int = Field(ge=0)
    unmatched_lines: int = Field(ge=0)
    unmatched_postings: int = Field(ge=0)
    exceptions: str = Field(description="space-separated ids of the exceptions it opened")
    ledger_position: int = Field(ge=0, description="the audit log position the ledger was read at")
    date_tolerance_days: int = Field(ge=0)


class ReconciliationExceptionOpened(Message):
    reason: str = Field(description="what did not match, in words")
    exception_id: str = Field(description="<statement_id>:<n>")
    statement_id: str
    account_id: Identifier
    currency: Currency
    kind: Literal["unmatched_line", "unmatched_posting", "amount_difference"]
    lines: str = Field(description="space-separated statement line numbers")
    postings: str = Field(description="space-separated posting ids")
    amount: int = Field(
        description="minor units as the bank sees them (a difference: bank - ledger)"
    )
    value_date: str = Field(description="ISO date")


class ReconciliationExceptionResolved(Message):
    reason: str = Field(description="the operator's reason")


# --- risk and compliance (issue 18): payments.domain.controls, risk and expiry ----------


class AccountFreeze(Message):
    account_id: Identifier
    reason: Reason
    case_ref: Identifier = Field(description="the investigation's case reference")


class AccountTierSet(Message):
    account_id: Identifier
    tier: int = Field(ge=0, le=9, description="the KYC tier the risk rules' maximums read")
    reason: Reason


class RiskPolicyRules(Message):
    version: int = Field(ge=1)
    rules: str = Field(description="canonical JSON of the set_risk_rules payload")


class ExpiryBookOpened(Message):
    shard: int = Field(ge=0, description="which of the expiry books (by the payment id's hash)")


class ExpiryBookEntered(Message):
    payment_id: Identifier
    expires_at: str = Field(description="ISO-8601 UTC")


class ExpiryBookRemoved(Message):
    payment_id: Identifier


class TransferHeldForReview(Message):
    transfer_id: Identifier
    from_account: Identifier
    to_account: Identifier
    amount: Amount
    currency: Currency
    rule_id: Identifier = Field(description="the review rule that fired")
    rules_version: int = Field(ge=1)
    finding: str = Field(description="what the rule found, on which inputs")


class TransferReviewDecided(Message):
    note: Reason


class ScreeningRequested(Message):
    screening_id: Identifier
    holder_id: Identifier
    account_ids: str = Field(description="space-separated: the holder's accounts")
    subject_ref: Identifier = Field(description="where the holder's data is (not the data)")


class ScreeningStep(Message):
    reason: Reason


class ScreeningFlagged(Message):
    score: int = Field(ge=0, le=100)
    matches: str = Field(description="space-separated watch-list entries matched")
    reason: Reason


class HolderRegistered(Message):
    holder_id: Identifier
    personal_data: str = Field(
        description="base64 of nonce ‖ AES-256-GCM ciphertext of the holder's name, "
        "date_of_birth, address and email under the holder's own data key; "
        "unreadable once the holder is erased (docs/security.md)"
    )
    key_version: int = Field(ge=1, description="the sealing scheme")


class HolderErased(Message):
    reason: Reason


EVENT_PAYLOADS: dict[str, type[Message]] = {
    "Account.Opened": AccountOpened,
    "Account.Closed": AccountClosed,
    "Account.Debited": AccountPosted,
    "Account.Credited": AccountPosted,
    "Account.HoldPlaced": AccountHold,
    "Account.HoldReleased": AccountHold,
    "Account.HoldCaptured": AccountHoldCaptured,
    "Account.Settled": AccountSettled,
    "Payment.Authorized": PaymentAuthorized,
    "Payment.Captured": PaymentAmount,
    "Payment.Voided": PaymentAmount,
    "Payment.Refunded": PaymentAmount,
    "Payment.ChargedBack": PaymentChargedBack,
    "Payment.Disputed": PaymentDispute,
    "Payment.DisputeWon": PaymentDispute,
    "Dispute.Opened": DisputeOpened,
    "Dispute.EvidenceSubmitted": DisputeEvidenceSubmitted,
    "Dispute.ResolutionProposed": DisputeResolutionProposed,
    "Dispute.Won": DisputeDecided,
    "Dispute.Lost": DisputeDecided,
    "DisputeCalendar.Started": DisputeCalendarStarted,
    "DisputeCalendar.Scheduled": DisputeCalendarScheduled,
    "DisputeCalendar.Swept": DisputeCalendarSwept,
    "Transfer.Recorded": TransferRecorded,
    "SettlementBatch.Created": SettlementBatchCreated,
    "CommandRecord.Decided": CommandRecordDecided,
    "Principal.Created": PrincipalCreated,
    "Principal.RolesGranted": PrincipalRoles,
    "Principal.RolesRevoked": PrincipalRoles,
    "SigningKey.Registered": SigningKeyRegistered,
    "SigningKey.Revoked": SigningKeyRevoked,
    "ApiKey.Issued": ApiKeyIssued,
    "ApiKey.Revoked": ApiKeyRevoked,
    "BankStatement.Imported": BankStatementImported,
    "BankStatement.Reconciled": BankStatementReconciled,
    "ReconciliationException.Opened": ReconciliationExceptionOpened,
    "ReconciliationException.Resolved": ReconciliationExceptionResolved,
    "Account.Frozen": AccountFreeze,
    "Account.Unfrozen": AccountFreeze,
    "Account.TierSet": AccountTierSet,
    "RiskPolicy.Defined": RiskPolicyRules,
    "RiskPolicy.Changed": RiskPolicyRules,
    "Payment.Expired": PaymentAmount,
    "ExpiryBook.Opened": ExpiryBookOpened,
    "ExpiryBook.Entered": ExpiryBookEntered,
    "ExpiryBook.Removed": ExpiryBookRemoved,
    "Transfer.HeldForReview": TransferHeldForReview,
    "Transfer.Approved": TransferReviewDecided,
    "Transfer.Declined": TransferReviewDecided,
    "Screening.Requested": ScreeningRequested,
    "Screening.Flagged": ScreeningFlagged,
    "Screening.Escalated": ScreeningStep,
    "Screening.Cleared": ScreeningStep,
    "Screening.Confirmed": ScreeningStep,
    "Holder.Registered": HolderRegistered,
    "Holder.Erased": HolderErased,
}


class EventMessage(Message):
    """One stored domain event, on `payments.events` (key: aggregate_id)."""

    position: int = Field(ge=1, description="notification id in the event store: total order")
    event_id: UUID = Field(description="uuid5(aggregate_id, str(aggregate_version))")
    event_type: str
    aggregate_type: str
    aggregate_id: UUID
    aggregate_version: int = Field(ge=1)
    command_id: str = Field(description="the command that caused the event")
    actor: str = Field(description="who issued that command")
    recorded_at: datetime = Field(description="when the event was stored (UTC)")
    payload: dict[str, object]


def _event_model(event_type: str, payload: type[Message]) -> type[EventMessage]:
    aggregate_type = event_type.split(".", 1)[0]
    return create_model(
        event_type.replace(".", "") + "Message",  # the bare name may be its payload model's
        __base__=EventMessage,
        __doc__=f"`{event_type}` on `payments.events` (key: aggregate_id).",
        event_type=(Literal[event_type], ...),
        aggregate_type=(Literal[aggregate_type], ...),
        payload=(payload, ...),
    )


EVENT_MODELS: dict[str, type[EventMessage]] = {
    event_type: _event_model(event_type, payload) for event_type, payload in EVENT_PAYLOADS.items()
}
