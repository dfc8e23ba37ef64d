"""An independent reference model of the contract: plain dicts, no eventsourcing.

Written from /work/shared/contract.md (and the order of checks documented in
payments/domain/handlers.py) without reusing the engine's code, so the property test
can hold the engine against it. Deliberately naive: no batching, no persistence.

Time: the engine decides risk windows, cooling-off and authorization expiry by the
decision's clock (the one its events are stamped with); the model reads `clock`, the
same moment the test gives the engine (tests/support/clock.py), or the real clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from payments.domain.currencies import ISO_4217

ID = re.compile(r"[A-Za-z0-9:_.\-]{1,64}")
KINDS = {"customer", "merchant", "external", "fees"}
MAX = 10**12
BOUND = 10**15  # |posted|, held and each unsettled total stay within it

# type -> {field: (rule, required)}
SPEC: dict[str, dict[str, tuple[str, bool]]] = {
    "open_account": {
        "account_id": ("id", True),
        "currency": ("currency", True),
        "kind": ("kind", True),
        "overdraft_limit": ("limit", False),
    },
    "close_account": {"account_id": ("id", True)},
    "transfer": {
        "transfer_id": ("id", True),
        "from_account": ("id", True),
        "to_account": ("id", True),
        "amount": ("amount", True),
        "currency": ("currency", True),
    },
    "authorize_payment": {
        "payment_id": ("id", True),
        "payer_account": ("id", True),
        "merchant_account": ("id", True),
        "amount": ("amount", True),
        "currency": ("currency", True),
        "expires_in_seconds": ("expiry", False),
    },
    "capture_payment": {"payment_id": ("id", True), "amount": ("amount", False)},
    "void_payment": {"payment_id": ("id", True)},
    "refund_payment": {"payment_id": ("id", True), "amount": ("amount", True)},
    "chargeback_payment": {
        "payment_id": ("id", True),
        "amount": ("amount", True),
        "reason": ("reason", True),
    },
    "settle_merchant": {
        "batch_id": ("id", True),
        "merchant_account": ("id", True),
        "payout_account": ("id", True),
        "fees_account": ("id", True),
        "fee_bps": ("bps", True),
    },
    # Issue 18: freezes, KYC tiers and risk rules (docs/contract.md, "Risk and compliance").
    "freeze_account": {
        "account_id": ("id", True),
        "reason": ("reason", True),
        "case_ref": ("id", True),
    },
    "unfreeze_account": {
        "account_id": ("id", True),
        "reason": ("reason", True),
        "case_ref": ("id", True),
    },
    "set_kyc_tier": {
        "account_id": ("id", True),
        "tier": ("tier", True),
        "reason": ("reason", True),
    },
    "set_risk_rules": {
        "version": ("version", True),
        "cooling_off": ("rules", False),
        "maximums": ("rules", False),
        "velocity": ("rules", False),
    },
    # Disputes (docs/contract.md, "Disputes"): the property test varies the ids, the
    # amount and the fee terms; the other fields are generated valid ("any").
    "open_dispute": {
        "dispute_id": ("id", True),
        "payment_id": ("id", True),
        "amount": ("amount", True),
        "reason_code": ("any", True),
        "network": ("id", True),
        "evidence_due_by": ("any", True),
        "disputes_account": ("id", True),
        "fee": ("any", False),
        "fee_refunded_if_won": ("any", False),
        "fees_account": ("id", False),
    },
    "submit_dispute_evidence": {
        "dispute_id": ("id", True),
        "text": ("any", True),
        "documents": ("any", False),
    },
    "accept_dispute": {"dispute_id": ("id", True)},
    "propose_dispute_resolution": {
        "dispute_id": ("id", True),
        "outcome": ("any", True),
        "note": ("reason", True),
    },
    "approve_dispute_resolution": {"dispute_id": ("id", True), "outcome": ("any", True)},
    "expire_disputes": {"as_of": ("any", True)},
    # Reviews of held transfers and authorization expiry (docs/contract.md, "Review",
    # "Authorization expiry"): the property test sends only valid `as_of` values.
    "approve_review": {"transfer_id": ("id", True), "note": ("reason", True)},
    "decline_review": {"transfer_id": ("id", True), "note": ("reason", True)},
    "expire_authorizations": {"as_of": ("any", True)},
}
EXPIRY_SECONDS = (60, 30 * 86_400)  # expires_in_seconds: a minute to 30 days
# 13-19 digits (spaces or dashes between) that pass the Luhn check: a card number.
CARD_NUMBER = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


TOTALS = ("gross", "refunds", "chargebacks", "disputes", "reinstatements")


def _unsettled(account: dict[str, Any]) -> int:
    return (
        account["gross"]
        - account["refunds"]
        - account["chargebacks"]
        - account["disputes"]
        + account["reinstatements"]
    )


def _remaining(payment: dict[str, Any]) -> int:
    return payment["authorized"] - payment["captured"] - payment["voided"] - payment["expired"]


def _minute(moment: datetime) -> int:
    """The whole minute of a moment since the epoch (velocity windows count minutes)."""
    return int(moment.timestamp()) // 60


def _reversible(payment: dict[str, Any]) -> int:
    return payment["captured"] - payment["refunded"] - payment["charged_back"] - payment["disputed"]


class Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _is_int(value: Any) -> bool:
    return type(value) is int


def _field_code(rule: str, value: Any) -> str | None:
    """The rejection code for one field's value, or None when it is fine."""
    if rule == "id":
        return None if isinstance(value, str) and ID.fullmatch(value) else "invalid_command"
    if rule == "amount":
        return None if _is_int(value) and 1 <= value <= MAX else "invalid_amount"
    if rule == "currency":
        return None if isinstance(value, str) and value in ISO_4217 else "invalid_currency"
    if rule == "kind":
        return None if value in KINDS else "invalid_command"
    if rule == "expiry":
        low, high = EXPIRY_SECONDS
        return None if _is_int(value) and low <= value <= high else "invalid_command"
    if rule == "limit":
        return None if _is_int(value) and 0 <= value <= MAX else "invalid_command"
    if rule == "bps":
        return None if _is_int(value) and 0 <= value <= 10_000 else "invalid_command"
    if rule == "any":
        return None
    if rule == "reason":
        return None if isinstance(value, str) and 1 <= len(value) <= 256 else "invalid_command"
    if rule == "tier":
        return None if _is_int(value) and 0 <= value <= 9 else "invalid_command"
    if rule == "version":
        return None if _is_int(value) and value >= 1 else "invalid_command"
    if rule == "rules":  # the property test sends only well-formed rules
        return None if isinstance(value, list) else "invalid_command"
    raise AssertionError(rule)


def _valid_command_id(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 128 and all(" " <= c <= "~" for c in value)


def check_envelope(raw: dict[str, Any]) -> None:
    """The envelope's rules: checked before the signature, so a breach is not remembered."""
    allowed = {"command_id", "type", "actor", "issued_at", "payload", "key_id", "signature"}
    if set(raw) - allowed or not {"command_id", "type", "actor", "payload"} <= set(raw):
        raise Refused("invalid_command")
    if not isinstance(raw["actor"], str) or not 1 <= len(raw["actor"]) <= 256:
        raise Refused("invalid_command")
    if not isinstance(raw["type"], str) or not isinstance(raw["payload"], dict):
        raise Refused("invalid_command")
    if len(raw["type"]) > 64:
        raise Refused("invalid_command")


def huge_integer(value: Any) -> bool:
    """An integer no client can sign as the engine reads it (beyond ±(2^63−1))."""
    if type(value) is int:
        return abs(value) > 2**63 - 1
    if isinstance(value, dict):
        return any(huge_integer(v) for v in value.values())
    return isinstance(value, list) and any(huge_integer(v) for v in value)


def validate(raw: dict[str, Any]) -> None:
    """The payload's rules (after the signature: a breach is remembered)."""
    spec = SPEC.get(raw["type"])
    if spec is None:
        raise Refused("unknown_command_type")
    payload = raw["payload"]
    # The first broken field in declared order decides; unknown fields come after.
    for field, (rule, required) in spec.items():
        if field not in payload:
            if required:
                raise Refused("invalid_command")
            continue
        if rule in ("amount", "expiry") and not required and payload[field] is None:
            continue  # capture's optional amount (and an expiry) may be given as null
        code = _field_code(rule, payload[field])
        if code:
            raise Refused(code)
    if set(payload) - set(spec):
        raise Refused("invalid_command")
    if (
        raw["type"] == "open_dispute"
        and payload.get("fee", 0) > 0
        and not payload.get("fees_account")
    ):
        raise Refused("invalid_command")


def _luhn(digits: str) -> bool:
    total = 0
    for n, char in enumerate(reversed(digits)):
        value = int(char) * (2 if n % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def holds_card_number(text: str) -> bool:
    return any(_luhn(re.sub("[ -]", "", m.group())) for m in CARD_NUMBER.finditer(text))


def _real_clock() -> datetime:
    return datetime.now(UTC)


class ReferenceBooks:
    def __init__(self, clock: Callable[[], datetime] = _real_clock) -> None:
        self.clock = clock  # the decision's time: risk windows, cooling-off, expiry
        self.accounts: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        # transfer id -> its review: None (posted at once), pending, approved, declined
        self.transfers: dict[str, dict[str, Any]] = {}
        self.batches: set[str] = set()
        self.disputes: dict[str, dict[str, Any]] = {}
        self.actor = ""  # of the command being decided (the two-person rule)
        self.now = datetime.now(UTC)  # the engine's clock, as the test runs
        self.decided: dict[str, tuple[str, str, str | None]] = {}  # id -> (print, status, code)
        self.rules: dict[str, Any] = {"version": 0}

    # --- the service -------------------------------------------------------------------

    def decide(self, raw: dict[str, Any]) -> tuple[str, str | None, bool]:
        """(status, code, replayed)"""
        command_id = raw.get("command_id")
        if not _valid_command_id(command_id):
            return "rejected", "invalid_command", False
        try:
            check_envelope(raw)
            if huge_integer(raw["payload"]):
                validate(raw)  # names the broken field; never remembered
                raise Refused("invalid_command")
        except Refused as refused:
            return "rejected", refused.code, False
        print_ = json.dumps(
            {"type": raw.get("type"), "payload": raw.get("payload")}, sort_keys=True
        )
        if command_id in self.decided:
            earlier, status, code = self.decided[command_id]
            if earlier == print_:
                return status, code, True
            return "rejected", "idempotency_conflict", False
        try:
            validate(raw)
            self.actor, self.now = raw["actor"], datetime.now(UTC)
            getattr(self, raw["type"])(raw["payload"])
            result: tuple[str, str | None] = ("accepted", None)
        except Refused as refused:
            result = ("rejected", refused.code)
        self.decided[command_id] = (print_, *result)
        return (*result, False)

    # --- helpers -----------------------------------------------------------------------

    def _account(self, account_id: str) -> dict[str, Any]:
        if account_id not in self.accounts:
            raise Refused("account_not_found")
        account = self.accounts[account_id]
        if account["closed"]:
            raise Refused("account_closed")
        return account

    def _payment(self, payment_id: str) -> dict[str, Any]:
        if payment_id not in self.payments:
            raise Refused("payment_not_found")
        return self.payments[payment_id]

    @staticmethod
    def _can_pay(account: dict[str, Any], amount: int, refund: bool = False) -> None:
        """Voluntary: what stays must cover the unsettled net (after a refund, its own)."""
        if account["kind"] == "external":
            return
        unsettled = _unsettled(account)
        reserved = max(0, unsettled - amount if refund else unsettled)
        if account["posted"] - account["held"] - amount - reserved < -account["limit"]:
            raise Refused("insufficient_funds")

    @staticmethod
    def _not_frozen(account: dict[str, Any]) -> None:
        if account["frozen"]:
            raise Refused("account_frozen")

    def _risk(self, account_id: str, amount: int) -> str | None:
        """The first rule that fires, in the order cooling-off, maximums, velocity: a
        blocking rule raises its code; a review rule's code is returned."""
        for code, rule in self._fired_rules(self.accounts[account_id], amount):
            if rule.get("action", "block") == "review":
                return code
            raise Refused(code)
        return None

    def _fired_rules(self, account: dict[str, Any], amount: int) -> Any:
        now = self.clock()
        applies = (account["kind"], account["currency"])
        for rule in self.rules.get("cooling_off", []):
            age = (now - account["opened_at"]).total_seconds()
            if _covers(rule, applies) and age < rule["seconds"] and amount > rule["max_amount"]:
                yield "risk_blocked", rule
        for rule in self.rules.get("maximums", []):
            if _covers(rule, applies):
                tiers = rule.get("kyc_tiers", [])
                if (not tiers or account["tier"] in tiers) and amount > rule["max_amount"]:
                    yield "risk_blocked", rule
        for rule in self.rules.get("velocity", []):
            if not _covers(rule, applies):
                continue
            # Whole minutes: a debit counts while its minute is less than the window's
            # minutes before this one (this minute included).
            window = [a for minute, a in account["debits"]
                      if _minute(now) - minute < rule["window_seconds"] // 60]  # fmt: skip
            count, total = len(window) + 1, sum(window) + amount
            if count > rule.get("max_count", count) or total > rule.get("max_sum", total):
                yield "velocity_limit_exceeded", rule

    @staticmethod
    def _fits(account: dict[str, Any], posted: int = 0, held: int = 0, item: int = 0) -> None:
        totals = max(account[total] for total in TOTALS)
        if max(abs(account["posted"] + posted), account["held"] + held, totals + item) > BOUND:
            raise Refused("balance_limit_exceeded")

    def _move(self, debit: dict[str, Any], credit: dict[str, Any], amount: int) -> None:
        debit["posted"] -= amount
        credit["posted"] += amount

    # --- commands ----------------------------------------------------------------------

    def open_account(self, p: dict[str, Any]) -> None:
        if p["account_id"] in self.accounts:
            raise Refused("account_exists")
        self.accounts[p["account_id"]] = {
            "currency": p["currency"],
            "kind": p["kind"],
            "limit": p.get("overdraft_limit", 0),
            "posted": 0,
            "held": 0,
            "closed": False,
            "gross": 0,
            "refunds": 0,
            "chargebacks": 0,
            "disputes": 0,
            "reinstatements": 0,
            "items": 0,
            "frozen": False,
            "tier": 0,
            "opened_at": self.clock(),
            "debits": [],  # (minute, amount) of voluntary debits and holds: velocity
        }

    def close_account(self, p: dict[str, Any]) -> None:
        account = self._account(p["account_id"])
        if account["posted"] or account["held"]:
            raise Refused("account_not_empty")
        account["closed"] = True

    def transfer(self, p: dict[str, Any]) -> None:
        if p["transfer_id"] in self.transfers:
            raise Refused("transfer_exists")
        if p["from_account"] == p["to_account"]:
            raise Refused("same_account")
        source, target = self._account(p["from_account"]), self._account(p["to_account"])
        if source["currency"] != p["currency"] or target["currency"] != p["currency"]:
            raise Refused("currency_mismatch")
        self._not_frozen(source)
        self._can_pay(source, p["amount"])
        review = self._risk(p["from_account"], p["amount"])
        self._fits(source, posted=-p["amount"], held=p["amount"] if review else 0)
        self._fits(target, posted=p["amount"])
        self.transfers[p["transfer_id"]] = {
            "review": "pending" if review else None,
            "from": p["from_account"],
            "to": p["to_account"],
            "amount": p["amount"],
        }
        source["debits"].append((_minute(self.clock()), p["amount"]))
        if review:  # held, not posted, until approve_review / decline_review
            source["held"] += p["amount"]
        else:
            self._move(source, target, p["amount"])

    def authorize_payment(self, p: dict[str, Any]) -> None:
        if p["payment_id"] in self.payments:
            raise Refused("payment_exists")
        if p["payer_account"] == p["merchant_account"]:
            raise Refused("same_account")
        payer, merchant = self._account(p["payer_account"]), self._account(p["merchant_account"])
        if payer["currency"] != p["currency"] or merchant["currency"] != p["currency"]:
            raise Refused("currency_mismatch")
        if payer["kind"] not in ("customer", "external") or merchant["kind"] != "merchant":
            raise Refused("invalid_account_kind")
        self._not_frozen(payer)
        self._can_pay(payer, p["amount"])
        review = self._risk(p["payer_account"], p["amount"])
        if review:  # an authorization cannot be held for review: refused as if blocked
            raise Refused(review)
        self._fits(payer, held=p["amount"])
        payer["held"] += p["amount"]
        payer["debits"].append((_minute(self.clock()), p["amount"]))
        seconds = p.get("expires_in_seconds")
        self.payments[p["payment_id"]] = {
            "payer": p["payer_account"],
            "merchant": p["merchant_account"],
            "authorized": p["amount"],
            "captured": 0,
            "voided": 0,
            "refunded": 0,
            "charged_back": 0,
            "disputed": 0,
            "expires_at": None if seconds is None else self.clock() + timedelta(seconds=seconds),
            "expired": 0,
        }

    def capture_payment(self, p: dict[str, Any]) -> None:
        payment = self._payment(p["payment_id"])
        remaining = _remaining(payment)
        if payment["voided"]:
            raise Refused("invalid_payment_state")
        due = payment["expires_at"]
        if payment["expired"] or (due is not None and self.clock() >= due):
            raise Refused("authorization_expired")
        amount = p.get("amount")
        if amount is None:
            if remaining == 0:
                raise Refused("invalid_payment_state")
            amount = remaining
        elif amount > remaining:
            raise Refused("amount_exceeds_authorized")
        payer, merchant = self._account(payment["payer"]), self._account(payment["merchant"])
        self._not_frozen(payer)
        self._fits(payer, posted=-amount, held=-amount)
        self._fits(merchant, posted=amount, item=amount)
        payment["captured"] += amount
        payer["held"] -= amount
        self._move(payer, merchant, amount)
        merchant["gross"] += amount
        merchant["items"] += 1

    def void_payment(self, p: dict[str, Any]) -> None:
        payment = self._payment(p["payment_id"])
        remaining = _remaining(payment)
        # After its expiry time but before the sweep, an authorization can still be voided.
        if payment["voided"] or payment["expired"] or remaining == 0:
            raise Refused("invalid_payment_state")
        payer = self._account(payment["payer"])
        payment["voided"] = remaining
        payer["held"] -= remaining

    def _reverse(self, p: dict[str, Any], kind: str) -> None:
        payment = self._payment(p["payment_id"])
        if p["amount"] > _reversible(payment):
            raise Refused("amount_exceeds_captured")
        merchant = self._account(payment["merchant"])
        if kind == "refunds":
            payer = self._account(payment["payer"])
            self._not_frozen(merchant)
            self._can_pay(merchant, p["amount"], refund=True)
        else:  # chargebacks are forced, and facts: a closed payer is credited anyway
            payer = self.accounts[payment["payer"]]
        self._fits(merchant, posted=-p["amount"], item=p["amount"])
        self._fits(payer, posted=p["amount"])
        payment["refunded" if kind == "refunds" else "charged_back"] += p["amount"]
        self._move(merchant, payer, p["amount"])
        merchant[kind] += p["amount"]
        merchant["items"] += 1

    def refund_payment(self, p: dict[str, Any]) -> None:
        self._reverse(p, "refunds")

    def chargeback_payment(self, p: dict[str, Any]) -> None:
        self._reverse(p, "chargebacks")

    def settle_merchant(self, p: dict[str, Any]) -> None:
        if p["batch_id"] in self.batches:
            raise Refused("batch_exists")
        merchant = self._account(p["merchant_account"])
        payout = self._account(p["payout_account"])
        fees_account = self._account(p["fees_account"])
        if (
            payout["currency"] != merchant["currency"]
            or fees_account["currency"] != merchant["currency"]
        ):
            raise Refused("currency_mismatch")
        if (merchant["kind"], payout["kind"], fees_account["kind"]) != (
            "merchant",
            "external",
            "fees",
        ):
            raise Refused("invalid_account_kind")
        if merchant["items"] == 0:
            raise Refused("nothing_to_settle")
        fees = (merchant["gross"] * p["fee_bps"] + 5000) // 10000
        net = _unsettled(merchant) - fees
        # Never pay out more than the merchant holds once the fee is taken.
        paid = max(0, min(net, merchant["posted"] - merchant["held"] - fees))
        self._fits(merchant, posted=-(fees + paid))
        self._fits(fees_account, posted=fees)
        self._fits(payout, posted=paid)
        if fees > 0:
            self._move(merchant, fees_account, fees)
        if paid > 0:
            self._move(merchant, payout, paid)
        merchant.update({total: 0 for total in TOTALS}, items=0)
        self.batches.add(p["batch_id"])

    # --- disputes ----------------------------------------------------------------------

    def _existing(self, account_id: str) -> dict[str, Any]:
        if account_id not in self.accounts:
            raise Refused("account_not_found")
        return self.accounts[account_id]

    def _dispute(self, dispute_id: str) -> dict[str, Any]:
        if dispute_id not in self.disputes:
            raise Refused("dispute_not_found")
        return self.disputes[dispute_id]

    @staticmethod
    def _undecided(dispute: dict[str, Any]) -> None:
        if dispute["status"] in ("won", "lost"):
            raise Refused("invalid_dispute_state")

    def open_dispute(self, p: dict[str, Any]) -> None:
        if p["dispute_id"] in self.disputes:
            raise Refused("dispute_exists")
        payment = self._payment(p["payment_id"])
        merchant = self._account(payment["merchant"])
        disputes = self._account(p["disputes_account"])
        fees_account = self._account(p["fees_account"]) if p.get("fees_account") else None
        self._existing(payment["payer"])
        if disputes["currency"] != merchant["currency"]:
            raise Refused("currency_mismatch")
        if disputes["kind"] != "external":
            raise Refused("invalid_account_kind")
        if fees_account is not None and fees_account["currency"] != merchant["currency"]:
            raise Refused("currency_mismatch")
        if fees_account is not None and fees_account["kind"] != "fees":
            raise Refused("invalid_account_kind")
        if p["amount"] > _reversible(payment):
            raise Refused("amount_exceeds_captured")
        fee = p.get("fee", 0)
        self._fits(merchant, posted=-(p["amount"] + fee), item=p["amount"] + fee)
        self._fits(disputes, posted=p["amount"])
        if fees_account is not None:
            self._fits(fees_account, posted=fee)
        payment["disputed"] += p["amount"]
        self._move(merchant, disputes, p["amount"])
        merchant["disputes"] += p["amount"]
        merchant["items"] += 1
        if fees_account is not None and fee > 0:
            self._move(merchant, fees_account, fee)
            merchant["disputes"] += fee
            merchant["items"] += 1
        self.disputes[p["dispute_id"]] = {
            "payment": payment,
            "merchant": payment["merchant"],
            "payer": payment["payer"],
            "account": p["disputes_account"],
            "fees_account": p.get("fees_account"),
            "amount": p["amount"],
            "fee_refund": fee if p.get("fee_refunded_if_won") else 0,
            "due": datetime.fromisoformat(p["evidence_due_by"]),
            "status": "needs_response",
            "proposal": None,  # (outcome, proposer)
        }

    def submit_dispute_evidence(self, p: dict[str, Any]) -> None:
        dispute = self._dispute(p["dispute_id"])
        if any(holds_card_number(text) for text in (p["text"], *p.get("documents", []))):
            raise Refused("card_data_in_evidence")
        self._undecided(dispute)
        if dispute["proposal"] is not None:
            raise Refused("invalid_dispute_state")
        if self.now > dispute["due"]:
            raise Refused("evidence_past_due")
        dispute["status"] = "under_review"

    def _lose(self, dispute: dict[str, Any]) -> None:
        account, payer = self._existing(dispute["account"]), self._existing(dispute["payer"])
        self._fits(account, posted=-dispute["amount"])
        self._fits(payer, posted=dispute["amount"])
        self._move(account, payer, dispute["amount"])
        dispute["status"] = "lost"

    def accept_dispute(self, p: dict[str, Any]) -> None:
        dispute = self._dispute(p["dispute_id"])
        self._undecided(dispute)
        self._lose(dispute)

    def propose_dispute_resolution(self, p: dict[str, Any]) -> None:
        dispute = self._dispute(p["dispute_id"])
        self._undecided(dispute)
        if dispute["status"] != "under_review":
            raise Refused("invalid_dispute_state")
        dispute["proposal"] = (p["outcome"], self.actor)

    def approve_dispute_resolution(self, p: dict[str, Any]) -> None:
        dispute = self._dispute(p["dispute_id"])
        self._undecided(dispute)
        if dispute["proposal"] is None or dispute["proposal"][0] != p["outcome"]:
            raise Refused("resolution_not_proposed")
        if dispute["proposal"][1] == self.actor:
            raise Refused("proposer_cannot_approve")
        if p["outcome"] == "lost":
            self._lose(dispute)
            return
        account, merchant = self._existing(dispute["account"]), self._existing(dispute["merchant"])
        back = dispute["amount"] + dispute["fee_refund"]
        self._fits(merchant, posted=back, item=back)
        self._fits(account, posted=-dispute["amount"])
        dispute["payment"]["disputed"] -= dispute["amount"]
        self._move(account, merchant, dispute["amount"])
        merchant["reinstatements"] += dispute["amount"]
        merchant["items"] += 1
        if dispute["fee_refund"]:
            self._move(self.accounts[dispute["fees_account"]], merchant, dispute["fee_refund"])
            merchant["reinstatements"] += dispute["fee_refund"]
            merchant["items"] += 1
        dispute["status"] = "won"

    def expire_disputes(self, p: dict[str, Any]) -> None:
        as_of = datetime.fromisoformat(p["as_of"])
        if as_of > self.now + timedelta(seconds=60):
            raise Refused("as_of_in_future")
        due = [d for d in self.disputes.values() if d["status"] == "needs_response"]
        for dispute in sorted((d for d in due if d["due"] <= as_of), key=lambda d: d["due"]):
            self._lose(dispute)

    def freeze_account(self, p: dict[str, Any]) -> None:
        account = self._account(p["account_id"])
        if account["frozen"]:
            raise Refused("account_frozen")
        account["frozen"] = True

    def unfreeze_account(self, p: dict[str, Any]) -> None:
        account = self._account(p["account_id"])
        if not account["frozen"]:
            raise Refused("account_not_frozen")
        account["frozen"] = False

    def set_kyc_tier(self, p: dict[str, Any]) -> None:
        self._account(p["account_id"])["tier"] = p["tier"]

    def set_risk_rules(self, p: dict[str, Any]) -> None:
        if p["version"] != self.rules["version"] + 1:
            raise Refused("risk_rules_conflict")
        self.rules = dict(p)

    # --- reviews and expiry ------------------------------------------------------------

    def _in_review(self, transfer_id: str) -> dict[str, Any]:
        if transfer_id not in self.transfers:
            raise Refused("review_not_found")
        transfer = self.transfers[transfer_id]
        if transfer["review"] != "pending":
            raise Refused("review_closed")
        return transfer

    def approve_review(self, p: dict[str, Any]) -> None:
        transfer = self._in_review(p["transfer_id"])
        source, target = self._account(transfer["from"]), self._account(transfer["to"])
        self._not_frozen(source)
        self._fits(source, posted=-transfer["amount"], held=-transfer["amount"])
        self._fits(target, posted=transfer["amount"])
        source["held"] -= transfer["amount"]
        self._move(source, target, transfer["amount"])
        transfer["review"] = "approved"

    def decline_review(self, p: dict[str, Any]) -> None:
        transfer = self._in_review(p["transfer_id"])
        self.accounts[transfer["from"]]["held"] -= transfer["amount"]  # whatever its state
        transfer["review"] = "declined"

    def expire_authorizations(self, p: dict[str, Any]) -> None:
        # Never later than the decision itself: nobody makes a hold expire early.
        as_of = min(datetime.fromisoformat(p["as_of"]), self.clock())
        for payment in self.payments.values():
            due = payment["expires_at"]
            if due is None or due > as_of or payment["voided"] or _remaining(payment) == 0:
                continue
            amount = _remaining(payment)
            self.accounts[payment["payer"]]["held"] -= amount
            payment["expired"] = amount


def _covers(rule: dict[str, Any], applies: tuple[str, str]) -> bool:
    kind, currency = applies
    return kind in rule["kinds"] and currency == rule["currency"]
