"""What the API answers: amounts are integers in minor units next to their currency."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Balance(BaseModel):
    account_id: str
    kind: str
    currency: str = Field(description="ISO 4217; every amount here is in it")
    posted: int = Field(description="minor units: credits - debits")
    held: int = Field(description="minor units on hold")
    available: int = Field(description="posted - held")
    overdraft_limit: int
    status: str
    opened_at: datetime
    updated_at: datetime


class Movement(BaseModel):
    position: int
    recorded_at: datetime
    event_type: str
    posted_change: int
    held_change: int
    posted_after: int
    held_after: int
    posting_id: str | None
    counterparty: str | None
    reason: str | None
    reference: str | None


class History(BaseModel):
    account_id: str
    as_of: datetime
    currency: str
    posted: int
    held: int
    available: int
    movements: list[Movement]


class PaymentView(BaseModel):
    payment_id: str
    payer_account: str
    merchant_account: str
    currency: str
    authorized: int
    captured: int
    voided: int
    refunded: int
    charged_back: int
    status: str
    authorized_at: datetime
    updated_at: datetime


class SettlementItem(BaseModel):
    position: int
    payment_id: str
    kind: str
    amount: int


class Settlement(BaseModel):
    batch_id: str
    merchant_account: str
    payout_account: str
    fees_account: str
    currency: str
    fee_bps: int
    gross: int
    refunds: int
    chargebacks: int
    fees: int
    net: int
    item_count: int
    deficit_carried_in: int
    deficit_carried_out: int
    disputes: int = Field(description="dispute withdrawals and dispute fees in the batch")
    reinstatements: int = Field(description="won disputes' amounts and fee refunds")
    settled_at: datetime
    items: list[SettlementItem]
    next_items_after: int | None = Field(
        description="pass as items_after for the next page of items; null: no more"
    )


class AuditEntry(BaseModel):
    position: int
    event_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    command_id: str | None
    actor: str | None
    recorded_at: datetime
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_after: int | None = Field(description="pass as `after` for the next page; null: none yet")


class Health(BaseModel):
    status: str = Field(description="ok or degraded")
    postgres: bool


class StatementLine(BaseModel):
    position: int = Field(description="the audit log position of the posting's event")
    recorded_at: datetime
    event_type: str
    amount: int = Field(description="minor units: + credit, - debit")
    balance: int = Field(description="the posted balance after it (running balance)")
    posting_id: str | None
    counterparty: str | None
    reason: str | None
    reference: str | None


class StatementView(BaseModel):
    account_id: str
    currency: str
    start: datetime = Field(alias="from", description="inclusive")
    end: datetime = Field(alias="to", description="exclusive")
    opening_balance: int = Field(description="posted, just before `from`")
    total_credits: int
    total_debits: int = Field(description="a positive number")
    closing_balance: int = Field(description="opening + credits - debits")
    postings: list[StatementLine]
    position: int = Field(
        description="the audit log's last position when computed: the statement holds "
        "every event up to it"
    )
