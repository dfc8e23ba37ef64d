"""The payloads of the risk and compliance commands (issue 18), registered in
payments.domain.commands.PAYLOAD_MODELS. What each does: payments.domain.controls
(freezes, KYC tiers), payments.domain.risk (rules) and docs/contract.md.

Imported by payments.domain.commands after its own field types (the package's
`__init__` loads commands first, so any import order works).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from payments.domain.account import VELOCITY_MINUTES
from payments.domain.commands import (
    AccountKind,
    Amount,
    Currency,
    Identifier,
    Payload,
    Reason,
)

KycTier = Annotated[int, Field(ge=0, le=9)]
Kinds = Annotated[list[AccountKind], Field(min_length=1, max_length=4)]
CaseRef = Annotated[Identifier, Field(description="the investigation's case reference")]


class FreezeAccount(Payload):
    account_id: Identifier
    reason: Reason
    case_ref: CaseRef


class UnfreezeAccount(Payload):
    account_id: Identifier
    reason: Reason
    case_ref: CaseRef


class SetKycTier(Payload):
    account_id: Identifier
    tier: KycTier
    reason: Reason


class CoolingOffRule(Payload):
    rule_id: Identifier
    kinds: Kinds
    currency: Currency
    seconds: Annotated[int, Field(ge=60, le=90 * 86_400)]
    max_amount: Annotated[int, Field(ge=0, le=10**12, description="0: no debit at all")]


class MaximumRule(Payload):
    rule_id: Identifier
    kinds: Kinds
    currency: Currency
    kyc_tiers: Annotated[list[KycTier], Field(max_length=10)] = Field(
        default=[], description="the tiers it applies to; empty: every tier"
    )
    max_amount: Amount


class VelocityRule(Payload):
    rule_id: Identifier
    kinds: Kinds
    currency: Currency
    window_seconds: Annotated[int, Field(ge=60, le=VELOCITY_MINUTES * 60, multiple_of=60)]
    max_count: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    max_sum: Amount | None = None


class SetRiskRules(Payload):
    version: Annotated[int, Field(ge=1, description="the current version + 1")]
    cooling_off: Annotated[list[CoolingOffRule], Field(max_length=32)] = []
    maximums: Annotated[list[MaximumRule], Field(max_length=32)] = []
    velocity: Annotated[list[VelocityRule], Field(max_length=32)] = []
