"""KYC/AML screening review over HTTP (scope `compliance:review`, docs/api.md).

- `GET /screenings`: the screenings by id, narrowed to a status and a holder, paged
  (`after` the last id seen, `limit`), read from the audit log like the case file.
- `GET /screenings/{screening_id}`: the screening's case file, folded from the audit
  log (the query role may not read the event store): holder, accounts, status, and
  every step with its actor, reason and time.
- `POST /screenings/{screening_id}/escalation` (`reason`) and
  `POST /screenings/{screening_id}/resolution` (`outcome`, `reason`): the
  `escalate_screening` / `resolve_screening` commands (payments.domain.screening),
  signed on the caller's behalf and answered as POST /commands answers (the engine
  decides them with the caller's roles: `compliance` may, others get `forbidden`).
  The command id is the body's `command_id` or the Idempotency-Key header.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from payments.api.auth import Caller, requires
from payments.api.commands import PENDING, CommandOutcome, submit
from payments.api.gateway import COMMAND_ID_PATTERN, CommandRequest
from payments.api.problems import ApiProblem, problem_responses
from payments.domain.commands import IDENTIFIER_PATTERN
from projections import queries

Reviewer = Annotated[Caller, Depends(requires("compliance:review"))]
ScreeningId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="an identifier")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", pattern=COMMAND_ID_PATTERN,
           description="the command_id, when the body has none"),
]  # fmt: skip
Reason = Annotated[str, Field(min_length=1, max_length=256)]
router = APIRouter()
ScreeningStatus = Literal["pending", "flagged", "escalated", "cleared", "confirmed"]


class ScreeningStep(BaseModel):
    step: Literal["requested", "flagged", "escalated", "cleared", "confirmed"]
    actor: str | None
    recorded_at: datetime
    reason: str | None = None
    score: int | None = None
    matches: list[str] | None = None


class ScreeningCase(BaseModel):
    screening_id: str
    holder_id: str
    account_ids: list[str]
    subject_ref: str
    status: ScreeningStatus
    steps: list[ScreeningStep]


class ScreeningSummary(BaseModel):
    screening_id: str
    holder_id: str
    account_ids: list[str]
    subject_ref: str
    status: ScreeningStatus
    requested_at: datetime
    updated_at: datetime = Field(description="when its last step was recorded")


class ScreeningPage(BaseModel):
    items: list[ScreeningSummary]
    next_after: str | None = Field(
        description="pass as `after` for the next page; null on a short page (the end)"
    )


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command_id: str | None = Field(default=None, pattern=COMMAND_ID_PATTERN)
    reason: Reason


class Resolution(Escalation):
    outcome: Literal["cleared", "confirmed"]


def case_of(screening_id: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The case file from the screening's audit rows (None before its request)."""
    if not rows or rows[0]["event_type"] != "Screening.Requested":
        return None
    opened = rows[0]["payload"]
    steps = []
    for row in rows:
        payload, step = row["payload"], row["event_type"].split(".", 1)[1].lower()
        entry: dict[str, Any] = {"step": step, "actor": row["actor"],
                                 "recorded_at": row["recorded_at"]}  # fmt: skip
        if step != "requested":
            entry["reason"] = payload.get("reason")
        if step == "flagged":
            entry |= {"score": payload["score"], "matches": payload["matches"].split()}
        steps.append(entry)
    status = steps[-1]["step"]
    return {
        "screening_id": screening_id,
        "holder_id": opened["holder_id"],
        "account_ids": opened["account_ids"].split(),
        "subject_ref": opened["subject_ref"],
        "status": "pending" if status == "requested" else status,
        "steps": steps,
    }


@router.get(
    "/screenings",
    response_model=ScreeningPage,
    responses=problem_responses(401, 403, 422, 429, 503),
)
def list_screenings(
    request: Request,
    caller: Reviewer,
    status: ScreeningStatus | None = None,
    holder_id: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    after: Annotated[
        str | None, Query(pattern=IDENTIFIER_PATTERN, description="the last screening_id seen")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Screenings by id, narrowed to a status (pending: the provider has not answered)
    and an account holder, paged."""
    with request.app.state.pool.connection() as conn:
        rows = queries.list_screenings(
            conn, status=status, holder_id=holder_id, after=after, limit=limit
        )
    next_after = rows[-1]["screening_id"] if len(rows) == limit else None
    return {"items": rows, "next_after": next_after}


@router.get(
    "/screenings/{screening_id}",
    response_model=ScreeningCase,
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
def get_screening(request: Request, screening_id: ScreeningId, caller: Reviewer) -> Any:
    """A screening's case file: its status and every step, who took it and why."""
    with request.app.state.pool.connection() as conn:
        found = case_of(screening_id, queries.screening_events(conn, screening_id))
    if found is None:
        raise ApiProblem("not-found", f"no screening {screening_id}")
    return found


COMMAND_RESPONSES = PENDING | problem_responses(401, 403, 422, 429, 503)


@router.post(
    "/screenings/{screening_id}/escalation",
    response_model=CommandOutcome,
    responses=COMMAND_RESPONSES,
)
async def escalate(
    request: Request,
    screening_id: ScreeningId,
    body: Escalation,
    caller: Reviewer,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Escalate a flagged screening (`escalate_screening`), answered with its outcome."""
    command = CommandRequest(
        command_id=body.command_id,
        type="escalate_screening",
        payload={"screening_id": screening_id, "reason": body.reason},
    )
    return await submit(request, command, caller, idempotency_key)


@router.post(
    "/screenings/{screening_id}/resolution",
    response_model=CommandOutcome,
    responses=COMMAND_RESPONSES,
)
async def resolve(
    request: Request,
    screening_id: ScreeningId,
    body: Resolution,
    caller: Reviewer,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Clear or confirm an escalated screening (`resolve_screening`); a confirmed hit
    freezes the holder's accounts."""
    command = CommandRequest(
        command_id=body.command_id,
        type="resolve_screening",
        payload={"screening_id": screening_id, "outcome": body.outcome, "reason": body.reason},
    )
    return await submit(request, command, caller, idempotency_key)
