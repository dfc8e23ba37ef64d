"""Local PostgreSQL cluster and Kafka broker without Docker (`payments services …`).

`up()` / `down()` / `status()` / `env_vars()` are what the command line and the test
fixtures call; both go through the same functions so tests run on what users run.
"""

from payments.tools.services.config import ServiceConfig
from payments.tools.services.control import down, env_vars, status, up
from payments.tools.services.errors import ServiceError

__all__ = ["ServiceConfig", "ServiceError", "down", "env_vars", "status", "up"]
