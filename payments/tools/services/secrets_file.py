"""Random passwords of the local services, kept in the state folder with mode 0600.

One file holds the PostgreSQL roles' passwords and those of the Kafka principals
(`kafka:<principal>`). A file from before the broker had principals gains them on the
next load, so an existing `.services/` keeps its database and upgrades in place.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

ROLES = ("postgres", "payments_admin", "payments_app")
# The broker's SASL/SCRAM principals (docs/security.md has their rights).
KAFKA_PRINCIPALS = ("admin", "engine", "projections", "client")


def kafka_key(principal: str) -> str:
    return f"kafka:{principal}"


def load(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    missing = [kafka_key(p) for p in KAFKA_PRINCIPALS if kafka_key(p) not in data]
    if missing:
        data |= {key: _new_password() for key in missing}
        write(path, data)
    wanted = (*ROLES, *(kafka_key(p) for p in KAFKA_PRINCIPALS))
    return {name: str(data[name]) for name in wanted}


def create(path: Path) -> dict[str, str]:
    passwords = {role: _new_password() for role in ROLES}
    passwords |= {kafka_key(p): _new_password() for p in KAFKA_PRINCIPALS}
    write(path, passwords)
    return passwords


def write(path: Path, data: dict[str, str]) -> None:
    write_private(path, json.dumps(data))


def write_private(path: Path, text: str) -> None:
    """A file that holds a secret (e.g. the broker's JAAS lines): 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _new_password() -> str:
    return secrets.token_urlsafe(24)
