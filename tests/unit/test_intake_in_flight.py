"""Answers in flight: offsets are handed over for commit only in poll order, acked."""

from __future__ import annotations

from payments.engine.in_flight import AnsweredBatch, InFlight
from payments.engine.publisher import Delivery


def batch(offset: int) -> tuple[AnsweredBatch, Delivery, object]:
    delivery = Delivery()
    acks = [delivery.expect() for _ in range(2)]  # two answers sent, none acked yet
    return AnsweredBatch({"p0": offset}, [], [], delivery, 0.0), delivery, acks


def test_a_later_batch_acked_first_waits_for_the_earlier_one() -> None:
    in_flight = InFlight()
    first, _, first_acks = batch(10)
    second, _, second_acks = batch(20)
    in_flight.add(first)
    in_flight.add(second)

    for ack in second_acks:  # type: ignore[attr-defined]
        ack(None, None)
    assert in_flight.settled_prefix() == []  # batch 1 still unacked: nothing to commit

    first_acks[0](None, None)  # type: ignore[index]
    assert in_flight.settled_prefix() == []  # one answer of batch 1 still pending
    first_acks[1](None, None)  # type: ignore[index]
    assert [b.next_offsets for b in in_flight.settled_prefix()] == [{"p0": 10}, {"p0": 20}]
    assert len(in_flight) == 0


def test_a_failed_answer_is_handed_over_unacknowledged_and_holds_the_later_ones() -> None:
    in_flight = InFlight()
    first, delivery, first_acks = batch(10)
    second, _, _ = batch(20)
    in_flight.add(first)
    in_flight.add(second)
    first_acks[0](None, None)  # type: ignore[index]
    first_acks[1]("broker down", None)  # type: ignore[index]

    ready = in_flight.settled_prefix()
    assert ready == [first]  # the caller must send it again before committing it
    assert delivery.settled and not delivery.acknowledged
    assert in_flight.oldest() is second  # batch 2 still waits for its own acks
