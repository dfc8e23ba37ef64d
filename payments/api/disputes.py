"""The disputes admin API: list and read disputes, and work them with commands.

Reads come from the `disputes` and `dispute_timeline` tables (kept by the balances
projection) with the query role, scope disputes:read. Every write, scope
disputes:write, is one dispute command (docs/contract.md, "Disputes") signed on
behalf of the key's principal and answered exactly like POST /commands
(payments.api.commands.decide): 200 with the engine's outcome, accepted or rejected,
or 202 with the `Location` to poll. The engine decides each with the principal's
roles, so the two-person rule is its: the principal who proposed a resolution gets
`proposer_cannot_approve` when it approves it.

The command_id is the `Idempotency-Key` header, or one made here (then a retry is a
second command: send the header). A key restricted to accounts sees and works only
the disputes of its merchant accounts (payments.api.restriction.check_dispute).
The list is in (evidence_due_by, dispute_id) order, paged by keyset: `after` is the
last dispute_id of the previous page (a dispute's due date never changes).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from payments.api.auth import Caller, requires
from payments.api.commands import PENDING, CommandOutcome, decide
from payments.api.gateway import COMMAND_ID_PATTERN, CommandRequest
from payments.api.problems import ApiProblem, problem_responses
from payments.api.restriction import check_account, check_dispute
from payments.domain.commands import (
    IDENTIFIER_PATTERN,
    TEXT_PATTERN,
    DisputeOutcome,
    DocumentRef,
    Reason,
)
from payments.domain.dispute import DECIDED, NEEDS_RESPONSE, UNDER_REVIEW
from projections import queries

DisputeReader = Annotated[Caller, Depends(requires("disputes:read"))]
DisputeWriter = Annotated[Caller, Depends(requires("disputes:write"))]
DisputeId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="a dispute_id")]
Status = Literal["needs_response", "under_review", "won", "lost"]
assert set(get_args(Status)) == {NEEDS_RESPONSE, UNDER_REVIEW, *DECIDED}  # the domain's
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=COMMAND_ID_PATTERN,
        description="the command_id; without it one is made (a retry is then a new command)",
    ),
]
WRITE_RESPONSES = PENDING | problem_responses(401, 403, 422, 429, 503)

router = APIRouter(tags=["disputes"])


class DisputeView(BaseModel):
    dispute_id: str
    payment_id: str
    merchant_account: str
    payer_account: str
    currency: str = Field(description="ISO 4217; amount and fee are in it")
    amount: int = Field(description="minor units taken from the merchant")
    fee: int = Field(description="minor units: the dispute fee")
    reason_code: str
    network: str
    status: Status
    evidence_due_by: datetime
    evidence_count: int
    proposed_outcome: str | None = Field(description="won or lost, once proposed")
    proposed_by: str | None
    decided_by: str | None = Field(description="who approved (or accepted, or the sweep)")
    cause: str | None = Field(description="approved, accepted or expired, once decided")
    opened_at: datetime
    updated_at: datetime


class TimelineStep(BaseModel):
    position: int = Field(description="the event's position in the audit log")
    event_type: str
    actor: str
    recorded_at: datetime
    detail: dict[str, Any] = Field(description="the event's fields (evidence, outcome, note)")


class DisputeDetail(DisputeView):
    timeline: list[TimelineStep]


class DisputePage(BaseModel):
    items: list[DisputeView]
    next_after: str | None = Field(
        description="pass as `after` for the next page; null on a short page (the end)"
    )


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=4000, pattern=TEXT_PATTERN)]
    documents: Annotated[list[DocumentRef], Field(max_length=20)] = Field(
        default_factory=list, description="references to documents stored elsewhere (doc:…)"
    )


class Proposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: DisputeOutcome = Field(description="the network's decision")
    note: Reason


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: DisputeOutcome = Field(description="must be the proposed one")


def _conn(request: Request) -> Any:
    return request.app.state.pool.connection()


@router.get("/disputes", response_model=DisputePage, responses=problem_responses(
    401, 403, 422, 429, 503))  # fmt: skip
def list_disputes(
    request: Request,
    caller: DisputeReader,
    status: Status | None = None,
    due_before: Annotated[
        AwareDatetime | None, Query(description="evidence due before it (ISO-8601, a zone)")
    ] = None,
    merchant_account: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    after: Annotated[
        str | None, Query(pattern=IDENTIFIER_PATTERN, description="the last dispute_id seen")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Disputes by status and evidence due date, earliest due first, paged."""
    merchants: list[str] | None = None
    if merchant_account is not None:
        check_account(caller.accounts, merchant_account)
        merchants = [merchant_account]
    elif caller.accounts:
        merchants = sorted(caller.accounts)
    with _conn(request) as conn:
        cursor = None if after is None else _cursor(conn, caller.accounts, after)
        rows = queries.list_disputes(
            conn, status=status, due_before=due_before, merchant_accounts=merchants,
            after=cursor, limit=limit,
        )  # fmt: skip
    next_after = rows[-1]["dispute_id"] if len(rows) == limit else None
    return {"items": rows, "next_after": next_after}


def _cursor(conn: Any, accounts: frozenset[str], after: str) -> tuple[datetime, str]:
    """The keyset of the dispute `after`, one the caller may see; else 422."""
    last = queries.get_dispute(conn, after, timeline=False)
    if last is None or (accounts and last["merchant_account"] not in accounts):
        why = f"no dispute {after} of yours to page after"
        raise ApiProblem(
            "invalid-request", f"after: {why}", errors=[{"loc": ["query", "after"], "msg": why}]
        )
    return last["evidence_due_by"], last["dispute_id"]


@router.get("/disputes/{dispute_id}", response_model=DisputeDetail,
            responses=problem_responses(401, 403, 404, 422, 429, 503))  # fmt: skip
def get_dispute(request: Request, dispute_id: DisputeId, caller: DisputeReader) -> dict[str, Any]:
    """A dispute now, and its timeline: every step with its actor, oldest first."""
    with _conn(request) as conn:
        row = queries.get_dispute(conn, dispute_id, timeline=True)
    check_dispute(caller.accounts, row)
    if row is None:
        raise ApiProblem("not-found", f"no dispute {dispute_id}")
    return row


async def _command(
    request: Request,
    caller: Caller,
    type_: str,
    payload: dict[str, Any],
    idempotency_key: str | None,
) -> Any:
    if caller.accounts:  # before anything is signed or published
        with _conn(request) as conn:
            check_dispute(caller.accounts, queries.get_dispute(conn, payload["dispute_id"],
                                                               timeline=False))  # fmt: skip
    command_id = idempotency_key or f"{type_}-{uuid.uuid4()}"
    command = CommandRequest(command_id=command_id, type=type_, payload=payload)
    return await decide(request, command, caller, command_id)


@router.post("/disputes/{dispute_id}/evidence", response_model=CommandOutcome,
             responses=WRITE_RESPONSES)  # fmt: skip
async def submit_evidence(
    request: Request,
    dispute_id: DisputeId,
    evidence: Evidence,
    caller: DisputeWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """submit_dispute_evidence: text and document references, by the due date."""
    payload = {"dispute_id": dispute_id, **evidence.model_dump()}
    return await _command(request, caller, "submit_dispute_evidence", payload, idempotency_key)


@router.post("/disputes/{dispute_id}/accept", response_model=CommandOutcome,
             responses=WRITE_RESPONSES)  # fmt: skip
async def accept(
    request: Request,
    dispute_id: DisputeId,
    caller: DisputeWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """accept_dispute: the merchant does not contest it; lost at once."""
    payload = {"dispute_id": dispute_id}
    return await _command(request, caller, "accept_dispute", payload, idempotency_key)


@router.post("/disputes/{dispute_id}/resolution", response_model=CommandOutcome,
             responses=WRITE_RESPONSES)  # fmt: skip
async def propose_resolution(
    request: Request,
    dispute_id: DisputeId,
    proposal: Proposal,
    caller: DisputeWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """propose_dispute_resolution: the first of the two people (once under review)."""
    payload = {"dispute_id": dispute_id, **proposal.model_dump()}
    return await _command(request, caller, "propose_dispute_resolution", payload,
                          idempotency_key)  # fmt: skip


@router.post("/disputes/{dispute_id}/resolution/approval", response_model=CommandOutcome,
             responses=WRITE_RESPONSES)  # fmt: skip
async def approve_resolution(
    request: Request,
    dispute_id: DisputeId,
    approval: Approval,
    caller: DisputeWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """approve_dispute_resolution: another principal than the proposer; won or lost."""
    payload = {"dispute_id": dispute_id, **approval.model_dump()}
    return await _command(request, caller, "approve_dispute_resolution", payload,
                          idempotency_key)  # fmt: skip
