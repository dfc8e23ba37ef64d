"""Personal data end to end: a real engine, the projection consumers, `payments api` and
`payments verify`, on a database of their own (issue 18, item 5).

Holder commands carrying distinctive personal data go over Kafka: one valid, one
malformed, one from a principal without the role, one without a command_id (a dead
letter) and one that is not even JSON. Then none of those strings may be found
anywhere the engine or the read side writes: the event store's raw rows, the audit
log, the results, events and dead-letter topics, the engine's and the API's logs
(only the commands topic carries what the issuer sent and signed). The holder reads
back over HTTP, is erased, then reads as erased; a second one registered through the
API (`PUT /holders`, sealed for the engine) is not even on the commands topic; and
`payments verify` still passes
with the audit chain it had before, unchanged. Last, the transaction boundary: a key
is stored or deleted with its batch's events, or not at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.persistence import IntegrityError

from payments.domain.holder import Holder, holder_id_to_uuid
from payments.domain.personal_data import KEY_VERSION, new_data_key, new_kek_text, wrap_key
from payments.ledger.holder_keys import HolderKeyChanges
from payments.ledger.service import Ledger
from payments.ledger.store import PaymentsApplication, application_env
from payments.runtime.settings import Settings
from payments.runtime.subprocesses import stop_process
from payments.tools.services import principals
from tests.integration.test_api import start_api
from tests.integration.test_engine import wait_outcomes
from tests.support.api_sandbox import box_sql, gateway_api_env, issue_keys, running_projections
from tests.support.databases import own_database
from tests.support.engine import EngineProcess, engine_env
from tests.support.kafka import publish, read_topic
from tests.support.sandbox import Sandbox, engine_sandbox
from tests.support.signing import SignedLedger, sign

pytestmark = pytest.mark.integration
OPS, OFFICER, WALLET, GATEWAY = (
    f"{name}@personal-data" for name in ("ops", "officer", "wallet", "gateway")
)


def until(what: str, done: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


@dataclass
class Session:
    box: Sandbox
    base: str
    keys: dict[str, str]
    logs: Path
    env: dict[str, str]  # what the read side's processes add to the environment


@pytest.fixture
def session(settings: Settings, superuser_database_url: str, tmp_path: Path) -> Iterator[Session]:
    """The sandbox, its engine with a holder KEK of its own, the projections and an API."""
    kek = tmp_path / "holder-kek.b64"
    kek.touch(mode=0o600)
    kek.write_text(new_kek_text())
    with engine_sandbox(settings, superuser_database_url, tmp_path, "pii") as box:
        for principal, roles in (
            (OPS, None),
            (OFFICER, {"compliance"}),
            (WALLET, {"wallet"}),
            (GATEWAY, {"gateway"}),
        ):
            box.register(principal, None if roles is None else frozenset(roles))
        keys = issue_keys(box, {"officer": OFFICER, "wallet": WALLET})
        with running_projections(box):
            api = None
            try:
                engine_vars = engine_env(
                    Settings(),
                    box.prefix,
                    f"{box.prefix}-group",
                    PAYMENTS_DATABASE_URL=box.url,
                    PAYMENTS_HOLDER_KEY_FILE=str(kek),
                    PAYMENTS_LOG_LEVEL="info",  # every command_decided line, to search
                )
                box.engines.append(EngineProcess(engine_vars, tmp_path / "engine.log"))
                until(
                    "the API keys reached the principals projection",
                    lambda: len(box_sql(box, "SELECT 1 FROM api_keys")) == 2,
                )
                env = gateway_api_env(
                    settings, box, GATEWAY, tmp_path, PAYMENTS_HOLDER_KEY_FILE=str(kek)
                )
                api, base = start_api(env, tmp_path / "api.log")
                yield Session(box, base, keys, tmp_path, env)
            finally:
                if api is not None:
                    stop_process(api)


def holder(session: Session, key: str, holder_id: str) -> httpx.Response:
    return httpx.get(
        f"{session.base}/holders/{holder_id}",
        headers={"Authorization": f"Bearer {session.keys[key]}"},
        timeout=30,
    )


def put_holder(session: Session, key: str, holder_id: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.put(
        f"{session.base}/holders/{holder_id}",
        headers={"Authorization": f"Bearer {session.keys[key]}"},
        json=body,
        timeout=30,
    )


def everything_written(session: Session) -> bytes:
    """Every byte the engine and the read side wrote that could hold personal data."""
    box = session.box
    parts = [bytes(state) for (state,) in box_sql(box, "SELECT state FROM payments_events")]
    parts += [bytes(s) for (s,) in box_sql(box, "SELECT state FROM payments_snapshots")]
    parts += [json.dumps(p).encode() for (p,) in box_sql(box, "SELECT payload FROM audit_log")]
    parts += [str(row).encode() for row in box_sql(box, "SELECT * FROM audit_staging")]
    for topic in (box.topics.command_results, box.topics.events, box.topics.commands_dlq):
        records = read_topic(box.bootstrap, topic, lambda rs: False, timeout=3.0)
        parts += [r.value or b"" for r in records] + [r.key or b"" for r in records]
    parts += [path.read_bytes() for path in session.logs.glob("*.log")]
    return b"\n".join(parts)


def run_verify(session: Session) -> dict[str, Any]:
    audit_url = principals.as_role(Settings(), session.box.url, "audit")
    assert audit_url is not None  # the sandbox is on the local cluster
    env = dict(os.environ) | {"PAYMENTS_DATABASE_URL": audit_url}
    done = subprocess.run(
        [sys.executable, "-m", "payments.cli", "verify", "--json", "--signatures"],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.stdout, done.stderr.decode()[-3000:]
    return json.loads(done.stdout) | {"exit_code": done.returncode}


def test_personal_data_is_sealed_everywhere_and_erasure_keeps_the_audit_intact(
    session: Session,
) -> None:
    box, run = session.box, uuid.uuid4().hex[:6]
    holder_id = f"holder-{run}"
    # Distinctive: found anywhere, it is a leak, not a coincidence.
    pii = {
        "name": f"Quillon Marrowfax {run}",
        "date_of_birth": "1958-02-27",
        "address": f"12 Brillig Row {run}, Mome Raths",
        "email": f"quillon.{run}@marrowfax.invalid",
    }
    bad = {"name": f"Odalric Thimblewick {run}", "email": f"odalric.{run} at nowhere"}
    forbidden = {"name": f"Perpetua Glimmerstone {run}"}
    lost = {"name": f"Barnaby Wigglesworth {run}", "address": f"3 Lost Letter Lane {run}"}
    unreadable = f"Ignatius Fumblethorpe {run}"
    secrets = [*pii.values(), *bad.values(), *forbidden.values(), *lost.values(), unreadable]
    secrets.remove(pii["date_of_birth"])  # a date is no string to search a log for

    def register(n: int, actor: str, **fields: str) -> dict[str, Any]:
        payload = {"holder_id": holder_id, **pii, **fields}
        return {"command_id": f"{run}-{n}", "type": "register_holder", "actor": actor,
                "payload": payload}  # fmt: skip

    commands = [
        register(1, OFFICER),
        register(2, OFFICER, **bad),  # malformed e-mail: invalid_command
        register(3, WALLET, **forbidden),  # no compliance role: forbidden
        register(4, OFFICER),  # the same holder again: holder_exists
    ]
    no_id = {"type": "register_holder", "actor": OFFICER, "payload": lost}
    records = [(run.encode(), json.dumps(sign(c)).encode()) for c in commands]
    records += [(run.encode(), json.dumps(no_id).encode())]
    records += [(run.encode(), f'{{"type":"register_holder","name":"{unreadable}'.encode())]
    publish(box.bootstrap, box.topics.commands, records)
    outcomes = wait_outcomes(
        box.bootstrap, box.topics.command_results, {c["command_id"] for c in commands}
    )
    codes = [outcomes[c["command_id"]][0]["code"] for c in commands]
    assert codes == [None, "invalid_command", "forbidden", "holder_exists"], outcomes
    letters = read_topic(box.bootstrap, box.topics.commands_dlq, lambda rs: len(rs) >= 2)
    assert len(letters) == 2

    until(
        "the holder reached the audit log",
        lambda: holder(session, "officer", holder_id).status_code == 200,
    )
    found = holder(session, "officer", holder_id).json()
    assert {k: found[k] for k in pii} == pii and found["erased"] is False
    assert holder(session, "wallet", holder_id).status_code == 403
    assert holder(session, "officer", f"none-{run}").status_code == 404

    def chain() -> list[tuple]:
        return box_sql(box, "SELECT position, hash FROM audit_log ORDER BY position")

    until(
        "the audit chain reached the store's end",
        lambda: (
            box_sql(box, "SELECT max(notification_id) FROM payments_events")
            == box_sql(box, "SELECT position FROM audit_chain_head")
        ),
    )
    before = chain()

    why = "the holder asked (GDPR art. 17)"
    erase = {"command_id": f"{run}-9", "type": "erase_holder", "actor": OFFICER,
             "payload": {"holder_id": holder_id, "reason": why}}  # fmt: skip
    publish(box.bootstrap, box.topics.commands, [(run.encode(), json.dumps(sign(erase)).encode())])
    erased_outcome = wait_outcomes(box.bootstrap, box.topics.command_results, {erase["command_id"]})
    assert erased_outcome[erase["command_id"]][0]["status"] == "accepted"
    assert box_sql(box, "SELECT 1 FROM holder_keys WHERE holder_id = %s", (holder_id,)) == []

    until(
        "the erasure reached the audit log",
        lambda: holder(session, "officer", holder_id).json().get("erased_by") == OFFICER,
    )
    erased = holder(session, "officer", holder_id).json()
    assert erased["erased"] is True and erased["status"] == "erased"
    assert all(erased[k] is None for k in pii)

    until(
        "the audit chain reached the store's end again",
        lambda: (
            box_sql(box, "SELECT max(notification_id) FROM payments_events")
            == box_sql(box, "SELECT position FROM audit_chain_head")
        ),
    )
    assert chain()[: len(before)] == before  # erasure appends; it rewrites nothing

    # Over HTTP the API seals the fields for the engine: not even the commands topic
    # carries them in clear. A retry is the same command (replayed).
    sealed_id = f"sealed-{run}"
    sealed = {
        "name": f"Wilhelmina Sealwright {run}",
        "date_of_birth": "1970-01-01",
        "address": f"9 Ciphertext Close {run}",
        "email": f"wil.{run}@sealed.invalid",
    }
    body = {"command_id": f"{run}-20", **sealed}
    first = put_holder(session, "officer", sealed_id, body)
    retried = put_holder(session, "officer", sealed_id, body)
    assert (first.status_code, first.json()["status"]) == (200, "accepted"), first.text
    assert retried.json()["replayed"] is True
    assert put_holder(session, "wallet", sealed_id, body).status_code == 403
    until(
        "the sealed registration reached the audit log",
        lambda: holder(session, "officer", sealed_id).status_code == 200,
    )
    assert {k: holder(session, "officer", sealed_id).json()[k] for k in sealed} == sealed
    erasure = httpx.post(
        f"{session.base}/holders/{sealed_id}/erasure",
        headers={"Authorization": f"Bearer {session.keys['officer']}"},
        json={"command_id": f"{run}-21", "reason": why},
        timeout=30,
    )
    assert erasure.json()["status"] == "accepted", erasure.text
    until(
        "the second erasure reached the audit log",
        lambda: holder(session, "officer", sealed_id).json().get("erased") is True,
    )
    secrets += [sealed["name"], sealed["address"], sealed["email"]]
    until(
        "the audit chain reached the store's end after the API's commands",
        lambda: (
            box_sql(box, "SELECT max(notification_id) FROM payments_events")
            == box_sql(box, "SELECT position FROM audit_chain_head")
        ),
    )

    report: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the other projections may trail the audit log
        report = run_verify(session)
        if report["ok"]:
            break
        time.sleep(1)
    assert report["ok"] and report["exit_code"] == 0, report
    # Accepted or not, the four over Kafka and the one over HTTP.
    assert report["signatures"]["personal_data_sealed"] == 5

    written = everything_written(session)
    assert [s for s in secrets if s.encode() in written] == []
    # The test can fail: the commands topic does carry what the issuers sent.
    sent = read_topic(box.bootstrap, box.topics.commands, lambda rs: len(rs) >= 10, timeout=10)
    on_the_topic = b"".join(r.value or b"" for r in sent)
    assert pii["name"].encode() in on_the_topic
    assert [s for s in sealed.values() if s.encode() in on_the_topic] == []


def test_a_holder_key_commits_with_its_events_or_not_at_all(
    settings: Settings, superuser_database_url: str
) -> None:
    """The transaction boundary on the real store: a batch whose events cannot be
    inserted (another engine stored that aggregate first) leaves no key behind, so a
    crash or a conflict anywhere never strands a key nor an event without one."""
    kek = os.urandom(32)
    with own_database(settings, superuser_database_url, "piikeys") as own:
        app = PaymentsApplication(env=application_env(own.app_url, pool_size=1))
        try:
            ledger = SignedLedger(Ledger(app, holder_kek=kek))
            taken = {"holder_id": "h-taken", "name": "A", "date_of_birth": "1990-01-01",
                     "address": "B", "email": "a@b.c"}  # fmt: skip
            registered = ledger.decide({"command_id": "k-1", "type": "register_holder",
                                        "actor": "officer@keys", "payload": taken})  # fmt: skip
            assert registered.status == "accepted"
            assert app.wrapped_holder_key("h-taken") is not None

            def twin(command_id: str) -> list[Any]:
                """A second Holder.Registered of the taken id: what a racing engine stores."""
                return Holder._create(
                    Holder.Registered, id=holder_id_to_uuid("h-taken"), command_id=command_id,
                    actor="officer@keys", holder_id="h-taken", personal_data="x",
                    key_version=KEY_VERSION,
                ).collect_events()  # fmt: skip

            changes = HolderKeyChanges(inserts={"h-new": wrap_key(kek, "h-new", new_data_key())})
            with pytest.raises(IntegrityError):  # a new holder's key in the failing batch
                app.record(twin("k-2"), holder_keys=changes)
            assert app.wrapped_holder_key("h-new") is None
            with pytest.raises(IntegrityError):  # an erasure in the failing batch
                app.record(twin("k-3"), holder_keys=HolderKeyChanges(deletes={"h-taken"}))
            assert app.wrapped_holder_key("h-taken") is not None
        finally:
            app.close()
