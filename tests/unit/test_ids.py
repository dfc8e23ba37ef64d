"""Aggregate ids are the library's uuid5 of "<kind>:<business id>", bit for bit."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.commands import is_valid_command_id
from payments.domain.ids import PAYMENTS_NAMESPACE, aggregate_uuid, posting_id

KINDS = ["account", "payment", "command", "posting", "holder"]


@given(kind=st.sampled_from(KINDS), business_id=st.text())
def test_aggregate_uuid_is_uuid5_of_kind_and_id(kind: str, business_id: str) -> None:
    name = f"{kind}:{business_id}"
    try:
        expected = uuid.uuid5(PAYMENTS_NAMESPACE, name)
    except UnicodeEncodeError:  # a lone surrogate: neither can encode it
        with pytest.raises(UnicodeEncodeError):
            aggregate_uuid.__wrapped__(kind, business_id)  # type: ignore[arg-type]
        return
    got = aggregate_uuid.__wrapped__(kind, business_id)  # type: ignore[arg-type]
    assert got == expected
    assert (got.version, got.variant, str(got)) == (5, uuid.RFC_4122, str(expected))


def test_posting_id_is_the_string_of_its_uuid5() -> None:
    assert posting_id("c-1", 0) == str(uuid.uuid5(PAYMENTS_NAMESPACE, "posting:c-1:0"))


@given(st.text(max_size=130))
def test_command_id_rule_is_printable_ascii_of_1_to_128(value: str) -> None:
    expected = 1 <= len(value) <= 128 and all(0x20 <= ord(c) <= 0x7E for c in value)
    assert is_valid_command_id(value) is expected


def test_command_id_rule_edges() -> None:
    assert is_valid_command_id(" ~")
    assert not is_valid_command_id("a\x7f")
    assert not is_valid_command_id("a\x1f")
    assert not is_valid_command_id("")
    assert not is_valid_command_id("x" * 129)
    assert not is_valid_command_id(7)
