"""The principals projection as worked examples: roles follow grants and revocations,
an API key holds its hash, expiry and revocation; re-sent events change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from projections.principals.fold import fold_api_keys, fold_principals

T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)
T1 = datetime(2026, 11, 28, 11, tzinfo=UTC)


def event(kind: str, aggregate: str, version: int, at: datetime = T0, **payload: Any) -> dict:
    return {
        "event_type": kind,
        "aggregate_id": aggregate,
        "aggregate_version": version,
        "recorded_at": at,
        "payload": payload,
    }


def test_roles_follow_grants_and_revocations_and_a_resend_is_skipped() -> None:
    created = event("Principal.Created", "p1", 1, principal="ops@it", roles="wallet auditor")
    granted = event("Principal.RolesGranted", "p1", 2, T1, roles="treasury")
    revoked = event("Principal.RolesRevoked", "p1", 3, T1, roles="wallet")
    rows: dict[str, dict] = {}

    assert fold_principals(rows, [created, granted, revoked]) == {"p1"}
    assert rows["p1"]["roles"] == "auditor treasury"
    assert (rows["p1"]["last_version"], rows["p1"]["updated_at"]) == (3, T1)
    assert fold_principals(rows, [granted]) == set()  # a relay re-send
    assert rows["p1"]["roles"] == "auditor treasury"


def test_an_api_key_keeps_its_hash_and_expiry_and_is_revoked_once() -> None:
    issued = event(
        "ApiKey.Issued",
        "k1",
        1,
        key_prefix="0123456789ab",
        principal="ops@it",
        secret_sha256="f" * 64,
        expires_at="2027-02-26T10:00:00Z",
        scopes="",
    )
    rows: dict[str, dict] = {}
    fold_api_keys(rows, [issued])
    key = rows["k1"]
    assert (key["prefix"], key["secret_sha256"], key["revoked_at"]) == (
        "0123456789ab",
        "f" * 64,
        None,
    )
    assert key["expires_at"] == datetime(2027, 2, 26, 10, tzinfo=UTC)

    fold_api_keys(rows, [event("ApiKey.Revoked", "k1", 2, T1, reason="left")])
    assert rows["k1"]["revoked_at"] == T1
    assert fold_api_keys(rows, [event("ApiKey.Revoked", "k2", 2, T1, reason="x")]) == set()


def test_other_events_are_not_the_projections_business() -> None:
    rows: dict[str, dict] = {}
    noise = event("Account.Opened", "a1", 1, account_id="a")
    assert fold_principals(rows, [noise]) == set() and fold_api_keys(rows, [noise]) == set()
