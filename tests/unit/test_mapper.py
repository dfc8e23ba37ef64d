"""The ledger's mapper stores every event exactly as the library's mapper would."""

from __future__ import annotations

from eventsourcing.persistence import Mapper

from payments.domain.account import Account
from payments.ledger.mapper import LedgerMapper
from payments.ledger.store import in_memory_application
from tests.support.events import EventFactory


def test_every_event_of_a_business_day_maps_to_the_librarys_stored_event() -> None:
    story = EventFactory()
    story.send("open_account", account_id="bank", currency="EUR", kind="external")
    story.send("open_account", account_id="shop", currency="EUR", kind="merchant")
    story.send("open_account", account_id="alice", currency="EUR", kind="customer")
    story.send(
        "transfer", transfer_id="t1", from_account="bank", to_account="alice",
        amount=10_000, currency="EUR",
    )  # fmt: skip
    story.send(
        "authorize_payment", payment_id="p1", payer_account="alice",
        merchant_account="shop", amount=2_500, currency="EUR",
    )  # fmt: skip
    story.send("capture_payment", payment_id="p1")
    story.send("refund_payment", payment_id="p1", amount=100)
    app = story.app
    assert isinstance(app.mapper, LedgerMapper)
    library = Mapper(transcoder=app.mapper.transcoder)
    events = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=1000)
    ]
    assert len(events) > 15
    for event in events:
        assert app.mapper.to_stored_event(event) == library.to_stored_event(event)
        assert app.mapper.to_stored_event(event) == library.to_stored_event(event)  # cached


def test_a_snapshot_maps_to_the_librarys_stored_event() -> None:
    app = in_memory_application(snapshots=True)
    account = Account.open(
        account_id="a",
        currency="EUR",
        kind="customer",
        overdraft_limit=0,
        command_id="c",
        actor="x@y",
    )
    snapshot = Account.Snapshot.take(account)  # type: ignore[attr-defined]
    library = Mapper(transcoder=app.mapper.transcoder)
    assert app.mapper.to_stored_event(snapshot) == library.to_stored_event(snapshot)
