"""The processes of one fault round: engines, the consumers, and a liveness probe.

Engines run as real OS processes (`python -m payments.cli engine`, via
tests/support/engine.py) in one consumer group, so a kill -9 is a real crash; the
consumers run as `payments consume all`. After the faults, `probe()` proves the
engine still answers: it publishes a fresh command and waits for its outcome.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from payments.runtime.settings import Settings
from payments.tools.services import principals
from payments.tools.services.config import ServiceConfig
from tests.support.engine import EngineProcess, engine_env
from tests.support.kafka import envelope_record, publish, read_topic

ENGINE_GROUP = "faults-engine"


def consume_command() -> list[str]:
    """`payments consume all` as a child process."""
    return [sys.executable, "-m", "payments.cli", "consume", "all"]


class ConsumerProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            consume_command(), env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return -9
        finally:
            self._log.close()


class Fleet:
    def __init__(self, settings: Settings, config: ServiceConfig, logs: Path) -> None:
        self.settings = settings
        self.config = config
        self.logs = logs
        # No metrics port: other people's engines on this host may want 9464/9465.
        self.env = engine_env(
            settings, settings.topic_prefix, ENGINE_GROUP, PAYMENTS_METRICS_PORT="0"
        )
        # The consumers run as the projections principal and the projector role: the
        # engine's may not join projection groups nor write projections (docs/security.md).
        self.consumers_env = self.env | principals.role_env(
            settings, "projections", settings.require_database_url()
        )
        self.engines: list[EngineProcess] = []
        self.consumers: list[ConsumerProcess] = []

    @property
    def bootstrap(self) -> str:
        return self.settings.require_kafka_bootstrap()

    def start_engine(self) -> EngineProcess:
        engine = EngineProcess(self.env, self.logs / f"engine-{len(self.engines)}.log")
        self.engines.append(engine)
        return engine

    def live_engines(self) -> list[EngineProcess]:
        return [e for e in self.engines if e.alive()]

    def start_consumers(self) -> ConsumerProcess:
        consumers = ConsumerProcess(
            self.consumers_env, self.logs / f"consumers-{len(self.consumers)}.log"
        )
        self.consumers.append(consumers)
        return consumers

    def live_consumers(self) -> list[ConsumerProcess]:
        return [c for c in self.consumers if c.alive()]

    def probe(self, timeout: float = 120.0) -> str:
        """ "ok" when a fresh command gets its outcome from the running engine(s)."""
        if not self.live_engines():
            return "no engine process is alive"
        probe_id = f"probe-{uuid.uuid4().hex[:12]}"
        envelope = {
            "command_id": probe_id,
            "type": "open_account",
            "actor": "faults@probe",
            "payload": {"account_id": probe_id, "currency": "EUR", "kind": "customer"},
        }
        topics = self.settings.topics
        publish(self.bootstrap, topics.commands, [envelope_record(envelope)])
        records = read_topic(
            self.bootstrap,
            topics.command_results,
            lambda rs: any(r.key == probe_id.encode() for r in rs),
            timeout=timeout,
        )
        answers = [json.loads(r.value) for r in records if r.key == probe_id.encode()]
        if not answers:
            return f"no outcome for the probe within {timeout:.0f} s"
        if answers[0]["status"] != "accepted":
            return f"probe rejected: {answers[0]}"
        return "ok"

    def tail_logs(self, lines: int = 15) -> str:
        """The end of every process log, for a failure message."""
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").strip().splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def shutdown(self) -> None:
        for engine in self.live_engines():
            try:
                engine.stop(timeout=60)
            except subprocess.TimeoutExpired:
                engine.kill9()
        for consumers in self.live_consumers():
            consumers.stop()
