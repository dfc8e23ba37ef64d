"""The scheduler: deterministic command ids, one moment per tick, and every
registered sweep a command of the `scheduler` role whose payload is `as_of` only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from payments.client.send import SendResult
from payments.domain.commands import PAYLOAD_MODELS, Sweep, parse_envelope
from payments.domain.errors import InvalidCommand
from payments.domain.handlers import HANDLERS
from payments.domain.roles import ROLE_COMMANDS
from payments.runtime.settings import Settings
from payments.tools import schedule

MOMENT = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)


def test_a_sweep_command_id_names_its_type_and_moment() -> None:
    expected = "schedule:expire_x:2026-12-02T10:00:00Z"
    assert schedule.sweep_command_id("expire_x", MOMENT) == expected
    plus_one = MOMENT.astimezone(timezone(timedelta(hours=1)))
    assert schedule.sweep_command_id("expire_x", plus_one) == expected


def test_a_tick_is_one_moment_to_the_second_in_utc() -> None:
    moment = schedule.tick_moment(MOMENT.replace(microsecond=999_999))
    assert moment == MOMENT and moment.tzinfo is UTC
    with pytest.raises(ValueError, match="time zone"):
        schedule.tick_moment(datetime(2026, 12, 2, 10, 0))  # naive: the point


def test_the_same_tick_twice_publishes_the_same_commands() -> None:
    sent: list[list[str]] = []

    def fake_send(settings: Settings, lines: list[str], timeout: float) -> SendResult:
        sent.append(list(lines))
        return SendResult()

    sweeps = {"expire_a": "a", "expire_b": "b"}
    original = dict(schedule.SWEEPS)
    schedule.SWEEPS.clear()
    schedule.SWEEPS.update(sweeps)
    try:
        for _ in range(2):
            schedule.tick(Settings(), MOMENT, send=fake_send)
    finally:
        schedule.SWEEPS.clear()
        schedule.SWEEPS.update(original)
    assert sent[0] == sent[1] and len(sent[0]) == 2
    envelopes = schedule.sweep_envelopes(MOMENT, sweeps)
    assert [e["command_id"] for e in envelopes] == [
        "schedule:expire_a:2026-12-02T10:00:00Z",
        "schedule:expire_b:2026-12-02T10:00:00Z",
    ]
    assert all(e["payload"] == {"as_of": "2026-12-02T10:00:00Z"} for e in envelopes)


@pytest.mark.parametrize("command_type", sorted(schedule.SWEEPS))
def test_every_registered_sweep_follows_the_rules(command_type: str) -> None:
    assert PAYLOAD_MODELS[command_type] is Sweep
    assert command_type in HANDLERS
    assert command_type in ROLE_COMMANDS["scheduler"]
    (envelope,) = schedule.sweep_envelopes(MOMENT, {command_type: ""})
    expected = Sweep.model_validate({"as_of": "2026-12-02T10:00:00Z"})
    assert parse_envelope(envelope).payload == expected


def as_of_of(value: Any) -> datetime:
    return Sweep.model_validate({"as_of": value}).as_of


def test_as_of_is_an_aware_iso_timestamp_read_in_utc() -> None:
    assert as_of_of("2026-12-02T11:00:00+01:00") == MOMENT
    assert as_of_of("2026-12-02T11:00:00+01:00").tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("2026-12-02T10:00:00", "time zone"),
        ("yesterday", "ISO-8601"),
        (1764669600, "string"),
    ],
)
def test_a_bad_as_of_is_an_invalid_command_naming_it(value: Any, why: str) -> None:
    from pydantic import ValidationError

    from payments.domain.commands import _rejection  # the parser's own error mapping

    with pytest.raises(ValidationError) as error:
        Sweep.model_validate({"as_of": value})
    rejection = _rejection(error.value, prefix="payload.")
    assert isinstance(rejection, InvalidCommand)
    assert rejection.message.startswith("payload.as_of:") and why in rejection.message
