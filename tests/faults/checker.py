"""The checks every fault round must pass, each returning "ok" or what went wrong.

- outcomes: every acknowledged command has exactly one first (non-replayed) outcome,
  it comes first, and every later copy is a replay with the same status and code;
- ledger_zero_sum: per currency, Σ posted over every account in the event store is 0;
- account_postings: each account of the run has the posted and held balances that
  its accepted commands imply (derived from outcomes + what the commands said);
- events_topic: every stored (aggregate_id, version) is on the events topic; a copy
  seen twice is byte-for-byte the same message (a relay re-send, nothing else);
- read_model / verify: the balances projection caught up to the store and
  `payments verify` exits 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition

from payments.ledger.store import open_application
from payments.runtime.settings import Settings
from tests.support.kafka import auth

OK = "ok"


@dataclass
class StoreView:
    """Balances and keys computed from every event in the event store."""

    posted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    held: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    currency: dict[str, str] = field(default_factory=dict)
    keys: set[tuple[str, int]] = field(default_factory=set)
    by_command: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def load(cls, settings: Settings) -> StoreView:
        view = cls()
        app = open_application(settings)
        try:
            start = 1
            while True:
                page = app.recorder.select_notifications(start=start, limit=5000)
                if not page:
                    return view
                for notification in page:
                    view._add(app.mapper.to_domain_event(notification))
                start = page[-1].id + 1
        finally:
            app.close()

    def _add(self, event: Any) -> None:
        name = type(event).__qualname__
        self.keys.add((str(event.originator_id), event.originator_version))
        self.by_command[getattr(event, "command_id", "")].append(name)
        account = getattr(event, "account_id", None)
        if name == "Account.Opened":
            self.currency[account] = event.currency
        elif name == "Account.Credited":
            self.posted[account] += event.amount
        elif name == "Account.Debited":
            self.posted[account] -= event.amount
        elif name == "Account.HoldCaptured":
            self.posted[account] -= event.amount
            self.held[account] -= event.amount
        elif name == "Account.HoldPlaced":
            self.held[account] += event.amount
        elif name == "Account.HoldReleased":
            self.held[account] -= event.amount


def first_outcomes(
    outcomes: dict[str, list[dict[str, Any]]], acked: set[str], sent: Iterable[str]
) -> tuple[dict[str, dict[str, Any]], str, int]:
    """The first outcome of each command, "ok" or the broken rule, and how many came first
    as a replay.

    One decision per command: every copy carries the same status, code and
    processed_at (a replay repeats the original decision's time), and at most one copy
    is not marked replayed. The first copy may itself be a replay: the architecture
    allows it when the engine died after committing a batch but before publishing
    its answers (the redelivered batch is answered from the stored records).
    """
    problems = []
    firsts: dict[str, dict[str, Any]] = {}
    replay_first = 0
    for cid in sent:
        found = outcomes.get(cid, [])
        if not found:
            if cid in acked:
                problems.append(f"{cid}: acknowledged but no outcome")
            continue
        originals = {json.dumps(o, sort_keys=True) for o in found if not o["replayed"]}
        if len(originals) > 1:
            problems.append(f"{cid}: {len(originals)} distinct non-replayed outcomes")
        if originals and found[0]["replayed"]:
            problems.append(f"{cid}: a replay came before the original outcome")
        replay_first += not originals
        decisions = {(o["status"], o["code"], o["processed_at"]) for o in found}
        if len(decisions) != 1:
            problems.append(f"{cid}: outcomes disagree {sorted(map(str, decisions))}")
        firsts[cid] = found[0]
    return firsts, _summary(problems), replay_first


def expected_balances(
    envelopes: dict[str, dict[str, Any]], firsts: dict[str, dict[str, Any]]
) -> tuple[dict[str, int], dict[str, int]]:
    """posted and held per account implied by the accepted commands."""
    posted: dict[str, int] = defaultdict(int)
    held: dict[str, int] = defaultdict(int)
    accepted = {cid for cid, o in firsts.items() if o["status"] == "accepted"}
    payments = {
        e["payload"]["payment_id"]: e["payload"]
        for cid, e in envelopes.items()
        if e["type"] == "authorize_payment" and cid in accepted
    }
    captured: dict[str, int] = defaultdict(int)
    voided: set[str] = set()
    for cid in accepted:
        envelope = envelopes[cid]
        p = envelope["payload"]
        kind = envelope["type"]
        if kind == "transfer":
            posted[p["from_account"]] -= p["amount"]
            posted[p["to_account"]] += p["amount"]
        elif kind == "capture_payment":
            pay = payments[p["payment_id"]]
            posted[pay["payer_account"]] -= p["amount"]
            posted[pay["merchant_account"]] += p["amount"]
            captured[p["payment_id"]] += p["amount"]
        elif kind == "refund_payment":
            pay = payments[p["payment_id"]]
            posted[pay["merchant_account"]] -= p["amount"]
            posted[pay["payer_account"]] += p["amount"]
        elif kind == "void_payment":
            voided.add(p["payment_id"])
    for payment_id, pay in payments.items():
        if payment_id not in voided:
            held[pay["payer_account"]] += pay["amount"] - captured[payment_id]
    return posted, held


def check_zero_sum(store: StoreView) -> str:
    totals: dict[str, int] = defaultdict(int)
    for account, amount in store.posted.items():
        totals[store.currency.get(account, "?")] += amount
    return _summary([f"Σ posted {c} = {t}" for c, t in totals.items() if t != 0])


def check_accounts(
    accounts: Iterable[str], store: StoreView, posted: dict[str, int], held: dict[str, int]
) -> str:
    problems = []
    for account in accounts:
        if store.posted[account] != posted[account]:
            problems.append(f"{account} posted {store.posted[account]} ≠ {posted[account]}")
        if store.held[account] != held[account]:
            problems.append(f"{account} held {store.held[account]} ≠ {held[account]}")
    return _summary(problems)


def check_events_topic(
    bootstrap: str, topic: str, expected: set[tuple[str, int]], timeout: float = 120.0
) -> tuple[str, int]:
    """Every stored key on the topic (waiting for the relay); returns (result, duplicates)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **auth()
    )
    seen: dict[tuple[str, int], bytes] = {}
    copies: Counter[tuple[str, int]] = Counter()
    problems: list[str] = []
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not expected <= seen.keys():
            for records in consumer.poll(timeout_ms=500, max_records=20_000).values():
                for record in records:
                    message = json.loads(record.value)
                    key = (str(message["aggregate_id"]), int(message["aggregate_version"]))
                    copies[key] += 1
                    if key in seen and seen[key] != record.value:
                        problems.append(f"{key}: two different messages")
                    seen.setdefault(key, record.value)
    finally:
        consumer.close()
    missing = expected - seen.keys()
    if missing:
        problems.append(f"{len(missing)} stored events not on {topic}, e.g. {sorted(missing)[:3]}")
    return _summary(problems), sum(n - 1 for n in copies.values())


def check_read_model(
    settings: Settings, store: StoreView, accounts: list[str], timeout: float = 120.0
) -> str:
    """Wait until `balances` shows the store's posted/held for the run's accounts."""
    deadline = time.monotonic() + timeout
    last = "balances table never answered"
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(settings.require_database_url(), connect_timeout=5) as conn:
                rows = conn.execute(
                    "SELECT account_id, posted, held FROM balances WHERE account_id = ANY(%s)",
                    (accounts,),
                ).fetchall()
        except psycopg.Error as error:
            last = f"balances unreadable: {error}".splitlines()[0]
            time.sleep(1)
            continue
        shown = {r[0]: (r[1], r[2]) for r in rows}
        drift = [
            f"{a}: read model {shown.get(a)} ≠ store {(store.posted[a], store.held[a])}"
            for a in accounts
            if shown.get(a) != (store.posted[a], store.held[a])
        ]
        if not drift:
            return OK
        last = _summary(drift)
        time.sleep(1)
    return last


def run_verify(settings: Settings, timeout: float = 120.0) -> str:
    """`payments verify` until it passes or the timeout; "ok" or its last complaint.

    The projections are eventually consistent, so a lagging consumer shows up as
    differences for a while: only differences that outlast the timeout fail.
    """
    deadline = time.monotonic() + timeout
    last = "verify never ran"
    while time.monotonic() < deadline:
        last = _verify_command(settings)
        if last == OK:
            return OK
        time.sleep(2)
    return last


def _verify_command(settings: Settings) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "payments.cli", "verify", "--json"], capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    if done.returncode == 0:
        return OK
    try:
        differences = json.loads(done.stdout)["differences"]
    except (ValueError, KeyError, TypeError):
        tail = (done.stdout + done.stderr).strip().splitlines()[-6:]
        return f"payments verify exit {done.returncode}: " + " / ".join(tail)
    return f"payments verify exit {done.returncode}: " + _summary(
        [
            f"{d['table']}[{d['key']}].{d['column']}: {d['expected']!r} ≠ {d['actual']!r}"
            for d in differences
        ]
    )


def _summary(problems: list[str], shown: int = 5) -> str:
    if not problems:
        return OK
    more = f" (+{len(problems) - shown} more)" if len(problems) > shown else ""
    return "; ".join(problems[:shown]) + more
