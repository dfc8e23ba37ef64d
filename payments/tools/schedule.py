"""Scheduled commands: sweeps that make time pass in the engine (docs/contract.md,
"Scheduled commands").

A *sweep* is an ordinary signed command whose payload is only `{"as_of": "<ISO-8601
UTC>"}` and whose handler acts on what is due at that moment (disputes whose
evidence due date passed, later authorizations that expired). The engine never
reads a clock to decide what is due: the handler compares stored dates with
`as_of`, so a decision depends on the command alone. The one use of the engine's
clock is a guard: an `as_of` more than a minute ahead of it is refused
(`as_of_in_future`), so no issuer can make a deadline pass early.

`payments schedule tick [--as-of T]` publishes every registered sweep for one
moment, signed with the settings' key (its principal needs the `scheduler` role),
and prints the outcomes. The command id is `schedule:<type>:<as_of>`, so a tick run
twice for the same moment (a cron retry, two schedulers) is one decision: the second
is answered `replayed: true` and applies nothing. Run it from cron or a systemd
timer, e.g. every minute.

How another feature registers its sweep (three lines and a handler):

1. a command type whose payload model is `payments.domain.commands.Sweep`, in
   `PAYLOAD_MODELS` (commands.py) and `HANDLERS` (handlers.py); its handler calls
   `payments.domain.sweeps.check_as_of(payload.as_of)` first, then uses only
   `payload.as_of` and the aggregates;
2. the type in the `scheduler` role (payments/domain/roles.py);
3. the type and a one-line summary in `SWEEPS` below.

tests/unit/test_schedule.py holds every registered sweep to those rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from payments.client.send import SendResult, send_commands
from payments.domain.sweeps import as_of_text
from payments.runtime.settings import Settings

# command type -> what it does, one line (shown by `payments schedule list`).
SWEEPS: dict[str, str] = {
    "expire_disputes": "disputes still needing a response after their evidence due date are lost",
    "expire_authorizations": "authorizations past their expires_at release what they still hold",
}


def sweep_command_id(command_type: str, as_of: datetime) -> str:
    return f"schedule:{command_type}:{as_of_text(as_of)}"


def tick_moment(as_of: datetime | None = None) -> datetime:
    """The moment of a tick: `as_of` (or now), in UTC, to the whole second."""
    moment = datetime.now(UTC) if as_of is None else as_of
    if moment.tzinfo is None:
        raise ValueError("as_of: must say its time zone (e.g. 2026-12-02T10:00:00Z)")
    return moment.astimezone(UTC).replace(microsecond=0)


def sweep_envelopes(as_of: datetime, sweeps: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The unsigned command of every registered sweep for one moment."""
    text = as_of_text(as_of)
    return [
        {
            "command_id": sweep_command_id(command_type, as_of),
            "type": command_type,
            "actor": "scheduler",  # replaced by the signing key's principal
            "issued_at": text,
            "payload": {"as_of": text},
        }
        for command_type in (SWEEPS if sweeps is None else sweeps)
    ]


def tick(
    settings: Settings,
    as_of: datetime | None = None,
    *,
    timeout: float = 30.0,
    send: Callable[..., SendResult] = send_commands,
) -> tuple[datetime, SendResult]:
    """Publish every sweep for `as_of` (default now), signed; the moment and outcomes."""
    moment = tick_moment(as_of)
    lines = [json.dumps(envelope) for envelope in sweep_envelopes(moment)]
    return moment, send(settings, lines, timeout=timeout)
