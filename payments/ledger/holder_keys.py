"""The holders' data keys as a batch sees them: read wrapped from `holder_keys`, made
and destroyed with the batch's one transaction.

`BatchHolderKeys` (the `HolderKeys` of payments.domain.personal_data) wraps a new key
under the KEK and remembers it; `LedgerRecorder` inserts the remembered keys and
deletes the destroyed ones in the very transaction that inserts the batch's events
(`HolderKeyChanges`), after the writer lock. So a key exists exactly when its
`Holder.Registered` was committed and its `Holder.Erased` was not: a kill -9 anywhere
leaves both or neither. Two engines racing to register one holder collide on the
event store's primary key (and on `holder_keys`' own), and the loser decides again.
A batch that is redone (a crashed command, a conflict, a split) starts a new
`BatchHolderKeys`: nothing of the failed attempt is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from payments.domain.errors import HolderKeysUnavailable
from payments.domain.personal_data import (
    new_data_key,
    open_from_client,
    unwrap_key,
    wrap_key,
)

# holder_id -> its wrapped key, or None (never made, or deleted)
WrappedKeyReader = Callable[[str], bytes | None]


@dataclass
class HolderKeyChanges:
    """What a batch does to `holder_keys`, applied in its transaction."""

    inserts: dict[str, bytes] = field(default_factory=dict)  # holder_id -> wrapped key
    deletes: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.deletes)


class BatchHolderKeys:
    def __init__(self, kek: bytes | None, read_wrapped: WrappedKeyReader) -> None:
        self._kek = kek
        self._read_wrapped = read_wrapped
        self._keys: dict[str, bytes | None] = {}  # what this batch knows or decided
        self.changes = HolderKeyChanges()

    def _require_kek(self) -> bytes:
        if self._kek is None:
            raise HolderKeysUnavailable(
                "the engine has no holder key-encryption key (PAYMENTS_HOLDER_KEY_FILE): "
                "it stores no personal data rather than store it in clear"
            )
        return self._kek

    def create(self, holder_id: str) -> bytes:
        kek = self._require_kek()
        data_key = new_data_key()
        self._keys[holder_id] = data_key
        self.changes.inserts[holder_id] = wrap_key(kek, holder_id, data_key)
        self.changes.deletes.discard(holder_id)
        return data_key

    def get(self, holder_id: str) -> bytes | None:
        if holder_id not in self._keys:
            wrapped = self._read_wrapped(holder_id)
            kek = self._kek
            self._keys[holder_id] = (
                None if wrapped is None or kek is None else unwrap_key(kek, holder_id, wrapped)
            )
        return self._keys[holder_id]

    def open_from_client(self, holder_id: str, sealed: str) -> dict[str, object]:
        return open_from_client(self._require_kek(), holder_id, sealed)

    def destroy(self, holder_id: str) -> None:
        self._keys[holder_id] = None
        if self.changes.inserts.pop(holder_id, None) is None:
            self.changes.deletes.add(holder_id)
