"""Synthetic event streams in the wire format, for tests and demos of the read side.

`EventFactory` plays a well-behaved write side: it numbers positions and aggregate
versions and emits, per business action, the events the catalogue prescribes
(e.g. a capture is `Payment.Captured` + the payer's `Account.HoldCaptured` + the
merchant's `Account.Credited`). It checks no rules: feed it sensible stories.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from payments.domain.money import fee_half_up
from projections.events import Event, format_time

_KINDS = {
    "Account": "account",
    "Payment": "payment",
    "Transfer": "transfer",
    "SettlementBatch": "batch",
}
_ITEM_KINDS = ("capture", "refund", "chargeback")


class EventFactory:
    def __init__(
        self,
        namespace: str = "test",
        first_position: int = 1,
        start: datetime | None = None,
        position_step: int = 1,
    ) -> None:
        self.namespace = namespace
        self.position = first_position - position_step
        self.position_step = position_step  # > 1 leaves gaps, as PostgreSQL does
        self.clock = start or datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
        self.versions: dict[str, int] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.unsettled: dict[str, list[tuple[str, int]]] = {}  # merchant → (kind, amount)
        self.currencies: dict[str, str] = {}
        self.postings = 0
        self.events: list[Event] = []

    def aggregate_id(self, aggregate_type: str, business_id: str) -> str:
        kind = _KINDS[aggregate_type]
        return str(uuid5(NAMESPACE_URL, f"{self.namespace}:{kind}:{business_id}"))

    def emit(self, aggregate_type: str, business_id: str, name: str, **payload: Any) -> Event:
        aggregate_id = self.aggregate_id(aggregate_type, business_id)
        version = self.versions.get(aggregate_id, 0) + 1
        self.versions[aggregate_id] = version
        self.position += self.position_step
        self.clock += timedelta(milliseconds=1)
        event = {
            "position": self.position,
            "event_id": str(uuid5(uuid5(NAMESPACE_URL, aggregate_id), str(version))),
            "event_type": f"{aggregate_type}.{name}",
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "aggregate_version": version,
            "command_id": f"{self.namespace}-c{self.position}",
            "actor": "ops@example",
            "recorded_at": self.clock,
            "payload": payload,
        }
        self.events.append(event)
        return event

    def open_account(
        self, account_id: str, currency: str = "EUR", kind: str = "customer", overdraft: int = 0
    ) -> None:
        self.currencies[account_id] = currency
        self.emit(
            "Account",
            account_id,
            "Opened",
            account_id=account_id,
            currency=currency,
            kind=kind,
            overdraft_limit=overdraft,
        )

    def close_account(self, account_id: str) -> None:
        self.emit("Account", account_id, "Closed", account_id=account_id)

    def post(
        self, debit: str, credit: str, amount: int, reason: str, reference: str, forced: bool
    ) -> None:
        self.postings += 1
        posting_id = f"{self.namespace}-p{self.postings}"
        currency = self.currencies[debit]
        for account, other, name in ((debit, credit, "Debited"), (credit, debit, "Credited")):
            self.emit(
                "Account",
                account,
                name,
                account_id=account,
                posting_id=posting_id,
                amount=amount,
                currency=currency,
                counterparty=other,
                reason=reason,
                reference=reference,
                forced=forced,
            )

    def transfer(self, transfer_id: str, source: str, target: str, amount: int) -> None:
        currency = self.currencies[source]
        self.emit(
            "Transfer",
            transfer_id,
            "Recorded",
            transfer_id=transfer_id,
            from_account=source,
            to_account=target,
            amount=amount,
            currency=currency,
        )
        self.post(source, target, amount, "transfer", transfer_id, forced=False)

    def authorize(self, payment_id: str, payer: str, merchant: str, amount: int) -> None:
        currency = self.currencies[payer]
        self.payments[payment_id] = {"payer": payer, "merchant": merchant}
        self.emit(
            "Payment",
            payment_id,
            "Authorized",
            payment_id=payment_id,
            payer_account=payer,
            merchant_account=merchant,
            amount=amount,
            currency=currency,
        )
        self.emit(
            "Account", payer, "HoldPlaced", account_id=payer, payment_id=payment_id, amount=amount
        )

    def capture(self, payment_id: str, amount: int) -> None:
        payer, merchant = self._parties(payment_id)
        self.postings += 1
        posting_id = f"{self.namespace}-p{self.postings}"
        self.emit("Payment", payment_id, "Captured", payment_id=payment_id, amount=amount)
        self.emit(
            "Account",
            payer,
            "HoldCaptured",
            account_id=payer,
            payment_id=payment_id,
            amount=amount,
            posting_id=posting_id,
            counterparty=merchant,
        )
        self.emit(
            "Account",
            merchant,
            "Credited",
            account_id=merchant,
            posting_id=posting_id,
            amount=amount,
            currency=self.currencies[merchant],
            counterparty=payer,
            reason="capture",
            reference=payment_id,
            forced=False,
        )
        self.unsettled.setdefault(merchant, []).append(("capture", amount))

    def void(self, payment_id: str, amount: int) -> None:
        payer, _ = self._parties(payment_id)
        self.emit("Payment", payment_id, "Voided", payment_id=payment_id, amount=amount)
        self.emit(
            "Account", payer, "HoldReleased", account_id=payer, payment_id=payment_id, amount=amount
        )

    def refund(self, payment_id: str, amount: int) -> None:
        payer, merchant = self._parties(payment_id)
        self.emit("Payment", payment_id, "Refunded", payment_id=payment_id, amount=amount)
        self.post(merchant, payer, amount, "refund", payment_id, forced=False)
        self.unsettled.setdefault(merchant, []).append(("refund", amount))

    def chargeback(self, payment_id: str, amount: int, reason: str = "fraud") -> None:
        payer, merchant = self._parties(payment_id)
        self.emit(
            "Payment",
            payment_id,
            "ChargedBack",
            payment_id=payment_id,
            amount=amount,
            reason=reason,
        )
        self.post(merchant, payer, amount, "chargeback", payment_id, forced=True)
        self.unsettled.setdefault(merchant, []).append(("chargeback", amount))

    def settle(
        self, batch_id: str, merchant: str, payout: str, fees_account: str, fee_bps: int
    ) -> dict[str, int]:
        """Settle the merchant's unsettled items; returns the batch's totals."""
        items = self.unsettled.pop(merchant, [])
        sums = {kind: sum(a for k, a in items if k == kind) for kind in _ITEM_KINDS}
        gross = sums["capture"]
        fees = fee_half_up(gross, fee_bps)
        net = gross - sums["refund"] - sums["chargeback"] - fees
        totals = {
            "gross": gross,
            "refunds": sums["refund"],
            "chargebacks": sums["chargeback"],
            "fees": fees,
            "net": net,
            "item_count": len(items),
        }
        self.emit(
            "SettlementBatch",
            batch_id,
            "Created",
            batch_id=batch_id,
            merchant_account=merchant,
            payout_account=payout,
            fees_account=fees_account,
            currency=self.currencies[merchant],
            fee_bps=fee_bps,
            **totals,
        )
        self.emit("Account", merchant, "Settled", account_id=merchant, batch_id=batch_id, **totals)
        if fees > 0:
            self.post(merchant, fees_account, fees, "settlement_fee", batch_id, forced=True)
        if net > 0:
            self.post(merchant, payout, net, "settlement_payout", batch_id, forced=True)
        return totals

    def _parties(self, payment_id: str) -> tuple[str, str]:
        payment = self.payments[payment_id]
        return payment["payer"], payment["merchant"]


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
