"""`payments bench`: measure the engine end to end, beside pgbench and a naive baseline."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from rich.console import Console

from payments.runtime.logging import configure_logging
from payments.runtime.settings import MissingSetting, Settings
from payments.tools.bench import report, runner
from payments.tools.bench.workload import SIZES


@click.command("bench")
@click.option("--quick", "size", flag_value="quick", help="Seconds; ~2,000 commands (CI).")
@click.option("--large", "size", flag_value="large", help="Millions of events (long).")
@click.option("--seed", default=1, show_default=True, help="Seed of the workload.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("bench-results/latest.json"),
    show_default=True,
    help="Where to write the figures as JSON.",
)
@click.option(
    "--no-references", is_flag=True, help="Skip pgbench and the naive event-sourced baseline."
)
@click.option("--keep", is_flag=True, help="Keep the run's database and topics afterwards.")
@click.option(
    "--profile",
    is_flag=True,
    help="Sample engine and consumers with py-spy in the throughput and latency phases.",
)
@click.option(
    "--risk-rules",
    is_flag=True,
    help="Define a risk rule set (cooling-off, maximum, velocity) that every debit is "
    "checked against and none breaks.",
)
@click.option(
    "--consumer-threads",
    is_flag=True,
    help="Run the projections as threads of one consumers process "
    "(`consume all --threads`) instead of a process each.",
)
def bench(
    size: str | None,
    seed: int,
    output: Path,
    no_references: bool,
    keep: bool,
    profile: bool,
    risk_rules: bool,
    consumer_threads: bool,
) -> None:
    """Run the benchmark on the services of `payments services up`.

    Starts a fresh engine and consumers on a database and topics of the run's own,
    publishes a seeded workload through Kafka, and reports throughput, latency at
    25 % and 50 % of it, read-model lag, replay and verify speed and peak memory,
    each beside pgbench TPC-B and a naive event-sourced ledger run on the same
    PostgreSQL. Exits 1 if the run was not correct (then no throughput is reported).

    \b
    Example:
      eval "$(payments services env --principal admin)" && payments bench --quick
    """
    size_name = size or "default"
    # The bench's own figures are the output; the library's info lines would drown them.
    configure_logging(Settings(log_level="warning"))
    # kafka-python warns when a poll ran long: expected while the publisher holds the GIL.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    # Not a terminal (CI, a pipe): wide enough that the table's rows stay on one line.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    err = Console(stderr=True, highlight=False)
    options = runner.Options(
        size_name=size_name,
        size=SIZES[size_name],
        seed=seed,
        work_dir=output.parent / "logs",
        references=not no_references,
        keep=keep,
        profile=profile,
        risk_rules=risk_rules,
        consumer_threads=consumer_threads,
    )
    try:
        environment = runner.Environment.from_settings(Settings())
    except MissingSetting as missing:
        raise click.ClickException(str(missing)) from None
    result = runner.run(options, environment, say=lambda m: err.print(f"[dim]bench:[/dim] {m}"))
    report.write_json(result, output)
    report.render(result, console)
    err.print(f"figures written to {output}")
    sys.exit(0 if result.correctness.passed else 1)
