"""Two reference figures measured in the same run, on the same PostgreSQL.

- pgbench's built-in TPC-B-like script (scale 10, 8 clients, 2 threads) in a database
  of its own, `pgbench_ref`: what this PostgreSQL does with plain SQL transactions,
  each touching one account, one teller, one branch and a history row.
- A naive event-sourced ledger: the eventsourcing library's bank example (a
  `BankAccount` aggregate), one transfer per transaction: load both accounts, debit
  one, credit the other, `save` both. No batching, no cache, no snapshots: what a
  straightforward use of the library gives. Transfers pick random pairs among
  `NAIVE_ACCOUNTS` accounts, so histories stay short and loading stays cheap.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql

from payments.tools.bench.database import with_database

PGBENCH_DATABASE = "pgbench_ref"
PGBENCH_SCALE = 10
PGBENCH_CLIENTS = 8
PGBENCH_THREADS = 2
NAIVE_ACCOUNTS = 100
BINDIRS = ("/usr/lib/postgresql/15/bin", "/usr/local/pgsql/bin")


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_ms: float
    transactions: int
    seconds: int


def pgbench_path() -> str:
    for folder in BINDIRS:
        candidate = Path(folder) / "pgbench"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("pgbench")
    if found is None:
        raise RuntimeError("pgbench was not found (apt-get install postgresql-15)")
    return found


def run_pgbench(superuser_url: str, seconds: int) -> PgbenchResult:
    with psycopg.connect(
        with_database(superuser_url, "postgres"), autocommit=True, connect_timeout=10
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (PGBENCH_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PGBENCH_DATABASE)))
    # The connection goes in libpq's variables: a password on pgbench's command line
    # would be readable by every local user in /proc/<pid>/cmdline.
    env = libpq_env(with_database(superuser_url, PGBENCH_DATABASE))
    tool = pgbench_path()
    # -i drops and recreates pgbench's tables: every run starts from the same state.
    _run([tool, "-i", "-q", "-s", str(PGBENCH_SCALE)], env, timeout=600)
    out = _run(
        [tool, "-c", str(PGBENCH_CLIENTS), "-j", str(PGBENCH_THREADS), "-T", str(seconds)],
        env,
        timeout=seconds + 300,
    )
    return PgbenchResult(
        tps=float(_field(out, r"tps = ([\d.]+) \(without initial connection time\)")),
        latency_ms=float(_field(out, r"latency average = ([\d.]+) ms")),
        transactions=int(_field(out, r"number of transactions actually processed: (\d+)")),
        seconds=seconds,
    )


def libpq_env(url: str) -> dict[str, str]:
    """PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE of a URL, on top of os.environ."""
    parts = urlsplit(url)
    found = {
        "PGHOST": unquote(parts.hostname or ""),
        "PGPORT": str(parts.port or ""),
        "PGUSER": unquote(parts.username or ""),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": unquote(parts.path.lstrip("/")),
    }
    return {**os.environ, **{name: value for name, value in found.items() if value}}


def _run(args: list[str], env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        # Name only the tool and its own error output (never the connection).
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout + done.stderr


def _field(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"pgbench output has no {pattern!r}: {text[-500:]}")
    return match.group(1)


class BankAccount(Aggregate):
    """The library documentation's example aggregate."""

    @event("Opened")
    def __init__(self, full_name: str) -> None:
        self.full_name = full_name
        self.balance = 0

    @event("Credited")
    def credit(self, amount: int) -> None:
        self.balance += amount

    @event("Debited")
    def debit(self, amount: int) -> None:
        if amount > self.balance:
            raise ValueError("insufficient funds")
        self.balance -= amount


class NaiveBank(Application):
    name = "naive_bank"  # its own table, naive_bank_events, beside payments_events


@dataclass(frozen=True)
class NaiveResult:
    tps: float
    transfers: int
    seconds: float


def run_naive(database_url: str, transfers: int, seed: int = 1) -> NaiveResult:
    parts = urlsplit(database_url)
    app = NaiveBank(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/"),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": parts.username or "",
            "POSTGRES_PASSWORD": parts.password or "",
            "CREATE_TABLE": "y",
        }
    )
    try:
        ids = []
        for number in range(NAIVE_ACCOUNTS):
            account = BankAccount(f"holder {number}")
            account.credit(10**12)
            app.save(account)
            ids.append(account.id)
        rng = random.Random(seed)
        started = time.perf_counter()
        for _ in range(transfers):
            source_id, target_id = rng.sample(ids, 2)
            source = app.repository.get(source_id)
            target = app.repository.get(target_id)
            amount = rng.randint(1, 10_000)
            source.debit(amount)
            target.credit(amount)
            app.save(source, target)
        seconds = time.perf_counter() - started
    finally:
        app.close()
    return NaiveResult(tps=transfers / seconds, transfers=transfers, seconds=seconds)
