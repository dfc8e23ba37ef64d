"""Random database passwords, kept in the state folder with mode 0600."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

ROLES = ("postgres", "payments_admin", "payments_app")


def load(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return {role: str(data[role]) for role in ROLES}


def create(path: Path) -> dict[str, str]:
    passwords = {role: secrets.token_urlsafe(24) for role in ROLES}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(passwords, out)
    path.chmod(0o600)
    return passwords
