"""POST /reconciliation/imports: a bank statement file imported over HTTP (scope
`reconciliation:write`, docs/api.md and docs/reconciliation.md).

The body is the file's bytes as the bank sent it (camt.053, MT940 or the CSV layout),
at most `MAX_BODY`; `account` names the ledger's external account it reconciles. The
import is `payments reconcile import`'s (payments.reconciliation.importing), with
the caller's principal as its actor, run on a connection of its own as the
reconciler database role (PAYMENTS_RECONCILER_DATABASE_URL): the API's query role
may append nothing, and the reconciler may append only BankStatement and
ReconciliationException events (a trigger of payments.ledger.schema), so this
endpoint gives the API no other write. Answers:

- 201 with the report (matches, exceptions) when a statement of the file was new;
- 200 with the stored report when every statement was imported before (nothing
  changes: a retried upload is safe);
- 422 problem+json: `statement-unreadable` (not a statement, or another currency),
  `statement-unbalanced` (with `difference` and `currency`; nothing of the file is
  stored), `account-not-reconcilable`; 413 over the size limit; 503 when no
  reconciler URL is configured.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from payments.api.auth import Caller, requires
from payments.api.problems import ApiProblem, problem_responses
from payments.api.restriction import check_account
from payments.domain.commands import IDENTIFIER_PATTERN
from payments.domain.matching import DEFAULT_TOLERANCE_DAYS
from payments.integrations.statements.model import StatementError, StatementUnbalanced
from payments.reconciliation.importing import import_data
from payments.reconciliation.ledger_side import NotAnExternalAccount

Reconciler = Annotated[Caller, Depends(requires("reconciliation:write"))]
MAX_BODY = 4 * 1024 * 1024  # a day's statement is kilobytes; a month's camt.053, a few MB
MEDIA_TYPES = ("application/xml", "text/xml", "text/plain", "text/csv", "application/octet-stream")
router = APIRouter()


class ImportedException(BaseModel):
    exception_id: str
    kind: Literal["unmatched_line", "unmatched_posting", "amount_difference"]
    amount: int = Field(description="minor units, signed as the bank sees it")
    value_date: str
    reason: str
    resolved: bool


class ImportedStatementReport(BaseModel):
    statement_id: str = Field(description="the account and the statement's fingerprint")
    bank_statement_id: str
    duplicate: bool = Field(description="imported before: nothing changed")
    lines: int
    matched_lines: int
    matched_postings: int
    unmatched_lines: int
    unmatched_postings: int
    exceptions: list[ImportedException]


class ImportReport(BaseModel):
    account_id: str
    status: Literal["imported", "already_imported"]
    actor: str
    file_sha256: str
    statements: list[ImportedStatementReport]


async def _body(request: Request) -> bytes:
    """The body, refused as soon as it is over MAX_BODY (never read whole first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiProblem("too-large", f"a statement file is at most {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiProblem("too-large", f"a statement file is at most {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/reconciliation/imports",
    response_model=ImportReport,
    status_code=201,
    responses={
        200: {"model": ImportReport, "description": "every statement was imported before"},
        **problem_responses(401, 403, 413, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"the statement file's bytes (at most {MAX_BODY})",
            "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA_TYPES},
        }
    },
)
async def import_statement(
    request: Request,
    caller: Reconciler,
    account: Annotated[
        str, Query(pattern=IDENTIFIER_PATTERN, description="the external account it reconciles")
    ],
    format: Annotated[
        Literal["camt053", "mt940", "csv"] | None,
        Query(description="the file's format (default: recognised from its first bytes)"),
    ] = None,
    tolerance_days: Annotated[
        int, Query(ge=0, le=31, description="how far a value date may be from a posting's day")
    ] = DEFAULT_TOLERANCE_DAYS,
    reason: Annotated[
        str | None, Query(min_length=1, max_length=256, description="for the audit log")
    ] = None,
) -> Any:
    """Import a bank statement file for an external account: match it against the
    ledger and open an exception for each break (201), or find it imported (200)."""
    check_account(caller.accounts, account)
    url = request.app.state.settings.reconciler_database_url
    if url is None:
        raise ApiProblem("unavailable", "statement imports are off: no reconciler database URL")
    data = await _body(request)
    report = await run_in_threadpool(
        _import, url.get_secret_value(), data, account, format, tolerance_days,
        caller.principal, reason or f"statement import over the API (key {caller.key_prefix})",
    )  # fmt: skip
    status = 200 if report["status"] == "already_imported" else 201
    return JSONResponse(ImportReport(**report).model_dump(mode="json"), status)


def _import(
    url: str,
    data: bytes,
    account_id: str,
    format: str | None,
    tolerance_days: int,
    actor: str,
    reason: str,
) -> dict[str, Any]:
    try:
        done = import_data(url, data, account_id=account_id, format=format, actor=actor,
                           reason=reason, tolerance_days=tolerance_days)  # fmt: skip
    except StatementUnbalanced as error:
        extra = {"difference": error.difference, "currency": error.currency}
        raise ApiProblem("statement-unbalanced", str(error), extra=extra) from None
    except StatementError as error:
        raise ApiProblem("statement-unreadable", str(error)) from None
    except NotAnExternalAccount as error:
        raise ApiProblem("account-not-reconcilable", str(error)) from None
    return {
        "account_id": account_id,
        "status": "already_imported" if all(x.duplicate for x in done) else "imported",
        "actor": actor,
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "statements": [
            {
                "statement_id": x.statement_id, "bank_statement_id": x.bank_statement_id,
                "duplicate": x.duplicate, "lines": x.lines, **x.counts,
                "exceptions": [e.__dict__ for e in x.exceptions],
            }
            for x in done
        ],
    }  # fmt: skip
