"""The disputes admin API as operators use it: two people, one dispute, over HTTP.

The business day, engine, consumers and API processes are test_api.py's (its `day`
fixture, imported: this module gets a day of its own). On top of it: two operators
with the `disputes` role, a disputes account, and two disputes of the shop's payment
(1 700 captured and not refunded), opened with POST /commands as the network's
integration would. Nothing is mocked: real uvicorn, Kafka and PostgreSQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.test_api import Day, api_key, audit_rows, day, get, post, problem
from tests.support.signing import register_in_store

pytestmark = pytest.mark.integration
__all__ = ["day"]  # the fixture, imported to be used here


@dataclass(frozen=True)
class Disputes:
    won: str  # contested, proposed by A, approved by B
    lost: str  # accepted by the merchant's own key
    first: str  # the operator who proposes
    second: str  # the operator who approves


def send(day: Day, path: str, key: str, body: Any = None, **headers: str) -> httpx.Response:
    auth = {"Authorization": f"Bearer {day.keys.get(key, key)}"}
    return httpx.post(day.api + path, json=body, headers=auth | headers, timeout=15)


def accepted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["status"] == "accepted", outcome
    return outcome


def wait_for(probe: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


@pytest.fixture(scope="module")
def disputes(day: Day) -> Disputes:
    run = day.run
    first, second = f"disputes-a-{run}@api", f"disputes-b-{run}@api"
    for operator in (first, second):
        register_in_store(operator, roles=frozenset({"disputes"}))
    day.keys["first"], day.keys["second"] = api_key(first), api_key(second)
    day.keys["shop_app"] = api_key(f"ops-{run}@api", f"shop-{run}")
    prefixes = [day.keys[k].split("_")[1] for k in ("first", "second", "shop_app")]
    wait_for(
        lambda: day.sql(
            "SELECT count(*) FROM api_keys k JOIN principals p USING (principal)"
            " WHERE k.prefix = ANY(%s) AND p.roles <> ''", (prefixes,),
        )[0][0] == 3,
        "the operators' keys did not reach the principals projection",
    )  # fmt: skip
    accepted(post(day, {"command_id": f"{run}-dacc", "type": "open_account",
                        "payload": {"account_id": f"disputes-{run}", "currency": "EUR",
                                    "kind": "external"}}))  # fmt: skip
    won, lost = f"dp-won-{run}", f"dp-lost-{run}"
    for n, (dispute_id, amount, due) in enumerate(
        ((won, 1_000, "2099-01-01T00:00:00Z"), (lost, 500, "2099-02-01T00:00:00Z"))
    ):
        accepted(post(day, {"command_id": f"{run}-dopen-{n}", "type": "open_dispute",
                            "payload": {"dispute_id": dispute_id, "payment_id": f"pay-{run}",
                                        "amount": amount, "reason_code": "13.1",
                                        "network": "visa", "evidence_due_by": due,
                                        "disputes_account": f"disputes-{run}"}}))  # fmt: skip
    for dispute_id in (won, lost):
        wait_for(lambda d=dispute_id: get(day, f"/disputes/{d}", "first").status_code == 200,
                 f"{dispute_id} did not reach the disputes table")  # fmt: skip
    return Disputes(won, lost, first, second)


def dispute_when(day: Day, dispute_id: str, status: str) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (body := get(day, f"/disputes/{dispute_id}", "first").json())["status"] == status
            and body
        ),
        f"{dispute_id} did not become {status}",
    )


def test_two_operators_contest_and_win_a_dispute(day: Day, disputes: Disputes) -> None:
    run, won = day.run, disputes.won
    listed = get(day, "/disputes", "first", status="needs_response",
                 merchant_account=f"shop-{run}").json()  # fmt: skip
    assert [d["dispute_id"] for d in listed["items"]] == [won, disputes.lost]  # by due date
    row = listed["items"][0]
    assert (row["amount"], row["currency"], row["payer_account"]) == (1_000, "EUR", f"alice-{run}")
    # Keyset pages: one at a time, the cursor is the last dispute_id.
    page = get(day, "/disputes", "first", merchant_account=f"shop-{run}", limit=1).json()
    assert [d["dispute_id"] for d in page["items"]] == [won] and page["next_after"] == won
    rest = get(day, "/disputes", "first", merchant_account=f"shop-{run}", after=won).json()
    assert [d["dispute_id"] for d in rest["items"]] == [disputes.lost]
    assert rest["next_after"] is None
    before = get(day, "/disputes", "first", merchant_account=f"shop-{run}",
                 due_before="2099-01-15T00:00:00Z").json()  # fmt: skip
    assert [d["dispute_id"] for d in before["items"]] == [won]

    evidence = {"text": "signed delivery receipt", "documents": ["doc:receipt-881.pdf"]}
    key = {"Idempotency-Key": f"{run}-evidence"}
    outcome = accepted(send(day, f"/disputes/{won}/evidence", "first", evidence, **key))
    assert (outcome["type"], outcome["replayed"]) == ("submit_dispute_evidence", False)
    again = accepted(send(day, f"/disputes/{won}/evidence", "first", evidence, **key))
    assert again["replayed"] is True  # the same Idempotency-Key: one decision
    card = {"text": "card 4111 1111 1111 1111 was used"}
    refused = send(day, f"/disputes/{won}/evidence", "first", card).json()
    assert (refused["status"], refused["code"]) == ("rejected", "card_data_in_evidence")
    proposal = {"outcome": "won", "note": "delivery proven"}
    accepted(send(day, f"/disputes/{won}/resolution", "first", proposal))
    # The two-person rule is the engine's: the proposer may not approve.
    own = send(day, f"/disputes/{won}/resolution/approval", "first", {"outcome": "won"})
    assert own.status_code == 200, own.text
    assert (own.json()["status"], own.json()["code"]) == ("rejected", "proposer_cannot_approve")
    approved = send(day, f"/disputes/{won}/resolution/approval", "second", {"outcome": "won"},
                    **{"Idempotency-Key": f"{run}-approval"})  # fmt: skip
    accepted(approved)
    assert audit_rows(day, f"{run}-approval") == [(disputes.second, day.gateway, "accepted")]

    dispute = dispute_when(day, won, "won")
    assert (dispute["proposed_by"], dispute["decided_by"], dispute["cause"]) == (
        disputes.first, disputes.second, "approved",
    )  # fmt: skip
    steps = [(s["event_type"], s["actor"]) for s in dispute["timeline"]]
    assert steps == [
        ("Dispute.Opened", f"ops-{run}@api"),
        ("Dispute.EvidenceSubmitted", disputes.first),
        ("Dispute.ResolutionProposed", disputes.first),
        ("Dispute.Won", disputes.second),
    ]
    assert dispute["timeline"][1]["detail"]["text"] == "signed delivery receipt"
    assert dispute["timeline"][3]["detail"]["proposed_by"] == disputes.first
    assert get(day, "/disputes", "first", status="won",
               merchant_account=f"shop-{run}").json()["items"][0]["dispute_id"] == won  # fmt: skip


def test_the_merchant_s_own_key_accepts_its_dispute(day: Day, disputes: Disputes) -> None:
    mine = get(day, "/disputes", "shop_app").json()["items"]
    assert disputes.lost in [d["dispute_id"] for d in mine]
    assert {d["merchant_account"] for d in mine} == {f"shop-{day.run}"}
    accepted(send(day, f"/disputes/{disputes.lost}/accept", "shop_app"))
    dispute = dispute_when(day, disputes.lost, "lost")
    assert (dispute["cause"], dispute["decided_by"]) == ("accepted", f"ops-{day.run}@api")


def test_intruders_are_refused(day: Day, disputes: Disputes) -> None:
    path = f"/disputes/{disputes.won}"
    problem(get(day, "/disputes", None), 401, "unauthenticated")
    problem(get(day, path, None), 401, "unauthenticated")
    problem(send(day, f"/disputes/{disputes.lost}/accept", "not-a-key"), 401, "unauthenticated")
    assert "disputes:read" in problem(get(day, path, "wallet"), 403, "forbidden")["detail"]
    # The auditor reads disputes and works none.
    assert get(day, path, "auditor").status_code == 200
    refused = send(day, f"/disputes/{disputes.lost}/accept", "auditor")
    assert "disputes:write" in problem(refused, 403, "forbidden")["detail"]
    # A key restricted to alice's accounts: the shop's disputes are not there for it.
    problem(get(day, path, "alice_app"), 403, "account-not-allowed")
    problem(get(day, "/disputes", "alice_app", merchant_account=f"shop-{day.run}"), 403,
            "account-not-allowed")  # fmt: skip
    assert get(day, "/disputes", "alice_app").json()["items"] == []
    problem(get(day, "/disputes", "alice_app", after=disputes.won), 422, "invalid-request")
    problem(get(day, f"/disputes/nope-{day.run}", "alice_app"), 403, "account-not-allowed")
    key = {"Idempotency-Key": f"{day.run}-intruder"}
    problem(send(day, f"/disputes/{disputes.lost}/accept", "alice_app", **key), 403,
            "account-not-allowed")  # fmt: skip
    assert audit_rows(day, f"{day.run}-intruder", timeout=2) == []  # nothing was published
    problem(get(day, f"/disputes/nope-{day.run}", "first"), 404, "not-found")
    problem(get(day, "/disputes", "first", status="open"), 422, "invalid-request")
    problem(get(day, "/disputes", "first", due_before="2099-01-01T00:00:00"), 422,
            "invalid-request")  # fmt: skip
    bad = send(day, f"/disputes/{disputes.won}/resolution", "first", {"outcome": "maybe"})
    problem(bad, 422, "invalid-request")
