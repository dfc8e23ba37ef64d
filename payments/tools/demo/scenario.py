"""The demo's business day, as the command envelopes a client would publish.

Every id carries the run's tag so the demo can be played again on the same store.
Amounts are cents of EUR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

DISPUTE_FEE = 1_500  # the network's fee per dispute in the café's pricing (kept if lost)


@dataclass(frozen=True)
class Step:
    envelope: dict[str, Any]
    story: str
    expect: str  # "accepted" or the rejection code we mean to show


def business_day(tag: str) -> list[Step]:
    def ident(name: str) -> str:
        return f"{name}.{tag}"

    counter = iter(range(1, 1000))

    def step(type_: str, story: str, expect: str = "accepted", **payload: Any) -> Step:
        envelope = {
            "command_id": f"demo.{tag}.{next(counter):03d}",
            "type": type_,
            "actor": "demo@payments",
            "payload": payload,
        }
        return Step(envelope, story, expect)

    bank, fees, payout = ident("card-network"), ident("fees"), ident("shop-payout")
    disputes = ident("card-disputes")
    due = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    alice, bob, carol = ident("alice"), ident("bob"), ident("carol")
    cafe, books = ident("cafe"), ident("bookshop")
    eur = {"currency": "EUR"}
    steps = [
        step(
            "open_account",
            "the card network's settlement account",
            account_id=bank,
            kind="external",
            **eur,
        ),
        step("open_account", "the platform's fee account", account_id=fees, kind="fees", **eur),
        step(
            "open_account",
            "the merchants' bank for payouts",
            account_id=payout,
            kind="external",
            **eur,
        ),
        step(
            "open_account",
            "the card network's disputes account",
            account_id=disputes,
            kind="external",
            **eur,
        ),
        *(
            step(
                "open_account",
                f"wallet of {who.split('.')[0]}",
                account_id=who,
                kind="customer",
                **eur,
            )
            for who in (alice, bob, carol)
        ),
        step("open_account", "a café", account_id=cafe, kind="merchant", **eur),
        step("open_account", "a bookshop", account_id=books, kind="merchant", **eur),
        step(
            "transfer",
            "alice tops up her wallet",
            transfer_id=ident("topup-alice"),
            from_account=bank,
            to_account=alice,
            amount=5_000,
            **eur,
        ),
        step(
            "transfer",
            "bob tops up",
            transfer_id=ident("topup-bob"),
            from_account=bank,
            to_account=bob,
            amount=3_000,
            **eur,
        ),
        step(
            "transfer",
            "carol tops up",
            transfer_id=ident("topup-carol"),
            from_account=bank,
            to_account=carol,
            amount=2_000,
            **eur,
        ),
        step(
            "authorize_payment",
            "alice's card is authorized at the café",
            payment_id=ident("coffee"),
            payer_account=alice,
            merchant_account=cafe,
            amount=500,
            **eur,
        ),
        step(
            "capture_payment",
            "the café captures the final bill",
            payment_id=ident("coffee"),
            amount=450,
        ),
        step("void_payment", "and releases the rest of the hold", payment_id=ident("coffee")),
        step(
            "authorize_payment",
            "bob buys two books",
            payment_id=ident("books"),
            payer_account=bob,
            merchant_account=books,
            amount=2_500,
            **eur,
        ),
        step("capture_payment", "the bookshop captures in full", payment_id=ident("books")),
        step(
            "refund_payment",
            "one book is returned: partial refund",
            payment_id=ident("books"),
            amount=1_200,
        ),
        step(
            "authorize_payment",
            "carol orders lunch",
            payment_id=ident("lunch"),
            payer_account=carol,
            merchant_account=cafe,
            amount=1_500,
            **eur,
        ),
        step("capture_payment", "the café captures lunch", payment_id=ident("lunch")),
        step(
            "chargeback_payment",
            "carol disputes lunch with her bank",
            payment_id=ident("lunch"),
            amount=1_500,
            reason="goods not received",
        ),
        step(
            "transfer",
            "alice pays bob back for a cinema ticket",
            transfer_id=ident("p2p"),
            from_account=alice,
            to_account=bob,
            amount=1_100,
            **eur,
        ),
        step(
            "authorize_payment",
            "carol tries to buy a bike she cannot afford",
            "insufficient_funds",
            payment_id=ident("bike"),
            payer_account=carol,
            merchant_account=books,
            amount=90_000,
            **eur,
        ),
        step(
            "capture_payment",
            "the bookshop tries to capture more than authorized",
            "amount_exceeds_authorized",
            payment_id=ident("books"),
            amount=100,
        ),
        step(
            "transfer",
            "a client sends a float amount",
            "invalid_amount",
            transfer_id=ident("float"),
            from_account=alice,
            to_account=bob,
            amount=12.5,
            **eur,
        ),
        step(
            "transfer",
            "a client sends a made-up currency",
            "invalid_currency",
            transfer_id=ident("eux"),
            from_account=alice,
            to_account=bob,
            amount=100,
            currency="EUX",
        ),
        step(
            "settle_merchant",
            "end of day: settle the café at 2.9% fees",
            batch_id=ident("cafe-day"),
            merchant_account=cafe,
            payout_account=payout,
            fees_account=fees,
            fee_bps=290,
        ),
        step(
            "settle_merchant",
            "and the bookshop",
            batch_id=ident("books-day"),
            merchant_account=books,
            payout_account=payout,
            fees_account=fees,
            fee_bps=290,
        ),
        step(
            "settle_merchant",
            "settling the café again finds nothing new",
            "nothing_to_settle",
            batch_id=ident("cafe-again"),
            merchant_account=cafe,
            payout_account=payout,
            fees_account=fees,
            fee_bps=290,
        ),
        step(
            "open_dispute",
            "next day: bob's bank disputes the books (not as described)",
            dispute_id=ident("dispute-books"),
            payment_id=ident("books"),
            amount=1_300,
            reason_code="13.3",
            network="visa",
            evidence_due_by=due,
            disputes_account=disputes,
        ),
        step(
            "open_dispute",
            "alice's bank disputes the coffee (fraud), with the network's fee",
            dispute_id=ident("dispute-coffee"),
            payment_id=ident("coffee"),
            amount=450,
            reason_code="10.4",
            network="visa",
            evidence_due_by=due,
            disputes_account=disputes,
            fee=DISPUTE_FEE,
            fees_account=fees,
        ),
        step(
            "accept_dispute",
            "the café does not contest it: lost, alice gets her 4.50 back",
            dispute_id=ident("dispute-coffee"),
        ),
        # Personal data (docs/security.md): sealed under alice's own key, then erased by
        # destroying that key; the day's verify still passes.
        step(
            "register_holder",
            "alice's personal data, stored sealed under a key of her own",
            holder_id=ident("holder-alice"),
            name="Alice Example",
            date_of_birth="1990-04-01",
            address="1 Example Street, Exampletown",
            email="alice@example.org",
        ),
        step(
            "erase_holder",
            "alice asks to be forgotten: her key is destroyed, her data reads as erased",
            holder_id=ident("holder-alice"),
            reason="the holder's request under GDPR article 17",
        ),
    ]
    # The books dispute is contested and won through the admin API by two operators
    # (payments.tools.demo.disputes).
    # A client that lost its connection sends the top-up again: same id, same body.
    top_up = next(
        s for s in steps if s.envelope["payload"].get("transfer_id") == ident("topup-alice")
    )
    steps.append(Step(top_up.envelope, "alice's top-up is re-sent (a retry)", "accepted"))
    return steps


def demo_accounts(tag: str) -> list[str]:
    names = ("alice", "bob", "carol", "cafe", "bookshop", "fees", "shop-payout", "card-network",
             "card-disputes")  # fmt: skip
    return [f"{name}.{tag}" for name in names]
