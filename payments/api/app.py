"""The application factory: routes, authentication, errors, request log, limits.

`create_app(settings)` builds everything but connects to nothing until it starts
(the pool opens in the lifespan, and the Kafka side when commands are configured:
a gateway key and a bootstrap), so the OpenAPI document can be built offline.
CORS is off: no CORSMiddleware, so browsers on other origins cannot read answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException

from payments.api import (
    commands,
    disputes,
    holders,
    reconciliation_imports,
    screenings,
    statements,
    webhooks,
)
from payments.api.bus import CommandBus
from payments.api.gateway import load_gateway
from payments.api.metrics import ApiMetrics
from payments.api.middleware import log_requests
from payments.api.openapi import build_openapi
from payments.api.problems import ApiProblem, on_api_problem, on_http_error, on_invalid_request
from payments.api.ratelimit import KeyLimiter
from payments.api.reconciliation_metrics import ReconciliationCollector
from payments.api.routes import router
from payments.runtime.settings import Settings

VERSION = "0.2.0"
log = structlog.get_logger("payments.api")


def create_app(settings: Settings, database_url: str | None = None) -> FastAPI:
    pool = ConnectionPool(
        database_url or "", min_size=1, max_size=8, open=False, kwargs={"autocommit": True}
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True, timeout=30)
        app.state.gateway = load_gateway(settings)
        if app.state.gateway is not None and settings.kafka_bootstrap:
            app.state.bus = CommandBus(settings)
            app.state.bus.start()
            log.info("api.commands", gateway=app.state.gateway.principal,
                     topic=settings.topics.commands)  # fmt: skip
        else:
            log.warning("api.commands_off", why="no PAYMENTS_API_SIGNING_* or Kafka bootstrap")
        try:
            yield
        finally:
            if app.state.bus is not None:
                app.state.bus.stop()
            pool.close()

    app = FastAPI(
        title="payments-engine API",
        version=VERSION,
        description=(
            "Authenticated reads of the payments engine's projections, account statements"
            " and commands signed on the caller's behalf (docs/api.md)."
        ),
        lifespan=lifespan,
        docs_url=None,  # the interactive pages load scripts from a CDN: not here
        redoc_url=None,
    )
    app.state.pool = pool
    app.state.settings = settings
    app.state.bus = app.state.gateway = None
    app.state.limiter = KeyLimiter(settings.api_rate_limit)
    app.state.metrics = ApiMetrics()
    app.state.metrics.registry.register(ReconciliationCollector(pool))
    app.include_router(router)
    app.include_router(statements.router)
    app.include_router(commands.router)
    app.include_router(disputes.router)
    app.include_router(screenings.router)
    app.include_router(holders.router)
    app.include_router(webhooks.router)
    app.include_router(reconciliation_imports.router)
    app.add_exception_handler(ApiProblem, on_api_problem)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.middleware("http")(log_requests)
    app.openapi = lambda: app.openapi_schema or _cache(app)  # type: ignore[method-assign]
    return app


def _cache(app: FastAPI) -> dict:
    app.openapi_schema = build_openapi(app)
    return app.openapi_schema
