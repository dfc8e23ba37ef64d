"""A Jepsen-style bank workload: concurrent clients, hot accounts, duplicate re-sends.

A run owns a fresh set of accounts in two currencies (ids carry the run id). After a
setup (open accounts, fund customers), `clients` threads publish transfers and
payment commands (authorize / capture / refund / void) with random routing keys and
re-send some earlier envelopes unchanged. Every publish waits for the broker's ack
and is retried when it fails (a broker restart), so a command may reach the engine
more than once: the engine must still apply it exactly once.

`History` keeps every command the clients published; `OutcomeTracker` reads the
results topic live so a fault injector can say how many commands were in flight.
The checks on the finished history are in `tests/faults/checker.py`.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from payments.runtime.settings import Topics
from tests.support.kafka import auth
from tests.support.signing import signed_for_kafka

CURRENCIES = ("EUR", "USD")
CUSTOMERS = 6
HOT = 2  # customers 0 and 1 (and merchant 0) take most of the traffic
FUNDING = 200_000
SEND_ATTEMPTS = 8


def command(command_id: str, type_: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": command_id, "type": type_, "actor": "faults@workload", "payload": payload}


@dataclass
class Accounts:
    """The accounts of one currency in one run."""

    currency: str
    bank: str
    customers: list[str]
    merchants: list[str]

    def all(self) -> list[str]:
        return [self.bank, *self.customers, *self.merchants]


class Universe:
    def __init__(self, run: str) -> None:
        self.run = run
        self.books = {
            currency: Accounts(
                currency,
                bank=f"{run}-{currency}-bank",
                customers=[f"{run}-{currency}-c{i}" for i in range(CUSTOMERS)],
                merchants=[f"{run}-{currency}-m{i}" for i in range(2)],
            )
            for currency in CURRENCIES
        }

    def account_ids(self) -> list[str]:
        return [a for book in self.books.values() for a in book.all()]

    def setup(self) -> list[dict[str, Any]]:
        commands = []
        for currency, book in self.books.items():
            kinds = [(book.bank, "external")]
            kinds += [(c, "customer") for c in book.customers]
            kinds += [(m, "merchant") for m in book.merchants]
            for account, kind in kinds:
                commands.append(
                    command(f"{account}-open", "open_account", account_id=account,
                            currency=currency, kind=kind)
                )  # fmt: skip
            for customer in book.customers:
                commands.append(
                    command(f"{customer}-fund", "transfer", transfer_id=f"{customer}-fund",
                            from_account=book.bank, to_account=customer, amount=FUNDING,
                            currency=currency)
                )  # fmt: skip
        return commands


@dataclass
class Sent:
    envelope: dict[str, Any]
    sends: int = 0
    acked: bool = False


class History:
    """Every command the clients published, by command_id (thread-safe)."""

    def __init__(self) -> None:
        self.sent: dict[str, Sent] = {}
        self._lock = threading.Lock()

    def record(self, envelope: dict[str, Any], acked: bool) -> None:
        with self._lock:
            entry = self.sent.setdefault(envelope["command_id"], Sent(envelope))
            entry.sends += 1
            entry.acked = entry.acked or acked

    def acked_ids(self) -> set[str]:
        with self._lock:
            return {cid for cid, entry in self.sent.items() if entry.acked}

    def total_sends(self) -> int:
        with self._lock:
            return sum(entry.sends for entry in self.sent.values())


class Publisher:
    """One client's producer: every publish waits for the ack, retried on failure."""

    def __init__(self, bootstrap: str, topic: str, history: History) -> None:
        self.topic = topic
        self.history = history
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            **auth(),
            max_request_size=4 << 20,
            request_timeout_ms=15_000,
            reconnect_backoff_max_ms=2_000,
        )

    def send(self, envelope: dict[str, Any], key: str) -> bool:
        value = json.dumps(signed_for_kafka(envelope)).encode()  # a re-send: the same bytes
        for attempt in range(SEND_ATTEMPTS):
            try:
                self.producer.send(self.topic, key=key.encode(), value=value).get(timeout=60)
                self.history.record(envelope, acked=True)
                return True
            except KafkaError:
                # Unknown whether it reached the broker: the retry may be a duplicate.
                self.history.record(envelope, acked=False)
                time.sleep(min(5.0, 0.5 * 2**attempt))
        return False

    def close(self) -> None:
        self.producer.close(timeout=10)


@dataclass
class ClientState:
    rng: random.Random
    payments: list[dict[str, Any]] = field(default_factory=list)  # authorize payloads
    sent: list[tuple[dict[str, Any], str]] = field(default_factory=list)


class Client:
    """Generates one client's commands: hot accounts are picked most of the time."""

    def __init__(self, universe: Universe, name: str, seed: int) -> None:
        self.universe = universe
        self.name = name
        self.state = ClientState(random.Random(seed))
        self.count = 0

    def _id(self) -> str:
        self.count += 1
        return f"{self.universe.run}-{self.name}-{self.count}"

    def _customer(self, book: Accounts) -> str:
        rng = self.state.rng
        return rng.choice(book.customers[:HOT] if rng.random() < 0.6 else book.customers)

    def next(self) -> tuple[dict[str, Any], str]:
        """The next (envelope, routing key); about 1 in 12 re-sends an earlier one."""
        rng = self.state.rng
        if self.state.sent and rng.random() < 1 / 12:
            envelope, key = rng.choice(self.state.sent)
            return envelope, key if rng.random() < 0.5 else uuid.uuid4().hex
        book = self.universe.books[rng.choice(CURRENCIES)]
        roll = rng.random()
        payments = self.state.payments
        if roll < 0.4:
            made = self._transfer(book)
        elif roll < 0.7 or not payments:
            made = self._authorize(book)
        else:  # capture 18%, refund 7%, void 5%
            made = self._on_payment(rng.choice(payments[-20:]), roll)
        self.state.sent.append(made)
        return made

    def _transfer(self, book: Accounts) -> tuple[dict, str]:
        rng = self.state.rng
        source = book.bank if rng.random() < 0.1 else self._customer(book)
        target = rng.choice([a for a in book.all() if a != source])
        cid = self._id()
        envelope = command(cid, "transfer", transfer_id=cid, from_account=source,
                           to_account=target, amount=rng.randint(1, 5_000),
                           currency=book.currency)  # fmt: skip
        return envelope, source if rng.random() < 0.5 else uuid.uuid4().hex

    def _authorize(self, book: Accounts) -> tuple[dict, str]:
        rng = self.state.rng
        cid = self._id()
        merchant = book.merchants[0] if rng.random() < 0.7 else book.merchants[1]
        payload = dict(payment_id=cid, payer_account=self._customer(book),
                       merchant_account=merchant, amount=rng.randint(100, 6_000),
                       currency=book.currency)  # fmt: skip
        self.state.payments.append(payload)
        return command(cid, "authorize_payment", **payload), self._payment_key(cid)

    def _on_payment(self, payment: dict[str, Any], roll: float) -> tuple[dict, str]:
        rng = self.state.rng
        pid = payment["payment_id"]
        cid = self._id()
        if roll < 0.88:
            amount = rng.randint(1, payment["amount"])
            envelope = command(cid, "capture_payment", payment_id=pid, amount=amount)
        elif roll < 0.95:
            envelope = command(cid, "refund_payment", payment_id=pid,
                               amount=rng.randint(1, payment["amount"]))  # fmt: skip
        else:
            envelope = command(cid, "void_payment", payment_id=pid)
        return envelope, self._payment_key(pid)

    def _payment_key(self, payment_id: str) -> str:
        # Mostly per payment (ordered), sometimes random (races with its own payment).
        return payment_id if self.state.rng.random() < 0.8 else uuid.uuid4().hex


class OutcomeTracker:
    """Reads the results topic from "now" on, keeping the outcomes of one run."""

    def __init__(self, bootstrap: str, topics: Topics, run: str) -> None:
        self.run = run
        self.outcomes: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **auth()
        )
        partitions = _partitions(self.consumer, topics.command_results)
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            self.consumer.position(partition)  # resolve "end" before anything is sent
        self._thread = threading.Thread(target=self._run, name="outcomes", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                polled = self.consumer.poll(timeout_ms=200)
            except KafkaError:
                time.sleep(0.5)  # the broker is restarting; the client reconnects
                continue
            for records in polled.values():
                for record in records:
                    outcome = json.loads(record.value)
                    if str(outcome.get("command_id", "")).startswith(self.run):
                        with self._lock:
                            self.outcomes.setdefault(outcome["command_id"], []).append(outcome)

    def answered(self) -> set[str]:
        with self._lock:
            return set(self.outcomes)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {k: list(v) for k, v in self.outcomes.items()}

    def wait_for(self, ids: set[str], timeout: float) -> set[str]:
        """Block until every id has an outcome or the timeout; return the missing ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = ids - self.answered()
            if not missing:
                return set()
            time.sleep(0.2)
        return ids - self.answered()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.consumer.close()


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(100):
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        time.sleep(0.2)
    raise RuntimeError(f"topic {topic} has no partitions")


class BankWorkload:
    """Setup, then `clients` paced threads; `run()` returns when all have finished."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        *,
        clients: int,
        commands_per_client: int,
        seconds: float,
        seed: int,
    ) -> None:
        self.run_id = f"w{uuid.uuid4().hex[:8]}"
        self.bootstrap = bootstrap
        self.topics = topics
        self.universe = Universe(self.run_id)
        self.history = History()
        self.tracker = OutcomeTracker(bootstrap, topics, self.run_id)
        self.clients = [Client(self.universe, f"k{i}", seed + i) for i in range(clients)]
        self.commands_per_client = commands_per_client
        self.pause = seconds / max(1, commands_per_client)
        self.finished = threading.Event()

    def setup(self, timeout: float = 120.0) -> None:
        publisher = Publisher(self.bootstrap, self.topics.commands, self.history)
        try:
            for envelope in self.universe.setup():
                # Opens before funding: same key, so the same partition keeps the order.
                publisher.send(envelope, key=f"{self.run_id}-setup")
        finally:
            publisher.close()
        missing = self.tracker.wait_for(self.history.acked_ids(), timeout)
        if missing:
            raise AssertionError(f"setup commands without an outcome: {sorted(missing)[:5]}")

    def in_flight(self) -> int:
        return len(self.history.acked_ids() - self.tracker.answered())

    def run(self, during: Callable[[], None] | None = None) -> None:
        """Run the clients; `during` runs on this thread meanwhile (the fault schedule)."""
        threads = [
            threading.Thread(target=self._client, args=(client,), name=client.name)
            for client in self.clients
        ]
        for thread in threads:
            thread.start()
        try:
            if during is not None:
                during()
        finally:
            for thread in threads:
                thread.join(timeout=600)
            self.finished.set()

    def _client(self, client: Client) -> None:
        publisher = Publisher(self.bootstrap, self.topics.commands, self.history)
        try:
            for _ in range(self.commands_per_client):
                envelope, key = client.next()
                publisher.send(envelope, key)
                time.sleep(client.state.rng.uniform(0, 2 * self.pause))
        finally:
            publisher.close()

    def close(self) -> None:
        self.tracker.close()
