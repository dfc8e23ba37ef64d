"""CommandRecord: the remembered outcome of one command_id (the idempotency key).

Written for every authenticated command, accepted or rejected, in the same
transaction as the command's effects. It keeps what was signed (key id, signature,
`issued_at` as sent and the payload's canonical JSON), so an auditor can check any
stored command offline with the public keys alone (`payments.contract.signing`). A
re-sent identical envelope of the same principal is answered from it (`replayed`);
a different one with the same id is an idempotency conflict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from payments.domain.ids import command_id_to_uuid


class CommandRecord(Aggregate):
    class Decided(Aggregate.Created):
        command_id: str
        actor: str
        command_type: str | None
        fingerprint: str
        status: str
        code: str | None
        message: str
        # Absent from records stored before commands were signed.
        key_id: str | None = None
        signature: str | None = None
        issued_at: str | None = None
        signed_payload: str | None = None
        via: str | None = None  # the gateway that signed it on the actor's behalf

        def mutate(self, aggregate: Any) -> Any:
            """What `CanInitAggregate.mutate` makes of this event, spelt out.

            The library's generic version resolves the topic and filters the event's
            fields against two signatures for every record; one is written per
            command. The record is the same (tests/unit/test_command_record.py).
            """
            assert aggregate is None
            record = CommandRecord.__new__(CommandRecord)
            record.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            record.__init__(  # type: ignore[misc]
                self.command_id,
                self.actor,
                self.command_type,
                self.fingerprint,
                self.status,
                self.code,
                self.message,
                self.key_id,
                self.signature,
                self.issued_at,
                self.signed_payload,
                self.via,
            )
            return record

    def __init__(
        self,
        command_id: str,
        actor: str,
        command_type: str | None,
        fingerprint: str,
        status: str,
        code: str | None,
        message: str,
        key_id: str | None = None,
        signature: str | None = None,
        issued_at: str | None = None,
        signed_payload: str | None = None,
        via: str | None = None,
    ) -> None:
        self.command_id = command_id
        self.actor = actor
        self.command_type = command_type
        self.fingerprint = fingerprint
        self.status = status
        self.code = code
        self.message = message
        self.key_id = key_id
        self.signature = signature
        self.via = via

    @classmethod
    def decide(
        cls,
        *,
        command_id: str,
        actor: str,
        command_type: str | None,
        fingerprint: str,
        status: str,
        code: str | None,
        message: str,
        key_id: str | None = None,
        signature: str | None = None,
        issued_at: str | None = None,
        signed_payload: str | None = None,
        via: str | None = None,
        decided_at: datetime | None = None,
    ) -> CommandRecord:
        # `_create` without its generic steps (no create_id, no explicit TOPIC here):
        # the same event, and the aggregate from its `mutate`.
        event = cls.Decided(
            originator_topic=_TOPIC,
            originator_id=command_id_to_uuid(command_id),
            originator_version=cls.INITIAL_VERSION,
            timestamp=cls.Decided.create_timestamp() if decided_at is None else decided_at,
            command_id=command_id,
            actor=actor,
            command_type=command_type,
            fingerprint=fingerprint,
            status=status,
            code=code,
            message=message,
            key_id=key_id,
            signature=signature,
            issued_at=issued_at,
            signed_payload=signed_payload,
            via=via,
        )
        record: CommandRecord = event.mutate(None)
        record.pending_events.append(event)
        return record

    @property
    def decided_at(self) -> datetime:
        return self.created_on


_TOPIC = get_topic(CommandRecord)
