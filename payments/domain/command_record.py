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
        # Absent from records stored before commands were signed.
        key_id: str | None = None
        signature: str | None = None
        issued_at: str | None = None
        signed_payload: str | None = None
        via: str | None = None  # the gateway that signed it on the actor's behalf

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
            key_id=key_id,
            signature=signature,
            issued_at=issued_at,
            signed_payload=signed_payload,
            via=via,
            timestamp=decided_at,
        )

    @property
    def decided_at(self) -> datetime:
        return self.created_on
