"""Account freezes through the real engine (Kafka and PostgreSQL): a frozen account
sends nothing, and still receives what is forced on it (issue 18).

On a database of its own: the shared store is read whole by other tests (replay,
verify), whose code may predate these event types.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from payments.runtime.settings import Settings
from tests.integration.test_engine import command, events_of, wait_outcomes
from tests.support.kafka import publish
from tests.support.sandbox import Sandbox, engine_sandbox
from tests.support.signing import sign

pytestmark = pytest.mark.integration
ACTOR = "test@engine"


@pytest.fixture
def sandbox(settings: Settings, superuser_database_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    """Fresh topics, and an engine on a database of its own where ACTOR may do anything."""
    with engine_sandbox(settings, superuser_database_url, tmp_path, "risk") as own:
        own.register(ACTOR)
        yield own


def frozen_day(run: str) -> list[dict[str, Any]]:
    bank, alice, shop, fees, payout = (
        f"{name}-{run}" for name in ("bank", "alice", "shop", "fees", "payout")
    )
    pay, case = f"pay-{run}", {"reason": "AML review", "case_ref": f"case-{run}"}

    def transfer(n: int, source: str, target: str, amount: int) -> dict[str, Any]:
        return command(
            f"{run}-{n}",
            "transfer",
            transfer_id=f"t{n}-{run}",
            from_account=source,
            to_account=target,
            amount=amount,
            currency="EUR",
        )

    return [
        *(
            command(f"{run}-{n}", "open_account", account_id=a, currency="EUR", kind=k)
            for n, (a, k) in enumerate(
                (
                    (bank, "external"),
                    (alice, "customer"),
                    (shop, "merchant"),
                    (fees, "fees"),
                    (payout, "external"),
                )
            )
        ),
        transfer(5, bank, alice, 10_000),
        command(
            f"{run}-6",
            "authorize_payment",
            payment_id=pay,
            payer_account=alice,
            merchant_account=shop,
            amount=4_000,
            currency="EUR",
        ),
        command(f"{run}-7", "capture_payment", payment_id=pay),
        command(f"{run}-8", "freeze_account", account_id=alice, **case),
        transfer(9, alice, bank, 100),  # account_frozen
        transfer(10, bank, alice, 500),  # credits still arrive
        command(f"{run}-11", "chargeback_payment", payment_id=pay, amount=1_000, reason="fraud"),
        command(f"{run}-12", "freeze_account", account_id=shop, **case),
        command(
            f"{run}-13",
            "settle_merchant",
            batch_id=f"b-{run}",
            merchant_account=shop,
            payout_account=payout,
            fees_account=fees,
            fee_bps=100,
        ),
        command(f"{run}-14", "unfreeze_account", account_id=alice, **case),
        transfer(15, alice, bank, 100),
    ]


def test_a_frozen_account_is_refused_its_transfer_and_still_gets_its_chargeback(
    sandbox: Sandbox,
) -> None:
    bootstrap, topics, start = sandbox.bootstrap, sandbox.topics, sandbox.start
    run = uuid.uuid4().hex[:6]
    commands = frozen_day(run)
    ids = {c["command_id"] for c in commands}
    start()
    records = [(run.encode(), json.dumps(sign(c)).encode()) for c in commands]
    publish(bootstrap, topics.commands, records)
    outcomes = wait_outcomes(bootstrap, topics.command_results, ids)

    codes = {cid.split("-")[-1]: found[0]["code"] for cid, found in outcomes.items()}
    assert codes == {str(n): None for n in range(16)} | {"9": "account_frozen"}
    refused = outcomes[f"{run}-9"][0]
    assert refused["status"] == "rejected" and f"case-{run}" in refused["message"]

    def chargeback_and_settlement_posted(events: list[dict[str, Any]]) -> bool:
        """Each awaited event on its own aggregate (they come on different partitions)."""
        seen = {
            (e["event_type"], e["payload"]["account_id"], e["payload"].get("reason"))
            for e in events
            if "account_id" in e["payload"]
        }
        return {
            ("Account.Credited", f"alice-{run}", "chargeback"),
            ("Account.Credited", f"payout-{run}", "settlement_payout"),
            ("Account.Frozen", f"alice-{run}", "AML review"),
            ("Account.Frozen", f"shop-{run}", "AML review"),
        } <= seen

    events = events_of(bootstrap, topics.events, ids, chargeback_and_settlement_posted)
    alice = f"alice-{run}"
    credited = [
        e["payload"]
        for e in events
        if e["event_type"] == "Account.Credited" and e["payload"]["account_id"] == alice
    ]
    assert {(c["reason"], c["amount"], c["forced"]) for c in credited} >= {
        ("chargeback", 1_000, True),
        ("transfer", 500, False),
    }
    frozen = [e for e in events if e["event_type"] == "Account.Frozen"]
    assert {e["payload"]["account_id"] for e in frozen} == {alice, f"shop-{run}"}
    assert all(e["payload"]["case_ref"] == f"case-{run}" for e in frozen)
    # shop, frozen, was still settled: 4000 captured − 1000 charged back − 40 fees
    payouts = [e["payload"] for e in events if e["payload"].get("reason") == "settlement_payout"]
    assert [(p["amount"], p["forced"]) for p in payouts if p["account_id"] == f"payout-{run}"] == [
        (2_960, True)
    ]


def controls_day(run: str) -> list[dict[str, Any]]:
    """Every issue 18 command that the engine decides in one go."""
    bank, carol, shop = (f"{name}-{run}" for name in ("bank", "carol", "shop"))

    def c(n: int, type_: str, **payload: Any) -> dict[str, Any]:
        return command(f"{run}-{n}", type_, **payload)

    def transfer(n: int, amount: int) -> dict[str, Any]:
        return c(n, "transfer", transfer_id=f"t{n}-{run}", from_account=carol, to_account=bank,
                 amount=amount, currency="EUR")  # fmt: skip

    review = {"rule_id": "big", "kinds": ["customer"], "currency": "EUR", "max_amount": 1_000,
              "action": "review"}  # fmt: skip
    note = {"note": "checked"}
    screening = {"screening_id": f"scr-{run}", "reason": "name matches"}
    return [
        c(0, "open_account", account_id=bank, currency="EUR", kind="external"),
        c(1, "open_account", account_id=carol, currency="EUR", kind="customer"),
        c(2, "open_account", account_id=shop, currency="EUR", kind="merchant"),
        c(
            3,
            "transfer",
            transfer_id=f"fund-{run}",
            from_account=bank,
            to_account=carol,
            amount=10_000,
            currency="EUR",
        ),
        c(4, "set_kyc_tier", account_id=carol, tier=2, reason="documents"),
        c(5, "set_risk_rules", version=1, maximums=[review]),
        transfer(6, 2_000),  # held for review
        c(7, "approve_review", transfer_id=f"t6-{run}", **note),
        transfer(8, 3_000),
        c(9, "decline_review", transfer_id=f"t8-{run}", **note),
        c(10, "set_risk_rules", version=2),
        c(
            11,
            "authorize_payment",
            payment_id=f"pay-{run}",
            payer_account=carol,
            merchant_account=shop,
            amount=500,
            currency="EUR",
            expires_in_seconds=600,
        ),
        c(
            12,
            "request_screening",
            screening_id=f"scr-{run}",
            holder_id=f"h-{run}",
            account_ids=[carol],
            subject_ref=f"kyc:{run}",
        ),
        c(13, "record_screening_result", result="hit", score=100, matches=["wl-0001"], **screening),
        c(14, "escalate_screening", **screening),
        c(15, "resolve_screening", outcome="confirmed", **screening),
        transfer(16, 10),  # account_frozen
        c(17, "expire_authorizations", as_of="2026-01-01T00:00:00Z"),  # nothing due yet
    ]


def test_every_control_through_the_engine_and_replay_and_verify_agree(
    sandbox: Sandbox, service_env: dict[str, str]
) -> None:
    bootstrap, topics, start, url = sandbox.bootstrap, sandbox.topics, sandbox.start, sandbox.url
    run = uuid.uuid4().hex[:6]
    commands = controls_day(run)
    engine = start()
    records = [(run.encode(), json.dumps(sign(c)).encode()) for c in commands]
    publish(bootstrap, topics.commands, records)
    outcomes = wait_outcomes(bootstrap, topics.command_results, {c["command_id"] for c in commands})
    codes = {int(cid.split("-")[-1]): found[0]["code"] for cid, found in outcomes.items()}
    assert codes == {n: None for n in range(18)} | {16: "account_frozen"}, outcomes
    assert engine.stop() == 0

    env = {**os.environ, **service_env, "PAYMENTS_DATABASE_URL": url}
    for args in (["replay"], ["verify"]):
        done = subprocess.run([sys.executable, "-m", "payments.cli", *args], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
