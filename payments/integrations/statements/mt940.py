"""SWIFT MT940, read with the `mt-940` package (Decimal amounts, many banks' dialects).

A file may hold several statements, each a SWIFT text block ended by a line `-`;
each block is parsed by mt-940 on its own and becomes one statement: `:25:` the
account, `:20:`/`:28C:` the statement's id, `:60F:`/`:60M:` the opening balance,
`:61:` the lines (signed by mt-940: D and RC negative, C and RD positive),
`:62F:`/`:62M:` the closing.
A line's reference is the bank's (`//…` of :61:) or else the customer's; its
end-to-end id the SEPA `EREF+` of a structured `:86:` (mt-940's processors read it)
when the bank gives one. The rest of `:86:`
(names, remittance text) is read past.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import mt940

from payments.integrations.statements.model import (
    BankStatement,
    StatementError,
    StatementLine,
    checked_currency,
    minor_units,
    short_text,
)

# A reversal of a credit (RC) is money out, as a debit is; mt-940 5.x signs it only
# when asked (its default keeps 5.0.0's output). A :86: without KREF keeps :61:'s
# reference; long :86: details are kept whole, so EREF+ is not cut off.
_OPTIONS = mt940.Options(
    reversal_sign=True, case_insensitive_marks=True, merge_keeps_values=True,
    unbounded_details=True,
)  # fmt: skip
# SEPA keywords of a structured :86: that mt-940 runs together with the EREF+ value
# when the bank wraps it over sub-fields: the end-to-end id ends where one begins.
_SEPA_KEYS = ("KREF+", "MREF+", "CRED+", "DEBT+", "SVWZ+", "ABWA+", "ABWE+", "MTLG:", "COAM+")


def _end_to_end(data: dict[str, Any]) -> str:
    value = str(data.get("end_to_end_reference") or "")
    for key in _SEPA_KEYS:
        value = value.split(key, 1)[0]
    return "" if value.strip().upper() == "NOTPROVIDED" else value.strip()


def _blocks(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip() == "-":
            blocks.append("\n".join(current))
            current = []
        else:
            current.append(line)
    blocks.append("\n".join(current))
    return [block for block in blocks if ":60F:" in block or ":60M:" in block]


def parse_mt940(data: bytes) -> list[BankStatement]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # many banks still send ISO 8859-1
    blocks = _blocks(text)
    if not blocks:
        raise StatementError("not an MT940 file (no :60F:/:60M: opening balance)")
    return [_statement(block) for block in blocks]


def _statement(block: str) -> BankStatement:
    parsed = mt940.models.Transactions(options=_OPTIONS)
    try:
        parsed.parse(block)
    except Exception as error:  # mt-940 raises many kinds; each means "not readable"
        raise StatementError(f"MT940 not readable: {type(error).__name__}") from None
    data = parsed.data
    # :60F:/:62F: are final balances, :60M:/:62M: intermediate ones (a statement split
    # over several messages): either opens and closes its own block.
    opening = data.get("final_opening_balance") or data.get("intermediate_opening_balance")
    closing = data.get("final_closing_balance") or data.get("intermediate_closing_balance")
    if opening is None or closing is None:
        raise StatementError("an MT940 statement needs :60F:/:60M: and :62F:/:62M:")
    currency = checked_currency(str(closing.amount.currency))
    lines = [_line(n, t.data, currency) for n, t in enumerate(parsed, start=1)]
    parts = ("transaction_reference", "statement_number", "sequence_number")
    ident = "/".join(str(data[k]).strip() for k in parts if data.get(k))
    return BankStatement(
        format="mt940", bank_statement_id=short_text(ident),
        bank_account=short_text(data.get("account_identification")), currency=currency,
        opening=_balance(opening, currency), opening_date=_day(opening.date),
        closing=_balance(closing, currency), closing_date=_day(closing.date),
        lines=tuple(lines),
    )  # fmt: skip


def _balance(balance: Any, currency: str) -> int:
    if str(balance.amount.currency) != currency:
        raise StatementError("opening and closing balances in different currencies")
    return minor_units(balance.amount.amount, currency)  # signed by mt-940 (D negative)


def _line(number: int, data: dict[str, Any], currency: str) -> StatementLine:
    amount = data["amount"]
    if str(amount.currency) != currency:
        raise StatementError(f"line {number} in {amount.currency} on a {currency} statement")
    booked = data.get("entry_date")
    return StatementLine(
        line=number, amount=minor_units(amount.amount, currency), value_date=_day(data["date"]),
        booking_date=_day(booked) if booked else None,
        reference=short_text(data.get("bank_reference") or data.get("customer_reference")),
        end_to_end_id=short_text(_end_to_end(data)),
    )  # fmt: skip


def _day(value: Any) -> date:
    return date(value.year, value.month, value.day)
