"""Property: the ledger agrees with an independent reference model, step by step.

Random sequences of commands (accounts of several kinds and currencies, transfers,
the payment lifecycle, disputes with their two-person decisions and expiry sweeps,
settlements, re-sent duplicates, idempotency conflicts, invalid and unknown commands,
and the risk controls: freezes, KYC tiers, risk rules of every kind with block and
review actions, reviews approved and declined, authorizations that expire and their
sweep) go through the ledger one by one and through `tests/reference_model.py`. After
every step the outcomes (status, code, replayed), every balance and freeze must be
equal, and Σ posted per currency must be 0. The same commands fed in random batches
through `decide_batch` must give the same outcomes.

Time is the test's: the engine's decision clock (tests/support/clock.py) starts at
`START` and moves only at the generated `tick` steps, which the model reads too, so
velocity windows, cooling-off periods and expiries are decided at their boundaries.
A batch never spans a tick.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from payments.domain.account import Account
from payments.domain.ids import account_id_to_uuid
from payments.ledger.service import IncomingCommand
from payments.ledger.store import PaymentsApplication, in_memory_application
from tests.reference_model import ReferenceBooks
from tests.support.clock import manual_clock
from tests.support.signing import signed_ledger

Step = tuple[Any, ...]
# Half a minute past: a tick of 30 s or more crosses a minute, as velocity counts them.
START = datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC)

# Books with some history, so that short random sequences reach deep rules.
PREAMBLE: list[tuple[str, dict[str, Any]]] = [
    ("open_account", {"account_id": "bank", "currency": "EUR", "kind": "external"}),
    ("open_account", {"account_id": "usd-bank", "currency": "USD", "kind": "external"}),
    ("open_account", {"account_id": "alice", "currency": "EUR", "kind": "customer",
                      "overdraft_limit": 200}),
    ("open_account", {"account_id": "bob", "currency": "EUR", "kind": "customer"}),
    ("open_account", {"account_id": "shop", "currency": "EUR", "kind": "merchant"}),
    ("open_account", {"account_id": "usd-shop", "currency": "USD", "kind": "merchant"}),
    ("open_account", {"account_id": "fees", "currency": "EUR", "kind": "fees"}),
    ("open_account", {"account_id": "disputes", "currency": "EUR", "kind": "external"}),
    ("transfer", {"transfer_id": "fund-a", "from_account": "bank", "to_account": "alice",
                  "amount": 5_000, "currency": "EUR"}),
    ("transfer", {"transfer_id": "fund-b", "from_account": "bank", "to_account": "bob",
                  "amount": 3_000, "currency": "EUR"}),
    ("authorize_payment", {"payment_id": "p1", "payer_account": "alice",
                           "merchant_account": "shop", "amount": 2_000, "currency": "EUR"}),
    ("authorize_payment", {"payment_id": "p2", "payer_account": "bob",
                           "merchant_account": "shop", "amount": 1_500, "currency": "EUR"}),
    ("capture_payment", {"payment_id": "p2", "amount": 1_000}),
    ("open_dispute", {"dispute_id": "d1", "payment_id": "p2", "amount": 200,
                      "reason_code": "13.1", "network": "visa",
                      "evidence_due_by": "2099-01-01T00:00:00Z", "disputes_account": "disputes"}),
    ("submit_dispute_evidence", {"dispute_id": "d1", "text": "signed receipt"}),
    ("propose_dispute_resolution", {"dispute_id": "d1", "outcome": "won", "note": "n"}),
    ("authorize_payment", {"payment_id": "p5", "payer_account": "alice",
                           "merchant_account": "shop", "amount": 300, "currency": "EUR",
                           "expires_in_seconds": 60}),
]  # fmt: skip

accounts = st.sampled_from(
    ["alice"] * 3
    + ["bob"] * 3
    + ["bank"] * 2
    + ["shop"] * 2
    + ["usd-bank", "usd-shop", "fees", "new1", "new2", "ghost"]
)
payer_accounts = st.sampled_from(["alice", "alice", "bob", "bob", "bank", "shop", "ghost"])
merchant_accounts = st.sampled_from(["shop"] * 6 + ["usd-shop", "bob"])
payments = st.sampled_from(["p1", "p2", "p3", "p4", "p5"])


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Pick a strategy by weight (st.one_of would treat repeated options as one)."""
    return st.sampled_from([s for weight, s in options for _ in range(weight)]).flatmap(
        lambda strategy: strategy
    )


good_amounts = st.integers(min_value=1, max_value=3_000)
# Mostly valid values, so that long valid histories (and their rules) get exercised.
amounts = weighted(
    (8, good_amounts), (1, st.sampled_from([0, -5, 1.5, "100", True, 10**12 + 1, 10**30]))
)
currencies = st.sampled_from(["EUR"] * 12 + ["USD", "eur", "XYZ"])
identifiers = st.sampled_from(["t1", "t2", "t3", "t4", "t5", "t6", "bad id"])


def command(type_: str, **fields: Any) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.tuples(st.just(type_), st.fixed_dictionaries(fields))


open_accounts = command(
    "open_account",
    account_id=st.sampled_from(["new1", "new2", "new3", "alice"]),
    currency=currencies,
    kind=st.sampled_from(["customer", "merchant", "external", "fees"]),
    overdraft_limit=st.sampled_from([0, 100, 1_000]),
)
transfers = command(
    "transfer",
    transfer_id=identifiers,
    from_account=accounts,
    to_account=accounts,
    amount=amounts,
    currency=currencies,
)
authorization_fields = {
    "payment_id": payments,
    "payer_account": payer_accounts,
    "merchant_account": merchant_accounts,
    "amount": amounts,
    "currency": currencies,
}
expiries = st.sampled_from([60, 60, 120, 3_600, None, 59])  # 59: below the minimum
authorizations = st.one_of(
    command("authorize_payment", **authorization_fields),
    command("authorize_payment", **authorization_fields, expires_in_seconds=expiries),
)
captures = st.one_of(
    command("capture_payment", payment_id=payments, amount=amounts),
    command("capture_payment", payment_id=payments),
)
reversals = st.one_of(
    command("refund_payment", payment_id=payments, amount=amounts),
    command(
        "chargeback_payment",
        payment_id=payments,
        amount=amounts,
        reason=st.sampled_from(["fraud"] * 5 + [""]),
    ),
)
settlements = command(
    "settle_merchant",
    batch_id=st.sampled_from(["b1", "b2", "b3", "b4"]),
    merchant_account=st.sampled_from(["shop"] * 5 + ["usd-shop", "alice"]),
    payout_account=st.sampled_from(["bank"] * 5 + ["usd-bank", "bob"]),
    fees_account=st.sampled_from(["fees"] * 5 + ["bank"]),
    fee_bps=st.sampled_from([0, 25, 150, 333, 10_000, 10_001]),
)
oddities = st.one_of(
    command("close_account", account_id=accounts),
    command("void_payment", payment_id=payments),
    command("mint_money", account_id=accounts),
    command(
        "transfer",
        transfer_id=identifiers,
        from_account=accounts,
        to_account=accounts,
        amount=amounts,
        currency=currencies,
        memo=st.just("unexpected field"),
    ),
)
# Disputes: two operators (the two-person rule), due dates the run never reaches or
# already passed, and evidence with and without a card number.
operators = st.sampled_from(["prop@test", "prop@test", "second@test"])
dispute_ids = st.sampled_from(["d1", "d2", "d3"])
dispute_amounts = weighted((6, st.integers(min_value=1, max_value=400)), (1, amounts))
FAR, PASSED = "2099-01-01T00:00:00Z", "2020-01-01T00:00:00Z"
fee_terms = st.sampled_from(
    [{}, {}, {"fee": 150, "fees_account": "fees"}, {"fee": 150, "fees_account": "bank"},
     {"fee": 150, "fee_refunded_if_won": True, "fees_account": "fees"}, {"fee": 150},
     {"fee": 0, "fees_account": "ghost"}]
)  # fmt: skip
disputes_opened = st.builds(
    lambda base, terms: ("open_dispute", {**base, **terms}),
    st.fixed_dictionaries(
        {
            "dispute_id": dispute_ids,
            "payment_id": st.sampled_from(["p2"] * 4 + ["p1", "p3"]),  # p2 is captured
            "amount": dispute_amounts,
            "reason_code": st.just("13.1"),
            "network": st.just("visa"),
            "evidence_due_by": st.sampled_from([FAR, FAR, PASSED]),
            "disputes_account": st.sampled_from(["disputes"] * 5 + ["fees", "usd-bank", "ghost"]),
        }
    ),
    fee_terms,
)
outcomes = st.sampled_from(["won", "won", "won", "lost"])
evidence = command(
    "submit_dispute_evidence",
    dispute_id=dispute_ids,
    text=st.sampled_from(["signed receipt"] * 4 + ["card 4111 1111 1111 1111"]),
)
proposals = st.tuples(
    st.just("propose_dispute_resolution"),
    st.fixed_dictionaries({"dispute_id": dispute_ids, "outcome": outcomes, "note": st.just("n")}),
    operators,
)
approvals = st.tuples(
    st.just("approve_dispute_resolution"),
    st.fixed_dictionaries({"dispute_id": dispute_ids, "outcome": outcomes}),
    operators,
)
sweeps = command("expire_disputes", as_of=st.sampled_from(["2021-01-01T00:00:00Z", FAR]))
dispute_steps = weighted(
    (3, evidence),
    (1, command("accept_dispute", dispute_id=dispute_ids)),
    (4, proposals),
    (4, approvals),
    (1, sweeps),
)
cases = {
    "reason": st.just("AML review"),
    "case_ref": st.sampled_from(["case-1"] * 5 + ["bad case"]),
}
controlled = st.sampled_from(["alice", "alice", "bob", "shop", "bank", "ghost"])
controls = st.one_of(
    command("freeze_account", account_id=controlled, **cases),
    command("unfreeze_account", account_id=controlled, **cases),
    command("set_kyc_tier", account_id=controlled, tier=st.sampled_from([0, 1, 2, 10]),
            reason=st.just("documents")),
)  # fmt: skip
NEXT_VERSION = 0  # build() makes it the number of rule sets sent so far + 1
CUSTOMERS = {"kinds": ["customer"], "currency": "EUR"}
# Windows of an hour or more: the whole test runs inside them, and the model counts
# every debit.
RULE_SETS = [
    {},  # no rules at all
    {"maximums": [{"rule_id": "m0", **CUSTOMERS, "kyc_tiers": [0], "max_amount": 1_000}],
     "velocity": [{"rule_id": "third-in-an-hour", **CUSTOMERS, "window_seconds": 3_600,
                   "max_count": 2, "action": "review"}]},
    {"maximums": [{"rule_id": "m", "kinds": ["customer", "merchant"], "currency": "EUR",
                   "max_amount": 2_000}],
     "velocity": [{"rule_id": "v", **CUSTOMERS, "window_seconds": 3_600, "max_count": 2}]},
    {"velocity": [{"rule_id": "s", **CUSTOMERS, "window_seconds": 86_400, "max_sum": 2_500},
                  {"rule_id": "c", "kinds": ["external"], "currency": "EUR",
                   "window_seconds": 86_400, "max_count": 5}]},
    {"cooling_off": [{"rule_id": "new", **CUSTOMERS, "seconds": 120, "max_amount": 500}]},
    {"cooling_off": [{"rule_id": "hold-new", "kinds": ["customer", "external"],
                      "currency": "EUR", "seconds": 60, "max_amount": 0, "action": "review"}],
     "maximums": [{"rule_id": "big", **CUSTOMERS, "max_amount": 800, "action": "review"}]},
    {"velocity": [{"rule_id": "minute", **CUSTOMERS, "window_seconds": 60, "max_count": 1,
                   "action": "review"},
                  {"rule_id": "two-minutes", **CUSTOMERS, "window_seconds": 120,
                   "max_sum": 2_000}],
     "maximums": [{"rule_id": "tier-1", **CUSTOMERS, "kyc_tiers": [1, 2], "max_amount": 300,
                   "action": "review"}]},
]  # fmt: skip
# Debits that pass the older rules, so that the risk rules get to decide them.
customer_debits = command(
    "transfer",
    transfer_id=st.sampled_from([f"r{n}" for n in range(12)]),
    from_account=st.sampled_from(["alice", "bob"]),
    to_account=st.sampled_from(["bank", "shop"]),
    amount=st.integers(min_value=1, max_value=1_500),
    currency=st.just("EUR"),
)
risk_rules = st.tuples(
    st.just("set_risk_rules"),
    st.builds(
        lambda version, rules: {"version": version, **rules},
        st.sampled_from([NEXT_VERSION] * 4 + [1]),
        st.sampled_from(RULE_SETS),
    ),
)
# Reviews of the transfers a review rule held (r…), of one posted at once (fund-a),
# of one never sent (nope); and sweeps as of the clock, before it, ahead of it.
PENDING = "pending-review"  # the run names the oldest transfer held for review then
reviewed = st.sampled_from([PENDING] * 6 + ["r0", "r1", "t1", "fund-a", "nope"])
reviews = st.one_of(
    command("approve_review", transfer_id=reviewed, note=st.just("source of funds checked")),
    command("decline_review", transfer_id=reviewed, note=st.just("no answer")),
)
# build() turns the offset from the clock into the sweep's `as_of`.
expiry_sweeps = command(
    "expire_authorizations", as_of_offset=st.sampled_from([0, 0, -1, -61, 3_600, None])
)
ticks = st.tuples(st.just("tick"), st.sampled_from([1, 29, 30, 59, 60, 61, 120, 3_600, 86_400]))
commands = weighted(
    (2, open_accounts),
    (4, transfers),
    (4, authorizations),
    (4, captures),
    (3, reversals),
    (2, settlements),
    (2, oddities),
    (3, disputes_opened),
    (4, dispute_steps),
    (3, controls),
    (2, risk_rules),
    (3, customer_debits),
    (1, reviews),
    (1, expiry_sweeps),
)

steps: st.SearchStrategy[Step] = weighted(
    (12, st.tuples(st.just("new"), commands)),
    (1, ticks),
    (1, st.tuples(st.just("resend"), st.integers(min_value=0))),
    (1, st.tuples(st.just("reuse_id"), st.integers(min_value=0), commands)),
    (1, st.tuples(st.just("bad_id"), st.sampled_from(["", "x" * 129, "tab\t"]), commands)),
)


def envelope(
    command_id: Any, type_: str, payload: dict[str, Any], actor: str = "prop@test"
) -> dict[str, Any]:
    return {"command_id": command_id, "type": type_, "actor": actor, "payload": payload}


def as_of_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def dated(command: tuple[Any, ...], now: datetime) -> tuple[Any, ...]:
    """A sweep's `as_of_offset` (from the clock at that step) as its `as_of`."""
    type_, payload, *actor = command
    if "as_of_offset" not in payload:
        return command
    offset = payload["as_of_offset"]
    as_of = (
        "2020-01-01T00:00:00Z" if offset is None else as_of_text(now + timedelta(seconds=offset))
    )
    return type_, {"as_of": as_of}, *actor


def build(generated: list[Step]) -> list[dict[str, Any]]:
    """The envelopes of the steps, and `{"tick": seconds}` where the clock moves."""
    raws: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []  # the envelopes alone, for resends and reused ids
    rule_sets, now = 0, START
    for n, step in enumerate(generated):
        if step[0] == "tick":
            raws.append({"tick": step[1]})
            now += timedelta(seconds=step[1])
            continue
        if step[0] == "new" and step[1][0] == "set_risk_rules":
            rule_sets += 1
            if step[1][1]["version"] == NEXT_VERSION:
                step = ("new", ("set_risk_rules", {**step[1][1], "version": rule_sets}))
        step = (*step[:-1], dated(step[-1], now)) if step[0] != "resend" else step
        if step[0] == "new":
            sent.append(envelope(f"cmd-{n}", *step[1]))
        elif step[0] == "resend" and sent:
            sent.append(dict(sent[step[1] % len(sent)]))
        elif step[0] == "reuse_id" and sent:
            sent.append(envelope(sent[step[1] % len(sent)]["command_id"], *step[2]))
        elif step[0] == "bad_id":
            sent.append(envelope(step[1], *step[2]))
        else:
            continue
        raws.append(sent[-1])
    return raws


AccountState = tuple[int, int, bool, bool]  # posted, held, closed, frozen


def ledger_state(app: PaymentsApplication, account_ids: list[str]) -> dict[str, AccountState]:
    state = {}
    for account_id in account_ids:
        account = app.repository.get(account_id_to_uuid(account_id))
        assert isinstance(account, Account)
        state[account_id] = (account.posted, account.held, account.closed, account.frozen)
    return state


def reference_state(books: ReferenceBooks) -> dict[str, AccountState]:
    return {
        i: (a["posted"], a["held"], a["closed"], a["frozen"]) for i, a in books.accounts.items()
    }


def assert_balanced(app: PaymentsApplication, books: ReferenceBooks) -> None:
    totals: dict[str, int] = defaultdict(int)
    for account_id, (posted, *_) in ledger_state(app, list(books.accounts)).items():
        totals[books.accounts[account_id]["currency"]] += posted
    assert all(total == 0 for total in totals.values()), dict(totals)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generated=st.lists(steps, min_size=4, max_size=40),
    batch_sizes=st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=6),
)
def test_ledger_agrees_with_the_reference_model(
    generated: list[Step], batch_sizes: list[int]
) -> None:
    agree_with_the_reference_model(generated, batch_sizes)


# Money for more debits (and a debit of the bank, which some rules cover too).
top_ups = command(
    "transfer",
    transfer_id=st.sampled_from([f"top{n}" for n in range(8)]),
    from_account=st.just("bank"),
    to_account=st.sampled_from(["alice", "bob"]),
    amount=st.integers(min_value=500, max_value=3_000),
    currency=st.just("EUR"),
)
# Freezes, risk rules, reviews and expiries among the debits they decide, the clock
# moving between them (the mix above reaches them rarely).
control_steps = weighted(
    (
        15,
        st.tuples(
            st.just("new"),
            weighted(
                (2, controls),
                (2, risk_rules),
                (6, customer_debits),
                (2, top_ups),
                (2, authorizations),
                (2, captures),
                (1, reversals),
                (3, reviews),
                (1, expiry_sweeps),
                (1, command("void_payment", payment_id=payments)),
            ),
        ),
    ),
    (4, ticks),
    (1, st.tuples(st.just("resend"), st.integers(min_value=0))),
)


def rules_with(rule_id: str) -> dict[str, Any]:
    """The rule set of RULE_SETS that holds the rule `rule_id`."""
    return next(r for r in RULE_SETS if any(rule["rule_id"] == rule_id for v in r.values()
                                            for rule in v))  # fmt: skip


def debit(transfer_id: str) -> Step:
    payload = {"transfer_id": transfer_id, "from_account": "alice", "to_account": "bank"}
    return ("new", ("transfer", {**payload, "amount": 10, "currency": "EUR"}))


def payment_step(type_: str, **payload: Any) -> Step:
    return ("new", (type_, {"payment_id": "p3", **payload}))


SWEEP_AS_OF = [("new", ("expire_authorizations", {"as_of_offset": -1})),
               ("new", ("expire_authorizations", {"as_of_offset": 0}))]  # fmt: skip
AUTHORIZE_P3 = payment_step("authorize_payment", payer_account="alice", merchant_account="shop",
                            amount=100, currency="EUR", expires_in_seconds=60)  # fmt: skip
REVIEW = ("new", ("approve_review", {"transfer_id": PENDING, "note": "checked"}))


# The boundaries, every run (random ticks rarely sum to them): an account 59 s and
# 60 s old under a 60 s cooling-off; debits in the minute before and in this one under
# a one-minute window; a capture 59 s and 60 s after a 60 s authorization, sweeps as of
# a second before its expiry and at it, then a void of what the sweep released.
@example(
    first_rules=rules_with("hold-new"),
    batch_sizes=[1],
    generated=[("tick", 59), debit("r0"), ("tick", 1), debit("r1"), REVIEW],
)
@example(
    first_rules=rules_with("minute"),
    batch_sizes=[2],
    generated=[debit("r0"), ("tick", 29), debit("r1"), ("tick", 1), debit("r2"), REVIEW],
)
@example(first_rules={}, batch_sizes=[3],
         generated=[AUTHORIZE_P3, ("tick", 59), payment_step("capture_payment", amount=10),
                    ("tick", 1), payment_step("capture_payment", amount=10), *SWEEP_AS_OF,
                    payment_step("void_payment")])  # fmt: skip
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first_rules=st.sampled_from(RULE_SETS[1:]),
    generated=st.lists(control_steps, min_size=4, max_size=30),
    batch_sizes=st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=6),
)
def test_freezes_and_risk_rules_agree_with_the_reference_model(
    first_rules: dict[str, Any], generated: list[Step], batch_sizes: list[int]
) -> None:
    # Rules from the start, so that the debits meet them (build() numbers the version).
    first = ("new", ("set_risk_rules", {"version": NEXT_VERSION, **first_rules}))
    agree_with_the_reference_model([first, *generated], batch_sizes)


def agree_with_the_reference_model(generated: list[Step], batch_sizes: list[int]) -> None:
    raws = build(generated)
    with manual_clock(START) as clock:
        books = ReferenceBooks(clock)
        expected = one_by_one_agrees(raws, books, clock.advance)
        clock.now = START  # the batched pass lives the same times again
        batched_agrees(raws, batch_sizes, expected, reference_state(books), clock.advance)


def one_by_one_agrees(
    raws: list[dict[str, Any]], books: ReferenceBooks, advance: Callable[[float], None]
) -> list[tuple[str, str | None, bool]]:
    preamble = [envelope(f"pre-{n}", t, p) for n, (t, p) in enumerate(PREAMBLE)]
    one_by_one = signed_ledger(in_memory_application())
    for raw in preamble:
        assert books.decide(raw) == ("accepted", None, False)
        assert one_by_one.decide(raw).status == "accepted"

    expected = []
    for n, raw in enumerate(raws):
        if "tick" in raw:
            advance(raw["tick"])
            continue
        raw = raws[n] = name_the_pending_review(raw, books)  # the batched pass sends it too
        want = books.decide(raw)
        got = one_by_one.decide(raw)
        assert (got.status, got.code, got.replayed) == want, (raw, got.message)
        assert ledger_state(one_by_one.app, list(books.accounts)) == reference_state(books)
        assert_balanced(one_by_one.app, books)
        expected.append(want)
        event(f"outcome: {want[1] or want[0]}{' (replayed)' if want[2] else ''}")
        if any(word in str(raw["type"]) for word in ("dispute", "review", "expire")):
            event(f"{raw['type']}: {want[1] or want[0]}")
    return expected


def name_the_pending_review(raw: dict[str, Any], books: ReferenceBooks) -> dict[str, Any]:
    """A review of `PENDING` names the oldest transfer held for review ("nope": none)."""
    if raw["type"] not in ("approve_review", "decline_review"):
        return raw
    if not isinstance(raw["payload"], dict) or raw["payload"].get("transfer_id") != PENDING:
        return raw
    held = [i for i, t in books.transfers.items() if t["review"] == "pending"]
    return {**raw, "payload": {**raw["payload"], "transfer_id": (held or ["nope"])[0]}}


def batched_agrees(
    raws: list[dict[str, Any]],
    batch_sizes: list[int],
    expected: list[tuple[str, str | None, bool]],
    final: dict[str, AccountState],
    advance: Callable[[float], None],
) -> None:
    preamble = [envelope(f"pre-{n}", t, p) for n, (t, p) in enumerate(PREAMBLE)]
    batched = signed_ledger(in_memory_application())
    batched.decide_batch([IncomingCommand(raw) for raw in preamble])
    outcomes = []
    turn, chunk = 0, []
    for raw in [*raws, {"tick": 0}]:  # a batch ends at a tick: the clock moves between
        if "tick" not in raw:
            chunk.append(IncomingCommand(raw))
        if chunk and ("tick" in raw or len(chunk) == batch_sizes[turn % len(batch_sizes)]):
            outcomes += batched.decide_batch(chunk)
            turn, chunk = turn + 1, []
        if "tick" in raw:
            advance(raw["tick"])
    assert [(o.status, o.code, o.replayed) for o in outcomes] == expected
    assert ledger_state(batched.app, list(final)) == final
