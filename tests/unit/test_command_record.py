"""CommandRecord's own `mutate` builds what the library's generic one builds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import CanInitAggregate

from payments.domain.command_record import CommandRecord
from payments.ledger.store import in_memory_application


def _state(record: CommandRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k != "_pending_events"}


def _decided(**overrides: Any) -> CommandRecord:
    fields: dict[str, Any] = {
        "command_id": "c-1",
        "actor": "alice@shop",
        "command_type": "transfer",
        "fingerprint": "ab" * 32,
        "status": "rejected",
        "code": "insufficient_funds",
        "message": "no money",
        "key_id": "k-1",
        "signature": "s" * 88,
        "issued_at": "2026-11-28T10:00:00Z",
        "signed_payload": '{"amount":1}',
        "via": "gw@bank",
    }
    return CommandRecord.decide(**{**fields, **overrides})


def test_decide_makes_the_record_and_event_that_the_library_would() -> None:
    at = datetime(2026, 11, 28, 10, 0, 1, 250000, tzinfo=UTC)
    record = _decided(decided_at=at)
    [event] = record.pending_events
    generic = CanInitAggregate.mutate(event, None)
    assert type(generic) is CommandRecord
    assert _state(record) == _state(generic)
    assert (record.id, record.version, record.decided_at) == (event.originator_id, 1, at)
    assert event.originator_topic == "payments.domain.command_record:CommandRecord"
    library = CommandRecord._create(
        CommandRecord.Decided, id=record.id, timestamp=at,
        **{k: getattr(event, k) for k in (
            "command_id", "actor", "command_type", "fingerprint", "status", "code",
            "message", "key_id", "signature", "issued_at", "signed_payload", "via",
        )},
    )  # fmt: skip
    assert library.pending_events == record.pending_events
    assert _state(library) == _state(record)


def test_a_stored_record_reads_back_the_same() -> None:
    app = in_memory_application()
    record = _decided(code=None, status="accepted", message="", via=None, issued_at=None)
    app.save(record)
    loaded = app.repository.get(record.id)
    assert _state(loaded) == _state(record)
    assert loaded.decided_at == record.decided_at
