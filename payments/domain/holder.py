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

from payments.domain.aggregates import Aggregates
from payments.domain.commands import EraseHolder, ParsedCommand, RegisterHolder
from payments.domain.errors import HolderErased, HolderExists, HolderNotFound
from payments.domain.ids import aggregate_uuid
from payments.domain.personal_data import KEY_VERSION, PERSONAL_FIELDS, seal


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
