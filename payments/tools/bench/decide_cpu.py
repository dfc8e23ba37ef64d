"""The engine's CPU per command, in process: `Ledger.decide_batch` on a database of its own.

No Kafka and no engine process: a fresh PostgreSQL database of the running cluster
(`database.create`, dropped afterwards), a few hundred accounts opened and funded, then
the bench's own throughput mix (`workload.generate`, signed by a registered Ed25519
key) decided in batches the size of the engine's polls. Signing happens before the
clock starts; each batch is timed with `time.process_time` (this process's CPU, so
the signature workers' share, in other processes, is not counted) and every outcome
is checked against what the generator expects, so a faster ledger cannot pass by
deciding differently.

Repetitions are consecutive chunks of one workload (the funding covers them all), so
each one decides new commands on warm caches, like the engine's throughput phase.
This VM's speed wanders by a quarter within minutes: compare A/B back to back.

    PYTHONPATH=. python -m payments.tools.bench.decide_cpu --repeat 5 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import time
import uuid
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payments.contract.signing import Signer
from payments.domain.roles import ROLES
from payments.ledger.identities import register_key
from payments.ledger.service import IncomingCommand, Ledger
from payments.ledger.store import PaymentsApplication, application_env
from payments.runtime.settings import Settings
from payments.tools.bench import database
from payments.tools.bench.workload import ACTOR, Command, Size, generate

TOPIC = "bench-decide-cpu"


def _urls() -> tuple[str, str, str]:
    """App, admin and superuser URLs: from the environment, else the local services'."""
    settings = Settings()
    if settings.superuser_database_url is None:
        from payments.tools.services import ServiceConfig, control

        os.environ.update(control.env_vars(ServiceConfig.from_settings(), "admin"))
        settings = Settings()
    return (
        settings.require_database_url(),
        settings.require_admin_database_url(),
        settings.require_superuser_database_url(),
    )


def _incoming(commands: Sequence[Command], signer: Signer, offset: int) -> list[IncomingCommand]:
    return [
        IncomingCommand(signer.sign(c.envelope), (TOPIC, 0, offset + i))
        for i, c in enumerate(commands)
    ]


def _decide(
    ledger: Ledger, commands: list[IncomingCommand], expected: Sequence[Command], batch: int
) -> tuple[float, int]:
    """CPU seconds of `decide_batch` over `commands` in polls of `batch`; mismatches."""
    cpu = 0.0
    wrong = 0
    for start in range(0, len(commands), batch):
        chunk = commands[start : start + batch]
        began = time.process_time()
        outcomes = ledger.decide_batch(chunk, consumer_group="decide-cpu")
        cpu += time.process_time() - began
        for outcome, command in zip(outcomes, expected[start : start + batch], strict=True):
            if (outcome.code or outcome.status) not in command.expected:
                wrong += 1
    return cpu, wrong


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--merchants", type=int, default=30)
    parser.add_argument("--commands", type=int, default=3000, help="per repetition")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="commands per decide_batch")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the last repetition")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--save-profile", help="also write the pstats file here")
    parser.add_argument(
        "--gc",
        choices=("default", "off", "freeze", "relaxed"),
        default="default",
        help="the garbage collector while timing: as is, off, frozen after set-up, or "
        "relaxed (gen0 threshold 50,000)",
    )
    args = parser.parse_args(argv)

    size = Size(
        customers=args.customers,
        merchants=args.merchants,
        hot_customers=20,
        hot_merchants=5,
        poor_customers=10,
        throughput_commands=args.commands * args.repeat,
        latency_commands=0,
        latency_seconds=0.0,
        naive_transfers=0,
        pgbench_seconds=0,
    )
    workload = generate(args.seed, size)
    app_url, admin_url, superuser_url = _urls()
    name = f"decide_cpu_{uuid.uuid4().hex[:8]}"
    db = database.create(name, superuser_url, admin_url, app_url)
    app: PaymentsApplication | None = None
    try:
        database.install_schema(db)
        app = PaymentsApplication(env=application_env(db.app_url, pool_size=2))
        signer = Signer(Ed25519PrivateKey.generate(), ACTOR)
        register_key(
            app, principal=ACTOR, public_key=signer.public_key, actor="decide_cpu", roles=set(ROLES)
        )
        ledger = Ledger(app)
        offset = 0
        for wave in workload.setup:
            _, wrong = _decide(ledger, _incoming(wave, signer, offset), wave, args.batch)
            offset += len(wave)
            if wrong:
                raise SystemExit(f"set-up: {wrong} unexpected outcomes")
        if args.gc == "off":
            gc.disable()
        elif args.gc == "freeze":
            gc.collect()
            gc.freeze()  # what set-up made is never scanned again
        elif args.gc == "relaxed":
            gc.set_threshold(50_000, 20, 100)
        figures = []
        for rep in range(args.repeat):
            chunk = workload.throughput[rep * args.commands : (rep + 1) * args.commands]
            incoming = _incoming(chunk, signer, offset)
            offset += len(chunk)
            # CPU, not wall time: waits for PostgreSQL and the signature workers cost none.
            profiler = (
                cProfile.Profile(time.process_time)
                if args.profile and rep == args.repeat - 1
                else None
            )
            if profiler is not None:
                profiler.enable()
            cpu, wrong = _decide(ledger, incoming, chunk, args.batch)
            if profiler is not None:
                profiler.disable()
            per_command = cpu / len(chunk) * 1e6
            if profiler is None:
                figures.append(per_command)
            label = " (profiled)" if profiler is not None else ""
            print(f"rep {rep + 1}: {per_command:7.1f} µs CPU per command{label}, {wrong} wrong")
            if wrong:
                raise SystemExit("outcomes differ from the generator's expectations")
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
                print(out.getvalue())
                if args.save_profile:
                    profiler.dump_stats(args.save_profile)
        if figures:
            print(
                f"median {statistics.median(figures):.1f} µs, min {min(figures):.1f} µs "
                f"over {len(figures)} repetitions of {args.commands} commands, batch {args.batch}"
            )
    finally:
        if app is not None:
            app.close()
        database.drop(db)


if __name__ == "__main__":
    main()
