"""User mistakes and unreachable services become one sentence, not a traceback.

`payments --debug …` shows the traceback instead, for bug reports.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from payments.runtime.settings import MissingSetting

HINT_SERVICES = 'start them with `payments services up` and `eval "$(payments services env)"`'


def explain(error: BaseException) -> str | None:
    """One sentence saying what went wrong and what to do, or None for a real bug."""
    if isinstance(error, MissingSetting):
        return str(error)
    signer = sys.modules.get("payments.client.signer")
    if signer is not None and isinstance(error, signer.NoSigningKey):
        return str(error)
    identities = sys.modules.get("payments.ledger.identities")
    if identities is not None and isinstance(error, identities.IdentityError):
        return str(error)
    if isinstance(error, ValidationError):
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors())
        return f"invalid PAYMENTS_* setting ({fields}): check your environment"
    # An error of a client library that was never imported cannot be this one: looking
    # only in sys.modules keeps a quick command from paying for Kafka's import.
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(error, psycopg.OperationalError):
        # psycopg's message names host and port, never the password.
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "refused"
        return f"cannot reach PostgreSQL ({first_line}); {HINT_SERVICES}"
    if _permission_denied(error):
        return (
            f"the database refused it ({_first_line(error)}): this command needs another "
            "database role, e.g. `payments services env --principal audit` for verify and "
            "history, `--principal projections` for replay (docs/security.md)"
        )
    kafka_errors = sys.modules.get("kafka.errors")
    if kafka_errors is not None and isinstance(error, kafka_errors.KafkaError):
        return f"Kafka failed ({type(error).__name__}: {error}); {HINT_SERVICES}"
    return None


def _permission_denied(error: BaseException) -> bool:
    """PostgreSQL's refusal, also when eventsourcing re-raised it as its own error."""
    psycopg = sys.modules.get("psycopg")
    chain = [error, error.__cause__]
    return psycopg is not None and any(
        isinstance(e, psycopg.errors.InsufficientPrivilege) for e in chain if e is not None
    )


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
