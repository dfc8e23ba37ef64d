"""The application factory: routes, authentication, errors, request log, limits.

`create_app(settings)` builds everything but connects to nothing until it starts
(the pool opens in the lifespan), so the OpenAPI document can be built offline.
CORS is off: no CORSMiddleware, so browsers on other origins cannot read answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException

from payments.api.metrics import ApiMetrics
from payments.api.middleware import log_requests
from payments.api.openapi import build_openapi
from payments.api.problems import ApiProblem, on_api_problem, on_http_error, on_invalid_request
from payments.api.ratelimit import KeyLimiter
from payments.api.routes import router
from payments.runtime.settings import Settings

VERSION = "0.1.0"


def create_app(settings: Settings, database_url: str | None = None) -> FastAPI:
    pool = ConnectionPool(
        database_url or "", min_size=1, max_size=8, open=False, kwargs={"autocommit": True}
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True, timeout=30)
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="payments-engine API",
        version=VERSION,
        description="Authenticated reads of the payments engine's projections (docs/api.md).",
        lifespan=lifespan,
        docs_url=None,  # the interactive pages load scripts from a CDN: not here
        redoc_url=None,
    )
    app.state.pool = pool
    app.state.limiter = KeyLimiter(settings.api_rate_limit)
    app.state.metrics = ApiMetrics()
    app.include_router(router)
    app.add_exception_handler(ApiProblem, on_api_problem)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.middleware("http")(log_requests)
    app.openapi = lambda: app.openapi_schema or _cache(app)  # type: ignore[method-assign]
    return app


def _cache(app: FastAPI) -> dict:
    app.openapi_schema = build_openapi(app)
    return app.openapi_schema
