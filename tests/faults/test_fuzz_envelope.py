"""A hypothesis fuzzer over the command envelope, published through the running engine.

Hypothesis draws the records (envelopes near the contract's shape, random JSON, raw
bytes); they are then published in one go, each under a unique key and, when it
has a string command_id, a unique command_id. Afterwards the engine is alive and
every record got exactly one answer: one outcome or one dead letter, never both.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.domain.commands import COMMAND_TYPES
from payments.domain.text_rules import text_fault
from tests.faults.cluster import Fleet
from tests.faults.hostile import Batch, collect
from tests.faults.profile import Profile
from tests.faults.report import Report, Round

pytestmark = [pytest.mark.faults, pytest.mark.integration]

FIELDS = (
    "account_id", "currency", "kind", "overdraft_limit", "transfer_id", "from_account",
    "to_account", "amount", "payment_id", "payer_account", "merchant_account", "reason",
    "batch_id", "payout_account", "fees_account", "fee_bps",
)  # fmt: skip
CID = "\x00CID\x00"  # replaced by a unique command_id when published

# Any character, lone surrogates and NUL included (JSON can carry them; issue 12).
any_text = st.text(
    alphabet=st.characters(exclude_categories=()) | st.sampled_from("\udc00\ud800\x00"),
    max_size=80,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**31), max_value=10**31)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_text, inner, max_size=5),
    max_leaves=20,
)
plausible = st.sampled_from(
    ["EUR", "USD", "JPY", "eur", "XXX", "acct-1", "", "a" * 65]
) | st.integers(-5, 10**13)
payloads = (
    st.dictionaries(st.sampled_from(FIELDS), plausible | json_values, max_size=8) | json_values
)
suffixed = st.builds(lambda s: CID + s, st.text(max_size=10))
command_ids = st.just(CID) | suffixed | suffixed | json_values
envelopes = st.fixed_dictionaries(
    {"command_id": command_ids},
    optional={
        "type": st.sampled_from(COMMAND_TYPES) | json_values,
        "actor": st.text(max_size=300) | any_text | json_values,
        "issued_at": st.sampled_from(["2026-11-28T10:00:00Z", "yesterday"]) | json_values,
        "payload": payloads,
        "extra": json_values,
    },
)
# Envelopes get most of the draws: they reach validation, the deepest code path.
records = (
    envelopes.map(lambda e: ("envelope", e))
    | envelopes.map(lambda e: ("envelope", e))
    | envelopes.map(lambda e: ("envelope", e))
    | json_values.map(lambda v: ("json", v))
    | st.binary(max_size=200).map(lambda b: ("bytes", b))
)


def draw_records(count: int, seed: int) -> list[tuple[str, Any]]:
    drawn: list[tuple[str, Any]] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(records)
    def keep(record: tuple[str, Any]) -> None:
        drawn.append(record)

    keep._hypothesis_internal_use_seed = seed  # reproducible from the profile's seed
    keep()
    return drawn


def add_record(batch: Batch, index: int, kind: str, drawn: Any) -> None:
    if kind == "bytes":
        value = drawn
        try:
            document = json.loads(value)
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("command_id"), str):
            batch.command(value, document["command_id"])  # vanishingly rare, but honest
        else:
            batch.letter(value)
        return
    if kind == "json" or not isinstance(drawn, dict):
        batch.letter(json.dumps(drawn).encode())
        return
    envelope = dict(drawn)
    command_id = envelope["command_id"]
    if isinstance(command_id, str) and text_fault(command_id) is None:
        # Always under the run's unique prefix, so no two records (or runs) share one.
        envelope["command_id"] = f"{batch.run}-f{index}-" + command_id.replace(CID, "", 1)
        batch.command(envelope, envelope["command_id"])  # signed when its actor can sign
    else:
        batch.letter(json.dumps(envelope).encode())


def test_fuzzed_envelopes_each_get_exactly_one_answer(
    fleet: Fleet, profile: Profile, report: Report
) -> None:
    run = f"z{uuid.uuid4().hex[:8]}"
    batch = Batch(run)
    drawn = draw_records(profile.fuzz_examples, profile.seed)
    for index, (kind, record) in enumerate(drawn):
        add_record(batch, index, kind, record)
    engine = fleet.start_engine()
    topics = fleet.settings.topics
    batch.publish(fleet.bootstrap, topics.commands)
    answers = collect(
        fleet.bootstrap, topics.command_results, topics.commands_dlq, batch, timeout=300
    )

    problems = []
    for key, command_id in batch.expect_outcome.items():
        found = answers.outcomes.get(command_id, [])
        if len(found) != 1 or key in answers.letters:
            problems.append(
                f"{command_id!r}: {len(found)} outcomes, letters {key in answers.letters}"
            )
        elif found[0]["status"] == "rejected" and not found[0]["message"]:
            problems.append(f"{command_id!r}: rejected ({found[0]['code']}) without a message")
    for key in batch.expect_letter:
        if len(answers.letters.get(key, [])) != 1:
            problems.append(f"{key!r}: {len(answers.letters.get(key, []))} dead letters")
    found = report.add(Round("envelope fuzzer", commands=len(drawn), sends=len(drawn)))
    found.checks["one answer per record"] = "ok" if not problems else "; ".join(problems[:5])
    found.checks["engine alive"] = "ok" if engine.alive() else "the engine process died"
    found.checks["engine_answers"] = fleet.probe()
    found.answers = {
        "outcomes": str(len(batch.expect_outcome)),
        "dead letters": str(len(batch.expect_letter)),
    }
    assert not found.failures(), f"{found.failures()}\n{fleet.tail_logs()}"
