"""Which versions a batch lacks (projections.gaps), and how a quarantine turns health red."""

from __future__ import annotations

import psycopg
from prometheus_client import CollectorRegistry

from payments.runtime.observability.health import HealthMonitor
from payments.runtime.observability.metrics import Metrics
from projections.events import BadEvent
from projections.gaps import NotInStore, gaps
from projections.quarantine import poisoned, reason_label

A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"


def event(aggregate_id: str, version: int, event_type: str = "Account.Credited") -> dict:
    return {"aggregate_id": aggregate_id, "aggregate_version": version, "event_type": event_type}


def test_a_batch_that_follows_the_stored_versions_has_no_gap() -> None:
    batch = [event(A, 4), event(A, 5), event(B, 1)]
    assert gaps(batch, {A: 3}) == {}


def test_re_sends_at_or_below_the_stored_version_are_no_gap() -> None:
    assert gaps([event(A, 2), event(A, 3)], {A: 3}) == {}


def test_version_n_plus_2_before_n_plus_1_asks_for_n_plus_1() -> None:
    # Stored 3; the batch holds 5 (new partition, read first) and 7: 4 and 6 are missing.
    assert gaps([event(A, 5), event(A, 7)], {A: 3}) == {A: (3, 7)}


def test_an_aggregate_never_applied_asks_from_version_1() -> None:
    assert gaps([event(B, 3)], {}) == {B: (0, 3)}


def test_a_hole_filled_within_the_batch_out_of_order_is_no_gap() -> None:
    assert gaps([event(A, 6), event(A, 4), event(A, 5)], {A: 3}) == {}


def test_only_relevant_events_ask_for_holes() -> None:
    def items(e: dict) -> bool:
        return e["event_type"] == "Account.Credited"

    batch = [event(A, 9, "Account.Debited"), event(B, 5)]
    assert gaps(batch, {A: 2, B: 4}, items) == {}
    assert gaps([event(A, 9)], {A: 2}, items) == {A: (2, 9)}


def test_a_forged_huge_version_is_counted_never_listed() -> None:
    assert gaps([event(A, 10**15)], {A: 1}) == {A: (1, 10**15)}


def test_quarantine_reasons_are_a_bounded_set() -> None:
    assert reason_label(BadEvent("x")) == "unreadable"
    assert reason_label(NotInStore("x")) == "not_in_store"
    assert reason_label(psycopg.errors.NumericValueOutOfRange("x")) == "unstorable"
    assert reason_label(UnicodeEncodeError("utf-8", "\udc00", 0, 1, "surrogate")) == "unfoldable"
    # The reason is stored as text: a NUL in the error's message is written out.
    assert "\x00" not in poisoned(0, 1, BadEvent("a\x00b"), b"").reason


def test_an_open_quarantine_keeps_health_red_with_its_reason_until_acknowledged() -> None:
    metrics = Metrics(CollectorRegistry())
    monitor = HealthMonitor(metrics, lambda: (True, 10), lambda: True)
    monitor.sample()
    assert monitor.report().ok

    metrics.record_quarantine("balances", 2, "unstorable: out of range")
    report = monitor.report()
    assert not report.ok and report.http_status == 503
    assert report.to_json()["alarms"] == {
        "balances.quarantine": "2 record(s) quarantined, last: unstorable: out of range"
    }

    metrics.record_quarantine("balances", 0, None)  # acknowledged
    assert monitor.report().ok
    assert "alarms" not in monitor.report().to_json()
