"""The events topic's record headers, as the read side uses them.

The relay puts an event's `aggregate_type` and `position` in headers
(`payments.contract.wire.event_headers`), so a projection can pass over a record of
an aggregate it does not follow without decoding its JSON: of the four events a
transfer makes, the principals projection follows none and balances two. A record
without the header (an older relay, a hand-made record) is decoded as before, so
nothing depends on the headers being there; the value stays the truth.

Only the engine's principal may write to the events topic (docs/security.md), so a
header that lies about its value is not a client's doing; the audit projection
decodes every record whatever its headers say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from payments.contract.wire import AGGREGATE_TYPE_HEADER, POSITION_HEADER

Headers = Sequence[tuple[str, bytes | None]] | None


def followed(event_types: Iterable[str]) -> frozenset[bytes]:
    """Aggregate types, as header bytes, of these event types ("Account.Opened": b"Account")."""
    return frozenset(t.split(".", 1)[0].encode() for t in event_types)


def passed_over(headers: Headers, follows: frozenset[bytes]) -> bool:
    """Whether the record says it is of an aggregate type not in `follows`."""
    if headers:
        for name, value in headers:
            if name == AGGREGATE_TYPE_HEADER:
                return value is not None and value not in follows
    return False


def header_position(headers: Headers) -> int | None:
    """The event position the record's header states, if it states a readable one."""
    if headers:
        for name, value in headers:
            if name == POSITION_HEADER and value is not None and value.isdigit():
                return int(value)
    return None
