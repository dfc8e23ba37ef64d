"""The signing key of a client process, from the settings (docs/security.md)."""

from __future__ import annotations

from typing import Any

from payments.contract.signing import Signer
from payments.runtime.settings import Settings


class NoSigningKey(RuntimeError):
    """No key configured, or the file cannot be read as one."""


def load_signer(settings: Settings) -> Signer:
    if settings.signing_key_file is None or not settings.signing_principal:
        raise NoSigningKey(
            "no signing key: set PAYMENTS_SIGNING_KEY_FILE and PAYMENTS_SIGNING_PRINCIPAL "
            '(`eval "$(payments services env)"` does for the local services; '
            "`payments keys create` makes a key)"
        )
    try:
        pem = settings.signing_key_file.read_bytes()
        return Signer.from_pem(pem, settings.signing_principal)
    except (OSError, ValueError, TypeError) as error:
        raise NoSigningKey(f"cannot read {settings.signing_key_file}: {error}") from None


def signed_as(signer: Signer, envelope: dict[str, Any]) -> dict[str, Any]:
    """`envelope` issued by the signer's principal: its actor is set to it, then signed."""
    if "signature" in envelope:
        return envelope  # signed elsewhere: sent as it is
    return signer.sign({**envelope, "actor": signer.principal})
