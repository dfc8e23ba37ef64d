"""`payments api`: serve the HTTP API (docs/api.md) until SIGTERM/SIGINT."""

from __future__ import annotations

import click

from payments.runtime.logging import configure_logging
from payments.runtime.settings import Settings


@click.command("api")
@click.option("--host", default=None, help="Address to bind (default PAYMENTS_API_HOST).")
@click.option("--port", type=int, default=None, help="Port (default PAYMENTS_API_PORT).")
def api_command(host: str | None, port: int | None) -> None:
    """Serve authenticated reads of the projections over HTTP (FastAPI on uvicorn).

    It logs in with the query role: run it with `payments services env --principal
    client`. Keys: `payments keys api-create --principal P`.

    \b
    Example:
      (eval "$(payments services env --principal client)" && payments api) &
      curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/accounts/alice
    """
    from payments.api.server import serve

    settings = Settings()
    configure_logging(settings)
    serve(settings, host, port)
