"""POST /webhooks/{provider} against a real `payments api` process, engine and Kafka.

Deliveries are signed with the providers' own libraries (standardwebhooks; stripe's
`WebhookSignature.generate_signature_header`), so the verifier is held to an
independent implementation. The engine decides the provider's commands as the
principal `provider-<name>`, signed by the API's gateway key. Nothing is mocked.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
import standardwebhooks
from stripe import WebhookSignature

from payments.api import webhook_inbox
from payments.api.problems import MEDIA_TYPE, TYPE_PREFIX
from payments.runtime.settings import Settings
from payments.runtime.subprocesses import stop_process
from payments.tools.services import principals
from payments.tools.services.webhook_provider import ensure_provider_principal
from tests.integration.test_api import start_api
from tests.support.engine import EngineProcess, engine_env
from tests.support.events import url_with_search_path
from tests.support.kafka import (
    create_topics,
    outcomes_by_command,
    publish,
    read_topic,
    unique_prefix,
)
from tests.support.signing import register_in_store

pytestmark = pytest.mark.integration


@dataclass
class Hooks:
    run: str
    api: str
    url: str = field(repr=False)
    secret: str = field(repr=False)  # the standard provider's
    stripe_secret: str = field(repr=False)
    bootstrap: str
    topics: Any
    gateway: Any

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query.encode(), params).fetchall()

    @property
    def provider(self) -> str:
        return f"t{self.run}"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@pytest.fixture(scope="module")
def hooks(
    settings: Settings, superuser_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hooks]:
    run = uuid.uuid4().hex[:8]
    logs = tmp_path_factory.mktemp("webhooks")
    schema = f"t_wh_{run}"
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION payments_app".encode())
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO payments_query".encode())
    url = url_with_search_path(settings.require_database_url(), schema, "public")
    with psycopg.connect(url) as conn, conn.transaction():
        webhook_inbox.install(conn, "payments_query", [])
    prefix = unique_prefix("wh")
    bootstrap = settings.require_kafka_bootstrap()
    topics = create_topics(bootstrap, prefix)
    engine = EngineProcess(engine_env(settings, prefix, f"{prefix}-engine"), logs / "engine.log")
    api: subprocess.Popen[bytes] | None = None
    try:
        ops = f"ops-{run}@wh"
        signer = register_in_store(ops)
        for provider in (f"t{run}", f"s{run}"):
            assert ensure_provider_principal(settings.require_database_url(), provider, "tests")
        gateway = register_in_store(f"gw-{run}@wh", roles=frozenset({"gateway"}))
        pem = logs / "gateway.pem"
        pem.touch(mode=0o600)
        pem.write_bytes(gateway.private_pem())
        day = [
            ("open_account", {"account_id": f"bank-{run}", "currency": "EUR", "kind": "external"}),
            ("open_account", {"account_id": f"alice-{run}", "currency": "EUR",
                              "kind": "customer"}),
            ("open_account", {"account_id": f"shop-{run}", "currency": "EUR", "kind": "merchant"}),
            ("transfer", {"transfer_id": f"top-{run}", "from_account": f"bank-{run}",
                          "to_account": f"alice-{run}", "amount": 10_000, "currency": "EUR"}),
        ] + [
            ("authorize_payment", {"payment_id": f"pay{n}-{run}", "payer_account": f"alice-{run}",
                                   "merchant_account": f"shop-{run}", "amount": 1_000,
                                   "currency": "EUR"})
            for n in range(4)
        ]  # fmt: skip
        commands = [
            signer.sign({"command_id": f"{run}-{i}", "type": t, "actor": ops, "payload": p})
            for i, (t, p) in enumerate(day)
        ]
        publish(bootstrap, topics.commands, [(b"day", json.dumps(c).encode()) for c in commands])
        wanted = {c["command_id"] for c in commands}
        outcomes = outcomes_by_command(read_topic(
            bootstrap, topics.command_results,
            lambda rs: wanted <= outcomes_by_command(rs).keys(), timeout=90,
        ))  # fmt: skip
        assert all(outcomes[c][-1]["status"] == "accepted" for c in wanted), outcomes
        secret, stripe_secret = new_secret(), "whsec_" + secrets.token_hex(16)
        providers = {
            f"t{run}": {"scheme": "standard", "secrets": [new_secret(), secret]},
            f"s{run}": {"scheme": "stripe", "secrets": [stripe_secret]},
        }
        env = principals.role_env(settings, "client", url) | {
            "PAYMENTS_LOG_FORMAT": "json",
            "PAYMENTS_TOPIC_PREFIX": prefix,
            "PAYMENTS_API_SIGNING_KEY_FILE": str(pem),
            "PAYMENTS_API_SIGNING_PRINCIPAL": gateway.principal,
            "PAYMENTS_WEBHOOK_PROVIDERS": json.dumps(providers),
        }
        api, base = start_api(env, logs / "api.log")
        yield Hooks(run, base, url, secret, stripe_secret, bootstrap, topics, gateway)
    finally:
        if api is not None:
            stop_process(api)
        engine.stop()
        with psycopg.connect(superuser_database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def standard(
    hooks: Hooks, document: dict[str, Any], msg_id: str, secret: str | None = None,
    at: float | None = None,
) -> httpx.Response:  # fmt: skip
    body = json.dumps(document)
    stamp = time.time() if at is None else at
    signature = standardwebhooks.Webhook(secret or hooks.secret).sign(
        msg_id, datetime.fromtimestamp(stamp, UTC), body
    )
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(stamp)),
               "webhook-signature": signature, "content-type": "application/json"}  # fmt: skip
    return httpx.post(f"{hooks.api}/webhooks/{hooks.provider}", content=body, headers=headers,
                      timeout=30)  # fmt: skip


def capture(hooks: Hooks, n: int, amount: int = 600) -> dict[str, Any]:
    return {"type": "payment.captured",
            "data": {"payment_id": f"pay{n}-{hooks.run}", "amount": amount,
                     "customer": {"email": "alice@example.org"}}}  # fmt: skip


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["type"] == TYPE_PREFIX + slug
    return body


def test_a_signed_capture_becomes_the_providers_command_and_a_redelivery_changes_nothing(
    hooks: Hooks,
) -> None:
    first = standard(hooks, capture(hooks, 0), f"msg-cap-{hooks.run}")
    assert first.status_code == 200, first.text
    receipt = first.json()
    command_id = f"webhook:{hooks.provider}:msg-cap-{hooks.run}"
    assert (receipt["status"], receipt["command_id"]) == ("published", command_id)
    assert receipt["outcome"]["status"] == "accepted", receipt
    again = standard(hooks, capture(hooks, 0), f"msg-cap-{hooks.run}")
    assert again.json()["status"] == "duplicate" and again.json()["outcome"] is None
    rows = hooks.sql("SELECT status, signature_valid, body_sha256 FROM webhook_deliveries"
                     " WHERE command_id = %s ORDER BY received_at", (command_id,))  # fmt: skip
    assert [r[:2] for r in rows] == [("published", True), ("duplicate", True)]
    assert len(rows[0][2]) == 64
    (summary,) = hooks.sql("SELECT summary FROM webhook_events WHERE command_id = %s",
                           (command_id,))[0]  # fmt: skip
    assert summary == {"type": "payment.captured", "payment_id": f"pay0-{hooks.run}",
                       "amount": 600}  # fmt: skip
    stored = hooks.sql("SELECT * FROM webhook_deliveries")
    assert "example.org" not in json.dumps(stored, default=str)  # no personal data kept


def test_a_crash_after_publishing_before_the_inbox_row_is_healed_by_the_redelivery(
    hooks: Hooks,
) -> None:
    """The API published, then died before its rows: the provider saw no 200 and sends
    again; the API publishes the same command id again and the engine decides it once."""
    msg_id = f"msg-crash-{hooks.run}"
    command_id = f"webhook:{hooks.provider}:{msg_id}"
    principal = f"provider-{hooks.provider}"
    lost = hooks.gateway.sign(
        {
            "command_id": command_id,
            "type": "capture_payment",
            "actor": principal,
            "on_behalf_of": principal,
            "payload": {"payment_id": f"pay1-{hooks.run}", "amount": 700},
        }
    )
    publish(hooks.bootstrap, hooks.topics.commands, [(b"x", json.dumps(lost).encode())])
    read_topic(hooks.bootstrap, hooks.topics.command_results,
               lambda rs: command_id in outcomes_by_command(rs), timeout=60)  # fmt: skip
    redelivered = standard(hooks, capture(hooks, 1, 700), msg_id)
    assert redelivered.json()["status"] == "published", redelivered.text
    outcome = redelivered.json()["outcome"]
    assert (outcome["status"], outcome["replayed"]) == ("accepted", True)
    outcomes = outcomes_by_command(read_topic(
        hooks.bootstrap, hooks.topics.command_results,
        lambda rs: len(outcomes_by_command(rs).get(command_id, [])) >= 2, timeout=30,
    ))[command_id]  # fmt: skip
    assert [o["replayed"] for o in outcomes] == [False, True]  # applied once


def test_a_stripe_refund_signed_by_stripes_helper_is_a_refund(hooks: Hooks) -> None:
    capture_first = standard(hooks, capture(hooks, 2, 1_000), f"msg-cap2-{hooks.run}")
    assert capture_first.json()["outcome"]["status"] == "accepted"
    event = {
        "id": f"evt_{hooks.run}",
        "type": "refund.created",
        "object": "event",
        "data": {
            "object": {
                "object": "refund",
                "amount": 250,
                "metadata": {"payment_id": f"pay2-{hooks.run}"},
            }
        },
    }
    body = json.dumps(event)
    header = WebhookSignature.generate_signature_header(body, hooks.stripe_secret)
    response = httpx.post(f"{hooks.api}/webhooks/s{hooks.run}", content=body,
                          headers={"Stripe-Signature": header}, timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["command_id"] == f"webhook:s{hooks.run}:evt_{hooks.run}"
    assert response.json()["outcome"]["status"] == "accepted"


def test_intruders_are_refused_with_400_and_no_command(hooks: Hooks) -> None:
    doc = capture(hooks, 3)
    wrong_secret = standard(hooks, doc, f"msg-bad1-{hooks.run}", secret=new_secret())
    assert "signature" in problem(wrong_secret, 400, "webhook-refused")["detail"]
    stale = standard(hooks, doc, f"msg-bad2-{hooks.run}", at=time.time() - 301)
    assert "timestamp" in problem(stale, 400, "webhook-refused")["detail"]
    # Signed with the stripe provider's secret, sent to the standard one.
    body = json.dumps(doc)
    header = WebhookSignature.generate_signature_header(body, hooks.stripe_secret)
    other = httpx.post(f"{hooks.api}/webhooks/{hooks.provider}", content=body,
                       headers={"Stripe-Signature": header}, timeout=30)  # fmt: skip
    problem(other, 400, "webhook-refused")
    nobody = httpx.post(f"{hooks.api}/webhooks/nobody", content=body, timeout=30)
    problem(nobody, 404, "not-found")
    refused = hooks.sql(
        "SELECT refusal FROM webhook_deliveries WHERE NOT signature_valid AND provider = %s",
        (hooks.provider,),
    )
    assert sorted(r[0] for r in refused) == ["bad-signature", "missing-headers", "stale-timestamp"]
    assert hooks.sql("SELECT count(*) FROM webhook_events WHERE summary->>'payment_id' = %s",
                     (f"pay3-{hooks.run}",)) == [(0,)]  # fmt: skip
    assert hooks.sql("SELECT count(*) FROM webhook_deliveries WHERE provider = '(unknown)'")[0][0]
    results = read_topic(hooks.bootstrap, hooks.topics.command_results, lambda rs: False, 3)
    assert not any("msg-bad" in cid for cid in outcomes_by_command(results))


def test_unknown_types_are_kept_and_counted(hooks: Hooks) -> None:
    response = standard(hooks, {"type": "payout.paid", "data": {}}, f"msg-unk-{hooks.run}")
    assert response.json() == {"status": "unknown", "provider_event_id": f"msg-unk-{hooks.run}",
                               "command_id": None, "outcome": None}  # fmt: skip
    assert standard(hooks, {"type": "payout.paid"}, f"msg-unk-{hooks.run}").json()["status"] == (
        "duplicate"
    )
    metrics = httpx.get(f"{hooks.api}/metrics", timeout=10).text
    assert (f'payments_webhook_deliveries_total{{provider="{hooks.provider}",status="unknown"}} 1.0'
            in metrics)  # fmt: skip
