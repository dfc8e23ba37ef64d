"""Reading a Kafka record as a command, or saying why it cannot be one.

A record is a command when its value is a UTF-8 JSON object with a string
`command_id` that is clean text (no lone surrogate, no NUL: it is the key its answer
is published under). Anything else has no one to answer to, so it becomes a dead
letter carrying the reason and where it came from. A command that breaks the
envelope's text and number rules elsewhere is still a command: it carries its
rejection (`invalid_command` naming the field) to the ledger, which answers it
without fingerprinting or parsing the bad text. Nothing here raises on bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from payments.contract import fast_json
from payments.domain.text_rules import clean_text_rejection, parse_json_int, text_fault
from payments.ledger.service import IncomingCommand


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not.
    raise ValueError(f"{name} is not valid JSON")


def _strict_loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant, parse_int=parse_json_int)


def read_command(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
) -> IncomingCommand | DeadLetter:
    try:
        return _read(topic, partition, offset, key, value)
    except Exception as error:  # a bug must not stall the poll: this record only
        reason = f"the engine could not read this record: {type(error).__name__}"
        return DeadLetter(reason, topic, partition, offset, key, value)


def _read(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
) -> IncomingCommand | DeadLetter:
    def dead(reason: str) -> DeadLetter:
        return DeadLetter(reason, topic, partition, offset, key, value)

    if value is None:
        return dead("empty record: a command must be a JSON object, the value was null")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        return dead(f"not UTF-8 text: {error.reason} at byte {error.start}")
    try:
        document = fast_json.loads(text, _strict_loads)
    except RecursionError:
        return dead("JSON nested too deeply to read")
    except ValueError as error:
        return dead(f"not JSON: {str(error)[:200]}")
    if not isinstance(document, dict):
        return dead(f"JSON {type(document).__name__} where a command object was expected")
    command_id = document.get("command_id")
    if "command_id" not in document:
        return dead("no command_id: the command object has no 'command_id' field")
    if not isinstance(command_id, str):
        return dead(f"command_id must be a string, got {type(command_id).__name__}")
    fault = text_fault(command_id)
    if fault is not None:
        return dead(f"command_id is not clean text, so it cannot key an answer: it {fault}")
    source = (topic, partition, offset)
    return IncomingCommand(raw=document, source=source, rejection=clean_text_rejection(document))
