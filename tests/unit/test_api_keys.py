"""API keys: made once, stored as a hash, bound to a principal, revocable, expiring;
their scopes come from the principal's roles (payments.domain.scopes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments.contract.api_keys import new_api_key, parse_api_key, secret_matches
from payments.domain.identity import ApiKey
from payments.domain.ids import api_key_to_uuid
from payments.domain.roles import ROLES
from payments.domain.scopes import ROLE_SCOPES, SCOPES, effective_scopes, scopes_of
from payments.ledger.identities import (
    IdentityError,
    issue_api_key,
    register_key,
    revoke_api_key,
)
from payments.ledger.store import in_memory_application

LATER = datetime.now(UTC) + timedelta(days=30)


def test_a_key_parses_back_and_only_its_secret_matches_the_hash() -> None:
    made = new_api_key()
    assert parse_api_key(made.token) == (made.prefix, made.secret)
    assert secret_matches(made.secret, made.secret_sha256)
    assert not secret_matches(new_api_key().secret, made.secret_sha256)
    for wrong in ("", made.token + "x", made.token.replace("pek_", "sk_"), made.prefix):
        assert parse_api_key(wrong) is None


def test_every_role_has_scopes_and_every_scope_is_known() -> None:
    assert set(ROLE_SCOPES) == set(ROLES)
    assert set().union(*ROLE_SCOPES.values()) <= set(SCOPES)
    assert "commands:write" not in ROLE_SCOPES["auditor"]  # it issues nothing


def test_a_keys_scopes_are_its_roles_narrowed_by_its_own_list() -> None:
    assert scopes_of({"auditor"}) >= {"audit:read", "accounts:read"}
    assert effective_scopes({"auditor"}, "") == scopes_of({"auditor"})
    assert effective_scopes({"auditor"}, "audit:read commands:write") == {"audit:read"}
    assert effective_scopes(set(), "") == frozenset()


def test_issue_stores_the_hash_and_never_the_key_then_revoke_is_for_good() -> None:
    app = in_memory_application()
    register_key(app, principal="support@it", public_key=b"k" * 32, actor="op", roles={"auditor"})
    issued = issue_api_key(app, principal="support@it", expires_at=LATER, actor="op")

    key = app.load_many([api_key_to_uuid(issued.prefix)])[api_key_to_uuid(issued.prefix)]
    assert isinstance(key, ApiKey) and key.principal == "support@it"
    prefix, secret = parse_api_key(issued.token) or ("", "")
    assert prefix == issued.prefix and secret_matches(secret, key.secret_sha256)
    stored = b"".join(bytes(n.state) for n in app.recorder.select_notifications(start=1, limit=100))
    assert secret.encode() not in stored and issued.token.encode() not in stored

    assert revoke_api_key(app, prefix=issued.prefix, reason="left", actor="op") is True
    assert revoke_api_key(app, prefix=issued.prefix, reason="again", actor="op") is False


def test_a_key_needs_a_known_principal_known_scopes_and_a_future_expiry() -> None:
    app = in_memory_application()
    register_key(app, principal="support@it", public_key=b"k" * 32, actor="op", roles={"auditor"})
    with pytest.raises(IdentityError, match="no principal"):
        issue_api_key(app, principal="nobody@it", expires_at=LATER, actor="op")
    with pytest.raises(IdentityError, match="unknown scope"):
        issue_api_key(app, principal="support@it", expires_at=LATER, actor="op", scopes={"x"})
    with pytest.raises(IdentityError, match="future"):
        issue_api_key(
            app, principal="support@it", expires_at=datetime.now(UTC) - timedelta(1), actor="op"
        )
    with pytest.raises(IdentityError, match="no API key"):
        revoke_api_key(app, prefix="000000000000", reason="x", actor="op")
