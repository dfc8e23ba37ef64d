"""Fault injectors and the schedule that fires them while the workload runs.

Each injector does one thing a real deployment suffers, to this suite's private
instance only (`Fleet.config`): a kill -9 of the engine or the consumers (restarted
right after, as a supervisor would: "without a person"), a second engine joining or
leaving the group (a rebalance), a Kafka broker restart, a PostgreSQL fast
shutdown + restart, PostgreSQL refusing connections for a few seconds.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from payments.tools.services import broker, kafka_jars, postgres, secrets_file
from tests.faults.cluster import ENGINE_GROUP, Fleet

Injector = Callable[[Fleet, random.Random], None]


def kill_engine(fleet: Fleet, rng: random.Random) -> None:
    """kill -9 at a random moment, or (every other time) right after a batch commit."""
    if rng.random() < 0.5:
        wait_for_a_commit(fleet)
    victim = rng.choice(fleet.live_engines())
    victim.kill9()
    time.sleep(rng.uniform(0, 1.0))
    fleet.start_engine()


def wait_for_a_commit(fleet: Fleet, timeout: float = 5.0) -> None:
    """Return as soon as an intake batch commits (its positions row changes).

    The kill that follows then lands between the batch's commit and its answers or
    Kafka offsets: the window where a redelivered batch must be replayed, not redone.
    """
    query = "SELECT max(updated_at) FROM engine_intake_positions WHERE consumer_group = %s"
    with psycopg.connect(fleet.settings.require_database_url(), autocommit=True) as conn:
        first = conn.execute(query, (ENGINE_GROUP,)).fetchone()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if conn.execute(query, (ENGINE_GROUP,)).fetchone() != first:
                return
            time.sleep(0.001)


def kill_consumers(fleet: Fleet, rng: random.Random) -> None:
    for consumers in fleet.live_consumers():
        consumers.kill9()
    time.sleep(rng.uniform(0, 1.0))
    fleet.start_consumers()


def rebalance(fleet: Fleet, rng: random.Random) -> None:
    """A second engine joins the group, or one of two leaves: partitions move."""
    live = fleet.live_engines()
    if len(live) < 2:
        fleet.start_engine()
    else:
        rng.choice(live).stop(timeout=120)


def restart_broker(fleet: Fleet, rng: random.Random) -> None:
    config = fleet.config
    broker.stop(config)
    time.sleep(rng.uniform(0.5, 2.0))
    passwords = secrets_file.load(config.secrets_file) or {}
    pid = broker.start(config, kafka_jars.ensure_lib(config), passwords)
    broker.wait_ready(config, pid, broker.admin_auth(passwords))


def restart_postgres(fleet: Fleet, rng: random.Random) -> None:
    postgres.stop(fleet.config)  # pg_ctl -m fast: open connections are cut
    postgres.start(fleet.config)


def postgres_outage(fleet: Fleet, rng: random.Random) -> None:
    postgres.stop(fleet.config)
    time.sleep(rng.uniform(4.0, 6.0))  # connections are refused meanwhile
    postgres.start(fleet.config)


INJECTORS: dict[str, Injector] = {
    "kill_engine": kill_engine,
    "kill_consumers": kill_consumers,
    "rebalance": rebalance,
    "restart_broker": restart_broker,
    "restart_postgres": restart_postgres,
    "postgres_outage": postgres_outage,
}


@dataclass
class Schedule:
    """Fires `faults` (names, in order) at random moments within `seconds`."""

    fleet: Fleet
    faults: list[str]
    seconds: float
    rng: random.Random
    in_flight: Callable[[], int]
    injected: Counter[str] = field(default_factory=Counter)
    in_flight_seen: list[int] = field(default_factory=list)

    def run(self) -> None:
        started = time.monotonic()
        moments = sorted(self.rng.uniform(0.1, 0.85) * self.seconds for _ in self.faults)
        for name, moment in zip(self.faults, moments, strict=True):
            delay = started + moment - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.in_flight_seen.append(self.in_flight())
            INJECTORS[name](self.fleet, self.rng)
            self.injected[name] += 1
