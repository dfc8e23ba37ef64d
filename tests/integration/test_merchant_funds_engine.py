"""Through the real engine (Kafka + PostgreSQL): the bug report's merchant case.

Capture 1000 to a merchant with overdraft limit 0; the merchant tries to transfer the
1000 to a customer (refused: the money is unsettled); settlement pays 975 out and 25
to fees, once; the merchant ends at 0.
"""

from __future__ import annotations

import uuid

import pytest

from payments.domain.account import Account
from payments.domain.ids import account_id_to_uuid
from payments.ledger.store import open_application
from payments.runtime.settings import Settings
from tests.integration.test_engine import command, stream, wait_outcomes  # noqa: F401
from tests.support.kafka import envelope_record, publish

pytestmark = pytest.mark.integration


def test_captured_money_is_paid_out_once(stream, settings: Settings) -> None:  # noqa: F811
    bootstrap, topics, start = stream
    run = uuid.uuid4().hex[:6]
    bank, alice, shop, fees, payout = (
        f"{name}-{run}" for name in ("bank", "alice", "shop", "fees", "payout")
    )
    kinds = [(bank, "external"), (alice, "customer"), (shop, "merchant"), (fees, "fees"),
             (payout, "external")]  # fmt: skip
    commands = [
        command(f"{run}-open-{n}", "open_account", account_id=a, currency="EUR", kind=k)
        for n, (a, k) in enumerate(kinds)
    ]
    commands += [
        command(f"{run}-fund", "transfer", transfer_id=f"f-{run}", from_account=bank,
                to_account=alice, amount=5_000, currency="EUR"),
        command(f"{run}-auth", "authorize_payment", payment_id=f"p-{run}", payer_account=alice,
                merchant_account=shop, amount=1_000, currency="EUR"),
        command(f"{run}-capture", "capture_payment", payment_id=f"p-{run}"),
        command(f"{run}-out", "transfer", transfer_id=f"o-{run}", from_account=shop,
                to_account=alice, amount=1_000, currency="EUR"),
        command(f"{run}-settle", "settle_merchant", batch_id=f"b-{run}", merchant_account=shop,
                payout_account=payout, fees_account=fees, fee_bps=250),
    ]  # fmt: skip
    start()
    publish(bootstrap, topics.commands, [envelope_record(c, key=run) for c in commands])
    outcomes = wait_outcomes(bootstrap, topics.command_results, {c["command_id"] for c in commands})
    codes = {cid: found[0]["code"] for cid, found in outcomes.items()}
    assert codes.pop(f"{run}-out") == "insufficient_funds"
    assert set(codes.values()) == {None}

    app = open_application(settings)
    posted = {}
    for account_id in (shop, fees, payout):
        account = app.repository.get(account_id_to_uuid(account_id))
        assert isinstance(account, Account)
        posted[account_id] = account.posted
    assert posted == {shop: 0, fees: 25, payout: 975}
