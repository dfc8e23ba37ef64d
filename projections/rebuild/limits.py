"""Recompute, from the stored events, that no account was ever overdrawn by choice.

The domain refuses a voluntary debit (a transfer, a refund, a hold) that would leave
available − reserved below −overdraft_limit (docs/contract.md, "Merchant funds are
paid out once"; external accounts have no limit), and a settlement never pays out
more than the merchant holds. This folds every account's events on their own, with
no domain code, and names each event that broke either rule: an engine bug, or a
store written by an engine before the rule (such as one that paid a merchant's
captured money out twice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from projections.events import Event


@dataclass
class _Books:
    kind: str
    limit: int
    posted: int = 0
    held: int = 0
    unsettled: int = 0  # captures − refunds − chargebacks since the last Settled

    @property
    def free(self) -> int:
        """available − reserved: what a voluntary debit may use (before the limit)."""
        return self.posted - self.held - max(0, self.unsettled)


@dataclass(frozen=True)
class Breach:
    position: int
    account_id: str
    rule: str
    expected: str
    actual: int


@dataclass
class LimitCheck:
    accounts: dict[str, _Books] = field(default_factory=dict)
    breaches: list[Breach] = field(default_factory=list)

    def apply(self, events: Iterable[Event]) -> None:
        for event in events:
            if event["aggregate_type"] == "Account":
                self._apply(event)

    def _apply(self, event: Event) -> None:
        event_type, p = event["event_type"], event["payload"]
        if event_type == "Account.Opened":
            self.accounts[p["account_id"]] = _Books(p["kind"], p["overdraft_limit"])
            return
        books = self.accounts.get(p["account_id"])
        if books is None:
            return  # verify's table comparison reports an account without its opening
        voluntary = False
        if event_type == "Account.Debited":
            books.posted -= p["amount"]
            if p["reason"] in ("refund", "chargeback"):
                books.unsettled -= p["amount"]
            voluntary = not p["forced"]
        elif event_type == "Account.Credited":
            books.posted += p["amount"]
            if p["reason"] == "capture":
                books.unsettled += p["amount"]
        elif event_type == "Account.HoldPlaced":
            books.held += p["amount"]
            voluntary = True
        elif event_type == "Account.HoldReleased":
            books.held -= p["amount"]
        elif event_type == "Account.HoldCaptured":
            books.posted -= p["amount"]
            books.held -= p["amount"]
        elif event_type == "Account.Settled":
            books.unsettled = 0
        if voluntary and books.kind != "external" and books.free < -books.limit:
            self._breach(event, "available − reserved after a voluntary debit", -books.limit,
                         books.free)  # fmt: skip
        payout = event_type == "Account.Debited" and p["reason"] == "settlement_payout"
        if payout and books.posted - books.held < 0:
            self._breach(event, "available after a settlement payout", 0,
                         books.posted - books.held)  # fmt: skip

    def _breach(self, event: Event, rule: str, bound: int, actual: int) -> None:
        account_id = event["payload"]["account_id"]
        self.breaches.append(Breach(event["position"], account_id, rule, f"≥ {bound}", actual))
