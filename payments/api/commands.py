"""POST /commands and GET /commands/{command_id}: commands over HTTP, with idempotency.

POST signs the body on behalf of the key's principal (payments.api.gateway),
publishes it and waits up to PAYMENTS_API_COMMAND_TIMEOUT for the engine's answer:
200 with the outcome (accepted or rejected alike: the request itself succeeded), or
202 with `Location: /commands/{id}`. Sending the same command_id again is answered
by the engine from its record (`replayed: true`).

GET answers from the audit log's CommandRecord.Decided rows (the query role reads
it; it holds every remembered decision, with `via`), for the caller's own commands
only; else from what this process saw on the results topic (an envelope error is
answered but never stored); else 202 while this process still waits, 404 otherwise.
Its scope is commands:write: the outcome belongs to whoever may send commands, and
a caller only ever sees its own. A key restricted to accounts may send only commands
that debit, open or close its accounts (payments.api.restriction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from payments.api.auth import Caller, requires
from payments.api.gateway import COMMAND_ID_PATTERN, CommandRequest, signed_envelope
from payments.api.problems import ApiProblem, problem_responses
from payments.api.restriction import check_command
from projections import queries

CommandWriter = Annotated[Caller, Depends(requires("commands:write"))]
router = APIRouter()


class CommandOutcome(BaseModel):
    """The engine's answer (docs/contract.md, "Outcome")."""

    command_id: str
    type: str | None
    status: Literal["accepted", "rejected"]
    code: str | None = Field(description="a rejection code; null when accepted")
    message: str
    replayed: bool = Field(description="answered again from the stored decision")
    processed_at: datetime
    via: str | None = Field(default=None, description="the gateway that signed it (GET only)")


class CommandPending(BaseModel):
    command_id: str
    status: Literal["pending"]
    location: str = Field(description="poll it: GET this path")


def _location(command_id: str) -> str:
    return "/commands/" + quote(command_id, safe="")


def _pending(command_id: str) -> JSONResponse:
    where = _location(command_id)
    body = CommandPending(command_id=command_id, status="pending", location=where)
    return JSONResponse(body.model_dump(), 202, headers={"Location": where})


def check_commands_on(request: Request) -> None:
    state = request.app.state
    if state.bus is None or state.gateway is None:
        raise ApiProblem("unavailable", "commands are not configured on this API process")


PENDING = {202: {"model": CommandPending, "description": "no outcome yet: poll `Location`"}}


@router.post(
    "/commands",
    response_model=CommandOutcome,
    responses=PENDING | problem_responses(401, 403, 422, 429, 503),
)
async def post_command(
    request: Request,
    command: CommandRequest,
    caller: CommandWriter,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=COMMAND_ID_PATTERN,
            description="the command_id, when the body has none",
        ),
    ] = None,
) -> Any:
    """Sign the command on behalf of the key's principal, publish it, await the outcome."""
    check_commands_on(request)
    check_command(caller.accounts, command.type, command.payload)  # before anything is sent
    return await decide(request, command, caller, idempotency_key)


async def submit(
    request: Request, command: CommandRequest, caller: Caller, idempotency_key: str | None
) -> Any:
    """POST /commands' work (the key's account restriction, then `decide`), for the
    endpoints that issue one command type (payments.api.screenings)."""
    check_command(caller.accounts, command.type, command.payload)
    return await decide(request, command, caller, idempotency_key)


async def decide(
    request: Request, command: CommandRequest, caller: Caller, idempotency_key: str | None
) -> Any:
    """Sign `command` for the caller, publish it, and answer the engine's outcome (200)
    or 202 pending; also what the dispute endpoints answer (payments.api.disputes)."""
    check_commands_on(request)
    state = request.app.state
    envelope = signed_envelope(state.gateway, command, caller.principal, idempotency_key)
    timeout = state.settings.api_command_timeout
    try:
        outcome = await run_in_threadpool(state.bus.submit, envelope, timeout)
    except Exception as error:  # the broker did not take it: nothing was decided
        why = f"Kafka did not accept the command: {type(error).__name__}"
        raise ApiProblem("unavailable", why) from None
    if outcome is None:
        return _pending(envelope["command_id"])
    return CommandOutcome.model_validate(outcome)


@router.get(
    "/commands/{command_id:path}",
    response_model=CommandOutcome,
    responses=PENDING | problem_responses(401, 403, 404, 422, 429, 503),
)
def get_command(
    request: Request,
    command_id: Annotated[str, Path(pattern=COMMAND_ID_PATTERN)],
    caller: CommandWriter,
) -> Any:
    """The outcome of one of the caller's commands, once known."""
    with request.app.state.pool.connection() as conn:
        decided = queries.command_decision(conn, command_id, caller.principal)
    if decided is not None:
        return decided
    bus = request.app.state.bus
    seen = bus.known(command_id, caller.principal) if bus is not None else None
    if seen is not None and seen.outcome is not None:
        return CommandOutcome.model_validate(seen.outcome)
    if seen is not None:
        return _pending(command_id)
    raise ApiProblem("not-found", f"no outcome known for a command {command_id} of yours")
