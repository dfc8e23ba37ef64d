"""Who is calling, and may they: API keys checked against the `principals` projection.

`Authorization: Bearer pek_<prefix>_<secret>`. Missing, malformed, unknown, wrong,
revoked and expired keys are all 401 `unauthenticated` (the detail says which of
the last two, which only the key's holder can learn), and so is a right key whose
principal the projection does not hold yet (a new principal's key can arrive on its
partition first; the detail says to retry); a key over its rate limit is
429; a scope the principal's roles do not give is 403 `forbidden`. Scopes are
derived at every request from the roles the projection holds now. A key restricted
to accounts carries them in `Caller.accounts` (payments.api.restriction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from payments.api.problems import ApiProblem
from payments.contract.api_keys import parse_api_key, secret_matches
from payments.domain.scopes import effective_scopes
from projections.queries import get_api_key

bearer = HTTPBearer(auto_error=False, description="an API key: payments keys api-create")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="payments"'}


@dataclass(frozen=True)
class Caller:
    principal: str
    key_prefix: str
    scopes: frozenset[str]
    accounts: frozenset[str] = frozenset()  # empty: any account


def _refuse(detail: str) -> ApiProblem:
    return ApiProblem("unauthenticated", detail, _CHALLENGE)


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    if credentials is None:
        raise _refuse("send an API key: Authorization: Bearer <key>")
    parsed = parse_api_key(credentials.credentials)
    if parsed is None:
        raise _refuse("the API key is not valid")
    prefix, secret = parsed
    with request.app.state.pool.connection() as conn:
        key = get_api_key(conn, prefix)
    if key is None or not secret_matches(secret, key["secret_sha256"]):
        raise _refuse("the API key is not valid")
    if key["revoked_at"] is not None:
        raise _refuse("the API key was revoked")
    if key["expires_at"] <= datetime.now(UTC):
        raise _refuse("the API key has expired")
    if not key["principal_known"]:
        # A new principal's key can be projected before the principal (another
        # partition): its roles are not known yet, so neither is what it may do.
        raise _refuse("the key's principal is not in the read model yet: retry shortly")
    request.state.principal, request.state.key_prefix = key["principal"], prefix
    wait = request.app.state.limiter.retry_after(prefix)
    if wait is not None:
        raise ApiProblem("rate-limited", f"retry in {wait} s", {"Retry-After": str(wait)})
    scopes = effective_scopes(key["roles"].split(), key["scopes"])
    return Caller(key["principal"], prefix, scopes, frozenset(key["accounts"].split()))


def requires(scope: str) -> Callable[[Caller], Caller]:
    """A dependency: the authenticated caller, if its key has `scope`."""

    def check(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if scope not in caller.scopes:
            raise ApiProblem("forbidden", f"{caller.principal} lacks the scope {scope}")
        return caller

    return check
