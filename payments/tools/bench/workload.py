"""The benchmark's workload: every command, generated deterministically from a seed.

The stream must be decidable by a reader who knows only what the generator knows,
because the engine is free to interleave commands with different Kafka keys. So:

- the set-up comes in waves (open every account, then fund the customers) and the
  runner waits for a wave's outcomes before it sends the next;
- every payment's commands share the payment's key, so they arrive in order and the
  generator can track authorized / captured / refunded amounts exactly;
- customers are funded with more than all their voluntary debits of the whole run
  (credits ignored), and merchants get an overdraft limit larger than all their
  refunds, so an accepted command can never turn into `insufficient_funds`;
- deliberate rejections are ones no interleaving can save: a payer that never gets
  money, an account that never exists, capturing more than was authorized, ...
- a settlement may race the captures it would settle (different keys), so its
  expected result is "accepted or nothing_to_settle": the one thing left open.

A segment only refers back to commands earlier in the same segment, so any prefix of
it is a valid workload: the latency phases send as much of theirs as time allows.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from payments.client.send import routing_key

ACCEPTED = "accepted"
CURRENCY = "EUR"
ACTOR = "bench@payments"
BANK = "ext:bank"
PAYOUT = "ext:payout"
FEES = "fees:main"
DORMANT_MERCHANT = "merch:dormant"
MERCHANT_OVERDRAFT = 10**11
FUNDING_MARGIN = 1_000_000

SizeName = Literal["quick", "default", "large"]


@dataclass(frozen=True)
class Size:
    customers: int
    merchants: int
    hot_customers: int
    hot_merchants: int
    poor_customers: int
    throughput_commands: int
    latency_commands: int  # pool of each latency phase; time decides how much is sent
    latency_seconds: float
    naive_transfers: int
    pgbench_seconds: int


SIZES: dict[str, Size] = {
    "quick": Size(200, 20, 5, 3, 3, 2_000, 2_000, 3.0, 300, 5),
    "default": Size(2_000, 100, 20, 5, 10, 20_000, 20_000, 10.0, 2_000, 20),
    "large": Size(100_000, 2_000, 200, 20, 50, 1_000_000, 100_000, 60.0, 10_000, 60),
}

# Relative weights of the accepted commands of a segment, and the share of rejections.
MIX = {
    "transfer": 30,
    "authorize_payment": 25,
    "capture_payment": 18,
    "refund_payment": 6,
    "void_payment": 4,
    "chargeback_payment": 2,
    "settle_merchant": 1,
}
REJECTION_SHARE = 0.05
HOT_SHARE = 0.8


@dataclass(frozen=True)
class Command:
    envelope: dict[str, Any]
    key: str
    # Acceptable results: "accepted" or a rejection code. One element: the generator
    # knows the result; several: it depends on how the engine interleaves keys.
    expected: frozenset[str]

    @property
    def command_id(self) -> str:
        return str(self.envelope["command_id"])

    @property
    def type(self) -> str:
        return str(self.envelope["type"])


@dataclass
class Workload:
    seed: int
    size: Size
    setup: list[list[Command]]  # waves: each one's outcomes are awaited before the next
    throughput: list[Command]
    latency: list[list[Command]]  # one pool per latency phase

    def main_commands(self) -> list[Command]:
        return self.throughput + [c for pool in self.latency for c in pool]

    def mix(self) -> Counter[str]:
        return Counter(c.type for c in self.throughput)


@dataclass
class _Payment:
    payment_id: str
    merchant: str
    authorized: int
    captured: int = 0
    voided: bool = False
    returned: int = 0  # refunded + charged back

    @property
    def remaining(self) -> int:
        return 0 if self.voided else self.authorized - self.captured

    @property
    def refundable(self) -> int:
        return self.captured - self.returned


@dataclass
class _Segment:
    """Generates one segment: a payment pool of its own, accounts shared."""

    name: str
    rng: random.Random
    customers: list[str]
    merchants: list[str]
    hot_customers: list[str]
    hot_merchants: list[str]
    poor: list[str]
    debits: Counter[str]  # voluntary debits per customer, summed over all segments
    commands: list[Command] = field(default_factory=list)
    payments: list[_Payment] = field(default_factory=list)
    serial: int = 0

    def next_id(self, kind: str) -> str:
        self.serial += 1
        return f"{self.name}-{kind}-{self.serial:07d}"

    def emit(self, type_: str, payload: dict[str, Any], expected: str | set[str]) -> None:
        envelope = {
            "command_id": self.next_id("c"),
            "type": type_,
            "actor": ACTOR,
            "payload": payload,
        }
        allowed = frozenset({expected} if isinstance(expected, str) else expected)
        self.commands.append(Command(envelope, routing_key(envelope), allowed))

    def customer(self) -> str:
        pool = self.hot_customers if self.rng.random() < HOT_SHARE else self.customers
        return self.rng.choice(pool)

    def merchant(self) -> str:
        pool = self.hot_merchants if self.rng.random() < HOT_SHARE else self.merchants
        return self.rng.choice(pool)

    def pick(self, eligible: str) -> _Payment | None:
        # A few random probes keep generation O(1); recent payments are likelier anyway.
        for _ in range(8):
            if not self.payments:
                return None
            payment = self.payments[self.rng.randrange(len(self.payments))]
            if getattr(payment, eligible) > 0:
                return payment
        return None

    def step(self) -> None:
        if self.rng.random() < REJECTION_SHARE:
            self.reject()
            return
        action = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        getattr(self, action)()

    def transfer(self) -> None:
        source, target = self.customer(), self.rng.choice([self.customer, self.merchant])()
        if source == target:
            target = self.rng.choice(self.merchants)
        amount = self.rng.randint(100, 20_000)
        self.debits[source] += amount
        self.emit(
            "transfer",
            {
                "transfer_id": self.next_id("t"),
                "from_account": source,
                "to_account": target,
                "amount": amount,
                "currency": CURRENCY,
            },
            ACCEPTED,
        )

    def authorize_payment(self) -> None:
        payer, merchant = self.customer(), self.merchant()
        amount = self.rng.randint(500, 50_000)
        self.debits[payer] += amount
        payment = _Payment(self.next_id("p"), merchant, amount)
        self.payments.append(payment)
        self.emit("authorize_payment", self._authorization(payment, payer), ACCEPTED)

    def _authorization(self, payment: _Payment, payer: str) -> dict[str, Any]:
        return {
            "payment_id": payment.payment_id,
            "payer_account": payer,
            "merchant_account": payment.merchant,
            "amount": payment.authorized,
            "currency": CURRENCY,
        }

    def capture_payment(self) -> None:
        payment = self.pick("remaining")
        if payment is None:
            return self.authorize_payment()
        amount = payment.remaining if self.rng.random() < 0.6 else self._part(payment.remaining)
        payment.captured += amount
        self.emit("capture_payment", {"payment_id": payment.payment_id, "amount": amount}, ACCEPTED)

    def void_payment(self) -> None:
        payment = self.pick("remaining")
        if payment is None:
            return self.authorize_payment()
        payment.voided = True
        self.emit("void_payment", {"payment_id": payment.payment_id}, ACCEPTED)

    def refund_payment(self) -> None:
        payment = self.pick("refundable")
        if payment is None:
            return self.capture_payment()
        amount = self._part(payment.refundable)
        payment.returned += amount
        self.emit("refund_payment", {"payment_id": payment.payment_id, "amount": amount}, ACCEPTED)

    def chargeback_payment(self) -> None:
        payment = self.pick("refundable")
        if payment is None:
            return self.capture_payment()
        amount = payment.refundable
        payment.returned += amount
        self.emit(
            "chargeback_payment",
            {"payment_id": payment.payment_id, "amount": amount, "reason": "fraud"},
            ACCEPTED,
        )

    def settle_merchant(self, merchant: str | None = None) -> None:
        merchant = merchant or self.rng.choice(self.hot_merchants)
        expected: str | set[str] = (
            "nothing_to_settle" if merchant == DORMANT_MERCHANT else {ACCEPTED, "nothing_to_settle"}
        )
        self.emit(
            "settle_merchant",
            {
                "batch_id": self.next_id("b"),
                "merchant_account": merchant,
                "payout_account": PAYOUT,
                "fees_account": FEES,
                "fee_bps": 150,
            },
            expected,
        )

    def _part(self, total: int) -> int:
        return max(1, self.rng.randint(1, total))

    def reject(self) -> None:
        kind = self.rng.choice(REJECTIONS)
        kind(self)

    # --- deliberate rejections: each certain whatever the interleaving ---

    def _transfer(self, source: str, target: str, amount: int, code: str) -> None:
        self.emit(
            "transfer",
            {
                "transfer_id": self.next_id("t"),
                "from_account": source,
                "to_account": target,
                "amount": amount,
                "currency": CURRENCY,
            },
            code,
        )

    def poor_payer(self) -> None:
        payer = self.rng.choice(self.poor)
        if self.rng.random() < 0.5:
            self._transfer(payer, self.customer(), 1_000, "insufficient_funds")
        else:
            payment = _Payment(self.next_id("p"), self.merchant(), 1_000)
            payload = self._authorization(payment, payer)
            self.emit("authorize_payment", payload, "insufficient_funds")

    def unknown_account(self) -> None:
        self._transfer(self.customer(), f"cust:ghost:{self.serial}", 1_000, "account_not_found")

    def same_account(self) -> None:
        account = self.customer()
        self._transfer(account, account, 1_000, "same_account")

    def zero_amount(self) -> None:
        self._transfer(self.customer(), self.merchant(), 0, "invalid_amount")

    def over_capture(self) -> None:
        payment = self.pick("remaining")
        if payment is None:
            return self.unknown_payment()
        payload = {"payment_id": payment.payment_id, "amount": payment.remaining + 1}
        self.emit("capture_payment", payload, "amount_exceeds_authorized")

    def over_refund(self) -> None:
        payment = self.pick("refundable")
        if payment is None:
            return self.unknown_payment()
        payload = {"payment_id": payment.payment_id, "amount": payment.refundable + 1}
        self.emit("refund_payment", payload, "amount_exceeds_captured")

    def unknown_payment(self) -> None:
        payload = {"payment_id": f"{self.name}-p-ghost-{self.serial}", "amount": 100}
        self.emit("capture_payment", payload, "payment_not_found")

    def dormant_settlement(self) -> None:
        self.settle_merchant(DORMANT_MERCHANT)


REJECTIONS = [
    _Segment.poor_payer,
    _Segment.unknown_account,
    _Segment.same_account,
    _Segment.zero_amount,
    _Segment.over_capture,
    _Segment.over_refund,
    _Segment.unknown_payment,
    _Segment.dormant_settlement,
]


def generate(seed: int, size: Size, risk_rules: bool = False) -> Workload:
    rng = random.Random(seed)
    customers = [f"cust:{i:06d}" for i in range(size.customers)]
    merchants = [f"merch:{i:05d}" for i in range(size.merchants)]
    poor = [f"cust:poor:{i:03d}" for i in range(size.poor_customers)]
    debits: Counter[str] = Counter()

    def segment(name: str, count: int) -> list[Command]:
        generator = _Segment(
            name=name,
            rng=random.Random(rng.getrandbits(64)),
            customers=customers,
            merchants=merchants,
            hot_customers=customers[: size.hot_customers],
            hot_merchants=merchants[: size.hot_merchants],
            poor=poor,
            debits=debits,
        )
        while len(generator.commands) < count:
            generator.step()
        return generator.commands[:count]

    throughput = segment("tp", size.throughput_commands)
    latency = [segment(name, size.latency_commands) for name in ("l25", "l50")]
    setup = _setup(customers, merchants, poor, debits)
    if risk_rules:
        setup = [[risk_rules_command()], *setup]
    return Workload(seed, size, setup, throughput, latency)


RULE_KINDS = ["customer", "merchant"]  # the kinds whose voluntary debits the mix makes


def risk_rules_command() -> Command:
    """`set_risk_rules` with one rule of each kind that every debit of the mix is checked
    against and none breaks (bounds far above the workload's): the rules' cost on every
    command, the outcomes the generator expects unchanged (`--risk-rules`)."""
    common = {"kinds": RULE_KINDS, "currency": CURRENCY}
    payload = {
        "version": 1,
        "cooling_off": [
            {"rule_id": "bench-cooling-off", **common, "seconds": 60, "max_amount": 10**12}
        ],
        "maximums": [{"rule_id": "bench-maximum", **common, "max_amount": 10**12}],
        "velocity": [
            {"rule_id": "bench-velocity", **common, "window_seconds": 3600,
             "max_count": 1_000_000, "max_sum": 10**12}
        ],
    }  # fmt: skip
    envelope = {
        "command_id": "setup-risk-rules",
        "type": "set_risk_rules",
        "actor": ACTOR,
        "payload": payload,
    }
    return Command(envelope, routing_key(envelope), frozenset({ACCEPTED}))


def _setup(
    customers: list[str], merchants: list[str], poor: list[str], debits: Counter[str]
) -> list[list[Command]]:
    opens: list[Command] = []
    fundings: list[Command] = []

    def add(wave: list[Command], type_: str, payload: dict[str, Any]) -> None:
        envelope = {
            "command_id": f"setup-{len(opens) + len(fundings):07d}",
            "type": type_,
            "actor": ACTOR,
            "payload": payload,
        }
        wave.append(Command(envelope, routing_key(envelope), frozenset({ACCEPTED})))

    def open_account(account_id: str, kind: str, overdraft: int = 0) -> None:
        payload = {"account_id": account_id, "currency": CURRENCY, "kind": kind}
        if overdraft:
            payload["overdraft_limit"] = overdraft
        add(opens, "open_account", payload)

    for account_id, kind in ((BANK, "external"), (PAYOUT, "external"), (FEES, "fees")):
        open_account(account_id, kind)
    for account_id in [*customers, *poor]:
        open_account(account_id, "customer")
    for account_id in [*merchants, DORMANT_MERCHANT]:
        open_account(account_id, "merchant", MERCHANT_OVERDRAFT)
    for account_id in customers:
        add(
            fundings,
            "transfer",
            {
                "transfer_id": f"fund-{account_id}",
                "from_account": BANK,
                "to_account": account_id,
                "amount": debits[account_id] + FUNDING_MARGIN,
                "currency": CURRENCY,
            },
        )
    return [opens, fundings]
