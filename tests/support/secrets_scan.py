"""Where a secret could leak: every log a run leaves, searched for every secret.

The secrets are the local services' passwords (`.services/secrets.json`) and the
body of every private signing key they hold; the logs are the broker's, the
cluster's, the processes' started by the tools (services state `logs/`), and any
text a test collected (a command's output).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from payments.tools.services import broker, postgres
from payments.tools.services.config import ServiceConfig


def secrets_of(config: ServiceConfig) -> dict[str, str]:
    named = {f"password of {k}": v for k, v in json.loads(config.secrets_file.read_text()).items()}
    for pem in (config.state_dir / "signing").glob("*.pem"):
        body = "".join(line for line in pem.read_text().splitlines() if "-----" not in line)
        named[f"private key {pem.name}"] = body
    return named


def log_files(config: ServiceConfig) -> list[Path]:
    found = [broker.paths(config)["log"], postgres.log_file(config)]
    found += sorted((config.state_dir / "logs").rglob("*.log"))
    return [path for path in found if path.is_file()]


def leaks(config: ServiceConfig, texts: Iterable[tuple[str, str]] = ()) -> list[str]:
    """'<secret> in <where>' for every secret found; [] when nothing leaked."""
    sources = [(str(path), path.read_text(errors="replace")) for path in log_files(config)]
    sources += list(texts)
    return [
        f"{name} in {where}"
        for name, secret in secrets_of(config).items()
        for where, text in sources
        if len(secret) >= 16 and secret in text
    ]
