"""The store's transcoder writes exactly the library's bytes, for every stored event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from eventsourcing.persistence import JSONTranscoder
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.ledger.store import in_memory_application
from payments.ledger.transcoder import FastJSONTranscoder
from tests.support.events import EventFactory


def both() -> tuple[JSONTranscoder, FastJSONTranscoder]:
    app = in_memory_application()
    reference = JSONTranscoder()
    app.register_transcodings(reference)
    fast = FastJSONTranscoder()
    app.register_transcodings(fast)
    return reference, fast


def test_every_event_of_a_business_day_encodes_to_the_librarys_bytes() -> None:
    story = EventFactory()
    story.pay_and_capture()
    story.send("chargeback_payment", payment_id="p1", amount=100, reason="fraud\n«x»")
    reference, fast = both()
    states = [
        vars(story.app.mapper.to_domain_event(n)) | {}
        for n in story.app.recorder.select_notifications(start=1, limit=1000)
    ]
    assert len(states) > 20
    for state in states:
        state = {k: v for k, v in state.items() if k not in ("originator_id", "originator_version")}
        assert fast.encode(state) == reference.encode(state)


text = st.text()
flat_values = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | text
moments = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=10), flat_values | moments, max_size=8))
def test_flat_states_encode_to_the_librarys_bytes(state: dict) -> None:
    reference, fast = both()
    try:
        expected = reference.encode(state)
    except UnicodeEncodeError:  # a lone surrogate: the library cannot store it either
        return
    assert fast.encode(state) == expected


def test_what_is_not_flat_is_left_to_the_library() -> None:
    import uuid

    reference, fast = both()
    snapshot_like = {
        "_id": uuid.uuid4(),
        "_created_on": datetime.now(UTC),
        "items": [1, 2],
        "nested": {"a": 1},
    }
    assert fast.encode(snapshot_like) == reference.encode(snapshot_like)


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))]) | st.none()),
    st.dictionaries(st.text(max_size=10), flat_values | moments, max_size=6),
)
def test_an_events_timestamp_encodes_to_the_librarys_bytes(timestamp, rest: dict) -> None:
    reference, fast = both()
    state = {"timestamp": timestamp, **rest} if timestamp is not None else {"timestamp": 1}
    try:
        expected = reference.encode(state)
    except UnicodeEncodeError:
        return
    assert fast.encode(state) == expected


def test_a_datetime_utc_timestamp_at_the_edges_of_its_range() -> None:
    reference, fast = both()
    for moment in (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC),
                   datetime(2026, 12, 2, 23, 0, tzinfo=UTC)):  # fmt: skip
        state = {"timestamp": moment, "originator_topic": "x:Y", "amount": 5}
        assert fast.encode(state) == reference.encode(state)
