"""The event store's JSON transcoder, with orjson writing the common event state.

The library's `JSONTranscoder` encodes every stored event with the stdlib; the
engine stores about four events per command, so that is a real share of its CPU.
Most event states are flat: strings, integers, booleans, None and the `timestamp`
datetime. For exactly those, orjson writes the same bytes several times faster (the
datetime still goes through the library's `datetime_iso` transcoding, via orjson's
`default`). Anything else (a UUID or a nested object in a snapshot, an integer
beyond 64 bits) is left to the library, so what is stored never changes: the bytes
are identical (tests/unit/test_transcoder.py). Decoding stays the library's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

_FLAT = frozenset({str, int, bool, type(None), datetime})
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


class FastJSONTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        if type(obj) is dict and _FLAT.issuperset(map(type, obj.values())):
            state = obj
            timestamp = obj.get("timestamp")
            if type(timestamp) is datetime and timestamp.tzinfo is UTC:
                # Every event has one. orjson spells a UTC datetime exactly as
                # isoformat() does, several times faster than the library's callback.
                state = obj.copy()
                state["timestamp"] = orjson.Fragment(
                    b'{"_type_":"datetime_iso","_data_":' + orjson.dumps(timestamp) + b"}"
                )
            try:
                return orjson.dumps(state, default=self._encode_obj, option=_OPTIONS)
            except TypeError:  # an integer beyond 64 bits, a lone surrogate
                pass
        return super().encode(obj)
