"""The local services' holder key-encryption key (docs/security.md, "Personal data").

Made on first use in the services state (0600), like the signing keys: the engine
seals holders' data keys with it and the HTTP API opens them, so `make demo` and the
tests need nothing configured. A real deployment keeps its KEK in its secret store
and points PAYMENTS_HOLDER_KEY_FILE at it for the engine and the API only.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from payments.domain.personal_data import new_kek_text
from payments.tools.services.config import ServiceConfig
from payments.tools.services.secrets_file import write_private


def kek_file(config: ServiceConfig) -> Path:
    return config.state_dir / "holder-kek.b64"


def ensure_kek(config: ServiceConfig) -> Path:
    """The KEK's file, made once even when several processes ask at the same time."""
    path = kek_file(config)
    if path.is_file():
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with path.with_name(f".{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            write_private(path, new_kek_text())
    return path


def kek_vars(config: ServiceConfig) -> dict[str, str]:
    return {"PAYMENTS_HOLDER_KEY_FILE": str(ensure_kek(config))}
