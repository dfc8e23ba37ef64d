"""When the projection loop drops a batch and seeks to the stored positions."""

from __future__ import annotations

from consumers.loop import out_of_step


def test_a_batch_that_continues_the_stored_positions_is_applied() -> None:
    assert not out_of_step({0: 10, 1: 0}, {0: 10, 1: None}, {0: 10})


def test_a_batch_after_a_gap_in_offsets_is_applied() -> None:
    # Offsets can skip (retention moved the log start): nothing is applied twice.
    assert not out_of_step({0: 15}, {0: 10}, {0: 10})


def test_a_batch_starting_before_the_stored_position_is_dropped() -> None:
    # Records fetched before a seek: they are already in the projection.
    assert out_of_step({0: 7}, {0: 10}, {0: 10})


def test_a_partition_without_a_known_position_is_dropped() -> None:
    assert out_of_step({2: 0}, {0: 10}, {0: 10})


def test_a_stored_position_that_moved_underneath_is_dropped() -> None:
    # A replay handed over new positions, or another member committed a batch.
    assert out_of_step({0: 10}, {0: 10}, {0: 25})
    assert out_of_step({0: 0}, {0: None}, {0: 3})
