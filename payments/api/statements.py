"""GET /accounts/{account_id}/statements: a period's statement, as JSON, CSV or PDF.

Folded from the audit log (the query role may not read the event store; the audit
log holds every event, hash-chained) by projections.balances.statement, in one
REPEATABLE READ snapshot with the log's last position, which the answer names: the
statement is exact up to it, so a period that ended before it is final.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime

from payments.api.auth import Caller, requires
from payments.api.models import StatementView
from payments.api.problems import ApiProblem, problem_responses
from payments.api.restriction import check_account
from payments.api.routes import Id
from payments.api.statement_csv import render_csv
from payments.api.statement_pdf import render_pdf
from projections import queries
from projections.balances.statement import statement_of

StatementsReader = Annotated[Caller, Depends(requires("statements:read"))]
CSV, PDF = "text/csv", "application/pdf"
router = APIRouter()


def chosen_type(accept: str) -> str:
    """The first of CSV or PDF the Accept header names, else JSON (the default)."""
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in (CSV, PDF):
            return media
    return "application/json"


@router.get(
    "/accounts/{account_id}/statements",
    response_model=StatementView,
    responses={
        200: {
            "content": {
                CSV: {"schema": {"type": "string"}},
                PDF: {"schema": {"type": "string", "format": "binary"}},
            }
        },
        **problem_responses(401, 403, 404, 422, 429, 503),
    },
)
def get_statement(
    request: Request,
    account_id: Id,
    start: Annotated[AwareDatetime, Query(alias="from", description="inclusive, with a zone")],
    end: Annotated[AwareDatetime, Query(alias="to", description="exclusive, with a zone")],
    caller: StatementsReader,
) -> Any:
    """Opening balance, every posting with its running balance, totals, closing balance."""
    check_account(caller.accounts, account_id)
    if start >= end:
        why = [{"loc": ["query", "from"], "msg": "must be before to"}]
        raise ApiProblem("invalid-request", "from: must be before to", errors=why)
    with request.app.state.pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        events = queries.account_events_from_audit(conn, account_id)
        position = queries.audit_position(conn)
    found = statement_of(events, account_id, start, end)
    if found is None:
        raise ApiProblem("not-found", f"no account {account_id} before {end.isoformat()}")
    view = {
        "account_id": account_id,
        "currency": found.currency,
        "from": start,
        "to": end,
        "opening_balance": found.opening,
        "total_credits": found.credits,
        "total_debits": found.debits,
        "closing_balance": found.closing,
        "postings": [
            {
                "position": m.position,
                "recorded_at": m.recorded_at,
                "event_type": m.event_type,
                "amount": m.posted_change,
                "balance": m.posted_after,
                "posting_id": m.posting_id,
                "counterparty": m.counterparty,
                "reason": m.reason,
                "reference": m.reference,
            }
            for m in found.postings
        ],
        "position": position,
    }
    media = chosen_type(request.headers.get("accept", ""))
    name = f"statement-{account_id}-{start.date()}"
    if media == CSV:
        return Response(
            render_csv(view),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if media == PDF:
        return Response(
            render_pdf(view),
            media_type=PDF,
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )
    return view
