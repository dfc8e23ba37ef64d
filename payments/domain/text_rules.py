"""The envelope's text and number rules, checked on the parsed JSON before pydantic.

Every string of an envelope, keys and values at any depth, must be valid Unicode
text: no lone UTF-16 surrogate (JSON lets `"\\udc00"` through, UTF-8 cannot encode
it) and no U+0000 (PostgreSQL refuses it in `text` and `jsonb`). Nesting deeper than
`MAX_NESTING` and integers beyond a signed 64-bit integer are refused too
(`invalid_command`); `payload.amount` is left to its model, which answers
`invalid_amount` for anything beyond the contract's bound.
Checked once, first, so no later step (fingerprint, ids, storage, answers) ever
sees text it cannot encode. Messages escape what they echo, so they are clean too.
"""

from __future__ import annotations

import re
from typing import Any

from payments.domain.errors import InvalidCommand, Rejection

MAX_NESTING = 32  # objects and arrays inside the envelope object, itself level 1
MAX_INTEGER = 2**63 - 1
_LONG_INTEGER_DIGITS = 25  # longer JSON integers are beyond every bound anyway


def parse_json_int(text: str) -> int:
    """`json.loads(parse_int=...)`: exact up to 25 digits, else a stand-in beyond 2^64.

    Python refuses to convert integers of more than 4,300 digits (the whole document
    would be unreadable, so not answerable); any integer this long breaks the rules,
    so its exact value never matters.
    """
    if len(text.lstrip("-")) <= _LONG_INTEGER_DIGITS:
        return int(text)
    return -(2**64) if text.startswith("-") else 2**64


_UNCLEAN = re.compile("[\x00\ud800-\udfff]")


def text_fault(text: str) -> str | None:
    """Why `text` is not clean (a lone surrogate or a NUL), or None."""
    found = _UNCLEAN.search(text)
    if found is None:
        return None
    code, index = ord(found.group()), found.start()
    if code == 0:
        return f"contains U+0000 (NUL) at character {index}"
    return f"contains a lone UTF-16 surrogate (U+{code:04X}) at character {index}"


def is_clean_text(value: object) -> bool:
    return isinstance(value, str) and text_fault(value) is None


def _name(key: str) -> str:
    if text_fault(key) is None and len(key) <= 40 and key.isprintable():
        return key
    return ascii(key[:40])  # escaped, so the message is clean text itself


def check_document(document: Any) -> None:
    """Raise the contract's rejection for the first rule the document breaks."""
    if _breaks_no_rule(document):
        return  # the common case: no field path is built
    _find_first_fault(document)


def _breaks_no_rule(document: Any) -> bool:
    """The rules without the messages: True when the document is clean.

    The same checks as `_find_first_fault`, without building a path per field; a
    document it does not pass is walked again by that one for the first fault's message.
    """
    unclean = _UNCLEAN.search
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        kind = type(value)
        if kind is str:
            if unclean(value) is not None:
                return False
        elif kind is dict:
            if depth > MAX_NESTING:
                return False
            for key, child in value.items():
                if type(key) is not str or unclean(key) is not None:
                    return False
                if type(child) is not str or unclean(child) is not None:
                    pending.append((child, depth + 1))
        elif kind is list:
            if depth > MAX_NESTING:
                return False
            pending.extend((child, depth + 1) for child in value)
        elif kind is int:
            if not -MAX_INTEGER <= value <= MAX_INTEGER:
                return False  # payload.amount is allowed: the full walk says so
        elif not (value is None or kind is bool or kind is float):
            return False  # anything else: let the full walk decide
    return True


def _find_first_fault(document: Any) -> None:
    # Iterative, depth-first in document order: deep input cannot exhaust the stack.
    pending: list[tuple[Any, str, int]] = [(document, "", 1)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            fault = text_fault(value)
            if fault:
                raise InvalidCommand(f"{path or 'command'}: {fault}")
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        elif isinstance(value, int):
            _check_integer(value, path)
        elif isinstance(value, (dict, list)):
            if depth > MAX_NESTING:
                raise InvalidCommand(f"{path}: JSON nested deeper than {MAX_NESTING} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = []
            for key, child in items:
                if isinstance(key, str):
                    fault = text_fault(key)
                    if fault:
                        raise InvalidCommand(f"{_join(path, _name(key))}: a field name {fault}")
                children.append((child, _join(path, _name(str(key))), depth + 1))
            pending.extend(reversed(children))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_integer(value: int, path: str) -> None:
    if -MAX_INTEGER <= value <= MAX_INTEGER or path == "payload.amount":
        # The model checks the amount in field order (a bad id before it comes first),
        # as `invalid_amount`; every other integer beyond 64 bits stops here.
        return
    raise InvalidCommand(f"{path}: integer beyond ±(2^63−1) ({integer_size(value)})")


def integer_size(value: int) -> str:
    # Never str() a huge int (Python refuses beyond 4,300 digits, and echoes would bloat).
    return str(value) if abs(value) <= MAX_INTEGER else f"an integer of {value.bit_length()} bits"


def clean_text_rejection(document: Any) -> Rejection | None:
    try:
        check_document(document)
    except Rejection as rejection:
        return rejection
    return None
