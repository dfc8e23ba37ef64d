"""`payments api`: the app on uvicorn, one process, logs through structlog."""

from __future__ import annotations

import structlog
import uvicorn

from payments.api.app import create_app
from payments.runtime.settings import Settings

log = structlog.get_logger("payments.api")


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    app = create_app(settings, settings.require_database_url())
    host, port = host or settings.api_host, port or settings.api_port
    log.info("api.serving", url=f"http://{host}:{port}")
    # uvicorn's access log would repeat the request log with raw paths and queries.
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None,
                server_header=False)  # fmt: skip
