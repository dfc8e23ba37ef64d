"""Errors as RFC 9457 problem details (`application/problem+json`), one stable type each.

A client branches on `type` (a URN that never changes), people read `title` and
`detail`. Every answer that is not a success is one of these, so a client needs one
error parser; `request_id` ties it to the request log.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:payments-engine:problem:"

# slug -> (status, title): the stable catalogue (docs/api.md, "Errors").
PROBLEMS: dict[str, tuple[int, str]] = {
    "webhook-refused": (400, "The webhook's signature or timestamp does not hold"),
    "webhook-unreadable": (400, "The webhook's body is not a provider event"),
    "unauthenticated": (401, "Missing or invalid API key"),
    "forbidden": (403, "The key's principal lacks the scope this needs"),
    "account-not-allowed": (403, "The key is restricted to other accounts"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "too-large": (413, "The request's body is too large"),
    "invalid-request": (422, "The request's parameters are not valid"),
    "statement-unreadable": (422, "The statement file cannot be read, or not for this account"),
    "statement-unbalanced": (422, "A statement's opening balance and lines do not add up"),
    "account-not-reconcilable": (422, "No external account of the ledger by that id"),
    "rate-limited": (429, "Too many requests for this API key"),
    "unavailable": (503, "A service the API needs is not answering"),
    "internal-error": (500, "Internal error"),
}


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="stable URN of the kind of problem")
    title: str
    status: int
    detail: str
    request_id: str | None = Field(default=None, description="as in the request log")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="invalid-request only: which parameter, and why"
    )
    difference: int | None = Field(
        default=None,
        description="statement-unbalanced only: closing − (opening + Σ lines), minor units",
    )
    currency: str | None = Field(default=None, description="statement-unbalanced only")


class ApiProblem(Exception):
    def __init__(
        self,
        slug: str,
        detail: str,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.slug, self.detail, self.headers, self.errors = slug, detail, headers or {}, errors
        self.extra = extra or {}  # the problem's own members (RFC 9457 extensions)


def problem_response(
    request: Request,
    slug: str,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    status, title = PROBLEMS[slug]
    body = Problem(
        type=TYPE_PREFIX + slug,
        title=title,
        status=status,
        detail=detail,
        request_id=getattr(request.state, "request_id", None),
        errors=errors,
        **(extra or {}),
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status, headers=headers, media_type=MEDIA_TYPE
    )


async def on_api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(request, exc.slug, exc.detail, exc.headers, exc.errors, exc.extra)


async def on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Where and why only: never the input itself (it may be a secret or personal data).
    errors = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    return problem_response(request, "invalid-request", "see errors", errors=errors)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "invalid-request")
    return problem_response(request, slug, str(exc.detail), dict(exc.headers or {}))


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these problem statuses (the schema is added by openapi.py)."""
    titles: dict[int, str] = {}
    for status, title in PROBLEMS.values():
        titles.setdefault(status, title)  # the first of a status names it (403: forbidden)
    schema = {"$ref": "#/components/schemas/Problem"}
    found: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "description": titles[status],
            "content": {MEDIA_TYPE: {"schema": schema}},
        }
        if status == 429:
            entry["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
            }
        found[status] = entry
    return found
