"""The ledger's mapper stores every event exactly as the library's mapper would."""

from __future__ import annotations

from eventsourcing.persistence import Mapper

from payments.domain.account import Account
from payments.ledger.mapper import LedgerMapper
from payments.ledger.store import in_memory_application
from tests.support.events import EventFactory


def test_every_event_of_a_business_day_maps_to_the_librarys_stored_event() -> None:
    story = EventFactory()
    story.pay_and_capture()
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
