"""The stored events are exactly the architecture's event catalogue (permanent names)."""

from __future__ import annotations

import dataclasses

import pytest
from eventsourcing.utils import get_topic

from payments.domain.account import Account
from payments.domain.command_record import CommandRecord
from payments.domain.dispute import Dispute, DisputeCalendar
from payments.domain.expiry import ExpiryBook
from payments.domain.payment import Payment
from payments.domain.risk import RiskPolicy
from payments.domain.screening import Screening
from payments.domain.settlement import SettlementBatch
from payments.domain.transfer import Transfer

POSTING = "account_id posting_id amount currency counterparty reason reference forced"
CATALOGUE = {
    Account.Opened: "account_id currency kind overdraft_limit",
    Account.Closed: "account_id",
    Account.Debited: POSTING,
    Account.Credited: POSTING,
    Account.HoldPlaced: "account_id payment_id amount",
    Account.HoldReleased: "account_id payment_id amount",
    Account.HoldCaptured: "account_id payment_id amount posting_id counterparty",
    Account.Settled: (
        "account_id batch_id gross refunds chargebacks fees net item_count"
        " deficit_carried_in deficit_carried_out disputes reinstatements"
    ),
    Payment.Authorized: "payment_id payer_account merchant_account amount currency expires_at",
    Payment.Captured: "payment_id amount",
    Payment.Voided: "payment_id amount",
    Payment.Refunded: "payment_id amount",
    Payment.ChargedBack: "payment_id amount reason",
    Transfer.Recorded: "transfer_id from_account to_account amount currency",
    SettlementBatch.Created: "batch_id merchant_account payout_account fees_account currency "
    "fee_bps gross refunds chargebacks fees net item_count deficit_carried_in deficit_carried_out "
    "disputes reinstatements",
    Payment.Disputed: "payment_id dispute_id amount",
    Payment.DisputeWon: "payment_id dispute_id amount",
    Dispute.Opened: "dispute_id payment_id merchant_account payer_account disputes_account "
    "fees_account currency amount fee fee_refunded_if_won reason_code network evidence_due_by",
    Dispute.EvidenceSubmitted: "dispute_id text documents",
    Dispute.ResolutionProposed: "dispute_id outcome note",
    Dispute.Won: "dispute_id cause proposed_by",
    Dispute.Lost: "dispute_id cause proposed_by",
    DisputeCalendar.Started: "",
    DisputeCalendar.Scheduled: "dispute_id evidence_due_by",
    DisputeCalendar.Swept: "as_of dispute_ids",
    CommandRecord.Decided: "command_type fingerprint status code message"
    " key_id signature issued_at signed_payload via",
    Account.Frozen: "account_id reason case_ref",
    Account.Unfrozen: "account_id reason case_ref",
    Account.TierSet: "account_id tier reason",
    Payment.Expired: "payment_id amount",
    RiskPolicy.Defined: "version rules",
    RiskPolicy.Changed: "version rules",
    ExpiryBook.Opened: "shard",
    ExpiryBook.Entered: "payment_id expires_at",
    ExpiryBook.Removed: "payment_id",
    Transfer.HeldForReview: "transfer_id from_account to_account amount currency"
    " rule_id rules_version finding",
    Transfer.Approved: "note",
    Transfer.Declined: "note",
    Screening.Requested: "screening_id holder_id account_ids subject_ref",
    Screening.Flagged: "score matches reason",
    Screening.Escalated: "reason",
    Screening.Cleared: "reason",
    Screening.Confirmed: "reason",
}
LIBRARY_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}


@pytest.mark.parametrize("event_class", list(CATALOGUE), ids=lambda c: c.__qualname__)
def test_event_fields_are_the_catalogue_plus_who(event_class: type) -> None:
    fields = {f.name for f in dataclasses.fields(event_class)} - LIBRARY_FIELDS
    assert fields == set(CATALOGUE[event_class].split()) | {"command_id", "actor"}


@pytest.mark.parametrize("event_class", list(CATALOGUE), ids=lambda c: c.__qualname__)
def test_event_topics_are_permanent(event_class: type) -> None:
    aggregate = event_class.__qualname__.split(".")[0].lower()
    module = {
        "settlementbatch": "settlement",
        "commandrecord": "command_record",
        "disputecalendar": "dispute",
        "riskpolicy": "risk",
        "expirybook": "expiry",
    }.get(aggregate, aggregate)
    assert get_topic(event_class) == f"payments.domain.{module}:{event_class.__qualname__}"
