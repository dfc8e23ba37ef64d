"""fast_json gives exactly the stdlib's values, and orjson's speed where they agree."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.contract import fast_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_dumps_decodes_to_the_same_values_as_the_stdlib(value) -> None:
    written = fast_json.dumps(value)
    stdlib = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(written.decode("utf-8", errors="surrogatepass")) == json.loads(stdlib)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_loads_gives_the_stdlibs_values(value) -> None:
    text = json.dumps(value)  # ASCII: lone surrogates travel as \\u escapes
    assert fast_json.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"amount": 100000000000000000000000000000}',  # orjson: a float, or refused
        '{"actor": "ops\\udc00"}',  # orjson refuses a lone surrogate
        '{"a": 1.5}',
        "[" * 300 + "]" * 300,  # past orjson's nesting limit, within the stdlib's
    ],
)
def test_the_edges_fall_back_to_the_stdlib(text: str) -> None:
    assert fast_json.loads(text.encode()) == json.loads(text)


def test_too_deep_for_both_raises_what_the_stdlib_raises() -> None:
    with pytest.raises(RecursionError):
        fast_json.loads(("[" * 100_000 + "]" * 100_000).encode())


def test_a_configured_slow_path_is_used_for_the_edges() -> None:
    seen = []

    def slow(text: str) -> object:
        seen.append(text)
        return json.loads(text, parse_int=lambda digits: ("int", digits))

    assert fast_json.loads(b'{"a": 1}', slow) == {"a": 1}
    assert seen == []  # orjson decided
    assert fast_json.loads(b'{"a": 1.0, "b": 2}', slow) == {"a": 1.0, "b": ("int", "2")}
    assert len(seen) == 1


def test_invalid_json_raises_as_the_stdlib_does() -> None:
    with pytest.raises(ValueError):
        fast_json.loads(b"not json")


with_floats = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(with_floats)
def test_canonical_is_byte_for_byte_the_stdlibs(value) -> None:
    try:
        expected = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            fast_json.canonical(value)
        return
    assert fast_json.canonical(value) == expected


def test_a_document_as_deep_as_orjson_reads_is_decoded_without_recursion() -> None:
    deep = '{"command_id": "c", "payload": ' + "[" * 1000 + "1.5" + "]" * 1000 + "}"
    with pytest.raises(RecursionError):  # the stdlib's answer, as before orjson
        json.loads(deep)
    assert fast_json.loads('{"a": ' + "[" * 1000 + "1" + "]" * 1000 + "}")["a"] is not None


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_float_free_is_canonical_for_documents_without_floats(value) -> None:
    assert not fast_json.has_float(value)
    try:
        expected = fast_json.canonical(value)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            fast_json.canonical_float_free(value)
        return
    assert fast_json.canonical_float_free(value) == expected


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_signing_still_refuses_nan_and_infinities_anywhere(bad: float) -> None:
    from payments.contract.signing import UnsignableCommand, canonical_json

    with pytest.raises(UnsignableCommand):
        canonical_json({"payload": {"list": [1, {"x": bad}]}})
    assert canonical_json({"b": [1.5], "a": 1}) == b'{"a":1,"b":[1.5]}'
