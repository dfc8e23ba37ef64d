"""CommandRecord: the remembered outcome of one command_id (the idempotency key).

Written for every command with a valid command_id, accepted or rejected, in the same
transaction as the command's effects. A re-sent identical envelope is answered from
it (`replayed`); a different one with the same id is an idempotency conflict.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate

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

    def __init__(
        self,
        command_id: str,
        actor: str,
        command_type: str | None,
        fingerprint: str,
        status: str,
        code: str | None,
        message: str,
    ) -> None:
        self.command_id = command_id
        self.actor = actor
        self.command_type = command_type
        self.fingerprint = fingerprint
        self.status = status
        self.code = code
        self.message = message

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
        decided_at: datetime | None = None,
    ) -> CommandRecord:
        return cls._create(
            cls.Decided,
            id=command_id_to_uuid(command_id),
            command_id=command_id,
            actor=actor,
            command_type=command_type,
            fingerprint=fingerprint,
            status=status,
            code=code,
            message=message,
            timestamp=decided_at,
        )

    @property
    def decided_at(self) -> datetime:
        return self.created_on
