"""A screening escalation session over HTTP: a real engine, the projection consumers
and a `payments api` process, all on a database of their own (issue 18).

The provider's answer (the local screener's) comes over Kafka as its own principal's
command; the analyst reads the case at GET /screenings/{id}, escalates it and
confirms it through the API; the holder's account ends frozen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from payments.integrations.screening import LocalScreener, Subject, result_command
from payments.runtime.settings import Settings
from payments.runtime.subprocesses import stop_process
from payments.tools.screen import answers
from payments.tools.services import principals
from tests.integration.test_api import start_api
from tests.integration.test_engine import wait_outcomes
from tests.support.api_sandbox import box_sql, gateway_api_env, issue_keys, running_projections
from tests.support.kafka import outcomes_by_command, publish, read_topic
from tests.support.sandbox import Sandbox, engine_sandbox
from tests.support.signing import sign, signer_for

pytestmark = pytest.mark.integration
OPS, ANALYST, PROVIDER, WALLET, GATEWAY = (
    f"{name}@screening-api" for name in ("ops", "analyst", "provider", "wallet", "gateway")
)


def until(what: str, done: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


@pytest.fixture
def session(
    settings: Settings, superuser_database_url: str, tmp_path: Path
) -> Iterator[tuple[Sandbox, str, dict[str, str]]]:
    """The sandbox with its projections running and an API on them; API keys by name."""
    with engine_sandbox(settings, superuser_database_url, tmp_path, "scrapi") as box:
        for principal, roles in (
            (OPS, None),
            (ANALYST, {"compliance"}),
            (PROVIDER, {"screening"}),
            (WALLET, {"wallet"}),
            (GATEWAY, {"gateway"}),
        ):
            box.register(principal, None if roles is None else frozenset(roles))
        keys = issue_keys(box, {"analyst": ANALYST, "wallet": WALLET})
        with running_projections(box):
            api = None
            try:
                box.start()
                until(
                    "the API keys reached the principals projection",
                    lambda: len(box_sql(box, "SELECT 1 FROM api_keys")) == 2,
                )
                env = gateway_api_env(settings, box, GATEWAY, tmp_path)
                api, base = start_api(env, tmp_path / "api.log")
                yield box, base, keys
            finally:
                if api is not None:
                    stop_process(api)


def call(base: str, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    return httpx.request(method, base + path, headers=headers, timeout=30, **kwargs)


def test_an_analyst_escalates_and_confirms_a_hit_over_http(
    session: tuple[Sandbox, str, dict[str, str]],
) -> None:
    box, base, keys = session
    run = uuid.uuid4().hex[:6]
    account, screening_id = f"dan-{run}", f"scr-{run}"
    answer = LocalScreener().screen(Subject("Ivan Placeholder", "1961-04-02"))
    commands = [
        {
            "command_id": f"{run}-1",
            "type": "open_account",
            "actor": OPS,
            "payload": {"account_id": account, "currency": "EUR", "kind": "customer"},
        },
        {
            "command_id": f"{run}-2",
            "type": "request_screening",
            "actor": ANALYST,
            "payload": {
                "screening_id": screening_id,
                "holder_id": f"holder-{run}",
                "account_ids": [account],
                "subject_ref": f"kyc:{run}",
            },
        },
        result_command(screening_id, answer, PROVIDER),
    ]
    publish(
        box.bootstrap,
        box.topics.commands,
        [(run.encode(), json.dumps(sign(c)).encode()) for c in commands],
    )
    outcomes = wait_outcomes(
        box.bootstrap, box.topics.command_results, {c["command_id"] for c in commands}
    )
    assert all(found[0]["code"] is None for found in outcomes.values()), outcomes

    def case() -> httpx.Response:
        return call(base, keys["analyst"], "GET", f"/screenings/{screening_id}")

    until(
        "the flagged screening reached the audit log",
        lambda: case().status_code == 200 and case().json()["status"] == "flagged",
    )
    flagged = case().json()
    assert flagged["account_ids"] == [account] and flagged["holder_id"] == f"holder-{run}"
    assert [(s["step"], s["actor"]) for s in flagged["steps"]] == [
        ("requested", ANALYST),
        ("flagged", PROVIDER),
    ]
    assert (flagged["steps"][1]["score"], flagged["steps"][1]["matches"]) == (100, ["wl-0001"])
    assert call(base, keys["wallet"], "GET", f"/screenings/{screening_id}").status_code == 403
    assert call(base, keys["analyst"], "GET", "/screenings/scr-none").status_code == 404

    path = f"/screenings/{screening_id}"
    early = call(
        base,
        keys["analyst"],
        "POST",
        path + "/resolution",
        headers={"Idempotency-Key": f"{run}-early"},
        json={"outcome": "confirmed", "reason": "too early"},
    )
    assert (early.status_code, early.json()["code"]) == (200, "invalid_screening_state")
    escalated = call(
        base,
        keys["analyst"],
        "POST",
        path + "/escalation",
        json={"command_id": f"{run}-esc", "reason": "score 100: to the MLRO"},
    )
    assert (escalated.status_code, escalated.json()["status"]) == (200, "accepted")
    confirmed = call(
        base,
        keys["analyst"],
        "POST",
        path + "/resolution",
        headers={"Idempotency-Key": f"{run}-confirm"},
        json={"outcome": "confirmed", "reason": "passport matches"},
    )
    assert (confirmed.status_code, confirmed.json()["status"]) == (200, "accepted")

    until("the confirmation reached the audit log", lambda: case().json()["status"] == "confirmed")
    steps = case().json()["steps"]
    assert [(s["step"], s["actor"], s["reason"]) for s in steps[2:]] == [
        ("escalated", ANALYST, "score 100: to the MLRO"),
        ("confirmed", ANALYST, "passport matches"),
    ]
    until(
        "the holder's account was frozen",
        lambda: bool(
            box_sql(
                box,
                "SELECT 1 FROM audit_log WHERE event_type = 'Account.Frozen'"
                " AND payload->>'account_id' = %s AND payload->>'case_ref' = %s",
                (account, screening_id),
            )
        ),
    )


def test_screenings_are_listed_by_status_and_holder_over_http(
    session: tuple[Sandbox, str, dict[str, str]],
) -> None:
    box, base, keys = session
    run = uuid.uuid4().hex[:6]
    holder, other = f"holder-{run}", f"other-{run}"
    clear = LocalScreener().screen(Subject("Ada Lovelace", "1815-12-10"))
    hit = LocalScreener().screen(Subject("Ivan Placeholder", "1961-04-02"))
    assert (clear.result, hit.result) == ("clear", "hit")
    commands: list[dict[str, Any]] = [
        {
            "command_id": f"{run}-open",
            "type": "open_account",
            "actor": OPS,
            "payload": {"account_id": f"acc-{run}", "currency": "EUR", "kind": "customer"},
        }
    ]
    # Four screenings: a, b and c of one holder (pending, cleared, flagged), d of another.
    for name, who in (("a", holder), ("b", holder), ("c", holder), ("d", other)):
        commands.append(
            {
                "command_id": f"{run}-req-{name}",
                "type": "request_screening",
                "actor": ANALYST,
                "payload": {
                    "screening_id": f"scr-{run}-{name}",
                    "holder_id": who,
                    "account_ids": [f"acc-{run}"],
                    "subject_ref": f"kyc:{run}-{name}",
                },
            }
        )
    commands += [
        result_command(f"scr-{run}-b", clear, PROVIDER),
        result_command(f"scr-{run}-c", hit, PROVIDER),
    ]
    publish(
        box.bootstrap,
        box.topics.commands,
        [(run.encode(), json.dumps(sign(c)).encode()) for c in commands],
    )
    outcomes = wait_outcomes(
        box.bootstrap, box.topics.command_results, {c["command_id"] for c in commands}
    )
    assert all(found[0]["code"] is None for found in outcomes.values()), outcomes

    def listed(**params: Any) -> httpx.Response:
        return call(base, keys["analyst"], "GET", "/screenings", params=params)

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [item["screening_id"] for item in response.json()["items"]]

    until(
        "the results reached the audit log",
        lambda: (
            ids(listed(holder_id=holder)) == [f"scr-{run}-{n}" for n in "abc"]
            and {i["status"] for i in listed(holder_id=holder).json()["items"]}
            == {"pending", "cleared", "flagged"}
        ),
    )
    items = {i["screening_id"]: i for i in listed(holder_id=holder).json()["items"]}
    assert {i: item["status"] for i, item in items.items()} == {
        f"scr-{run}-a": "pending", f"scr-{run}-b": "cleared", f"scr-{run}-c": "flagged"
    }  # fmt: skip
    first = items[f"scr-{run}-a"]
    assert (first["holder_id"], first["account_ids"], first["subject_ref"]) == (
        holder, [f"acc-{run}"], f"kyc:{run}-a"
    )  # fmt: skip
    assert first["updated_at"] == first["requested_at"]  # nothing after the request
    assert items[f"scr-{run}-c"]["updated_at"] > items[f"scr-{run}-c"]["requested_at"]

    assert ids(listed(holder_id=holder, status="pending")) == [f"scr-{run}-a"]
    assert ids(listed(holder_id=holder, status="flagged")) == [f"scr-{run}-c"]
    assert ids(listed(holder_id=holder, status="confirmed")) == []
    assert ids(listed(holder_id=other)) == [f"scr-{run}-d"]
    pending = ids(listed(status="pending", limit=1000))
    assert {f"scr-{run}-a", f"scr-{run}-d"} <= set(pending) and f"scr-{run}-b" not in pending

    # Pages of two: a full page names where the next starts, the short last one null.
    page = listed(holder_id=holder, limit=2).json()
    assert [i["screening_id"] for i in page["items"]] == [f"scr-{run}-a", f"scr-{run}-b"]
    assert page["next_after"] == f"scr-{run}-b"
    rest = listed(holder_id=holder, limit=2, after=page["next_after"]).json()
    assert ([i["screening_id"] for i in rest["items"]], rest["next_after"]) == (
        [f"scr-{run}-c"], None
    )  # fmt: skip

    assert call(base, keys["wallet"], "GET", "/screenings").status_code == 403
    assert call(base, "not-a-key", "GET", "/screenings").status_code == 401
    assert listed(status="open").status_code == 422
    assert listed(limit=0).status_code == 422
    assert listed(holder_id="bad id").status_code == 422


def test_the_provider_answers_pending_screenings_from_the_command_line(
    session: tuple[Sandbox, str, dict[str, str]], settings: Settings, tmp_path: Path
) -> None:
    box, base, keys = session
    run = uuid.uuid4().hex[:6]
    holder = f"holder-{run}"
    names = {"hit": ("Ivan Placeholder", "1961-04-02"), "clear": ("Ada Lovelace", "1815-12-10")}
    subjects = tmp_path / "subjects.json"
    subjects.write_text(json.dumps({
        f"kyc:{run}-{name}": {"name": who, "date_of_birth": born}
        for name, (who, born) in names.items()
    }))  # fmt: skip
    commands: list[dict[str, Any]] = [
        {
            "command_id": f"{run}-open",
            "type": "open_account",
            "actor": OPS,
            "payload": {"account_id": f"acc-{run}", "currency": "EUR", "kind": "customer"},
        }
    ]
    for name in ("hit", "clear", "unknown"):  # the file has no subject for "unknown"
        commands.append(
            {
                "command_id": f"{run}-req-{name}",
                "type": "request_screening",
                "actor": ANALYST,
                "payload": {
                    "screening_id": f"scr-{run}-{name}",
                    "holder_id": holder,
                    "account_ids": [f"acc-{run}"],
                    "subject_ref": f"kyc:{run}-{name}",
                },
            }
        )
    publish(
        box.bootstrap,
        box.topics.commands,
        [(run.encode(), json.dumps(sign(c)).encode()) for c in commands],
    )
    outcomes = wait_outcomes(
        box.bootstrap, box.topics.command_results, {c["command_id"] for c in commands}
    )
    assert all(found[0]["code"] is None for found in outcomes.values()), outcomes

    def statuses() -> dict[str, str]:
        found = call(base, keys["analyst"], "GET", "/screenings", params={"holder_id": holder})
        return {i["screening_id"].rsplit("-", 1)[1]: i["status"] for i in found.json()["items"]}

    until("the requests reached the audit log", lambda: len(statuses()) == 3)

    pem = tmp_path / "provider.pem"
    pem.touch(mode=0o600)
    pem.write_bytes(signer_for(PROVIDER).private_pem())
    env = principals.role_env(settings, "client", box.url) | {
        "PAYMENTS_TOPIC_PREFIX": box.prefix,
        "PAYMENTS_SIGNING_KEY_FILE": str(pem),
        "PAYMENTS_SIGNING_PRINCIPAL": PROVIDER,
    }

    def screen_pending() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "payments.cli", "screen", "pending", "--subjects",
             str(subjects)],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
        )  # fmt: skip

    first = screen_pending()
    assert first.returncode == 0, first.stderr
    sent = [json.loads(line) for line in first.stdout.splitlines()]
    assert {(o["command_id"], o["status"], o["replayed"]) for o in sent} == {
        (f"screening:scr-{run}-hit", "accepted", False),
        (f"screening:scr-{run}-clear", "accepted", False),
    }
    assert f"scr-{run}-unknown: no subject kyc:{run}-unknown" in first.stderr

    until(
        "the answers reached the audit log",
        lambda: statuses() == {"hit": "flagged", "clear": "cleared", "unknown": "pending"},
    )
    case = call(base, keys["analyst"], "GET", f"/screenings/scr-{run}-hit").json()
    assert [(s["step"], s["actor"]) for s in case["steps"]] == [
        ("requested", ANALYST),
        ("flagged", PROVIDER),
    ]
    assert (case["steps"][1]["score"], case["steps"][1]["matches"]) == (100, ["wl-0001"])

    # Again: only the unknown one is pending, so nothing is sent.
    again = screen_pending()
    assert (again.returncode, again.stdout) == (0, ""), again.stderr
    # An answer sent twice (a run that read the screenings before the first one's
    # answers were projected) is one decision: the same command id and payload.
    (late,), _ = answers(
        [{"screening_id": f"scr-{run}-hit", "subject_ref": f"kyc:{run}-hit"}],
        {f"kyc:{run}-hit": Subject(*names["hit"])},
        LocalScreener(),
    )
    late["actor"] = PROVIDER
    publish(box.bootstrap, box.topics.commands, [(run.encode(), json.dumps(sign(late)).encode())])
    records = read_topic(
        box.bootstrap,
        box.topics.command_results,
        lambda rs: len(outcomes_by_command(rs).get(late["command_id"], [])) == 2,
        timeout=90,
    )
    second = outcomes_by_command(records)[late["command_id"]][1]
    assert (second["status"], second["replayed"]) == ("accepted", True)
