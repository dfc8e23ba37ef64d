"""The events topic's headers: what the relay writes is what the read side reads."""

from __future__ import annotations

from payments.contract.wire import event_headers
from projections.headers import followed, header_position, passed_over


def test_the_relays_headers_name_the_aggregate_type_and_position() -> None:
    headers = event_headers({"aggregate_type": "Account", "position": 42})
    assert not passed_over(headers, followed({"Account.Opened", "Payment.Captured"}))
    assert passed_over(headers, followed({"Principal.Created"}))
    assert header_position(headers) == 42


def test_a_record_without_a_readable_header_is_decoded() -> None:
    follows = followed({"Principal.Created"})
    assert not passed_over(None, follows)
    assert not passed_over([], follows)
    assert not passed_over([("other", b"Account")], follows)
    assert not passed_over([("aggregate_type", None)], follows)
    assert header_position([("position", b"-1")]) is None
    assert header_position([("position", b"12x")]) is None
    assert header_position(None) is None
