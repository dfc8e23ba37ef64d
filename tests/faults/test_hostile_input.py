"""Hostile records among valid commands: the contract's answer for each, ledger untouched.

Every hostile record either gets an outcome with the contract's code and a message
naming what was wrong, or (no string command_id) exactly one dead letter with the
reason. The valid transfers published between them are all accepted, and the only
thing a bad command may leave in the event store is its `CommandRecord.Decided`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from payments.contract.wire import cut
from payments.domain.text_rules import text_fault
from payments.runtime.settings import Settings
from tests.faults.checker import StoreView
from tests.faults.cluster import Fleet
from tests.faults.hostile import Batch, collect
from tests.faults.report import Report, Round
from tests.faults.workload import command

pytestmark = [pytest.mark.faults, pytest.mark.integration]

NEAR_1MB = 1_000_000  # the broker's default message.max.bytes is 1,048,588
DEEP = 100_000


def transfer(cid: str, src: str, dst: str, amount: Any, currency: Any = "EUR") -> dict:
    return command(cid, "transfer", transfer_id=cid, from_account=src, to_account=dst,
                   amount=amount, currency=currency)  # fmt: skip


def hostile_commands(
    run: str, a: str, b: str, closed: str
) -> list[tuple[str, dict | bytes, str, str]]:
    """(label, record, expected code, a word the message must contain)."""

    def cid(label: str) -> str:
        return f"{run}-{label}"

    ok_open = command(cid("x"), "open_account", account_id=f"{run}-x", currency="EUR",
                      kind="customer")  # fmt: skip
    missing_actor = {k: v for k, v in ok_open.items() if k != "actor"}
    missing_actor["command_id"] = cid("no-actor")
    no_payload = {k: v for k, v in ok_open.items() if k != "payload"}
    no_payload["command_id"] = cid("no-payload")
    cases: list[tuple[str, dict | bytes, str, str]] = [
        ("missing actor", missing_actor, "invalid_command", "actor"),
        ("missing payload", no_payload, "invalid_command", "payload"),
        ("missing amount", command(cid("no-amount"), "transfer", transfer_id=cid("na"),
                                   from_account=a, to_account=b, currency="EUR"),
         "invalid_command", "amount"),
        ("extra envelope field", {**ok_open, "command_id": cid("extra"), "debug": True},
         "invalid_command", "debug"),
        ("extra payload field", command(cid("extra-p"), "close_account", account_id=a,
                                        force=True), "invalid_command", "force"),
        ("type not a string", {**ok_open, "command_id": cid("type-int"), "type": 7},
         "invalid_command", "type"),
        ("account id an int", command(cid("acct-int"), "close_account", account_id=12),
         "invalid_command", "account_id"),
        ("payload a list", {**ok_open, "command_id": cid("payload-list"), "payload": [1]},
         "invalid_command", "payload"),
        ("float amount", transfer(cid("amt-float"), a, b, 1.5), "invalid_amount", "amount"),
        ("string amount", transfer(cid("amt-str"), a, b, "100"), "invalid_amount", "amount"),
        ("boolean amount", transfer(cid("amt-bool"), a, b, True), "invalid_amount", "amount"),
        ("zero amount", transfer(cid("amt-zero"), a, b, 0), "invalid_amount", "amount"),
        ("negative amount", transfer(cid("amt-neg"), a, b, -500), "invalid_amount", "amount"),
        ("10^30 amount", transfer(cid("amt-huge"), a, b, 10**30), "invalid_amount", "amount"),
        ("unknown currency", transfer(cid("cur-xyz"), a, b, 5, "XYZ"), "invalid_currency",
         "currency"),
        ("lower-case currency", transfer(cid("cur-low"), a, b, 5, "eur"), "invalid_currency",
         "currency"),
        ("currency an int", transfer(cid("cur-int"), a, b, 5, 978), "invalid_currency",
         "currency"),
        ("NUL in an id", transfer(cid("nul"), "acc\x00ount", b, 5), "invalid_command",
         "from_account"),
        ("newline in an id", transfer(cid("nl"), a, "b\nc", 5), "invalid_command", "to_account"),
        ("SQL in an id", transfer(cid("sql"), "x'); DROP TABLE payments_events;--", b, 5),
         "invalid_command", "from_account"),
        ("shell in an id", transfer(cid("sh"), a, "$(rm -rf /)`id`", 5), "invalid_command",
         "to_account"),
        ("65-char id", transfer(cid("long-id"), a, "z" * 65, 5), "invalid_command", "to_account"),
        ("control char in command_id", transfer(f"{run}-\x07bell", a, b, 5),
         "invalid_command", "command_id"),
        ("129-char command_id", transfer(f"{run}-" + "q" * 128, a, b, 5), "invalid_command",
         "command_id"),
        ("unknown command type", command(cid("teleport"), "teleport_money", amount=5),
         "unknown_command_type", "teleport_money"),
        ("closed account", transfer(cid("to-closed"), a, closed, 5), "account_closed", closed),
        ("unknown account", transfer(cid("to-ghost"), a, f"{run}-ghost", 5),
         "account_not_found", f"{run}-ghost"),
        ("deep JSON with a command_id", _deep_command(cid("deep-ok"), 500), "invalid_command",
         "nest"),
        ("value near 1 MB", {**ok_open, "command_id": cid("near-1mb"),
                             "payload": {**ok_open["payload"], "account_id": "a" * NEAR_1MB}},
         "invalid_command", "account_id"),
        # Issue 12: text JSON can carry but UTF-8 and PostgreSQL cannot, depth, big integers.
        ("lone surrogate in an account id", transfer(cid("sur-acct"), a, "b\udc00", 5),
         "invalid_command", "to_account"),
        ("lone surrogate in the type", {**ok_open, "command_id": cid("sur-type"),
                                        "type": "open_\udc00account"}, "invalid_command", "type"),
        ("lone surrogate in the actor", {**ok_open, "command_id": cid("sur-actor"),
                                         "actor": "ops\udc00"}, "invalid_command", "actor"),
        ("NUL in the actor", {**ok_open, "command_id": cid("nul-actor"), "actor": "o\x00ps"},
         "invalid_command", "actor"),
        ("lone surrogate in a payload key", {**ok_open, "command_id": cid("sur-key"),
                                             "payload": {**ok_open["payload"], "\ud800": 1}},
         "invalid_command", "payload"),
        ("control char in the actor", {**ok_open, "command_id": cid("bel-actor"),
                                       "actor": "ops\x07"}, "invalid_command", "actor"),
        ("nesting 40 deep", _deep_command(cid("deep-40"), 40), "invalid_command", "nested"),
        ("2^63 overdraft", command(cid("od-huge"), "open_account", account_id=f"{run}-od",
                                   currency="EUR", kind="customer", overdraft_limit=2**63),
         "invalid_command", "overdraft_limit"),
        ("5,000-digit amount", _long_amount(cid("amt-5000")), "invalid_amount", "amount"),
        ("900 KB command_id", {**ok_open, "command_id": cid("big-") + "q" * 900_000},
         "invalid_command", "command_id"),
    ]  # fmt: skip
    return cases


def _long_amount(command_id: str) -> bytes:
    # More digits than Python's int() converts by default: the record must still be read.
    return (
        f'{{"command_id": "{command_id}", "type": "transfer", "actor": "x", '
        f'"payload": {{"transfer_id": "t", "from_account": "a", "to_account": "b", '
        f'"currency": "EUR", "amount": {"9" * 5000}}}}}'
    ).encode()


def _deep_command(command_id: str, depth: int) -> bytes:
    # Deep but readable by json: it reaches validation, which must reject the field.
    nested = "[" * depth + "]" * depth
    return (
        f'{{"command_id": "{command_id}", "type": "open_account", "actor": "x", '
        f'"payload": {{"account_id": "d", "currency": "EUR", "kind": "customer", '
        f'"nest": {nested}}}}}'
    ).encode()


DEAD_LETTERS: list[tuple[str, bytes | None, str]] = [
    ("not JSON", b"this is not json {", "JSON"),
    ("JSON array", b"[1, 2, 3]", "list"),
    ("JSON string", b'"transfer"', "str"),
    ("JSON number", b"42", "int"),
    ("JSON null", b"null", "NoneType"),
    ("NaN", b'{"command_id": NaN}', "JSON"),
    ("invalid UTF-8", b"\xff\xfe\xfa", "UTF-8"),
    ("no command_id", b'{"type": "transfer", "payload": {}}', "command_id"),
    ("command_id a number", b'{"command_id": 17, "type": "transfer"}', "command_id"),
    ("deeply nested JSON", b'{"command_id": ' + b"[" * DEEP + b"]" * DEEP + b"}", "nested"),
    ("not JSON near 1 MB", b"\x01" * NEAR_1MB, "JSON"),
    ("empty value", None, "empty"),
    ("lone surrogate in command_id", b'{"command_id": "c-\\udc00", "type": "transfer"}',
     "command_id is not clean"),
    ("NUL in command_id", b'{"command_id": "c-\\u0000", "type": "transfer"}',
     "command_id is not clean"),
]  # fmt: skip


def test_hostile_records_get_the_contract_answer(fleet: Fleet, report: Report) -> None:
    run = f"h{uuid.uuid4().hex[:8]}"
    bank, a, b, closed = (f"{run}-{n}" for n in ("bank", "a", "b", "closed"))
    topics = fleet.settings.topics
    fleet.start_engine()

    setup = Batch(run + "s")
    for account, kind in ((bank, "external"), (a, "customer"), (b, "customer"),
                          (closed, "customer")):  # fmt: skip
        setup.command(command(f"{account}-open", "open_account", account_id=account,
                              currency="EUR", kind=kind), f"{account}-open")  # fmt: skip
    setup.command(transfer(f"{run}-fund", bank, a, 10_000), f"{run}-fund")
    setup.command(command(f"{run}-close", "close_account", account_id=closed), f"{run}-close")
    setup.records = [(f"{run}-setup".encode(), v) for _, v in setup.records]  # one partition
    setup.publish(fleet.bootstrap, topics.commands)
    done = collect(fleet.bootstrap, topics.command_results, topics.commands_dlq, setup)
    assert {cid: o[0]["status"] for cid, o in done.outcomes.items()} == dict.fromkeys(
        setup.expect_outcome.values(), "accepted"
    )

    batch = Batch(run)
    valid: list[str] = []
    cases = hostile_commands(run, a, b, closed)
    expected: dict[str, tuple[str, str, str]] = {}
    for index, (label, record, code, word) in enumerate(cases):
        good = f"{run}-good{index}"
        batch.command(transfer(good, a, b, 1), good)
        valid.append(good)
        command_id = record["command_id"] if isinstance(record, dict) else _id_of(record)
        command_id = cut(command_id)  # a huge id is answered cut, with a marker
        batch.command(record, command_id)
        expected[command_id] = (label, code, word)
    letters = {batch.letter(value): (label, word) for label, value, word in DEAD_LETTERS}
    batch.publish(fleet.bootstrap, topics.commands)
    answers = collect(fleet.bootstrap, topics.command_results, topics.commands_dlq, batch)
    # Then the same command_id with another payload: idempotency_conflict, nothing applied.
    conflict = f"{run}-good0"
    again = Batch(run + "c")
    again.command(transfer(conflict, a, b, 999), conflict)
    again.publish(fleet.bootstrap, topics.commands)
    answers.outcomes[conflict] = collect(
        fleet.bootstrap, topics.command_results, topics.commands_dlq, again
    ).outcomes.get(conflict, [])
    found_round = report.add(Round("hostile input", commands=len(batch.records) + 1))
    for command_id, (label, code, word) in expected.items():
        found_round.checks[label] = judge_outcome(answers.outcomes.get(command_id, []), code, word)
        shown = answers.outcomes.get(command_id, [{}])[0]
        found_round.answers[label] = f"{shown.get('code')}: {shown.get('message', '')[:140]}"
    for key, (label, word) in letters.items():
        found_letters = answers.letters.get(key, [])
        found_round.checks[label] = judge_letter(found_letters, word)
        shown = (found_letters or [{}])[0]
        found_round.answers[label] = f"dead letter: {shown.get('reason', '')[:140]}"
    found_round.checks["idempotency conflict"] = judge_conflict(answers.outcomes[conflict])
    found_round.answers["idempotency conflict"] = "idempotency_conflict"
    statuses = [
        (o["status"], o["code"], o["replayed"]) for g in valid[1:] for o in answers.outcomes[g]
    ]
    found_round.checks["valid commands around them"] = (
        "ok" if statuses == [("accepted", None, False)] * (len(valid) - 1) else str(statuses)
    )
    failures = found_round.failures()
    assert not failures, f"{failures}\n{fleet.tail_logs()}"

    store = StoreView.load(fleet.settings)
    touched = {
        cid: kinds
        for cid, kinds in store.by_command.items()
        if cid in expected and set(kinds) - {"CommandRecord.Decided"}
    }
    found_round.checks["nothing written by a bad command"] = "ok" if not touched else str(touched)
    unclean = stored_unclean_text(fleet.settings, run)
    found_round.checks["no NUL or lone surrogate stored"] = "ok" if not unclean else str(unclean)
    # Only the valid 1-cent transfers moved money (the conflict's 999 did not).
    moved = (store.posted[a], store.posted[b])
    expected_moved = (10_000 - len(valid), len(valid))
    found_round.checks["balances"] = "ok" if moved == expected_moved else f"{moved}"
    found_round.checks["engine_answers"] = fleet.probe()
    failures = found_round.failures()
    assert not failures, failures


def stored_unclean_text(settings: Settings, run: str) -> list[str]:
    """Strings of the run's stored events (JSON state) that hold a NUL or a lone surrogate."""
    import psycopg

    with psycopg.connect(settings.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT state FROM payments_events WHERE position(convert_to(%s, 'UTF8') in state) > 0",
            (run,),
        ).fetchall()
    found: list[str] = []
    pending: list[Any] = [json.loads(bytes(state)) for (state,) in rows]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend([*value.keys(), *value.values()])
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and text_fault(value):
            found.append(ascii(value[:80]))
    return found


def judge_outcome(found: list[dict[str, Any]], code: str, word: str) -> str:
    if len(found) != 1:
        return f"{len(found)} outcomes"
    if (found[0]["status"], found[0]["code"]) != ("rejected", code):
        return f"{found[0]['code']} ≠ {code} ({found[0]['message']})"
    if word.lower() not in found[0]["message"].lower():
        return f"message {found[0]['message']!r} does not mention {word!r}"
    return "ok"


def judge_letter(found: list[dict[str, Any]], word: str) -> str:
    if len(found) != 1:
        return f"{len(found)} dead letters"
    if word.lower() not in found[0]["reason"].lower():
        return f"reason {found[0]['reason']!r} does not mention {word!r}"
    return "ok"


def judge_conflict(found: list[dict[str, Any]]) -> str:
    statuses = sorted((o["status"], o["code"] or "", o["replayed"]) for o in found)
    wanted = [("accepted", "", False), ("rejected", "idempotency_conflict", False)]
    return "ok" if statuses == wanted else str(statuses)


def _id_of(record: bytes) -> str:
    return json.loads(record, parse_int=str)["command_id"]
