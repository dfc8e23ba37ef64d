"""Play the business day through the running system and show what it did.

services (started if none are configured) → engine and consumers as child
processes → commands published to Kafka → outcomes read back → read models
queried → `verify` → everything this run started is stopped again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaProducer
from rich.console import Console
from rich.progress import Progress

from payments.client.send import results_consumer
from payments.client.signer import load_signer, signed_as
from payments.runtime.settings import Settings
from payments.runtime.subprocesses import spawn_cli, stop_process
from payments.tools.bench import catchup
from payments.tools.demo.scenario import Step
from payments.tools.services.signing_keys import register_signer
from projections.schema import PROJECTIONS


@dataclass
class DemoRun:
    tag: str
    steps: list[Step]
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def surprises(self) -> list[tuple[Step, dict[str, Any]]]:
        """Steps whose outcome is not the one the story expects."""
        return [
            (step, outcome)
            for step, outcome in zip(self.steps, self.outcomes, strict=True)
            if (outcome.get("code") or outcome.get("status")) != step.expect
        ]


def publish_and_collect(
    settings: Settings, steps: list[Step], console: Console, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Publish each step as a client would, then wait for every outcome."""

    consumer = results_consumer(settings)
    producer = KafkaProducer(
        bootstrap_servers=settings.require_kafka_bootstrap(),
        acks="all",
        **settings.kafka_python_auth(),
    )
    signer = load_signer(settings)  # the local services' key unless configured otherwise
    # The demo plays the operator: its key is registered wherever it runs.
    register_signer(settings.require_database_url(), signer, "payments demo")
    wanted = [step.envelope["command_id"] for step in steps]
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        with Progress(console=console, transient=True) as progress:
            sending = progress.add_task("publishing commands", total=len(steps))
            # One key for the whole day: later steps need earlier ones (a payment needs
            # its payer's top-up), and only commands with the same key keep their order.
            day_key = f"demo-day.{steps[0].envelope['command_id'].split('.')[1]}".encode()
            for step in steps:
                producer.send(
                    settings.topics.commands,
                    key=day_key,
                    value=json.dumps(signed_as(signer, step.envelope)).encode(),
                )
                progress.advance(sending)
            producer.flush(timeout=30)
            answered = progress.add_task("waiting for outcomes", total=len(steps))
            deadline = time.monotonic() + timeout
            while sum(len(v) for v in found.values()) < len(steps):
                if time.monotonic() > deadline:
                    raise DemoFailed("the engine did not answer every command in time; see its log")
                for records in consumer.poll(timeout_ms=200).values():
                    for record in records:
                        outcome = json.loads(record.value)
                        if outcome.get("command_id") in wanted:
                            found.setdefault(outcome["command_id"], []).append(outcome)
                            progress.advance(answered)
    finally:
        producer.close(timeout=5)
        consumer.close()
    # A re-sent command has two answers: the first original, the second replayed.
    cursor = {command_id: iter(answers) for command_id, answers in found.items()}
    return [next(cursor[command_id]) for command_id in wanted]


def wait_for_read_models(settings: Settings, console: Console, timeout: float = 300.0) -> None:
    """Until every projection has applied every stored event: the audit log holds the
    last one (the progress shown) and each projection's stored positions reached the
    events topic's end (the disputes list can trail the audit log by a batch)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
        stored = conn.execute("SELECT max(notification_id) FROM payments_events").fetchone()
        target = int((stored[0] if stored else 0) or 0)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("read models catching up (audit log)", total=target)
            while time.monotonic() < deadline:
                row = conn.execute("SELECT max(position) FROM audit_log").fetchone()
                done = int((row[0] if row else 0) or 0)
                progress.update(task, completed=min(done, target))
                if done >= target:
                    break
                time.sleep(0.2)
    try:
        catchup.wait_caught_up(
            settings.require_database_url(),
            settings.require_kafka_bootstrap(),
            settings.topics.events,
            settings.kafka_python_auth(),
            timeout=max(0.0, deadline - time.monotonic()),
            projections=PROJECTIONS,
        )
    except catchup.NotCaughtUp as behind:
        raise DemoFailed(
            f"the read models did not catch up within {timeout:.0f} s ({behind}); "
            "see the consumers' log"
        ) from None


class DemoFailed(RuntimeError):
    """The demo could not finish; the message says what to look at."""


@dataclass
class RunningSystem:
    """The child processes (and perhaps services) a demo started, to stop them again."""

    stops: list[Callable[[], None]] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)

    def stop_all(self) -> None:
        for stop in reversed(self.stops):
            stop()
        self.stops.clear()


def start_system(
    settings_env: dict[str, str],
    log_dir: Path,
    settings: Settings | None = None,
    api_env: dict[str, str] | None = None,
) -> RunningSystem:
    """Engine and consumers, each as its own Kafka principal and database role on the
    local services; with `api_env`, the HTTP API too (as the client, payments.tools.demo.api)."""
    from payments.tools.services import principals

    system = RunningSystem()
    if settings is not None:
        principals.grant(settings, settings.topic_prefix, settings.engine_group)
    children = [("engine", ["engine"], {}), ("consumers", ["consume", "all"], {})]
    if api_env is not None:
        children.append(("api", ["api"], api_env))
    for name, args, extra in children:
        env = dict(settings_env)
        if settings is not None and args[0] in principals.ROLE_OF_COMMAND:
            principal = principals.ROLE_OF_COMMAND[args[0]]
            env |= principals.role_env(settings, principal, env.get("PAYMENTS_DATABASE_URL"))
        process = spawn_cli(args, env | extra, log_dir / f"demo-{name}.log")
        system.pids[name] = process.pid
        system.stops.append(lambda p=process: stop_process(p) and None)
    return system


def new_tag() -> str:
    return uuid.uuid4().hex[:6]
