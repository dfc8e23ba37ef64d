"""Run `payments engine` as a real OS process, to stop it politely or kill -9 it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from payments.settings import Settings


def engine_env(settings: Settings, prefix: str, group: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PAYMENTS_DATABASE_URL=settings.require_database_url(),
        PAYMENTS_KAFKA_BOOTSTRAP=settings.require_kafka_bootstrap(),
        PAYMENTS_TOPIC_PREFIX=prefix,
        PAYMENTS_ENGINE_GROUP=group,
        PAYMENTS_LOG_FORMAT="json",
        PAYMENTS_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


class EngineProcess:
    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "payments.cli", "engine", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self, timeout: float = 60.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code

    def alive(self) -> bool:
        return self.process.poll() is None
