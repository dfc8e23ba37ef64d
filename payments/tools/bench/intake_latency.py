"""The intake's latency at a fixed paced rate, and where a batch's time goes.

    PAYMENTS_SERVICES_DIR=/work/main/.services \\
        python -m payments.tools.bench.intake_latency --rate 100 --rate 200 --seconds 20

Runs one `CommandIntake` in this process (no relay, no projections) on a fresh topic
prefix against the running services, opens accounts, warms up for 3 s, then sends
signed transfers at each `--rate` (librdkafka, as the bench's client) and reports
p50/p95/p99 from send to outcome (`INTAKE_LINGER_MS`: the intake producer's linger).
Timers wrapped around the intake's steps split the intake thread's wall time:
`poll` (kafka-python's fetch, waits included), `load` (the working set's reads),
`save` (the PostgreSQL insert and commit), `decide` (the rest of `decide_batch`: CPU),
`send` (handing answers to librdkafka) and `flush` (waiting for the broker's acks).
It measures the intake alone: the full bench (`payments bench`) runs the relay and the
projections beside it on the same two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payments.contract.signing import Signer
from payments.engine.intake import CommandIntake
from payments.engine.publisher import Publisher as EnginePublisher
from payments.ledger import service
from payments.ledger.service import Ledger
from payments.ledger.store import open_application
from payments.runtime.kafka_clients import command_consumer
from payments.runtime.logging import configure_logging
from payments.runtime.settings import Settings
from payments.tools.bench.kafka_io import (
    Encoded,
    OutcomeCollector,
    Publisher,
    create_topics,
    delete_topics,
)
from payments.tools.bench.runner import percentile
from payments.tools.services import ServiceConfig, up
from payments.tools.services.signing_keys import register_signer

ACCOUNTS = 200
PRINCIPAL = "bench@intake"
LINGER_MS = int(os.environ.get("INTAKE_LINGER_MS", "0"))  # the engine's intake: 0
WARM_UP_SECONDS = 3.0


class StepTimers:
    """Wall seconds per step of the intake thread, summed while `active`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)  # the intake thread's CPU in each
        self.calls: dict[str, int] = defaultdict(int)
        self.active = False

    def wrap(self, owner: Any, name: str, step: str) -> None:
        inner: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                if self.active:
                    self.seconds[step] += time.perf_counter() - started
                    self.cpu[step] += time.thread_time() - cpu
                    self.calls[step] += 1

        setattr(owner, name, timed)

    @contextmanager
    def measuring(self) -> Iterator[None]:
        self.seconds.clear()
        self.cpu.clear()
        self.calls.clear()
        self.active = True
        try:
            yield
        finally:
            self.active = False


def envelope(signer: Signer, type_: str, key: str, **payload: Any) -> Encoded:
    document = {
        "command_id": f"il-{uuid.uuid4().hex}",
        "type": type_,
        "actor": PRINCIPAL,
        "payload": payload,
    }
    return Encoded(document["command_id"], key.encode(), json.dumps(signer.sign(document)).encode())


def setup_commands(signer: Signer, run: str) -> tuple[list[Encoded], list[str]]:
    bank = f"il-bank-{run}"
    customers = [f"il-c{n}-{run}" for n in range(ACCOUNTS)]
    opening = {"currency": "EUR", "kind": "external"}
    wave = [envelope(signer, "open_account", bank, account_id=bank, **opening)]
    for account in customers:
        wave.append(
            envelope(
                signer, "open_account", account, account_id=account, currency="EUR", kind="customer"
            )
        )
    for account in customers:
        wave.append(
            envelope(
                signer,
                "transfer",
                bank,
                transfer_id=f"top-{account}",
                from_account=bank,
                to_account=account,
                amount=10_000_000,
                currency="EUR",
            )
        )
    return wave, customers


def transfers(
    signer: Signer, customers: list[str], count: int, rng: random.Random
) -> list[Encoded]:
    out = []
    for _ in range(count):
        source, target = rng.sample(customers, 2)
        out.append(
            envelope(
                signer,
                "transfer",
                source,
                transfer_id=f"t-{uuid.uuid4().hex}",
                from_account=source,
                to_account=target,
                amount=rng.randint(100, 20_000),
                currency="EUR",
            )
        )
    return out


def instrument(intake: CommandIntake, timers: StepTimers, polled_lag: list[float]) -> None:
    timers.wrap(intake.consumer, "poll", "poll")
    inner = intake.consumer.poll

    def poll_noting_lag(*args: Any, **kwargs: Any) -> Any:
        polled = inner(*args, **kwargs)
        if timers.active:
            now_ms = time.time() * 1000  # the sender's CreateTime: one machine, one clock
            polled_lag.extend(now_ms - r.timestamp for rs in polled.values() for r in rs)
        return polled

    intake.consumer.poll = poll_noting_lag  # type: ignore[method-assign]
    timers.wrap(intake.ledger, "decide_batch", "decide_batch")
    timers.wrap(intake.ledger.app, "record", "save")
    timers.wrap(service.WorkingSet, "load", "load")
    timers.wrap(intake.producer, "send", "send")
    timers.wrap(intake.producer, "flush", "flush")


def report(
    rate: float,
    latencies: list[float],
    produced: list[float],
    polled_lag: list[float],
    timers: StepTimers,
    wall: float,
    batches: int,
) -> str:
    ordered = sorted(latencies)
    lag, made = sorted(polled_lag), sorted(produced)
    s = timers.seconds
    decide_cpu = s["decide_batch"] - s["save"] - s["load"]
    steps = {
        "poll": s["poll"],
        "load": s["load"],
        "decide": decide_cpu,
        "save": s["save"],
        "send": s["send"],
        "flush": s["flush"],
    }
    c = timers.cpu
    cpu = {
        "poll": c["poll"],
        "load": c["load"],
        "decide": c["decide_batch"] - c["save"] - c["load"],
        "save": c["save"],
    }
    busy = sum(v for k, v in steps.items() if k != "poll")
    per_batch = ", ".join(
        f"{name} {1000 * value / max(1, batches):.1f}" for name, value in steps.items()
    )
    return (
        f"rate {rate:.0f}/s: {len(ordered)} commands in {batches} batches "
        f"({len(ordered) / max(1, batches):.1f}/batch); "
        f"p50 {percentile(ordered, 0.5):.1f} p95 {percentile(ordered, 0.95):.1f} "
        f"p99 {percentile(ordered, 0.99):.1f} max {ordered[-1]:.1f} ms\n"
        f"  send → polled p50 {percentile(lag, 0.5):.1f} p99 {percentile(lag, 0.99):.1f}; "
        f"send → answer produced p50 {percentile(made, 0.5):.1f} "
        f"p99 {percentile(made, 0.99):.1f} ms\n"
        f"  intake thread busy (not polling) {100 * busy / wall:.0f} % of {wall:.1f} s; "
        f"ms per batch: {per_batch}\n"
        "  of which the intake thread's CPU: "
        + ", ".join(f"{name} {1000 * v / max(1, batches):.1f}" for name, v in cpu.items())
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, action="append", help="commands/s (repeatable)")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    rates = args.rate or [100.0, 200.0]

    os.environ.update(up(ServiceConfig.from_settings(), principal="admin"))
    run = uuid.uuid4().hex[:8]
    prefix = f"il-{run}"
    base = Settings()
    bootstrap = base.require_kafka_bootstrap()
    auth = base.kafka_python_auth()
    topics = create_topics(bootstrap, prefix, auth)
    settings = Settings(topic_prefix=prefix, engine_group=f"{prefix}-engine", log_level="warning")
    configure_logging(settings)
    signer = Signer(Ed25519PrivateKey.generate(), PRINCIPAL)
    register_signer(settings.require_database_url(), signer, "intake latency bench")

    app = open_application(settings)
    ledger = Ledger(app, holder_kek=settings.holder_kek())
    batches = [0]
    intake = CommandIntake(
        settings,
        ledger,
        command_consumer(settings),
        EnginePublisher(settings, "payments-intake-bench", linger_ms=LINGER_MS),
        on_batch=lambda _report, _outcomes: batches.__setitem__(0, batches[0] + 1),
    )
    timers = StepTimers()
    polled_lag: list[float] = []
    instrument(intake, timers, polled_lag)
    stop = threading.Event()
    thread = threading.Thread(target=intake.run, args=(stop,), name="intake")
    thread.start()
    collector = OutcomeCollector(bootstrap, topics.command_results, auth)
    sender = Publisher(bootstrap, topics.commands, linger_ms=0, auth=auth)
    try:
        wave, customers = setup_commands(signer, run)
        for part in (wave[: ACCOUNTS + 1], wave[ACCOUNTS + 1 :]):  # opened, then funded
            sender.send_all(part)
            if missing := collector.wait_for([e.command_id for e in part], timeout=120):
                raise SystemExit(f"{len(missing)} set-up commands got no outcome")
        refused = [e for e in wave if collector.outcomes[e.command_id]["status"] != "accepted"]
        if refused:
            raise SystemExit(f"set-up refused: {collector.outcomes[refused[0].command_id]}")
        rng = random.Random(run)
        warm_up = transfers(signer, customers, int(rates[0] * WARM_UP_SECONDS), rng)
        if missing := collector.wait_for(
            sender.send_paced(warm_up, rates[0], WARM_UP_SECONDS), timeout=120
        ):
            raise SystemExit(f"{len(missing)} warm-up commands got no outcome")
        for rate in rates:
            records = transfers(signer, customers, int(rate * args.seconds), rng)
            batches[0] = 0
            polled_lag.clear()
            started = time.perf_counter()
            with timers.measuring():
                sent = sender.send_paced(records, rate, args.seconds)
                if missing := collector.wait_for(sent, timeout=120):
                    raise SystemExit(f"{len(missing)} commands got no outcome")
            wall = time.perf_counter() - started
            bad = [c for c in sent if collector.outcomes[c]["status"] != "accepted"]
            if bad:
                print(f"  {len(bad)} not accepted, first: {collector.outcomes[bad[0]]}")
            latencies = [(collector.arrived[c] - t) * 1000 for c, t in sent.items()]
            produced = [(collector.produced[c] - t) * 1000 for c, t in sent.items()]
            line = report(rate, latencies, produced, polled_lag, timers, wall, batches[0])
            print(line, flush=True)
    finally:
        stop.set()
        thread.join(timeout=60)
        sender.close()
        collector.close()
        intake.consumer.close(autocommit=False)
        intake.producer.close()
        app.close()
        delete_topics(bootstrap, topics, auth)


if __name__ == "__main__":
    main()
