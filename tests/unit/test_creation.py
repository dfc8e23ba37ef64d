"""Transfers and payments created quickly are what the library's generic path makes."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import CanInitAggregate
from eventsourcing.utils import get_topic

from payments.domain.ids import payment_id_to_uuid, transfer_id_to_uuid
from payments.domain.payment import Payment
from payments.domain.transfer import Transfer
from payments.ledger.store import in_memory_application


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


TRANSFER = {"command_id": "c-1", "actor": "a@b", "transfer_id": "t-1", "from_account": "x",
            "to_account": "y", "amount": 5, "currency": "EUR"}  # fmt: skip
PAYMENT = {"command_id": "c-2", "actor": "a@b", "payment_id": "p-1", "payer_account": "x",
           "merchant_account": "m", "amount": 7, "currency": "EUR"}  # fmt: skip


def test_a_transfer_is_the_librarys() -> None:
    transfer = Transfer.record(**TRANSFER)
    [event] = transfer.pending_events
    assert get_topic(type(event)) == "payments.domain.transfer:Transfer.Recorded"
    assert _state(CanInitAggregate.mutate(event, None)) == _state(transfer)
    library = Transfer._create(
        Transfer.Recorded, id=transfer_id_to_uuid("t-1"), timestamp=event.timestamp, **TRANSFER
    )
    assert library.pending_events == [event]
    assert _state(library) == _state(transfer)


def test_a_payment_is_the_librarys_with_and_without_expiry() -> None:
    for expires_at in (None, "2026-12-09T00:00:00Z"):
        payment = Payment.authorize(**PAYMENT, expires_at=expires_at)
        [event] = payment.pending_events
        assert _state(CanInitAggregate.mutate(event, None)) == _state(payment)
        library = Payment._create(
            Payment.Authorized, id=payment_id_to_uuid("p-1"), timestamp=event.timestamp,
            expires_at=expires_at, **PAYMENT,
        )  # fmt: skip
        assert library.pending_events == [event]
        assert _state(library) == _state(payment)


def test_stored_ones_read_back_the_same() -> None:
    app = in_memory_application()
    transfer, payment = Transfer.record(**TRANSFER), Payment.authorize(**PAYMENT)
    app.save(transfer, payment)
    assert _state(app.repository.get(transfer.id)) == _state(transfer)
    assert _state(app.repository.get(payment.id)) == _state(payment)
