"""The envelope's text and number rules, and read_command on hostile records."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.contract.wire import cut, encode, outcome_message
from payments.domain.commands import parse_envelope
from payments.domain.errors import InvalidAmount, InvalidCommand, Rejection
from payments.domain.text_rules import MAX_NESTING, check_document, is_clean_text
from payments.engine.records import DeadLetter, read_command
from payments.ledger.service import IncomingCommand, fingerprint
from tests.support.signing import signed_ledger


def envelope(**changes: object) -> dict:
    base = {
        "command_id": "c-1",
        "type": "open_account",
        "actor": "ops",
        "payload": {"account_id": "alice", "currency": "EUR", "kind": "customer"},
    }
    return {**base, **changes}


def rejected(document: dict) -> Rejection:
    with pytest.raises(Rejection) as caught:
        parse_envelope(document)
    return caught.value


def read(value: bytes | None) -> IncomingCommand | DeadLetter:
    return read_command("cmds", 0, 7, b"k", value)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (envelope(actor="ops\udc00"), "actor"),
        (envelope(actor="o\x00ps"), "actor"),
        (envelope(type="open_\udc00account"), "type"),
        (envelope(payload={"account_id": "al\udc00ice", "currency": "EUR", "kind": "customer"}),
         "payload.account_id"),
        (envelope(payload={"account_id": "alice", "currency": "EUR", "kind": "customer",
                           "\udc00": 1}), "payload.'\\udc00'"),
        (envelope(issued_at="2026\x00"), "issued_at"),
    ],
)  # fmt: skip
def test_unclean_text_anywhere_is_an_invalid_command_naming_the_field(
    document: dict, field: str
) -> None:
    rejection = rejected(document)
    assert isinstance(rejection, InvalidCommand)
    assert rejection.message.startswith(field + ":")
    assert is_clean_text(rejection.message)  # the message echoes nothing unclean


def test_control_characters_in_actor_and_type_are_refused() -> None:
    assert rejected(envelope(actor="ops\x07")).message.startswith("actor: must not contain")
    rejection = rejected(envelope(type="open_account\n"))
    assert (rejection.code, rejection.message[:5]) == ("invalid_command", "type:")


def test_nesting_beyond_the_limit_is_refused_and_at_the_limit_is_not_a_nesting_error() -> None:
    def nested(levels: int) -> object:
        value: object = 1
        for _ in range(levels):
            value = [value]
        return value

    # The envelope is level 1 and its `extra` field holds the rest.
    check_document({"extra": nested(MAX_NESTING - 1)})
    with pytest.raises(InvalidCommand, match="nested deeper than 32"):
        check_document({"extra": nested(MAX_NESTING)})


def test_integers_beyond_64_bits() -> None:
    huge = envelope(
        type="transfer",
        payload={"transfer_id": "t", "from_account": "a", "to_account": "b",
                 "amount": 2**63, "currency": "EUR"},
    )  # fmt: skip
    assert isinstance(rejected(huge), InvalidAmount)
    assert "payload.amount" in rejected(huge).message
    beyond = envelope(payload={"account_id": "a", "currency": "EUR", "kind": "customer",
                               "overdraft_limit": -(2**70)})  # fmt: skip
    rejection = rejected(beyond)
    assert (rejection.code, rejection.message.split(":")[0]) == (
        "invalid_command",
        "payload.overdraft_limit",
    )


def test_read_command_carries_the_rejection_of_unclean_text() -> None:
    value = json.dumps(envelope(actor="\udc00")).encode()  # JSON escapes it: valid UTF-8
    assert b"\\udc00" in value
    read_back = read(value)
    assert isinstance(read_back, IncomingCommand)
    assert read_back.rejection is not None and read_back.rejection.message.startswith("actor:")
    assert fingerprint(read_back.raw)  # total even so


def test_read_command_dead_letters_an_unclean_command_id() -> None:
    for bad in ("c-\udc00", "c-\x00"):
        letter = read(json.dumps(envelope(command_id=bad)).encode())
        assert isinstance(letter, DeadLetter)
        assert "command_id is not clean text" in letter.reason


def test_read_command_answers_an_integer_too_long_for_python() -> None:
    value = b'{"command_id": "c-9", "type": "transfer", "actor": "a", "payload": '
    value += b'{"transfer_id": "t", "from_account": "a", "to_account": "b", "amount": '
    value += b"9" * 5000 + b', "currency": "EUR"}}'
    read_back = read(value)
    assert isinstance(read_back, IncomingCommand)  # read, not a dead letter
    rejection = rejected(read_back.raw)  # the amount's model answers it, in field order
    assert isinstance(rejection, InvalidAmount)
    assert "integer of 65 bits" in rejection.message


def test_a_valid_command_reads_without_a_rejection() -> None:
    read_back = read(json.dumps(envelope(actor="Zoë 😀")).encode())
    assert isinstance(read_back, IncomingCommand) and read_back.rejection is None


def test_answers_are_cut_and_always_encode() -> None:
    from datetime import UTC, datetime

    message = outcome_message(
        "c" * 900_000, "t\udc00", "rejected", "invalid_command", "m", False, datetime.now(UTC)
    )
    body = encode(message)
    assert len(body) < 4096
    assert json.loads(body)["command_id"].endswith("…[cut: 900000 characters]")
    assert cut("short") == "short"


# Surrogates and NUL drawn on purpose, besides any other character.
json_text = st.text(
    alphabet=st.characters(exclude_categories=()) | st.sampled_from("\udc00\ud800\x00"),
    max_size=20,
)
json_leaves = st.none() | st.booleans() | st.integers() | json_text
documents = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=15,
)


@given(documents)
def test_a_document_passing_the_rules_encodes_and_fits_postgres(document: object) -> None:
    try:
        check_document(document)
    except Rejection as rejection:
        assert is_clean_text(rejection.message)
        return
    text = json.dumps(document, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate survived
    assert "\x00" not in text and "\\u0000" not in json.dumps(document)


@given(st.text(max_size=30))
def test_read_command_never_raises(text: str) -> None:
    value = json.dumps(envelope(actor=text, type=text)).encode()
    assert isinstance(read(value), IncomingCommand)


# --- the ledger contains a save the store refuses to its command ------------------------


def test_a_save_refused_for_one_commands_content_is_bisected_to_that_command() -> None:
    from unittest import mock

    from eventsourcing.persistence import DataError

    from payments.ledger.store import in_memory_application

    app = in_memory_application()
    ledger = signed_ledger(app)
    real_record = app.record

    def refuse_poison(events: list, **kwargs: object) -> None:
        if any(getattr(e, "command_id", None) == "poison" for e in events):
            raise DataError("invalid byte sequence")  # what PostgreSQL says of bad text
        real_record(events, **kwargs)

    def opening(i: int) -> dict:
        payload = {"account_id": f"acc{i}", "currency": "EUR", "kind": "customer"}
        return envelope(command_id=f"o{i}", payload=payload)

    opens = [opening(i) for i in range(7)]
    raws = [*opens[:3], envelope(command_id="poison"), *opens[3:]]
    batch = [IncomingCommand(raw, ("cmds", 0, offset)) for offset, raw in enumerate(raws)]
    with mock.patch.object(app, "record", side_effect=refuse_poison):
        outcomes = ledger.decide_batch(batch, consumer_group="g")
    assert [(o.command_id, o.status) for o in outcomes] == [
        (raw["command_id"], "rejected" if raw["command_id"] == "poison" else "accepted")
        for raw in raws
    ]
    assert outcomes[3].code == "invalid_command" and "DataError" in outcomes[3].message
    # Every other command is stored and replays; the poison one is decided anew.
    again = ledger.decide_batch(batch, consumer_group="g")
    assert [o.replayed for o in again] == [True, True, True, False, True, True, True, True]


def test_a_store_refusing_everything_is_not_blamed_on_a_command() -> None:
    from unittest import mock

    from eventsourcing.persistence import ProgrammingError

    from payments.ledger.store import in_memory_application

    app = in_memory_application()
    batch = [IncomingCommand(envelope(command_id=f"x{i}"), ("cmds", 0, i)) for i in range(4)]
    with (
        mock.patch.object(app, "record", side_effect=ProgrammingError("no such table")),
        pytest.raises(ProgrammingError),
    ):
        signed_ledger(app).decide_batch(batch, consumer_group="g")


def test_the_intake_decides_one_by_one_when_a_batch_fails_for_no_known_reason() -> None:
    import threading

    from payments.engine.intake import CommandIntake
    from payments.ledger.store import in_memory_application
    from payments.runtime.settings import Settings

    ledger = signed_ledger(in_memory_application())
    real = ledger.decide_batch

    def broken_by_poison(commands, **kwargs):  # a bug some record's content triggers
        if any(c.raw.get("command_id") == "poison" for c in commands):
            raise KeyError("a bug")
        return real(commands, **kwargs)

    ledger.decide_batch = broken_by_poison  # type: ignore[method-assign]
    intake = CommandIntake(Settings(), ledger, consumer=None, producer=None)  # type: ignore[arg-type]
    ids = ["a1", "poison", "a2"]
    batch = [IncomingCommand(envelope(command_id=i), ("cmds", 0, n)) for n, i in enumerate(ids)]
    outcomes = intake._decide(batch, [], threading.Event())
    assert outcomes is not None
    assert [(o.command_id, o.code) for o in outcomes] == [
        ("a1", None),
        ("poison", "internal_error"),
        ("a2", "account_exists"),  # the same envelope opens alice again
    ]


def test_the_intake_never_blames_commands_for_a_failure_they_all_share() -> None:
    from unittest import mock

    from payments.engine.intake import CommandIntake
    from payments.ledger.store import in_memory_application
    from payments.runtime.settings import Settings

    ledger = signed_ledger(in_memory_application())
    intake = CommandIntake(Settings(), ledger, consumer=None, producer=None)  # type: ignore[arg-type]
    batch = [IncomingCommand(envelope(command_id=f"b{n}"), ("cmds", 0, n)) for n in range(3)]
    with (
        mock.patch.object(ledger.app, "record", side_effect=RuntimeError("broken store")),
        pytest.raises(RuntimeError),
    ):
        intake._decide_one_by_one(batch, [])


_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec=None), max_size=6)  # NUL and lone surrogates too
)
_JSON_DOCUMENTS = st.recursive(
    _JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(alphabet=st.characters(codec=None), max_size=4), inner, max_size=3
        )
    ),
    max_leaves=40,
)


def _deep(levels: int) -> object:
    document: object = "leaf"
    for _ in range(levels):
        document = {"k": document}
    return document


@given(st.one_of(_JSON_DOCUMENTS, st.integers(1, 40).map(_deep)))
def test_the_fast_path_accepts_exactly_what_the_full_walk_accepts(document: object) -> None:
    """check_document's quick pass skips building paths; it must never let through
    what the walk that names the first fault would refuse, nor refuse what it accepts."""
    from payments.domain.text_rules import _breaks_no_rule, _find_first_fault

    try:
        _find_first_fault({"payload": document})
        walk_accepts = True
    except Rejection:
        walk_accepts = False
    if _breaks_no_rule({"payload": document}):
        assert walk_accepts
    try:
        check_document({"payload": document})
        assert walk_accepts
    except Rejection:
        assert not walk_accepts
