"""Commands: the envelope and one strict pydantic model per command type.

`parse_envelope(raw)` turns a JSON object into a `ParsedCommand` or raises the
contract's `Rejection`: an unknown type → `unknown_command_type`; a bad amount
(float, string, boolean, zero, negative, > 10^12) → `invalid_amount`; a currency
that is not an upper-case ISO 4217 code → `invalid_currency`; anything else,
including missing and unknown fields → `invalid_command` with a message naming the
field path and why. First of all, `text_rules.check_document` applies the envelope's
text and number rules (no lone surrogate or NUL anywhere, nesting, 64-bit integers)
to the parsed document. The models stay importable so `model_json_schema()` can
generate the contract's JSON Schemas.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from payments.domain.account import VELOCITY_MINUTES
from payments.domain.currencies import is_iso_4217
from payments.domain.errors import (
    InvalidAmount,
    InvalidCommand,
    InvalidCurrency,
    Rejection,
    UnknownCommandType,
)
from payments.domain.identity import PRINCIPAL_PATTERN
from payments.domain.money import MAX_AMOUNT
from payments.domain.sweeps import parse_as_of
from payments.domain.text_rules import MAX_NESTING, check_document, integer_size

IDENTIFIER_PATTERN = r"^[A-Za-z0-9:_.\-]{1,64}$"
COMMAND_ID_PATTERN = r"^[\x20-\x7E]{1,128}$"
IDENTIFIER_RULE = "must be 1-64 characters of A-Z a-z 0-9 : _ . -"
COMMAND_ID_RULE = "must be 1-128 printable ASCII characters"
# Free text (actor, type) may be any Unicode but no C0 control character nor DEL.
LABEL_PATTERN = r"^[^\x00-\x1F\x7F]+$"
TYPE_PATTERN = r"^[^\x00-\x1F\x7F]*$"  # "" stays an unknown_command_type
LABEL_RULE = "must not contain control characters (U+0000-U+001F, U+007F)"
TEXT_PATTERN = r"^[^\x00]*$"  # what JSON Schema can say of clean text: no NUL
TEXT_RULES = (
    "Every string of the envelope, keys and values at any depth, is valid Unicode: no lone "
    "UTF-16 surrogate (e.g. \\udc00) and no U+0000 (invalid_command naming the field). "
    f"JSON nesting is at most {MAX_NESTING} levels; integers lie within ±(2^63−1) "
    f"(payload.amount beyond it: invalid_amount)."
)


MESSAGE_LIMIT = 300  # messages are stored and published: a huge input is not echoed


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _capped(message: str) -> str:
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 3] + "..."


def _check_currency(code: str) -> str:
    if not is_iso_4217(code):
        raise PydanticCustomError(
            "currency", "must be an upper-case ISO 4217 code, got {code}", {"code": _shown(code)}
        )
    return code


def _parse_as_of(value: Any) -> datetime:
    try:
        return parse_as_of(value)
    except ValueError as error:
        raise PydanticCustomError("timestamp", str(error)) from None


def _parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PydanticCustomError("timestamp", "must be an ISO-8601 timestamp string")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            "timestamp", "must be an ISO-8601 timestamp, got {value}", {"value": _shown(value)}
        ) from None


Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
Amount = Annotated[int, Field(ge=1, le=MAX_AMOUNT, description="minor units")]
Currency = Annotated[str, AfterValidator(_check_currency)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=TEXT_PATTERN)]
AccountKind = Literal["customer", "merchant", "external", "fees"]


class Payload(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class OpenAccount(Payload):
    account_id: Identifier
    currency: Currency
    kind: AccountKind
    overdraft_limit: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] = 0


class CloseAccount(Payload):
    account_id: Identifier


class Transfer(Payload):
    transfer_id: Identifier
    from_account: Identifier
    to_account: Identifier
    amount: Amount
    currency: Currency


class AuthorizePayment(Payload):
    payment_id: Identifier
    payer_account: Identifier
    merchant_account: Identifier
    amount: Amount
    currency: Currency
    expires_in_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] | None = Field(
        default=None, description="the hold is released this long after the decision"
    )


class CapturePayment(Payload):
    payment_id: Identifier
    amount: Amount | None = None


class VoidPayment(Payload):
    payment_id: Identifier


class RefundPayment(Payload):
    payment_id: Identifier
    amount: Amount


class ChargebackPayment(Payload):
    payment_id: Identifier
    amount: Amount
    reason: Reason


class SettleMerchant(Payload):
    batch_id: Identifier
    merchant_account: Identifier
    payout_account: Identifier
    fees_account: Identifier
    fee_bps: Annotated[int, Field(ge=0, le=10_000)]


# --- disputes (issue 16): what each does is in payments.domain.dispute ---------------

DocumentRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9:_./\-]{1,200}$")]
DisputeOutcome = Literal["won", "lost"]


class OpenDispute(Payload):
    dispute_id: Identifier
    payment_id: Identifier
    amount: Amount
    reason_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-]{1,32}$")] = Field(
        description="the network's reason code, e.g. 10.4 (Visa fraud) or 4853"
    )
    network: Identifier = Field(description="who opened it: visa, mastercard, a provider")
    evidence_due_by: Annotated[datetime, BeforeValidator(_parse_as_of)] = Field(
        description="ISO-8601 with its zone: evidence after it is refused, none by it loses"
    )
    disputes_account: Identifier = Field(description="an external account holding the funds")
    fee: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] = Field(
        default=0, description="the dispute fee of the merchant's pricing (minor units)"
    )
    fee_refunded_if_won: bool = Field(default=False, description="the pricing gives it back")
    fees_account: Identifier | None = Field(
        default=None, validate_default=True, description="a fees account; required when fee > 0"
    )

    @field_validator("fees_account")
    @classmethod
    def _fee_needs_an_account(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("fee", 0) > 0:
            raise PydanticCustomError("required", "is required when fee > 0")
        return value


class SubmitDisputeEvidence(Payload):
    dispute_id: Identifier
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=TEXT_PATTERN)]
    documents: Annotated[list[DocumentRef], Field(max_length=20)] = Field(
        default_factory=list, description="references to documents stored elsewhere"
    )


class AcceptDispute(Payload):
    dispute_id: Identifier


class ProposeDisputeResolution(Payload):
    dispute_id: Identifier
    outcome: DisputeOutcome
    note: Reason


class ApproveDisputeResolution(Payload):
    dispute_id: Identifier
    outcome: DisputeOutcome = Field(description="must be the proposed one")


class Sweep(Payload):
    """A scheduled command (payments.tools.schedule): what is due as of a moment."""

    as_of: Annotated[datetime, BeforeValidator(_parse_as_of)] = Field(
        description="ISO-8601 with its zone; decided in UTC, never past the engine's clock"
    )


# --- risk and compliance (issue 18): payments.domain.controls and payments.domain.risk ---

KycTier = Annotated[int, Field(ge=0, le=9)]
Kinds = Annotated[list[AccountKind], Field(min_length=1, max_length=4)]
CaseRef = Annotated[Identifier, Field(description="the investigation's case reference")]
RuleAction = Annotated[
    Literal["block", "review"],
    Field(description="block: rejected; review: a transfer is held for review instead"),
]


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
    action: RuleAction = "block"


class MaximumRule(Payload):
    rule_id: Identifier
    kinds: Kinds
    currency: Currency
    kyc_tiers: Annotated[list[KycTier], Field(max_length=10)] = Field(
        default=[], description="the tiers it applies to; empty: every tier"
    )
    max_amount: Amount
    action: RuleAction = "block"


class VelocityRule(Payload):
    rule_id: Identifier
    kinds: Kinds
    currency: Currency
    window_seconds: Annotated[int, Field(ge=60, le=VELOCITY_MINUTES * 60, multiple_of=60)]
    max_count: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    max_sum: Amount | None = None
    action: RuleAction = "block"


class SetRiskRules(Payload):
    version: Annotated[int, Field(ge=1, description="the current version + 1")]
    cooling_off: Annotated[list[CoolingOffRule], Field(max_length=32)] = []
    maximums: Annotated[list[MaximumRule], Field(max_length=32)] = []
    velocity: Annotated[list[VelocityRule], Field(max_length=32)] = []


class RequestScreening(Payload):
    screening_id: Identifier
    holder_id: Identifier = Field(description="the account holder screened")
    account_ids: Annotated[list[Identifier], Field(min_length=1, max_length=20)] = Field(
        description="the holder's accounts: all are frozen if a hit is confirmed"
    )
    subject_ref: Identifier = Field(
        description="where the screener finds the holder's data (never the data itself)"
    )


class RecordScreeningResult(Payload):
    screening_id: Identifier
    result: Literal["clear", "hit"]
    score: Annotated[int, Field(ge=0, le=100, description="the provider's match score")] = 0
    matches: Annotated[list[Identifier], Field(max_length=20)] = Field(
        default_factory=list, description="the watch-list entries matched"
    )
    reason: Reason


class EscalateScreening(Payload):
    screening_id: Identifier
    reason: Reason


class ResolveScreening(Payload):
    screening_id: Identifier
    outcome: Literal["cleared", "confirmed"]
    reason: Reason


# Personal data (payments.domain.personal_data): checked here, then sealed by the
# handler; a rejection names the field and the rule, never the value.
PERSONAL_RULES = {
    "name": "must be 1-200 characters without control characters",
    "date_of_birth": "must be a date YYYY-MM-DD",
    "address": "must be 1-500 characters without NUL",
    "email": "must be an e-mail address local@domain, at most 254 characters",
}
HolderName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=LABEL_PATTERN)]
DateOfBirth = Annotated[
    str, StringConstraints(pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
]
Address = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=TEXT_PATTERN)]
_EMAIL_PART = r"[^@\s\x00-\x1F\x7F]"
EMAIL_PATTERN = f"^{_EMAIL_PART}{{1,64}}@{_EMAIL_PART}{{1,189}}$"
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]


class RegisterHolder(Payload):
    holder_id: Identifier = Field(description="the account holder (as screenings name them)")
    name: HolderName = Field(description="personal data: sealed, never stored in clear")
    date_of_birth: DateOfBirth = Field(description="personal data: sealed")
    address: Address = Field(description="personal data: sealed")
    email: Email = Field(description="personal data: sealed")


class RegisterHolderSealed(Payload):
    holder_id: Identifier
    sealed_personal_data: Annotated[
        str, StringConstraints(min_length=24, max_length=4096, pattern=r"^[A-Za-z0-9+/]+={0,2}$")
    ] = Field(
        description="name, date_of_birth, address and email sealed for the engine "
        "(AES-256-GCM under a key derived from the holder KEK; docs/security.md): the "
        "command then carries no personal data in clear. What POST /holders sends."
    )


class EraseHolder(Payload):
    holder_id: Identifier
    reason: Reason


class ApproveReview(Payload):
    transfer_id: Identifier = Field(description="the transfer a risk rule held for review")
    note: Reason


class DeclineReview(Payload):
    transfer_id: Identifier = Field(description="the transfer a risk rule held for review")
    note: Reason


PAYLOAD_MODELS: dict[str, type[Payload]] = {
    "open_account": OpenAccount,
    "close_account": CloseAccount,
    "transfer": Transfer,
    "authorize_payment": AuthorizePayment,
    "capture_payment": CapturePayment,
    "void_payment": VoidPayment,
    "refund_payment": RefundPayment,
    "chargeback_payment": ChargebackPayment,
    "settle_merchant": SettleMerchant,
    "open_dispute": OpenDispute,
    "submit_dispute_evidence": SubmitDisputeEvidence,
    "accept_dispute": AcceptDispute,
    "propose_dispute_resolution": ProposeDisputeResolution,
    "approve_dispute_resolution": ApproveDisputeResolution,
    "expire_disputes": Sweep,
    "freeze_account": FreezeAccount,
    "unfreeze_account": UnfreezeAccount,
    "set_kyc_tier": SetKycTier,
    "set_risk_rules": SetRiskRules,
    "expire_authorizations": Sweep,
    "approve_review": ApproveReview,
    "decline_review": DeclineReview,
    "request_screening": RequestScreening,
    "record_screening_result": RecordScreeningResult,
    "escalate_screening": EscalateScreening,
    "resolve_screening": ResolveScreening,
    "register_holder": RegisterHolder,
    "register_holder_sealed": RegisterHolderSealed,
    "erase_holder": EraseHolder,
}
COMMAND_TYPES: tuple[str, ...] = tuple(PAYLOAD_MODELS)


class SignedFields(BaseModel):
    """What an issuer signs: the envelope without its key id and signature."""

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, json_schema_extra={"description": TEXT_RULES}
    )

    command_id: Annotated[str, StringConstraints(pattern=COMMAND_ID_PATTERN)]
    type: Annotated[str, StringConstraints(max_length=64, pattern=TYPE_PATTERN)]
    actor: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=LABEL_PATTERN)]
    issued_at: Annotated[
        datetime | None, BeforeValidator(lambda v: None if v is None else _parse_timestamp(v))
    ] = None
    payload: dict[str, Any]
    on_behalf_of: Annotated[str, StringConstraints(pattern=PRINCIPAL_PATTERN)] | None = Field(
        default=None,
        description="only from a gateway principal: whom it issues the command for",
    )


class Envelope(SignedFields):
    """The command envelope as sent: the signed fields and their signature."""

    key_id: Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)] = Field(
        description="the issuer's signing key (docs/security.md); missing: unauthenticated"
    )
    signature: Annotated[str, StringConstraints(min_length=88, max_length=88)] = Field(
        description="standard base64 of the Ed25519 signature of the canonical form"
    )


class ParsedCommand(NamedTuple):  # immutable; a tuple is several times quicker to make
    command_id: str
    type: str
    actor: str
    issued_at: datetime | None
    payload: Payload


_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def is_valid_identifier(value: str) -> bool:
    return _IDENTIFIER.fullmatch(value) is not None


def is_valid_command_id(value: object) -> bool:
    """1–128 printable ASCII characters (0x20–0x7E)."""
    # Among ASCII characters, exactly 0x20–0x7E are printable: two C-level scans.
    return (
        isinstance(value, str)
        and 1 <= len(value) <= 128
        and value.isascii()
        and value.isprintable()
    )


def check_envelope(raw: dict[str, Any], model: type[SignedFields] = SignedFields) -> SignedFields:
    """The envelope's text rules and fields (the payload is still unchecked)."""
    if not isinstance(raw, dict):
        raise InvalidCommand("command: must be a JSON object")
    check_document(raw)  # before pydantic: no later step may see unclean text
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise _rejection(e, prefix="") from None


def parse_payload(envelope: SignedFields) -> ParsedCommand:
    model = PAYLOAD_MODELS.get(envelope.type)
    if model is None:
        raise UnknownCommandType(
            f"type: {_shown(envelope.type)} is not one of {', '.join(COMMAND_TYPES)}"
        )
    try:
        payload = model.model_validate(envelope.payload)
    except ValidationError as e:
        raise _rejection(e, prefix="payload.") from None
    return ParsedCommand(
        command_id=envelope.command_id,
        type=envelope.type,
        actor=envelope.actor,
        issued_at=envelope.issued_at,
        payload=payload,
    )


def parse_envelope(raw: dict[str, Any]) -> ParsedCommand:
    """The command a document spells, whether signed or not (tools, tests, the docs)."""
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k not in ("key_id", "signature")}
    return parse_payload(check_envelope(raw))


def _rejection(error: ValidationError, prefix: str) -> Rejection:
    """The first error decides the code; its message names the field and why."""
    first = error.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    field = loc[0] if loc else ""
    path = prefix + ".".join(loc) if loc else prefix.rstrip(".") or "command"
    why = _why(first, field)
    message = _capped(f"{path}: {why}")
    if prefix and first["type"] != "missing":
        if field == "amount":
            return InvalidAmount(message)
        if field == "currency":
            return InvalidCurrency(message)
    return InvalidCommand(message)


def _why(error: ErrorDetails, field: str) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if field in PERSONAL_RULES and kind != "extra_forbidden":
        return PERSONAL_RULES[field]  # never pydantic's text: it may quote the value
    if kind == "extra_forbidden":
        return "is not an allowed field"
    if kind == "string_pattern_mismatch":
        if field in ("type", "actor"):
            return LABEL_RULE
        return COMMAND_ID_RULE if field == "command_id" else IDENTIFIER_RULE
    if field in ("amount", "overdraft_limit", "fee_bps") and kind in ("int_type", "int_parsing"):
        return f"must be a JSON integer of minor units, got {type(error['input']).__name__}"
    if field == "amount" and kind in ("greater_than_equal", "less_than_equal"):
        return f"must be between 1 and {MAX_AMOUNT}, got {integer_size(error['input'])}"
    if field == "currency" and kind == "string_type":
        return "must be an upper-case ISO 4217 code string"
    return error["msg"].lower() if error["msg"][:1].isupper() else error["msg"]
