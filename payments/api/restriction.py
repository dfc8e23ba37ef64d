"""A key restricted to accounts (`payments keys api-create --account …`): what it may touch.

A customer-facing app holds a key of a principal whose roles could reach every
account; its key's `accounts` narrow it to the customer's own. Such a key reads only
those accounts (balances, history, statements) and the payments whose payer or
merchant is one of them; never the audit log or settlement batches, which span every
account. Its commands must name only its accounts wherever money leaves an account
or an account is opened or closed; a command type whose payload does not say which
accounts it debits (capture, void, refund, chargeback name only a payment) is
refused, rather than trusting a projection that may be behind. Disputes (the admin
API, payments.api.disputes) are its accounts' when their merchant is one of them: a
dispute's merchant never changes after it is opened, so the projection's row is
trusted for it, and a dispute not (yet) projected is refused. Every refusal is 403
`account-not-allowed`, raised before anything is read or published. An unrestricted
key (accounts empty, every key made before this existed) passes every check here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payments.api.problems import ApiProblem

# Per command type, the payload fields that must name one of the key's accounts.
OWN_FIELDS: dict[str, tuple[str, ...]] = {
    "open_account": ("account_id",),
    "close_account": ("account_id",),
    "transfer": ("from_account",),
    "authorize_payment": ("payer_account",),
    "settle_merchant": ("merchant_account",),
}


def _refuse(detail: str) -> ApiProblem:
    return ApiProblem("account-not-allowed", detail)


def check_account(accounts: frozenset[str], account_id: str) -> None:
    if accounts and account_id not in accounts:
        raise _refuse(f"this API key may not read the account {account_id}")


def check_payment(accounts: frozenset[str], payment: Mapping[str, Any] | None) -> None:
    """Someone else's payment and a payment that does not exist look the same: 403."""
    if not accounts:
        return
    own = payment is not None and (
        payment["payer_account"] in accounts or payment["merchant_account"] in accounts
    )
    if not own:
        raise _refuse("this API key may read only payments of its accounts")


def check_dispute(accounts: frozenset[str], dispute: Mapping[str, Any] | None) -> None:
    """Someone else's dispute and one that does not exist look the same: 403."""
    if accounts and (dispute is None or dispute["merchant_account"] not in accounts):
        raise _refuse("this API key may see and work only disputes of its merchant accounts")


def check_unrestricted(accounts: frozenset[str], what: str) -> None:
    if accounts:
        raise _refuse(f"a key restricted to accounts may not read {what}")


def check_command(accounts: frozenset[str], type_: str, payload: Mapping[str, Any]) -> None:
    if not accounts:
        return
    fields = OWN_FIELDS.get(type_)
    if fields is None:
        raise _refuse(f"a key restricted to accounts may not issue {type_}")
    for name in fields:
        value = payload.get(name)
        if not isinstance(value, str) or value not in accounts:  # a list is unhashable
            raise _refuse(f"payload.{name}: not an account of this API key")
