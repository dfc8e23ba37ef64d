"""Holders' personal data over HTTP (scopes `holders:read`, `holders:write`; docs/api.md).

- `GET /holders/{holder_id}`: the holder's name, date of birth, address and e-mail,
  opened from the sealed `Holder.Registered` of the audit log with the holder's data
  key (`holder_keys`, unwrapped with PAYMENTS_HOLDER_KEY_FILE). Once the holder is
  erased, or its key is gone, the answer is `erased: true` and no personal field: the
  sealed copies stay in the audit chain, unreadable for ever.
- `PUT /holders/{holder_id}` (the four fields): `register_holder_sealed`, the fields
  sealed for the engine here (`seal_for_engine`), so the command on Kafka carries no
  personal data in clear; signed on the caller's behalf and answered as POST /commands.
- `POST /holders/{holder_id}/erasure` (`reason`): `erase_holder`.
The engine decides both with the caller's roles (`compliance` may).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from payments.api.auth import Caller, requires
from payments.api.commands import PENDING, CommandOutcome, submit
from payments.api.gateway import COMMAND_ID_PATTERN, CommandRequest
from payments.api.problems import ApiProblem, problem_responses
from payments.api.restriction import check_unrestricted
from payments.domain.commands import IDENTIFIER_PATTERN, Address, DateOfBirth, Email, HolderName
from payments.domain.personal_data import (
    PERSONAL_FIELDS,
    PersonalDataError,
    open_sealed,
    seal_for_engine,
    unwrap_key,
)
from projections import queries

HoldersReader = Annotated[Caller, Depends(requires("holders:read"))]
HoldersWriter = Annotated[Caller, Depends(requires("holders:write"))]
HolderId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="an identifier")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", pattern=COMMAND_ID_PATTERN,
           description="the command_id, when the body has none"),
]  # fmt: skip
router = APIRouter()
COMMAND_RESPONSES = PENDING | problem_responses(401, 403, 422, 429, 503)


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command_id: str | None = Field(default=None, pattern=COMMAND_ID_PATTERN)
    name: HolderName
    date_of_birth: DateOfBirth
    address: Address
    email: Email


class Erasure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command_id: str | None = Field(default=None, pattern=COMMAND_ID_PATTERN)
    reason: Annotated[str, Field(min_length=1, max_length=256)]


class HolderView(BaseModel):
    holder_id: str
    status: Literal["registered", "erased"]
    erased: bool
    registered_at: datetime
    registered_by: str | None
    erased_at: datetime | None = None
    erased_by: str | None = None
    erasure_reason: str | None = None
    # Personal data: null once erased.
    name: str | None = None
    date_of_birth: str | None = None
    address: str | None = None
    email: str | None = None


def holder_view(
    holder_id: str, rows: list[dict[str, Any]], wrapped: bytes | None, kek: bytes
) -> dict[str, Any] | None:
    """The holder from its audit rows and wrapped key (None before its registration)."""
    if not rows or rows[0]["event_type"] != "Holder.Registered":
        return None
    registered = rows[0]
    view: dict[str, Any] = {
        "holder_id": holder_id,
        "registered_at": registered["recorded_at"],
        "registered_by": registered["actor"],
    }
    erasure = next((r for r in rows if r["event_type"] == "Holder.Erased"), None)
    if erasure is not None:
        view |= {
            "erased_at": erasure["recorded_at"],
            "erased_by": erasure["actor"],
            "erasure_reason": erasure["payload"].get("reason"),
        }
    if erasure is not None or wrapped is None:  # the key goes first: erased either way
        return view | {"status": "erased", "erased": True}
    try:
        data_key = unwrap_key(kek, holder_id, wrapped)
        fields = open_sealed(data_key, holder_id, registered["payload"]["personal_data"])
    except PersonalDataError as error:
        raise ApiProblem("internal-error", "the holder's data does not open") from error
    return view | {"status": "registered", "erased": False, **fields}


@router.get(
    "/holders/{holder_id}",
    response_model=HolderView,
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
def get_holder(request: Request, holder_id: HolderId, caller: HoldersReader) -> Any:
    """A holder's personal data, opened with its key; `erased: true` once erased."""
    check_unrestricted(caller.accounts, "holders")
    kek = _kek(request)
    with request.app.state.pool.connection() as conn:
        rows = queries.holder_events(conn, holder_id)
        wrapped = queries.wrapped_holder_key(conn, holder_id)
    found = holder_view(holder_id, rows, wrapped, kek)
    if found is None:
        raise ApiProblem("not-found", f"no holder {holder_id}")
    return found


def _kek(request: Request) -> bytes:
    kek = request.app.state.settings.holder_kek()
    if kek is None:
        raise ApiProblem("unavailable", "the API has no holder key (PAYMENTS_HOLDER_KEY_FILE)")
    return kek


@router.put("/holders/{holder_id}", response_model=CommandOutcome, responses=COMMAND_RESPONSES)
async def register(
    request: Request,
    holder_id: HolderId,
    body: Registration,
    caller: HoldersWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Register a holder's personal data (`register_holder_sealed`), sealed here for the
    engine: nothing personal travels in clear on Kafka."""
    fields = {field: getattr(body, field) for field in PERSONAL_FIELDS}
    sealed = seal_for_engine(_kek(request), holder_id, fields)
    command = CommandRequest(
        command_id=body.command_id,
        type="register_holder_sealed",
        payload={"holder_id": holder_id, "sealed_personal_data": sealed},
    )
    return await submit(request, command, caller, idempotency_key)


@router.post(
    "/holders/{holder_id}/erasure", response_model=CommandOutcome, responses=COMMAND_RESPONSES
)
async def erase(
    request: Request,
    holder_id: HolderId,
    body: Erasure,
    caller: HoldersWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Erase a holder (`erase_holder`): its key is destroyed, its data reads as erased."""
    command = CommandRequest(
        command_id=body.command_id,
        type="erase_holder",
        payload={"holder_id": holder_id, "reason": body.reason},
    )
    return await submit(request, command, caller, idempotency_key)
