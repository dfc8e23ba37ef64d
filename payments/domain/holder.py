"""An account holder's personal data, sealed under the holder's own key; erasable.

    registered ──erase_holder──▶ erased

- `register_holder` (compliance): `holder_id` and the holder's name, date of birth,
  address and e-mail → `Holder.Registered`, which carries only `personal_data`: those
  four fields sealed under a new data key of the holder (payments.domain.personal_data),
  the key stored wrapped in `holder_keys` in the same transaction.
- `erase_holder` (compliance): `holder_id`, `reason` → `Holder.Erased` (actor and
  reason, no personal data) and the holder's key is deleted in the same transaction:
  every sealed copy then reads as erased. The ledger and the audit chain are untouched.

A known id registered again is `holder_exists` (also after erasure: the id stays
taken), an unknown one `holder_not_found`, erasing twice `holder_erased`.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate
from pydantic import ValidationError

from payments.domain.aggregates import Aggregates
from payments.domain.commands import (
    PERSONAL_RULES,
    EraseHolder,
    ParsedCommand,
    RegisterHolder,
    RegisterHolderSealed,
)
from payments.domain.errors import HolderErased, HolderExists, HolderNotFound, InvalidCommand
from payments.domain.ids import aggregate_uuid
from payments.domain.personal_data import (
    KEY_VERSION,
    PERSONAL_FIELDS,
    PersonalDataError,
    seal,
)


def holder_id_to_uuid(holder_id: str) -> UUID:
    return aggregate_uuid("holder", holder_id)


class Holder(Aggregate):
    class Registered(Aggregate.Created):
        command_id: str
        actor: str
        holder_id: str
        personal_data: str  # base64: nonce ‖ AES-256-GCM of the fields' JSON
        key_version: int

    def __init__(
        self, command_id: str, actor: str, holder_id: str, personal_data: str, key_version: int
    ) -> None:
        self.holder_id = holder_id
        self.erased = False

    class Erased(Aggregate.Event):
        command_id: str
        actor: str
        reason: str

        def apply(self, holder: Holder) -> None:
            holder.erased = True

    def erase(self, *, reason: str, command_id: str, actor: str) -> None:
        self.trigger_event(Holder.Erased, reason=reason, command_id=command_id, actor=actor)


def register_holder(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, RegisterHolder)
    _register(cmd, uow, p)


def register_holder_sealed(cmd: ParsedCommand, uow: Aggregates) -> None:
    """The same, from fields a client sealed for the engine (payments.api.holders)."""
    p = cmd.payload
    assert isinstance(p, RegisterHolderSealed)
    if uow.get(Holder, holder_id_to_uuid(p.holder_id)) is not None:
        raise HolderExists(f"holder {p.holder_id} already exists")
    where = "payload.sealed_personal_data"
    try:
        fields = uow.holder_keys().open_from_client(p.holder_id, p.sealed_personal_data)
    except PersonalDataError:
        raise InvalidCommand(f"{where}: does not open with this engine's key") from None
    try:
        opened = RegisterHolder.model_validate({**fields, "holder_id": p.holder_id})
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if field not in PERSONAL_RULES or first["type"] == "extra_forbidden":
            # No other key is named: in a sealed document even a key is the client's text.
            raise InvalidCommand(
                f"{where}: must hold exactly name, date_of_birth, address and email"
            ) from None
        raise InvalidCommand(f"{where}.{field}: {PERSONAL_RULES[field]}") from None
    _register(cmd, uow, opened)


def _register(cmd: ParsedCommand, uow: Aggregates, p: RegisterHolder) -> None:
    if uow.get(Holder, holder_id_to_uuid(p.holder_id)) is not None:
        raise HolderExists(f"holder {p.holder_id} already exists")
    keys = uow.holder_keys()
    data_key = keys.create(p.holder_id)  # the last check: HolderKeysUnavailable
    fields = {field: getattr(p, field) for field in PERSONAL_FIELDS}
    uow.add(
        Holder._create(
            Holder.Registered,
            id=holder_id_to_uuid(p.holder_id),
            command_id=cmd.command_id,
            actor=cmd.actor,
            holder_id=p.holder_id,
            personal_data=seal(data_key, p.holder_id, fields),
            key_version=KEY_VERSION,
        )
    )


def erase_holder(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, EraseHolder)
    holder = uow.get(Holder, holder_id_to_uuid(p.holder_id))
    if holder is None:
        raise HolderNotFound(f"holder {p.holder_id} does not exist")
    if holder.erased:
        raise HolderErased(f"holder {p.holder_id} is already erased")
    holder.erase(reason=p.reason, command_id=cmd.command_id, actor=cmd.actor)
    uow.holder_keys().destroy(p.holder_id)
