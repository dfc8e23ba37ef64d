"""Every request: a request id, its row in the request log, a log line, its metrics.

The row is written before the answer leaves: if it cannot be written, the client
gets 503 instead of the data, so no answered request is missing from the log.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from payments.api.problems import problem_response
from payments.api.request_log import RequestRecord, insert

log = structlog.get_logger("payments.api")
UNMATCHED = "(no route)"  # never the raw path: it is the client's text


async def log_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started, at = time.perf_counter(), datetime.now(UTC)
    request.state.request_id = str(uuid.uuid4())
    response = await call_next(request)
    route = request.scope.get("route")
    record = RequestRecord(
        request_id=request.state.request_id,
        at=at,
        principal=getattr(request.state, "principal", None),
        key_prefix=getattr(request.state, "key_prefix", None),
        method=request.method,
        route=getattr(route, "path", UNMATCHED),
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    state = request.app.state
    try:
        await run_in_threadpool(_write, state.pool, record)
    except Exception as exc:
        state.metrics.log_failures.inc()
        log.error("api.request_log_failed", request_id=record.request_id, error=str(exc)[:300])
        response = problem_response(request, "unavailable", "the request log is not writable")
    state.metrics.observe(record.method, record.route, response.status_code,
                          record.duration_ms / 1000)  # fmt: skip
    log.info(
        "api.request", **{**vars(record), "at": at.isoformat(), "status": response.status_code}
    )
    response.headers["X-Request-Id"] = record.request_id
    return response


def _write(pool: object, record: RequestRecord) -> None:
    with pool.connection() as conn:  # type: ignore[attr-defined]
        insert(conn, record)
