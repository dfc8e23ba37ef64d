"""A refusal of the database role is one sentence naming the role to use, not a traceback."""

from __future__ import annotations

import psycopg
from eventsourcing.persistence import ProgrammingError

from payments.cli.errors import explain


def test_a_permission_denied_names_the_principals_that_may() -> None:
    denied = psycopg.errors.InsufficientPrivilege("permission denied for table payments_events")
    said = explain(denied)
    assert said is not None and "--principal audit" in said and "payments_events" in said


def test_also_when_eventsourcing_wrapped_it() -> None:
    denied = psycopg.errors.InsufficientPrivilege("permission denied for table payments_events")
    try:
        raise ProgrammingError(str(denied)) from denied
    except ProgrammingError as wrapped:
        said = explain(wrapped)
    assert said is not None and "database refused it" in said


def test_other_programming_errors_stay_bugs() -> None:
    assert explain(ProgrammingError("syntax error at or near SELEC")) is None
