"""Roles: which command types a principal may issue (docs/security.md, "Roles").

A principal holds roles; a signed command whose type none of its issuer's roles
allows is rejected `forbidden`. The table is the contract's: a role is added here
and in the docs together. `auditor` issues nothing; it exists for the read side.
`gateway` issues nothing in its own name either: it may sign for others.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

ROLE_COMMANDS: dict[str, frozenset[str]] = {
    "operations": frozenset({"open_account", "close_account"}),
    "payments": frozenset(
        {"authorize_payment", "capture_payment", "void_payment", "refund_payment"}
    ),
    "wallet": frozenset({"transfer"}),
    # A card network's or provider's disputes and the operators who work them
    # (payments.domain.dispute); a resolution takes two of them (propose, approve).
    "disputes": frozenset(
        {
            "chargeback_payment",
            "open_dispute",
            "submit_dispute_evidence",
            "accept_dispute",
            "propose_dispute_resolution",
            "approve_dispute_resolution",
        }
    ),
    "treasury": frozenset({"settle_merchant", "transfer"}),
    "auditor": frozenset(),
    # Issue 18 (payments.domain.controls): who sets the risk rules, who freezes.
    "risk": frozenset(
        {"set_risk_rules", "freeze_account", "unfreeze_account", "approve_review", "decline_review"}
    ),
    "compliance": frozenset(
        {
            "freeze_account",
            "unfreeze_account",
            "set_kyc_tier",
            "request_screening",
            "escalate_screening",
            "resolve_screening",
            # Personal data (payments.domain.holder): kept sealed, erasable.
            "register_holder",
            "register_holder_sealed",
            "erase_holder",
        }
    ),
    # A KYC/AML screening provider (payments.integrations.screening): its answers only.
    "screening": frozenset({"record_screening_result"}),
    # Bank statements over HTTP (scope reconciliation:write): no command at all; the
    # import is written by the API's reconciler database role, not by the engine.
    "reconciliation": frozenset(),
    # Sweeps only (payments.tools.schedule): what is due as of a moment.
    "scheduler": frozenset({"expire_disputes", "expire_authorizations"}),
    # Issues nothing itself: signs commands on behalf of other principals (the HTTP
    # API), which are then decided with *their* roles and recorded as theirs.
    "gateway": frozenset(),
}
GATEWAY_ROLE = "gateway"
ROLES: tuple[str, ...] = tuple(ROLE_COMMANDS)
ROLE_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


def may_issue(roles: frozenset[str] | set[str] | tuple[str, ...], command_type: str) -> bool:
    if type(roles) is frozenset:  # a principal's roles: the same few sets all day
        return _may_issue_cached(roles, command_type)
    return _may_issue(roles, command_type)


def _may_issue(roles: Iterable[str], command_type: str) -> bool:
    return any(command_type in ROLE_COMMANDS.get(role, ()) for role in roles)


@lru_cache(maxsize=4096)
def _may_issue_cached(roles: frozenset[str], command_type: str) -> bool:
    return _may_issue(roles, command_type)


def unknown_roles(roles: list[str] | tuple[str, ...]) -> list[str]:
    return [role for role in roles if role not in ROLE_COMMANDS]
