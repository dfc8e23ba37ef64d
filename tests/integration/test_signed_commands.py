"""Intruders against the real engine: every command that is not properly signed by a
principal allowed to issue it is refused, and nothing of it is applied or remembered.

One engine process on a fresh topic prefix, the real broker and store. Each attempt
is published as a client would; its outcome is read from the results topic, and the
store is asked whether anything of it exists (the account it would have opened, the
command record that would remember it).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from payments.contract.signing import Signer
from payments.domain.command_record import CommandRecord
from payments.domain.identity import SigningKey
from payments.domain.ids import account_id_to_uuid, command_id_to_uuid, key_id_to_uuid
from payments.ledger.store import open_application
from payments.runtime.settings import Settings
from tests.support.engine import EngineProcess, engine_env, relay_from_now_on
from tests.support.kafka import (
    create_topics,
    outcomes_by_command,
    publish,
    read_topic,
    unique_prefix,
)
from tests.support.signing import register_in_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    prefix = unique_prefix("signed")
    topics = create_topics(settings.require_kafka_bootstrap(), prefix)
    relay_from_now_on(settings, topics.events)
    env = engine_env(settings, prefix, f"{prefix}-group")
    process = EngineProcess(env, tmp_path_factory.mktemp("signed") / "engine.log")
    yield topics
    assert process.stop() == 0


def opening(run: str, name: str, actor: str) -> dict[str, Any]:
    return {
        "command_id": f"{run}-{name}",
        "type": "open_account",
        "actor": actor,
        "payload": {"account_id": f"{name}-{run}", "currency": "EUR", "kind": "customer"},
    }


def send(settings: Settings, topics: Any, *envelopes: dict[str, Any]) -> dict[str, dict]:
    """Publish as they are (no signing here) and return the first outcome of each."""
    publish(
        settings.require_kafka_bootstrap(),
        topics.commands,
        [(e["command_id"].encode(), json.dumps(e).encode()) for e in envelopes],
    )
    wanted = {e["command_id"] for e in envelopes}
    records = read_topic(
        settings.require_kafka_bootstrap(),
        topics.command_results,
        lambda rs: wanted <= outcomes_by_command(rs).keys(),
        timeout=90,
    )
    found = outcomes_by_command(records)
    return {cid: found[cid][-1] for cid in wanted}  # the latest answer of each


def stored(settings: Settings, run: str, name: str) -> tuple[bool, bool]:
    """(the account exists, the command is remembered)."""
    app = open_application(settings, snapshots=False)
    try:
        account = account_id_to_uuid(f"{name}-{run}")
        record = command_id_to_uuid(f"{run}-{name}")
        loaded = app.load_many([account, record])
    finally:
        app.close()
    return account in loaded, isinstance(loaded.get(record), CommandRecord)


def refused_and_absent(
    settings: Settings, outcome: dict[str, Any], run: str, name: str, code: str
) -> None:
    assert (outcome["status"], outcome["code"]) == ("rejected", code), outcome
    assert stored(settings, run, name) == (False, False)


def test_a_properly_signed_command_is_accepted_and_remembered(settings, engine) -> None:
    run = uuid.uuid4().hex[:8]
    signer = register_in_store("signed@it")
    outcome = send(settings, engine, signer.sign(opening(run, "good", "signed@it")))
    assert outcome[f"{run}-good"]["status"] == "accepted"
    assert stored(settings, run, "good") == (True, True)


def test_unsigned_bad_tampered_and_unknown_key_commands_are_unauthenticated(
    settings, engine
) -> None:
    run = uuid.uuid4().hex[:8]
    signer = register_in_store("signed@it")
    unsigned = opening(run, "unsigned", "signed@it")
    garbage = {
        **opening(run, "garbage", "signed@it"),
        "key_id": signer.key_id,
        "signature": base64.b64encode(os.urandom(64)).decode(),
    }
    tampered = signer.sign(opening(run, "tampered", "signed@it"))
    tampered["payload"] = {**tampered["payload"], "kind": "external"}  # an unlimited account
    stranger = Signer(Ed25519PrivateKey.generate(), "signed@it")  # never registered
    unknown = stranger.sign(opening(run, "unknown", "signed@it"))
    impostor = signer.sign(opening(run, "impostor", "someone-else@it"))  # actor ≠ key's

    outcomes = send(settings, engine, unsigned, garbage, tampered, unknown, impostor)
    for name in ("unsigned", "garbage", "tampered", "unknown", "impostor"):
        refused_and_absent(settings, outcomes[f"{run}-{name}"], run, name, "unauthenticated")
    assert "not signed" in outcomes[f"{run}-unsigned"]["message"]
    assert "does not verify" in outcomes[f"{run}-tampered"]["message"]
    assert "not a registered key" in outcomes[f"{run}-unknown"]["message"]
    assert "principal of key" in outcomes[f"{run}-impostor"]["message"]

    # Not remembered: the rightful signed command with the same id is decided afresh.
    retried = send(settings, engine, signer.sign(unsigned))
    assert retried[f"{run}-unsigned"]["status"] == "accepted"
    assert retried[f"{run}-unsigned"]["replayed"] is False


def test_a_revoked_key_is_refused_from_the_next_command_on(
    settings, engine, service_env: dict[str, str]
) -> None:
    run = uuid.uuid4().hex[:8]
    principal = f"revoked-{run}@it"
    signer = register_in_store(principal)
    before = send(settings, engine, signer.sign(opening(run, "before", principal)))
    assert before[f"{run}-before"]["status"] == "accepted"  # the engine now caches the key

    revoked = subprocess.run(
        [sys.executable, "-m", "payments.cli", "keys", "revoke", signer.key_id,
         "--reason", "test: stolen"],
        env={**os.environ, **service_env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    after = send(settings, engine, signer.sign(opening(run, "after", principal)))
    refused_and_absent(settings, after[f"{run}-after"], run, "after", "unauthenticated")
    assert "revoked" in after[f"{run}-after"]["message"]


def test_a_command_outside_the_issuers_roles_is_forbidden(settings, engine) -> None:
    run = uuid.uuid4().hex[:8]
    principal = f"wallet-{run}@it"
    signer = register_in_store(principal, roles=frozenset({"wallet"}))
    outcome = send(settings, engine, signer.sign(opening(run, "forbidden", principal)))
    forbidden = outcome[f"{run}-forbidden"]
    assert (forbidden["status"], forbidden["code"]) == ("rejected", "forbidden")
    assert "roles: wallet" in forbidden["message"]
    # Remembered (the issuer is known and accountable), but nothing applied.
    assert stored(settings, run, "forbidden") == (False, True)


def test_another_principals_command_id_is_an_idempotency_conflict(settings, engine) -> None:
    run = uuid.uuid4().hex[:8]
    owner, other = register_in_store("owner@it"), register_in_store("other@it")
    first = send(settings, engine, owner.sign(opening(run, "mine", "owner@it")))
    assert first[f"{run}-mine"]["status"] == "accepted"
    # The same command, re-signed by someone else: not a replay of the owner's outcome.
    stolen = other.sign(opening(run, "mine", "other@it"))
    second = send(settings, engine, stolen)[f"{run}-mine"]
    assert (second["code"], second["replayed"]) == ("idempotency_conflict", False)
    assert "another issuer" in second["message"]
    # The owner's own re-send is still a replay.
    again = send(settings, engine, owner.sign(opening(run, "mine", "owner@it")))[f"{run}-mine"]
    assert again["replayed"] is True and again["status"] == "accepted"


def test_the_stored_record_verifies_offline_with_the_public_key_alone(settings, engine) -> None:
    run = uuid.uuid4().hex[:8]
    signer = register_in_store("signed@it")
    envelope = signer.sign(
        {**opening(run, "offline", "signed@it"), "issued_at": "2026-12-02T10:00:00Z"}
    )
    send(settings, engine, envelope)
    app = open_application(settings, snapshots=False)
    try:
        record = app.load_many([command_id_to_uuid(f"{run}-offline")])[
            command_id_to_uuid(f"{run}-offline")
        ]
        notifications = app.recorder.select_events(command_id_to_uuid(f"{run}-offline"))
        key = app.load_many([key_id_to_uuid(signer.key_id)])[key_id_to_uuid(signer.key_id)]
    finally:
        app.close()
    assert isinstance(record, CommandRecord) and isinstance(key, SigningKey)
    state = json.loads(notifications[0].state)
    message = (
        b"payments-command-v1\n"
        + json.dumps(
            {
                "actor": record.actor,
                "command_id": record.command_id,
                "issued_at": state["issued_at"],
                "payload": json.loads(state["signed_payload"]),
                "type": record.command_type,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    )
    # The public key as the store holds it: nothing secret is needed to check.
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_key))
    public.verify(base64.b64decode(state["signature"]), message)  # raises if it does not
    assert state["key_id"] == signer.key_id == key.key_id


def test_the_engines_database_role_cannot_register_a_key(settings: Settings) -> None:
    """A compromised engine must not mint itself a signer: keys are the operator's."""
    from eventsourcing.persistence import PersistenceError

    from payments.ledger.identities import register_key
    from payments.ledger.store import PaymentsApplication, application_env
    from payments.tools.services import principals

    engine_url = principals.as_role(settings, settings.require_database_url(), "engine")
    assert engine_url is not None, "the local cluster's engine role"
    mint = Signer(Ed25519PrivateKey.generate(), f"minted-{uuid.uuid4().hex[:8]}@it")
    app = PaymentsApplication(env=application_env(engine_url, pool_size=1, snapshots=False))
    try:
        with pytest.raises(PersistenceError, match="keys and roles are the operator"):
            register_key(
                app, principal=mint.principal, public_key=mint.public_key, actor="intruder"
            )
    finally:
        app.close()
    # Nothing of it is stored; the operator's role may register the same key.
    operator = open_application(settings, snapshots=False)
    try:
        assert not operator.load_many([key_id_to_uuid(mint.key_id)])
        register_key(operator, principal=mint.principal, public_key=mint.public_key, actor="tests")
        assert operator.load_many([key_id_to_uuid(mint.key_id)])
    finally:
        operator.close()
