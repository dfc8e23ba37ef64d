"""orjson on the hot paths, with the stdlib's results wherever the two would differ.

Every event the relay publishes, every answer the engine sends and every record the
engine and the consumers read goes through here. orjson is several times faster than
`json`, but differs at the edges: it refuses lone surrogates and integers beyond 64
bits when writing, turns such integers into floats (or refuses them) when reading,
and refuses nesting past its own limit. Each function falls back to `json` exactly
there, so the values are always `json`'s (tests/unit/test_fast_json.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON (`json.dumps(..., separators=(",", ":"), ensure_ascii=False)`)."""
    try:
        return orjson.dumps(document)
    except TypeError:  # a lone surrogate, an integer beyond 64 bits, an unknown type
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", errors="surrogatepass"
        )


def _has_float(value: Any) -> bool:
    # Iterative: a document may nest as deep as orjson reads (1,024), past Python's stack.
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is float:
            return True
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
    return False


def loads(data: bytes | str, slow: Callable[[str], Any] | None = None) -> Any:
    """`json.loads(data)` (or `slow(text)`, a configured stdlib decode): orjson first.

    A document orjson refuses, or one holding a float (where orjson may have read an
    integer beyond 64 bits as a float), is decoded again by the stdlib, so the result
    is always the stdlib's. Raises what the stdlib raises.
    """
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        document = None
    else:
        if not _has_float(document):
            return document
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return slow(text) if slow is not None else json.loads(text)


def canonical(value: Any) -> bytes:
    """`json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
    as UTF-8: the bytes of fingerprints and signatures, so they must never change.

    orjson sorts keys by code point as the stdlib does and escapes the same characters;
    it writes floats differently (`1e16` for `1e+16`), so a value holding one, like
    anything orjson refuses, is spelt by the stdlib. Raises what the stdlib raises.
    """
    return canonical_float_free(value) if not _has_float(value) else _canonical_slow(value)


def has_float(value: Any) -> bool:
    """Whether `value` holds a float anywhere (one walk, for callers that branch on it)."""
    return _has_float(value)


def canonical_float_free(value: Any) -> bytes:
    """`canonical(value)` for a value the caller knows holds no float (`has_float`)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a lone surrogate, an integer beyond 64 bits, a non-str key
        return _canonical_slow(value)


def _canonical_slow(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")
