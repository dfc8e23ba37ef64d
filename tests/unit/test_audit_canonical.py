"""The fast encodings (orjson, uuid5 by hand) give the bytes and hashes of the reference ones.

The audit hash is a contract: a chain written before must verify after. The
reference below is the chain as it was written before orjson (json's encoder,
`format_time`), kept here verbatim; the fast paths must agree with it byte for byte
on a generated stream and on hostile values (huge integers, floats, control
characters, lone surrogates).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.contract import wire
from projections.audit.chain import (
    GENESIS_HASH,
    audit_content,
    canonical_bytes,
    chain,
    row_hash,
)
from projections.events import format_time
from tests.support.events import EventFactory, from_wire

_REFERENCE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def reference_canonical(content: dict[str, Any]) -> str:
    def uuid_text(value: object) -> str:
        text = str(value)
        return text if len(text) == 36 and text == text.lower() else str(uuid.UUID(text))

    document = {
        **content,
        "event_id": uuid_text(content["event_id"]),
        "aggregate_id": uuid_text(content["aggregate_id"]),
        "recorded_at": format_time(content["recorded_at"]),
    }
    return _REFERENCE.encode(document)


def reference_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + reference_canonical(content)).encode()).hexdigest()


def generated_stream() -> list[dict[str, Any]]:
    f = EventFactory()
    f.open_account("bank", kind="external")
    f.open_account("alice", overdraft=100)
    f.open_account("shop", kind="merchant")
    f.open_account("fees", kind="fees")
    f.open_account("out", kind="external")
    f.transfer("top", "bank", "alice", 10_000)
    for i in range(5):
        f.authorize(f"p{i}", "alice", "shop", 1_000 + i)
        f.capture(f"p{i}", 900 + i)
        f.refund(f"p{i}", 10)
    f.chargeback("p0", 5)
    f.settle("b1", "shop", "out", "fees", 250)
    return [audit_content(from_wire(e)) for e in f.events]


def test_a_generated_stream_chains_to_the_reference_hashes():
    contents = generated_stream()
    assert len(contents) > 30
    prev, want = GENESIS_HASH, []
    for content in contents:
        assert canonical_bytes(content) == reference_canonical(content).encode()
        prev = reference_hash(prev, content)
        want.append(prev)
    assert [row["hash"] for row in chain(GENESIS_HASH, contents)] == want


# Values a stored (or tampered) payload may hold, hostile ones included.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
moments = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=-5))]),
)


@settings(max_examples=400, deadline=None)
@given(
    payload=st.dictionaries(st.text(), json_values, max_size=6),
    command_id=st.none() | st.text(),
    recorded_at=moments,
    version=st.integers(min_value=1, max_value=2**40),
)
def test_canonical_bytes_are_the_reference_bytes(payload, command_id, recorded_at, version):
    aggregate_id = uuid.uuid4()
    content = {
        "position": version,
        "event_id": str(uuid.uuid5(aggregate_id, str(version))),
        "event_type": "Account.Debited",
        "aggregate_type": "Account",
        "aggregate_id": aggregate_id,  # a UUID, as a table row gives it
        "aggregate_version": version,
        "command_id": command_id,
        "actor": "ops@example",
        "recorded_at": recorded_at,
        "payload": payload,
    }
    try:
        want = reference_hash(GENESIS_HASH, content)
    except UnicodeEncodeError:  # a lone surrogate: the reference cannot hash it either
        with pytest.raises(UnicodeEncodeError):
            row_hash(GENESIS_HASH, content)
        return
    assert canonical_bytes(content) == reference_canonical(content).encode()
    assert row_hash(GENESIS_HASH, content) == want


@settings(max_examples=400, deadline=None)
@given(document=st.dictionaries(st.text(), json_values, max_size=6))
def test_stored_state_loads_as_json_loads_it(document):
    stamp = {"_type_": "datetime_iso", "_data_": "2026-11-28T10:00:00.000001+00:00"}
    state = json.dumps({**document, "timestamp": stamp}).encode()
    loaded = wire._load_document(state)
    assert loaded == json.loads(state)
    # Same types too (orjson would make a float of an integer beyond 64 bits).
    assert repr(loaded) == repr(json.loads(state))


@given(aggregate_id=st.uuids(), version=st.integers(min_value=0, max_value=2**63))
def test_event_id_text_is_uuid5(aggregate_id, version):
    assert wire.event_id_text(aggregate_id, version) == str(wire.event_id(aggregate_id, version))


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
)
def test_stored_timestamp_texts_are_the_mappers(moment):
    stamp = moment.isoformat()
    assert wire._utc_text(stamp) == wire.iso_utc(datetime.fromisoformat(stamp))


@settings(max_examples=300, deadline=None)
@given(
    st.uuids(),
    st.integers(min_value=1, max_value=2**40),
    st.sampled_from(["lower", "upper", "braces", "uuid"]),
)
def test_a_stored_id_in_any_spelling_gives_the_mapper_ids(aggregate_id, version, spelling):
    """fast_event_message reads the id as hex when it is the store's canonical text."""
    given_id = {
        "lower": str(aggregate_id),
        "upper": str(aggregate_id).upper(),
        "braces": "{" + str(aggregate_id) + "}",
        "uuid": aggregate_id,
    }[spelling]
    state = b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T10:00:00.000001+00:00"}}'
    message = wire.fast_event_message(1, given_id, version, "m:Account.Opened", state)
    assert message is not None
    assert message["aggregate_id"] == str(aggregate_id)
    assert message["event_id"] == str(wire.event_id(aggregate_id, version))


def test_an_id_that_is_no_uuid_is_refused_as_before():
    state = b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T10:00:00.000001+00:00"}}'
    for bad in (
        "not-a-uuid",
        "0123456 -89ab-cdef-0123-456789abcdef",
        "g" * 8 + "-0000-0000-0000-" + "0" * 12,
    ):
        with pytest.raises(ValueError):
            wire.fast_event_message(1, bad, 1, "m:Account.Opened", state)
