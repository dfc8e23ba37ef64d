"""POST /commands' envelope: the caller's command, signed by the API as its gateway.

The body is the Kafka envelope without `key_id` and `signature`. The API sets
`actor` and `on_behalf_of` to the principal of the API key and signs with its own
key, whose principal holds only the `gateway` role (docs/security.md, "Signing on
behalf of a principal"): the engine then decides the command with the caller's
roles and idempotency, and records the gateway in `via`. A body that names anyone
else as actor or on_behalf_of is refused (422), not silently rewritten: a client
that believes it speaks for someone else has a bug worth hearing about, and nothing
is published for it. `key_id`/`signature` are not fields of the body at all (422).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from payments.api.problems import ApiProblem
from payments.contract.signing import Signer, UnsignableCommand
from payments.runtime.settings import Settings

# The contract's command_id rule (docs/contract.md): 1-128 printable ASCII characters.
COMMAND_ID_PATTERN = r"^[\x20-\x7E]{1,128}$"


class CommandRequest(BaseModel):
    """A command as on Kafka, unsigned: the API signs it for the key's principal."""

    model_config = ConfigDict(extra="forbid")

    command_id: str | None = Field(
        default=None,
        pattern=COMMAND_ID_PATTERN,
        description="the idempotency key; or send it as the Idempotency-Key header",
    )
    type: str = Field(max_length=64, description="a command type (docs/contract.md)")
    payload: dict[str, Any]
    issued_at: str | None = Field(default=None, description="optional ISO-8601, informational")
    actor: str | None = Field(default=None, description="if given, the API key's principal")
    on_behalf_of: str | None = Field(default=None, description="if given, the same")


def load_gateway(settings: Settings) -> Signer | None:
    """The API's gateway key, or None when none is configured (POST /commands is 503)."""
    if settings.api_signing_key_file is None or not settings.api_signing_principal:
        return None
    pem = settings.api_signing_key_file.read_bytes()  # unreadable: fail at start, loudly
    return Signer.from_pem(pem, settings.api_signing_principal)


def signed_envelope(
    gateway: Signer, request: CommandRequest, principal: str, idempotency_key: str | None
) -> dict[str, Any]:
    """The envelope to publish, signed on behalf of `principal`; ApiProblem 422 if not."""
    command_id = request.command_id or idempotency_key
    if command_id is None:
        raise _invalid("command_id", "give command_id in the body or an Idempotency-Key header")
    if idempotency_key is not None and command_id != idempotency_key:
        raise _invalid("Idempotency-Key", "differs from the body's command_id")
    for name in ("actor", "on_behalf_of"):
        given = getattr(request, name)
        if given is not None and given != principal:
            raise _invalid(name, f"must be {principal}, the API key's principal, or absent")
    envelope: dict[str, Any] = {
        "command_id": command_id,
        "type": request.type,
        "actor": principal,
        "on_behalf_of": principal,
        "payload": request.payload,
    }
    if request.issued_at is not None:
        envelope["issued_at"] = request.issued_at
    try:
        return gateway.sign(envelope)
    except UnsignableCommand:
        raise _invalid("payload", "holds a value JSON cannot spell canonically") from None


def _invalid(field: str, why: str) -> ApiProblem:
    return ApiProblem("invalid-request", f"{field}: {why}", errors=[{"loc": [field], "msg": why}])
