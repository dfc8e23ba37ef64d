"""A bank statement as the reconciliation reads it: integer minor units, signed.

A line's `amount` is signed from the bank account's side: positive is money in (a
credit on the statement), negative is money out. Every amount is an `int` of minor
units, made from the file's decimal text with the currency's ISO 4217 exponent
(`minor_units`): never a float, and a text with more decimals than the currency has
is refused, not rounded. A statement must add up: opening + Σ lines = closing, else
`StatementUnbalanced` says by how much.

What is kept of a line is what matching needs and nothing personal: dates, amount,
the bank's reference and the end-to-end id. Counterparty names, addresses, IBANs and
remittance text are read past, never stored (events are permanent).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from payments.domain.currencies import exponent, is_iso_4217

FORMATS = ("csv", "camt053", "mt940")
REFERENCE_LIMIT = 64


class StatementError(ValueError):
    """A statement that cannot be imported as it is (code: a stable slug)."""

    code = "invalid_statement"


class StatementUnbalanced(StatementError):
    code = "statement_unbalanced"

    def __init__(self, statement_id: str, difference: int, currency: str) -> None:
        super().__init__(
            f"statement {statement_id}: opening + lines differs from the closing balance by "
            f"{difference} minor units of {currency} (closing - (opening + lines))"
        )
        self.difference, self.currency = difference, currency


@dataclass(frozen=True)
class StatementLine:
    line: int  # 1-based, in the file's order
    amount: int  # signed minor units, + money in
    value_date: date
    booking_date: date | None
    reference: str  # the bank's reference for the entry ('' if none)
    end_to_end_id: str  # the payer's end-to-end id ('' if none)


@dataclass(frozen=True)
class BankStatement:
    format: str
    bank_statement_id: str  # the bank's own id (:20:/:28C:, Stmt/Id, or the CSV's)
    bank_account: str  # the account as the bank names it (IBAN, number)
    currency: str
    opening: int
    opening_date: date
    closing: int
    closing_date: date
    lines: tuple[StatementLine, ...]

    def check_balanced(self) -> None:
        difference = self.closing - (self.opening + sum(x.amount for x in self.lines))
        if difference:
            raise StatementUnbalanced(self.bank_statement_id, difference, self.currency)

    def lines_json(self) -> str:
        """The lines as canonical JSON (what the store keeps)."""
        return canonical([_line_dict(x) for x in self.lines])

    def fingerprint(self) -> str:
        """SHA-256 of what the statement says: the same statement imported twice (from the
        same file or a re-sent one) has the same fingerprint."""
        head = {k: v for k, v in asdict(self).items() if k != "lines"}
        head |= {"opening_date": str(self.opening_date), "closing_date": str(self.closing_date)}
        return hashlib.sha256(canonical([head, self.lines_json()]).encode()).hexdigest()


def _line_dict(line: StatementLine) -> dict[str, object]:
    return {
        "line": line.line,
        "amount": line.amount,
        "value_date": str(line.value_date),
        "booking_date": None if line.booking_date is None else str(line.booking_date),
        "reference": line.reference,
        "end_to_end_id": line.end_to_end_id,
    }


def lines_from_json(text: str) -> tuple[StatementLine, ...]:
    return tuple(
        StatementLine(
            line=item["line"],
            amount=item["amount"],
            value_date=date.fromisoformat(item["value_date"]),
            booking_date=None if item["booking_date"] is None
            else date.fromisoformat(item["booking_date"]),
            reference=item["reference"],
            end_to_end_id=item["end_to_end_id"],
        )
        for item in json.loads(text)
    )  # fmt: skip


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checked_currency(code: str) -> str:
    if not is_iso_4217(code):
        raise StatementError(f"currency {code[:8]!r} is not a current ISO 4217 code")
    return code


def minor_units(text: str | Decimal, currency: str) -> int:
    """'123.45' EUR -> 12345; exact, or StatementError (never a float, never rounded)."""
    try:
        value = text if isinstance(text, Decimal) else Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise StatementError(f"amount {str(text)[:32]!r} is not a decimal number") from None
    if not value.is_finite():
        raise StatementError(f"amount {value} is not a finite number")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise StatementError(f"amount {value} has more decimals than {currency} has")
    return int(scaled)


def short_text(value: object) -> str:
    """A reference as kept: stripped, at most REFERENCE_LIMIT characters, '' for none."""
    text = "" if value is None else str(value).strip()
    return "" if text.upper() == "NONREF" else text[:REFERENCE_LIMIT]
