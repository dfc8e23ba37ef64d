"""The projections' row documents: orjson's bytes decode to the stdlib encoder's values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from projections import sqlrows

aware = st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson refuses, the stdlib's path takes over
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()  # lone surrogates too
    | aware
    | st.uuids()
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def decoded(text: bytes | str) -> Any:
    return json.loads(text)


@given(st.lists(st.dictionaries(st.text(), documents, max_size=5), max_size=5))
def test_orjson_rows_decode_to_the_stdlib_values(rows: list[dict[str, Any]]) -> None:
    assert decoded(sqlrows._dumps(rows)) == decoded(sqlrows._stdlib_dumps(rows))


def test_what_orjson_refuses_is_spelt_by_the_stdlib() -> None:
    for hostile in ({"amount": 10**30}, {"account_id": "bad\udc00account"}):
        assert sqlrows._dumps([hostile]) == sqlrows._stdlib_dumps([hostile])


def test_timestamps_and_ids_are_spelt_as_before() -> None:
    row = {
        "at": datetime(2026, 12, 3, 5, 34, 4, 866705, tzinfo=UTC),
        "id": UUID("00000000-0000-4000-8000-000000000001"),
    }
    assert decoded(sqlrows._dumps([row])) == [
        {"at": "2026-12-03T05:34:04.866705+00:00", "id": "00000000-0000-4000-8000-000000000001"}
    ]
