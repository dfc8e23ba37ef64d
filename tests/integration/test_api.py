"""The HTTP API as a client sees it: a real `payments api` process, httpx, real data.

A business day is issued as signed commands to a real engine (its own topic prefix);
its relay publishes the events; the consumers (threads here, as `consume all` runs
them) fold them into projection tables in a schema of this module's own; the API
runs as its own process with the query role on those tables. API keys are made by
the operator's `payments keys api-create` / `api-revoke`, and reach the API only
through the principals projection. Nothing is mocked.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from consumers.loop import ConsumerConfig, ProjectionConsumer
from payments.api.problems import MEDIA_TYPE, TYPE_PREFIX
from payments.ledger.identities import issue_api_key
from payments.ledger.store import open_application
from payments.runtime.settings import Settings
from payments.runtime.subprocesses import spawn_cli, stop_process
from payments.tools.services import principals
from projections.audit.apply import fill_audit_gaps
from projections.catalog import APPLIERS, FOLLOWS
from projections.schema import PROJECTIONS, install
from tests.support.engine import EngineProcess, engine_env, relay_from_now_on
from tests.support.events import url_with_search_path
from tests.support.kafka import auth as kafka_auth
from tests.support.kafka import (
    create_topics,
    outcomes_by_command,
    publish,
    read_topic,
    unique_prefix,
)
from tests.support.signing import register_in_store

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# Schemathesis examples per operation: quick here; raise it for the long run
# (docs/reliability.md, "HTTP API fuzzing").
FUZZ_EXAMPLES = os.environ.get("PAYMENTS_FUZZ_EXAMPLES", "8")


@dataclass
class Day:
    run: str
    url: str = field(repr=False)  # the sandbox, as the operator (carries a password)
    admin_url: str = field(repr=False)
    keys: dict[str, str]  # name -> the whole key
    first_position: int  # the audit chain starts after it
    api: str  # base URL of the API process
    limited_api: str  # the same, with a limit of 3 requests a minute per key
    impatient_api: str  # the same, waiting 1 ms for a command's outcome (202 at once)
    gateway: str  # the principal the API signs commands with

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(query.encode(), params)
            return cursor.fetchall() if cursor.description else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "payments.cli", *args],
        env=dict(os.environ), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def api_key(principal: str, *accounts: str) -> str:
    """A key from the operator's command line: the line after 'shown once'."""
    only = [arg for account in accounts for arg in ("--account", account)]
    out = cli("keys", "api-create", "--principal", principal, "--expires-in", "1h", *only)
    lines = out.splitlines()
    assert "shown once" in lines[0] and all(a in lines[0] for a in accounts), lines[0]
    return lines[1]


def command(run: str, n: int, actor: str, type_: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": f"{run}-{n}", "type": type_, "actor": actor, "payload": payload}


def business_day(run: str, actor: str) -> list[dict[str, Any]]:
    acc = {n: f"{n}-{run}" for n in ("bank", "alice", "shop", "fees", "payout")}
    kinds = dict(bank="external", alice="customer", shop="merchant", fees="fees",
                 payout="external")  # fmt: skip
    day = [
        command(run, i, actor, "open_account", account_id=a, currency="EUR", kind=kinds[n])
        for i, (n, a) in enumerate(acc.items())
    ]
    day += [
        command(run, 10, actor, "transfer", transfer_id=f"top-{run}", from_account=acc["bank"],
                to_account=acc["alice"], amount=10_000, currency="EUR"),
        command(run, 11, actor, "authorize_payment", payment_id=f"pay-{run}",
                payer_account=acc["alice"], merchant_account=acc["shop"], amount=2_500,
                currency="EUR"),
        command(run, 12, actor, "capture_payment", payment_id=f"pay-{run}", amount=2_000),
        command(run, 13, actor, "refund_payment", payment_id=f"pay-{run}", amount=300),
        command(run, 14, actor, "settle_merchant", batch_id=f"batch-{run}",
                merchant_account=acc["shop"], payout_account=acc["payout"],
                fees_account=acc["fees"], fee_bps=100),
    ]  # fmt: skip
    return day


def start_api(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = spawn_cli(["api", "--port", str(port)], env, log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)


@pytest.fixture(scope="module")
def day(
    settings: Settings, superuser_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Day]:
    run = uuid.uuid4().hex[:8]
    logs = tmp_path_factory.mktemp("api")
    schema = f"t_api_{run}"
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION payments_app".encode())
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO payments_query".encode())
    # public after ours: the store (gap fills read it) and the request log live there.
    url = url_with_search_path(settings.require_database_url(), schema, "public")
    install(url, readers=["payments_query"])
    prefix = unique_prefix("api")
    bootstrap = settings.require_kafka_bootstrap()
    topics = create_topics(bootstrap, prefix)
    relay_from_now_on(settings, topics.events)
    with psycopg.connect(url, autocommit=True) as conn:
        (start,) = conn.execute(
            "SELECT notification_id FROM relay_position WHERE name = %s", (topics.events,)
        ).fetchone() or (0,)
        conn.execute("UPDATE audit_chain_head SET position = %s", (start,))  # chain from here

    stop = threading.Event()
    loops = [
        ProjectionConsumer(
            ConsumerConfig(name, APPLIERS[name], url, bootstrap, topics.events,
                           f"{prefix}-projection-{name}", kafka_auth=kafka_auth(),
                           follows=FOLLOWS[name],
                           fill=fill_audit_gaps if name == "audit" else None, fill_every=1.0),
            stop,
        )
        for name in PROJECTIONS
    ]  # fmt: skip
    threads = [threading.Thread(target=loop.run) for loop in loops]
    for thread in threads:
        thread.start()
    engine = EngineProcess(engine_env(settings, prefix, f"{prefix}-engine"), logs / "engine.log")
    apis: list[subprocess.Popen[bytes]] = []
    try:
        ops, auditor, wallet = (f"{n}-{run}@api" for n in ("ops", "auditor", "wallet"))
        signer = register_in_store(ops)
        register_in_store(auditor, roles=frozenset({"auditor"}))
        register_in_store(wallet, roles=frozenset({"wallet"}))
        keys = {name: api_key(auditor) for name in ("auditor", "revoked", "limited", "fuzz")}
        keys["wallet"] = api_key(wallet)
        keys["ops"] = api_key(ops)
        # Customer-facing keys of a principal with every role, restricted to accounts.
        keys["alice_app"] = api_key(ops, f"alice-{run}", f"mine-{run}")
        keys["fees_app"] = api_key(ops, f"fees-{run}")
        # The API's own key: a principal with the gateway role only (as services up makes).
        gateway = register_in_store(f"gw-{run}@api", roles=frozenset({"gateway"}))
        gateway_pem = logs / "gateway.pem"
        gateway_pem.touch(mode=0o600)
        gateway_pem.write_bytes(gateway.private_pem())
        cli("keys", "api-revoke", keys["revoked"].split("_")[1], "--reason", "test: left")
        app = open_application(settings)
        try:  # an expiry in 2 s cannot be asked of the command line (it wants a future)
            soon = datetime.now(UTC) + timedelta(seconds=2)
            keys["expired"] = issue_api_key(app, principal=auditor, expires_at=soon,
                                            actor="tests").token  # fmt: skip
        finally:
            app.close()

        commands = [signer.sign(c) for c in business_day(run, ops)]
        publish(bootstrap, topics.commands, [(b"day", json.dumps(c).encode()) for c in commands])
        wanted = {c["command_id"] for c in commands}
        records = read_topic(
            bootstrap,
            topics.command_results,
            lambda rs: wanted <= outcomes_by_command(rs).keys(),
            timeout=90,
        )
        outcomes = outcomes_by_command(records)
        assert all(outcomes[cid][-1]["status"] == "accepted" for cid in wanted), outcomes

        with psycopg.connect(url, autocommit=True) as conn:
            (last,) = conn.execute(
                "SELECT max(notification_id) FROM public.payments_events"
            ).fetchone() or (0,)

        def projected() -> bool:
            with psycopg.connect(url, autocommit=True) as conn:
                head = conn.execute("SELECT position FROM audit_chain_head").fetchone()
                batch = conn.execute("SELECT 1 FROM settlement_batches WHERE batch_id = %s",
                                     (f"batch-{run}",)).fetchone()  # fmt: skip
                revoked = conn.execute(
                    "SELECT 1 FROM api_keys WHERE revoked_at IS NOT NULL AND principal = %s",
                    (auditor,),
                ).fetchone()
            return bool(head and head[0] >= last and batch and revoked)

        deadline = time.monotonic() + 120
        while not projected():
            assert time.monotonic() < deadline, "the day did not reach the projections"
            time.sleep(0.3)

        client = principals.role_env(settings, "client", url)
        env = client | {
            "PAYMENTS_LOG_FORMAT": "json",
            "PAYMENTS_API_RATE_LIMIT": "100000/minute",
            "PAYMENTS_TOPIC_PREFIX": prefix,
            "PAYMENTS_API_SIGNING_KEY_FILE": str(gateway_pem),
            "PAYMENTS_API_SIGNING_PRINCIPAL": gateway.principal,
        }
        process, base = start_api(env, logs / "api.log")
        apis.append(process)
        process, limited = start_api(env | {"PAYMENTS_API_RATE_LIMIT": "3/minute"},
                                     logs / "api-limited.log")  # fmt: skip
        apis.append(process)
        process, impatient = start_api(env | {"PAYMENTS_API_COMMAND_TIMEOUT": "0.001"},
                                       logs / "api-impatient.log")  # fmt: skip
        apis.append(process)
        yield Day(run, url, settings.require_database_url(), keys, start, base, limited,
                  impatient, gateway.principal)  # fmt: skip
    finally:
        for process in apis:
            stop_process(process)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        engine.stop()
        with psycopg.connect(superuser_database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def get(day: Day, path: str, key: str | None = "auditor", **params: Any) -> httpx.Response:
    headers = {} if key is None else {"Authorization": f"Bearer {day.keys.get(key, key)}"}
    return httpx.get(day.api + path, headers=headers, params=params, timeout=10)


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert (body["type"], body["status"]) == (TYPE_PREFIX + slug, status)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_no_wrong_unknown_expired_or_revoked_key_is_let_in(day: Day) -> None:
    path = f"/accounts/alice-{day.run}"
    auditor = day.keys["auditor"]
    prefix = auditor.split("_")[1]
    wrong_secret = f"pek_{prefix}_{'A' * 43}"
    unknown = f"pek_000000000000_{auditor.split('_', 2)[2]}"
    time.sleep(2.5)  # the expiring key's 2 s are over (it was made before the engine ran)
    for key, detail in (
        (None, "send an API key"),
        ("not-a-key", "not valid"),
        (wrong_secret, "not valid"),
        (unknown, "not valid"),
        ("expired", "expired"),
        ("revoked", "revoked"),
    ):
        response = get(day, path, key)
        assert detail in problem(response, 401, "unauthenticated")["detail"], key
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert get(day, path).status_code == 200  # the same request with a good key


def test_a_key_projected_before_its_principal_is_401_to_retry_not_403(day: Day) -> None:
    # The key and its principal are different aggregates on different partitions: the
    # principals projection can hold a new key a moment before its principal's roles.
    # That moment, as the projection would leave it: the auditor's key row copied for
    # a principal the projection does not hold.
    path = f"/accounts/alice-{day.run}"
    _, auditor_prefix, secret = day.keys["auditor"].split("_", 2)
    prefix, newcomer = uuid.uuid4().hex[:12], f"newcomer-{day.run}@api"
    day.sql(
        "INSERT INTO api_keys (aggregate_id, prefix, principal, secret_sha256, scopes,"
        " accounts, expires_at, issued_at, last_version) SELECT gen_random_uuid(), %s, %s,"
        " secret_sha256, scopes, accounts, expires_at, issued_at, 1 FROM api_keys"
        " WHERE prefix = %s",
        (prefix, newcomer, auditor_prefix),
    )
    key = f"pek_{prefix}_{secret}"
    try:
        response = get(day, path, key)
        detail = problem(response, 401, "unauthenticated")["detail"]
        assert "not in the read model yet" in detail and "retry" in detail
        assert response.headers["www-authenticate"].startswith("Bearer")
        # Its principal projected (with the auditor's roles): the same key is let in.
        day.sql(
            "INSERT INTO principals (aggregate_id, principal, roles, updated_at, last_version)"
            " SELECT gen_random_uuid(), %s, roles, now(), 1 FROM principals"
            " WHERE principal = %s",
            (newcomer, f"auditor-{day.run}@api"),
        )
        assert get(day, path, key).status_code == 200
    finally:
        day.sql("DELETE FROM api_keys WHERE prefix = %s", (prefix,))
        day.sql("DELETE FROM principals WHERE principal = %s", (newcomer,))


def test_a_scope_the_roles_do_not_give_is_forbidden(day: Day) -> None:
    body = problem(get(day, "/audit", "wallet"), 403, "forbidden")
    assert "audit:read" in body["detail"]
    assert get(day, f"/accounts/alice-{day.run}", "wallet").status_code == 200  # wallet reads


def test_balances_payments_and_settlements_are_integers_with_their_currency(day: Day) -> None:
    run = day.run
    alice = get(day, f"/accounts/alice-{run}").json()
    # 10 000 in, 2 500 held, 2 000 of it captured, 300 refunded.
    assert (alice["currency"], alice["posted"], alice["held"]) == ("EUR", 8_300, 500)
    assert alice["available"] == 7_800 and all(
        type(alice[k]) is int for k in ("posted", "held", "available", "overdraft_limit")
    )
    payment = get(day, f"/payments/pay-{run}").json()
    assert (payment["captured"], payment["refunded"], payment["status"]) == (
        2_000, 300, "partially_refunded",
    )  # fmt: skip
    batch = get(day, f"/settlements/batch-{run}").json()
    assert (batch["gross"], batch["refunds"], batch["fees"], batch["currency"]) == (
        2_000, 300, 20, "EUR",
    )  # fmt: skip
    assert [i["kind"] for i in batch["items"]] == ["capture", "refund"]
    first = get(day, f"/settlements/batch-{run}", items_limit=1).json()
    rest = get(day, f"/settlements/batch-{run}", items_after=first["next_items_after"]).json()
    assert first["items"] + rest["items"] == batch["items"] and rest["next_items_after"] is None
    problem(get(day, "/accounts/nobody-here"), 404, "not-found")
    problem(get(day, f"/payments/pay-{run}-x"), 404, "not-found")
    problem(get(day, "/accounts/bad%20id"), 422, "invalid-request")


def test_history_at_a_moment_from_the_audit_log(day: Day) -> None:
    path = f"/accounts/alice-{day.run}/history"
    now = get(day, path, as_of=datetime.now(UTC).isoformat()).json()
    assert (now["posted"], now["held"]) == (8_300, 500)
    assert next(m["posted_change"] for m in now["movements"]) == 10_000
    last = now["movements"][-1]
    assert (last["posted_after"], last["held_after"]) == (8_300, 500)
    before = get(day, path, as_of="2000-01-01T00:00:00Z")
    problem(before, 404, "not-found")
    problem(get(day, path, as_of="2026-01-01T00:00:00"), 422, "invalid-request")  # no zone


def test_the_audit_log_pages_by_position_and_chains(day: Day) -> None:
    pages, after = [], day.first_position
    while len(pages) < 4:
        page = get(day, "/audit", after=after, limit=3).json()
        pages.append(page["items"])
        if page["next_after"] is None:
            break
        after = page["next_after"]
    rows = [row for page in pages for row in page]
    assert len(rows) >= 9 and all(len(page) <= 3 for page in pages)
    positions = [row["position"] for row in rows]
    assert positions == sorted(set(positions)) and positions[0] > day.first_position
    for earlier, later in itertools.pairwise(rows):
        assert later["prev_hash"] == earlier["hash"]
    problem(get(day, "/audit", limit=0), 422, "invalid-request")
    problem(get(day, "/audit", after=2**63), 422, "invalid-request")


def test_a_key_over_its_limit_gets_429_with_retry_after(day: Day) -> None:
    headers = {"Authorization": f"Bearer {day.keys['limited']}"}
    url = f"{day.limited_api}/accounts/alice-{day.run}"
    statuses = [httpx.get(url, headers=headers, timeout=10) for _ in range(4)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    problem(statuses[3], 429, "rate-limited")
    assert 1 <= int(statuses[3].headers["retry-after"]) <= 60
    # Per key: another key on the same process is not held back.
    other = {"Authorization": f"Bearer {day.keys['auditor']}"}
    assert httpx.get(url, headers=other, timeout=10).status_code == 200


def test_every_call_is_in_the_request_log_without_secrets(day: Day) -> None:
    ok = get(day, f"/payments/pay-{day.run}")
    refused = get(day, "/audit", "wallet")
    unauthenticated = get(day, "/audit", day.keys["auditor"] + "x")
    ids = [r.headers["x-request-id"] for r in (ok, refused, unauthenticated)]
    with psycopg.connect(day.admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT request_id::text, principal, key_prefix, method, route, status, duration_ms"
            " FROM public.api_requests WHERE request_id = ANY(%s::uuid[])",
            (ids,),
        ).fetchall()
    found = {row[0]: row[1:] for row in rows}
    auditor, wallet = f"auditor-{day.run}@api", f"wallet-{day.run}@api"
    assert found[ids[0]][:5] == (auditor, day.keys["auditor"].split("_")[1], "GET",
                                 "/payments/{payment_id}", 200)  # fmt: skip
    assert found[ids[1]][0] == wallet and found[ids[1]][3:5] == ("/audit", 403)
    assert found[ids[2]][0] is None and found[ids[2]][4] == 401
    assert all(row[5] >= 0 for row in found.values())
    text = repr(rows)
    for key in day.keys.values():
        assert key not in text and key.split("_", 2)[2] not in text


def test_health_and_metrics(day: Day) -> None:
    assert httpx.get(f"{day.api}/health", timeout=5).json() == {"status": "ok", "postgres": True}
    metrics = httpx.get(f"{day.api}/metrics", timeout=5).text
    assert 'payments_api_requests_total{method="GET",route="/accounts/{account_id}"' in metrics


def post(
    day: Day, body: dict[str, Any], key: str = "ops", base: str | None = None, **headers: str
) -> httpx.Response:
    auth = {"Authorization": f"Bearer {day.keys.get(key, key)}"}
    return httpx.post((base or day.api) + "/commands", json=body, headers=auth | headers,
                      timeout=15)  # fmt: skip


def open_wallet(day: Day, name: str) -> dict[str, Any]:
    return {"command_id": f"{day.run}-{name}", "type": "open_account",
            "payload": {"account_id": f"{name}-{day.run}", "currency": "EUR",
                        "kind": "customer"}}  # fmt: skip


def audit_rows(day: Day, command_id: str, timeout: float = 30) -> list[tuple]:
    """The audit log's CommandRecord.Decided of `command_id`, once projected."""
    deadline = time.monotonic() + timeout
    while True:
        rows = day.sql(
            "SELECT actor, payload->>'via', payload->>'status' FROM audit_log"
            " WHERE command_id = %s AND event_type = 'CommandRecord.Decided'", (command_id,),
        )  # fmt: skip
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_a_command_is_signed_for_the_key_s_principal_and_answered_once(day: Day) -> None:
    body = open_wallet(day, "http1")
    first = post(day, body)
    assert first.status_code == 200, first.text
    outcome = first.json()
    assert (outcome["status"], outcome["replayed"]) == ("accepted", False), outcome
    # The same command_id again: the engine answers its record, not a second decision.
    again = post(day, body)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["processed_at"] == outcome["processed_at"]
    # The audit log shows who (the key's principal) and through what (the gateway).
    assert audit_rows(day, body["command_id"]) == [(f"ops-{day.run}@api", day.gateway,
                                                    "accepted")]  # fmt: skip
    polled = get(day, f"/commands/{body['command_id']}", "ops")
    assert polled.status_code == 200, polled.text
    assert (polled.json()["status"], polled.json()["via"]) == ("accepted", day.gateway)
    assert get(day, f"/accounts/http1-{day.run}").status_code in (200, 404)  # projected soon


def test_the_idempotency_key_header_is_the_command_id(day: Day) -> None:
    body = open_wallet(day, "http2")
    command_id = body.pop("command_id")
    answered = post(day, body, **{"Idempotency-Key": command_id})
    assert answered.status_code == 200 and answered.json()["command_id"] == command_id
    assert post(day, body, **{"Idempotency-Key": command_id}).json()["replayed"] is True
    mismatch = post(day, {**body, "command_id": command_id + "x"},
                    **{"Idempotency-Key": command_id})  # fmt: skip
    assert "Idempotency-Key" in problem(mismatch, 422, "invalid-request")["detail"]
    problem(post(day, body), 422, "invalid-request")  # neither: no idempotency, no command


def test_a_key_without_commands_write_is_forbidden(day: Day) -> None:
    body = open_wallet(day, "http3")
    assert "commands:write" in problem(post(day, body, "auditor"), 403, "forbidden")["detail"]
    problem(get(day, "/commands/whatever", "auditor"), 403, "forbidden")


def test_a_body_cannot_speak_for_someone_else(day: Day) -> None:
    """actor/on_behalf_of naming another principal, or a signature of the client's own,
    are refused before anything is published; the caller's own name is accepted."""
    body = open_wallet(day, "http4")
    other = f"auditor-{day.run}@api"
    for forged in ({"actor": other}, {"on_behalf_of": other}, {"actor": day.gateway},
                   {"key_id": "ed25519:" + "0" * 32}, {"signature": "A" * 88}):  # fmt: skip
        refused = post(day, body | forged)
        problem(refused, 422, "invalid-request")
    # Nothing of those was decided: the first real send of the id is the first decision.
    own = post(day, body | {"actor": f"ops-{day.run}@api"})
    assert own.status_code == 200 and own.json()["replayed"] is False, own.text


def test_the_caller_s_roles_decide_not_the_gateway_s(day: Day) -> None:
    """The wallet principal may transfer, not open accounts: through the API too."""
    refused = post(day, open_wallet(day, "http5"), "wallet")
    assert refused.status_code == 200
    assert (refused.json()["status"], refused.json()["code"]) == ("rejected", "forbidden")
    assert f"wallet-{day.run}@api may not issue open_account" in refused.json()["message"]
    # Someone else's command is not the wallet's to read.
    problem(get(day, f"/commands/{day.run}-http1", "wallet"), 404, "not-found")


def test_no_outcome_in_time_is_202_with_a_location_to_poll(
    day: Day, superuser_database_url: str
) -> None:
    body = open_wallet(day, "http6")
    # The engine answers in a few ms, sometimes before the API has seen the broker's
    # acknowledgement: hold its writes back (a share lock on the store) so that no
    # outcome can come within the impatient API's 1 ms; released, the engine answers.
    with psycopg.connect(superuser_database_url) as holder:
        holder.execute("LOCK TABLE public.payments_events IN SHARE MODE")
        pending = post(day, body, base=day.impatient_api)
        holder.rollback()
    assert pending.status_code == 202, pending.text
    location = pending.headers["location"]
    assert location == f"/commands/{day.run}-http6" == pending.json()["location"]
    deadline = time.monotonic() + 30
    while True:
        polled = httpx.get(day.impatient_api + location, timeout=10,
                           headers={"Authorization": f"Bearer {day.keys['ops']}"})  # fmt: skip
        if polled.status_code == 200:
            break
        assert polled.status_code == 202 and time.monotonic() < deadline, polled.text
        time.sleep(0.1)
    assert polled.json()["status"] == "accepted" and polled.json()["replayed"] is False


def test_a_key_restricted_to_accounts_reads_only_them_and_their_payments(day: Day) -> None:
    alice, shop, ever = f"alice-{day.run}", f"shop-{day.run}", "2100-01-01T00:00:00Z"
    period = {"from": "2000-01-01T00:00:00Z", "to": ever}
    own = get(day, f"/accounts/{alice}", "alice_app")
    assert own.status_code == 200 and own.json()["account_id"] == alice, own.text
    assert get(day, f"/accounts/{alice}/history", "alice_app", as_of=ever).status_code == 200
    assert get(day, f"/accounts/{alice}/statements", "alice_app", **period).status_code == 200
    for path, params in ((f"/accounts/{shop}", {}), (f"/accounts/{shop}/history",
                         {"as_of": ever}), (f"/accounts/{shop}/statements", period)):  # fmt: skip
        body = problem(get(day, path, "alice_app", **params), 403, "account-not-allowed")
        assert shop in body["detail"]
    # The same principal's unrestricted key reads the shop: the restriction is the key's.
    assert get(day, f"/accounts/{shop}", "ops").status_code == 200
    # alice pays at the shop: hers to read, not the fees account's key's.
    assert get(day, f"/payments/pay-{day.run}", "alice_app").status_code == 200
    problem(get(day, f"/payments/pay-{day.run}", "fees_app"), 403, "account-not-allowed")
    # An unknown payment looks like someone else's: no probing for what exists.
    problem(get(day, f"/payments/nope-{day.run}", "alice_app"), 403, "account-not-allowed")
    problem(get(day, "/audit", "alice_app"), 403, "account-not-allowed")
    problem(get(day, f"/settlements/batch-{day.run}", "alice_app"), 403, "account-not-allowed")
    assert get(day, "/audit", "ops").status_code == 200


def test_a_restricted_key_moves_money_out_of_its_own_accounts_only(day: Day) -> None:
    command_id = f"{day.run}-restricted"
    theft = {
        "command_id": command_id,
        "type": "transfer",
        "payload": {
            "transfer_id": f"theft-{day.run}",
            "from_account": f"shop-{day.run}",
            "to_account": f"alice-{day.run}",
            "amount": 100,
            "currency": "EUR",
        },
    }
    refund = {
        "command_id": command_id,
        "type": "refund_payment",
        "payload": {"payment_id": f"pay-{day.run}", "amount": 1},
    }
    foreign = open_wallet(day, "not-hers") | {"command_id": command_id}  # fmt: skip
    for refused in (theft, refund, foreign):
        problem(post(day, refused, "alice_app"), 403, "account-not-allowed")
    # None of them was published: the first send of the id the engine sees is this one.
    mine = open_wallet(day, "mine") | {"command_id": command_id}
    answered = post(day, mine, "alice_app")
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["replayed"]) == ("accepted", False)
    assert audit_rows(day, command_id) == [(f"ops-{day.run}@api", day.gateway, "accepted")]


def statement(day: Day, start: str, end: str, accept: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {day.keys['auditor']}"} | (
        {"Accept": accept} if accept else {}
    )
    return httpx.get(f"{day.api}/accounts/alice-{day.run}/statements", headers=headers,
                     params={"from": start, "to": end}, timeout=10)  # fmt: skip


def test_a_statement_adds_up_and_periods_chain(day: Day) -> None:
    whole = statement(day, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
    assert whole.status_code == 200, whole.text
    s = whole.json()
    # Top-up 10 000 in, capture 2 000 out, refund 300 in; the hold is not a posting.
    assert [p["amount"] for p in s["postings"]] == [10_000, -2_000, 300]
    assert (s["opening_balance"], s["total_credits"], s["total_debits"], s["closing_balance"]) == (
        0, 10_300, 2_000, 8_300,
    )  # fmt: skip
    assert s["position"] >= max(p["position"] for p in s["postings"])
    running = s["opening_balance"]
    for line in s["postings"]:
        running += line["amount"]
        assert line["balance"] == running
    # Split at the second posting: it belongs to the later period (the end is excluded).
    split = s["postings"][1]["recorded_at"]
    early = statement(day, "2000-01-01T00:00:00Z", split).json()
    late = statement(day, split, "2100-01-01T00:00:00Z").json()
    for period in (early, late):
        assert (
            period["opening_balance"] + period["total_credits"] - period["total_debits"]
            == (period["closing_balance"])
        )
    assert late["opening_balance"] == early["closing_balance"] == 10_000
    assert early["postings"] + late["postings"] == s["postings"]
    empty = statement(day, "2000-01-01T00:00:00Z", "2000-01-02T00:00:00Z")
    problem(empty, 404, "not-found")  # the account did not exist then
    problem(statement(day, split, split), 422, "invalid-request")
    headers = {"Authorization": f"Bearer {day.keys['wallet']}"}
    forbidden = httpx.get(
        f"{day.api}/accounts/alice-{day.run}/statements",
        headers=headers,
        params={"from": "2000-01-01T00:00:00Z", "to": split},
        timeout=10,
    )
    problem(forbidden, 403, "forbidden")


def test_a_statement_as_csv_and_as_pdf(day: Day, tmp_path: Path) -> None:
    answer = statement(day, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "text/csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["line"] for r in rows] == ["opening", "posting", "posting", "posting", "closing"]
    credits = sum(int(r["credit"] or 0) for r in rows if r["line"] == "posting")
    debits = sum(int(r["debit"] or 0) for r in rows if r["line"] == "posting")
    closing = rows[-1]
    assert (int(closing["credit"]), int(closing["debit"]), int(closing["balance"])) == (
        credits, debits, int(rows[0]["balance"]) + credits - debits,
    )  # fmt: skip
    pdf = statement(day, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "application/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and pdf.content.rstrip().endswith(b"%%EOF")
    (tmp_path / "statement.pdf").write_bytes(pdf.content)  # for a person to look at


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(
    day: Day, tmp_path: Path
) -> None:
    """A quick, deterministic fuzz of every operation against the live API (a few
    hundred requests: the coverage and fuzzing phases), no 5xx and every answer in the
    schema; half the ids are real (tests/support/schemathesis_hooks.py), so found
    accounts, payments, batches and statements are checked too. The fuzz key is the
    auditor's: no commands:write, so nothing is published (403, in the schema)."""
    dispute_id = open_a_dispute(day)  # so a found dispute and a listed one are checked too
    real = {"account_id": f"alice-{day.run}", "payment_id": f"pay-{day.run}",
            "batch_id": f"batch-{day.run}", "dispute_id": dispute_id}  # fmt: skip
    env = dict(os.environ) | {
        "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
        "PAYMENTS_FUZZ_IDS": json.dumps(real),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(ROOT / "docs" / "openapi.json"),
         "--url", day.api, "--header", f"Authorization: Bearer {day.keys['fuzz']}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance,response_headers_conformance",
         "--max-examples", FUZZ_EXAMPLES, "--generation-deterministic",  # the same cases
         "--request-timeout", "10", "--suppress-health-check", "all"],
        capture_output=True, text=True, timeout=300 + 2 * int(FUZZ_EXAMPLES), env=env,
        cwd=tmp_path,  # it keeps a .schemathesis/ folder where it runs
    )  # fmt: skip
    print(done.stdout[-3000:])  # the summary: pytest -rP shows it (docs/reliability.md)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    spec = json.loads((ROOT / "docs" / "openapi.json").read_text())
    operations = sum(len(methods) for methods in spec["paths"].values())
    # every operation of the document was called
    assert f"Tested: {operations}" in done.stdout, done.stdout[-3000:]
    # The real ids were used: the fuzz key's found lookups are in the request log.
    found = day.sql(
        "SELECT DISTINCT route FROM public.api_requests WHERE key_prefix = %s AND status = 200",
        (day.keys["fuzz"].split("_")[1],),
    )
    assert {"/accounts/{account_id}", "/payments/{payment_id}", "/settlements/{batch_id}",
            "/accounts/{account_id}/statements", "/disputes",
            "/disputes/{dispute_id}"} <= {r[0] for r in found}, found  # fmt: skip


def open_a_dispute(day: Day) -> str:
    """A dispute of the day's payment (as the network's integration opens it), projected."""
    dispute_id, disputes = f"dp-fuzz-{day.run}", f"disputes-fuzz-{day.run}"
    for n, (type_, payload) in enumerate((
        ("open_account", {"account_id": disputes, "currency": "EUR", "kind": "external"}),
        ("open_dispute", {"dispute_id": dispute_id, "payment_id": f"pay-{day.run}",
                          "amount": 100, "reason_code": "13.1", "network": "visa",
                          "evidence_due_by": "2099-01-01T00:00:00Z",
                          "disputes_account": disputes}),
    )):  # fmt: skip
        answer = post(day, {"command_id": f"{day.run}-fuzz-{n}", "type": type_, "payload": payload})
        assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
    deadline = time.monotonic() + 30
    while get(day, f"/disputes/{dispute_id}").status_code != 200:
        assert time.monotonic() < deadline, "the dispute did not reach the disputes table"
        time.sleep(0.2)
    return dispute_id
