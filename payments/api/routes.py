"""The endpoints: each reads projection tables with the query role, after `requires`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AwareDatetime

from payments.api.auth import Caller, requires
from payments.api.models import AuditPage, Balance, Health, History, PaymentView, Settlement
from payments.api.problems import ApiProblem, problem_responses
from payments.api.restriction import check_account, check_payment, check_unrestricted
from payments.domain.commands import IDENTIFIER_PATTERN
from projections import queries
from projections.balances.history import history_of

MAX_POSITION = 2**63 - 1  # bigint: larger cursors are a 422, not a database error
Id = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="an identifier")]
AUTH_PROBLEMS = problem_responses(401, 403, 422, 429, 503)
FOUND_PROBLEMS = problem_responses(401, 403, 404, 422, 429, 503)

# The caller, once its key has the scope (payments.api.auth).
AccountsReader = Annotated[Caller, Depends(requires("accounts:read"))]
PaymentsReader = Annotated[Caller, Depends(requires("payments:read"))]
SettlementsReader = Annotated[Caller, Depends(requires("settlements:read"))]
AuditReader = Annotated[Caller, Depends(requires("audit:read"))]

router = APIRouter()


def _conn(request: Request) -> Any:
    return request.app.state.pool.connection()


@router.get("/accounts/{account_id}", response_model=Balance, responses=FOUND_PROBLEMS)
def get_account(request: Request, account_id: Id, caller: AccountsReader) -> dict[str, Any]:
    """An account's balances now (as the balances projection holds them)."""
    check_account(caller.accounts, account_id)
    with _conn(request) as conn:
        row = queries.get_balance(conn, account_id)
    if row is None:
        raise ApiProblem("not-found", f"no account {account_id}")
    return row


@router.get("/accounts/{account_id}/history", response_model=History, responses=FOUND_PROBLEMS)
def get_history(
    request: Request,
    account_id: Id,
    as_of: Annotated[AwareDatetime, Query(description="ISO-8601 with a zone")],
    caller: AccountsReader,
) -> dict[str, Any]:
    """The account at `as_of`, and every movement up to then, folded from the audit log.

    Exact as far as the audit projection has come (the query role may not read the
    event store; `payments history` reads it as the auditor).
    """
    check_account(caller.accounts, account_id)
    with _conn(request) as conn:
        events = queries.account_events_from_audit(conn, account_id)
    found = history_of(events, account_id, as_of)
    if found is None:
        raise ApiProblem("not-found", f"no account {account_id} at {as_of.isoformat()}")
    balance = found.balance
    return {
        "account_id": account_id,
        "as_of": as_of,
        "currency": balance["currency"],
        "posted": balance["posted"],
        "held": balance["held"],
        "available": balance["available"],
        "movements": [vars(m) for m in found.movements],
    }


@router.get("/payments/{payment_id}", response_model=PaymentView, responses=FOUND_PROBLEMS)
def get_payment(request: Request, payment_id: Id, caller: PaymentsReader) -> dict[str, Any]:
    """A payment and its running totals."""
    with _conn(request) as conn:
        row = queries.get_payment(conn, payment_id)
    check_payment(caller.accounts, row)
    if row is None:
        raise ApiProblem("not-found", f"no payment {payment_id}")
    return row


@router.get("/settlements/{batch_id}", response_model=Settlement, responses=FOUND_PROBLEMS)
def get_settlement(
    request: Request,
    batch_id: Id,
    caller: SettlementsReader,
    items_after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
    items_limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    """A settlement batch with its items (captures, refunds, chargebacks, disputes), paged."""
    check_unrestricted(caller.accounts, "settlement batches")
    with _conn(request) as conn:
        batch = queries.get_settlement_page(conn, batch_id, items_after, items_limit)
    if batch is None:
        raise ApiProblem("not-found", f"no settlement batch {batch_id}")
    items = batch["items"]
    batch["next_items_after"] = items[-1]["position"] if len(items) == items_limit else None
    return batch


@router.get("/audit", response_model=AuditPage, responses=AUTH_PROBLEMS)
def get_audit(
    request: Request,
    caller: AuditReader,
    after: Annotated[int, Query(ge=0, le=MAX_POSITION, description="a position")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The hash-chained audit log after a position, oldest first."""
    check_unrestricted(caller.accounts, "the audit log")
    with _conn(request) as conn:
        rows = queries.audit_after(conn, after, limit)
    for row in rows:
        row["event_id"], row["aggregate_id"] = str(row["event_id"]), str(row["aggregate_id"])
    last = rows[-1]["position"] if rows else None
    # A short page is the end for now; the cursor stays usable to poll for more.
    return {"items": rows, "next_after": last if len(rows) == limit else None}


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "PostgreSQL is not answering"}},
)
def health(request: Request) -> JSONResponse:
    """Whether the API can read its tables (no key needed, like the other processes')."""
    try:
        with request.app.state.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        ok = True
    except Exception:
        ok = False
    body = Health(status="ok" if ok else "degraded", postgres=ok)
    return JSONResponse(body.model_dump(), 200 if ok else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format."""
    data = generate_latest(request.app.state.metrics.registry)
    return PlainTextResponse(data.decode(), media_type=CONTENT_TYPE_LATEST)
