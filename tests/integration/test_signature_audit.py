"""`payments verify --signatures`: the auditor's offline check finds a forged record.

On a database of its own: commands signed and decided by the real ledger verify; a
command record written straight into the store (as someone with the store's insert
right could) whose signature is not over its content is reported, by position and
command id, and the command line exits 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from payments.domain.command_record import CommandRecord
from payments.ledger.store import PaymentsApplication, application_env
from payments.runtime.settings import Settings
from projections.rebuild.signatures import check_signatures
from tests.support.databases import own_database
from tests.support.signing import register, signed_ledger

pytestmark = pytest.mark.integration


@pytest.fixture()
def own_store(settings: Settings, superuser_database_url: str) -> Iterator[str]:
    with own_database(settings, superuser_database_url, "sigs") as own:
        yield own.app_url


def opening(n: int) -> dict:
    return {
        "command_id": f"sig-{n}",
        "type": "open_account",
        "actor": "auditee@it",
        "issued_at": "2026-12-02T10:00:00Z",
        "payload": {"account_id": f"acct-{n}", "currency": "EUR", "kind": "customer"},
    }


def cli(url: str, service_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **service_env, "PAYMENTS_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "payments.cli", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def verify_signatures(url: str, service_env: dict[str, str]) -> subprocess.CompletedProcess:
    # The tables first, so that only the signatures can make verify fail.
    assert cli(url, service_env, "replay").returncode == 0
    return cli(url, service_env, "verify", "--signatures")


def test_signed_records_verify_and_a_forged_one_is_found(
    own_store: str, service_env: dict[str, str]
) -> None:
    app = PaymentsApplication(env=application_env(own_store, pool_size=1, snapshots=False))
    try:
        ledger = signed_ledger(app)
        for n in range(3):
            assert ledger.decide(opening(n)).status == "accepted"
        # And one signed by a gateway on the auditee's behalf (the HTTP API's way).
        gateway = register(app, "gateway@it", frozenset({"gateway"}))
        delegated = gateway.sign({**opening(3), "on_behalf_of": "auditee@it"})
        assert ledger.ledger.decide(delegated).status == "accepted"
        clean = check_signatures(own_store)
        assert (clean.ok, clean.commands, clean.keys) == (True, 4, 2), clean.failures
        passed = verify_signatures(own_store, service_env)
        assert passed.returncode == 0, passed.stdout + passed.stderr

        # A record claiming a command the signer never signed: the signature of sig-0,
        # the content of another transfer.
        genuine = app.load_many([ledger_record_id("sig-0")])[ledger_record_id("sig-0")]
        assert isinstance(genuine, CommandRecord)
        forged = CommandRecord.decide(
            command_id="sig-forged",
            actor="auditee@it",
            command_type="open_account",
            fingerprint="0" * 64,
            status="accepted",
            code=None,
            message="",
            key_id=genuine.key_id,
            signature=genuine.signature,
            issued_at="2026-12-02T10:00:00Z",
            signed_payload='{"account_id":"stolen","currency":"EUR","kind":"external"}',
        )
        app.record(forged.collect_events())
    finally:
        app.close()
    found = check_signatures(own_store)
    assert not found.ok
    assert [(cid, "does not verify" in why) for _, cid, why in found.failures] == [
        ("sig-forged", True)
    ]
    shown = verify_signatures(own_store, service_env)
    assert shown.returncode == 1 and "sig-forged" in shown.stdout


def ledger_record_id(command_id: str):  # type: ignore[no-untyped-def]
    from payments.domain.ids import command_id_to_uuid

    return command_id_to_uuid(command_id)
