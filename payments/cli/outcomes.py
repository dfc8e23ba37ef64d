"""Outcomes of commands a CLI run published, one JSON line each, and its exit code."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the client (Kafka) is imported only by the commands that send
    from payments.client.send import SendResult


def echo_outcomes(result: SendResult) -> None:
    """Print every sent command's outcome (`timed_out` if none came); exit 1 if any was
    not accepted or never answered."""
    failed = bool(result.missing)
    for command_id in result.sent:
        outcome = result.outcomes.get(command_id)
        if outcome is None:
            outcome = {"command_id": command_id, "status": "timed_out"}
        failed = failed or outcome.get("status") != "accepted"
        click.echo(json.dumps(outcome))
    if failed:
        raise SystemExit(1)
