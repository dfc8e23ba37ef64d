"""One benchmark run, phase by phase, on the project's PostgreSQL and Kafka.

1. a database and topics of the run's own; the engine (`payments engine`) and the
   consumers (`payments consume all`) started fresh as child processes;
2. set-up waves (open accounts, fund customers), each awaited;
3. throughput: the whole throughput segment published as fast as the client goes,
   measured from the first publish to the last outcome, with the CPU each process
   group used meanwhile (payments.tools.bench.cpu);
4. read-model lag: from that last outcome until relay and projections caught up;
5. latency at 25 % and 50 % of the measured throughput, publish → outcome;
6. peak RSS of engine and consumers (and their RSS every second, payments.tools.bench.memory),
   then both stopped;
7. `payments verify` and `payments replay` (all projections), timed in-process;
8. correctness; then the references (pgbench, naive event sourcing).
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from payments.contract.signing import Signer
from payments.runtime.settings import Settings, Topics
from payments.tools.bench import catchup, database, readside, references
from payments.tools.bench.checks import Correctness, check_outcomes
from payments.tools.bench.cpu import CpuMeter, phase_figures
from payments.tools.bench.kafka_io import (
    Encoded,
    OutcomeCollector,
    Publisher,
    create_topics,
    delete_topics,
    encode,
)
from payments.tools.bench.memory import MemoryCurve
from payments.tools.bench.processes import ChildProcess, Profiler
from payments.tools.bench.profile import write_summary
from payments.tools.bench.workload import Command, Size, Workload, generate

LATENCY_FRACTIONS = (0.25, 0.50)
# The loops whose time matters, in the engine's and the consumers' profiles.
PROFILE_FOCUS = ("CommandIntake.run", "ProjectionConsumer.run")
Say = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    size_name: str
    size: Size
    seed: int
    work_dir: Path
    references: bool = True
    keep: bool = False
    profile: bool = False  # py-spy over the engine and consumers during the throughput phase
    risk_rules: bool = False  # a risk rule set every debit is checked against (none fires)
    consumer_threads: bool = False  # `consume all --threads`: one process, a thread each


@dataclass
class Environment:
    app_url: str
    admin_url: str
    superuser_url: str
    bootstrap: str
    # The bench creates and deletes its topics: the admin principal on the local
    # services; its engine and consumers run as their own principals (role_env).
    kafka_auth: dict[str, Any] = field(default_factory=dict)
    settings: Settings | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Environment:
        from payments.tools.services import principals

        return cls(
            settings.require_database_url(),
            settings.require_admin_database_url(),
            settings.require_superuser_database_url(),
            settings.require_kafka_bootstrap(),
            principals.admin_auth(settings),
            settings,
        )

    def role_env(self, principal: str, database_url: str) -> dict[str, str]:
        """The principal's Kafka credentials and database role on `database_url`."""
        from payments.tools.services import principals

        if self.settings is None:
            return {}
        return principals.role_env(self.settings, principal, database_url)

    def grant(self, prefix: str) -> None:
        from payments.tools.services import principals

        if self.settings is not None:
            principals.grant(self.settings, prefix, f"{prefix}-engine")


@dataclass
class RunResult:
    meta: dict[str, Any]
    workload: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    references: dict[str, Any] = field(default_factory=dict)
    correctness: Correctness = field(default_factory=Correctness)


def run(options: Options, env: Environment, say: Say) -> RunResult:
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]
    workload = generate(options.seed, options.size, options.risk_rules)
    result = RunResult(
        meta={
            "run_id": run_id,
            "size": options.size_name,
            "seed": options.seed,
            "started_at": datetime.now(UTC).isoformat(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "postgresql": database.server_version(env.app_url),
            "load_average_at_start": os.getloadavg(),
            "engine_batch_max": Settings().engine_batch_max,
            "engine_batch_wait_ms": Settings().engine_batch_wait_ms,
            "risk_rules": options.risk_rules,
            "consumers": "threads" if options.consumer_threads else "processes",
        },
        workload=describe(workload),
    )
    db = database.create(
        f"bench_{run_id.replace('-', '_')}", env.superuser_url, env.admin_url, env.app_url
    )
    topics: Topics | None = None
    try:
        database.install_schema(db)
        topics = create_topics(env.bootstrap, f"bench-{run_id}", env.kafka_auth)
        env.grant(f"bench-{run_id}")
        say(f"run {run_id}: database {db.name}, topics {topics.commands} …")
        _measure(options, env, db, topics, workload, result, say)
        if options.references and result.correctness.passed:
            _references(options, env, db, result, say)
    except Exception as error:  # reported as a failed run, with the reason
        result.correctness.errors.append(f"{type(error).__name__}: {error}")
    finally:
        if not options.keep:
            try:
                database.drop(db)
                if topics is not None:
                    delete_topics(env.bootstrap, topics, env.kafka_auth)
            except Exception as error:  # leftovers are harmless: named after the run
                say(f"could not remove the run's database or topics: {error}")
    result.meta["load_average_at_end"] = os.getloadavg()
    if not result.correctness.passed:
        result.figures.pop("throughput", None)
    return result


def describe(workload: Workload) -> dict[str, Any]:
    return {
        "setup_commands": sum(len(wave) for wave in workload.setup),
        "throughput_commands": len(workload.throughput),
        "latency_pool_commands": [len(pool) for pool in workload.latency],
        "mix": dict(workload.mix()),
        "expected_rejections": sum(1 for c in workload.throughput if "accepted" not in c.expected),
    }


def _measure(
    options: Options,
    env: Environment,
    db: database.BenchDatabase,
    topics: Topics,
    workload: Workload,
    result: RunResult,
    say: Say,
) -> None:
    child_env = {
        "PAYMENTS_DATABASE_URL": db.app_url,
        "PAYMENTS_ADMIN_DATABASE_URL": db.admin_url,
        "PAYMENTS_KAFKA_BOOTSTRAP": env.bootstrap,
        "PAYMENTS_TOPIC_PREFIX": topics.commands.removesuffix(".commands"),
        "PAYMENTS_ENGINE_GROUP": f"{topics.commands.removesuffix('.commands')}-engine",
        # One log line per command at info level; the bench measures the engine, not logging.
        "PAYMENTS_LOG_LEVEL": "warning",
        "PAYMENTS_LOG_FORMAT": "json",
        # Metrics are still counted; only the HTTP endpoint, whose fixed port belongs to
        # the developer's own engine and consumers, stays closed.
        "PAYMENTS_METRICS_PORT": "0",
    }
    logs = options.work_dir / result.meta["run_id"]
    signer = _registered_signer(env, db.app_url)
    collector = OutcomeCollector(env.bootstrap, topics.command_results, env.kafka_auth)
    engine_env = child_env | env.role_env("engine", db.app_url)
    engine = ChildProcess("engine", ["engine"], engine_env, logs / "engine.log")
    consumers_env = child_env | env.role_env("projections", db.app_url)
    consume = ["consume", "all", *(["--threads"] if options.consumer_threads else [])]
    consumers = ChildProcess("consumers", consume, consumers_env, logs / "consumers.log")
    fast = Publisher(env.bootstrap, topics.commands, linger_ms=5, auth=env.kafka_auth)
    paced = Publisher(env.bootstrap, topics.commands, linger_ms=0, auth=env.kafka_auth)
    published: list[Command] = []
    # Every second (5 s on the long run): the curve that shows whether memory stays flat.
    memory = MemoryCurve(
        {"engine": engine.pid, "consumers": consumers.pid},
        interval=5.0 if options.size_name == "large" else 1.0,
    ).start()
    memory.mark("setup")
    try:
        for number, wave in enumerate(workload.setup, 1):
            say(f"set-up wave {number}: {len(wave)} commands")
            records = encode(wave, signer)
            _send_and_wait(fast.send_all, records, wave, collector, [engine], published)

        say(f"throughput: {len(workload.throughput)} commands, as fast as possible")
        # Signed before the CPU meter starts, as before the clock: the client's signing
        # is not the system's work (1.2 s of the default run's ~17 s window, engine idle).
        records = encode(workload.throughput, signer)
        memory.mark("throughput")
        meter = CpuMeter({"engine": engine.pid, "consumers": consumers.pid}, env.admin_url)
        before = meter.sample()
        with _profiled(options.profile, "throughput", logs, engine, consumers):
            sent = _send_and_wait(
                fast.send_all, records, workload.throughput, collector, [engine], published
            )
        result.figures["throughput_cpu"] = phase_figures(before, meter.sample(), len(sent))
        first = min(sent.values())
        last = max(collector.arrived[c] for c in sent)
        throughput = len(sent) / (last - first)
        result.figures["throughput"] = {
            "commands": len(sent),
            "seconds": last - first,
            "commands_per_s": throughput,
        }
        say(f"throughput: {throughput:,.0f} commands/s")
        memory.mark("catchup")

        caught = catchup.wait_caught_up(
            db.app_url, env.bootstrap, topics.events, env.kafka_auth, timeout=300
        )
        result.figures["read_model_lag_s"] = max(0.0, caught - last)

        result.figures["latency"] = []
        for fraction, pool in zip(LATENCY_FRACTIONS, workload.latency, strict=True):
            rate = fraction * throughput
            say(f"latency at {fraction:.0%} of max: {rate:,.0f} commands/s")

            def paced_send(records: Sequence[Encoded], rate: float = rate) -> dict[str, float]:
                return paced.send_paced(records, rate, options.size.latency_seconds)

            phase = f"latency{round(fraction * 100)}"
            records = encode(pool, signer)
            memory.mark(phase)
            with _profiled(options.profile, phase, logs, engine, consumers):
                sent = _send_and_wait(paced_send, records, pool, collector, [engine], published)
            result.figures["latency"].append(
                latency_figures(fraction, rate, sent, collector.arrived, collector.produced)
            )

        memory.mark("catchup")
        catchup.wait_caught_up(
            db.app_url, env.bootstrap, topics.events, env.kafka_auth, timeout=300
        )
        result.figures["memory_peak_rss_mb"] = {
            "engine": _mb(engine.peak_rss_bytes()),
            "consumers": _mb(consumers.peak_rss_bytes()),
        }
    finally:
        memory.stop()
        result.figures["memory_curve"] = memory.figures()
        fast.close()
        paced.close()
        stopped = {child.name: child.stop() for child in (engine, consumers)}
        collector.close()

    result.correctness = check_outcomes(published, collector.outcomes, collector.duplicates)
    for child in (engine, consumers):
        if stopped[child.name] != 0:
            result.correctness.errors.append(
                f"{child.name} exited with {stopped[child.name]}: {child.log_tail(5)}"
            )
    result.figures["events"] = catchup.count_events(db.app_url)
    settings = Settings(
        database_url=db.app_url,
        kafka_bootstrap=env.bootstrap,
        topic_prefix=child_env["PAYMENTS_TOPIC_PREFIX"],
        **_kafka_credentials(consumers_env),
    )
    checked = readside.verify(settings)
    result.correctness.verify_passed = checked.ok
    result.correctness.verify_output = checked.summary
    result.figures["verify"] = _read_side_figures(checked)
    say(f"verify: {'passed' if checked.ok else 'FAILED'}: {checked.summary[:200]}")
    replayed = readside.replay(settings)
    result.figures["replay"] = _read_side_figures(replayed)
    say(f"replay: {replayed.summary} in {replayed.seconds:.1f} s")


def _registered_signer(env: Environment, database_url: str) -> Signer:
    """The caller's signing key, registered (every role) in the run's own database."""
    from payments.client.signer import load_signer
    from payments.tools.services.signing_keys import register_signer

    signer = load_signer(env.settings or Settings())
    register_signer(database_url, signer, "payments bench")
    return signer


def _read_side_figures(run: readside.ReadSideRun) -> dict[str, Any]:
    return {"events": run.events, "seconds": run.seconds, "events_per_s": run.events_per_s}


@contextmanager
def _profiled(enabled: bool, phase: str, logs: Path, *children: ChildProcess) -> Iterator[None]:
    """py-spy over `children` for the phase, if enabled; summaries beside the raw stacks."""
    profilers = (
        [Profiler(c.pid, logs / f"{c.name}.{phase}.pyspy.txt") for c in children] if enabled else []
    )
    try:
        yield
    finally:
        for profiler, focus in zip(profilers, PROFILE_FOCUS, strict=False):
            profiler.stop()
            write_summary(profiler.output, focus)


def _send_and_wait(
    send: Callable[[Sequence[Encoded]], dict[str, float]],
    records: Sequence[Encoded],
    commands: Sequence[Command],
    collector: OutcomeCollector,
    watched: Sequence[ChildProcess],
    published: list[Command],
) -> dict[str, float]:
    sent = send(records)
    published.extend(c for c in commands if c.command_id in sent)
    deadline = time.monotonic() + 120 + len(sent) / 100
    missing = list(sent)
    while missing and time.monotonic() < deadline:
        missing = collector.wait_for(missing, timeout=1.0)
        for child in watched:
            if not child.alive():
                raise RuntimeError(f"{child.name} died: {child.log_tail(10)}")
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(sent)} commands got no outcome in time")
    return sent


def latency_figures(
    fraction: float,
    rate: float,
    sent: dict[str, float],
    arrived: dict[str, float],
    produced: dict[str, float],
) -> dict[str, Any]:
    latencies = sorted((arrived[c] - t) * 1000 for c, t in sent.items())
    # Publish → the engine produced the outcome (broker clock = ours, one machine).
    to_outcome = sorted((produced[c] - t) * 1000 for c, t in sent.items() if c in produced)
    duration = max(sent.values()) - min(sent.values())
    return {
        "fraction_of_max": fraction,
        "offered_per_s": rate,
        "sent_per_s": len(sent) / duration if duration > 0 else None,
        "commands": len(sent),
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1],
        "p50_until_outcome_produced_ms": percentile(to_outcome, 0.5) if to_outcome else None,
        "p99_until_outcome_produced_ms": percentile(to_outcome, 0.99) if to_outcome else None,
    }


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    rank = max(1, math.ceil(q * len(ordered) - 1e-9))  # the epsilon absorbs float noise
    return ordered[rank - 1]


def _mb(value: int | None) -> float | None:
    return None if value is None else value / (1024 * 1024)


def _references(
    options: Options, env: Environment, db: database.BenchDatabase, result: RunResult, say: Say
) -> None:
    say(f"reference: pgbench TPC-B, {options.size.pgbench_seconds} s")
    pgbench = references.run_pgbench(env.superuser_url, options.size.pgbench_seconds)
    result.references["pgbench"] = {
        "tps": pgbench.tps,
        "latency_avg_ms": pgbench.latency_ms,
        "transactions": pgbench.transactions,
        "seconds": pgbench.seconds,
        "scale": references.PGBENCH_SCALE,
        "clients": references.PGBENCH_CLIENTS,
        "threads": references.PGBENCH_THREADS,
    }
    say(f"reference: naive event sourcing, {options.size.naive_transfers} transfers")
    naive = references.run_naive(db.admin_url, options.size.naive_transfers, options.seed)
    result.references["naive_eventsourcing"] = {
        "tps": naive.tps,
        "transfers": naive.transfers,
        "seconds": naive.seconds,
        "accounts": references.NAIVE_ACCOUNTS,
    }


def _kafka_credentials(child_env: dict[str, str]) -> dict[str, Any]:
    """Settings fields of the Kafka principal a child runs as (empty: none given)."""
    if "PAYMENTS_KAFKA_USERNAME" not in child_env:
        return {}
    return {
        "kafka_username": child_env["PAYMENTS_KAFKA_USERNAME"],
        "kafka_password": child_env["PAYMENTS_KAFKA_PASSWORD"],
    }
