"""Run `payments engine` as a real OS process, to stop it politely or kill -9 it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from payments.runtime.settings import Settings
from payments.runtime.subprocesses import spawn_cli, stop_process
from payments.tools.services import principals


def engine_env(settings: Settings, prefix: str, group: str, **extra: str) -> dict[str, str]:
    """The environment of an engine on `prefix`, as the engine principal (with its ACLs)."""
    principals.grant(settings, prefix, group)
    env = dict(os.environ)
    env.update(
        PAYMENTS_DATABASE_URL=settings.require_database_url(),
        PAYMENTS_KAFKA_BOOTSTRAP=settings.require_kafka_bootstrap(),
        PAYMENTS_TOPIC_PREFIX=prefix,
        PAYMENTS_ENGINE_GROUP=group,
        PAYMENTS_LOG_FORMAT="json",
        PAYMENTS_LOG_LEVEL="warning",
    )
    # The engine's database role too, unless the test chose a database URL (a sandbox).
    own_url = None if "PAYMENTS_DATABASE_URL" in extra else settings.require_database_url()
    env.update(principals.role_env(settings, "engine", own_url))
    env.update(extra)
    return env


def client_env(settings: Settings, prefix: str) -> dict[str, str]:
    """The environment of `payments send` on `prefix`: the client principal (query role)."""
    return engine_env(settings, prefix, f"{prefix}-engine") | principals.role_env(
        settings, "client", settings.require_database_url()
    )


class EngineProcess:
    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.process = spawn_cli(["engine", *args], env, log_path)

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int:
        return stop_process(self.process, timeout=timeout)

    def alive(self) -> bool:
        return self.process.poll() is None


def relay_from_now_on(settings: Settings, events_topic: str) -> None:
    """Let a test's fresh events topic start at the store's current end.

    A new topic normally receives the whole history; in a test session the shared store
    holds every earlier test's events, which this topic does not need.
    """
    import psycopg

    with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO relay_position (name, notification_id) "
            "SELECT %s, coalesce(max(notification_id), 0) FROM payments_events "
            "ON CONFLICT (name) DO NOTHING",
            (events_topic,),
        )
