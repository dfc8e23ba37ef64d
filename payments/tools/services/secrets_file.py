"""Random passwords of the local services, kept in the state folder with mode 0600.

One file holds the PostgreSQL roles' passwords and those of the Kafka principals
(`kafka:<principal>`). A file from before the broker had principals, or before the
processes had database roles of their own, gains them on the next load, so an
existing `.services/` keeps its database and upgrades in place.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path

from payments.contract.database_roles import PROCESS_ROLES

ROLES = ("postgres", "payments_admin", "payments_app", *PROCESS_ROLES)
# The broker's SASL/SCRAM principals (docs/security.md has their rights).
KAFKA_PRINCIPALS = ("admin", "engine", "projections", "client")


def kafka_key(principal: str) -> str:
    return f"kafka:{principal}"


def load(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    wanted = (*ROLES, *(kafka_key(p) for p in KAFKA_PRINCIPALS))
    if any(name not in data for name in _ADDED_LATER):
        data = _add_missing(path)
    return {name: str(data[name]) for name in wanted}


# What an older file may lack; the cluster's own roles must be there from the start.
_ADDED_LATER = (*PROCESS_ROLES, *(kafka_key(p) for p in KAFKA_PRINCIPALS))


def _add_missing(path: Path) -> dict[str, str]:
    """Generate the missing passwords once, even when several processes load at once."""
    with path.with_name(f".{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text())  # again: another process may have added them
        missing = [name for name in _ADDED_LATER if name not in data]
        if missing:
            data |= {name: _new_password() for name in missing}
            write(path, data)
        return data


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
