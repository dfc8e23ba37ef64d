"""The moment of a scheduled command (a sweep, payments.tools.schedule).

A sweep's payload is `{"as_of": "<ISO-8601 timestamp with its zone>"}`; its handler
decides from `as_of` and the stored aggregates only, so the same command always
means the same thing. `as_of` is spelt one way (UTC, whole seconds, `Z`), which is
also what makes the scheduler's command ids deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payments.domain.errors import AsOfInFuture

MAX_CLOCK_SKEW = timedelta(seconds=60)


def parse_as_of(value: object) -> datetime:
    """An aware ISO-8601 timestamp, in UTC; ValueError saying why not."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 timestamp string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be an ISO-8601 timestamp, got {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise ValueError("must say its time zone (e.g. 2026-12-02T10:00:00Z)")
    return moment.astimezone(UTC)


def as_of_text(moment: datetime) -> str:
    """`moment` as a sweep spells it: UTC, to the second, with `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_as_of(as_of: datetime, now: datetime | None = None) -> None:
    """Refuse an `as_of` ahead of the engine's clock (beyond a minute of skew): nobody
    may make a deadline pass early. The only clock a sweep reads; `now` for tests."""
    clock = datetime.now(UTC) if now is None else now
    if as_of > clock + MAX_CLOCK_SKEW:
        raise AsOfInFuture(
            f"payload.as_of: {as_of_text(as_of)} is ahead of the engine's clock "
            f"({as_of_text(clock)}) by more than {int(MAX_CLOCK_SKEW.total_seconds())} s"
        )
