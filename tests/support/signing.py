"""Signing for tests: every principal a test names gets a key, registered where needed.

Tests play the clients: a command's `actor` names who issues it, and `sign` signs it
with that principal's key (made once per test process, never written to disk), so
the engine's real checks (key, signature, roles) pass. A document that cannot be
signed (its actor is not clean text, or a value has no canonical form) is left
unsigned: the engine refuses it on its envelope before it looks for a signature.

`SignedLedger` wraps a real `Ledger` for in-process tests: it registers each
principal's key in the ledger's store on first use (with every role unless the test
says otherwise), signs, and decides. `register_in_store` does the same for a
PostgreSQL store that an engine process reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payments.contract.signing import Signer, UnsignableCommand
from payments.domain.identity import is_principal_name
from payments.domain.roles import ROLES
from payments.ledger.identities import register_key
from payments.ledger.service import IncomingCommand, Ledger, Outcome
from payments.ledger.store import PaymentsApplication

ALL_ROLES = frozenset(ROLES)
_SIGNERS: dict[str, Signer] = {}


def signer_for(principal: str) -> Signer:
    signer = _SIGNERS.get(principal)
    if signer is None:
        signer = _SIGNERS[principal] = Signer(Ed25519PrivateKey.generate(), principal)
    return signer


def principal_of(envelope: Any) -> str | None:
    if not isinstance(envelope, dict):
        return None
    actor = envelope.get("actor")
    return actor if is_principal_name(actor) else None


def sign(envelope: Any) -> Any:
    """`envelope` signed by its actor's key; as it was when it cannot be signed."""
    principal = principal_of(envelope)
    if principal is None or "signature" in envelope:
        return envelope
    try:
        return signer_for(principal).sign(envelope)
    except UnsignableCommand:
        return envelope


def register(app: PaymentsApplication, principal: str, roles: frozenset[str] = ALL_ROLES) -> Signer:
    signer = signer_for(principal)
    register_key(
        app, principal=principal, public_key=signer.public_key, actor="tests", roles=set(roles)
    )
    return signer


class SignedLedger:
    """A real `Ledger` whose commands are signed by their actors, as clients would."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.app = ledger.app
        self.cache = ledger.cache
        self._registered: set[str] = set()

    def _signed(self, envelope: Any) -> Any:
        principal = principal_of(envelope)
        if principal is not None and principal not in self._registered:
            register(self.app, principal)
            self._registered.add(principal)
        return sign(envelope)

    def __getattr__(self, name: str) -> Any:  # the rest of the Ledger, as it is
        return getattr(self.ledger, name)

    def decide(self, raw: dict[str, Any]) -> Outcome:
        return self.ledger.decide(self._signed(raw))

    def decide_batch(self, commands: Sequence[IncomingCommand], **kwargs: Any) -> list[Outcome]:
        signed = [
            IncomingCommand(self._signed(c.raw), c.source, c.rejection)
            if c.rejection is None
            else c
            for c in commands
        ]
        return self.ledger.decide_batch(signed, **kwargs)


def signed_ledger(app: PaymentsApplication) -> SignedLedger:
    return SignedLedger(Ledger(app))


_REGISTERED_IN: set[tuple[str, str]] = set()


def register_in_store(principal: str, roles: frozenset[str] = ALL_ROLES) -> Signer:
    """The principal's key, registered in the store of this process's settings (once)."""
    from payments.ledger.store import open_application
    from payments.runtime.settings import Settings

    settings = Settings()
    where = (settings.require_database_url(), principal)
    if where not in _REGISTERED_IN:
        app = open_application(settings)
        try:
            register(app, principal, roles)
        finally:
            app.close()
        _REGISTERED_IN.add(where)
    return signer_for(principal)


def signed_for_kafka(envelope: Any) -> Any:
    """`envelope` signed by its actor, whose key the engine under test will find."""
    principal = principal_of(envelope)
    if principal is not None and "signature" not in envelope:
        register_in_store(principal)
    return sign(envelope)
