"""Event streams in the wire format, written by the real domain, for read-side tests.

`EventFactory` is the write side in miniature: each method sends one command through
the real `Ledger` on the in-memory store and collects what the relay would publish
(`payments.contract.wire.event_message`): the events the handlers record, in their
order, then the command's `CommandRecord.Decided` (the relay publishes it too; the
audit log chains it, the other projections ignore it). So a story's events are the
domain's own, never a hand-made copy that can drift from it. A rejected command
raises `StoryRejected`: a test's story must be one the engine accepts.

Only positions and times are renumbered, as a test needs them: positions from
`first_position` in steps of `position_step` (> 1 leaves gaps, as PostgreSQL does),
`recorded_at` from `start` plus one millisecond per event. Aggregate ids are the
domain's (`payments.domain.ids`), so two factories in one test that must not share
aggregates need distinct business ids.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from payments.contract.messages import EVENT_PAYLOADS
from payments.contract.wire import event_id, event_message
from payments.domain import ids
from payments.ledger.store import in_memory_application
from projections.events import Event, format_time
from tests.support.signing import signed_ledger

ACTOR = "ops@example"
_ID_OF = {
    "Account": ids.account_id_to_uuid,
    "Payment": ids.payment_id_to_uuid,
    "Transfer": ids.transfer_id_to_uuid,
    "SettlementBatch": ids.batch_id_to_uuid,
    "CommandRecord": ids.command_id_to_uuid,
}
_TOTALS = ("gross", "refunds", "chargebacks", "fees", "net", "item_count")


class StoryRejected(AssertionError):
    """The engine rejected a command of a test's story."""


class EventFactory:
    def __init__(
        self,
        first_position: int = 1,
        start: datetime | None = None,
        position_step: int = 1,
    ) -> None:
        self.app = in_memory_application()
        self.ledger = signed_ledger(self.app)
        self.first_position = first_position
        self.position_step = position_step
        self.start = start or datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
        self.events: list[Event] = []
        self.commands = 0
        self._stored = 0  # notification ids read from the store so far

    def aggregate_id(self, aggregate_type: str, business_id: str) -> str:
        return str(_ID_OF[aggregate_type](business_id))

    # --- commands ----------------------------------------------------------------------

    def send(self, command_type: str, **payload: Any) -> list[Event]:
        """Decide one command; returns (and keeps) the events it published."""
        self.commands += 1
        envelope = {
            "command_id": f"c-{self.commands}",
            "type": command_type,
            "actor": ACTOR,
            "payload": payload,
        }
        outcome = self.ledger.decide(envelope)
        if outcome.status != "accepted":
            raise StoryRejected(f"{command_type} {payload}: {outcome.code}: {outcome.message}")
        notifications = self.app.recorder.select_notifications(start=self._stored + 1, limit=10_000)
        self._stored += len(notifications)
        published = []
        for notification in notifications:
            published.append(self._renumbered(event_message(notification, self.app.mapper)))
            self.events.append(published[-1])
        return published

    def open_account(
        self, account_id: str, currency: str = "EUR", kind: str = "customer", overdraft: int = 0
    ) -> None:
        self.send(
            "open_account",
            account_id=account_id,
            currency=currency,
            kind=kind,
            overdraft_limit=overdraft,
        )

    def close_account(self, account_id: str) -> None:
        self.send("close_account", account_id=account_id)

    def transfer(self, transfer_id: str, source: str, target: str, amount: int) -> None:
        self.send(
            "transfer",
            transfer_id=transfer_id,
            from_account=source,
            to_account=target,
            amount=amount,
            currency=self.currency(source),
        )

    def authorize(self, payment_id: str, payer: str, merchant: str, amount: int) -> None:
        self.send(
            "authorize_payment",
            payment_id=payment_id,
            payer_account=payer,
            merchant_account=merchant,
            amount=amount,
            currency=self.currency(payer),
        )

    def capture(self, payment_id: str, amount: int | None = None) -> None:
        """Capture `amount`, or all that remains authorized."""
        extra = {} if amount is None else {"amount": amount}
        self.send("capture_payment", payment_id=payment_id, **extra)

    def void(self, payment_id: str, amount: int | None = None) -> None:
        """Void what remains; `amount` (if given) is what the test expects that to be."""
        published = self.send("void_payment", payment_id=payment_id)
        voided = _payload_of(published, "Payment.Voided")["amount"]
        if amount is not None and voided != amount:
            raise StoryRejected(f"void of {payment_id} voided {voided}, not {amount}")

    def refund(self, payment_id: str, amount: int) -> None:
        self.send("refund_payment", payment_id=payment_id, amount=amount)

    def chargeback(self, payment_id: str, amount: int, reason: str = "fraud") -> None:
        self.send("chargeback_payment", payment_id=payment_id, amount=amount, reason=reason)

    def settle(
        self, batch_id: str, merchant: str, payout: str, fees_account: str, fee_bps: int
    ) -> dict[str, int]:
        """Settle the merchant's unsettled items; returns the batch's totals."""
        published = self.send(
            "settle_merchant",
            batch_id=batch_id,
            merchant_account=merchant,
            payout_account=payout,
            fees_account=fees_account,
            fee_bps=fee_bps,
        )
        batch = _payload_of(published, "SettlementBatch.Created")
        return {name: batch[name] for name in _TOTALS}

    # --- for tests of what the domain never writes ------------------------------------

    def unknown_event(
        self, aggregate_type: str, business_id: str, name: str, **payload: Any
    ) -> Event:
        """Append an event of a type the contract does not have (a newer write side).

        The store does not know it: append it after the story's last command.
        """
        event_type = f"{aggregate_type}.{name}"
        if event_type in EVENT_PAYLOADS:
            raise ValueError(f"{event_type} is a domain event: send the command that makes it")
        aggregate_id = self.aggregate_id(aggregate_type, business_id)
        version = 1 + max(
            (e["aggregate_version"] for e in self.events if e["aggregate_id"] == aggregate_id),
            default=0,
        )
        event = self._renumbered(
            {
                "position": 0,
                "event_id": str(event_id(UUID(aggregate_id), version)),
                "event_type": event_type,
                "aggregate_type": aggregate_type,
                "aggregate_id": aggregate_id,
                "aggregate_version": version,
                "command_id": None,
                "actor": ACTOR,
                "recorded_at": None,
                "payload": payload,
            }
        )
        self.events.append(event)
        return event

    # --- helpers ----------------------------------------------------------------------

    def pay_and_capture(self) -> None:
        """A short business day in EUR: bank, shop and alice; alice funded, pays p1, captured."""
        self.send("open_account", account_id="bank", currency="EUR", kind="external")
        self.send("open_account", account_id="shop", currency="EUR", kind="merchant")
        self.send("open_account", account_id="alice", currency="EUR", kind="customer")
        self.send(
            "transfer", transfer_id="t1", from_account="bank", to_account="alice",
            amount=10_000, currency="EUR",
        )  # fmt: skip
        self.send(
            "authorize_payment", payment_id="p1", payer_account="alice",
            merchant_account="shop", amount=2_500, currency="EUR",
        )  # fmt: skip
        self.send("capture_payment", payment_id="p1")

    def currency(self, account_id: str) -> str:
        """The currency the account was opened in (as its `Account.Opened` says)."""
        opened = [
            e["payload"]["currency"]
            for e in self.events
            if e["event_type"] == "Account.Opened" and e["payload"]["account_id"] == account_id
        ]
        if not opened:
            raise StoryRejected(f"no account {account_id} was opened")
        return opened[0]

    def _renumbered(self, message: dict[str, Any]) -> Event:
        index = len(self.events)
        return {
            **message,
            "position": self.first_position + index * self.position_step,
            "recorded_at": self.start + timedelta(milliseconds=index + 1),
        }


def _payload_of(events: list[Event], event_type: str) -> dict[str, Any]:
    return next(e["payload"] for e in events if e["event_type"] == event_type)


def to_wire(event: Event) -> bytes:
    """The JSON the relay would publish for this event."""
    return json.dumps({**event, "recorded_at": format_time(event["recorded_at"])}).encode()


def from_wire(event: Event) -> Event:
    """A deep copy through the wire format (what a consumer gets)."""
    from projections.events import parse_event

    return parse_event(to_wire(event))


def url_with_search_path(database_url: str, *schemas: str) -> str:
    """The same database URL, with its sessions' search_path set to `schemas`."""
    from urllib.parse import quote

    separator = "&" if "?" in database_url else "?"
    return f"{database_url}{separator}options={quote('-csearch_path=' + ','.join(schemas))}"
