"""The ledger: decides a batch of commands and saves everything in one transaction.

`decide_batch` decides the commands in order against one shared working set of
aggregates, so each outcome is what it would be if the commands were applied one by
one. Then one `app.record(...)` (an ordered `app.save`) stores, in one transaction,
every resulting event, a `CommandRecord.Decided` for every command with a valid
command_id (its outcome, accepted or rejected), the Kafka intake positions, and the
check that every aggregate only read is unchanged.

Authentication comes first (docs/security.md): the envelope's text rules and fields,
then its key (known, not revoked, its principal the envelope's `actor`) and its
Ed25519 signature over the canonical form. A command that fails there is answered
but not remembered: nobody can be held to it, and remembering it would let anyone
squat a command_id. Idempotency comes next: a known command_id of the same principal
with the same fingerprint (type and payload) is answered from its record
(`replayed`); with another fingerprint, or issued by another principal, it is an
`idempotency_conflict` (not recorded). Then the issuer's roles (`forbidden`), then
the payload and the business rules, so an invalid command re-sent identically is
replayed too.

Every failure is contained to its command. A command breaking the envelope's text
rules arrives with its rejection (from `read_command`) and is answered without being
parsed; ids of bad input are never derived; a command that crashes the deciding code
(a bug) is rejected with `internal_error` and the batch redone without it. If the
batch's one save fails because the store refused some content (PostgreSQL's
`DataError`, or a value the transcoder cannot encode), the batch is split in two and each half
decided and saved on its own (bisection: a half that saves is committed with its
own intake positions, exactly as if the poll had been smaller); a single command
that still cannot be saved is answered `invalid_command` and only its intake
position stored. If even that fails, the failure is not about content and it
propagates, like an outage. So one record can never stall a poll.

Concurrency is optimistic: on an `IntegrityError` (another engine wrote an aggregate
we used) the batch is forgotten, its aggregates evicted from the cache and the whole
batch decided again. Database outages (`OperationalError`, `InterfaceError`)
propagate.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, NamedTuple, TypeVar
from uuid import UUID

import structlog
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import DataError, IntegrityError, PersistenceError

from payments.contract import fast_json
from payments.contract.signing import (
    canonical_json,
    decode_signature,
    load_public_key,
    signed_message,
    verifies,
)
from payments.contract.wire import outcome_message
from payments.domain.account import Account
from payments.domain.command_record import CommandRecord
from payments.domain.commands import (
    COMMAND_ID_RULE,
    COMMAND_TYPES,
    IDENTIFIER_RULE,
    SignedFields,
    check_envelope,
    is_valid_command_id,
    is_valid_identifier,
    parse_payload,
)
from payments.domain.errors import (
    Forbidden,
    IdempotencyConflict,
    InternalError,
    InvalidCommand,
    Rejection,
    Unauthenticated,
)
from payments.domain.expiry import ExpiryBook
from payments.domain.handlers import HANDLERS
from payments.domain.identity import Principal, SigningKey
from payments.domain.ids import (
    account_id_to_uuid,
    batch_id_to_uuid,
    command_id_to_uuid,
    key_id_to_uuid,
    payment_id_to_uuid,
    principal_to_uuid,
    transfer_id_to_uuid,
)
from payments.domain.payment import Payment
from payments.domain.personal_data import (
    PERSONAL_DATA_COMMANDS,
    PERSONAL_FIELDS,
    keyed_fingerprint,
    seal,
)
from payments.domain.risk import RiskPolicy
from payments.domain.roles import GATEWAY_ROLE, may_issue
from payments.domain.text_rules import is_clean_text
from payments.ledger import signature_pool
from payments.ledger.holder_keys import BatchHolderKeys
from payments.ledger.signature_pool import PendingCheck
from payments.ledger.store import AggregateCache, IntakePosition, PaymentsApplication

log = structlog.get_logger(__name__)

A = TypeVar("A", bound=Aggregate)

MAX_CONFLICT_ATTEMPTS = 10
SEALED_PREFIX = "sealed:"  # a signed payload sealed under a holder's key
# Re-read often; records, transfers and batches are not. A cached key or principal is
# re-checked at save like every aggregate read, so a revocation is never missed.
_SIGNATURE_FIELDS = ("key_id", "signature")
MAX_SIGNED_BYTES = 64 * 1024  # what a command record keeps of what was signed
# The risk rules and the expiry books (issue 18) are read by many batches, like accounts.
CACHED_TYPES = (Account, Payment, SigningKey, Principal, RiskPolicy, ExpiryBook)
SNAPSHOT_TYPES = (Account, ExpiryBook)  # the aggregates whose histories grow long


@cache
def _is_cached_type(kind: type) -> bool:
    # Per class, once: isinstance on the aggregates' ABC metaclass runs Python code
    # for every class of the tuple, for every aggregate of every batch.
    return issubclass(kind, CACHED_TYPES)


@cache
def _is_snapshot_type(kind: type) -> bool:
    return issubclass(kind, SNAPSHOT_TYPES)


@cache
def _is_payment_type(kind: type) -> bool:
    return issubclass(kind, Payment)


ACCOUNT_FIELDS = (
    "account_id",
    "from_account",
    "to_account",
    "payer_account",
    "merchant_account",
    "payout_account",
    "fees_account",
)


@dataclass(frozen=True)
class IncomingCommand:
    raw: dict[str, Any]
    source: tuple[str, int, int] | None = None  # (topic, partition, offset)
    rejection: Rejection | None = None  # broke the text rules: answered, never parsed


@dataclass(frozen=True)
class Outcome:
    command_id: str
    type: str | None
    status: Literal["accepted", "rejected"]
    code: str | None
    message: str
    replayed: bool
    processed_at: datetime  # UTC; for a replay, the time of the original decision

    def to_json(self) -> dict[str, Any]:
        return outcome_message(
            self.command_id,
            self.type,
            self.status,
            self.code,
            self.message,
            self.replayed,
            self.processed_at,
        )


def fingerprint(raw: dict[str, Any], holder_kek: bytes | None = None) -> str:
    """sha256 of the canonical JSON of the command's type and payload.

    The same bytes as ever (stored fingerprints decide replays): orjson where it spells
    them identically (`fast_json.canonical`), else the stdlib. Total: `surrogatepass`
    encodes a lone surrogate instead of raising (such a command is rejected, but still
    answered idempotently); for clean text it is plain UTF-8.

    A command carrying personal data (`PERSONAL_DATA_COMMANDS`) gets no plain hash of
    it, which anyone could test guesses against: an HMAC under the holder KEK, or
    without a KEK (such a command is rejected) a hash of the payload without its
    personal fields.
    """
    payload = raw.get("payload")
    personal = raw.get("type") in PERSONAL_DATA_COMMANDS
    if personal and holder_kek is None and isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if k not in PERSONAL_FIELDS}
    document = {"type": raw.get("type"), "payload": payload}
    try:
        data = fast_json.canonical(document)
    except (TypeError, ValueError, UnicodeEncodeError):
        text = json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
        )
        data = text.encode("utf-8", "surrogatepass")
    if personal and holder_kek is not None:
        return keyed_fingerprint(holder_kek, data)
    return hashlib.sha256(data).hexdigest()


class Issuer(NamedTuple):
    """Who signed a command, once the signature verified (a tuple: one per command,
    several times quicker to make than a frozen dataclass)."""

    envelope: SignedFields
    key_id: str
    signature: str
    principal: str  # whom the command is for: its actor, held to its roles
    roles: frozenset[str]
    via: str | None = None  # the gateway that signed for the principal


class LedgerConflictError(RuntimeError):
    """The batch kept conflicting with other writers; the caller may retry later."""


class _CommandCrashed(Exception):  # a control-flow signal within decide_batch
    def __init__(self, index: int) -> None:
        self.index = index


class _Unsavable(Exception):  # the store refused the batch, not for an outage
    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


# What a value can make the store refuse: PostgreSQL's DataError, or the transcoder
# failing to encode it. Anything else (a RuntimeError, a ProgrammingError) would fail
# every command alike: it propagates rather than be blamed on one.
CONTENT_REFUSALS = (DataError, UnicodeError, TypeError, ValueError)


_ABSENT: Any = object()  # not in the working set yet (None: known not to exist)


class WorkingSet:
    """The aggregates of one batch attempt: loaded once, decided on, saved together.

    Remembers the version of every aggregate it read (None when absent), which the
    recorder re-checks under its lock for those the batch did not write.
    """

    def __init__(
        self, app: PaymentsApplication, cache: AggregateCache, holder_kek: bytes | None = None
    ) -> None:
        self._app = app
        self._cache = cache
        self.keys = BatchHolderKeys(holder_kek, app.wrapped_holder_key)
        self.aggregates: dict[UUID, Aggregate | None] = {}
        self.read_versions: dict[UUID, int | None] = {}
        # Per aggregate the command used: it, and its pending events when first used.
        self._pending_at_start: dict[UUID, tuple[Aggregate | None, int]] = {}
        # Every new event in decision order, so the notification log tells the story
        # in the order it happened (Application.save would group them by aggregate).
        self.new_events: list[Any] = []

    # --- the Aggregates protocol of the handlers ------------------------------------

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        # Each dict operation hashes the UUID in Python code: as few as it takes.
        aggregate = self.aggregates.get(aggregate_id, _ABSENT)
        if aggregate is _ABSENT:
            self.load([aggregate_id])
            aggregate = self.aggregates[aggregate_id]
        pending = self._pending_at_start
        if aggregate_id not in pending:
            pending[aggregate_id] = (
                aggregate,
                0 if aggregate is None else len(aggregate.pending_events),
            )
        if aggregate is not None and type(aggregate) is not cls and not isinstance(aggregate, cls):
            raise TypeError(f"{aggregate_id} is a {type(aggregate).__name__}, not {cls.__name__}")
        return aggregate

    def holder_keys(self) -> BatchHolderKeys:
        return self.keys

    def add(self, aggregate: Aggregate) -> None:
        if self.aggregates.get(aggregate.id) is not None:
            raise RuntimeError(f"aggregate {aggregate.id} already exists in this batch")
        # Absent until now (or unknown): all its events are this command's.
        self._pending_at_start[aggregate.id] = (aggregate, 0)
        self.aggregates[aggregate.id] = aggregate

    # --- loading --------------------------------------------------------------------

    def load(self, aggregate_ids: Iterable[UUID]) -> None:
        missing = [i for i in dict.fromkeys(aggregate_ids) if i not in self.aggregates]
        from_store = []
        for aggregate_id in missing:
            cached = self._cache.get(aggregate_id)
            if cached is None:
                from_store.append(aggregate_id)
            else:
                self._remember(aggregate_id, cached)
        if from_store:
            loaded = self._app.load_many(from_store)
            for aggregate_id in from_store:
                aggregate = loaded.get(aggregate_id)
                self._remember(aggregate_id, aggregate)
                if _is_cached_type(type(aggregate)):
                    self._cache.put(aggregate)

    def _remember(self, aggregate_id: UUID, aggregate: Aggregate | None) -> None:
        self.aggregates[aggregate_id] = aggregate
        self.read_versions[aggregate_id] = None if aggregate is None else aggregate.version

    # --- per command ----------------------------------------------------------------

    def begin_command(self) -> None:
        self._pending_at_start = {}

    def end_command(self) -> None:
        per_aggregate = []
        singles: list[Any] | None = []  # while every aggregate has one new event
        for aggregate, start in self._pending_at_start.values():
            if aggregate is None:
                continue
            events = aggregate.pending_events
            count = len(events) - start
            if count > 0:
                per_aggregate.append(events[start:])
                if count == 1 and singles is not None:
                    singles.append(events[start])
                else:
                    singles = None
        # By time across aggregates; heapq.merge keeps each aggregate's own version
        # order even if the wall clock stepped back in between. The usual command
        # adds one event to each aggregate it touches: then a stable sort is the same
        # order (ties in the order of the lists, as heapq.merge breaks them), quicker.
        if singles is not None:
            singles.sort(key=_timestamp)
            self.new_events.extend(singles)
        else:
            self.new_events.extend(heapq.merge(*per_aggregate, key=_timestamp))
        self._pending_at_start = {}

    def changed_since_begin(self) -> bool:
        return any(
            aggregate is not None and len(aggregate.pending_events) != start
            for aggregate, start in self._pending_at_start.values()
        )

    # --- saving ---------------------------------------------------------------------

    def written(self) -> list[Aggregate]:
        return [a for a in self.aggregates.values() if a is not None and a.pending_events]

    def expected_versions(self) -> dict[UUID, int | None]:
        written = {a.id for a in self.written()}
        return {i: v for i, v in self.read_versions.items() if i not in written}


def _timestamp(event: Any) -> datetime:
    timestamp: datetime = event.timestamp
    return timestamp


class Ledger:
    def __init__(
        self,
        app: PaymentsApplication,
        *,
        cache_size: int = 100_000,
        holder_kek: bytes | None = None,
    ) -> None:
        self.app = app
        # Seals holders' data keys (payments.domain.personal_data); None: register_holder
        # is rejected `holder_keys_unavailable`.
        self.holder_kek = holder_kek
        self.cache = AggregateCache(cache_size)
        self._public_keys: dict[str, Any] = {}  # public key text -> loaded key
        self._raw_public_keys: dict[str, bytes] = {}  # public key text -> its 32 bytes

    def decide(self, raw: dict[str, Any]) -> Outcome:
        return self.decide_batch([IncomingCommand(raw)])[0]

    def decide_batch(
        self,
        commands: Sequence[IncomingCommand],
        *,
        consumer_group: str | None = None,
        consumed: Sequence[tuple[str, int, int]] = (),
    ) -> list[Outcome]:
        """Decide `commands` in order and store everything in one transaction.

        `consumed` names further (topic, partition, offset) records of this poll that
        are not commands (e.g. dead letters), so the stored intake positions pass them.
        """
        try:
            return self._decide_and_save(commands, consumer_group, consumed)
        except _Unsavable as refused:
            if not commands:
                raise refused.cause from None  # nothing but positions: not about content
            if len(commands) == 1:
                return [self._answer_unsavable(commands[0], refused, consumer_group, consumed)]
            log.warning("ledger.batch_unsavable", commands=len(commands), error=str(refused)[:200])
            half = len(commands) // 2
            # In order: the first half's positions stop before the second half's records.
            first = self.decide_batch(commands[:half], consumer_group=consumer_group)
            rest = self.decide_batch(
                commands[half:], consumer_group=consumer_group, consumed=consumed
            )
            return first + rest

    def _answer_unsavable(
        self,
        command: IncomingCommand,
        refused: _Unsavable,
        consumer_group: str | None,
        consumed: Sequence[tuple[str, int, int]],
    ) -> Outcome:
        """The one command the store refused: answered, only its position stored."""
        sources = ([command.source] if command.source else []) + list(consumed)
        if not sources:
            raise refused.cause from None  # nothing else to store: content or store, unknown
        try:
            self._decide_and_save([], consumer_group, sources)
        except _Unsavable:
            raise refused.cause from None  # positions alone fail too: not this command
        raw = command.raw if isinstance(command.raw, dict) else {}
        command_id, command_type = raw.get("command_id"), raw.get("type")
        log.error("ledger.command_unsavable", command_id=command_id, error=str(refused)[:200])
        rejection = InvalidCommand(
            f"command: the store refused its content ({type(refused.cause).__name__}); "
            "nothing applied"
        )
        return _rejected(
            command_id if isinstance(command_id, str) else "",
            command_type if is_clean_text(command_type) else None,
            rejection,
            datetime.now(UTC),
        )

    def _decide_and_save(
        self,
        commands: Sequence[IncomingCommand],
        consumer_group: str | None,
        consumed: Sequence[tuple[str, int, int]],
    ) -> list[Outcome]:
        sources = [c.source for c in commands if c.source is not None] + list(consumed)
        positions = _intake_positions(sources, consumer_group)
        crashed: set[int] = set()
        conflicts = 0
        while True:
            working = WorkingSet(self.app, self.cache, self.holder_kek)
            try:
                outcomes = self._decide_all(working, commands, crashed)
                self._save(working, positions)
            except _CommandCrashed as crash:
                self.cache.evict(working.aggregates)
                crashed.add(crash.index)
                continue
            except IntegrityError as conflict:
                self.cache.evict(working.aggregates)
                conflicts += 1
                if conflicts >= MAX_CONFLICT_ATTEMPTS:
                    raise LedgerConflictError(
                        f"batch of {len(commands)} still conflicting after {conflicts} attempts"
                    ) from conflict
                log.info("ledger.conflict", attempt=conflicts, error=str(conflict)[:200])
                time.sleep(random.uniform(0, min(0.5, 0.005 * 2**conflicts)))
                continue
            except BaseException:  # outages, and _Unsavable for decide_batch to split
                self.cache.evict(working.aggregates)
                raise
            self._snapshot(working)
            for aggregate in working.aggregates.values():
                if _is_cached_type(type(aggregate)):
                    self.cache.put(aggregate)
            return outcomes

    def _snapshot(self, working: WorkingSet) -> None:
        due = [
            aggregate
            for aggregate_id, aggregate in working.aggregates.items()
            if _is_snapshot_type(type(aggregate))
            and self.app.snapshot_due(aggregate, working.read_versions.get(aggregate_id))
        ]
        if not due:
            return
        try:
            self.app.take_snapshots(due)
        except Exception as error:  # derived data: the batch itself is safely stored
            log.warning("ledger.snapshot_failed", error=str(error)[:200], count=len(due))

    def _save(self, working: WorkingSet, positions: list[IntakePosition]) -> None:
        written = working.written()
        if sum(len(a.pending_events) for a in written) != len(working.new_events):
            raise RuntimeError("events were triggered outside of a command")  # a bug
        if written or positions:
            try:
                self.app.record(
                    working.new_events,
                    expected_versions=working.expected_versions(),
                    intake_positions=positions,
                    holder_keys=working.keys.changes,
                )
            except CONTENT_REFUSALS as refused:  # the store or its encoder refused a value
                raise _Unsavable(refused) from refused
        for aggregate in written:
            # Saved: no longer pending. What collect_events() does, without its
            # pop(0) per event (quadratic for a hot account's hundreds in a batch).
            del aggregate.pending_events[:]

    def _decide_all(
        self, working: WorkingSet, commands: Sequence[IncomingCommand], crashed: set[int]
    ) -> list[Outcome]:
        working.load(_first_ids(commands))
        working.load(_payment_account_ids(working))
        checks = self._start_signature_checks(working, commands)
        return [
            self._decide_one(working, index, command, index in crashed, checks.get(index))
            for index, command in enumerate(commands)
        ]

    def _start_signature_checks(
        self, working: WorkingSet, commands: Sequence[IncomingCommand]
    ) -> dict[int, PendingCheck]:
        """The batch's signatures, sent to worker processes (`signature_pool`) while
        this thread decides the commands in order; each decision waits for its own."""
        items: dict[int, tuple[bytes, bytes, bytes]] = {}
        for index, command in enumerate(commands):
            raw = command.raw
            if command.rejection is not None or not isinstance(raw, dict):
                continue
            key_id, text = raw.get("key_id"), raw.get("signature")
            if not isinstance(key_id, str) or not is_clean_text(key_id):
                continue
            key = working.aggregates.get(key_id_to_uuid(key_id))
            signature = decode_signature(text)
            if not isinstance(key, SigningKey) or key.revoked or signature is None:
                continue  # _authenticate answers these without any crypto
            try:
                message = signed_message(raw)
            except Exception:  # unsignable, or hostile: _authenticate answers it
                continue
            if len(message) <= MAX_SIGNED_BYTES:
                items[index] = (self._public_bytes(key.public_key), signature, message)
        return signature_pool.start(items)

    def _decide_one(
        self,
        working: WorkingSet,
        index: int,
        command: IncomingCommand,
        crashed: bool,
        check: PendingCheck | None = None,
    ) -> Outcome:
        now = datetime.now(UTC)
        raw_dict = command.raw if isinstance(command.raw, dict) else {}
        # Unclean text is never stored nor echoed: the type is answered as null.
        command_type = raw_dict.get("type") if is_clean_text(raw_dict.get("type")) else None
        command_id = raw_dict.get("command_id")
        if not is_valid_command_id(command_id):
            shown = command_id if isinstance(command_id, str) else ""
            return _rejected(
                shown, command_type, InvalidCommand(f"command_id: {COMMAND_ID_RULE}"), now
            )
        assert isinstance(command_id, str)

        working.begin_command()
        try:
            issuer = self._authenticate(working, command, check)
            print_ = fingerprint(raw_dict, self.holder_kek)
            record_id = command_id_to_uuid(command_id)
        except Rejection as refused:  # not remembered: nobody can be held to it
            return _rejected(command_id, command_type, refused, now)
        except PersistenceError:
            raise
        except Exception as bug:  # the checks are total; contained all the same
            if crashed:
                failure = InternalError("the engine failed to decide this command; nothing applied")
                return _rejected(command_id, command_type, failure, now)
            log.exception("ledger.command_crashed", command_id=command_id, index=index)
            raise _CommandCrashed(index) from bug
        record = working.get(CommandRecord, record_id)
        if record is not None:
            if record.fingerprint == print_ and record.actor == issuer.principal:
                return Outcome(
                    command_id=command_id,
                    type=record.command_type,
                    status="accepted" if record.status == "accepted" else "rejected",
                    code=record.code,
                    message=record.message,
                    replayed=True,
                    processed_at=record.decided_at,
                )
            whose = "a different command" if record.actor == issuer.principal else "another issuer"
            conflict = IdempotencyConflict(f"command_id {command_id} was already used by {whose}")
            return _rejected(command_id, command_type, conflict, now)
        if crashed:
            failure = InternalError("the engine failed to decide this command; nothing applied")
            return _rejected(command_id, command_type, failure, now)

        rejection: Rejection | None = None
        try:
            envelope = issuer.envelope
            if envelope.type in COMMAND_TYPES and not may_issue(issuer.roles, envelope.type):
                raise Forbidden(
                    f"type: {issuer.principal} may not issue {envelope.type} "
                    f"(roles: {', '.join(sorted(issuer.roles)) or 'none'})"
                )
            parsed = parse_payload(envelope)
            HANDLERS[parsed.type](parsed, working)
        except Rejection as broken_rule:
            if working.changed_since_begin():  # a guard ran after an event: a bug
                log.error("ledger.rejected_after_mutation", command_id=command_id, index=index)
                raise _CommandCrashed(index) from broken_rule
            rejection = broken_rule
        except PersistenceError:
            raise
        except Exception as bug:
            log.exception("ledger.command_crashed", command_id=command_id, index=index)
            raise _CommandCrashed(index) from bug

        decided = CommandRecord.decide(
            command_id=command_id,
            actor=issuer.principal,
            command_type=issuer.envelope.type,
            fingerprint=print_,
            status="rejected" if rejection else "accepted",
            code=rejection.code if rejection else None,
            message=rejection.message if rejection else "",
            # What was signed, as it was signed: checkable offline with the public key.
            key_id=issuer.key_id,
            signature=issuer.signature,
            issued_at=raw_dict.get("issued_at"),
            signed_payload=self._signed_payload(working, issuer, raw_dict, rejection),
            via=issuer.via,
        )
        working.add(decided)
        working.end_command()
        return Outcome(
            command_id=command_id,
            type=command_type,
            status="rejected" if rejection else "accepted",
            code=decided.code,
            message=decided.message,
            replayed=False,
            processed_at=decided.decided_at,
        )

    def _signed_payload(
        self,
        working: WorkingSet,
        issuer: Issuer,
        raw: dict[str, Any],
        rejection: Rejection | None,
    ) -> str | None:
        """The payload as signed, for the offline check; never personal data in clear.

        A personal-data command keeps it sealed under its holder's key (`sealed:`…),
        so it is shredded with the holder; rejected, it keeps nothing (its fingerprint
        still answers a re-send). Both are counted apart by `verify --signatures`.
        """
        text = canonical_json(raw["payload"]).decode("utf-8")
        if issuer.envelope.type not in PERSONAL_DATA_COMMANDS:
            return text
        holder_id = raw["payload"].get("holder_id")
        data_key = working.keys.get(holder_id) if rejection is None else None
        if data_key is None or not isinstance(holder_id, str):
            return None
        return SEALED_PREFIX + seal(data_key, holder_id, {"signed_payload": text})

    def _authenticate(
        self, working: WorkingSet, command: IncomingCommand, check: PendingCheck | None = None
    ) -> Issuer:
        """The signed issuer of a well-formed envelope, or the Rejection saying why not."""
        if command.rejection is not None:
            raise command.rejection  # its text broke the rules: never parsed
        raw = command.raw
        if not isinstance(raw, dict):
            raise InvalidCommand("command: must be a JSON object")
        envelope = check_envelope({k: v for k, v in raw.items() if k not in _SIGNATURE_FIELDS})
        if _has_huge_amount(raw["payload"]):
            # A number rule of the envelope: read as a stand-in (text_rules) that no
            # client could have signed. The payload's own rule names the field.
            parse_payload(envelope)
            raise InvalidCommand("payload: holds an integer beyond ±(2^63-1)")
        key_id = raw.get("key_id")
        if key_id is None or "signature" not in raw:
            raise Unauthenticated(
                "command: not signed; key_id and signature are required (docs/security.md)"
            )
        if not isinstance(key_id, str) or not is_valid_identifier(key_id):
            raise Unauthenticated(f"key_id: {IDENTIFIER_RULE}")
        # A started check decoded this very dict's signature already.
        signature = check.signature if check is not None else decode_signature(raw["signature"])
        if signature is None:
            raise Unauthenticated("signature: must be the standard base64 of 64 bytes")
        key = working.get(SigningKey, key_id_to_uuid(key_id))
        if key is None:
            raise Unauthenticated(f"key_id: {key_id} is not a registered key")
        if key.revoked:
            raise Unauthenticated(f"key_id: {key_id} is revoked")
        # The actor is whom the command is for: the key's principal, or the principal a
        # gateway signs for (checked below, once the signature holds).
        for_whom = envelope.on_behalf_of or key.principal
        if envelope.actor != for_whom:
            which = "on_behalf_of" if envelope.on_behalf_of else f"the principal of key {key_id}"
            raise Unauthenticated(f"actor: must be {for_whom}, {which}")
        # Spelt once per command: the check started ahead spelt it from this very dict.
        message = check.message if check is not None else signed_message(raw)
        if len(message) > MAX_SIGNED_BYTES:  # it would be stored whole: never valid
            parse_payload(envelope)  # a broken field is named first
            raise InvalidCommand(f"command: its signed form exceeds {MAX_SIGNED_BYTES} bytes")
        valid = None
        if check is not None and check.covers(
            self._public_bytes(key.public_key), signature, message
        ):
            valid = check.valid()  # None when the worker could not answer
        if valid is None:
            valid = verifies(self._public_key(key.public_key), signature, message)
        if not valid:
            raise Unauthenticated(
                f"signature: does not verify with key {key_id} (tampered, or signed over "
                "other bytes than the canonical form)"
            )
        signer = working.get(Principal, principal_to_uuid(key.principal))
        signer_roles = signer.roles if signer is not None else frozenset()
        if envelope.on_behalf_of is None:
            return Issuer(envelope, key_id, raw["signature"], key.principal, signer_roles)
        if GATEWAY_ROLE not in signer_roles:
            raise Unauthenticated(
                f"on_behalf_of: {key.principal} may not sign for others (no {GATEWAY_ROLE} role)"
            )
        issuer = working.get(Principal, principal_to_uuid(envelope.on_behalf_of))
        if issuer is None:
            raise Unauthenticated(f"on_behalf_of: {envelope.on_behalf_of} is not a principal")
        return Issuer(
            envelope, key_id, raw["signature"], envelope.on_behalf_of, issuer.roles, key.principal
        )

    def _public_bytes(self, text: str) -> bytes:
        raw = self._raw_public_keys.get(text)
        if raw is None:  # twice per command otherwise, for the same few keys
            raw = base64.b64decode(text)
            if len(self._raw_public_keys) > 10_000:
                self._raw_public_keys.clear()
            self._raw_public_keys[text] = raw
        return raw

    def _public_key(self, text: str) -> Any:
        loaded = self._public_keys.get(text)
        if loaded is None:
            loaded = load_public_key(base64.b64decode(text))
            if len(self._public_keys) > 10_000:
                self._public_keys.clear()
            self._public_keys[text] = loaded
        return loaded


def internal_error_outcome(command: IncomingCommand) -> Outcome:
    """The answer for a command the engine failed to decide at all; nothing applied."""
    raw = command.raw if isinstance(command.raw, dict) else {}
    command_id, command_type = raw.get("command_id"), raw.get("type")
    return _rejected(
        command_id if isinstance(command_id, str) else "",
        command_type if is_clean_text(command_type) else None,
        InternalError("the engine failed to decide this command; nothing applied"),
        datetime.now(UTC),
    )


def _rejected(
    command_id: str, command_type: str | None, rejection: Rejection, now: datetime
) -> Outcome:
    return Outcome(
        command_id=command_id,
        type=command_type,
        status="rejected",
        code=rejection.code,
        message=rejection.message,
        replayed=False,
        processed_at=now,
    )


_INT64 = 2**63 - 1


def _has_huge_amount(payload: Any) -> bool:
    """`_has_huge_integer(payload)` for a payload that passed `check_envelope`: its text
    rules let no integer beyond ±(2^63−1) through but `payload.amount`
    (text_rules._check_integer), so only that one is looked at."""
    if type(payload) is not dict:
        return _has_huge_integer(payload)
    return _has_huge_integer(payload.get("amount"))


def _has_huge_integer(value: Any) -> bool:
    if type(value) is int:
        return not -_INT64 <= value <= _INT64
    if isinstance(value, dict):
        return any(_has_huge_integer(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_huge_integer(v) for v in value)
    return False


def _intake_positions(
    sources: Sequence[tuple[str, int, int]], consumer_group: str | None
) -> list[IntakePosition]:
    next_offsets: dict[tuple[str, int], int] = {}
    for topic, partition, offset in sources:
        key = (topic, partition)
        next_offsets[key] = max(next_offsets.get(key, 0), offset + 1)
    if not next_offsets:
        return []
    group = consumer_group or "default"
    return [IntakePosition(group, t, p, o) for (t, p), o in sorted(next_offsets.items())]


# The payload fields that name an aggregate, and how.
_ID_FIELDS: dict[str, Callable[[str], UUID]] = {
    **dict.fromkeys(ACCOUNT_FIELDS, account_id_to_uuid),
    "payment_id": payment_id_to_uuid,
    "transfer_id": transfer_id_to_uuid,
    "batch_id": batch_id_to_uuid,
}


def _first_ids(commands: Sequence[IncomingCommand]) -> list[UUID]:
    """Every aggregate the batch names directly, to load them in one query."""
    ids: list[UUID] = []
    for command in commands:
        if command.rejection is not None:
            continue  # its text broke the rules: derive nothing from it
        raw = command.raw if isinstance(command.raw, dict) else {}
        command_id = raw.get("command_id")
        if is_valid_command_id(command_id):
            ids.append(command_id_to_uuid(command_id))
        for field, to_uuid in (
            ("key_id", key_id_to_uuid),
            ("actor", principal_to_uuid),
            ("on_behalf_of", principal_to_uuid),
        ):
            if is_clean_text(raw.get(field)):
                ids.append(to_uuid(raw[field]))
        payload = raw.get("payload")
        if not isinstance(payload, dict):
            continue
        for field, value in payload.items():
            to_uuid = _ID_FIELDS.get(field)
            if to_uuid is None or not is_clean_text(value):
                continue  # unclean: its command is rejected; uuid5 could not even encode it
            ids.append(to_uuid(value))
    return ids


def _payment_account_ids(working: WorkingSet) -> list[UUID]:
    ids = []
    for aggregate in working.aggregates.values():
        if _is_payment_type(type(aggregate)):
            ids.append(account_id_to_uuid(aggregate.payer_account))
            ids.append(account_id_to_uuid(aggregate.merchant_account))
    return ids
