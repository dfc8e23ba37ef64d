"""The demo's dispute desk: two operators contest the books dispute and win it.

Through the admin API (docs/disputes-admin.md), each with a key of their own and the
`disputes` role only: the first submits the evidence and proposes `won`, tries to
approve it too and is refused by the engine (`proposer_cannot_approve`), and the
second approves. Each call is printed as the curl line that makes it and the answer
it got; the run is good only when every answer is the expected one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from payments.runtime.settings import Settings
from payments.tools.demo.api import Answer, DemoApi, call, issue_key

OPERATORS = ("dispute-desk-1@payments", "dispute-desk-2@payments")


@dataclass(frozen=True)
class DeskCall:
    operator: int  # 0: the first operator, 1: the second
    method: str
    path: str
    body: dict[str, Any] | None
    expect: Callable[[Answer], bool]


def _outcome(status: str, code: str | None = None) -> Callable[[Answer], bool]:
    def check(answer: Answer) -> bool:
        body = answer.json()
        return answer.status == 200 and (body["status"], body["code"]) == (status, code)

    return check


def desk_calls(tag: str) -> list[DeskCall]:
    dispute = f"/disputes/dispute-books.{tag}"
    evidence = {
        "text": "the listing shows the edition delivered; signed delivery receipt attached",
        "documents": [f"doc:delivery-receipt.{tag}.pdf"],
    }

    def listed(answer: Answer) -> bool:
        items = answer.json()["items"] if answer.status == 200 else []
        return any(d["dispute_id"] == f"dispute-books.{tag}" for d in items)

    return [
        DeskCall(0, "GET", f"/disputes?status=needs_response&merchant_account=bookshop.{tag}",
                 None, listed),
        DeskCall(0, "POST", f"{dispute}/evidence", evidence, _outcome("accepted")),
        DeskCall(0, "POST", f"{dispute}/resolution",
                 {"outcome": "won", "note": "delivery and description proven"},
                 _outcome("accepted")),
        DeskCall(0, "POST", f"{dispute}/resolution/approval", {"outcome": "won"},
                 _outcome("rejected", "proposer_cannot_approve")),
        DeskCall(1, "POST", f"{dispute}/resolution/approval", {"outcome": "won"},
                 _outcome("accepted")),
    ]  # fmt: skip


def desk_apis(settings: Settings, base: str) -> list[DemoApi]:
    """An hour's key for each operator (made, with the disputes role, if new)."""
    return [DemoApi(base, issue_key(settings, who, {"disputes"})) for who in OPERATORS]


def decided(api: DemoApi, tag: str, timeout: float = 30.0) -> Answer:
    """The books dispute once the projection shows it won (or the last answer)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = call(api, "GET", f"/disputes/dispute-books.{tag}")
        if answer.status == 200 and answer.json()["status"] == "won":
            return answer
        if time.monotonic() > deadline:
            return answer
        time.sleep(0.2)
